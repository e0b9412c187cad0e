# Alvares in a container: the release binary (SQLite and libpq compiled in)
# on Debian slim, run by tini as an unprivileged numeric user, with its
# SQLite file on a volume.
#
#   docker build -t alvares .
#   docker run --stop-timeout 15 -v alvares-data:/data -p 3010:3010 alvares
#
# Dependency caching: cargo-chef rather than BuildKit cache mounts. The
# dependencies are compiled in an ordinary image layer keyed only on
# Cargo.toml and Cargo.lock (the recipe), so the cache works with any
# builder and travels with the image cache (`--cache-from`, a registry)
# in CI. A cache mount stays on the one builder that made it, and the
# binary would have to be copied out of the mounted target folder in the
# same RUN, so the build command could not stay the one line CI runs.
# The last build command below must stay exactly the one in .ci/run (a
# test checks it): CI has no Docker engine and runs that line itself.

# Build stages: Rust with cargo-chef.
FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

# The recipe: the manifests and the targets' layout, nothing else.
FROM chef AS planner
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo chef prepare --recipe-path recipe.json

# The release binary, with SQLite and libpq compiled in. The dependencies
# (the slow part) are their own layer, rebuilt only when the recipe changes.
FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --bin alvares --recipe-path recipe.json
COPY Cargo.toml Cargo.lock diesel.toml ./
COPY migrations ./migrations
COPY src ./src
RUN cargo build --release --locked --bin alvares

# Runtime stage: Debian slim with CA certificates and tini.
#
# tini is PID 1: it forwards SIGTERM to Alvares and reaps zombies, such as
# the children a Lighthouse scan leaves behind (so `docker run --init` or
# compose `init: true` are not needed).
#
# Lighthouse: its default runner is `docker run …`, and there is no docker
# in this image, so in the container the lighthouse subscriber reports
# itself unconfigured unless LIGHTHOUSE_COMMAND names a runner that is (for
# example an image derived from this one with Lighthouse and Chromium).
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 alvares \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin alvares \
    && mkdir /data \
    && chown 10001:10001 /data
COPY --from=build /src/target/release/alvares /usr/local/bin/alvares

# The SQLite file lives on the volume (a named volume starts out owned by
# 10001; a bind-mounted host folder must be writable by uid 10001). With
# DB_URL=postgres://… nothing is written there.
ENV PORT=3010 \
    DB_URL=/data/alvares.db \
    SHUTDOWN_GRACE_SECONDS=8
WORKDIR /data
VOLUME ["/data"]

# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
EXPOSE 3010

# `alvares healthcheck` sends GET /healthz to 127.0.0.1:$PORT over plain
# TCP (no curl here): exit 0 on 200, 1 otherwise, within its own 3 s.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/alvares", "healthcheck"]

# Stopping: on SIGTERM Alvares stops accepting, lets running deliveries
# finish for SHUTDOWN_GRACE_SECONDS (8 s here), hands the rest back to the
# journal and exits; the HTTP server's own shutdown is short, so the whole
# stop takes at most SHUTDOWN_GRACE_SECONDS + 2 s. Whatever stops the
# container must wait longer than that before SIGKILL: `docker stop
# --time` (or `docker run --stop-timeout`), compose `stop_grace_period`,
# Kubernetes `terminationGracePeriodSeconds` > SHUTDOWN_GRACE_SECONDS + 2 s.
# The examples use 15 s; docker's default 10 s leaves no margin.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/alvares"]
CMD ["serve"]
