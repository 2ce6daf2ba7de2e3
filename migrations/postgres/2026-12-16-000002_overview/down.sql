DROP INDEX issued_ssas_issued_at;
DROP INDEX certificates_created_at;
DROP INDEX certificates_revoked_at;
DROP INDEX audit_events_action_time;
DROP INDEX software_status;
DROP INDEX software_pending_change;
