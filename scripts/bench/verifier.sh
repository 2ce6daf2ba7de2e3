#!/usr/bin/env bash
# Verifications per second of ssa-verifier (criterion, one thread, JWKS cached) against
# `openssl speed rsa2048` verifications per second on one core, in one run (goal: at least
# 0.9). Writes the figures to docs/benchmarks.md.
source "$(dirname "$0")/lib.sh"
need openssl
SECONDS_PER=${DURATION:-5}

OPENSSL_VERIFY=$(openssl speed -seconds "$SECONDS_PER" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $NF}' | tail -1)
(cd "$ROOT" && cargo bench -q -p ssa-verifier --bench verify -- --measurement-time "$SECONDS_PER" --noplot) >"$WORK/criterion.txt" 2>&1
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
VERIFY=$(per_second verify_ssa_ps256_cached_jwks)
SIGNATURE=$(per_second pss_signature_only)
ratio() { python3 -c "print(f'{float($1)/float($2):.2f}')"; }
BODY="$(machine)
- one thread, release build; the verifier's JWKS is cached (the steady state of an authorization server)

| measurement | per second |
|---|---|
| \`openssl speed rsa2048\` verifications on one core | $OPENSSL_VERIFY |
| the statement's RSA-PSS signature alone through aws-lc (SHA-256 of the signing input, RSA, PSS) | $SIGNATURE |
| \`Verifier::verify_ssa\`, PS256 statement, full checks (criterion) | $VERIFY |
| ratio to \`openssl speed\` (goal ≥ 0.9) | $(ratio "$VERIFY" "$OPENSSL_VERIFY") |
| ratio of the signature alone to \`openssl speed\` (the ceiling) | $(ratio "$SIGNATURE" "$OPENSSL_VERIFY") |
| ratio of full checks to the signature alone | $(ratio "$VERIFY" "$SIGNATURE") |"
record "Verifier" "$BODY"
echo "$BODY"
