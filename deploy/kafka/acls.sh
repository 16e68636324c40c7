#!/usr/bin/env bash
# Least privilege for Vox on a Kafka cluster with an authorizer: one SCRAM user per role and
# exactly the ACLs that role needs (ARCHITECTURE.md, "Kafka principals and ACLs", has the table).
#
#   deploy/kafka/acls.sh --bootstrap-server HOST:PORT --command-config FILE --password-dir DIR \
#       [--namespace PREFIX] [--user-prefix PREFIX] [--mechanism SCRAM-SHA-512] [--print] [--delete]
#
#   --bootstrap-server  brokers to talk to                                  (env VOX_KAFKA_BOOTSTRAP)
#   --command-config    client properties of an administrator principal: one allowed to alter
#                       ACLs and user SCRAM credentials (a super user)      (env VOX_KAFKA_ADMIN_CONFIG)
#   --password-dir      one file per user, DIR/<user>, holding its password; made (0600, random
#                       hex) when missing, reused when present               (env VOX_KAFKA_PASSWORD_DIR)
#   --namespace         the installation's topic namespace (Vox's --topic-namespace); as in Vox,
#                       a separator `.` is added unless it ends in `.`, `-` or `_`
#                                                                           (env VOX_TOPIC_NAMESPACE)
#   --user-prefix       prefix of the user names (default: the namespace, so that installations
#                       sharing a cluster have their own principals)     (env VOX_KAFKA_USER_PREFIX)
#   --mechanism         SCRAM-SHA-512 (default) or SCRAM-SHA-256
#   --print             print the commands instead of running them (passwords are not printed)
#   --delete            remove these ACLs and the users' SCRAM credentials instead
#
# Users (principal User:<user-prefix><name>): vox-ingest, vox-api (the people API, `vox api`),
# vox-processor, vox-projector, vox-auditor (`vox audit run`) and vox-admin (the admin CLI:
# `vox topics ensure`, `vox tenant …`, `vox client …`, `vox rules publish …`). Only vox-admin may
# create topics and set their retention: run `vox topics ensure` as vox-admin before the roles
# first start (and after changing a retention).
# Give each role's processes its user (--kafka-sasl-username, VOX_KAFKA_SASL_PASSWORD) with
# --kafka-security-protocol sasl_ssl --kafka-sasl-mechanism SCRAM-SHA-512.
#
# Idempotent: adding an ACL or setting a credential that exists changes nothing (a password
# file that exists is kept). The ACLs name resources literally, except the processor's
# transactional ids (prefixed: one per --instance-id). Running it needs the brokers' Kafka tools:
#   KAFKA_BIN=<dir with kafka-acls.sh and kafka-configs.sh> (a Kafka distribution's bin/), or
#   those scripts on PATH, or else the jars that deploy/local/services.sh fetched (kafka-run).
#
# The passwords travel on the tools' command lines (kafka-configs.sh takes no password file):
# run it where no other user can list processes.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

die() { printf 'acls.sh: %s\n' "$*" >&2; exit 2; }

bootstrap="${VOX_KAFKA_BOOTSTRAP:-}"
admin_config="${VOX_KAFKA_ADMIN_CONFIG:-}"
password_dir="${VOX_KAFKA_PASSWORD_DIR:-}"
namespace="${VOX_TOPIC_NAMESPACE:-}"
user_prefix="${VOX_KAFKA_USER_PREFIX-__namespace__}"
mechanism=SCRAM-SHA-512
print=0
delete=0
while [ $# -gt 0 ]; do
    case "$1" in
        --bootstrap-server) bootstrap="${2:?}"; shift 2 ;;
        --command-config) admin_config="${2:?}"; shift 2 ;;
        --password-dir) password_dir="${2:?}"; shift 2 ;;
        --namespace) namespace="${2?}"; shift 2 ;;
        --user-prefix) user_prefix="${2?}"; shift 2 ;;
        --mechanism) mechanism="${2:?}"; shift 2 ;;
        --print) print=1; shift ;;
        --delete) delete=1; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[ -n "$bootstrap" ] || die "--bootstrap-server (or VOX_KAFKA_BOOTSTRAP) is required"
[ -n "$admin_config" ] || die "--command-config (or VOX_KAFKA_ADMIN_CONFIG) is required"
[ "$print" = 1 ] || [ -r "$admin_config" ] || die "cannot read the admin client config $admin_config"
[ "$delete" = 1 ] || [ "$print" = 1 ] || [ -n "$password_dir" ] \
    || die "--password-dir (or VOX_KAFKA_PASSWORD_DIR) is required"
case "$mechanism" in SCRAM-SHA-512 | SCRAM-SHA-256) ;; *) die "--mechanism: SCRAM-SHA-512 or SCRAM-SHA-256" ;; esac

