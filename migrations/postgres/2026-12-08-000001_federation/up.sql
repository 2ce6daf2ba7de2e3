-- Federation keys (OpenID Federation 1.0) live beside the SSA signing keys, with the same
-- lifecycle (next, active, retired, removed) but one active and one next key of their own.
ALTER TABLE signing_keys ADD COLUMN purpose TEXT NOT NULL DEFAULT 'ssa'
    CHECK (purpose IN ('ssa', 'federation'));
DROP INDEX signing_keys_one_per_live_state;
CREATE UNIQUE INDEX signing_keys_one_per_live_state ON signing_keys(purpose, state)
    WHERE state IN ('active', 'next');

-- A product's own entity configuration, self-signed with a key of its keystore, which the
-- directory hosts at the product's entity identifier.
CREATE TABLE entity_configurations (
    software_id TEXT PRIMARY KEY NOT NULL REFERENCES software(id),
    jwt TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
