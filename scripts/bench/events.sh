#!/usr/bin/env bash
# Change events: how fast changes that emit events commit (software edits over HTTP, each
# writing its audit entry and its change event in one transaction), and how fast a reader
# catches up through GET /events (1,000 a page, one connection), first right after the
# writes and then again once every SET is stored (goal: at least 20,000 events/s).
# Writes the figures to docs/benchmarks.md. Loopback only, bounded runs.
#
#   scripts/bench/events.sh         (EVENTS=100000 CONNECTIONS=16 by default)
#   BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432 scripts/bench/events.sh
source "$(dirname "$0")/lib.sh"
EVENTS=${EVENTS:-100000}
CONNECTIONS=${CONNECTIONS:-16}
CORES=$(nproc)
TITLE="Change events"
BACKEND="embedded SQLite"
if [ -n "${BENCH_POSTGRES:-}" ]; then
  use_postgres "$BENCH_POSTGRES"
  TITLE="Change events on PostgreSQL"
  BACKEND="PostgreSQL on the same machine"
fi

need wrk curl python3
build
start_directory
onboard

# Software edits with a fresh name each: every request is a change with one event.
cat >"$WORK/patch.lua" <<LUA
wrk.method = "PATCH"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format('{"client_name":"Bench App %d-%d"}', math.random(1, 1000000000), n))
end
LUA

newest() { curl -sf "$BASE/status/software?limit=1" | json_field "['event_cursor']"; }
START=$(newest)
WRITE_START=$(date +%s.%N)
WRITE_RPS=()
while [ "$(($(newest) - START))" -lt "$EVENTS" ]; do
  WRITE_RPS+=("$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d 10s -s "$WORK/patch.lua" "$BASE/api/v1/software/$SOFTWARE")")
done
WRITE_END=$(date +%s.%N)
WRITTEN=$(($(newest) - START))
WRITE_RATE=$(python3 -c "print(f'{$WRITTEN / ($WRITE_END - $WRITE_START):.0f}')")

cat >"$WORK/follow.py" <<'PY'
import http.client, json, sys, time
port, start, expected = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port)
cursor, seen, last, began = start, 0, None, time.perf_counter()
while True:
    conn.request("GET", f"/events?after={cursor}&limit=1000")
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200, body
    page = json.loads(body)
    if not page["events"]:
        break
    for event in page["events"]:
        n = int(event["cursor"])
        assert last is None or n == last + 1, (last, n)
        assert event["set"].count(".") == 2
        last = n
    seen += len(page["events"])
    cursor = page["next_cursor"]
elapsed = time.perf_counter() - began
assert seen >= expected, (seen, expected)
print(f"{seen} {elapsed:.3f} {seen / elapsed:.0f}")
PY
read -r FIRST_N FIRST_S FIRST_RATE < <(python3 "$WORK/follow.py" "$PORT" "$START" "$WRITTEN")
read -r SECOND_N SECOND_S SECOND_RATE < <(python3 "$WORK/follow.py" "$PORT" "$START" "$WRITTEN")
SET_BYTES=$(curl -sf "$BASE/events?after=$START&limit=1" | python3 -c "import json,sys; print(len(json.load(sys.stdin)['events'][0]['set']))")

BODY="$(machine)
- directory: release build, $BACKEND, PS256 (RSA 2048) signing key; SETs of about $SET_BYTES bytes
- writes: wrk, $CORES threads, $CONNECTIONS connections, \`PATCH /api/v1/software/{id}\` with a new name each time (one audit entry and one \`software-metadata\` event per request)
- reader: one Python client on one keep-alive connection, \`GET /events?after=…&limit=1000\` until the feed is empty, checking that cursors have no gap

| measurement | figure |
|---|---|
| events written | $WRITTEN in $(python3 -c "print(f'{$WRITE_END - $WRITE_START:.0f}')") s: **$WRITE_RATE changes/s** (wrk rounds: ${WRITE_RPS[*]} requests/s) |
| catch-up right after the writes (SETs the background signer had not reached are signed as they are read) | $FIRST_N events in $FIRST_S s: **$FIRST_RATE events/s** |
| catch-up again (every SET stored) | $SECOND_N events in $SECOND_S s: **$SECOND_RATE events/s** (goal ≥ 20,000) |"
record "$TITLE" "$BODY"
echo "$BODY"
