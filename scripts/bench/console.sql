-- The operator's console at scale (scripts/bench/console.sh): 10,000 organisations,
-- 1,000,000 software products, a year of audit entries (1,000,000, a fifth of them
-- machine-access token requests), 500,000 statements and 100,000 certificates, spread over
-- the last 365 days; 1 % of organisations and products pending, a few suspended or revoked,
-- the rest active. Loaded into a migrated directory database that holds only the onboarding.
\set ON_ERROR_STOP on
CREATE TEMP TABLE bench_orgs AS
  SELECT n, gen_random_uuid()::text AS id FROM generate_series(1, 10000) AS n;
INSERT INTO organisations (id, legal_name, registration_number, country, competent_authority,
    authority_registration_id, roles, business_contact, technical_contact, authorization_servers,
    status, created_at, updated_at)
  SELECT id, 'Participant ' || n || ' Ltd', 'REG' || n,
    (ARRAY['GB','BR','AU','PT','DE'])[1 + n % 5], 'FCA', 'AUTH' || n,
    (ARRAY['["ASPSP"]','["AISP"]','["AISP","PISP"]','["CBPII"]'])[1 + n % 4],
    '{"name":"B","email":"b@bench.example"}', '{"name":"T","email":"t@bench.example"}', '[]',
    CASE WHEN n % 100 = 0 THEN 'pending' WHEN n % 100 < 4 THEN 'suspended' ELSE 'active' END,
    (now() AT TIME ZONE 'utc') - make_interval(days => n % 365),
    (now() AT TIME ZONE 'utc') - make_interval(days => n % 30)
  FROM bench_orgs;
CREATE TEMP TABLE bench_software AS
  SELECT s.n, gen_random_uuid()::text AS id, o.id AS org
  FROM generate_series(1, 1000000) AS s(n) JOIN bench_orgs o ON o.n = 1 + s.n % 10000;
INSERT INTO software (id, organisation_id, client_id, client_name, description, version,
    redirect_uris, roles, environment, status, created_at, updated_at)
  SELECT id, org, md5(id), 'App ' || n, 'A benchmark product', '1.0', '["https://bench.example/cb"]',
    '["AISP"]', (ARRAY['sandbox','production'])[1 + n % 2],
    CASE WHEN n % 100 = 0 THEN 'pending' WHEN n % 100 < 6 THEN 'suspended'
      WHEN n % 100 < 10 THEN 'revoked' ELSE 'active' END,
    (now() AT TIME ZONE 'utc') - make_interval(days => n % 365, secs => n % 86400),
    (now() AT TIME ZONE 'utc') - make_interval(days => n % 30)
  FROM bench_software;
INSERT INTO issued_ssas (jti, software_id, kid, issued_by, issued_at, expires_at, environment)
  SELECT gen_random_uuid()::text, s.id, 'bench-kid', 'bench',
    (now() AT TIME ZONE 'utc') - make_interval(days => s.n % 365, secs => s.n % 86400),
    (now() AT TIME ZONE 'utc') + interval '30 days', (ARRAY['sandbox','production'])[1 + s.n % 2]
  FROM bench_software s WHERE s.n <= 500000;
INSERT INTO certificates (serial, organisation_id, software_id, cert_type, subject, not_before,
    not_after, pem, status, revocation_reason, revoked_at, created_at)
  SELECT upper(md5('serial' || s.n)), s.org, s.id, (ARRAY['transport','signing'])[1 + s.n % 2],
    'CN=' || s.id || ',O=' || s.org, (now() AT TIME ZONE 'utc') - make_interval(days => s.n % 365),
    (now() AT TIME ZONE 'utc') + make_interval(days => s.n % 397), 'PEM',
    CASE WHEN s.n % 10 = 0 THEN 'revoked' ELSE 'good' END,
    CASE WHEN s.n % 10 = 0 THEN 'superseded' END,
    CASE WHEN s.n % 10 = 0 THEN (now() AT TIME ZONE 'utc') - make_interval(days => s.n % 300) END,
    (now() AT TIME ZONE 'utc') - make_interval(days => s.n % 365)
  FROM bench_software s WHERE s.n <= 100000;
INSERT INTO audit_events (occurred_at, actor, action, subject_type, subject_id, organisation_id)
  SELECT (now() AT TIME ZONE 'utc') - make_interval(days => n % 365, secs => n % 86400),
    'bench@bench.example',
    (ARRAY['software.update','oauth.token.issue','ssa.issue','certificate.issue','oauth.token.refuse'])[1 + n % 5],
    'software', 'bench-subject-' || (n % 100000), NULL
  FROM generate_series(1, 1000000) AS n;
ANALYZE;
