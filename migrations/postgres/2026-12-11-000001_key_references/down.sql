ALTER TABLE signing_keys DROP COLUMN evidence;
ALTER TABLE signing_keys DROP COLUMN reference;
