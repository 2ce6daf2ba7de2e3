DROP TABLE software_entity_identifiers;
DELETE FROM events WHERE kind = 'entity-configuration-published';
ALTER TABLE events DROP CONSTRAINT events_kind_known;
ALTER TABLE events ADD CONSTRAINT events_kind_known CHECK (kind IN ('organisation-status','organisation-authorization-servers','software-status','software-metadata','participant-key-added','participant-key-removed','certificate-issued','certificate-revoked','certificate-held','certificate-released','signing-key-published','signing-key-activated','signing-key-retired','signing-key-removed','statement-revoked'));

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
