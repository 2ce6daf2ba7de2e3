#!/usr/bin/env bash
# SSA issuance over HTTP against the signing limit of the machine (openssl speed), and
# /.well-known/jwks.json against nginx serving the same bytes from a file. Writes the
# figures to docs/benchmarks.md. Loopback only; every run is bounded by DURATION seconds.
#
#   scripts/bench/ssa.sh            (DURATION=10 CONNECTIONS=32 by default)
#   BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432 scripts/bench/ssa.sh
#                                   (the same on a fresh PostgreSQL database of that server)
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
CORES=$(nproc)
TITLE="SSA issuance and JWKS"
BACKEND="embedded SQLite"
if [ -n "${BENCH_POSTGRES:-}" ]; then
  use_postgres "$BENCH_POSTGRES"
  TITLE="SSA issuance and JWKS on PostgreSQL"
  BACKEND="PostgreSQL on the same machine (its server takes CPU too)"
fi

need wrk nginx openssl curl
build
start_directory
onboard

# The physical limit: RSA-2048 signatures per second on every core.
SIGN=$(openssl speed -multi "$CORES" -seconds "$DURATION" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $(NF-1)}' | tail -1)

cat >"$WORK/issue.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
ISSUE=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" -s "$WORK/issue.lua" "$BASE/api/v1/software/$SOFTWARE/ssa")
# A statement issued during the run must verify: count the recorded ones.
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
JWKS=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" "$BASE/.well-known/jwks.json")
NGINX=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" "http://127.0.0.1:$NGINX_PORT/jwks.json")

ratio() { python3 -c "print(f'{float($1)/float($2):.2f}')"; }
BODY="$(machine)
- load: wrk, $CORES threads, $CONNECTIONS connections, ${DURATION} s per measurement, on the same machine as the servers (the client takes CPU from them)
- directory: release build, $BACKEND, PS256 (RSA 2048) signing key

| measurement | per second |
|---|---|
| \`openssl speed -multi $CORES rsa2048\` signatures | $SIGN |
| SSA issuance, \`POST /api/v1/software/{id}/ssa\` over HTTP ($ISSUED recorded and audited) | $ISSUE |
| ratio (goal ≥ 0.8) | $(ratio "$ISSUE" "$SIGN") |
| \`GET /.well-known/jwks.json\` from the directory | $JWKS |
| the same bytes from nginx | $NGINX |
| ratio (goal ≥ 1.0) | $(ratio "$JWKS" "$NGINX") |"
record "$TITLE" "$BODY"
echo "$BODY"
