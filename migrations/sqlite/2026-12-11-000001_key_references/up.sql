-- Where each signing key's private half lives (a file of keys/ or an object of a PKCS#11
-- token, by URI) and what the token said of it when it was generated: every instance signs
-- with the object the database names.
ALTER TABLE signing_keys ADD COLUMN reference TEXT;
ALTER TABLE signing_keys ADD COLUMN evidence TEXT;
