DELETE FROM audit_events WHERE subject_type = 'subscription';
CREATE TEMP TABLE audit_events_copy AS SELECT * FROM audit_events;
DROP TABLE audit_events;
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject_type TEXT NOT NULL CHECK (subject_type IN ('organisation', 'software', 'user',
        'api_token', 'participant_key', 'signing_key', 'certificate')),
    subject_id TEXT NOT NULL,
    organisation_id TEXT,
    old_status TEXT CHECK (old_status IS NULL OR old_status IN ('pending', 'active',
        'rejected', 'suspended', 'revoked', 'good', 'hold', 'next', 'retired', 'removed')),
    new_status TEXT CHECK (new_status IS NULL OR new_status IN ('pending', 'active',
        'rejected', 'suspended', 'revoked', 'good', 'hold', 'next', 'retired', 'removed')),
    reason TEXT,
    details TEXT
);
INSERT INTO audit_events (id, occurred_at, actor, action, subject_type, subject_id, organisation_id, old_status, new_status, reason, details)
    SELECT id, occurred_at, actor, action, subject_type, subject_id, organisation_id, old_status, new_status, reason, details FROM audit_events_copy;
DROP TABLE audit_events_copy;
CREATE INDEX audit_events_subject ON audit_events(subject_id);
CREATE INDEX audit_events_organisation ON audit_events(organisation_id);
DROP TABLE event_subscriptions;
