#!/usr/bin/env bash
# Machine access: token requests per second at POST /oauth/token (private_key_jwt and DPoP)
# against the same run's ceiling (one client assertion and one DPoP proof checked, no HTTP,
# no database, on the directory's core), and API calls per second with a DPoP-bound token
# (a new proof each) against the same call with a person's bearer token, in alternating
# rounds (goal: at least 0.8). The directory runs on core 1, the load on core 0. Writes the
# figures to docs/benchmarks.md.
#
#   scripts/bench/oauth.sh        (ROUNDS=5 REQUESTS=4000 CONCURRENCY=8)
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-5}
REQUESTS=${REQUESTS:-4000}
CONCURRENCY=${CONCURRENCY:-8}
need curl python3 taskset openssl

build
(cd "$ROOT" && cargo build --release -q --example oauth_load)
LOAD="$ROOT/target/release/examples/oauth_load"
start_directory
# The directory's threads on core 1 (its subshell exec'd into it).
taskset -a -cp 1 "${PIDS[-1]}" >/dev/null
onboard

CEILINGS=()
for _ in 1 2 3; do CEILINGS+=("$(taskset -c 1 "$LOAD" ceiling "$BASE" 20000)"); done
CEILING=$(printf '%s\n' "${CEILINGS[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')

# The floor of a DPoP proof's check: the signature verification alone, as openssl does it on
# the directory's core.
VERIFY_ES256=$(taskset -c 1 openssl speed -seconds 2 ecdsap256 2>/dev/null | awk '/nistp256/ {print $NF}')
VERIFY_PS256=$(taskset -c 1 openssl speed -seconds 2 rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $NF}')

measure() { # measure ALG: the load with DPoP proofs signed with ALG
  local out; out=$(taskset -c 0 "$LOAD" load "$BASE" "$TOKEN" "$SOFTWARE" "$ROUNDS" "$REQUESTS" "$CONCURRENCY" "$1")
  echo "$out" >&2
  python3 - "$(echo "$out" | awk '/^TOKENS/ {print $2}')" "$(echo "$out" | awk '/^BEARER/ {$1=""; print}')" "$(echo "$out" | awk '/^DPOP/ {$1=""; print}')" "$2" <<'PY'
import statistics, sys
tokens = float(sys.argv[1])
bearer = [float(x) for x in sys.argv[2].split()]
dpop = [float(x) for x in sys.argv[3].split()]
verify = float(sys.argv[4])
ratios = [d / b for b, d in zip(bearer, dpop)]
# Within reach: the bearer call plus one verification and nothing else.
reach = 1 / (1 + statistics.median(bearer) / verify)
print(f"{tokens:.0f} {statistics.median(bearer):.0f} {statistics.median(dpop):.0f} "
      f"{','.join(f'{r:.2f}' for r in ratios)} {statistics.median(ratios):.2f} {reach:.2f}")
PY
}
read -r TOKENS BEARER_ES DPOP_ES RATIOS_ES RATIO_ES REACH_ES < <(measure ES256 "$VERIFY_ES256")
read -r _ BEARER_PS DPOP_PS RATIOS_PS RATIO_PS REACH_PS < <(measure PS256 "$VERIFY_PS256")
TOKEN_RATIO=$(python3 -c "print(f'{$TOKENS / $CEILING:.2f}')")

BODY="$(machine)
- directory: release build, embedded SQLite, pinned to core 1; load: \`examples/oauth_load.rs\` (reqwest, $CONCURRENCY concurrent requests, every assertion and proof signed before its round) on core 0
- ceiling: one ES256 client assertion and one ES256 DPoP proof checked (\`keys::proofs\`) in one thread on core 1, no HTTP, no database; median of 3 passes (${CEILINGS[*]})
- API call: \`GET /api/v1/software/{id}\`, $REQUESTS per round, $ROUNDS rounds alternating a person's bearer token and a DPoP-bound token with a new proof per call, once with ES256 proofs and once with PS256 proofs
- within reach: the bearer call plus one signature verification and nothing else, 1 / (1 + bearer calls per second / verifications per second)

| measurement | figure |
|---|---|
| ceiling | $CEILING checks/s |
| token requests | **$TOKENS/s** ($REQUESTS requests, every one 200) |
| token requests / ceiling | **$TOKEN_RATIO** |
| signature verifications on core 1 (\`openssl speed\`) | ES256 $VERIFY_ES256/s, PS256 (RSA 2048) $VERIFY_PS256/s |
| API calls, bearer token / DPoP-bound token with ES256 proofs (medians of rounds) | $BEARER_ES/s / $DPOP_ES/s |
| DPoP (ES256) / bearer | **$RATIO_ES** (rounds: $RATIOS_ES; goal ≥ 0.8; within reach: $REACH_ES) |
| API calls, bearer token / DPoP-bound token with PS256 proofs (medians of rounds) | $BEARER_PS/s / $DPOP_PS/s |
| DPoP (PS256) / bearer | **$RATIO_PS** (rounds: $RATIOS_PS; goal ≥ 0.8; within reach: $REACH_PS) |"
record "Machine access (OAuth, DPoP)" "$BODY"
echo "$BODY"
