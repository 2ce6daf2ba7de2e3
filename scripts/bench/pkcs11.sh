#!/usr/bin/env bash
# Keys in an HSM: SSA issuance over HTTP with the pkcs11 key provider on SoftHSM2, against the
# same run's bare SoftHSM2 signature rate (RSASSA-PSS 2048 straight through cryptoki on every
# core: examples/pkcs11_floor.rs, the ceiling with this module) and against the file
# provider; and OCSP responses with the CA's keys in the token against a CA on files (answers
# to nonce-less requests are cached, so the token should barely show). Alternating rounds,
# as this machine's speed drifts. Writes the figures to docs/benchmarks.md.
#
#   scripts/bench/pkcs11.sh            (DURATION=6 ROUNDS=3 CONNECTIONS=32 by default)
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-6}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
CORES=$(nproc)
MODULE=/usr/lib/softhsm/libsofthsm2.so

need wrk openssl curl
[ -e "$MODULE" ] || need softhsm2
build
(cd "$ROOT" && cargo build --release -q --example pkcs11_floor)

# A token of this run, in a folder of its own.
mkdir -p "$WORK/softhsm/tokens"
printf 'directories.tokendir = %s/softhsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
  "$WORK" >"$WORK/softhsm/softhsm2.conf"
export SOFTHSM2_CONF="$WORK/softhsm/softhsm2.conf"
softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 5678 >/dev/null
printf '1234\n' >"$WORK/softhsm/pin"
chmod 600 "$WORK/softhsm/pin"
URI="pkcs11:token=bench?module-path=$MODULE&pin-source=file:$WORK/softhsm/pin"

# Two directories: keys in files, keys in the token.
DIR="$WORK/file" start_directory SSA_DIRECTORY_KEY_PROVIDER=file
DIR="$WORK/file" onboard
FILE_BASE=$BASE FILE_TOKEN=$TOKEN FILE_SOFTWARE=$SOFTWARE
DIR="$WORK/hsm" start_directory SSA_DIRECTORY_KEY_PROVIDER=pkcs11 SSA_DIRECTORY_PKCS11_URI="$URI"
DIR="$WORK/hsm" onboard
HSM_BASE=$BASE HSM_TOKEN=$TOKEN HSM_SOFTWARE=$SOFTWARE

issue_lua() { printf 'wrk.method = "POST"\nwrk.headers["Authorization"] = "Bearer %s"\n' "$1" >"$2"; }
issue_lua "$FILE_TOKEN" "$WORK/file.lua"
issue_lua "$HSM_TOKEN" "$WORK/hsm.lua"

# One certificate from each, and a nonce-less OCSP request for it.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/leaf.key" \
  -out "$WORK/leaf.csr" -subj "/CN=bench" 2>/dev/null
CSR_BODY=$(python3 -c "import json; print(json.dumps({'type':'transport','csr':open('$WORK/leaf.csr').read()}))")
for side in file hsm; do
  if [ "$side" = file ]; then BASE=$FILE_BASE TOKEN=$FILE_TOKEN SOFTWARE=$FILE_SOFTWARE; else BASE=$HSM_BASE TOKEN=$HSM_TOKEN SOFTWARE=$HSM_SOFTWARE; fi
  api POST "/api/v1/software/$SOFTWARE/certificates" "$CSR_BODY" | json_field "['certificate']" >"$WORK/$side-leaf.pem"
  curl -sf "$BASE/pki/ca.pem" >"$WORK/$side-chain.pem"
  awk '/BEGIN/{n++} n==1' "$WORK/$side-chain.pem" >"$WORK/$side-issuing.pem"
  openssl ocsp -issuer "$WORK/$side-issuing.pem" -cert "$WORK/$side-leaf.pem" -reqout "$WORK/$side-req.der" -no_nonce >/dev/null 2>&1
  curl -sf -X POST -H 'content-type: application/ocsp-request' --data-binary @"$WORK/$side-req.der" "$BASE/pki/ocsp" \
    | openssl ocsp -respin /dev/stdin -issuer "$WORK/$side-issuing.pem" -CAfile "$WORK/$side-chain.pem" \
      -cert "$WORK/$side-leaf.pem" >"$WORK/$side-check.txt" 2>&1 || true
  grep -q "leaf.pem: good" "$WORK/$side-check.txt" || { cat "$WORK/$side-check.txt" >&2; exit 1; }
  python3 - "$WORK" "$side" <<'PY'
import sys
work, side = sys.argv[1:]
body = open(f"{work}/{side}-req.der", "rb").read()
escaped = "".join(f"\\{b:03d}" for b in body)
open(f"{work}/{side}-ocsp.lua", "w").write(
    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/ocsp-request"\n'
    f'wrk.body = "{escaped}"\n')
PY
done

ROWS=""
CEILING_RATIOS=()
FILE_RATIOS=()
OCSP_RATIOS=()
for round in $(seq "$ROUNDS"); do
  CEILING=$("$ROOT/target/release/examples/pkcs11_floor" "$URI" "$DURATION" "$CORES")
  HSM=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" -s "$WORK/hsm.lua" "$HSM_BASE/api/v1/software/$HSM_SOFTWARE/ssa")
  FILE=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" -s "$WORK/file.lua" "$FILE_BASE/api/v1/software/$FILE_SOFTWARE/ssa")
  OCSP_HSM=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" -s "$WORK/hsm-ocsp.lua" "$HSM_BASE/pki/ocsp")
  OCSP_FILE=$(wrk_rps -t "$CORES" -c "$CONNECTIONS" -d "${DURATION}s" -s "$WORK/file-ocsp.lua" "$FILE_BASE/pki/ocsp")
  CEILING_RATIOS+=("$(ratio "$HSM" "$CEILING")")
  FILE_RATIOS+=("$(ratio "$HSM" "$FILE")")
  OCSP_RATIOS+=("$(ratio "$OCSP_HSM" "$OCSP_FILE")")
  ROWS+="| $round | $CEILING | $HSM | $(ratio "$HSM" "$CEILING") | $FILE | $(ratio "$HSM" "$FILE") | $OCSP_HSM | $OCSP_FILE | $(ratio "$OCSP_HSM" "$OCSP_FILE") |
"
done
# The key that signed (what the test suite verifies, statement by statement).
KID=$(curl -sf "$HSM_BASE/.well-known/jwks.json" | json_field "['keys'][0]['kid']")

BODY=$(cat <<MD
$(machine)
- SoftHSM2 $(dpkg-query -W -f='${Version}' softhsm2 2>/dev/null || echo '?'), one token, signing key PS256 (RSA 2048) generated in it (kid $KID)
- wrk: $CORES threads, $CONNECTIONS connections, ${DURATION}s per run, $ROUNDS alternating rounds

| round | SoftHSM2 PS256 signatures/s (bare cryptoki, $CORES threads) | issuance/s, keys in the token | ratio to the ceiling (goal ≥ 0.7) | issuance/s, key files | token / files | OCSP/s, CA in the token | OCSP/s, CA on files | ratio (goal ≥ 0.9) |
|---|---|---|---|---|---|---|---|---|
$ROWS
Medians: issuance with the token at **$(median "${CEILING_RATIOS[@]}")** of the SoftHSM2 ceiling and **$(median "${FILE_RATIOS[@]}")** of the file provider; OCSP with the token at **$(median "${OCSP_RATIOS[@]}")** of the file provider.
MD
)
echo "$BODY"
record "Keys in an HSM (SoftHSM2)" "$BODY"
