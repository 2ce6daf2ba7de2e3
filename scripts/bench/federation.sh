#!/usr/bin/env bash
# OpenID Federation: resolve responses per second against the same run's ceiling (the four
# signatures a resolve response needs and the metadata policy applied, in one thread, no
# HTTP, no database, on the directory's core), and fetch against the JWKS in alternating
# rounds (goal: fetch at least 1.0x the JWKS rate when the statement is cached). The
# directory runs on core 1, the load on core 0. Writes the figures to docs/benchmarks.md.
#
#   scripts/bench/federation.sh        (ROUNDS=5 REQUESTS=2000 CONCURRENCY=8)
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-5}
REQUESTS=${REQUESTS:-2000}
CONCURRENCY=${CONCURRENCY:-8}
need curl python3 taskset

build
(cd "$ROOT" && cargo build --release -q --example federation_load)
LOAD="$ROOT/target/release/examples/federation_load"
start_directory
taskset -a -cp 1 "${PIDS[-1]}" >/dev/null
onboard
ALG=$(curl -sf "$BASE/.well-known/openid-federation" | python3 -c "import sys,json,base64; h=sys.stdin.read().split('.')[0]; print(json.loads(base64.urlsafe_b64decode(h+'='*(-len(h)%4)))['alg'])")

CEILINGS=()
for _ in 1 2 3; do CEILINGS+=("$(taskset -c 1 "$LOAD" ceiling "$ALG" 1000)"); done
CEILING=$(printf '%s\n' "${CEILINGS[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')

OUT=$(taskset -c 0 "$LOAD" load "$BASE" "$TOKEN" "$SOFTWARE" "$ROUNDS" "$REQUESTS" "$CONCURRENCY")
echo "$OUT" >&2
read -r JWKS FETCH RESOLVE FETCH_RATIOS FETCH_RATIO RESOLVE_RATIO < <(python3 - "$OUT" "$CEILING" <<'PY'
import statistics, sys
lines = dict(l.split(' ', 1) for l in sys.argv[1].splitlines())
jwks, fetch, resolve = ([float(x) for x in lines[k].split()] for k in ("JWKS", "FETCH", "RESOLVE"))
ceiling = float(sys.argv[2])
ratios = [f / j for j, f in zip(jwks, fetch)]
print(f"{statistics.median(jwks):.0f} {statistics.median(fetch):.0f} {statistics.median(resolve):.0f} "
      f"{','.join(f'{r:.2f}' for r in ratios)} {statistics.median(ratios):.2f} {statistics.median(resolve) / ceiling:.2f}")
PY
)

BODY="$(machine)
- directory: release build, embedded SQLite, federation keys $ALG, pinned to core 1; load: \`examples/federation_load.rs\` (reqwest, $CONCURRENCY concurrent requests) on core 0
- the leaf: an approved product with its own entity configuration (one level below the anchor: the chain is its entity configuration, the anchor's statement about it, the anchor's entity configuration)
- ceiling: the four $ALG signatures a resolve response needs (the subordinate statement, the anchor's entity configuration, a trust mark, the response) and the metadata policy applied, in one thread on core 1, no HTTP, no database; median of 3 passes (${CEILINGS[*]})
- $REQUESTS requests per round, $ROUNDS rounds alternating the JWKS, fetch and resolve

| measurement | figure |
|---|---|
| resolve ceiling | $CEILING/s |
| resolve responses (median of rounds) | **$RESOLVE/s** |
| resolve / ceiling | **$RESOLVE_RATIO** |
| JWKS / fetch (medians of rounds) | $JWKS/s / $FETCH/s |
| fetch / JWKS | **$FETCH_RATIO** (rounds: $FETCH_RATIOS; goal ≥ 1.0 with the statement cached: it is, for status_max_age_secs) |"
record "OpenID Federation" "$BODY"
echo "$BODY"
