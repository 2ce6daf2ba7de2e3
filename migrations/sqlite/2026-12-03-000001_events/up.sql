-- Change events, written in the transaction of their change (a transactional outbox) and
-- signed as RFC 8417 Security Event Tokens when first read. The id is the event's cursor. It
-- is taken from event_counter as the last step before the commit, and the counter's row lock
-- is held until the commit, so ids are given in commit order with no gaps: a reader never
-- sees an event with a smaller id after a larger one, whatever the number of instances.
CREATE TABLE events (
    id BIGINT PRIMARY KEY NOT NULL,
    txn TEXT NOT NULL,
    jti TEXT NOT NULL UNIQUE,
    occurred_at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL CONSTRAINT events_kind_known CHECK (kind IN ('organisation-status','organisation-authorization-servers','software-status','software-metadata','participant-key-added','participant-key-removed','certificate-issued','certificate-revoked','certificate-held','certificate-released','signing-key-published','signing-key-activated','signing-key-retired','signing-key-removed','statement-revoked')),
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    organisation_id TEXT,
    payload TEXT NOT NULL,
    token TEXT,
    kid TEXT
);
CREATE INDEX events_occurred ON events(occurred_at);
CREATE INDEX events_kid ON events(kid);
-- Events no instance has signed yet (the background signer's work list).
CREATE INDEX events_unsigned ON events(id) WHERE token IS NULL;

-- The last event id given out, and the newest id removed by retention (a reader asking for
-- events after an older one has missed some and must resynchronise from the snapshot).
CREATE TABLE event_counter (
    id INTEGER PRIMARY KEY NOT NULL CONSTRAINT event_counter_single CHECK (id = 1),
    last_id BIGINT NOT NULL,
    horizon BIGINT NOT NULL
);
INSERT INTO event_counter (id, last_id, horizon) VALUES (1, 0, 0);

-- A statement revoked before its expiry (GET /status/ssa/{jti}).
ALTER TABLE issued_ssas ADD COLUMN revoked_at TIMESTAMP;
ALTER TABLE issued_ssas ADD COLUMN revoked_reason TEXT;
CREATE INDEX issued_ssas_software ON issued_ssas(software_id, issued_at);
