#!/usr/bin/env bash
# The bank's authorization server in the loop: client credentials token requests per second at
# node-oidc-provider reading its client from the registrar through the adapter
# (integrations/node-oidc-provider), against the same server with the same client configured
# statically, alternating rounds (goal: at least 0.8 of it); then the time from the directory's
# suspension of the product to the token endpoint's first invalid_client, over 50 suspensions
# (goal: p99 under 1 s). The directory and the registrar are release builds on SQLite; the
# driver is scripts/bench/as-loop.mjs. Writes the figures to docs/benchmarks.md.
#
#   scripts/bench/as-loop.sh     (ROUNDS=3 REQUESTS=2000 CONCURRENCY=8 SUSPENSIONS=50)
source "$(dirname "$0")/lib.sh"
export ROUNDS=${ROUNDS:-3} REQUESTS=${REQUESTS:-2000} CONCURRENCY=${CONCURRENCY:-8} SUSPENSIONS=${SUSPENSIONS:-50}
need curl python3 openssl node
PACKAGE="$ROOT/integrations/node-oidc-provider"
[ -d "$PACKAGE/node_modules/oidc-provider" ] || npm ci --prefix "$PACKAGE" --no-audit --no-fund --loglevel=error

build
(cd "$ROOT" && cargo build --release -q -p ssa-registrar --features server --bin ssa-registrar)
REGISTRAR="$ROOT/target/release/ssa-registrar"
start_directory
onboard

# The product's signing key, published in its keystore, and a statement.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/client.key" 2>/dev/null
N=$(openssl rsa -in "$WORK/client.key" -noout -modulus | cut -d= -f2 |
  python3 -c 'import sys,base64; print(base64.urlsafe_b64encode(bytes.fromhex(sys.stdin.read().strip())).rstrip(b"=").decode())')
export KID=$(api POST "/api/v1/software/$SOFTWARE/keys" \
  "{\"jwk\":{\"kty\":\"RSA\",\"n\":\"$N\",\"e\":\"AQAB\",\"use\":\"sig\",\"alg\":\"PS256\"}}" | json_field "['kid']")
SSA=$(curl -sf -X POST -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/software/$SOFTWARE/ssa")

# The registrar following the directory, with its own database.
RPORT=$(free_port)
RBASE="http://127.0.0.1:$RPORT"
mkdir -p "$WORK/registrar"
(cd "$WORK/registrar" && DATABASE_URL="sqlite://$WORK/registrar/registrar.db" \
  SSA_REGISTRAR_LISTEN="127.0.0.1:$RPORT" SSA_REGISTRAR_DIRECTORIES="$BASE" \
  SSA_REGISTRAR_CLIENTS_TOKEN=bench-clients SSA_REGISTRAR_KEYS_DIR="$WORK/registrar/keys" \
  RUST_LOG=warn exec "$REGISTRAR" serve >"$WORK/registrar.log" 2>&1) &
PIDS+=($!)
for _ in $(seq 100); do
  curl -sf -H 'Authorization: Bearer bench-clients' "$RBASE/clients/changes" >/dev/null && break
  sleep 0.1
done
CLIENT=$(curl -sf -X POST "$RBASE/register" -H 'content-type: application/json' \
  -d "{\"software_statement\":\"$SSA\",\"grant_types\":[\"authorization_code\",\"refresh_token\",\"client_credentials\"]}")
export CLIENT_ID=$(echo "$CLIENT" | json_field "['client_id']")

# The same client, configured statically: its document with the keys inline.
STATIC_CLIENT=$(curl -sf -H 'Authorization: Bearer bench-clients' "$RBASE/clients/$CLIENT_ID" |
  python3 -c '
import json, sys, urllib.request
doc = json.load(sys.stdin)
keep = ["client_id", "redirect_uris", "grant_types", "response_types", "token_endpoint_auth_method",
        "token_endpoint_auth_signing_alg", "scope"]
client = {k: doc[k] for k in keep if k in doc}
client["jwks"] = json.load(urllib.request.urlopen(doc["jwks_uri"]))
print(json.dumps(client))')

start_server() { # start_server VAR [NAME=VALUE...]: an example server; its issuer in VAR
  local var=$1 port; shift
  port=$(free_port)
  (cd "$PACKAGE" && exec env PORT="$port" REGISTRAR_URL="$RBASE" REGISTRAR_TOKEN=bench-clients \
    "$@" node example/server.js >"$WORK/$var.log" 2>&1) &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q "listening" "$WORK/$var.log" 2>/dev/null && break; sleep 0.1; done
  printf -v "$var" 'http://127.0.0.1:%s' "$port"
  export "${var?}"
}
start_server DYNAMIC
start_server STATIC STATIC_CLIENT="$STATIC_CLIENT"

export BASE OP_TOKEN SOFTWARE KEY_FILE="$WORK/client.key"
RESULT=$(node "$ROOT/scripts/bench/as-loop.mjs")
echo "$RESULT"
field() { echo "$RESULT" | json_field "$1"; }
RATIO=$(python3 -c "print(f'{$(field "['ratio']"):.2f}')")

record "The authorization server in the loop" "$(cat <<MD
$(machine)
- node-oidc-provider 9.13.3 on Node.js $(node --version), the directory and the registrar
  (release builds, SQLite) on the same machine; client credentials with private_key_jwt
  (PS256, signed by the driver), $CONCURRENCY at a time, $ROUNDS rounds of $REQUESTS per server,
  alternating.
- tokens/s through the registrar adapter: $(field "['dynamic_rps']"); with the client
  configured statically: $(field "['static_rps']"); ratio of the medians **$RATIO** (goal ≥ 0.8);
  failed requests: $(field "['failures']").
- from the directory's answer to a suspension to the token endpoint's first invalid_client,
  over $(field "['suspension_ms']['count']") suspensions: p50 $(field "['suspension_ms']['p50']") ms,
  **p99 $(field "['suspension_ms']['p99']") ms** (goal < 1,000 ms), max $(field "['suspension_ms']['max']") ms.
MD
)"
