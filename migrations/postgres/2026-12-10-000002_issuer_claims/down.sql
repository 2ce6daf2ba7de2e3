DROP TABLE issuer_claims;
