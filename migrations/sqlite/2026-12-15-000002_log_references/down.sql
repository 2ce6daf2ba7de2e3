DROP INDEX log_entries_reference;
ALTER TABLE log_entries DROP COLUMN reference;
