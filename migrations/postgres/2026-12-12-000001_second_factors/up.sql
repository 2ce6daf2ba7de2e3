-- Second factors: authenticator apps (TOTP, RFC 6238) with their secret sealed with
-- keys/mfa.key (AES-256-GCM) and the last time step accepted (a code is accepted once), and
-- single-use recovery codes (SHA-256 of each). An enrolment is pending (confirmed_at NULL)
-- until its first code is entered.
CREATE TABLE totp_factors (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    sealed_secret BYTEA NOT NULL,
    last_step BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    confirmed_at TIMESTAMP
);
CREATE INDEX totp_factors_user ON totp_factors (user_id);
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id),
    code_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    PRIMARY KEY (user_id, code_hash)
);
-- A session after the password of an account with a second factor, before the factor: it
-- reaches nothing but the second step of the log-in.
ALTER TABLE sessions ADD COLUMN awaiting_second_factor BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE sessions ADD COLUMN second_factor_at TIMESTAMP;
