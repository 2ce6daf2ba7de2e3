-- Portal sessions, so that they end on the server: at logout, at expiry, and for every
-- session of an account whose password changes or that an operator disables. The cookie
-- carries a random secret; only its SHA-256 is stored.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

-- An operator can disable an account: it cannot log in, and its tokens and sessions stop.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP;

-- Invitations to join an organisation; the invited account accepts or declines.
CREATE TABLE invitations (
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (organisation_id, user_id)
);
CREATE INDEX invitations_user ON invitations(user_id);

-- A change to an approved product that waits for an operator's decision (JSON: the values
-- asked for, who asked and when); statements carry the approved values meanwhile.
ALTER TABLE software ADD COLUMN pending_change TEXT;
