# syntax=docker/dockerfile:1
# The Vox image: one binary, `vox`, run as the non-root user `vox`
# (uid 10001, gid 10001). Build it from a clone:
#
#   docker build -t vox:local .
#   docker compose --profile app up --build     # builds it too (see README, "Running with Docker Compose")
#
# Stage 1 builds on Debian bookworm with the Rust toolchain (librdkafka is
# compiled from source: cmake, a C toolchain, OpenSSL and zlib headers).
# Stage 2 is debian:bookworm-slim with only what the binary links besides
# glibc (>= 2.34) and libgcc: OpenSSL 3 (librdkafka's TLS and SASL/SCRAM)
# and zlib; plus the CA certificates for brokers signed by public CAs.

FROM rust:1-bookworm AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        cmake pkg-config libssl-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# rust-toolchain.toml asks for "stable" plus rustfmt and clippy (for CI);
# the image's toolchain is a stable release already: use it as it is.
RUN rm -f rust-toolchain.toml \
    && cargo build --release --locked -p vox \
    && strip target/release/vox \
    && cp target/release/vox /usr/local/bin/vox

FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates libssl3 zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 vox \
    && useradd --uid 10001 --gid 10001 --home-dir /var/lib/vox --create-home --shell /usr/sbin/nologin vox \
    && chmod 700 /var/lib/vox
COPY --from=build /usr/local/bin/vox /usr/local/bin/vox
USER 10001:10001
# The data directory (`--data-dir`, default ./vox-data): the embedded log
# and store, and the local certificate `vox process`/`vox project` make
# when they are given none. Mount a volume here for `vox serve`.
WORKDIR /var/lib/vox
ENV VOX_DATA_DIR=/var/lib/vox/data
EXPOSE 8443 8444 8445 8446
CMD ["vox", "--help"]
