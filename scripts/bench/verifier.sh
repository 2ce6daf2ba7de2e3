#!/usr/bin/env bash
# Verifications per second of ssa-verifier (criterion, one thread, JWKS cached) against
# `openssl speed rsa2048` verifications per second on one core (goal: at least 0.9). This
# machine's speed drifts by tens of percent within a minute, so the two are measured in
# alternating rounds (ROUNDS, default 3) and each round's ratio is reported with the median.
# Writes the figures to docs/benchmarks.md.
source "$(dirname "$0")/lib.sh"
need openssl
SECONDS_PER=${DURATION:-4}
ROUNDS=${ROUNDS:-3}

(cd "$ROOT" && cargo bench -q -p ssa-verifier --bench verify --no-run) >/dev/null 2>&1
# "NAME ... time:   [a b c]" with units; per second from the middle estimate.
per_second() {
  python3 - "$WORK/criterion.txt" "$1" <<'PY'
import re, sys
text, name = open(sys.argv[1]).read(), sys.argv[2]
m = re.search(re.escape(name) + r"\s+time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", text)
value, unit = float(m.group(1)), m.group(2)
print(f'{1e9 / (value * {"ns": 1, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]):.0f}')
PY
}
ROWS=""
RATIOS=()
for round in $(seq "$ROUNDS"); do
  OPENSSL_VERIFY=$(openssl speed -seconds "$SECONDS_PER" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $NF}' | tail -1)
  (cd "$ROOT" && cargo bench -q -p ssa-verifier --bench verify -- --measurement-time "$SECONDS_PER" --noplot) >"$WORK/criterion.txt" 2>&1
  VERIFY=$(per_second verify_ssa_ps256_cached_jwks)
  SIGNATURE=$(per_second pss_signature_only)
  RATIOS+=("$(ratio "$VERIFY" "$OPENSSL_VERIFY")")
  ROWS+="| $round | $OPENSSL_VERIFY | $SIGNATURE | $VERIFY | $(ratio "$VERIFY" "$OPENSSL_VERIFY") | $(ratio "$SIGNATURE" "$OPENSSL_VERIFY") | $(ratio "$VERIFY" "$SIGNATURE") |
"
done
MEDIAN=$(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
BODY="$(machine)
- one thread, release build; the verifier's JWKS is cached (the steady state of an authorization server)
- $ROUNDS rounds of ${SECONDS_PER} s per measurement, alternating (this machine's speed drifts between rounds)
- columns: \`openssl speed rsa2048\` verifications on one core; the statement's RSA-PSS signature alone through aws-lc (SHA-256 of the signing input, RSA, PSS: the verifier's ceiling); \`Verifier::verify_ssa\` with full checks (criterion); then the ratios

| round | openssl speed | signature alone | verify_ssa | verify_ssa / openssl (goal ≥ 0.9) | signature / openssl | verify_ssa / signature |
|---|---|---|---|---|---|---|
${ROWS}
Median ratio of \`verify_ssa\` to \`openssl speed\`: **$MEDIAN** (goal ≥ 0.9)."
record "Verifier" "$BODY"
echo "$BODY"
