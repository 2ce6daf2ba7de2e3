ALTER TABLE email_tokens DROP COLUMN address;
