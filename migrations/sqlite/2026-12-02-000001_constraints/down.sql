-- The CHECK constraints stay: taking them off would mean rebuilding every table again, and
-- they only refuse values the directory never writes.
DROP INDEX participant_keys_live_slot;
DROP INDEX participant_keys_live_thumbprint;
DROP INDEX participant_keys_live_kid;
ALTER TABLE participant_keys DROP COLUMN slot;
ALTER TABLE participant_keys DROP COLUMN thumbprint;
