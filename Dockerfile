# syntax=docker/dockerfile:1
# The directory server image. Build with `docker build -t ssa-directory .` or run the whole
# stack (PostgreSQL + the directory) with `docker compose up --build`.

FROM rust:1-bookworm AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev libsqlite3-dev pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY . .
# The cache mounts keep downloaded crates and compiled dependencies between builds; the binary
# is copied out of the cached target folder inside the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked -p ssa-directory \
 && install -m 0755 target/release/ssa-directory /usr/local/bin/ssa-directory

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 libsqlite3-0 libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# An unprivileged user owns the state folders; keys/ is 0700 like the server creates it, and
# named volumes mounted on these paths start with this ownership.
RUN groupadd --system --gid 10001 ssa \
 && useradd --system --uid 10001 --gid ssa --home-dir /var/lib/ssa-directory \
      --no-create-home --shell /usr/sbin/nologin ssa \
 && install -d -o ssa -g ssa -m 0755 /var/lib/ssa-directory /var/lib/ssa-directory/data \
 && install -d -o ssa -g ssa -m 0700 /var/lib/ssa-directory/keys
COPY --from=builder /usr/local/bin/ssa-directory /usr/local/bin/ssa-directory

USER 10001:10001
WORKDIR /var/lib/ssa-directory
ENV SSA_DIRECTORY_LISTEN=0.0.0.0:8080 \
    SSA_DIRECTORY_DATA_DIR=/var/lib/ssa-directory/data \
    SSA_DIRECTORY_KEYS_DIR=/var/lib/ssa-directory/keys
EXPOSE 8080

# No curl in the slim image: bash's /dev/tcp asks /readyz on the port of SSA_DIRECTORY_LISTEN.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${SSA_DIRECTORY_LISTEN##*:} && printf 'GET /readyz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

ENTRYPOINT ["ssa-directory"]
CMD ["serve"]
