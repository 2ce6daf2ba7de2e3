#!/bin/sh
# Runs before nginx starts (the image's /docker-entrypoint.d/): fetches the directory's CA
# chain, which client certificates on port 9443 must chain to. The proxy's own certificate is
# the operator's, in deploy/tls/server.pem and server.key (see the README).
set -eu
for attempt in $(seq 1 60); do
    if wget -q -O /etc/nginx/tls/directory-ca.pem.new http://directory:8080/pki/ca.pem; then
        mv /etc/nginx/tls/directory-ca.pem.new /etc/nginx/tls/directory-ca.pem
        exit 0
    fi
    sleep 2
done
echo "the directory's CA chain (http://directory:8080/pki/ca.pem) did not arrive" >&2
exit 1
