-- DPoP proofs (RFC 9449) spent, by the key's thumbprint (jkt) and the proof's jti, kept until
-- the proof is too old to be accepted anywhere: a proof at the token endpoint, or for a
-- request that changes something, is used once across every instance sharing the database.
CREATE TABLE dpop_proofs (
    jkt TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (jkt, jti)
);
CREATE INDEX dpop_proofs_expiry ON dpop_proofs(expires_at);
