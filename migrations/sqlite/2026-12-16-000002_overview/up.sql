-- The operator's overview counts by day over a period: each count reads a range of one of
-- these indexes.
CREATE INDEX issued_ssas_issued_at ON issued_ssas (issued_at);
CREATE INDEX certificates_created_at ON certificates (created_at);
CREATE INDEX certificates_revoked_at ON certificates (revoked_at);
CREATE INDEX audit_events_action_time ON audit_events (action, occurred_at);
-- Current counts: products by status, and the change requests waiting.
CREATE INDEX software_status ON software (status, created_at);
CREATE INDEX software_pending_change ON software (updated_at) WHERE pending_change IS NOT NULL;
