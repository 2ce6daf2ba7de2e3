# Shared helpers of the benchmark scripts: build, start a directory, onboard a product.
# Sourced, not run. Every server started here listens on 127.0.0.1 only and is stopped on exit.

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d)
# nginx workers run as another user: they may pass through (not list) the folder to the
# files they serve; the directory's own keys stay in keys/ (0700) below it.
chmod 711 "$WORK"
PIDS=()
DROP_DB=""
cleanup() {
  # Children first: `openssl ocsp -multi` forks workers that outlive their parent.
  for pid in "${PIDS[@]}"; do pkill -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$DROP_DB" ]; then psql -q "$DROP_DB" -c "DROP DATABASE IF EXISTS $DROP_NAME" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "${BASH_SOURCE[0]}: line $LINENO failed: $BASH_COMMAND" >&2' ERR

need() {
  local missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "install: ${missing[*]}" >&2; exit 1
    fi
  fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

build() {
  (cd "$ROOT" && cargo build --release -q -p ssa-directory)
  BIN="$ROOT/target/release/ssa-directory"
}

# use_postgres SERVER_URL: the directory runs on a fresh PostgreSQL database on SERVER_URL
# (e.g. postgres://postgres@127.0.0.1:5432), dropped on exit.
use_postgres() {
  need psql
  DROP_NAME="ssa_bench_$$"; DROP_DB="${1%/}/postgres"
  psql -q "$DROP_DB" -c "CREATE DATABASE $DROP_NAME" >/dev/null
  export DATABASE_URL="${1%/}/$DROP_NAME"
}

# start_directory [NAME=VALUE...]: runs the release binary on a fresh SQLite database in
# $DIR (default $WORK/dir; or on $DATABASE_URL after use_postgres), with the variables given.
start_directory() {
  PORT=$(free_port)
  BASE="http://127.0.0.1:$PORT"
  DIR=${DIR:-$WORK/dir}
  mkdir -p "$DIR"
  export SSA_DIRECTORY_DATA_DIR="$DIR/data" SSA_DIRECTORY_KEYS_DIR="$DIR/keys" \
    SSA_DIRECTORY_LISTEN="127.0.0.1:$PORT" SSA_DIRECTORY_LOG_FORMAT=json RUST_LOG=warn "$@"
  (cd "$DIR" && exec "$BIN" serve >"$WORK/directory.log" 2>&1) &
  PIDS+=($!)
  for _ in $(seq 100); do curl -sf "$BASE/readyz" >/dev/null && return 0; sleep 0.1; done
  cat "$WORK/directory.log" >&2; exit 1
}

api() { # api METHOD PATH [JSON] (uses $TOKEN)
  curl -sf -X "$1" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    ${3:+--data "$3"} "$BASE$2"
}

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# onboard: an operator and a developer, an approved organisation and software product.
onboard() {
  (cd "$DIR" && printf '%s\n' 'benchmark password' | "$BIN" user create --email op@bench.example --operator --password-stdin >/dev/null
   printf '%s\n' 'benchmark password' | "$BIN" user create --email dev@bench.example --password-stdin >/dev/null)
  OP_TOKEN=$(cd "$DIR" && "$BIN" token create --email op@bench.example)
  TOKEN=$(cd "$DIR" && "$BIN" token create --email dev@bench.example)
  ORG=$(api POST /api/v1/organisations '{"legal_name":"Bench Ltd","registration_number":"1","country":"GB","competent_authority":"FCA","authority_registration_id":"1","roles":["AISP"],"business_contact":{"name":"B","email":"b@bench.example"},"technical_contact":{"name":"T","email":"t@bench.example"}}' | json_field "['id']")
  SOFTWARE=$(api POST "/api/v1/organisations/$ORG/software" '{"client_name":"Bench App","redirect_uris":["https://bench.example/cb"],"roles":["AISP"],"environment":"production"}' | json_field "['id']")
  local dev=$TOKEN; TOKEN=$OP_TOKEN
  api POST "/api/v1/organisations/$ORG/approve" >/dev/null
  api POST "/api/v1/software/$SOFTWARE/approve" >/dev/null
  TOKEN=$dev
}

# ratio A B: A / B with two decimals; median X...: the middle value.
ratio() { python3 -c "print(f'{float($1)/float($2):.2f}')"; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# wrk_rps ARGS...: requests per second reported by wrk.
wrk_rps() { wrk "$@" | awk '/Requests\/sec/ {print $2}'; }

machine() {
  echo "- machine: $(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//'), $(free -g | awk '/Mem/ {print $2}') GiB"
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- commit: $(cd "$ROOT" && git rev-parse --short HEAD)"
}

# record TITLE BODY: replaces the section TITLE of docs/benchmarks.md.
record() {
  local file="$ROOT/docs/benchmarks.md" title="$1" body="$2"
  [ -f "$file" ] || printf '# Benchmarks\n\nFigures written by the scripts in scripts/bench/, each run on one machine in one go.\n' >"$file"
  python3 - "$file" "$title" "$body" <<'PY'
import re, sys
path, title, body = sys.argv[1:]
text = open(path).read()
section = f"## {title}\n\n{body.strip()}\n"
pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
text = pattern.sub(section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
open(path, "w").write(text)
PY
}
