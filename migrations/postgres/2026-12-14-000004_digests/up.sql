-- When each periodic digest was last written (the operators' digest of what waits for a
-- decision): an instance takes the turn with a conditional update, so it goes once an hour.
CREATE TABLE digests (
    name TEXT PRIMARY KEY NOT NULL,
    last_sent_at TIMESTAMP NOT NULL
);
INSERT INTO digests (name, last_sent_at) VALUES ('operators', '1970-01-01 00:00:00');
