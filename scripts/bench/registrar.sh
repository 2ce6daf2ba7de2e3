#!/usr/bin/env bash
# The registration service: registrations per second over HTTPS on one core (wrk, each
# request a new statement of the same product, fapi2, statements required, stateful on
# SQLite), against the same run's ceiling on the same core: the registrar's core deciding the
# same requests in one thread with no HTTP and no storage (registrar/examples/ceiling.rs;
# goal: at least 0.5 of it), and the p99 latency under that load (goal: under 50 ms).
# The directory runs on the other core. Writes the figures to docs/benchmarks.md.
#
#   scripts/bench/registrar.sh        (STATEMENTS=40000 DURATION=5 CONNECTIONS=4)
#   STATE=stateless ...               the stateless registrar (goal: 0.7 of the ceiling)
#   SHOW_TOP=1 ...                    also print top during the load
#   PERF=/tmp/registrar.perf ...      also record a perf profile of the registrar
source "$(dirname "$0")/lib.sh"
STATEMENTS=${STATEMENTS:-40000}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-4}
STATE=${STATE:-stateful}
need wrk curl python3 openssl taskset

build
(cd "$ROOT" && cargo build --release -q -p ssa-registrar --features server --bin ssa-registrar --example ceiling --example floor)
REGISTRAR="$ROOT/target/release/ssa-registrar"
CEILING_BIN="$ROOT/target/release/examples/ceiling"
FLOOR_BIN="$ROOT/target/release/examples/floor"
start_directory
onboard

