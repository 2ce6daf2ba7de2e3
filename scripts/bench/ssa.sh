#!/usr/bin/env bash
# SSA issuance over HTTP against the signing limit of the machine (openssl speed), and
# /.well-known/jwks.json against nginx serving the same bytes from a file. Beside issuance it
# measures the floor: a server that only signs over HTTP (examples/sign_floor.rs), to show
# what HTTP and signing alone leave of the limit. Writes the figures to docs/benchmarks.md.
# Loopback only; every run is bounded by DURATION seconds.
#
#   scripts/bench/ssa.sh            (DURATION=6 ROUNDS=3 CONNECTIONS=32 by default)
#   BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432 scripts/bench/ssa.sh
#                                   (the same on a fresh PostgreSQL database of that server)
#
# Issuance with the keys in an HSM (the pkcs11 provider on SoftHSM2) against that module's
# own signature rate is scripts/bench/pkcs11.sh.
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-6}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
CORES=$(nproc)
TITLE="SSA issuance and JWKS"
BACKEND="embedded SQLite"
GOAL=0.8
if [ -n "${BENCH_POSTGRES:-}" ]; then
  use_postgres "$BENCH_POSTGRES"
  TITLE="SSA issuance and JWKS on PostgreSQL"
  BACKEND="PostgreSQL on the same machine (its server takes CPU too)"
  GOAL=0.6
fi

need wrk nginx openssl curl
build
(cd "$ROOT" && cargo build --release -q --example sign_floor)
start_directory
onboard

# The floor: an actix-web server that only signs a statement-sized PS256 JWS per request with
# the directory's signer (examples/sign_floor.rs), on the blocking pool as the directory does,
# and again on the HTTP worker itself. No database, no authorization, no record.
FLOOR_PORT=$(free_port)
"$ROOT/target/release/examples/sign_floor" "127.0.0.1:$FLOOR_PORT" >"$WORK/floor.log" 2>&1 &
PIDS+=($!)
INLINE_PORT=$(free_port)
"$ROOT/target/release/examples/sign_floor" "127.0.0.1:$INLINE_PORT" inline >"$WORK/inline.log" 2>&1 &
PIDS+=($!)
printf 'wrk.method = "POST"\n' >"$WORK/post.lua"
for port in "$FLOOR_PORT" "$INLINE_PORT"; do
  for _ in $(seq 100); do curl -sf -X POST "http://127.0.0.1:$port/sign" >/dev/null && break; sleep 0.1; done
done

cat >"$WORK/issue.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
# The physical limit (RSA-2048 signatures per second on every core) and issuance over HTTP,
# in alternating rounds: this machine's speed drifts by tens of percent within a minute.
ISSUE_ROWS=""
ISSUE_RATIOS=()
GOAL_RATIOS=()
FLOOR_RATIOS=()
INLINE_RATIOS=()
for round in $(seq "$ROUNDS"); do
  SIGN=$(openssl speed -multi "$CORES" -seconds "$DURATION" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $(NF-1)}' | tail -1)
  ISSUE=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" -s "$WORK/issue.lua" "$BASE/api/v1/software/$SOFTWARE/ssa")
  FLOOR=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" -s "$WORK/post.lua" "http://127.0.0.1:$FLOOR_PORT/sign")
  INLINE=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" -s "$WORK/post.lua" "http://127.0.0.1:$INLINE_PORT/sign")
  ISSUE_RATIOS+=("$(ratio "$ISSUE" "$SIGN")")
  GOAL_RATIOS+=("$(ratio "$ISSUE" "$FLOOR")")
  FLOOR_RATIOS+=("$(ratio "$FLOOR" "$SIGN")")
  INLINE_RATIOS+=("$(ratio "$INLINE" "$SIGN")")
  ISSUE_ROWS+="| $round | $SIGN | $ISSUE | $(ratio "$ISSUE" "$SIGN") | $FLOOR | $(ratio "$FLOOR" "$SIGN") | $(ratio "$ISSUE" "$FLOOR") | $INLINE | $(ratio "$INLINE" "$SIGN") |
"
done
# Every statement issued during the runs was recorded and audited: count them.
ISSUED=$(TOKEN=$OP_TOKEN api GET "/api/v1/audit?action=ssa.issue&per_page=1" | json_field "['total']")

# The JWKS against nginx serving the same bytes.
curl -sf "$BASE/.well-known/jwks.json" >"$WORK/jwks.json"
NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes $CORES;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location = /jwks.json { default_type application/jwk-set+json; add_header Cache-Control "public, max-age=300"; etag on; alias $WORK/jwks.json; }
  }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
sleep 0.5
JWKS_ROWS=""
JWKS_RATIOS=()
for round in $(seq "$ROUNDS"); do
  JWKS=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" "$BASE/.well-known/jwks.json")
  NGINX=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" "http://127.0.0.1:$NGINX_PORT/jwks.json")
  JWKS_RATIOS+=("$(ratio "$JWKS" "$NGINX")")
  JWKS_ROWS+="| $round | $JWKS | $NGINX | $(ratio "$JWKS" "$NGINX") |
"
done

BODY="$(machine)
- load: wrk, $CORES threads, $CONNECTIONS connections, ${DURATION} s per measurement, $ROUNDS alternating rounds, on the same machine as the servers (the client takes CPU from them)
- directory: release build, $BACKEND, PS256 (RSA 2048) signing key

| round | \`openssl speed -multi $CORES rsa2048\` signatures/s | SSA issuance, \`POST /api/v1/software/{id}/ssa\`, requests/s | issuance / openssl | floor: HTTP + signature only, blocking pool | floor / openssl | issuance / floor (goal ≥ $GOAL) | floor, signed on the HTTP worker | its ratio to openssl |
|---|---|---|---|---|---|---|---|---|
${ISSUE_ROWS}
Median ratio of issuance to the floor: **$(median "${GOAL_RATIOS[@]}")** (goal ≥ $GOAL); to \`openssl speed\`: $(median "${ISSUE_RATIOS[@]}"); $ISSUED statements were issued, each recorded and audited.
Median ratio of the floor (\`examples/sign_floor.rs\`: an actix-web server that only signs a statement-sized PS256 JWS with the directory's signer; no database, no authorization, no record): **$(median "${FLOOR_RATIOS[@]}")** on the blocking pool, **$(median "${INLINE_RATIOS[@]}")** on the HTTP worker.

| round | \`GET /.well-known/jwks.json\` from the directory, requests/s | the same bytes from nginx | ratio (goal ≥ 1.0) |
|---|---|---|---|
${JWKS_ROWS}
Median JWKS ratio: **$(median "${JWKS_RATIOS[@]}")** (goal ≥ 1.0)."
record "$TITLE" "$BODY"
echo "$BODY"
