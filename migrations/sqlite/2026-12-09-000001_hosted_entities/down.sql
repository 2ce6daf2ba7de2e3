DROP TABLE software_entity_identifiers;
DELETE FROM events WHERE kind = 'entity-configuration-published';
CREATE TABLE events_rebuilt (
    id BIGINT PRIMARY KEY NOT NULL,
    txn TEXT NOT NULL,
    jti TEXT NOT NULL UNIQUE,
    occurred_at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL CONSTRAINT events_kind_known CHECK (kind IN ('organisation-status','organisation-authorization-servers','software-status','software-metadata','participant-key-added','participant-key-removed','certificate-issued','certificate-revoked','certificate-held','certificate-released','signing-key-published','signing-key-activated','signing-key-retired','signing-key-removed','statement-revoked')),
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    organisation_id TEXT,
    payload TEXT NOT NULL,
    token TEXT,
    kid TEXT
);
INSERT INTO events_rebuilt SELECT id, txn, jti, occurred_at, kind, subject_type, subject_id,
    organisation_id, payload, token, kid FROM events;
DROP TABLE events;
ALTER TABLE events_rebuilt RENAME TO events;
CREATE INDEX events_occurred ON events(occurred_at);
CREATE INDEX events_kid ON events(kid);
CREATE INDEX events_unsigned ON events(id) WHERE token IS NULL;

CREATE TABLE entity_configurations (
    software_id TEXT PRIMARY KEY NOT NULL REFERENCES software(id),
    jwt TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO entity_configurations (software_id, jwt, expires_at, updated_at)
    SELECT subject_id, jwt, expires_at, updated_at FROM hosted_entity_configurations
    WHERE subject_type = 'software';
DROP TABLE hosted_entity_configurations;
