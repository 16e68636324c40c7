#!/usr/bin/env bash
# Local backing services for Vox development, tests and CI -- no Docker needed.
#
#   deploy/local/services.sh up       start Kafka (KRaft, single node) + PostgreSQL; idempotent
#   deploy/local/services.sh down     stop both (what this script started); idempotent
#   deploy/local/services.sh status   show what is running; exit 0 only if both answer (and the SASL_SSL listener)
#   deploy/local/services.sh env      print `export ...` lines:  eval "$(deploy/local/services.sh env)"
#   deploy/local/services.sh kafka-run <main-class> [args...]
#                                     run a Kafka tool from the same jars, e.g.
#                                     kafka-run org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
#                                     (over SASL_SSL: --bootstrap-server 127.0.0.1:9094
#                                      --command-config $VOX_LOCAL_DIR/kafka/config/sasl-client.properties)
#   deploy/local/services.sh psql [args...]   psql connected as vox to the vox database
#
# Kafka 4.4.0 jars come from Maven Central (mvn dependency:copy-dependencies) and are cached
# in the state directory; PostgreSQL comes from Debian's packages (installed with apt-get
# when missing). Everything listens on 127.0.0.1 only.
#
# Besides the PLAINTEXT listener, Kafka has a SASL_SSL listener (TLS + SASL/SCRAM-SHA-512,
# user `vox`) for the tests of the authenticated/encrypted client path. Its TLS material (a
# local CA, ca.pem, and a broker certificate for 127.0.0.1/localhost signed by it) is made
# once with openssl in $VOX_LOCAL_DIR/kafka/tls/, the password once in
# $VOX_LOCAL_DIR/kafka/sasl-password; `env` prints both (VOX_TEST_KAFKA_SASL_*).
#
# The broker enforces ACLs (KRaft's StandardAuthorizer, allow.everyone.if.no.acl.found=false):
# the PLAINTEXT listener's principal (User:ANONYMOUS) and the SCRAM user `vox` are super users,
# so both listeners work as before for them; any other SCRAM user can do only what its ACLs
# allow (deploy/kafka/acls.sh creates Vox's per-role users and ACLs; the least-privilege test
# applies it). A Kafka that this script started earlier without the SASL_SSL listener or without
# the authorizer is restarted by `up`.
#
# PostgreSQL serves TLS (ssl=on; plain connections still work, so sslmode=prefer, the default,
# encrypts without checking): a CA of its own and a server certificate for 127.0.0.1/localhost,
# made once with openssl in $VOX_LOCAL_DIR/pg/tls/; `env` prints the CA as VOX_TEST_PG_CA, for
# sslmode=verify-full&sslrootcert=<CA>. A cluster started earlier without TLS gets it on the next
# `up` (a configuration reload). Its role `vox` (password vox) may create databases and roles
# (CREATEDB CREATEROLE: the tests make a database each, and the least-privilege test the roles
# of deploy/postgres/roles.sql); it is not a superuser.
#
# Environment:
#   VOX_LOCAL_DIR              state directory (default /var/tmp/vox-local; keep it outside the
#                              clone so the jar cache survives; must be reachable by the
#                              `postgres` user when run as root, so not under /root)
#   VOX_KAFKA_PORT             broker port            (default 9092)
#   VOX_KAFKA_CONTROLLER_PORT  KRaft controller port  (default 9093)
#   VOX_KAFKA_SASL_PORT        broker SASL_SSL (SCRAM-SHA-512) port (default 9094)
#   VOX_PG_PORT                PostgreSQL port        (default 5432)
#   VOX_UP_TIMEOUT             seconds to wait for each service in `up` (default 120)
#   VOX_KAFKA_HEAP             JVM heap options       (default "-Xms256m -Xmx768m")
#   VOX_PG_DURABLE=1           keep fsync/synchronous_commit on (default: off, it is a throwaway
#                              test cluster and CREATE DATABASE per test is much faster)
set -euo pipefail

KAFKA_VERSION=4.4.0
SCALA_BINARY=2.13
LOG4J_VERSION=2.25.5            # same log4j2 version kafka 4.4.0 itself depends on
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

HOST=127.0.0.1
STATE="${VOX_LOCAL_DIR:-/var/tmp/vox-local}"
KAFKA_PORT="${VOX_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${VOX_KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_SASL_PORT="${VOX_KAFKA_SASL_PORT:-9094}"
PG_PORT="${VOX_PG_PORT:-5432}"
UP_TIMEOUT="${VOX_UP_TIMEOUT:-120}"
KAFKA_HEAP="${VOX_KAFKA_HEAP:--Xms256m -Xmx768m}"

KAFKA_HOME="$STATE/kafka-$KAFKA_VERSION"     # jar cache: pom.xml, libs/, .libs-complete
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_MARKER="$KAFKA_HOME/.libs-complete"
KAFKA_DIR="$STATE/kafka"                      # instance: config/, data/, logs/, kafka.pid
KAFKA_CONF="$KAFKA_DIR/config"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_LOGS="$KAFKA_DIR/logs"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_TLS="$KAFKA_DIR/tls"                    # openssl-made CA + broker certificate
KAFKA_CA="$KAFKA_TLS/ca.pem"
KAFKA_CA_KEY="$KAFKA_TLS/ca.key"
KAFKA_BROKER_CERT="$KAFKA_TLS/broker.pem"
KAFKA_KEYSTORE="$KAFKA_TLS/broker-keystore.pem"   # PKCS#8 key + certificate chain (ssl.keystore.type=PEM)
KAFKA_SASL_USER=vox
KAFKA_SASL_PWFILE="$KAFKA_DIR/sasl-password"
KAFKA_SASL_CLIENT_CONF="$KAFKA_CONF/sasl-client.properties"
KAFKA_AUTHORIZER=org.apache.kafka.metadata.authorizer.StandardAuthorizer
KAFKA_SUPER_USERS="User:ANONYMOUS;User:$KAFKA_SASL_USER"
PG_DIR="$STATE/pg"
PG_DATA="$PG_DIR/data"
PG_RUN="$PG_DIR/run"                          # unix socket directory
PG_LOGDIR="$PG_DIR/log"
PG_LOG="$PG_LOGDIR/postgresql.log"
PG_TLS="$PG_DIR/tls"                          # openssl-made CA + server certificate
PG_CA="$PG_TLS/ca.pem"
PG_CA_KEY="$PG_TLS/ca.key"
PG_SERVER_CERT="$PG_TLS/server.pem"
PG_SERVER_KEY="$PG_TLS/server.key"            # owned by the cluster's user, 0600 (postgres insists)

