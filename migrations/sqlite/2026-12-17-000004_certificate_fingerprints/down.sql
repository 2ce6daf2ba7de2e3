DROP INDEX certificates_sha256;
ALTER TABLE certificates DROP COLUMN sha256;
