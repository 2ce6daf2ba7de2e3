#!/usr/bin/env bash
# Certificates issued per second over HTTP; OCSP responses per second from the directory
# against `openssl ocsp -port` serving the same index with the same issuing key (goal: at
# least 10 times); `GET /pki/crl` against nginx serving the same bytes from a file, in
# alternating rounds (goal: at least 1.0). Writes the figures to docs/benchmarks.md.
# Loopback only, bounded runs.
#
#   scripts/bench/pki.sh            (DURATION=10 CONNECTIONS=32 ROUNDS=3 by default)
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-3}
CORES=$(nproc)

need wrk nginx openssl curl
build
start_directory
onboard

# Certificate issuance: one P-256 CSR, posted over and over (each post signs a new certificate).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/leaf.key" \
  -out "$WORK/leaf.csr" -subj "/CN=bench" 2>/dev/null
python3 - "$WORK" "$TOKEN" <<'PY'
import json, sys
work, token = sys.argv[1:]
body = json.dumps({"type": "transport", "csr": open(f"{work}/leaf.csr").read()})
open(f"{work}/issue.lua", "w").write(
    'wrk.method = "POST"\n'
    f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    'wrk.headers["Content-Type"] = "application/json"\n'
    f'wrk.body = {json.dumps(body)}\n')
PY
ISSUE=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" -s "$WORK/issue.lua" "$BASE/api/v1/software/$SOFTWARE/certificates")

# One certificate to ask about, and the issuing CA.
api POST "/api/v1/software/$SOFTWARE/certificates" "$(python3 -c "import json; print(json.dumps({'type':'transport','csr':open('$WORK/leaf.csr').read()}))")" \
  | json_field "['certificate']" >"$WORK/leaf.pem"
curl -sf "$BASE/pki/ca.pem" >"$WORK/chain.pem"
awk '/BEGIN/{n++} n==1' "$WORK/chain.pem" >"$WORK/issuing.pem"
openssl ocsp -issuer "$WORK/issuing.pem" -cert "$WORK/leaf.pem" -reqout "$WORK/req.der" -no_nonce >/dev/null 2>&1
curl -sf -X POST -H 'content-type: application/ocsp-request' --data-binary @"$WORK/req.der" \
  "$BASE/pki/ocsp" | openssl ocsp -respin /dev/stdin -issuer "$WORK/issuing.pem" -CAfile "$WORK/chain.pem" \
  -cert "$WORK/leaf.pem" >"$WORK/check.txt" 2>&1 || true
grep -q "leaf.pem: good" "$WORK/check.txt" || { cat "$WORK/check.txt" >&2; exit 1; }

python3 - "$WORK" <<'PY'
import sys
work = sys.argv[1]
body = open(f"{work}/req.der", "rb").read()
escaped = "".join(f"\\{b:03d}" for b in body)
open(f"{work}/ocsp.lua", "w").write(
    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/ocsp-request"\n'
    f'wrk.body = "{escaped}"\n')
PY
OCSP=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" -s "$WORK/ocsp.lua" "$BASE/pki/ocsp")

# openssl's responder on the same index: every certificate the directory issued.
SERIAL=$(openssl x509 -in "$WORK/leaf.pem" -noout -serial | cut -d= -f2)
EXPIRY=$(date -u -d "$(openssl x509 -in "$WORK/leaf.pem" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
printf 'V\t%s\t\t%s\tunknown\t/CN=bench\n' "$EXPIRY" "$SERIAL" >"$WORK/index.txt"
OPENSSL_PORT=$(free_port)
openssl ocsp -port "$OPENSSL_PORT" -index "$WORK/index.txt" -CA "$WORK/issuing.pem" \
  -rsigner "$WORK/issuing.pem" -rkey "$WORK/dir/keys/ca/issuing-key.pem" -nmin 60 -multi "$CORES" \
  -ignore_err >/dev/null 2>&1 &
PIDS+=($!)
sleep 1
OPENSSL_OCSP=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" -s "$WORK/ocsp.lua" "http://127.0.0.1:$OPENSSL_PORT/")

# The CRL, listing one revoked certificate, against nginx serving the same bytes.
api POST "/api/v1/software/$SOFTWARE/certificates" "$(python3 -c "import json; print(json.dumps({'type':'transport','csr':open('$WORK/leaf.csr').read()}))")" \
  | json_field "['serial']" >"$WORK/revoke.serial"
api POST "/api/v1/certificates/$(cat "$WORK/revoke.serial")/revoke" '{"reason":"superseded"}' >/dev/null
curl -sf "$BASE/pki/crl" >"$WORK/crl.der"
openssl crl -inform DER -in "$WORK/crl.der" -noout -text | grep -q "$(cat "$WORK/revoke.serial")" \
  || { echo "the CRL does not list the revoked certificate" >&2; exit 1; }
CACHE=$(curl -sfI "$BASE/pki/crl" | awk -F': ' 'tolower($1)=="cache-control" {print $2}' | tr -d '\r')
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
    location = /crl { default_type application/pkix-crl; add_header Cache-Control "$CACHE"; etag on; alias $WORK/crl.der; }
  }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$NGINX_PORT/crl" -o "$WORK/nginx.crl" && break; sleep 0.1; done
cmp -s "$WORK/crl.der" "$WORK/nginx.crl" || { echo "nginx serves other bytes" >&2; cat "$WORK/nginx/error.log" >&2; exit 1; }
ratio2() { python3 -c "print(f'{float($1)/float($2):.2f}')"; }
CRL_ROWS=""
CRL_RATIOS=()
for round in $(seq "$ROUNDS"); do
  CRL=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" "$BASE/pki/crl")
  NGINX=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" "http://127.0.0.1:$NGINX_PORT/crl")
  CRL_RATIOS+=("$(ratio2 "$CRL" "$NGINX")")
  CRL_ROWS+="| $round | $CRL | $NGINX | $(ratio2 "$CRL" "$NGINX") |
"
done

ratio() { python3 -c "print(f'{float($1)/float($2):.1f}')"; }
BODY="$(machine)
- load: wrk, $CORES threads, $CONNECTIONS connections, ${DURATION} s per measurement, on the same machine as the servers
- directory: release build, embedded SQLite, ECDSA P-256 issuing CA

| measurement | per second |
|---|---|
| certificates issued, \`POST /api/v1/software/{id}/certificates\` (P-256 CSR, transport profile) | $ISSUE |
| OCSP responses from the directory, \`POST /pki/ocsp\` | $OCSP |
| OCSP responses from \`openssl ocsp -port -multi $CORES\` on the same index and key | $OPENSSL_OCSP |
| ratio (goal ≥ 10) | $(ratio "$OCSP" "$OPENSSL_OCSP") |

The CRL ($(stat -c %s "$WORK/crl.der") bytes, one revoked certificate), \`GET /pki/crl\`, ${DURATION} s per measurement, alternating:

| round | directory, requests/s | the same bytes from nginx | ratio (goal ≥ 1.0) |
|---|---|---|---|
${CRL_ROWS}
Median CRL ratio: **$(median "${CRL_RATIOS[@]}")** (goal ≥ 1.0)."
record "Certificates and OCSP" "$BODY"
echo "$BODY"
