#!/usr/bin/env bash
# The operator's console at scale on PostgreSQL: a directory holding 10,000 organisations,
# 1,000,000 software products, a year of audit entries (1,000,000), 500,000 statements and
# 100,000 certificates (scripts/bench/console.sql), then, one client at a time, the latency of
# the overview (its numbers, GET /api/v1/overview, and the portal page that draws them) over
# each period (goal p99 ≤ 200 ms), and of the search by a part of a name, by a prefix shorter
# than three characters and by each kind of identifier (goal p99 ≤ 100 ms). A health check in the same run is the reference: what a
# request costs without the work. Writes the figures to docs/benchmarks.md. Loopback only.
#
#   scripts/bench/console.sh        (BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432,
#                                    REQUESTS=50 per measurement by default)
source "$(dirname "$0")/lib.sh"
REQUESTS=${REQUESTS:-50}
need curl python3 psql

build
use_postgres "${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
start_directory SSA_DIRECTORY_OPERATOR_MFA=optional
onboard
echo "seeding (this takes a few minutes)" >&2
SEED_START=$(date +%s)
psql -q "$DATABASE_URL" -f "$ROOT/scripts/bench/console.sql" >/dev/null
SEED_SECS=$(( $(date +%s) - SEED_START ))
# The directory rolled its (empty) past days up when it started; the history was inserted
# behind its back since. Forget the roll-ups and wait for the next round (every minute) to
# roll the seeded year up, as it would after an upgrade.
psql -q "$DATABASE_URL" -c "DELETE FROM overview_days" -c "DELETE FROM overview_rolled" >/dev/null
ROLL_START=$(date +%s)
until [ "$(psql -qtA "$DATABASE_URL" -c 'SELECT count(*) FROM overview_rolled')" = 5 ]; do sleep 1; done
ROLL_SECS=$(( $(date +%s) - ROLL_START ))

# The identifiers searched for, read back from the seeded data.
read -r ORG_ID CLIENT_ID SERIAL < <(psql -qtA -F ' ' "$DATABASE_URL" -c \
  "SELECT o.id, s.client_id, c.serial FROM certificates c JOIN software s ON s.id = c.software_id JOIN organisations o ON o.id = c.organisation_id WHERE c.serial = upper(md5('serial5000'))")

# A portal session of the operator (its password, then the page with its cookie).
JAR=$WORK/cookies
CSRF=$(curl -sf -c "$JAR" "$BASE/login" | python3 -c 'import re,sys; print(re.search(r"name=\"csrf_token\" value=\"([^\"]+)\"", sys.stdin.read()).group(1))')
curl -sf -b "$JAR" -c "$JAR" -o /dev/null --data-urlencode "csrf_token=$CSRF" \
  --data-urlencode "email=op@bench.example" --data-urlencode "password=benchmark password" "$BASE/login"

# latency NAME URL [cookies|token]: p50 and p99 in ms of REQUESTS sequential GETs.
latency() {
  python3 - "$1" "$2" "$3" "$REQUESTS" "$OP_TOKEN" "$JAR" <<'PY'
import http.cookiejar, sys, time, urllib.request
name, url, auth, n, token, jar = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
handlers = []
if auth == "cookies":
    cookies = http.cookiejar.MozillaCookieJar(jar)
    cookies.load(ignore_discard=True, ignore_expires=True)
    handlers.append(urllib.request.HTTPCookieProcessor(cookies))
opener = urllib.request.build_opener(*handlers)
def get():
    request = urllib.request.Request(url)
    if auth == "token":
        request.add_header("Authorization", f"Bearer {token}")
    with opener.open(request) as response:
        assert response.status == 200, (url, response.status)
        response.read()
get()  # warm
times = []
for _ in range(n):
    start = time.perf_counter()
    get()
    times.append((time.perf_counter() - start) * 1000)
times.sort()
p50, p99 = times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]
print(f"| {name} | {p50:.1f} | **{p99:.1f}** |")
PY
}

ROWS=""
ROWS+="$(latency 'reference: GET /healthz' "$BASE/healthz" none)
"
for period in 7d 30d 12m; do
  ROWS+="$(latency "GET /api/v1/overview?period=$period" "$BASE/api/v1/overview?period=$period" token)
"
  ROWS+="$(latency "portal /operator/overview?period=$period (charts drawn)" "$BASE/operator/overview?period=$period" cookies)
"
done
for query in "participant%2012" "app%201234" "icipant%20123" "pp%2012345" "ap" "$ORG_ID" "REG4321" "AUTH4321" "$CLIENT_ID" "$SERIAL" "bench-kid" "op%40bench.example"; do
  ROWS+="$(latency "GET /api/v1/search?q=$query" "$BASE/api/v1/search?q=$query" token)
"
done

BODY="$(machine)
- directory: release build on PostgreSQL ($(psql -qtA "$DATABASE_URL" -c 'SHOW server_version')), seeded with scripts/bench/console.sql in ${SEED_SECS} s (its year of days then rolled up by the directory within ${ROLL_SECS} s, waiting included): $(psql -qtA "$DATABASE_URL" -c "SELECT (SELECT count(*) FROM organisations) || ' organisations, ' || (SELECT count(*) FROM software) || ' products, ' || (SELECT count(*) FROM audit_events) || ' audit entries, ' || (SELECT count(*) FROM issued_ssas) || ' statements, ' || (SELECT count(*) FROM certificates) || ' certificates'")
- one client, $REQUESTS sequential requests per line after one to warm up, on the same machine

| request | p50 ms | p99 ms |
|---|---|---|
$ROWS
Goals: the overview p99 ≤ 200 ms, the search p99 ≤ 100 ms."
echo "$BODY"
record "Operator's console at scale" "$BODY"
