# Build stage: the release binary, with SQLite and libpq compiled in.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock diesel.toml ./
COPY migrations ./migrations
COPY src ./src
RUN cargo build --release --locked --bin alvares

# Runtime stage: a small Debian with CA certificates, run as a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/alvares --create-home alvares
COPY --from=build /src/target/release/alvares /usr/local/bin/alvares
USER alvares
WORKDIR /var/lib/alvares
ENV PORT=3010
EXPOSE 3010
ENTRYPOINT ["/usr/local/bin/alvares"]
CMD ["serve"]
