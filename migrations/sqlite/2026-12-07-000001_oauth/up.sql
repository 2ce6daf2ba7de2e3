-- Access tokens the directory issued to software products and organisations for its own API
-- (OAuth 2.0 client credentials), stored as SHA-256 hashes, each bound to the client's DPoP
-- key (jkt, RFC 9449) or its certificate (x5t#S256, RFC 8705): none is a bare bearer token.
-- An organisation's token has no software_id.
CREATE TABLE client_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    software_id TEXT REFERENCES software(id),
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    scope TEXT NOT NULL,
    jkt TEXT,
    x5t_s256 TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    CONSTRAINT client_tokens_bound CHECK (jkt IS NOT NULL OR x5t_s256 IS NOT NULL)
);
CREATE INDEX client_tokens_expiry ON client_tokens(expires_at);

-- Client assertions (RFC 7523) spent, by client and jti, kept until they expire: each
-- authenticates once.
CREATE TABLE client_assertions (
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertions_expiry ON client_assertions(expires_at);
