-- Which issuing CA signed each certificate and each CRL (hex SHA-1 of its public key): after
-- the issuing CA is replaced, the earlier one goes on signing CRLs and OCSP answers for its
-- own certificates. Rows from before are NULL: their certificates are told apart by their
-- signature, and new CRLs are signed for every issuing CA.
ALTER TABLE certificates ADD COLUMN issuer TEXT;
ALTER TABLE crls ADD COLUMN issuer TEXT;
CREATE INDEX crls_issuer_number ON crls (issuer, number);