# The namespace as Vox normalizes it (vox/src/settings.rs).
case "$namespace" in '' | *. | *- | *_) ;; *) namespace="$namespace." ;; esac
[ "$user_prefix" != __namespace__ ] || user_prefix="$namespace"
case "$namespace$user_prefix" in *[!A-Za-z0-9._-]*) die "namespace and user prefix: letters, digits, . _ - only" ;; esac

# Topic, group and transactional-id names, exactly as the code spells them (schemas::Topic,
# processor::ProcessorSettings, eventlog's kafka.rs).
RAW="${namespace}vox.feedback.raw"
PROCESSED="${namespace}vox.feedback.processed"
REJECTED="${namespace}vox.feedback.rejected"
CONFIG="${namespace}vox.config"
AUDIT="${namespace}vox.audit"
ALL_TOPICS=("$RAW" "$PROCESSED" "$REJECTED" "$CONFIG" "$AUDIT")
PROCESSOR_GROUP="${namespace}vox-processor"    # group.id; group.instance.id is <group>.<instance id>
PROCESSOR_TXN_PREFIX="${namespace}vox-processor." # transactional.id <group>.<instance id>
CONFIG_TXN="vox-writer.${CONFIG}"              # transactional.id of configuration writes
READER_GROUP="vox-reader"                      # group.id of readers (assign only, never committed)

INGEST="${user_prefix}vox-ingest"
API="${user_prefix}vox-api"
PROCESSOR="${user_prefix}vox-processor"
PROJECTOR="${user_prefix}vox-projector"
AUDITOR="${user_prefix}vox-auditor"
ADMIN="${user_prefix}vox-admin"
USERS=("$INGEST" "$API" "$PROCESSOR" "$PROJECTOR" "$AUDITOR" "$ADMIN")

if [ -n "${KAFKA_BIN:-}" ]; then
    [ -x "$KAFKA_BIN/kafka-acls.sh" ] || die "no executable $KAFKA_BIN/kafka-acls.sh"
    acl_tool=("$KAFKA_BIN/kafka-acls.sh")
    config_tool=("$KAFKA_BIN/kafka-configs.sh")
elif command -v kafka-acls.sh >/dev/null 2>&1 && command -v kafka-configs.sh >/dev/null 2>&1; then
    acl_tool=(kafka-acls.sh)
    config_tool=(kafka-configs.sh)
else
    services="$here/../local/services.sh"
    [ -x "$services" ] || die "no Kafka tools: set KAFKA_BIN to a Kafka distribution's bin/"
    acl_tool=("$services" kafka-run org.apache.kafka.tools.AclCommand)
    config_tool=("$services" kafka-run org.apache.kafka.tools.ConfigCommand)
fi

run() {
    if [ "$print" = 1 ]; then
        printf '%q ' "$@" | sed -e 's/password=[0-9A-Za-z]*/password=<password>/'
        echo
    else
        "$@" </dev/null >/dev/null
    fi
}

# acl USER PATTERN-TYPE RESOURCE-OPTIONS... -- OPERATIONS...
# One AclCommand run: every operation on every resource given (they must all suit each resource).
acl() {
    local user="$1" pattern="$2" resources=() ops=()
    shift 2
    while [ "$1" != -- ]; do resources+=("$1"); shift; done
    shift
    for op in "$@"; do ops+=(--operation "$op"); done
    if [ "$delete" = 1 ]; then
        run "${acl_tool[@]}" --bootstrap-server "$bootstrap" --command-config "$admin_config" \
            --remove --force --allow-principal "User:$user" --resource-pattern-type "$pattern" \
            "${resources[@]}" "${ops[@]}"
    else
        run "${acl_tool[@]}" --bootstrap-server "$bootstrap" --command-config "$admin_config" \
            --add --allow-principal "User:$user" --resource-pattern-type "$pattern" \
            "${resources[@]}" "${ops[@]}"
    fi
}

topics() { local t; for t in "$@"; do printf -- '--topic\n%s\n' "$t"; done; }
mapfile -t ALL < <(topics "${ALL_TOPICS[@]}")

password_of() {
    local file="$password_dir/$1"
    if [ ! -s "$file" ]; then
        mkdir -p "$password_dir"
        command -v openssl >/dev/null 2>&1 || die "openssl is needed to make passwords"
        # Hex: nothing to escape in kafka-configs' k=[...] syntax, JAAS strings or URLs.
        (umask 077 && openssl rand -hex 24 >"$file.tmp") && mv -f "$file.tmp" "$file"
    fi
    cat "$file"
}

if [ "$delete" = 0 ]; then
    for user in "${USERS[@]}"; do
        if [ "$print" = 1 ]; then pw=password; else pw="$(password_of "$user")"; fi
        run "${config_tool[@]}" --bootstrap-server "$bootstrap" --command-config "$admin_config" \
            --alter --entity-type users --entity-name "$user" \
            --add-config "$mechanism=[iterations=8192,password=$pw]"
    done
