#!/usr/bin/env bash
# Makes ./secrets for the Compose topology (docker-compose.yml, profile "app"),
# once; run it from the repository root. Idempotent: what exists is kept.
#
#   secrets/vox/kek                  the key-encryption key (64 hex digits, 0600), owner 10001
#   secrets/vox/tls/{server.pem,server.key,ca.pem}
#                                    the HTTPS certificate of ingest and of every ops
#                                    listener, for localhost, 127.0.0.1 and the service
#                                    names; clients trust ca.pem
#   secrets/kafka/{keystore.pem,ca.pem,...}
#                                    the broker's TLS (SASL_SSL listener "APP"); the Vox
#                                    containers trust ca.pem; owner 1000 (the Kafka image's user)
#   secrets/ca.pem                   a copy of secrets/vox/tls/ca.pem for clients on the host
#   secrets/kafka-sasl-password      the SCRAM password of the broker user "vox"
#
# The Vox image runs as uid/gid 10001 and Vox refuses secrets that other users can read, so
# secrets/vox belongs to 10001 (this script uses sudo for chown when it is not root).
# `vox cert create` runs from the first of: $VOX, `vox` on PATH, target/release/vox,
# target/debug/vox, else the image ${VOX_IMAGE:-vox:local} with docker.
set -euo pipefail
cd "$(dirname "$0")/../.."

VOX_UID=10001
KAFKA_UID=1000

run_vox() {
    if [ -n "${VOX:-}" ]; then "$VOX" "$@"
    elif command -v vox >/dev/null 2>&1; then vox "$@"
    elif [ -x target/release/vox ]; then target/release/vox "$@"
    elif [ -x target/debug/vox ]; then target/debug/vox "$@"
    elif command -v docker >/dev/null 2>&1; then
        docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/secrets:/secrets" -w / "${VOX_IMAGE:-vox:local}" vox "$@"
    else
        echo "secrets.sh: no vox binary: build one (cargo build --release -p vox) or the image (docker build -t vox:local .)" >&2
        exit 1
    fi
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else echo "secrets.sh: need root or sudo to run: $*" >&2; exit 1
    fi
}

umask 077
mkdir -p secrets/vox secrets/kafka
chmod 755 secrets secrets/kafka
chmod 700 secrets/vox

if [ ! -s secrets/vox/kek ]; then
    openssl rand -hex 32 > secrets/vox/kek
    echo "made secrets/vox/kek"
fi
chmod 600 secrets/vox/kek

if [ ! -s secrets/vox/tls/server.pem ]; then
    run_vox cert create --dir secrets/vox/tls --name localhost --name 127.0.0.1 \
        --name vox-ingest --name vox-process-1 --name vox-process-2 --name vox-project >/dev/null
    echo "made secrets/vox/tls (clients trust secrets/vox/tls/ca.pem)"
fi

if [ ! -s secrets/kafka/keystore.pem ]; then
    tmp=$(mktemp -d)
    run_vox cert create --dir "$tmp/kafka" --name kafka >/dev/null
    cat "$tmp/kafka/server.key" "$tmp/kafka/server.pem" > secrets/kafka/keystore.pem
    cp "$tmp/kafka/ca.pem" secrets/kafka/ca.pem
    rm -rf "$tmp"
    echo "made secrets/kafka (the broker's TLS; Vox trusts secrets/kafka/ca.pem)"
fi
chmod 600 secrets/kafka/keystore.pem
chmod 644 secrets/kafka/ca.pem

if [ ! -s secrets/kafka-sasl-password ]; then
    openssl rand -hex 24 > secrets/kafka-sasl-password
    echo "made secrets/kafka-sasl-password"
fi
chmod 600 secrets/kafka-sasl-password

# Clients on the host trust this copy (secrets/vox becomes 10001's alone).
cp secrets/vox/tls/ca.pem secrets/ca.pem 2>/dev/null || as_root cp secrets/vox/tls/ca.pem secrets/ca.pem
as_root chmod 644 secrets/ca.pem

# The owners the containers need (Vox: 10001; Kafka's image: 1000).
as_root chown -R "$VOX_UID:$VOX_UID" secrets/vox
as_root chown "$KAFKA_UID:$KAFKA_UID" secrets/kafka/keystore.pem
echo "secrets ready; now: export VOX_KAFKA_SASL_PASSWORD=\$(cat secrets/kafka-sasl-password)"
