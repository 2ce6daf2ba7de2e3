ALTER TABLE client_changes DROP COLUMN event;
