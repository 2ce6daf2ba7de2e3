-- The transparency log (C2SP tlog-tiles): every entry in index order (a kind byte, then the
-- artefact's exact bytes), with the SHA-256 of the artefact to find its proof by.
CREATE TABLE log_entries (
    idx BIGINT PRIMARY KEY NOT NULL,
    entry BYTEA NOT NULL,
    artefact_sha256 TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX log_entries_artefact ON log_entries (artefact_sha256);
-- The tree's stored hashes (sumdb/tlog's stored hash index), written as entries join the tree.
CREATE TABLE log_hashes (
    id BIGINT PRIMARY KEY NOT NULL,
    hash BYTEA NOT NULL
);
-- The signed checkpoints, by tree size.
CREATE TABLE log_checkpoints (
    size BIGINT PRIMARY KEY NOT NULL,
    note BYTEA NOT NULL,
    signed_at TIMESTAMP NOT NULL
);
-- The next index to give (taken under this row's lock, so indexes follow commit order with
-- no gap) and how many entries the tree holds.
CREATE TABLE log_state (
    id INTEGER PRIMARY KEY NOT NULL,
    next_index BIGINT NOT NULL,
    tree_size BIGINT NOT NULL
);
INSERT INTO log_state (id, next_index, tree_size) VALUES (1, 0, 0);