# Fresh statements (a statement registers once).
python3 - "$PORT" "$TOKEN" "$SOFTWARE" "$STATEMENTS" >"$WORK/statements.txt" <<'PY'
import http.client, sys
port, token, software, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
conn = http.client.HTTPConnection("127.0.0.1", int(port))
for _ in range(n):
    conn.request("POST", f"/api/v1/software/{software}/ssa", headers={"authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    assert response.status == 201, body
    print(body.decode())
PY
echo "statements: $(wc -l <"$WORK/statements.txt")" >&2
curl -sf "$BASE/.well-known/jwks.json" >"$WORK/jwks.json"

CEILINGS=()
for _ in 1 2 3; do
  CEILINGS+=("$(taskset -c 1 "$CEILING_BIN" "$BASE" "$WORK/jwks.json" "$WORK/statements.txt")")
done
CEILING=$(printf '%s\n' "${CEILINGS[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/tls.key" -out "$WORK/tls.pem" 2>/dev/null
REG_PORT=$(free_port)
mkdir -p "$WORK/registrar"
(cd "$WORK/registrar" && SSA_REGISTRAR_LISTEN="127.0.0.1:$REG_PORT" SSA_REGISTRAR_DIRECTORIES="$BASE" \
  SSA_REGISTRAR_TLS_CERT_FILE="$WORK/tls.pem" SSA_REGISTRAR_TLS_KEY_FILE="$WORK/tls.key" \
  DATABASE_URL="sqlite://$WORK/registrar/registrar.db" SSA_REGISTRAR_STATE="$STATE" RUST_LOG=warn \
  exec taskset -c 1 "$REGISTRAR" serve >"$WORK/registrar.log" 2>&1) &
PIDS+=($!)
for _ in $(seq 100); do
  code=$(curl -sk -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' -d '{}' "https://127.0.0.1:$REG_PORT/register" || true)
  [ "$code" = 400 ] && break; sleep 0.1
done

# One registration by hand first: it must succeed (its statement is then used up).
FIRST=$(head -1 "$WORK/statements.txt")
RESPONSE_BYTES=$(curl -skf -X POST -H 'content-type: application/json' -d "{\"software_statement\":\"$FIRST\"}" \
  "https://127.0.0.1:$REG_PORT/register" | wc -c) || { cat "$WORK/registrar.log" >&2; exit 1; }

cat >"$WORK/register.lua" <<LUA
local statements = {}
for line in io.lines("$WORK/statements.txt") do statements[#statements + 1] = line end
local n = 1
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  -- Past the last statement the requests are replays (refused, counted as not 201).
  if n > #statements then n = 2 end
  return wrk.format(nil, "/register", nil, '{"software_statement":"' .. statements[n] .. '"}')
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %.0f %.1f\n", summary.requests, summary.errors.status,
    summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000))
end
LUA
[ -n "${SHOW_TOP:-}" ] && (sleep 2; top -b -n 1 -w 120 | head -14 >&2) &
[ -n "${PERF:-}" ] && (sleep 1; perf record -q -o "$PERF" -g -p "$(pgrep -n ssa-registrar)" -- sleep 3 >/dev/null 2>&1) &
load() { taskset -c 0 wrk -t1 -c "$CONNECTIONS" -d "${DURATION}s" -s "$WORK/register.lua" "https://127.0.0.1:$1" | grep '^RESULT'; }
read -r _ REQUESTS NON_2XX RPS P99 < <(load "$REG_PORT")
if [ "$REQUESTS" -ge "$STATEMENTS" ]; then echo "more requests ($REQUESTS, $NON_2XX not 201) than statements ($STATEMENTS): raise STATEMENTS" >&2; exit 1; fi
grep -i "error" "$WORK/registrar.log" | tail -3 >&2 || true
RATIO=$(python3 -c "print(f'{$RPS / $CEILING:.2f}')")

# The floor under the same load on the same core: HTTPS alone (an answer of the same size,
# nothing checked), and with the stateful registrar's rows stored by the same group commit.
floor() {
  local port; port=$(free_port)
  taskset -c 1 "$FLOOR_BIN" "$port" "$WORK/tls.pem" "$WORK/tls.key" "$RESPONSE_BYTES" "$@" >"$WORK/floor.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sk -o /dev/null -X POST -d '{}' "https://127.0.0.1:$port/register" && break; sleep 0.1; done
  local requests non_2xx rps
  read -r _ requests non_2xx rps _ < <(load "$port")
  [ "$non_2xx" = 0 ] || { echo "floor: $non_2xx of $requests not 201" >&2; cat "$WORK/floor.log" >&2; exit 1; }
  echo "$rps"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
FLOOR_HTTPS=$(floor)
FLOOR_STORED=$(floor sqlite "$WORK/floor.db")
# The most the service could reach if deciding cost only the ceiling's time on top of a
# floor: F / (C + F) of the ceiling.
REACH_HTTPS=$(python3 -c "print(f'{$FLOOR_HTTPS / ($CEILING + $FLOOR_HTTPS):.2f}')")
REACH_STORED=$(python3 -c "print(f'{$FLOOR_STORED / ($CEILING + $FLOOR_STORED):.2f}')")
# The restated goal: the service against what is within reach for its mode (the stateful
# one stores rows, the stateless one only answers).
FLOOR=$FLOOR_STORED
[ "$STATE" = stateless ] && FLOOR=$FLOOR_HTTPS
OF_REACH=$(python3 -c "print(f'{$RPS * ($CEILING + $FLOOR) / ($CEILING * $FLOOR):.2f}')")

BODY="$(machine)
- directory: release build, embedded SQLite, PS256 signing key, on core 0; registrar: release build, fapi2, statements required, $STATE (SQLite), TLS (P-256), pinned to core 1
- load: wrk on core 0, 1 thread, $CONNECTIONS connections, ${DURATION} s, each request \`POST /register\` with a new statement of the same product (JSON, no signed request, no client certificate)
- ceiling: the registrar's core deciding the same requests in one thread on core 1 (\`registrar/examples/ceiling.rs\`: statement signature, claims, RFC 7591 section 2.3, the policy), no HTTP, no storage, no status fetch; median of 3 passes (${CEILINGS[*]})

| measurement | figure |
|---|---|
| ceiling | $CEILING decisions/s |
| registrations over HTTPS | **$RPS/s** ($REQUESTS requests, $NON_2XX not 201) |
| registrations / ceiling | **$RATIO** (goal ≥ 0.5 stateful, 0.7 stateless) |
| p99 latency | **$P99 ms** (goal < 50 ms) |
| floor: HTTPS alone (\`registrar/examples/floor.rs\`, answer of $RESPONSE_BYTES bytes, nothing checked) | $FLOOR_HTTPS/s |
| floor: HTTPS and the stateful rows stored (same schema, pragmas and group commit) | $FLOOR_STORED/s |
| within reach: floor / (ceiling + floor), HTTPS alone | $REACH_HTTPS of the ceiling |
| within reach: floor / (ceiling + floor), rows stored | $REACH_STORED of the ceiling |
| registrations / within reach for $STATE | **$OF_REACH** (restated goal ≥ 0.7 stateful, 0.6 stateless) |"
TITLE="Registrar"
[ "$STATE" = stateless ] && TITLE="Registrar, stateless"
record "$TITLE" "$BODY"
echo "$BODY"