KAFKA_BROKERS="$HOST:$KAFKA_PORT"
KAFKA_SASL_BROKERS="$HOST:$KAFKA_SASL_PORT"
DATABASE_URL="postgres://vox:vox@$HOST:$PG_PORT/vox"

JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

log() { printf '[vox-local] %s\n' "$*"; }
warn() { printf '[vox-local] WARNING: %s\n' "$*" >&2; }
die() { printf '[vox-local] ERROR: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# True when process $1 exists and is not a zombie (kill -0 succeeds on zombies, and the
# init of some containers/VMs reaps re-parented processes only lazily).
alive() {
    local state
    [ -n "${1:-}" ] || return 1
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

KAFKA_FOREIGN=0
PG_FOREIGN=0

apt_install() {
    local sudo=()
    if ! is_root; then
        command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to apt-get install $*"
        sudo=(sudo -n)
    fi
    log "installing $* with apt-get ..."
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >/dev/null \
        || die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" </dev/null \
        || die "apt-get install $* failed"
}

lock_state() {
    mkdir -p "$STATE"
    chmod 755 "$STATE" 2>/dev/null || true
    exec 9>"$STATE/.lock"
    flock -w 600 9 || die "another services.sh is still running (lock $STATE/.lock)"
}

# ---------------------------------------------------------------- Kafka ----

java_major() {
    "$JAVA" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}' \
        | awk -F. '{ if ($1 == "1") print $2; else print $1 }'
}

ensure_java_maven() {
    if ! command -v "$JAVA" >/dev/null 2>&1; then apt_install openjdk-17-jre-headless; fi
    local major; major="$(java_major)"
    if [ -z "$major" ] || [ "$major" -lt 17 ]; then
        die "Kafka $KAFKA_VERSION needs Java 17+, '$JAVA' is version '${major:-?}'"
    fi
    if [ ! -f "$KAFKA_MARKER" ] && ! command -v mvn >/dev/null 2>&1; then apt_install maven; fi
}

kafka_pom() {
    cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by deploy/local/services.sh: the runtime classpath of a single-node Kafka. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>vox.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- broker + controller (kafka.Kafka, kafka.tools.StorageTool) -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_$SCALA_BINARY</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <!-- command line tools (TopicCommand, ConsoleProducer, ConsoleConsumer, ...);
         Kafka Connect is not needed and drags in ~45 jars -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$KAFKA_VERSION</version>
      <exclusions>
        <exclusion>
          <groupId>org.apache.kafka</groupId>
          <artifactId>connect-runtime</artifactId>
        </exclusion>
      </exclusions>
    </dependency>
    <!-- Kafka logs through slf4j 1.7 but its poms ship no binding: route it to log4j2 -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
}

ensure_kafka_libs() {
    local want
    want="$(kafka_pom | sha256sum | cut -d' ' -f1)"
    if [ -d "$KAFKA_LIBS" ] && [ -f "$KAFKA_MARKER" ] && [ "$(cat "$KAFKA_MARKER")" = "$want" ]; then
        return 0
    fi
    ensure_java_maven
    command -v mvn >/dev/null 2>&1 || die "mvn not found"
    log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS (one time) ..."
    mkdir -p "$KAFKA_HOME"
    kafka_pom >"$KAFKA_HOME/pom.xml"
    rm -rf "$KAFKA_HOME/libs.tmp"
    if ! (cd "$KAFKA_HOME" && mvn -q -B -Dstyle.color=never -f pom.xml \
            "$DEP_PLUGIN:copy-dependencies" -DincludeScope=runtime \
            -DoutputDirectory="$KAFKA_HOME/libs.tmp" </dev/null) >"$KAFKA_HOME/mvn.log" 2>&1; then
        tail -n 40 "$KAFKA_HOME/mvn.log" >&2 || true
        die "mvn dependency:copy-dependencies failed; full output in $KAFKA_HOME/mvn.log"
    fi
    local jar
    for jar in "kafka_$SCALA_BINARY-$KAFKA_VERSION.jar" "kafka-clients-$KAFKA_VERSION.jar" \
               "kafka-tools-$KAFKA_VERSION.jar" "kafka-server-$KAFKA_VERSION.jar" \
               "log4j-core-$LOG4J_VERSION.jar" "log4j-slf4j-impl-$LOG4J_VERSION.jar"; do
        [ -s "$KAFKA_HOME/libs.tmp/$jar" ] || die "mvn finished but $jar is missing (see $KAFKA_HOME/mvn.log)"
    done
    rm -rf "$KAFKA_LIBS"
    mv "$KAFKA_HOME/libs.tmp" "$KAFKA_LIBS"
    echo "$want" >"$KAFKA_MARKER"
    log "cached $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars"
}

write_kafka_config() {
    mkdir -p "$KAFKA_CONF" "$KAFKA_DATA" "$KAFKA_LOGS"
    cat >"$KAFKA_CONF/server.properties" <<EOF
# Generated by deploy/local/services.sh on every 'up' (edit the script, not this file).
# Single KRaft node acting as broker and controller, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,SASL_SSL://$HOST:$KAFKA_SASL_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT,SASL_SSL://$HOST:$KAFKA_SASL_PORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$KAFKA_DATA

# SASL_SSL listener: TLS with the broker certificate from $KAFKA_TLS (PEM key + chain, the key
# is unencrypted PKCS#8 so no ssl.key.password), SCRAM-SHA-512 logins; the users live in the
# KRaft metadata (created with ConfigCommand by 'up'). No client certificates.
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$KAFKA_KEYSTORE
listener.name.sasl_ssl.ssl.client.auth=none

# ACLs: KRaft's StandardAuthorizer, nothing allowed without an ACL. The PLAINTEXT listener's
# principal (User:ANONYMOUS: this broker's own inter-broker and controller traffic, the tools of
# this script, every test on $KAFKA_BROKERS) and the SCRAM user $KAFKA_SASL_USER are super users;
# other principals (deploy/kafka/acls.sh makes them) get exactly their ACLs.
authorizer.class.name=$KAFKA_AUTHORIZER
super.users=$KAFKA_SUPER_USERS
allow.everyone.if.no.acl.found=false

num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
delete.topic.enable=true
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Abort the transactions of dead processors soon after transaction.timeout.ms (Vox uses 10 s);
# the default checks every 10 s, which would let a dead member's partitions sit for up to 20 s.
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
EOF
    # Broker logging: rolling file in $KAFKA_LOGS (stdout/stderr of the JVM go to kafka.out).
    cat >"$KAFKA_CONF/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <RollingFile name="server" fileName="$KAFKA_LOGS/server.log" filePattern="$KAFKA_LOGS/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <Policies><SizeBasedTriggeringPolicy size="50 MB"/></Policies>
      <DefaultRolloverStrategy max="5"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="server"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="org.apache.kafka.raft" level="INFO"/>
    <Logger name="state.change.logger" level="WARN"/>
  </Loggers>
</Configuration>
EOF
    # Tools (StorageTool, TopicCommand, console producer/consumer): warnings to stderr only.
    cat >"$KAFKA_CONF/tools-log4j2.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="stderr"/></Root>
  </Loggers>
</Configuration>
EOF
    cat >"$KAFKA_CONF/tools-admin.properties" <<'EOF'
request.timeout.ms=5000
default.api.timeout.ms=10000
EOF
}

# Run a Kafka main class from the cached jars (tool logging: WARN to stderr).
kafka_java() {
    local main="$1"; shift
    "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$KAFKA_CONF/tools-log4j2.xml" \
        -cp "$KAFKA_LIBS/*" "$main" "$@"
}

kafka_pid() {
    local pid
    [ -f "$KAFKA_PID" ] || return 1
    pid="$(cat "$KAFKA_PID" 2>/dev/null)" || return 1
    alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka' || return 1
    echo "$pid"
}

format_kafka_storage() {
    [ -f "$KAFKA_DATA/meta.properties" ] && return 0
    local cid
    if [ -s "$KAFKA_DIR/cluster.id" ]; then
        cid="$(cat "$KAFKA_DIR/cluster.id")"
    else
        cid="$(kafka_java kafka.tools.StorageTool random-uuid </dev/null)" || die "StorageTool random-uuid failed"
        echo "$cid" >"$KAFKA_DIR/cluster.id"
    fi
    log "formatting KRaft storage in $KAFKA_DATA (cluster id $cid) ..."
    # Static quorum (controller.quorum.voters) -> no --standalone; this keeps a later change
    # of VOX_KAFKA_CONTROLLER_PORT working on existing data.
    kafka_java kafka.tools.StorageTool format --ignore-formatted -t "$cid" \
        -c "$KAFKA_CONF/server.properties" </dev/null >"$KAFKA_LOGS/format.log" 2>&1 \
        || { cat "$KAFKA_LOGS/format.log" >&2; die "kafka storage format failed"; }
}

kafka_answers() {
    port_open "$KAFKA_PORT" && kafka_java org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "$KAFKA_BROKERS" --command-config "$KAFKA_CONF/tools-admin.properties" \
        --list </dev/null >/dev/null 2>&1
}

# --------------------------------------------------- Kafka TLS + SCRAM ----

ensure_openssl() {
    command -v openssl >/dev/null 2>&1 || apt_install openssl
}

# The certificate $1 is valid for at least 30 more days.
cert_fresh() { openssl x509 -noout -checkend 2592000 -in "$1" >/dev/null 2>&1; }

# The CA in $KAFKA_TLS is usable: certificate + matching key, not about to expire.
kafka_ca_ok() {
    [ -s "$KAFKA_CA" ] && [ -s "$KAFKA_CA_KEY" ] && cert_fresh "$KAFKA_CA" || return 1
    local a b
    a="$(openssl x509 -noout -pubkey -in "$KAFKA_CA" 2>/dev/null)" || return 1
    b="$(openssl pkey -pubout -in "$KAFKA_CA_KEY" 2>/dev/null)" || return 1
    [ -n "$a" ] && [ "$a" = "$b" ]
}

# The broker keystore exists and its certificate is signed by our CA and not about to expire.
kafka_broker_cert_ok() {
    [ -s "$KAFKA_KEYSTORE" ] && [ -s "$KAFKA_BROKER_CERT" ] && cert_fresh "$KAFKA_BROKER_CERT" \
        && openssl verify -CAfile "$KAFKA_CA" "$KAFKA_BROKER_CERT" >/dev/null 2>&1
}

# In the fresh directory $1: a CA (a new one when $2 is 1, else the existing $3 and key $4, copied)
# as ca.pem/ca.key, named $5, and cert.key/cert.pem, a server certificate for $HOST and localhost
# signed by it ($6 says what for, $7 where, in the log lines). What Kafka's SASL_SSL listener and
# PostgreSQL's TLS both need; each packages the files its own way.
local_ca_and_cert() {
    local tmp="$1" new_ca="$2" ca="$3" ca_key="$4" ca_name="$5" what="$6" where="$7"
    cat >"$tmp/openssl.cnf" <<EOF
[req]
distinguished_name = dn
[dn]
[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:$HOST, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    if [ "$new_ca" = 1 ]; then
        log "creating a local CA ($ca_name) in $where ..."
        (umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/ca.key") \
            >/dev/null 2>&1 || die "openssl genpkey ($ca_name key) failed"
        openssl req -new -x509 -config "$tmp/openssl.cnf" -extensions v3_ca -key "$tmp/ca.key" \
            -subj "/CN=$ca_name" -sha256 -days 3650 -out "$tmp/ca.pem" </dev/null \
            || die "openssl req ($ca_name certificate) failed"
    else
        cp "$ca" "$tmp/ca.pem"
        (umask 077 && cp "$ca_key" "$tmp/ca.key")
    fi
    log "creating $what certificate for $HOST/localhost in $where ..."
    (umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/cert.key") \
        >/dev/null 2>&1 || die "openssl genpkey ($what key) failed"
    openssl req -new -config "$tmp/openssl.cnf" -key "$tmp/cert.key" \
        -subj "/CN=localhost" -out "$tmp/cert.csr" </dev/null \
        || die "openssl req ($what CSR) failed"
    openssl x509 -req -in "$tmp/cert.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" -sha256 -days 825 \
        -extfile "$tmp/openssl.cnf" -extensions v3_server -out "$tmp/cert.pem" </dev/null >/dev/null 2>&1 \
        || die "openssl x509 (signing the $what certificate) failed"
    openssl verify -CAfile "$tmp/ca.pem" "$tmp/cert.pem" >/dev/null \
        || die "the new $what certificate does not verify against its CA"
}

# TLS material of the SASL_SSL listener, made once (and again when missing, broken or within 30
# days of expiry): a local CA and a broker certificate for 127.0.0.1/localhost signed by it.
# Kafka reads the broker's unencrypted PKCS#8 key followed by its certificate chain from one PEM
# file; clients trust ca.pem (VOX_TEST_KAFKA_SASL_CA). Only called before Kafka starts, so a running
# broker never has other material than the files.
ensure_kafka_tls() {
    local new_ca=0
    ensure_openssl
    mkdir -p "$KAFKA_TLS"
    if kafka_ca_ok && kafka_broker_cert_ok; then return 0; fi
    local tmp
    tmp="$(mktemp -d "$KAFKA_TLS/.new.XXXXXX")"
    kafka_ca_ok || new_ca=1
    local_ca_and_cert "$tmp" "$new_ca" "$KAFKA_CA" "$KAFKA_CA_KEY" "Vox local development CA" \
        "Kafka's broker" "$KAFKA_TLS"
    mv -f "$tmp/cert.key" "$tmp/broker.key"
    mv -f "$tmp/cert.pem" "$tmp/broker.pem"
    grep -q -- '-----BEGIN PRIVATE KEY-----' "$tmp/broker.key" \
        || die "openssl did not write an unencrypted PKCS#8 key (BEGIN PRIVATE KEY)"
    (umask 077 && cat "$tmp/broker.key" "$tmp/broker.pem" "$tmp/ca.pem" >"$tmp/broker-keystore.pem")
    chmod 644 "$tmp/ca.pem" "$tmp/broker.pem"
    # The keystore goes last: kafka_broker_cert_ok looks at it first.
    rm -f "$KAFKA_KEYSTORE"
    if [ "$new_ca" = 1 ]; then
        mv -f "$tmp/ca.key" "$KAFKA_CA_KEY"
        mv -f "$tmp/ca.pem" "$KAFKA_CA"
    fi
    mv -f "$tmp/broker.pem" "$KAFKA_BROKER_CERT"
    mv -f "$tmp/broker-keystore.pem" "$KAFKA_KEYSTORE"
    rm -rf "$tmp"
}

# Password of the SCRAM user, made once.
ensure_kafka_sasl_password() {
    [ -s "$KAFKA_SASL_PWFILE" ] && return 0
    ensure_openssl
    mkdir -p "$KAFKA_DIR"
    # Hex: nothing to escape in ConfigCommand's k=[...] syntax, JAAS strings or URLs.
    (umask 077 && openssl rand -hex 24 >"$KAFKA_SASL_PWFILE.tmp") || die "openssl rand failed"
    mv -f "$KAFKA_SASL_PWFILE.tmp" "$KAFKA_SASL_PWFILE"
}

# Client settings for the Kafka tools over SASL_SSL (kafka-run ... --command-config <this>).
write_kafka_sasl_client_config() {
    local pw
    pw="$(cat "$KAFKA_SASL_PWFILE")"
    mkdir -p "$KAFKA_CONF"
    (umask 077 && cat >"$KAFKA_SASL_CLIENT_CONF.tmp" <<EOF
# Generated by deploy/local/services.sh on every 'up': Kafka tools over the SASL_SSL listener,
#   kafka-run <tool> --bootstrap-server $KAFKA_SASL_BROKERS --command-config $KAFKA_SASL_CLIENT_CONF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$KAFKA_SASL_USER" password="$pw";
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_CA
request.timeout.ms=5000
default.api.timeout.ms=10000
EOF
    ) || die "cannot write $KAFKA_SASL_CLIENT_CONF"
    mv -f "$KAFKA_SASL_CLIENT_CONF.tmp" "$KAFKA_SASL_CLIENT_CONF"
}

# The SASL_SSL listener accepts user vox with the password in $KAFKA_SASL_PWFILE.
kafka_sasl_answers() {
    port_open "$KAFKA_SASL_PORT" && kafka_java org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "$KAFKA_SASL_BROKERS" --command-config "$KAFKA_SASL_CLIENT_CONF" \
        --list </dev/null >/dev/null 2>&1
}

# Create or refresh the SCRAM-SHA-512 credential of user vox (through the PLAINTEXT listener,
# so data formatted without --add-scram works too), unless the current password works already.
kafka_sasl_user() {
    ensure_kafka_sasl_password
    write_kafka_sasl_client_config
    if kafka_sasl_answers; then
        log "Kafka SASL_SSL listener on $KAFKA_SASL_BROKERS accepts user $KAFKA_SASL_USER"
        return 0
    fi
    log "setting the SCRAM-SHA-512 credential of Kafka user $KAFKA_SASL_USER ..."
    local out pw
    pw="$(cat "$KAFKA_SASL_PWFILE")"
    out="$(kafka_java org.apache.kafka.tools.ConfigCommand --bootstrap-server "$KAFKA_BROKERS" \
        --command-config "$KAFKA_CONF/tools-admin.properties" --alter \
        --add-config "SCRAM-SHA-512=[iterations=8192,password=$pw]" \
        --entity-type users --entity-name "$KAFKA_SASL_USER" </dev/null 2>&1)" \
        || { printf '%s\n' "$out" >&2; die "ConfigCommand could not set the SCRAM credential of $KAFKA_SASL_USER"; }
    local deadline=$((SECONDS + 30))
    until kafka_sasl_answers; do
        [ "$SECONDS" -lt "$deadline" ] \
            || die "user $KAFKA_SASL_USER cannot log in over SASL_SSL on $KAFKA_SASL_BROKERS; see $KAFKA_LOGS/server.log"
        sleep 1
    done
    log "Kafka SASL_SSL listener on $KAFKA_SASL_BROKERS accepts user $KAFKA_SASL_USER"
}

# Our running Kafka was started without a SASL_SSL listener on $KAFKA_SASL_PORT (by an older
# version of this script, or with another VOX_KAFKA_SASL_PORT).
kafka_lacks_sasl() {
    grep -q "^listeners=.*SASL_SSL://$HOST:$KAFKA_SASL_PORT," "$KAFKA_CONF/server.properties" 2>/dev/null \
        || return 0
    port_open "$KAFKA_PORT" && ! port_open "$KAFKA_SASL_PORT"
}

# Our running Kafka was started without the ACL authorizer and these super users (by an older
# version of this script): every principal could do everything there.
kafka_lacks_authorizer() {
    grep -qx "authorizer.class.name=$KAFKA_AUTHORIZER" "$KAFKA_CONF/server.properties" 2>/dev/null \
        && grep -qx "super.users=$KAFKA_SUPER_USERS" "$KAFKA_CONF/server.properties" 2>/dev/null \
        && grep -qx "allow.everyone.if.no.acl.found=false" "$KAFKA_CONF/server.properties" 2>/dev/null \
        && return 1
    return 0
}

kafka_up() {
    local pid
    if pid="$(kafka_pid)" && kafka_lacks_sasl; then
        log "Kafka (pid $pid) runs without a SASL_SSL listener on $KAFKA_SASL_BROKERS (started by an older services.sh or with another VOX_KAFKA_SASL_PORT); restarting it"
        kafka_down
    elif pid="$(kafka_pid)" && kafka_lacks_authorizer; then
        log "Kafka (pid $pid) runs without the ACL authorizer (started by an older services.sh); restarting it"
        kafka_down
    fi
    if pid="$(kafka_pid)"; then
        if port_open "$KAFKA_PORT"; then
            log "Kafka already running (pid $pid) on $KAFKA_BROKERS"
            kafka_sasl_user
            return 0
        fi
        log "Kafka process $pid exists but $KAFKA_BROKERS does not answer yet; waiting ..."
    elif port_open "$KAFKA_PORT"; then
        log "something already answers on $KAFKA_BROKERS (not started by this script); using it as Kafka"
        KAFKA_FOREIGN=1
        if port_open "$KAFKA_SASL_PORT"; then
            warn "the SCRAM user $KAFKA_SASL_USER is not managed on a Kafka that this script did not start; the SASL_SSL test needs it on $KAFKA_SASL_BROKERS (as a super user), and the least-privilege test an authorizer there"
        else
            warn "that Kafka has no SASL_SSL listener on $KAFKA_SASL_BROKERS, which the SASL_SSL test needs; stop it and rerun '$0 up' to get one"
        fi
        return 0
    else
        port_open "$KAFKA_CONTROLLER_PORT" \
            && die "port $HOST:$KAFKA_CONTROLLER_PORT (Kafka controller) is taken by another process; set VOX_KAFKA_CONTROLLER_PORT"
        port_open "$KAFKA_SASL_PORT" \
            && die "port $KAFKA_SASL_BROKERS (Kafka SASL_SSL) is taken by another process; set VOX_KAFKA_SASL_PORT"
        ensure_kafka_libs
        ensure_java_maven
        ensure_kafka_tls
        write_kafka_config
        format_kafka_storage
        log "starting Kafka $KAFKA_VERSION (KRaft) on $KAFKA_BROKERS ..."
        # shellcheck disable=SC2086  # KAFKA_HEAP is a list of JVM options
        setsid nohup "$JAVA" $KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
            -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
            -Dlog4j2.configurationFile="$KAFKA_CONF/log4j2.xml" -Dkafka.logs.dir="$KAFKA_LOGS" \
            -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONF/server.properties" \
            </dev/null >>"$KAFKA_LOGS/kafka.out" 2>&1 9>&- &
        pid=$!
        echo "$pid" >"$KAFKA_PID"
    fi
    local deadline=$((SECONDS + UP_TIMEOUT))
    until kafka_answers; do
        if ! alive "$pid"; then
            tail -n 30 "$KAFKA_LOGS/server.log" "$KAFKA_LOGS/kafka.out" >&2 2>/dev/null || true
            die "Kafka exited during startup; see $KAFKA_LOGS/server.log and $KAFKA_LOGS/kafka.out"
        fi
        [ "$SECONDS" -lt "$deadline" ] \
            || die "Kafka did not answer on $KAFKA_BROKERS within ${UP_TIMEOUT}s; see $KAFKA_LOGS/server.log and $KAFKA_LOGS/kafka.out"
        sleep 1
    done
    log "Kafka is up (pid $pid) on $KAFKA_BROKERS"
    kafka_sasl_user
}

kafka_down() {
    local pid i
    if ! pid="$(kafka_pid)"; then
        rm -f "$KAFKA_PID"
        if port_open "$KAFKA_PORT"; then
            log "Kafka: not started by this script, but something answers on $KAFKA_BROKERS (left alone)"
        else
            log "Kafka: not running"
        fi
        return 0
    fi
    log "stopping Kafka (pid $pid) ..."
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 120; i++)); do
        alive "$pid" || break
        sleep 0.5
    done
    if alive "$pid"; then
        warn "Kafka did not stop within 60s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.2; done
    fi
    rm -f "$KAFKA_PID"
    log "Kafka stopped"
}

# ----------------------------------------------------------- PostgreSQL ----

PG_BIN=""
if is_root; then PG_SUPER=postgres; else PG_SUPER="$(id -un)"; fi

# Run as the owner of the cluster: the `postgres` system user when we are root (postgres
# refuses to run as root), the current user otherwise.
as_pg() {
    if is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

find_pg_bin() {
    local v
    if [ -f "$PG_DATA/PG_VERSION" ]; then
        v="$(cat "$PG_DATA/PG_VERSION")"
        PG_BIN="/usr/lib/postgresql/$v/bin"
        [ -x "$PG_BIN/postgres" ] || { PG_BIN=""; return 1; }
        return 0
    fi
    local d
    PG_BIN=""
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
        if [ -x "$d/postgres" ]; then PG_BIN="$d"; fi
    done
    [ -n "$PG_BIN" ]
}

ensure_pg_installed() {
    find_pg_bin && return 0
    if [ -f "$PG_DATA/PG_VERSION" ]; then
        apt_install "postgresql-$(cat "$PG_DATA/PG_VERSION")"
    else
        apt_install postgresql
    fi
    # Debian's package creates and starts a default cluster ("main", port 5432): stop it so it
    # does not hold our port. Only clusters that the install just created are touched.
    if command -v pg_lsclusters >/dev/null 2>&1; then
        pg_lsclusters -h 2>/dev/null | while read -r ver name port status _; do
            if [ "$status" = online ]; then
                log "stopping Debian's default cluster $ver/$name (port $port) created by the install"
                pg_ctlcluster "$ver" "$name" stop </dev/null || true
            fi
        done
    fi
    find_pg_bin || die "no usable /usr/lib/postgresql/*/bin/postgres after apt-get install (an existing cluster in $PG_DATA needs its own major version, or remove $PG_DIR)"
}

# Our cluster's postmaster is alive (pg_ctl status would also count a zombie as running).
pg_running_ours() {
    [ -f "$PG_DATA/postmaster.pid" ] && alive "$(sed -n 1p "$PG_DATA/postmaster.pid" 2>/dev/null)"
}

pg_ready() { "${PG_BIN:-/usr/lib/postgresql/15/bin}/pg_isready" -q -h "$HOST" -p "$1" >/dev/null 2>&1; }

# Port our running cluster actually listens on (line 4 of postmaster.pid).
pg_running_port() { sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null; }

pg_prepare_dirs() {
    mkdir -p "$PG_DATA" "$PG_RUN" "$PG_LOGDIR"
    if is_root; then
        chown postgres:postgres "$PG_DIR" "$PG_DATA" "$PG_RUN" "$PG_LOGDIR"
        as_pg test -x "$PG_DIR" \
            || die "the postgres user cannot reach $PG_DIR; choose a VOX_LOCAL_DIR whose parents are world-searchable (not under /root)"
    fi
    chmod 700 "$PG_DATA"
    chmod 755 "$PG_RUN"
}

# The server certificate exists, is signed by our CA and is not about to expire.
pg_server_cert_ok() {
    [ -s "$PG_SERVER_CERT" ] && [ -s "$PG_SERVER_KEY" ] && cert_fresh "$PG_SERVER_CERT" \
        && openssl verify -CAfile "$PG_CA" "$PG_SERVER_CERT" >/dev/null 2>&1
}

# The CA in $PG_TLS is usable: certificate + matching key, not about to expire.
pg_ca_ok() {
    [ -s "$PG_CA" ] && [ -s "$PG_CA_KEY" ] && cert_fresh "$PG_CA" || return 1
    local a b
    a="$(openssl x509 -noout -pubkey -in "$PG_CA" 2>/dev/null)" || return 1
    b="$(openssl pkey -pubout -in "$PG_CA_KEY" 2>/dev/null)" || return 1
    [ -n "$a" ] && [ "$a" = "$b" ]
}

# TLS material of PostgreSQL, made once (and again when missing, broken or within 30 days of
# expiry), as for Kafka's SASL_SSL listener: a local CA of its own and a server certificate for
# 127.0.0.1/localhost signed by it. Clients verify with ca.pem (VOX_TEST_PG_CA; sslmode=verify-full).
# Returns 0 when it made new files (a running server must reload them), 1 when they were fine.
ensure_pg_tls() {
    ensure_openssl
    mkdir -p "$PG_TLS"
    chmod 755 "$PG_TLS"
    if pg_ca_ok && pg_server_cert_ok; then return 1; fi
    local tmp new_ca=0
    tmp="$(mktemp -d "$PG_TLS/.new.XXXXXX")"
    pg_ca_ok || new_ca=1
    local_ca_and_cert "$tmp" "$new_ca" "$PG_CA" "$PG_CA_KEY" "Vox local PostgreSQL CA" \
        "PostgreSQL's server" "$PG_TLS"
    mv -f "$tmp/cert.key" "$tmp/server.key"
    mv -f "$tmp/cert.pem" "$tmp/server.pem"
    chmod 644 "$tmp/ca.pem" "$tmp/server.pem"
    chmod 600 "$tmp/server.key"
    if is_root; then chown postgres:postgres "$tmp/server.key"; fi
    if [ "$new_ca" = 1 ]; then
        mv -f "$tmp/ca.key" "$PG_CA_KEY"
        mv -f "$tmp/ca.pem" "$PG_CA"
    fi
    mv -f "$tmp/server.key" "$PG_SERVER_KEY"
    mv -f "$tmp/server.pem" "$PG_SERVER_CERT"
    rm -rf "$tmp"
    return 0
}

# Writes vox-local.conf; returns 0 when its content changed.
pg_write_config() {
    if ! grep -q "^include_if_exists = 'vox-local.conf'" "$PG_DATA/postgresql.conf"; then
        printf "\n# Added by deploy/local/services.sh\ninclude_if_exists = 'vox-local.conf'\n" \
            | as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
    fi
    local fast=""
    if [ "${VOX_PG_DURABLE:-0}" != 1 ]; then
        fast="# Throwaway local/test cluster: trade crash safety for speed (VOX_PG_DURABLE=1 turns this off).
fsync = off
synchronous_commit = off
full_page_writes = off"
    fi
    local conf
    conf="# Generated by deploy/local/services.sh on every 'up'.
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = '$PG_RUN'
max_connections = 200
# TLS with the certificate from $PG_TLS (clients choose: sslmode=verify-full with
# sslrootcert=$PG_CA verifies it; the default, prefer, encrypts without verifying).
ssl = on
ssl_cert_file = '$PG_SERVER_CERT'
ssl_key_file = '$PG_SERVER_KEY'
ssl_min_protocol_version = 'TLSv1.2'
$fast"
    if [ -f "$PG_DATA/vox-local.conf" ] && [ "$(cat "$PG_DATA/vox-local.conf")" = "$conf" ]; then
        return 1
    fi
    printf '%s\n' "$conf" | as_pg tee "$PG_DATA/vox-local.conf" >/dev/null
    return 0
}

# Our running cluster serves TLS (ssl = on took effect).
pg_ssl_on() { [ "$(psql_admin -tAc 'SHOW ssl' 2>/dev/null)" = on ]; }

psql_admin() {
    as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_RUN" -p "$(pg_running_port)" \
        -U "$PG_SUPER" -d postgres "$@" </dev/null
}

# Role vox: the tests' administrator. CREATEDB for a database per test, CREATEROLE for the
# least-privilege test, which applies deploy/postgres/roles.sql (vox_migrate, vox_projector,
# vox_reader) as an administrator would. Not a superuser.
pg_ensure_role_db() {
    psql_admin -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vox') THEN
            CREATE ROLE vox LOGIN CREATEDB CREATEROLE PASSWORD 'vox';
        ELSE
            ALTER ROLE vox LOGIN CREATEDB CREATEROLE PASSWORD 'vox';
        END IF;
    END \$\$;" || die "could not create role vox (see $PG_LOG)"
    if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'vox'")" != 1 ]; then
        psql_admin -c 'CREATE DATABASE vox OWNER vox' || die "could not create database vox (see $PG_LOG)"
    fi
}

pg_up() {
    ensure_pg_installed
    if pg_running_ours; then
        local running; running="$(pg_running_port)"
        [ "$running" = "$PG_PORT" ] \
            || die "our PostgreSQL cluster is already running on port $running, not $PG_PORT; run '$0 down' first"
        local deadline=$((SECONDS + UP_TIMEOUT))
        until pg_ready "$PG_PORT"; do
            [ "$SECONDS" -lt "$deadline" ] || die "our PostgreSQL ($PG_DATA) is running but does not answer on $HOST:$PG_PORT; see $PG_LOG"
            sleep 1
        done
        log "PostgreSQL already running ($PG_DATA) on $HOST:$PG_PORT"
        # A cluster started by an older version of this script gets its TLS material and
        # configuration now: ssl and its files take effect on a reload.
        local changed=0 i
        if ensure_pg_tls; then changed=1; fi
        if pg_write_config; then changed=1; fi
        if [ "$changed" = 1 ] || ! pg_ssl_on; then
            log "reloading PostgreSQL's configuration (TLS) ..."
            as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" reload </dev/null >/dev/null \
                || die "pg_ctl reload failed; see $PG_LOG"
            for ((i = 0; i < 50; i++)); do pg_ssl_on && break; sleep 0.2; done
            pg_ssl_on || die "PostgreSQL does not serve TLS after a reload (see $PG_LOG)"
        fi
        pg_ensure_role_db
        return 0
    fi
    if pg_ready "$PG_PORT" || port_open "$PG_PORT"; then
        log "something already answers on $HOST:$PG_PORT (not started by this script); using it as PostgreSQL"
        PG_FOREIGN=1
        if ! PGPASSWORD=vox PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q "$DATABASE_URL" -c 'select 1' </dev/null >/dev/null 2>&1; then
            warn "cannot log in with $DATABASE_URL there: create role vox (password vox, LOGIN CREATEDB) and database vox, or stop that server and rerun '$0 up'"
        fi
        return 0
    fi
    pg_prepare_dirs
    # A postmaster killed a moment ago may linger as a zombie; postgres would take its pid
    # in postmaster.pid for a live server and refuse to start.
    local old i
    old="$(sed -n 1p "$PG_DATA/postmaster.pid" 2>/dev/null || true)"
    for ((i = 0; i < 60; i++)); do
        if [ -z "$old" ] || [ ! -e "/proc/$old" ] || alive "$old"; then break; fi
        sleep 0.5
    done
    if [ ! -f "$PG_DATA/PG_VERSION" ] || [ ! -f "$PG_DATA/postgresql.conf" ]; then
        log "initializing PostgreSQL cluster in $PG_DATA ($PG_BIN) ..."
        find "$PG_DATA" -mindepth 1 -delete
        as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_SUPER" --encoding=UTF8 --no-locale \
            --auth-local=peer --auth-host=scram-sha-256 </dev/null >"$PG_LOGDIR/initdb.log" 2>&1 \
            || { cat "$PG_LOGDIR/initdb.log" >&2; die "initdb failed"; }
    fi
    ensure_pg_tls || true
    pg_write_config || true
    log "starting PostgreSQL on $HOST:$PG_PORT ..."
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$UP_TIMEOUT" start \
            </dev/null >/dev/null 2>&1 9>&-; then
        tail -n 30 "$PG_LOG" >&2 2>/dev/null || true
        die "PostgreSQL did not start within ${UP_TIMEOUT}s; see $PG_LOG"
    fi
    local deadline=$((SECONDS + UP_TIMEOUT))
    until pg_ready "$PG_PORT"; do
        [ "$SECONDS" -lt "$deadline" ] || die "PostgreSQL does not answer on $HOST:$PG_PORT; see $PG_LOG"
        sleep 1
    done
    pg_ensure_role_db
    log "PostgreSQL is up on $HOST:$PG_PORT"
}

pg_down() {
    find_pg_bin || { log "PostgreSQL: not installed"; return 0; }
    if pg_running_ours; then
        log "stopping PostgreSQL ..."
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop </dev/null >/dev/null \
            || die "pg_ctl stop failed; see $PG_LOG"
        log "PostgreSQL stopped"
    elif pg_ready "$PG_PORT"; then
        log "PostgreSQL: not started by this script, but something answers on $HOST:$PG_PORT (left alone)"
    else
        log "PostgreSQL: not running"
    fi
}

# -------------------------------------------------------------- commands ----

print_env() {
    echo "export VOX_KAFKA_BROKERS=$KAFKA_BROKERS"
    echo "export VOX_DATABASE_URL=$DATABASE_URL"
    # One broker: topics cannot have 3 replicas. Vox refuses less unless told.
    echo "export VOX_KAFKA_REPLICATION_FACTOR=1"
    echo "export VOX_KAFKA_MIN_INSYNC_REPLICAS=1"
    echo "export VOX_KAFKA_ALLOW_UNSAFE_DURABILITY=true"
    # The SASL_SSL listener's settings exist once 'up' has made them.
    if [ -s "$KAFKA_SASL_PWFILE" ] && [ -s "$KAFKA_CA" ]; then
        echo "export VOX_TEST_KAFKA_SASL_BROKERS=$KAFKA_SASL_BROKERS"
        echo "export VOX_TEST_KAFKA_SASL_USERNAME=$KAFKA_SASL_USER"
        echo "export VOX_TEST_KAFKA_SASL_PASSWORD=$(cat "$KAFKA_SASL_PWFILE")"
        echo "export VOX_TEST_KAFKA_SASL_CA=$KAFKA_CA"
    fi
    # PostgreSQL's TLS: the CA that signed its certificate (sslmode=verify-full&sslrootcert=...).
    if [ -s "$PG_CA" ]; then
        echo "export VOX_TEST_PG_CA=$PG_CA"
    fi
}

cmd_up() {
    local t0=$SECONDS
    lock_state
    kafka_up
    pg_up
    log "ready in $((SECONDS - t0))s"
    local klog="logs: $KAFKA_LOGS/server.log (JVM output: $KAFKA_LOGS/kafka.out)" plog="log:  $PG_LOG"
    local slog="SASL_SSL, SCRAM-SHA-512 user $KAFKA_SASL_USER, CA $KAFKA_CA
                                    (tools: --command-config $KAFKA_SASL_CLIENT_CONF)"
    if [ "$KAFKA_FOREIGN" != 0 ]; then
        klog="(not managed by this script)"
        slog="(not managed by this script; the SASL_SSL test needs this listener with user $KAFKA_SASL_USER)"
    fi
    local ptls="TLS with CA $PG_CA (sslmode=verify-full&sslrootcert=<CA>)"
    if [ "$PG_FOREIGN" != 0 ]; then
        plog="(not managed by this script)"
        ptls="(TLS: whatever that server offers)"
    fi
    cat <<EOF

  Kafka       $KAFKA_BROKERS        $klog
  Kafka SASL  $KAFKA_SASL_BROKERS        $slog
  PostgreSQL  $HOST:$PG_PORT        $plog
                                    $ptls
  VOX_KAFKA_BROKERS=$KAFKA_BROKERS
  VOX_DATABASE_URL=$DATABASE_URL
  VOX_TEST_KAFKA_SASL_BROKERS=$KAFKA_SASL_BROKERS  (+ VOX_TEST_KAFKA_SASL_USERNAME, _PASSWORD, _CA)

  eval "\$($0 env)"      # export them all into your shell
  $0 down                # stop
EOF
}

cmd_down() {
    lock_state
    kafka_down
    pg_down
}

cmd_status() {
    local ok=0 pid
    if pid="$(kafka_pid)"; then
        if port_open "$KAFKA_PORT"; then
            log "Kafka: running (pid $pid) on $KAFKA_BROKERS"
        else
            log "Kafka: process $pid alive but $KAFKA_BROKERS not answering"; ok=1
        fi
        if port_open "$KAFKA_SASL_PORT"; then
            log "Kafka SASL_SSL: listening on $KAFKA_SASL_BROKERS"
        else
            log "Kafka SASL_SSL: $KAFKA_SASL_BROKERS not answering (run '$0 up')"; ok=1
        fi
    elif port_open "$KAFKA_PORT"; then
        log "Kafka: answering on $KAFKA_BROKERS (not started by this script)"
        port_open "$KAFKA_SASL_PORT" || log "Kafka SASL_SSL: nothing answers on $KAFKA_SASL_BROKERS"
    else
        log "Kafka: down"; ok=1
    fi
    find_pg_bin || true
    if pg_running_ours; then
        if pg_ready "$PG_PORT"; then
            log "PostgreSQL: running ($PG_DATA) on $HOST:$PG_PORT"
        else
            log "PostgreSQL: running ($PG_DATA) but $HOST:$PG_PORT not answering"; ok=1
        fi
    elif port_open "$PG_PORT"; then
        log "PostgreSQL: answering on $HOST:$PG_PORT (not started by this script)"
    else
        log "PostgreSQL: down"; ok=1
    fi
    log "state: $STATE   logs: $KAFKA_LOGS/server.log  $PG_LOG"
    return "$ok"
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) print_env ;;
    kafka-run)
        shift
        [ $# -ge 1 ] || die "usage: $0 kafka-run <main-class> [args...]"
        [ -f "$KAFKA_MARKER" ] || die "Kafka jars not fetched yet; run '$0 up' first"
        [ -f "$KAFKA_CONF/tools-log4j2.xml" ] || write_kafka_config
        kafka_java "$@"
        ;;
    psql)
        shift
        find_pg_bin || die "PostgreSQL is not installed; run '$0 up' first"
        PGPASSWORD=vox exec "$PG_BIN/psql" "$DATABASE_URL" "$@"
        ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
esac
