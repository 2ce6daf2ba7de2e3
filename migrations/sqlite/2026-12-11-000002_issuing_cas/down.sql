DROP INDEX crls_issuer_number;
ALTER TABLE crls DROP COLUMN issuer;
ALTER TABLE certificates DROP COLUMN issuer;
