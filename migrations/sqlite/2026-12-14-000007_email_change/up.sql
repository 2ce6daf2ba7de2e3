-- A change of an account's address waits for the new address to be verified: its mailed
-- link's token carries the new address.
ALTER TABLE email_tokens ADD COLUMN address TEXT;
