#!/usr/bin/env bash
# Makes ./secrets for the Compose topology (docker-compose.yml, profile "app"),
# once; run it from the repository root. Idempotent: what exists is kept.
#
#   secrets/vox/kek                  the key-encryption key (64 hex digits, 0600), owner 10001
#   secrets/vox/audit.key            the key that signs audit checkpoints (0600), owner 10001;
#                                    its verifier key in secrets/audit-verifier.key
#   secrets/vox/tls/{server.pem,server.key,ca.pem}
#                                    the HTTPS certificate of ingest, the people API and
#                                    every ops listener, for localhost, 127.0.0.1 and the
#                                    service names; clients trust ca.pem
#   secrets/kafka/{keystore.pem,ca.pem,...}
#                                    the broker's TLS (SASL_SSL listener "APP"); the Vox
#                                    containers trust ca.pem; owner 1000 (the Kafka image's user)
#   secrets/ca.pem                   a copy of secrets/vox/tls/ca.pem for clients on the host
#   secrets/kafka-sasl-password      the SCRAM password of the broker user "vox"
#
# The Vox image runs as uid/gid 10001 and Vox refuses secrets that other users can read, so
# secrets/vox belongs to 10001: the script runs as root (it re-runs itself with sudo), which
# also keeps it idempotent once secrets/vox is 10001's.
# `vox cert create` runs from the first of: $VOX, `vox` on PATH, target/release/vox,
# target/debug/vox, else the image ${VOX_IMAGE:-vox:local} with docker (built first if it
# does not exist: `docker build -t vox:local .`).
# Rootless Docker and Podman map uids differently: there, give secrets/vox to the uid that
# the container's 10001 maps to on the host instead.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "secrets.sh: run it as root (or install sudo)" >&2; exit 1; }
    exec sudo --preserve-env=VOX,VOX_IMAGE,PATH "$0" "$@"
fi

VOX_UID=10001
KAFKA_UID=1000

run_vox() {
    if [ -n "${VOX:-}" ]; then "$VOX" "$@"
    elif command -v vox >/dev/null 2>&1; then vox "$@"
    elif [ -x target/release/vox ]; then target/release/vox "$@"
    elif [ -x target/debug/vox ]; then target/debug/vox "$@"
    elif command -v docker >/dev/null 2>&1; then
        local image="${VOX_IMAGE:-vox:local}"
        if ! docker image inspect "$image" >/dev/null 2>&1; then
            echo "secrets.sh: building the image $image first (docker build -t $image .)"
            docker build -t "$image" .
        fi
        # Paths are relative to the repository root, which is / in the container: secrets/… .
        docker run --rm --user 0:0 -v "$PWD/secrets:/secrets" -w / "$image" vox "$@"
    else
        echo "secrets.sh: no vox binary: build one (cargo build --release -p vox) or the image (docker build -t vox:local .)" >&2
        exit 1
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

if [ ! -s secrets/vox/audit.key ]; then
    run_vox audit keygen --name vox-compose --out secrets/vox/audit.key > secrets/audit-verifier.key
    echo "made secrets/vox/audit.key (verifier key in secrets/audit-verifier.key: give it to compliance teams)"
fi
chmod 600 secrets/vox/audit.key

if [ ! -s secrets/vox/tls/server.pem ]; then
    run_vox cert create --dir secrets/vox/tls --name localhost --name 127.0.0.1 \
        --name vox-ingest --name vox-api --name vox-process-1 --name vox-process-2 --name vox-project \
        --name vox-audit >/dev/null
    echo "made secrets/vox/tls (clients on the host trust secrets/ca.pem)"
fi

if [ ! -s secrets/kafka/keystore.pem ]; then
    # Under secrets/, so that the image (if it runs the command) sees it too.
    tmp=secrets/.kafka-cert
    rm -rf "$tmp"
    run_vox cert create --dir "$tmp" --name kafka >/dev/null
    cat "$tmp/server.key" "$tmp/server.pem" > secrets/kafka/keystore.pem
    cp "$tmp/ca.pem" secrets/kafka/ca.pem
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
cp secrets/vox/tls/ca.pem secrets/ca.pem
chmod 644 secrets/ca.pem

# The owners the containers need (Vox: 10001; Kafka's image: 1000); the password file is
# the invoking user's, for the export below.
chown -R "$VOX_UID:$VOX_UID" secrets/vox
chown "$KAFKA_UID:$KAFKA_UID" secrets/kafka/keystore.pem
if [ -n "${SUDO_UID:-}" ]; then chown "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" secrets/kafka-sasl-password; fi
echo "secrets ready; now: export VOX_KAFKA_SASL_PASSWORD=\$(cat secrets/kafka-sasl-password)"
