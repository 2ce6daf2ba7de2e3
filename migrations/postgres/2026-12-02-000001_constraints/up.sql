-- Every status and type column accepts only the values the directory writes, so that a bug
-- or a hand-made edit cannot store a status nothing knows how to read.
ALTER TABLE organisations ADD CONSTRAINT organisations_status_known
    CHECK (status IN ('pending', 'active', 'rejected', 'suspended', 'revoked'));
ALTER TABLE software ADD CONSTRAINT software_status_known
    CHECK (status IN ('pending', 'active', 'rejected', 'suspended', 'revoked'));
ALTER TABLE software ADD CONSTRAINT software_environment_known
    CHECK (environment IN ('sandbox', 'production'));
ALTER TABLE memberships ADD CONSTRAINT memberships_role_known
    CHECK (role IN ('admin', 'developer'));
ALTER TABLE invitations ADD CONSTRAINT invitations_role_known
    CHECK (role IN ('admin', 'developer'));
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_state_known
    CHECK (state IN ('next', 'active', 'retired', 'removed'));
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_alg_known
    CHECK (alg IN ('PS256', 'ES256'));
ALTER TABLE certificates ADD CONSTRAINT certificates_type_known
    CHECK (cert_type IN ('transport', 'signing'));
ALTER TABLE certificates ADD CONSTRAINT certificates_status_known
    CHECK (status IN ('good', 'hold', 'revoked'));
ALTER TABLE certificates ADD CONSTRAINT certificates_reason_known
    CHECK (revocation_reason IS NULL OR revocation_reason IN ('unspecified', 'keyCompromise',
        'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold',
        'privilegeWithdrawn'));
ALTER TABLE audit_events ADD CONSTRAINT audit_events_subject_type_known
    CHECK (subject_type IN ('organisation', 'software', 'user', 'api_token', 'participant_key',
        'signing_key', 'certificate'));
ALTER TABLE audit_events ADD CONSTRAINT audit_events_old_status_known
    CHECK (old_status IS NULL OR old_status IN ('pending', 'active', 'rejected', 'suspended',
        'revoked', 'good', 'hold', 'next', 'retired', 'removed'));
ALTER TABLE audit_events ADD CONSTRAINT audit_events_new_status_known
    CHECK (new_status IS NULL OR new_status IN ('pending', 'active', 'rejected', 'suspended',
        'revoked', 'good', 'hold', 'next', 'retired', 'removed'));

-- Participant keys: the limit of 20 live keys per owner and the refusal of duplicates hold
-- under concurrent uploads because unique indexes enforce them. Each live key takes one of
-- 20 slots; its kid and its RFC 7638 thumbprint are unique among the owner's live keys.
-- Thumbprints of keys stored before this migration are filled in at the next start.
ALTER TABLE participant_keys ADD COLUMN thumbprint TEXT;
ALTER TABLE participant_keys ADD COLUMN slot INTEGER;
ALTER TABLE participant_keys ADD CONSTRAINT participant_keys_slot_range
    CHECK (slot IS NULL OR (slot >= 0 AND slot < 20));
UPDATE participant_keys SET slot = (
    SELECT COUNT(*) FROM participant_keys earlier
    WHERE earlier.organisation_id = participant_keys.organisation_id
      AND COALESCE(earlier.software_id, '') = COALESCE(participant_keys.software_id, '')
      AND earlier.revoked_at IS NULL
      AND (earlier.created_at < participant_keys.created_at
           OR (earlier.created_at = participant_keys.created_at AND earlier.id < participant_keys.id)))
WHERE revoked_at IS NULL;
CREATE UNIQUE INDEX participant_keys_live_kid
    ON participant_keys (organisation_id, COALESCE(software_id, ''), kid) WHERE revoked_at IS NULL;
CREATE UNIQUE INDEX participant_keys_live_thumbprint
    ON participant_keys (organisation_id, COALESCE(software_id, ''), thumbprint) WHERE revoked_at IS NULL;
CREATE UNIQUE INDEX participant_keys_live_slot
    ON participant_keys (organisation_id, COALESCE(software_id, ''), slot) WHERE revoked_at IS NULL;
