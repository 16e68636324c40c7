#!/usr/bin/env bash
# The whole test suite, on the real services: starts Kafka and PostgreSQL on
# loopback if they are not up (deploy/local/services.sh), then runs every
# test of every crate, the Kafka and PostgreSQL ones included. Extra
# arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/../.."

deploy/local/services.sh up
eval "$(deploy/local/services.sh env)"
# Tests pick their own topic namespaces and databases; never inherit one.
unset VOX_TOPIC_NAMESPACE

# The wire format with another Avro library: fastavro decodes, from the .avsc
# files alone, what the Rust code encodes.
samples="$(mktemp -d)"
trap 'rm -rf "$samples"' EXIT
cargo run -q -p schemas --example sample_events -- "$samples"
venv="${VOX_LOCAL_DIR:-/var/tmp/vox-local}/python"
if [ ! -x "$venv/bin/python" ] && ! python3 -m venv "$venv" 2>/dev/null; then
    # No venv module (Debian without python3-venv): install it, then retry.
    apt-get update -q >/dev/null && apt-get install -y -q python3-venv >/dev/null
    python3 -m venv "$venv"
fi
"$venv/bin/python" -c 'import fastavro' 2>/dev/null || "$venv/bin/python" -m pip install -q 'fastavro==1.13.1'
"$venv/bin/python" schemas/interop/check_fastavro.py "$samples" schemas/avro

cargo test --workspace --all-targets "$@"
