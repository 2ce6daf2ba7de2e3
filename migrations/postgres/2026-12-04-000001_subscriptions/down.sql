DELETE FROM audit_events WHERE subject_type = 'subscription';
ALTER TABLE audit_events DROP CONSTRAINT audit_events_subject_type_known;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_subject_type_known
    CHECK (subject_type IN ('organisation', 'software', 'user', 'api_token', 'participant_key',
        'signing_key', 'certificate'));
DROP TABLE event_subscriptions;
