-- Delivery of change events to an organisation's receivers: pushed (RFC 8935: the admins
-- register an endpoint and the directory POSTs each matching SET there in cursor order) or
-- polled (RFC 8936: the receiver POSTs acknowledgements and is answered with the next SETs;
-- no endpoint).
-- `cursor` is the last event delivered (or passed over as not wanted); it moves only after
-- the receiver acknowledged (the push's 202, the poll's ack), so a restart resumes where
-- delivery stood (at least once).
-- `lease_owner`/`lease_until`: the instance delivering right now; another takes over only
-- once the lease has run out, so two instances do not deliver the same events at once.
CREATE TABLE event_subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    delivery TEXT NOT NULL CONSTRAINT event_subscriptions_delivery_known CHECK (delivery IN ('push','poll')),
    endpoint TEXT,
    kinds TEXT NOT NULL,
    state TEXT NOT NULL CONSTRAINT event_subscriptions_state_known CHECK (state IN ('active','failing','paused')),
    cursor BIGINT NOT NULL,
    delivered BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    failing_since TIMESTAMP,
    last_success_at TIMESTAMP,
    last_error TEXT,
    last_error_at TIMESTAMP,
    lease_owner TEXT,
    lease_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT,
    CONSTRAINT event_subscriptions_endpoint_once UNIQUE (organisation_id, endpoint),
    CONSTRAINT event_subscriptions_push_has_endpoint CHECK ((delivery = 'push') = (endpoint IS NOT NULL))
);
CREATE INDEX event_subscriptions_due ON event_subscriptions(state, next_attempt_at);

-- Subscriptions are audited like everything else. SQLite cannot change a CHECK constraint,
-- so the audit table is rebuilt with the wider one (as in the constraints migration).
CREATE TEMP TABLE audit_events_copy AS SELECT * FROM audit_events;
DROP TABLE audit_events;
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject_type TEXT NOT NULL CHECK (subject_type IN ('organisation', 'software', 'user',
        'api_token', 'participant_key', 'signing_key', 'certificate', 'subscription')),
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
