-- Certificate revocation lists: every one issued, numbered, so that every instance serves
-- the latest and numbers only grow.
CREATE TABLE crls (
    number BIGINT PRIMARY KEY NOT NULL,
    this_update TIMESTAMP NOT NULL,
    next_update TIMESTAMP NOT NULL,
    der BLOB NOT NULL,
    content_hash TEXT NOT NULL
);
CREATE INDEX certificates_status ON certificates(status);
