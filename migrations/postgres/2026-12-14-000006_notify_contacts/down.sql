ALTER TABLE organisations DROP COLUMN notify_contacts;
