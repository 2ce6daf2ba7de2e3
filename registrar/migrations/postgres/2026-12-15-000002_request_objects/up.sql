-- Request objects of automatic registration (OpenID Federation 12.1), by client and jti,
-- until they expire: each is accepted once (a replay is invalid_request_object).
CREATE TABLE request_object_uses (
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX request_object_uses_expiry ON request_object_uses (expires_at);
