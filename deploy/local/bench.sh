#!/usr/bin/env bash
# The ingest benchmark (see vox/examples/ingest_bench.rs and BENCHMARKS.md):
# starts Kafka and PostgreSQL if needed, builds in release mode, and prints
# items/s and batch latencies next to Kafka's raw producer limit measured in
# the same run. Extra arguments go to the benchmark (--items, --clients, --batch).
# Its topics live under a namespace of its own (b<8 hex>.) and are deleted
# when it ends.
set -euo pipefail
cd "$(dirname "$0")/../.."

case "${1:-}" in
    -h | --help)
        sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
        echo "usage: deploy/local/bench.sh [--items N] [--clients N] [--batch N]"
        exit 0
        ;;
esac

deploy/local/prereqs.sh
deploy/local/services.sh up >/dev/null
eval "$(deploy/local/services.sh env)"
cargo run --release -p vox --example ingest_bench -- "$@"