fi

# Read and Write imply Describe (metadata, offsets) on the same resource, so Describe is named
# only where nothing implies it. Only the admin principal creates topics and sets their retention
# (`vox topics ensure`, run before the roles first start): a role reads its topics' metadata at
# start and asks to create only topics that do not exist, so it needs no Create once they do.

# ingest: reads vox.config (its ConfigFollower) and appends items and audit records (an idempotent
# producer: Write on a topic is enough for its producer id, no cluster IdempotentWrite). Nothing
# else: it faces the internet, and a principal that may alter a topic's configs could set
# retention.ms=1 on vox.config and vox.audit.
acl "$INGEST" literal --topic "$CONFIG" -- Read
acl "$INGEST" literal --topic "$RAW" --topic "$AUDIT" -- Write

# people API: reads vox.config (its live directory) and writes configuration changes to it the way
# the admin CLI does (compare-and-set: a transactional producer whose id is the topic's, shared by
# every writer so that each fences the ones before it); appends audit records. Like ingest it faces
# the internet: no Create, DescribeConfigs or AlterConfigs.
acl "$API" literal --topic "$CONFIG" -- Read Write
acl "$API" literal --topic "$AUDIT" -- Write
acl "$API" literal --transactional-id "$CONFIG_TXN" -- Write

# processor: consumes vox.feedback.raw in its group and writes its outputs and the group's
# offsets in one transaction (transactional id <group>.<instance id>, so a prefixed ACL); reads
# vox.config.
acl "$PROCESSOR" literal --topic "$RAW" --topic "$CONFIG" -- Read
acl "$PROCESSOR" literal --topic "$PROCESSED" --topic "$REJECTED" -- Write
acl "$PROCESSOR" literal --group "$PROCESSOR_GROUP" -- Read
acl "$PROCESSOR" prefixed --transactional-id "$PROCESSOR_TXN_PREFIX" -- Write

# projector: reads the two output topics from the positions in its database (no group offsets).
# Writes nothing to Kafka.
acl "$PROJECTOR" literal --topic "$PROCESSED" --topic "$REJECTED" -- Read

# auditor: reads vox.audit (every partition) from the positions in its database, like the projector
# (no group offsets). Writes nothing to Kafka.
acl "$AUDITOR" literal --topic "$AUDIT" -- Read

# admin CLI: creates every topic and sets its retention (`vox topics ensure`: Create, and
# DescribeConfigs and AlterConfigs for the retention), reads vox.config to its end and appends to
# it as a transactional producer whose id is the topic's; with the people API the only principal
# that may write vox.config. Its people commands (`vox user`, `group`, `policy`, `support`) put
# each change on record in vox.audit.
acl "$ADMIN" literal "${ALL[@]}" -- Create DescribeConfigs AlterConfigs
acl "$ADMIN" literal --topic "$CONFIG" -- Read Write
acl "$ADMIN" literal --topic "$AUDIT" -- Write
acl "$ADMIN" literal --transactional-id "$CONFIG_TXN" -- Write

# Readers (the ConfigFollower of ingest, the people API and the processor, the projector, the
# auditor, the admin CLI's reads)
# set group.id vox-reader: they only assign partitions and never commit, but librdkafka still
# looks up the group's coordinator (FindCoordinator needs Describe on the group).
for user in "${USERS[@]}"; do
    acl "$user" literal --group "$READER_GROUP" -- Describe
done

# What earlier versions of this script granted and this one does not: removed, so that running it
# on a cluster set up by an older version leaves exactly the ACLs above (removing an ACL that does
# not exist changes nothing).
revoke() {
    local user="$1" resources=() ops=()
    shift
    while [ "$1" != -- ]; do resources+=("$1"); shift; done
    shift
    for op in "$@"; do ops+=(--operation "$op"); done
    run "${acl_tool[@]}" --bootstrap-server "$bootstrap" --command-config "$admin_config" \
        --remove --force --allow-principal "User:$user" --resource-pattern-type literal \
        "${resources[@]}" "${ops[@]}"
}
revoke "$INGEST" "${ALL[@]}" -- Create DescribeConfigs AlterConfigs
revoke "$PROCESSOR" "${ALL[@]}" -- Create
revoke "$PROJECTOR" --topic "$PROCESSED" --topic "$REJECTED" -- Create

if [ "$delete" = 1 ]; then
    for user in "${USERS[@]}"; do
        # Fails when the user has no credential of this mechanism: nothing to delete then.
        run "${config_tool[@]}" --bootstrap-server "$bootstrap" --command-config "$admin_config" \
            --alter --entity-type users --entity-name "$user" --delete-config "$mechanism" \
            || true
    done
fi
[ "$print" = 1 ] || echo "acls.sh: $([ "$delete" = 1 ] && echo removed || echo applied) ACLs of ${USERS[*]} (namespace '${namespace}')"
