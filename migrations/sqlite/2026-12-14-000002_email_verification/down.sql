ALTER TABLE users DROP COLUMN notifications;
ALTER TABLE users DROP COLUMN email_verified_at;
