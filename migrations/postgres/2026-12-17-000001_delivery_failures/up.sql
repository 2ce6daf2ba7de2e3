-- Change-event delivery failures, one row each: a push attempt that failed (the receiver
-- could not be reached or answered 5xx), an event the receiver refused (an RFC 8935 error on
-- push, or one reported in an RFC 8936 poll's acknowledgement), and events that expired by
-- retention before they were delivered. The operator's overview charts them per day (rolled up
-- into overview_days); rows older than the longest roll-back (400 days) are pruned.
CREATE TABLE delivery_failures (
    id TEXT PRIMARY KEY NOT NULL,
    subscription_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    error TEXT NOT NULL,
    failed_at TIMESTAMP NOT NULL
);
CREATE INDEX delivery_failures_failed_at ON delivery_failures (failed_at);
CREATE INDEX delivery_failures_subscription ON delivery_failures (subscription_id, failed_at);
