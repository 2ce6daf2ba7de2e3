#!/usr/bin/env bash
# Push delivery (RFC 8935): the time from a change to a local HTTPS receiver's
# acknowledgement under a steady stream of changes (goal: p99 under 1 s). One writer sends
# software edits at RATE a second for SECONDS, one at a time, so commit order is request
# order and the n-th pushed SET is the n-th change; each latency is measured from the moment
# the edit was sent (before its commit: an upper bound) to the moment the receiver, in the
# same process and on the same clock, answered 202. Writes the figures to docs/benchmarks.md.
# Loopback only, bounded runs.
#
#   scripts/bench/push.sh         (RATE=50 SECONDS=30 by default)
#   BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432 scripts/bench/push.sh
source "$(dirname "$0")/lib.sh"
RATE=${RATE:-50}
DURATION=${SECONDS_RUN:-30}
TITLE="Push delivery"
BACKEND="embedded SQLite"
if [ -n "${BENCH_POSTGRES:-}" ]; then
  use_postgres "$BENCH_POSTGRES"
  TITLE="Push delivery on PostgreSQL"
  BACKEND="PostgreSQL on the same machine"
fi

need curl python3 openssl
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/receiver.key" -out "$WORK/receiver.pem" 2>/dev/null
RECEIVER_PORT=$(free_port)
build
start_directory SSA_DIRECTORY_PUSH_ALLOW_PRIVATE_TARGETS=true SSA_DIRECTORY_PUSH_CA_FILE="$WORK/receiver.pem"
onboard

cat >"$WORK/push.py" <<'PY'
import base64, http.client, http.server, json, ssl, sys, threading, time
(port, receiver_port, token, org, software, rate, duration, cert, key) = sys.argv[1:]
rate, duration = float(rate), float(duration)
received = []  # (time, jti, kind)
lock = threading.Lock()

class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        claims = json.loads(base64.urlsafe_b64decode(body.split(b".")[1] + b"=="))
        kind = next(iter(claims["events"])).rsplit(":", 1)[-1]
        self.send_response(202)
        self.send_header("content-length", "0")
        self.end_headers()
        with lock:
            received.append((time.perf_counter(), claims["jti"], kind))
    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", int(receiver_port)), Receiver)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
threading.Thread(target=server.serve_forever, daemon=True).start()

api = http.client.HTTPConnection("127.0.0.1", int(port))
def call(method, path, body=None):
    api.request(method, path, body=json.dumps(body) if body is not None else None,
                headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    response = api.getresponse()
    data = response.read()
    assert response.status < 300, (response.status, data)
    return json.loads(data) if data else None

call("POST", f"/api/v1/organisations/{org}/subscriptions",
     {"endpoint": f"https://127.0.0.1:{receiver_port}/events", "kinds": ["software-metadata"]})
time.sleep(0.5)
sent = []
began = time.perf_counter()
n = 0
while time.perf_counter() - began < duration:
    due = began + n / rate
    pause = due - time.perf_counter()
    if pause > 0:
        time.sleep(pause)
    sent.append(time.perf_counter())
    call("PATCH", f"/api/v1/software/{software}", {"client_name": f"Push bench {n}"})
    n += 1
deadline = time.perf_counter() + 30
while time.perf_counter() < deadline:
    with lock:
        if len(received) >= len(sent):
            break
    time.sleep(0.05)
with lock:
    got = [r for r in received if r[2] == "software-metadata"]
assert len(got) == len(sent), (len(got), len(sent))
assert len({jti for _, jti, _ in got}) == len(got), "a SET was pushed twice"
latencies = sorted(r[0] - s for r, s in zip(got, sent))
def pct(p):
    return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000
print(f"{len(sent)} {n / (time.perf_counter() - began):.0f} {pct(50):.0f} {pct(90):.0f} {pct(99):.0f} {latencies[-1] * 1000:.0f}")
PY
read -r CHANGES ACHIEVED P50 P90 P99 MAX < <(python3 "$WORK/push.py" "$PORT" "$RECEIVER_PORT" "$TOKEN" "$ORG" "$SOFTWARE" "$RATE" "$DURATION" "$WORK/receiver.pem" "$WORK/receiver.key")

BODY="$(machine)
- directory: release build, $BACKEND, PS256 (RSA 2048) signing key; the deliverer looks for due subscriptions every 200 ms
- writer: one Python client, \`PATCH /api/v1/software/{id}\` at $RATE a second for $DURATION s, one at a time; receiver: a Python HTTPS server (TLS 1.3, P-256) in the same process answering 202
- latency: from sending the edit (before its commit) to the receiver's answer to the SET of that change; every SET arrived once, in order

| measurement | figure |
|---|---|
| changes pushed | $CHANGES (at $ACHIEVED a second) |
| p50 | $P50 ms |
| p90 | $P90 ms |
| p99 | **$P99 ms** (goal < 1,000 ms) |
| max | $MAX ms |"
record "$TITLE" "$BODY"
echo "$BODY"
