#!/usr/bin/env bash
# The whole test suite, on the real services: starts Kafka and PostgreSQL on
# loopback if they are not up (deploy/local/services.sh), then runs every
# test of every crate, the Kafka and PostgreSQL ones included. Extra
# arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/../.."

deploy/local/prereqs.sh
deploy/local/services.sh up
eval "$(deploy/local/services.sh env)"
# Tests pick their own topic namespaces and databases; never inherit one.
unset VOX_TOPIC_NAMESPACE
# Each test creates topics under a namespace of its own (t<12 hex>.); drop
# those of earlier test runs so that the local broker does not grow without
# bound. Benchmarks (b<8 hex>.) delete their own topics, and are left alone
# here. Best effort: a failure here is no reason not to test. (So two test
# runs must not share one broker.)
deploy/local/services.sh kafka-run org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$VOX_KAFKA_BROKERS" --delete --if-exists \
    --topic 't[0-9a-f]{12}\..*' >/dev/null 2>&1 \
    || echo "note: could not delete old test topics (continuing)" >&2

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
# Passwords and two-factor codes with independent implementations: the
# people tests run tests/interop/check_people.py (Python's bcrypt and pyotp)
# with this interpreter.
"$venv/bin/python" -c 'import bcrypt, pyotp' 2>/dev/null || "$venv/bin/python" -m pip install -q 'bcrypt==5.0.0' 'pyotp==2.9.0'
# Single sign-on against a real identity provider: the SSO tests run
# tests/interop/saml_idp.py (pysaml2, which signs and encrypts with the
# xmlsec1 binary) with this interpreter.
command -v xmlsec1 >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q xmlsec1 >/dev/null; }
"$venv/bin/python" -c 'import saml2' 2>/dev/null || "$venv/bin/python" -m pip install -q 'pysaml2==7.5.5'
export VOX_TEST_PYTHON="$venv/bin/python"

# The audit export's independent verifier (Go's golang.org/x/mod/sumdb/tlog
# and note): its own tests, and the binary the end-to-end tests run over
# `vox audit export`.
command -v go >/dev/null 2>&1 || { echo "the test command needs Go 1.21 or newer (tests/interop/auditverify, deploy/check)" >&2; exit 1; }
go -C tests/interop/auditverify test ./...
go -C tests/interop/auditverify build -o "$samples/auditverify" .
export VOX_TEST_AUDITVERIFY="$samples/auditverify"

# Documentation examples first (`--all-targets` does not run them), then
# every crate's tests; the last line sums up every test binary's result.
results="$samples/cargo-test.log"
status=0
if [ $# -eq 0 ]; then
    cargo test --workspace --doc 2>&1 | tee "$results" || status=$?
fi
if [ "$status" -eq 0 ]; then
    cargo test --workspace --all-targets "$@" 2>&1 | tee -a "$results" || status=$?
fi

# The deployment files, without a container engine (README, "Running with
# Docker Compose"): the Compose services' exact commands and environment on
# this host, through to the read model.
deploy_status=0
if [ "$status" -eq 0 ] && [ $# -eq 0 ]; then
    "$venv/bin/python" -c 'import yaml' 2>/dev/null || "$venv/bin/python" -m pip install -q 'PyYAML==6.0.3'
    "$venv/bin/python" deploy/local/compose-smoke.py "${CARGO_TARGET_DIR:-target}/debug/vox" || deploy_status=$?
    # The Compose file with compose-go, the Kubernetes overlays decoded
    # strictly into the typed API objects, their invariants, and the traffic
    # matrix of their network policies against ARCHITECTURE.md (deploy/check).
    command -v go >/dev/null 2>&1 || { echo "deploy/check needs Go 1.21 or newer (it fetches the toolchain go.mod names)" >&2; exit 1; }
    go -C deploy/check run . -vox-bin "$(realpath "${CARGO_TARGET_DIR:-target}/debug/vox")" || deploy_status=$?
fi

awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$results"
if [ "$status" -eq 0 ] && [ $# -eq 0 ]; then
    if [ "$deploy_status" -eq 0 ]; then echo "deployment checks: passed"; else echo "deployment checks: FAILED"; fi
fi
[ "$status" -ne 0 ] && exit "$status"
exit "$deploy_status"
