-- What organisations claim as their authorization servers' issuers, and the proof of control
-- each claim needs before it counts: the directory fetches
-- {issuer}/.well-known/ssa-directory-challenge/{token} and expects "{token}.{organisation_id}".
-- An unproven claim blocks nobody; one organisation at a time holds an issuer proven.
CREATE TABLE issuer_claims (
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    issuer TEXT NOT NULL,
    token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    verified_at TIMESTAMP,
    PRIMARY KEY (organisation_id, issuer)
);
CREATE UNIQUE INDEX issuer_claims_proven ON issuer_claims(issuer) WHERE verified_at IS NOT NULL;
CREATE INDEX issuer_claims_issuer ON issuer_claims(issuer);
