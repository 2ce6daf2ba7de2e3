#!/usr/bin/env bash
# Sync at scale on PostgreSQL: 10,000 organisations and 1,000,000 software products, then a
# full status snapshot through the keyset API (GET /status/software, 1,000 a page, one
# keep-alive connection; goal: under 30 s) and the latency of the first and the last page
# (goal: the same within 2x), each the median of ROUNDS reads, alternating. The rows are
# inserted with SQL (generate_series) in the directory's own schema after its migrations ran.
# Writes the figures to docs/benchmarks.md. Loopback only.
#
#   BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432 scripts/bench/sync.sh
#                                   (ORGS=10000 PRODUCTS=1000000 ROUNDS=5 by default)
source "$(dirname "$0")/lib.sh"
ORGS=${ORGS:-10000}
PRODUCTS=${PRODUCTS:-1000000}
ROUNDS=${ROUNDS:-5}
use_postgres "${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"

need curl python3 psql
build
start_directory

LOAD_START=$(date +%s.%N)
psql -q "$DATABASE_URL" <<SQL
INSERT INTO organisations (id, legal_name, registration_number, country, competent_authority,
    authority_registration_id, roles, business_contact, technical_contact, authorization_servers,
    status, created_at, updated_at)
SELECT md5('org' || n)::uuid::text, 'Org ' || n, n::text, 'GB', 'FCA', n::text, '["AISP"]',
    '{"name":"B","email":"b@example.com"}', '{"name":"T","email":"t@example.com"}', '[]',
    CASE WHEN n % 10 = 0 THEN 'suspended' ELSE 'active' END, now(), now()
FROM generate_series(1, $ORGS) AS n;
INSERT INTO software (id, organisation_id, client_id, client_name, description, version,
    redirect_uris, roles, environment, status, created_at, updated_at)
SELECT md5('sw' || n)::uuid::text, md5('org' || (n % $ORGS + 1))::uuid::text, md5('c' || n),
    'App ' || n, '', '1.0', '["https://app.example/cb"]', '["AISP"]', 'production',
    CASE WHEN n % 7 = 0 THEN 'pending' ELSE 'active' END, now(), now()
FROM generate_series(1, $PRODUCTS) AS n;
ANALYZE organisations;
ANALYZE software;
SQL
LOAD_S=$(python3 -c "import time; print(f'{time.time() - $LOAD_START:.0f}')")

cat >"$WORK/snapshot.py" <<'PY'
import http.client, json, statistics, sys, time
port, expected, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port)

def get(path):
    began = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200, body[:300]
    return json.loads(body), time.perf_counter() - began

# The whole snapshot, page by page.
began = time.perf_counter()
page, _ = get("/status/software?limit=1000")
cursor = page["event_cursor"]
seen, last_after, previous = len(page["items"]), None, None
while "next" in page:
    previous = page["next"]
    page, _ = get(f"/status/software?limit=1000&after={previous}")
    seen += len(page["items"])
    if "next" in page:
        last_after = page["next"]
whole = time.perf_counter() - began
assert seen == expected, (seen, expected)
# The first and the last page, alternating.
first, last = [], []
for _ in range(rounds):
    first.append(get("/status/software?limit=1000")[1])
    last.append(get(f"/status/software?limit=1000&after={previous}")[1])
print(f"{seen} {whole:.1f} {statistics.median(first) * 1000:.1f} {statistics.median(last) * 1000:.1f} {cursor}")
PY
read -r SEEN WHOLE FIRST LAST CURSOR < <(python3 "$WORK/snapshot.py" "$PORT" "$PRODUCTS" "$ROUNDS")
RATIO=$(python3 -c "print(f'{$LAST / $FIRST:.2f}')")

BODY="$(machine)
- directory: release build, PostgreSQL on the same machine; $ORGS organisations and $PRODUCTS products inserted with SQL in $LOAD_S s
- reader: one Python client on one keep-alive connection, \`GET /status/software?limit=1000&after=…\`

| measurement | figure |
|---|---|
| full snapshot, $SEEN products in $((SEEN / 1000)) pages | **$WHOLE s** (goal < 30 s) |
| first page (1,000 products), median of $ROUNDS | $FIRST ms |
| last page, median of $ROUNDS (alternating with the first) | $LAST ms |
| last / first | **$RATIO** (goal ≤ 2) |"
record "Status snapshot at scale on PostgreSQL" "$BODY"
echo "$BODY"
