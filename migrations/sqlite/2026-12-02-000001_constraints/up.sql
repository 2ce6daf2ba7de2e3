-- Every status and type column accepts only the values the directory writes, so that a bug
-- or a hand-made edit cannot store a status nothing knows how to read. SQLite cannot add a
-- CHECK constraint to a table, so each table is rebuilt with its constraints: its rows are
-- copied aside, it is dropped and created again with the constraints, and the rows go back.
-- Foreign keys are checked at commit: the rows that come back answer the references that
-- dropping the table left open (inserting a parent row settles the deferred violations of
-- its children).
PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE organisations_copy AS SELECT * FROM organisations;
DROP TABLE organisations;
CREATE TABLE organisations (
    id TEXT PRIMARY KEY NOT NULL,
    legal_name TEXT NOT NULL,
    registration_number TEXT NOT NULL,
    country TEXT NOT NULL,
    competent_authority TEXT NOT NULL,
    authority_registration_id TEXT NOT NULL,
    roles TEXT NOT NULL,
    business_contact TEXT NOT NULL,
    technical_contact TEXT NOT NULL,
    authorization_servers TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'rejected', 'suspended', 'revoked')),
    status_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO organisations (id, legal_name, registration_number, country, competent_authority, authority_registration_id, roles, business_contact, technical_contact, authorization_servers, status, status_reason, created_at, updated_at)
    SELECT id, legal_name, registration_number, country, competent_authority, authority_registration_id, roles, business_contact, technical_contact, authorization_servers, status, status_reason, created_at, updated_at FROM organisations_copy;
DROP TABLE organisations_copy;
CREATE INDEX organisations_status ON organisations(status);

CREATE TEMP TABLE memberships_copy AS SELECT * FROM memberships;
DROP TABLE memberships;
CREATE TABLE memberships (
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    role TEXT NOT NULL CHECK (role IN ('admin', 'developer')),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (organisation_id, user_id)
);
INSERT INTO memberships (organisation_id, user_id, role, created_at)
    SELECT organisation_id, user_id, role, created_at FROM memberships_copy;
DROP TABLE memberships_copy;
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TEMP TABLE invitations_copy AS SELECT * FROM invitations;
DROP TABLE invitations;
CREATE TABLE invitations (
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    role TEXT NOT NULL CHECK (role IN ('admin', 'developer')),
    invited_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (organisation_id, user_id)
);
INSERT INTO invitations (organisation_id, user_id, role, invited_by, created_at, expires_at)
    SELECT organisation_id, user_id, role, invited_by, created_at, expires_at FROM invitations_copy;
DROP TABLE invitations_copy;
CREATE INDEX invitations_user ON invitations(user_id);

CREATE TEMP TABLE software_copy AS SELECT * FROM software;
DROP TABLE software;
CREATE TABLE software (
    id TEXT PRIMARY KEY NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    client_id TEXT NOT NULL UNIQUE,
    client_name TEXT NOT NULL,
    description TEXT NOT NULL,
    version TEXT NOT NULL,
    client_uri TEXT,
    logo_uri TEXT,
    tos_uri TEXT,
    policy_uri TEXT,
    redirect_uris TEXT NOT NULL,
    roles TEXT NOT NULL,
    environment TEXT NOT NULL CHECK (environment IN ('sandbox', 'production')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'rejected', 'suspended', 'revoked')),
    status_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    pending_change TEXT
);
INSERT INTO software (id, organisation_id, client_id, client_name, description, version, client_uri, logo_uri, tos_uri, policy_uri, redirect_uris, roles, environment, status, status_reason, created_at, updated_at, pending_change)
    SELECT id, organisation_id, client_id, client_name, description, version, client_uri, logo_uri, tos_uri, policy_uri, redirect_uris, roles, environment, status, status_reason, created_at, updated_at, pending_change FROM software_copy;
DROP TABLE software_copy;
CREATE INDEX software_organisation ON software(organisation_id);

CREATE TEMP TABLE signing_keys_copy AS SELECT * FROM signing_keys;
DROP TABLE signing_keys;
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL CHECK (alg IN ('PS256', 'ES256')),
    public_jwk TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired', 'removed')),
    created_at TIMESTAMP NOT NULL,
    activated_at TIMESTAMP,
    retired_at TIMESTAMP,
    removed_at TIMESTAMP
);
INSERT INTO signing_keys (kid, alg, public_jwk, state, created_at, activated_at, retired_at, removed_at)
    SELECT kid, alg, public_jwk, state, created_at, activated_at, retired_at, removed_at FROM signing_keys_copy;
DROP TABLE signing_keys_copy;
CREATE UNIQUE INDEX signing_keys_one_per_live_state ON signing_keys(state)
    WHERE state IN ('active', 'next');

CREATE TEMP TABLE certificates_copy AS SELECT * FROM certificates;
DROP TABLE certificates;
CREATE TABLE certificates (
    serial TEXT PRIMARY KEY NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    software_id TEXT NOT NULL REFERENCES software(id),
    cert_type TEXT NOT NULL CHECK (cert_type IN ('transport', 'signing')),
    subject TEXT NOT NULL,
    not_before TIMESTAMP NOT NULL,
    not_after TIMESTAMP NOT NULL,
    pem TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('good', 'hold', 'revoked')),
    revocation_reason TEXT CHECK (revocation_reason IS NULL OR revocation_reason IN (
        'unspecified', 'keyCompromise', 'affiliationChanged', 'superseded',
        'cessationOfOperation', 'certificateHold', 'privilegeWithdrawn')),
    revoked_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO certificates (serial, organisation_id, software_id, cert_type, subject, not_before, not_after, pem, status, revocation_reason, revoked_at, created_at)
    SELECT serial, organisation_id, software_id, cert_type, subject, not_before, not_after, pem, status, revocation_reason, revoked_at, created_at FROM certificates_copy;
DROP TABLE certificates_copy;
CREATE INDEX certificates_software ON certificates(software_id);
CREATE INDEX certificates_status ON certificates(status);

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

CREATE TEMP TABLE participant_keys_copy AS SELECT * FROM participant_keys;
DROP TABLE participant_keys;
CREATE TABLE participant_keys (
    id TEXT PRIMARY KEY NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    software_id TEXT REFERENCES software(id),
    kid TEXT NOT NULL,
    jwk TEXT NOT NULL,
    certificate_serial TEXT,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    thumbprint TEXT,
    slot INTEGER CHECK (slot IS NULL OR (slot >= 0 AND slot < 20))
);
INSERT INTO participant_keys (id, organisation_id, software_id, kid, jwk, certificate_serial, created_at, revoked_at)
    SELECT id, organisation_id, software_id, kid, jwk, certificate_serial, created_at, revoked_at FROM participant_keys_copy;
DROP TABLE participant_keys_copy;
CREATE INDEX participant_keys_owner ON participant_keys(organisation_id, software_id);
CREATE INDEX participant_keys_kid ON participant_keys(organisation_id, kid);

-- Participant keys: the limit of 20 live keys per owner and the refusal of duplicates hold
-- under concurrent uploads because unique indexes enforce them. Each live key takes one of
-- 20 slots; its kid and its RFC 7638 thumbprint are unique among the owner's live keys.
-- Thumbprints of keys stored before this migration are filled in at the next start.
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
