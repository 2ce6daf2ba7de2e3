-- The entity configurations the directory hosts, self-signed with a key of the subject's
-- keystore: a product's (its keystore) or an organisation's (the organisation's own keys).
-- They replace the product-only table of the previous migration.
CREATE TABLE hosted_entity_configurations (
    subject_type TEXT NOT NULL CHECK (subject_type IN ('software', 'organisation')),
    subject_id TEXT NOT NULL,
    jwt TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (subject_type, subject_id)
);
INSERT INTO hosted_entity_configurations (subject_type, subject_id, jwt, expires_at, updated_at)
    SELECT 'software', software_id, jwt, expires_at, updated_at FROM entity_configurations;
DROP TABLE entity_configurations;

-- The entity identifier a product's owner hosts its entity configuration at, instead of the
-- one the directory gives it; registered once the directory has fetched and checked that
-- configuration (signed with a key of the product's keystore).
CREATE TABLE software_entity_identifiers (
    software_id TEXT PRIMARY KEY NOT NULL REFERENCES software(id),
    entity_id TEXT NOT NULL UNIQUE,
    updated_at TIMESTAMP NOT NULL
);

-- Publishing one is a change event (entity-configuration-published): SQLite changes a
-- CHECK constraint by rebuilding the table.
CREATE TABLE events_rebuilt (
    id BIGINT PRIMARY KEY NOT NULL,
    txn TEXT NOT NULL,
    jti TEXT NOT NULL UNIQUE,
    occurred_at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL CONSTRAINT events_kind_known CHECK (kind IN ('organisation-status','organisation-authorization-servers','software-status','software-metadata','participant-key-added','participant-key-removed','certificate-issued','certificate-revoked','certificate-held','certificate-released','signing-key-published','signing-key-activated','signing-key-retired','signing-key-removed','statement-revoked','entity-configuration-published')),
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
