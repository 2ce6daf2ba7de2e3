DROP INDEX issued_ssas_software;
ALTER TABLE issued_ssas DROP COLUMN revoked_reason;
ALTER TABLE issued_ssas DROP COLUMN revoked_at;
DROP TABLE event_counter;
DROP TABLE events;
