//! Test environments on the real services: a unique topic namespace per test
//! on the Kafka broker, a fresh database per test on the PostgreSQL server.
//! A test that needs a service that is not reachable fails with a message
//! saying how to start it; it never passes by skipping.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use sqlx::Connection;

const DEFAULT_KAFKA: &str = "127.0.0.1:9092";
const DEFAULT_DATABASE: &str = "postgres://vox:vox@127.0.0.1:5432/vox";

fn require_reachable(service: &str, addr: &str, variable: &str) {
    let reachable = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    assert!(
        reachable,
        "{service} is not reachable at {addr} ({variable}). Start the local services with \
         `deploy/local/services.sh up` (or run the whole suite with `deploy/local/test.sh`). \
         Tests that need {service} fail rather than skip."
    );
}

/// The broker list of the test Kafka cluster; fails the test if it is down.
pub fn kafka_brokers() -> String {
    let brokers = std::env::var("VOX_KAFKA_BROKERS").unwrap_or_else(|_| DEFAULT_KAFKA.to_owned());
    let first = brokers.split(',').next().unwrap_or_default().to_owned();
    require_reachable("Kafka", &first, "VOX_KAFKA_BROKERS");
    brokers
}

/// The local broker's SASL_SSL listener and its SCRAM credentials.
pub struct KafkaSaslSsl {
    pub brokers: String,
    pub username: String,
    pub password: String,
    pub ca_file: String,
}

/// The SASL_SSL listener of the test Kafka cluster (from `VOX_TEST_KAFKA_SASL_*`,
/// which `deploy/local/services.sh env` prints); fails the test if it is not
/// configured or not reachable.
pub fn kafka_sasl_ssl() -> KafkaSaslSsl {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: the SASL_SSL test needs the local broker's SASL_SSL listener. Run \
                 `eval \"$(deploy/local/services.sh env)\"` after `deploy/local/services.sh up` (or run \
                 the whole suite with `deploy/local/test.sh`)"
            )
        })
    };
    let brokers = var("VOX_TEST_KAFKA_SASL_BROKERS");
    require_reachable(
        "Kafka (SASL_SSL)",
        brokers.split(',').next().unwrap_or_default(),
        "VOX_TEST_KAFKA_SASL_BROKERS",
    );
    KafkaSaslSsl {
        brokers,
        username: var("VOX_TEST_KAFKA_SASL_USERNAME"),
        password: var("VOX_TEST_KAFKA_SASL_PASSWORD"),
        ca_file: var("VOX_TEST_KAFKA_SASL_CA"),
    }
}

impl KafkaSaslSsl {
    /// Client properties of the Kafka tools (`--command-config`) for this
    /// listener's user, a super user of the local broker: what
    /// `deploy/kafka/acls.sh` needs as its administrator.
    pub fn admin_properties(&self) -> String {
        let KafkaSaslSsl {
            username,
            password,
            ca_file,
            ..
        } = self;
        format!(
            "security.protocol=SASL_SSL\n\
             sasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
             username=\"{username}\" password=\"{password}\";\n\
             ssl.truststore.type=PEM\n\
             ssl.truststore.location={ca_file}\n\
             request.timeout.ms=10000\n\
             default.api.timeout.ms=20000\n"
        )
    }
}

/// The CA that signed the test PostgreSQL server's certificate (from
/// `VOX_TEST_PG_CA`, which `deploy/local/services.sh env` prints), for
/// `sslmode=verify-full&sslrootcert=<it>`; fails the test if it is not set.
pub fn pg_ca() -> String {
    std::env::var("VOX_TEST_PG_CA").unwrap_or_else(|_| {
        panic!(
            "VOX_TEST_PG_CA is not set: the PostgreSQL TLS test needs the CA of the local server's \
             certificate. Run `eval \"$(deploy/local/services.sh env)\"` after `deploy/local/services.sh up` \
             (or run the whole suite with `deploy/local/test.sh`)"
        )
    })
}

/// A topic namespace no other test uses, e.g. `t3f9c1d2.`.
pub fn namespace() -> String {
    format!("t{}.", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A database created for one test on the test PostgreSQL server.
pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates a fresh, empty database; fails the test if PostgreSQL is down.
    pub async fn create() -> TestDatabase {
        let admin_url = std::env::var("VOX_DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE.to_owned());
        let host_port = admin_url
            .rsplit('@')
            .next()
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("127.0.0.1:5432")
            .to_owned();
        require_reachable("PostgreSQL", &host_port, "VOX_DATABASE_URL");
        let name = format!("vox_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {host_port}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin_url);
        TestDatabase {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of this database for another role: `user` with `password`.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("postgres", &self.url));
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        format!("{scheme}://{user}:{password}@{host}")
    }

    /// Drops the database (call at the end of a test; a failed test leaves
    /// it behind for inspection).
    pub async fn drop_now(self) {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                .execute(&mut admin)
                .await;
        }
    }
}
