#!/usr/bin/env bash
# The transparency log: appends per second (examples/log_append.rs: batched appends as the
# statement recorder commits them, while the sequencer extends the tree and signs
# checkpoints; goal ≥ 1,500, Tessera's figure on a 2-vCPU VM), SSA issuance with the log on
# against a directory without it (SSA_DIRECTORY_TRANSPARENCY_LOG=false) in alternating rounds
# (goal ≥ 0.9), the time from a statement's issuance to the proof of a checkpoint that covers
# it, under issuance load (goal p99 ≤ 1 s), and the tiles a client fetches to prove one entry
# from the tiles alone (verifier/examples/tiles_per_proof.rs; goal ≤ 5). Writes the figures
# to docs/benchmarks.md. Loopback only.
#
#   scripts/bench/log.sh            (DURATION=6 ROUNDS=3 CONNECTIONS=32 by default)
#   BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432 scripts/bench/log.sh
#                                   (appends measured on PostgreSQL as well)
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-6}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
CORES=$(nproc)

need wrk curl python3
build
(cd "$ROOT" && cargo build --release -q --example log_append && cargo build --release -q -p ssa-verifier --example tiles_per_proof)
APPEND="$ROOT/target/release/examples/log_append"
TILES="$ROOT/target/release/examples/tiles_per_proof"

# Appends: two writers committing batches of 64 entries of 1.6 KB, one sequencer.
APPEND_ROWS=""
APPENDS=()
PG_APPENDS=()
for round in $(seq "$ROUNDS"); do
  SQLITE=$("$APPEND" "sqlite://$WORK/append-$round.db" "$DURATION" 2 64)
  APPENDS+=("$SQLITE")
  PG="—"
  if [ -n "${BENCH_POSTGRES:-}" ]; then
    need psql
    NAME="ssa_log_bench_$$_$round"
    psql -q "${BENCH_POSTGRES%/}/postgres" -c "CREATE DATABASE $NAME" >/dev/null
    PG=$("$APPEND" "${BENCH_POSTGRES%/}/$NAME" "$DURATION" 2 64)
    psql -q "${BENCH_POSTGRES%/}/postgres" -c "DROP DATABASE $NAME" >/dev/null
    PG_APPENDS+=("$PG")
  fi
  APPEND_ROWS+="| $round | $SQLITE | $PG |
"
done

# Two directories, one with its log and one without, each with an approved product.
DIR=$WORK/on
start_directory
onboard
ON_BASE=$BASE ON_SOFTWARE=$SOFTWARE ON_TOKEN=$TOKEN
DIR=$WORK/off
start_directory SSA_DIRECTORY_TRANSPARENCY_LOG=false
onboard
OFF_BASE=$BASE OFF_SOFTWARE=$SOFTWARE OFF_TOKEN=$TOKEN
printf 'wrk.method = "POST"\nwrk.headers["Authorization"] = "Bearer %s"\n' "$ON_TOKEN" >"$WORK/on.lua"
printf 'wrk.method = "POST"\nwrk.headers["Authorization"] = "Bearer %s"\n' "$OFF_TOKEN" >"$WORK/off.lua"

ISSUE_ROWS=""
ISSUE_RATIOS=()
for round in $(seq "$ROUNDS"); do
  ON=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" -s "$WORK/on.lua" "$ON_BASE/api/v1/software/$ON_SOFTWARE/ssa")
  OFF=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" -s "$WORK/off.lua" "$OFF_BASE/api/v1/software/$OFF_SOFTWARE/ssa")
  ISSUE_RATIOS+=("$(ratio "$ON" "$OFF")")
  ISSUE_ROWS+="| $round | $ON | $OFF | $(ratio "$ON" "$OFF") |
"
done

# Issuance to a covering checkpoint: a statement, then its proof (which the directory
# answers once a checkpoint covers it), 200 times while wrk keeps issuing at full load.
wrk -t 1 -c 8 -d "$((DURATION * 3))s" -s "$WORK/on.lua" "$ON_BASE/api/v1/software/$ON_SOFTWARE/ssa" >/dev/null &
LOAD=$!
sleep 1
LATENCY=$(python3 - "$ON_BASE" "$ON_SOFTWARE" "$ON_TOKEN" <<'PY'
import hashlib, sys, time, urllib.request
base, software, token = sys.argv[1:]
waits = []
for _ in range(200):
    request = urllib.request.Request(f"{base}/api/v1/software/{software}/ssa", method="POST",
                                     headers={"Authorization": f"Bearer {token}"})
    jws = urllib.request.urlopen(request).read()
    issued = time.monotonic()
    proof = urllib.request.urlopen(f"{base}/log/proof?sha256={hashlib.sha256(jws).hexdigest()}").read()
    assert proof.startswith(b"c2sp.org/tlog-proof@v1\n"), proof[:40]
    waits.append(time.monotonic() - issued)
waits.sort()
print(f"{waits[len(waits) // 2] * 1000:.0f} {waits[int(len(waits) * 0.99) - 1] * 1000:.0f} {waits[-1] * 1000:.0f}")
PY
)
wait "$LOAD" || true
read -r P50 P99 MAX <<<"$LATENCY"

# Tiles to prove one entry, from a client that holds only the log's URL and key.
VKEY=$(curl -sf "$ON_BASE/.well-known/ssa-directory" | json_field "['log_verifier_key']")
SIZE=$(curl -sf "$ON_BASE/log/checkpoint" | sed -n 2p)
read -r MOST PROVEN_SIZE <<<"$("$TILES" "$ON_BASE/log" "$VKEY" 0 $((SIZE / 3)) $((SIZE / 2)) $((SIZE - 300)) $((SIZE - 1)))"

BODY="$(machine)
- directory: release build, embedded SQLite, PS256 (RSA 2048) signing key; load: wrk, $CORES threads, $CONNECTIONS connections, ${DURATION} s per measurement, $ROUNDS alternating rounds, on the same machine

| round | appends/s, SQLite (\`examples/log_append.rs\`: 2 writers, batches of 64 entries of 1.6 KB, the sequencer signing) | appends/s, PostgreSQL |
|---|---|---|
${APPEND_ROWS}
Median appends per second on SQLite: **$(median "${APPENDS[@]}")** (goal ≥ 1,500)$( [ ${#PG_APPENDS[@]} -gt 0 ] && echo "; on PostgreSQL: **$(median "${PG_APPENDS[@]}")**").

| round | SSA issuance with the log, requests/s | without it (\`SSA_DIRECTORY_TRANSPARENCY_LOG=false\`) | ratio (goal ≥ 0.9) |
|---|---|---|---|
${ISSUE_ROWS}
Median ratio: **$(median "${ISSUE_RATIOS[@]}")** (goal ≥ 0.9).

From a statement's issuance to the proof of a checkpoint that covers it, 200 statements while wrk issues on 8 more connections: p50 $P50 ms, **p99 $P99 ms** (goal ≤ 1,000 ms), max $MAX ms.

Tiles fetched to prove one entry from the tiles alone (hash tiles for the proof and their authentication against the checkpoint, and the entries tile), at most over five indexes of a log of $PROVEN_SIZE entries: **$MOST** (goal ≤ 5)."
record "Transparency log" "$BODY"
echo "$BODY"
