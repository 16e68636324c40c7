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
cargo test --workspace --all-targets "$@"
