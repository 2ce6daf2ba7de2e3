-- What the directories' event feeds have stopped (a software, an organisation or a
-- statement, as 'software:ID', 'organisation:ID' or 'statement:JTI'), for the statuses of a
-- stateless registrar's clients, which it keeps no record of.
CREATE TABLE stopped_subjects (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    reason TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);

-- Every change of those (GET /clients/changes of a stateless registrar): the authorization
-- server applies it to its clients of that software, organisation or statement.
CREATE TABLE subject_changes (
    id BIGSERIAL PRIMARY KEY,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    reason TEXT,
    at BIGINT NOT NULL
);
