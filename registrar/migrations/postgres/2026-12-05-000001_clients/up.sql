-- Registered clients (RFC 7591), with the statement they rest on and the hashes of their
-- registration access token and secret (never the values).
CREATE TABLE clients (
    client_id TEXT PRIMARY KEY NOT NULL,
    software_id TEXT,
    org_id TEXT,
    issuer TEXT,
    statement TEXT,
    metadata TEXT NOT NULL,
    secret_hash TEXT,
    access_token_hash TEXT NOT NULL UNIQUE,
    issued_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT,
    -- Set while the directory has the software, its organisation or its statement
    -- suspended or revoked (followed through the directory's event feed).
    disabled_at BIGINT,
    disabled_reason TEXT
);
CREATE INDEX clients_software ON clients(software_id);

-- Statements registered, by issuer and jti: each registers once (replay).
CREATE TABLE statement_uses (
    issuer TEXT NOT NULL,
    jti TEXT NOT NULL,
    client_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, jti)
);

-- Initial access tokens (RFC 7591 A.1), stored as SHA-256 hashes.
CREATE TABLE initial_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    single_use BOOLEAN NOT NULL,
    expires_at BIGINT,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);

-- Where the registrar stands in each trusted directory's event feed.
CREATE TABLE directory_cursors (
    issuer TEXT PRIMARY KEY NOT NULL,
    cursor TEXT NOT NULL
);

-- Every change of a client's status the directories' events caused, for the authorization
-- server to follow (GET /clients/changes).
CREATE TABLE client_changes (
    id BIGSERIAL PRIMARY KEY,
    client_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    reason TEXT,
    at BIGINT NOT NULL
);
