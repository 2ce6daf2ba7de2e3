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

-- Subscriptions are audited like everything else.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_subject_type_known;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_subject_type_known
    CHECK (subject_type IN ('organisation', 'software', 'user', 'api_token', 'participant_key',
        'signing_key', 'certificate', 'subscription'));
