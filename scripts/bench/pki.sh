#!/usr/bin/env bash
# Certificates issued per second over HTTP, and OCSP responses per second from the directory
# against `openssl ocsp -port` serving the same index with the same issuing key (goal: at
# least 10 times). Writes the figures to docs/benchmarks.md. Loopback only, bounded runs.
#
#   scripts/bench/pki.sh            (DURATION=10 CONNECTIONS=32 by default)
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
CORES=$(nproc)

need wrk openssl curl
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

ratio() { python3 -c "print(f'{float($1)/float($2):.1f}')"; }
BODY="$(machine)
- load: wrk, $CORES threads, $CONNECTIONS connections, ${DURATION} s per measurement, on the same machine as the servers
- directory: release build, embedded SQLite, ECDSA P-256 issuing CA

| measurement | per second |
|---|---|
| certificates issued, \`POST /api/v1/software/{id}/certificates\` (P-256 CSR, transport profile) | $ISSUE |
| OCSP responses from the directory, \`POST /pki/ocsp\` | $OCSP |
| OCSP responses from \`openssl ocsp -port -multi $CORES\` on the same index and key | $OPENSSL_OCSP |
| ratio (goal ≥ 10) | $(ratio "$OCSP" "$OPENSSL_OCSP") |"
record "Certificates and OCSP" "$BODY"
echo "$BODY"
