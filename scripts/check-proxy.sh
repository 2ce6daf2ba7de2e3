#!/usr/bin/env bash
# Runs the directory behind nginx with the shipped deploy/nginx.conf (only its addresses and
# file paths rewritten for this machine), as docker-compose.proxy.yml does, and checks machine
# access through it: a product gets a certificate-bound token on the mutual-TLS port with its
# transport certificate and calls the API with it; the TLS port asks for no certificate, strips
# a client's own certificate header, and the token does not work there.
# Needs nginx, openssl, curl and python3 (installed with apt-get when run as root).
source "$(dirname "$0")/bench/lib.sh"
need nginx openssl curl
build

TLS_PORT=$(free_port); MTLS_PORT=$(free_port)
mkdir -p "$WORK/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/tls/server.key" -out "$WORK/tls/server.pem" 2>/dev/null
start_directory SSA_DIRECTORY_PUBLIC_URL="https://127.0.0.1:$TLS_PORT" \
  SSA_DIRECTORY_MTLS_PUBLIC_URL="https://127.0.0.1:$MTLS_PORT" \
  SSA_DIRECTORY_CLIENT_CERT_HEADER=x-ssl-client-cert SSA_DIRECTORY_TRUSTED_PROXIES=127.0.0.1
DIRECT=$BASE
curl -sf "$DIRECT/pki/ca.pem" >"$WORK/tls/directory-ca.pem"

sed -e "s|server directory:8080;|server 127.0.0.1:$PORT;|" \
    -e "s|listen 8443 ssl;|listen 127.0.0.1:$TLS_PORT ssl;|" \
    -e "s|listen 9443 ssl;|listen 127.0.0.1:$MTLS_PORT ssl;|" \
    -e "s|/etc/nginx/tls/|$WORK/tls/|g" \
    -e "s|^events {}|pid $WORK/nginx.pid; error_log $WORK/nginx-error.log; events {}|" \
    "$ROOT/deploy/nginx.conf" >"$WORK/nginx.conf"
grep -q "listen 127.0.0.1:$MTLS_PORT ssl" "$WORK/nginx.conf" || { echo "deploy/nginx.conf changed shape" >&2; exit 1; }
nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
TLS="https://127.0.0.1:$TLS_PORT"; MTLS="https://127.0.0.1:$MTLS_PORT"
for _ in $(seq 50); do curl -sf --cacert "$WORK/tls/server.pem" "$TLS/readyz" >/dev/null && break; sleep 0.1; done

onboard
openssl req -new -newkey rsa:2048 -nodes -subj /CN=x -keyout "$WORK/client.key" -out "$WORK/client.csr" 2>/dev/null
api POST "/api/v1/software/$SOFTWARE/certificates" \
  "$(python3 -c "import json; print(json.dumps({'type':'transport','csr':open('$WORK/client.csr').read()}))")" \
  | json_field "['certificate']" >"$WORK/client.pem"

fail() { echo "FAIL: $*" >&2; cat "$WORK/nginx-error.log" >&2 || true; exit 1; }
through() { curl -s --cacert "$WORK/tls/server.pem" "$@"; }

# The mutual-TLS port refuses a client without a certificate (nginx answers 400 itself).
STATUS=$(through -o /dev/null -w '%{http_code}' -d grant_type=client_credentials "$MTLS/oauth/token" || true)
[ "$STATUS" = 400 ] || [ "$STATUS" = 000 ] || fail "the mutual-TLS port let a client without a certificate through ($STATUS)"
# With the product's transport certificate: a certificate-bound token.
RESPONSE=$(through --cert "$WORK/client.pem" --key "$WORK/client.key" \
  -d grant_type=client_credentials -d "client_id=$SOFTWARE" "$MTLS/oauth/token")
echo "$RESPONSE" | grep -q '"token_type":"Bearer"' || fail "no certificate-bound token: $RESPONSE"
ACCESS=$(echo "$RESPONSE" | json_field "['access_token']")
STATUS=$(through -o /dev/null -w '%{http_code}' --cert "$WORK/client.pem" --key "$WORK/client.key" \
  -H "Authorization: Bearer $ACCESS" "$MTLS/api/v1/software/$SOFTWARE")
[ "$STATUS" = 200 ] || fail "the token over mutual TLS got $STATUS"
# The TLS port: the same token without the certificate is refused...
STATUS=$(through -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ACCESS" "$TLS/api/v1/software/$SOFTWARE")
[ "$STATUS" = 401 ] || fail "the token without its certificate got $STATUS"
# ...and so is a certificate a client puts in the header itself.
ESCAPED=$(python3 -c "import urllib.parse; print(urllib.parse.quote(open('$WORK/client.pem').read(), safe=''))")
STATUS=$(through -o /dev/null -w '%{http_code}' -H "x-ssl-client-cert: $ESCAPED" \
  -H "Authorization: Bearer $ACCESS" "$TLS/api/v1/software/$SOFTWARE")
[ "$STATUS" = 401 ] || fail "a client's own certificate header got $STATUS on the TLS port"
STATUS=$(through -o /dev/null -w '%{http_code}' -H "x-ssl-client-cert: $ESCAPED" \
  -d grant_type=client_credentials -d "client_id=$SOFTWARE" "$TLS/oauth/token")
[ "$STATUS" = 401 ] || fail "a client's own certificate header got a token ($STATUS)"
# The metadata names the proxy's mutual-TLS port.
through "$TLS/.well-known/oauth-authorization-server" | grep -q "\"token_endpoint\":\"$MTLS/oauth/token\"" \
  || fail "the metadata does not name the mutual-TLS alias"
echo "ok: nginx (deploy/nginx.conf) in front of the directory: tls_client_auth and certificate-bound tokens on the mutual-TLS port, nothing on the TLS port"
