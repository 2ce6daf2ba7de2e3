-- Every certificate's SHA-256 fingerprint (of its DER, lowercase hex), for the operator's
-- search: written at issuance; the directory computes it for the certificates issued before
-- this migration when it starts (SQLite has no SHA-256 of its own).
ALTER TABLE certificates ADD COLUMN sha256 TEXT;
CREATE INDEX certificates_sha256 ON certificates (sha256);
