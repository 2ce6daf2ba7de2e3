-- Invitations of addresses that have no account yet: mailed a sign-up link; the account made
-- with that address joins with the role once it verifies the address (before it expires).
CREATE TABLE address_invitations (
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (organisation_id, email)
);
CREATE INDEX address_invitations_email ON address_invitations (email);
