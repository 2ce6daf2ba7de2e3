-- The directory's domain: users, organisations, memberships, software products, participant
-- keys, directory signing keys, certificates, issued SSAs and the audit log.
-- UUIDs and JSON documents are TEXT; times are UTC TIMESTAMPs.

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_operator BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE login_failures (
    id BIGSERIAL PRIMARY KEY,
    throttle_key TEXT NOT NULL,
    failed_at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_key ON login_failures(throttle_key, failed_at);

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
    status TEXT NOT NULL,
    status_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX organisations_status ON organisations(status);

CREATE TABLE memberships (
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (organisation_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

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
    environment TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX software_organisation ON software(organisation_id);

CREATE TABLE participant_keys (
    id TEXT PRIMARY KEY NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    software_id TEXT REFERENCES software(id),
    kid TEXT NOT NULL,
    jwk TEXT NOT NULL,
    certificate_serial TEXT,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX participant_keys_owner ON participant_keys(organisation_id, software_id);
CREATE INDEX participant_keys_kid ON participant_keys(organisation_id, kid);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    activated_at TIMESTAMP,
    retired_at TIMESTAMP,
    removed_at TIMESTAMP
);
-- At most one active and one next key: instances racing to create them conflict here.
CREATE UNIQUE INDEX signing_keys_one_per_live_state ON signing_keys(state)
    WHERE state IN ('active', 'next');

CREATE TABLE certificates (
    serial TEXT PRIMARY KEY NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    software_id TEXT NOT NULL REFERENCES software(id),
    cert_type TEXT NOT NULL,
    subject TEXT NOT NULL,
    not_before TIMESTAMP NOT NULL,
    not_after TIMESTAMP NOT NULL,
    pem TEXT NOT NULL,
    status TEXT NOT NULL,
    revocation_reason TEXT,
    revoked_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX certificates_software ON certificates(software_id);

CREATE TABLE issued_ssas (
    jti TEXT PRIMARY KEY NOT NULL,
    software_id TEXT NOT NULL REFERENCES software(id),
    kid TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX issued_ssas_kid ON issued_ssas(kid, expires_at);

CREATE TABLE audit_events (
    id BIGSERIAL PRIMARY KEY,
    occurred_at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    organisation_id TEXT,
    old_status TEXT,
    new_status TEXT,
    reason TEXT,
    details TEXT
);
CREATE INDEX audit_events_subject ON audit_events(subject_id);
CREATE INDEX audit_events_organisation ON audit_events(organisation_id);
