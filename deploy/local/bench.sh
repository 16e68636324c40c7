#!/usr/bin/env bash
# The Vox benchmarks (see vox/examples/bench/main.rs and BENCHMARKS.md):
# starts Kafka and PostgreSQL if needed, builds in release mode, and prints
# every figure next to a baseline measured in the same run: ingest (load
# generator in its own process, node CPU per item), the embedded log, the
# processor, its rules and redaction, the projector, the pipeline end to end,
# ingest under a login storm and the analyst API's permission-filtered
# queries (--only analyst --items 1000000) and the audit logs (--only audit
# --items 1000000). Extra arguments go
# to the benchmark (--items, --clients, --batch, --only). Its topics live
# under a namespace of its own (b<8 hex>.) and are deleted when it ends.
set -euo pipefail
cd "$(dirname "$0")/../.."

case "${1:-}" in
    -h | --help)
        sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
        echo "usage: deploy/local/bench.sh [--items N] [--clients N] [--batch N] [--only ingest,embedded,processor,rules,projector,e2e,logins,analyst,audit]"
        exit 0
        ;;
esac

deploy/local/prereqs.sh
deploy/local/services.sh up >/dev/null
eval "$(deploy/local/services.sh env)"
exec cargo run --quiet --release -p vox --example bench -- "$@"
