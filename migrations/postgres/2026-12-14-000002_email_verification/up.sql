-- An address is verified by the link mailed at sign-up; accounts made before (and by the
-- command line) count as verified from their creation.
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMP;
UPDATE users SET email_verified_at = created_at;
-- Whether the account gets the notices that are not about its security (decisions, reminders).
ALTER TABLE users ADD COLUMN notifications BOOLEAN NOT NULL DEFAULT TRUE;
