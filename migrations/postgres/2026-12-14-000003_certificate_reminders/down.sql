DROP INDEX certificates_expiry;
DROP TABLE certificate_reminders;
