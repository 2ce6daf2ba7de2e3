-- An organisation's admins may have its notices mailed to its business and technical
-- contacts too.
ALTER TABLE organisations ADD COLUMN notify_contacts BOOLEAN NOT NULL DEFAULT FALSE;
