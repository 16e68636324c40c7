#!/usr/bin/env bash
# The ingest benchmark (see examples/ingest_bench.rs and BENCHMARKS.md):
# starts Kafka and PostgreSQL if needed, builds in release mode, and prints
# items/s and batch latencies next to Kafka's raw producer limit measured in
# the same run. Extra arguments go to the benchmark (--items, --clients, --batch).
set -euo pipefail
cd "$(dirname "$0")/../.."

deploy/local/services.sh up >/dev/null
eval "$(deploy/local/services.sh env)"
cargo run --release --example ingest_bench -- "$@"
