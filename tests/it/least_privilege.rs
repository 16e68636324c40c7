//! Least privilege on the real services. Kafka: the SCRAM users and ACLs of
//! `deploy/kafka/acls.sh`, applied to the local broker's SASL_SSL listener
//! (which enforces ACLs), let each role run as its own principal and do no
//! more. PostgreSQL: the roles of `deploy/postgres/roles.sql` (owner,
//! projector, reader with row-level security), and TLS with a verified
//! server certificate.
//!
//! These tests need the services that `deploy/local/services.sh` starts and
//! its `env`; without them they fail, they never skip.

use std::path::Path;
use std::time::{Duration, Instant};

use eventlog::{KafkaLog, KafkaSecurity, KafkaSettings, Log};
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use schemas::Topic;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};
use store::{FeedbackRow, OffsetMove, Projection, RejectionRow, Store};

use crate::helpers;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/feedback.ndjson");

// ------------------------------------------------------------------ Kafka ----

/// One role's SCRAM user, as `acls.sh` made it.
#[derive(Clone)]
struct Principal {
    user: String,
    password: String,
    brokers: String,
    ca_file: String,
}

impl Principal {
    fn security(&self) -> KafkaSecurity {
        KafkaSecurity {
            protocol: Some("sasl_ssl".into()),
            sasl_mechanism: Some("SCRAM-SHA-512".into()),
            sasl_username: Some(self.user.clone()),
            sasl_password: Some(auth::Secret::new(self.password.clone())),
            ca_file: Some(self.ca_file.clone().into()),
        }
    }

    /// The settings the `vox` binary gives this principal's log (retention
    /// its defaults); `correct_retention` only for `vox topics ensure`.
    fn settings(&self, namespace: &str, correct_retention: bool) -> KafkaSettings {
        let mut settings = KafkaSettings::single_broker(self.brokers.clone());
        settings.timeout = Duration::from_secs(20);
        settings.security = self.security();
        settings.retention = retention(namespace);
        settings.correct_retention = correct_retention;
        settings
    }

    fn log(&self, settings: KafkaSettings) -> Log {
        Log::Kafka(KafkaLog::connect(settings).expect("a Kafka client"))
    }

    /// A plain rdkafka client of this principal.
    fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("security.protocol", "SASL_SSL")
            .set("sasl.mechanism", "SCRAM-SHA-512")
            .set("sasl.username", &self.user)
            .set("sasl.password", &self.password)
            .set("ssl.ca.location", &self.ca_file);
        c
    }
}

/// The users and ACLs of `deploy/kafka/acls.sh` for one topic namespace
/// (its users are named after it too); removed again when dropped.
struct Acls {
    namespace: String,
    sasl: testenv::KafkaSaslSsl,
    dir: tempfile::TempDir,
}

impl Acls {
    async fn apply(namespace: &str) -> Acls {
        let sasl = testenv::kafka_sasl_ssl();
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("admin.properties"), sasl.admin_properties()).expect("admin properties");
        let acls = Acls {
            namespace: namespace.to_owned(),
            sasl,
            dir,
        };
        let output = tokio::task::block_in_place(|| acls.script(&[]));
        assert!(
            output.status.success(),
            "deploy/kafka/acls.sh failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        acls
    }

    fn script(&self, extra: &[&str]) -> std::process::Output {
        let properties = self.dir.path().join("admin.properties");
        let passwords = self.dir.path().join("passwords");
        std::process::Command::new(Path::new(ROOT).join("deploy/kafka/acls.sh"))
            .arg("--bootstrap-server")
            .arg(&self.sasl.brokers)
            .arg("--command-config")
            .arg(&properties)
            .arg("--password-dir")
            .arg(&passwords)
            .arg("--namespace")
            .arg(&self.namespace)
            .args(extra)
            // The tools of the local broker, whatever the caller's environment says.
            .env_remove("KAFKA_BIN")
            .env_remove("VOX_KAFKA_USER_PREFIX")
            .output()
            .expect("deploy/kafka/acls.sh runs")
    }

    /// `role`: ingest, processor, projector or admin.
    fn principal(&self, role: &str) -> Principal {
        let user = format!("{}vox-{role}", self.namespace);
        let password = std::fs::read_to_string(self.dir.path().join("passwords").join(&user))
            .unwrap_or_else(|e| panic!("acls.sh wrote no password for {user}: {e}"))
            .trim()
            .to_owned();
        Principal {
            user,
            password,
            brokers: self.sasl.brokers.clone(),
            ca_file: self.sasl.ca_file.clone(),
        }
    }
}

impl Drop for Acls {
    fn drop(&mut self) {
        // Best effort: the broker should not collect the users and ACLs of every test run.
        let _ = self.script(&["--delete"]);
    }
}

fn authorization_failure(code: Option<RDKafkaErrorCode>) -> bool {
    matches!(
        code,
        Some(
            RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::GroupAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
        )
    )
}

/// What a principal tries on the broker.
#[derive(Debug, Clone)]
enum Try {
    /// Produce one record (a plain producer: only the topic's Write ACL counts).
    Produce(String),
    /// Read partition 0 from its beginning (its metadata, then to a record or its end).
    Read(String),
    /// Join a consumer group, subscribed to a topic the principal may read.
    JoinGroup { group: String, topic: String },
    /// `init_transactions` with a transactional id.
    Transactions(String),
    /// Create a topic (Kafka checks Create before whether it exists).
    CreateTopic(String),
    /// Read a topic's configs.
    DescribeConfigs(String),
    /// Set one config of a topic (AlterConfigs, which replaces its other
    /// dynamic configs: only on topics nothing else checks afterwards).
    AlterConfig { topic: String, key: String, value: String },
}

impl Try {
    /// Ok if the broker allowed it, else the error code (an authorization
    /// failure, or whatever else went wrong).
    async fn run(self, who: Principal) -> Result<(), Option<RDKafkaErrorCode>> {
        let timeout = Duration::from_secs(15);
        match self {
            Try::Produce(topic) => {
                let producer: FutureProducer = who
                    .client()
                    .set("enable.idempotence", "false")
                    .set("acks", "all")
                    .set("message.timeout.ms", "15000")
                    .create()
                    .map_err(|e| e.rdkafka_error_code())?;
                producer
                    .send(
                        FutureRecord::to(&topic).key("least-privilege").payload("not an event"),
                        timeout,
                    )
                    .await
                    .map(|_| ())
                    .map_err(|(e, _)| e.rdkafka_error_code())
            }
            Try::Read(topic) => tokio::task::spawn_blocking(move || {
                let consumer: BaseConsumer = who
                    .client()
                    // Vox's readers use this group id (never committed); every principal may describe it.
                    .set("group.id", "vox-reader")
                    .set("enable.auto.commit", "false")
                    .set("enable.partition.eof", "true")
                    .set("isolation.level", "read_committed")
                    .create()
                    .map_err(|e| e.rdkafka_error_code())?;
                // As Vox's readers do: the topic's partitions first. A topic the principal may
                // not even describe answers with an error here (a fetch would just wait).
                let metadata = consumer
                    .fetch_metadata(Some(&topic), timeout)
                    .map_err(|e| e.rdkafka_error_code())?;
                if let Some(e) = metadata.topics().iter().find_map(|t| t.error()) {
                    return Err(Some(e.into()));
                }
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(&topic, 0, Offset::Beginning)
                    .map_err(|e| e.rdkafka_error_code())?;
                consumer.assign(&tpl).map_err(|e| e.rdkafka_error_code())?;
                poll_until_settled(&consumer, timeout)
            })
            .await
            .expect("no panic"),
            Try::JoinGroup { group, topic } => tokio::task::spawn_blocking(move || {
                let consumer: BaseConsumer = who
                    .client()
                    .set("group.id", &group)
                    .set("enable.auto.commit", "false")
                    .set("enable.partition.eof", "true")
                    .set("auto.offset.reset", "earliest")
                    .create()
                    .map_err(|e| e.rdkafka_error_code())?;
                consumer.subscribe(&[&topic]).map_err(|e| e.rdkafka_error_code())?;
                poll_until_settled(&consumer, timeout)
            })
            .await
            .expect("no panic"),
            Try::Transactions(id) => tokio::task::spawn_blocking(move || {
                let producer: BaseProducer = who
                    .client()
                    .set("transactional.id", &id)
                    .create()
                    .map_err(|e| e.rdkafka_error_code())?;
                producer.init_transactions(timeout).map_err(|e| e.rdkafka_error_code())
            })
            .await
            .expect("no panic"),
            Try::CreateTopic(topic) => {
                let admin: AdminClient<DefaultClientContext> =
                    who.client().create().map_err(|e| e.rdkafka_error_code())?;
                let options = AdminOptions::new().request_timeout(Some(timeout));
                let new = NewTopic::new(&topic, 1, TopicReplication::Fixed(1));
                let results = admin
                    .create_topics([&new], &options)
                    .await
                    .map_err(|e| e.rdkafka_error_code())?;
                match results.into_iter().next() {
                    Some(Ok(_)) => Ok(()),
                    Some(Err((_, code))) => Err(Some(code)),
                    None => Err(None),
                }
            }
            Try::DescribeConfigs(topic) => {
                let admin: AdminClient<DefaultClientContext> =
                    who.client().create().map_err(|e| e.rdkafka_error_code())?;
                let options = AdminOptions::new().request_timeout(Some(timeout));
                let results = admin
                    .describe_configs([&ResourceSpecifier::Topic(&topic)], &options)
                    .await
                    .map_err(|e| e.rdkafka_error_code())?;
                match results.into_iter().next() {
                    // rust-rdkafka drops the error of a refused description:
                    // it comes back without entries (a topic has dozens).
                    Some(Ok(config)) if config.entries.is_empty() => {
                        Err(Some(RDKafkaErrorCode::TopicAuthorizationFailed))
                    }
                    Some(Ok(_)) => Ok(()),
                    Some(Err(code)) => Err(Some(code)),
                    None => Err(None),
                }
            }
            Try::AlterConfig { topic, key, value } => {
                let admin: AdminClient<DefaultClientContext> =
                    who.client().create().map_err(|e| e.rdkafka_error_code())?;
                let options = AdminOptions::new().request_timeout(Some(timeout));
                let alter = AlterConfig::new(ResourceSpecifier::Topic(&topic)).set(&key, &value);
                admin
                    .alter_configs([&alter], &options)
                    .await
                    .map_err(|e| e.rdkafka_error_code())?;
                // rust-rdkafka drops AlterConfigs' per-topic errors (a refused
                // alteration looks done): the superuser reads the config back.
                // An allowed one shows within moments; a refused one never.
                let superuser: AdminClient<DefaultClientContext> = ClientConfig::new()
                    .set("bootstrap.servers", testenv::kafka_brokers())
                    .create()
                    .expect("a superuser's admin client");
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline {
                    let described = superuser
                        .describe_configs([&ResourceSpecifier::Topic(&topic)], &AdminOptions::new())
                        .await
                        .expect("the superuser reads the topic's configs");
                    let now = described
                        .into_iter()
                        .next()
                        .and_then(|c| c.ok())
                        .and_then(|c| c.get(&key).and_then(|e| e.value.clone()));
                    if now.as_deref() == Some(value.as_str()) {
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(Some(RDKafkaErrorCode::TopicAuthorizationFailed))
            }
        }
    }
}

/// Polls until a record, the end of a partition (allowed) or an error.
fn poll_until_settled(consumer: &BaseConsumer, timeout: Duration) -> Result<(), Option<RDKafkaErrorCode>> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(_)) | Some(Err(KafkaError::PartitionEOF(_))) => return Ok(()),
            Some(Err(e)) => return Err(e.rdkafka_error_code()),
        }
    }
    Err(Some(RDKafkaErrorCode::OperationTimedOut))
}

/// The retention the `vox` binary gives the roles (its defaults).
fn retention(namespace: &str) -> eventlog::Retention {
    eventlog::Retention::from([
        (Topic::FeedbackRaw.name(namespace), Duration::from_secs(7 * 86_400)),
        (
            Topic::FeedbackRejected.name(namespace),
            Duration::from_secs(30 * 86_400),
        ),
    ])
}

/// A whole node runs with one principal per role (ingest, processor,
/// projector as library functions, the admin commands) over SASL_SSL and
/// pushes a batch through to the read model; then each principal tries what
/// its row of the ACL table allows and what it does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_roles_run_with_their_own_acls_and_no_more() {
    let ns = testenv::namespace();
    let acls = Acls::apply(&ns).await;
    let [ingest_p, api_p, processor_p, projector_p, admin_p] =
        ["ingest", "api", "processor", "projector", "admin"].map(|role| acls.principal(role));
    let topic = |t: Topic| t.name(&ns);

    let all_topics: Vec<String> = Topic::ALL.iter().map(|t| topic(*t)).collect();

    // Before `vox topics ensure`, a role may not create its topics: it
    // says so, naming the topics it uses and what to run.
    let early = ingest_p
        .log(ingest_p.settings(&ns, false))
        .ensure_topics(&all_topics)
        .await
        .expect_err("vox-ingest may not create topics");
    let message = early.to_string();
    for t in [Topic::FeedbackRaw, Topic::Config, Topic::Audit] {
        assert!(message.contains(&format!("'{}'", topic(t))), "{message}");
    }
    assert!(
        message.contains("vox topics ensure") && message.contains(&ingest_p.user),
        "{message}"
    );
    assert!(
        !message.contains(&topic(Topic::FeedbackProcessed)),
        "a topic ingest may not even describe is not its concern: {message}"
    );

    // The raw topic as an older Vox left it: kept for ever.
    let superuser: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", testenv::kafka_brokers())
        .create()
        .expect("a superuser's admin client");
    let old_raw = NewTopic::new(&all_topics[0], 3, TopicReplication::Fixed(1)).set("retention.ms", "-1");
    superuser
        .create_topics([&old_raw], &AdminOptions::new())
        .await
        .expect("create")[0]
        .as_ref()
        .expect("the raw topic is created");

    // `vox topics ensure` as vox-admin: creates the other topics and sets
    // the raw topic's retention (Create, DescribeConfigs, AlterConfigs).
    let topics_admin = KafkaLog::connect(admin_p.settings(&ns, true)).expect("a Kafka client");
    let report = topics_admin
        .ensure_topics_reporting(&all_topics)
        .await
        .expect("vox-admin ensures the topics");
    assert_eq!(report.created, all_topics[1..], "{report:?}");
    assert_eq!(
        report
            .corrected
            .iter()
            .map(|c| (c.topic.as_str(), c.from, c.to.as_str()))
            .collect::<Vec<_>>(),
        [(all_topics[0].as_str(), Some(-1), "604800000")],
        "{report:?}"
    );
    assert!(
        report.existing.is_empty() && report.retention_unchecked.is_empty() && report.not_visible.is_empty(),
        "{report:?}"
    );
    let again = topics_admin
        .ensure_topics_reporting(&all_topics)
        .await
        .expect("vox-admin ensures the topics again");
    assert_eq!(again.existing, all_topics, "nothing left to do: {again:?}");
    assert!(again.created.is_empty() && again.corrected.is_empty(), "{again:?}");

    // The admin CLI's other commands as vox-admin (they change no topic).
    let admin_log = admin_p.log(admin_p.settings(&ns, false));
    let acme = helpers::tenant("acme");
    vox::admin::create_tenant(&admin_log, &ns, &acme, "Acme Oy", &helpers::region("eu"))
        .await
        .expect("vox-admin creates a tenant");
    for c in ["nps-2026", "support"] {
        vox::admin::create_collection(&admin_log, &ns, &acme, &helpers::collection(c), c)
            .await
            .expect("vox-admin creates a collection");
    }
    let kek = auth::Kek::generate();
    let issued = vox::admin::create_client(&admin_log, &ns, &kek, &acme, "crm", &[])
        .await
        .expect("vox-admin issues a credential");

    // The four roles, each with its own principal, without Create: the
    // topics exist.
    let dir = tempfile::tempdir().expect("temp dir");
    let local = vox::serve::local_listeners(&dir.path().join("tls"))
        .await
        .expect("listeners");
    let db = testenv::TestDatabase::create().await;
    let store = Store::connect_postgres(&db.url).await.expect("postgres");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop = || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        }
    };
    let role_settings = |p: &Principal| p.settings(&ns, false);
    let mut ingest_settings = ingest::IngestSettings::new(helpers::region("eu"), ns.clone(), kek.clone());
    ingest_settings.audit_interval = Duration::from_millis(200);
    let ingest_log = ingest_p.log(role_settings(&ingest_p));
    let ingest = tokio::spawn(ingest::run(
        local.listeners.ingest,
        local.tls.clone(),
        ingest_log,
        ingest_settings,
        stop(),
    ));
    let mut api_settings = api::ApiSettings::new(helpers::region("eu"), ns.clone(), kek.clone());
    api_settings.bcrypt_cost = login::password::MIN_COST;
    let api_ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let people_api = tokio::spawn(api::run(
        https::Listeners {
            public: local.listeners.api,
            ops: None,
        },
        local.tls,
        api_p.log(role_settings(&api_p)),
        store.clone(),
        api_settings,
        api_ready.clone(),
        stop(),
    ));
    let mut processor_kafka = role_settings(&processor_p);
    processor_kafka.instance_id = "least-privilege".into();
    let processor = tokio::spawn(processor::run(
        processor_p.log(processor_kafka),
        processor::ProcessorSettings::new(helpers::region("eu"), ns.clone()),
        stop(),
    ));
    let projector = tokio::spawn(projector::run(
        projector_p.log(role_settings(&projector_p)),
        store.clone(),
        projector::ProjectorSettings::new(ns.clone()),
        stop(),
    ));

    let items = vox::push::read_items(Path::new(EXAMPLES)).expect("examples");
    let options = vox::push::PushOptions {
        url: local.url.clone(),
        ca_cert: Some(local.ca_cert.clone()),
        client_id: issued.client_id.clone(),
        client_secret: vox::settings::Secret::new(issued.secret.expose()),
        batch_size: 500,
        gzip: false,
        atomic: false,
    };
    // Ingest is ready once its listener answers; until then a push fails to connect.
    let deadline = Instant::now() + Duration::from_secs(60);
    let summary = loop {
        let mut out = Vec::new();
        match vox::push::push(&options, &items, &mut out).await {
            Ok(summary) => break summary,
            Err(e) => {
                if ingest.is_finished() {
                    panic!("ingest stopped: {:?}", ingest.await);
                }
                assert!(Instant::now() < deadline, "ingest never accepted the batch: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!((summary.accepted, summary.rejected), (items.len(), 0));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if ingest.is_finished() {
            panic!("ingest stopped: {:?}", ingest.await);
        }
        if processor.is_finished() {
            panic!("the processor stopped: {:?}", processor.await);
        }
        if projector.is_finished() {
            panic!("the projector stopped: {:?}", projector.await);
        }
        if people_api.is_finished() {
            panic!("the people API stopped: {:?}", people_api.await);
        }
        let stored = store.count_feedback("acme").await.expect("count");
        if stored == items.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {stored} of {} items reached the read model",
            items.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A person's way through the people API, which writes vox.config and
    // vox.audit as vox-api: the operator (vox-admin) invites an owner, who
    // accepts, logs in and invites an analyst over the API.
    people_through_the_api(&admin_log, &ns, &local.api_url, &local.ca_cert, &api_ready).await;
    let _ = stop_tx.send(true);
    ingest.await.expect("no panic").expect("ingest ran as vox-ingest");
    people_api
        .await
        .expect("no panic")
        .expect("the people API ran as vox-api");
    processor
        .await
        .expect("no panic")
        .expect("processor ran as vox-processor");
    projector
        .await
        .expect("no panic")
        .expect("projector ran as vox-projector");
    db.drop_now().await;

    // vox-admin set the raw topic's retention; the roles changed nothing.
    let admin: AdminClient<DefaultClientContext> = admin_p.client().create().expect("admin client");
    let raw = topic(Topic::FeedbackRaw);
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(&raw)], &AdminOptions::new())
        .await
        .expect("vox-admin describes the topics' configs");
    let config = described[0].as_ref().expect("the raw topic's config");
    assert_eq!(
        config.get("retention.ms").and_then(|e| e.value.clone()).as_deref(),
        Some("604800000"),
        "vox-admin set the raw topic's retention"
    );

    // Each row of the ACL table, and what is beyond it.
    let other_group = format!("{ns}not-vox-processor");
    let allowed = |who: &Principal, what: Try| (who.clone(), what, true);
    let denied = |who: &Principal, what: Try| (who.clone(), what, false);
    let alter = |t: Topic, key: &str, value: &str| Try::AlterConfig {
        topic: topic(t),
        key: key.to_owned(),
        value: value.to_owned(),
    };
    let mut checks = vec![
        allowed(&ingest_p, Try::Produce(topic(Topic::FeedbackRaw))),
        allowed(&ingest_p, Try::Produce(topic(Topic::Audit))),
        allowed(&ingest_p, Try::Read(topic(Topic::Config))),
        denied(&ingest_p, Try::Produce(topic(Topic::Config))),
        denied(&ingest_p, Try::Produce(topic(Topic::FeedbackProcessed))),
        denied(&ingest_p, Try::Produce(topic(Topic::FeedbackRejected))),
        denied(&ingest_p, Try::Read(topic(Topic::FeedbackRaw))),
        denied(&ingest_p, Try::Read(topic(Topic::Audit))),
        denied(&ingest_p, Try::CreateTopic(format!("{ns}vox.other"))),
        // Whoever compromises ingest must not be able to wipe the
        // configuration or the audit trail (retention.ms=1), nor make topics.
        denied(&ingest_p, Try::CreateTopic(topic(Topic::FeedbackRaw))),
        denied(&ingest_p, Try::CreateTopic(topic(Topic::Config))),
        denied(&ingest_p, Try::DescribeConfigs(topic(Topic::Config))),
        denied(&ingest_p, alter(Topic::Config, "retention.ms", "1")),
        denied(&ingest_p, alter(Topic::Audit, "retention.ms", "1")),
        denied(&ingest_p, alter(Topic::FeedbackRaw, "retention.ms", "1")),
        allowed(&processor_p, Try::Read(topic(Topic::FeedbackRaw))),
        allowed(&processor_p, Try::Read(topic(Topic::Config))),
        allowed(
            &processor_p,
            Try::Transactions(format!("{ns}vox-processor.another-instance")),
        ),
        denied(&processor_p, Try::Read(topic(Topic::Audit))),
        denied(&processor_p, Try::CreateTopic(format!("{ns}vox.other"))),
        denied(&processor_p, Try::CreateTopic(topic(Topic::Audit))),
        denied(&processor_p, Try::CreateTopic(topic(Topic::FeedbackProcessed))),
        denied(&processor_p, alter(Topic::FeedbackRejected, "retention.ms", "1")),
        denied(&processor_p, Try::Read(topic(Topic::FeedbackProcessed))),
        denied(&processor_p, Try::Produce(topic(Topic::FeedbackRaw))),
        denied(&processor_p, Try::Produce(topic(Topic::Config))),
        denied(&processor_p, Try::Produce(topic(Topic::Audit))),
        denied(
            &processor_p,
            Try::Transactions(format!("vox-writer.{}", topic(Topic::Config))),
        ),
        denied(
            &processor_p,
            Try::JoinGroup {
                group: other_group.clone(),
                topic: topic(Topic::FeedbackRaw),
            },
        ),
        allowed(&projector_p, Try::Read(topic(Topic::FeedbackProcessed))),
        allowed(&projector_p, Try::Read(topic(Topic::FeedbackRejected))),
        denied(&projector_p, Try::Read(topic(Topic::FeedbackRaw))),
        denied(&projector_p, Try::Read(topic(Topic::Config))),
        denied(&projector_p, Try::CreateTopic(topic(Topic::FeedbackProcessed))),
        denied(
            &projector_p,
            Try::JoinGroup {
                group: format!("{ns}vox-processor"),
                topic: topic(Topic::FeedbackProcessed),
            },
        ),
        allowed(&admin_p, Try::Read(topic(Topic::Config))),
        allowed(
            &admin_p,
            Try::Transactions(format!("vox-writer.{}", topic(Topic::Config))),
        ),
        allowed(&admin_p, Try::DescribeConfigs(topic(Topic::Audit))),
        // The operator's people commands (`vox user invite` …) put their
        // audit record on vox.audit.
        allowed(&admin_p, Try::Produce(topic(Topic::Audit))),
        // A config nothing reads (AlterConfigs resets the topic's others).
        allowed(
            &admin_p,
            alter(Topic::FeedbackProcessed, "max.message.bytes", "1000123"),
        ),
        denied(&admin_p, Try::CreateTopic(format!("{ns}vox.other"))),
        denied(&admin_p, Try::Produce(topic(Topic::FeedbackRaw))),
        denied(&admin_p, Try::Read(topic(Topic::FeedbackRaw))),
        denied(&admin_p, Try::Read(topic(Topic::FeedbackProcessed))),
        denied(&admin_p, Try::Transactions(format!("{ns}vox-processor.0"))),
        // The people API faces the internet like ingest: configuration
        // and audit records, nothing of the feedback, no topic admin.
        allowed(&api_p, Try::Produce(topic(Topic::Config))),
        allowed(&api_p, Try::Produce(topic(Topic::Audit))),
        allowed(&api_p, Try::Read(topic(Topic::Config))),
        allowed(
            &api_p,
            Try::Transactions(format!("vox-writer.{}", topic(Topic::Config))),
        ),
        denied(&api_p, Try::Produce(topic(Topic::FeedbackRaw))),
        denied(&api_p, Try::Produce(topic(Topic::FeedbackProcessed))),
        denied(&api_p, Try::Read(topic(Topic::FeedbackRaw))),
        denied(&api_p, Try::Read(topic(Topic::FeedbackProcessed))),
        denied(&api_p, Try::Read(topic(Topic::Audit))),
        denied(&api_p, Try::CreateTopic(format!("{ns}vox.other"))),
        denied(&api_p, Try::CreateTopic(topic(Topic::Config))),
        denied(&api_p, Try::DescribeConfigs(topic(Topic::Config))),
        denied(&api_p, alter(Topic::Audit, "retention.ms", "1")),
        denied(&api_p, Try::Transactions(format!("{ns}vox-processor.0"))),
        denied(
            &api_p,
            Try::JoinGroup {
                group: format!("{ns}vox-processor"),
                topic: topic(Topic::Config),
            },
        ),
    ];
    // The projector writes nothing at all.
    for t in Topic::ALL {
        checks.push(denied(&projector_p, Try::Produce(topic(t))));
    }
    let mut running = tokio::task::JoinSet::new();
    for (who, what, allow) in checks {
        running.spawn(async move {
            let result = what.clone().run(who.clone()).await;
            (who.user, what, allow, result)
        });
    }
    let mut wrong = Vec::new();
    while let Some(joined) = running.join_next().await {
        let (user, what, allow, result) = joined.expect("no panic");
        let as_expected = match (&result, allow) {
            (Ok(()), true) => true,
            (Err(code), false) => authorization_failure(*code),
            _ => false,
        };
        if !as_expected {
            let expected = if allow { "allowed" } else { "an authorization failure" };
            wrong.push(format!("{user} {what:?}: expected {expected}, got {result:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "the ACLs do not match the table:\n{}",
        wrong.join("\n")
    );
    drop(acls);
}

/// The operator invites an owner of acme (as vox-admin, on `admin_log`);
/// through the people API at `url` she accepts, logs in and invites an
/// analyst, who is then listed.
async fn people_through_the_api(
    admin_log: &Log,
    ns: &str,
    url: &str,
    ca: &Path,
    ready: &std::sync::atomic::AtomicBool,
) {
    use api::manage::{Actor, Manager};
    use serde_json::{json, Value};

    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.load(std::sync::atomic::Ordering::Acquire) {
        assert!(Instant::now() < deadline, "the people API never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let operator = Manager {
        log: admin_log,
        namespace: ns,
        region: "eu",
        actor: Actor::operator(),
    };
    let email = "olga@acme.example";
    let (_, invitation) = operator
        .invite("acme", email, directory::Role::Owner)
        .await
        .expect("the operator (vox-admin) invites an owner");
    let http = vox::push::client(Some(ca)).expect("a client trusting the node's CA");
    let call = |path: &str, bearer: Option<&str>, body: Option<Value>| {
        let mut request = match &body {
            Some(body) => http.post(format!("{url}{path}")).json(body),
            None => http.get(format!("{url}{path}")),
        };
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        async move {
            let answer = request.send().await.expect("the people API answers");
            let status = answer.status().as_u16();
            let text = answer.text().await.expect("a body");
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
                text,
            )
        }
    };
    let password = format!("amber-{}-quokka", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    // The API reads the operator's invitation at its next refresh.
    let accept = json!({"token": invitation.expose(), "password": password});
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body, text) = call("/v1/invitations/accept", None, Some(accept.clone())).await;
        if status == 200 {
            break;
        }
        assert!(
            body["error"]["code"] == "invalid_invitation" && Instant::now() < deadline,
            "the owner accepts her invitation: {status} {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body, text) = call(
        "/v1/login",
        None,
        Some(json!({"tenant": "acme", "email": email, "password": password})),
    )
    .await;
    assert_eq!(status, 200, "the owner logs in: {text}");
    let token = body["token"].as_str().expect("a session token").to_owned();
    let analyst = "aino@acme.example";
    let (status, _, text) = call(
        "/v1/users",
        Some(&token),
        Some(json!({"email": analyst, "role": "analyst"})),
    )
    .await;
    assert_eq!(
        status, 200,
        "the owner invites an analyst (vox-api writes vox.config): {text}"
    );
    let (status, body, text) = call("/v1/users", Some(&token), None).await;
    assert_eq!(status, 200, "the owner lists the users: {text}");
    let listed = body["users"]
        .as_array()
        .is_some_and(|users| users.iter().any(|u| u["email"] == analyst && u["status"] == "invited"));
    assert!(listed, "the analyst is listed as invited: {text}");
}

// ------------------------------------------------------------- PostgreSQL ----

/// `deploy/postgres/roles.sql` with role names of this test's own (roles
/// are per cluster; tests run at the same time, and the names must not meet
/// an installation's roles on a shared server).
fn roles_sql(suffix: &str) -> (String, [String; 5]) {
    let mut sql = std::fs::read_to_string(Path::new(ROOT).join("deploy/postgres/roles.sql")).expect("roles.sql");
    let bases = ["vox_migrate", "vox_projector", "vox_reader", "vox_api", "vox_auditor"];
    let names = bases.map(|r| format!("{r}_{suffix}"));
    for (base, unique) in bases.iter().zip(&names) {
        sql = sql.replace(base, unique);
    }
    (sql, names)
}

/// The SQLSTATE of a failed statement.
fn sqlstate<T: std::fmt::Debug>(result: Result<T, sqlx::Error>) -> String {
    match result {
        Err(sqlx::Error::Database(e)) => e.code().map(|c| c.into_owned()).unwrap_or_default(),
        other => panic!("expected a refusal by the database, got {other:?}"),
    }
}

fn store_sqlstate<T: std::fmt::Debug>(result: Result<T, store::StoreError>) -> String {
    match result {
        Err(store::StoreError::Database(e)) => sqlstate::<()>(Err(e)),
        other => panic!("expected a refusal by the database, got {other:?}"),
    }
}

/// Insufficient privilege.
const DENIED: &str = "42501";

fn row(tenant: &str, external_id: &str, text: &str) -> FeedbackRow {
    FeedbackRow {
        tenant_id: tenant.into(),
        collection: "nps-2026".into(),
        external_id: external_id.into(),
        event_id: format!("ev-{tenant}-{external_id}"),
        client_id: "vox_ci_1".into(),
        batch_id: "b1".into(),
        channel: "survey".into(),
        occurred_at: 1_762_161_262_000_000,
        text: Some(text.into()),
        language: Some("fi".into()),
        metrics: serde_json::json!([{"kind": "nps", "value": 9, "scale": [0, 10]}]),
        respondent: None,
        metadata: serde_json::json!({}),
        tags: serde_json::json!([{"name": "store", "value": "hki", "source": "client", "rule_id": null, "rule_version": null}]),
        received_region: "eu".into(),
        processed_region: "eu".into(),
        received_at: 1_762_161_263_000_000,
        processed_at: 1_762_161_264_000_000,
    }
}

fn rejection(tenant: &str, offset: i64) -> RejectionRow {
    RejectionRow {
        source_topic: "vox.feedback.raw".into(),
        source_partition: 0,
        source_offset: offset,
        tenant_id: Some(tenant.into()),
        collection: Some("gone".into()),
        external_id: Some(format!("x-{offset}")),
        event_id: Some(format!("ev-x-{offset}")),
        reason_code: "unknown_collection".into(),
        reason: "collection 'gone' does not exist".into(),
        processed_region: "eu".into(),
        rejected_at: 1,
    }
}

fn step(from: i64, to: i64, feedback: Vec<FeedbackRow>, rejections: Vec<RejectionRow>) -> Projection {
    Projection {
        feedback,
        rejections,
        offsets: vec![OffsetMove {
            topic: "vox.feedback.processed".into(),
            partition: 0,
            from,
            to,
        }],
    }
}

async fn pool(options: PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .expect("connect")
}

/// The roles of `roles.sql`: vox_migrate owns the schema and migrates;
/// vox_projector writes a projection step and nothing else; vox_reader sees
/// its session's tenant only and writes nothing. The file applies before
/// the migrations and again after them, as often as wanted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_roles_have_least_privilege() {
    let db = testenv::TestDatabase::create().await;
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let (sql, [migrate, projector_role, reader, api_role, auditor_role]) = roles_sql(suffix);
    let password = uuid::Uuid::new_v4().simple().to_string();
    // The administrator: role vox (CREATEROLE, owner of the test database).
    let mut admin = sqlx::PgConnection::connect(&db.url).await.expect("admin connection");

    // Before the migrations: the roles, the database and the schema.
    sqlx::raw_sql(&sql)
        .execute(&mut admin)
        .await
        .expect("roles.sql before the migrations");
    for role in [&migrate, &projector_role, &reader, &api_role, &auditor_role] {
        sqlx::raw_sql(&format!("ALTER ROLE {role} PASSWORD '{password}'"))
            .execute(&mut admin)
            .await
            .expect("a password for the test");
    }
    // vox_migrate migrates (Store::connect_postgres runs the migrations).
    let owner = Store::connect_postgres(&db.url_as(&migrate, &password))
        .await
        .expect("vox_migrate runs the migrations");
    let owners: Vec<(String, String)> = sqlx::query_as(
        "SELECT tablename::text, tableowner::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(&mut admin)
    .await
    .expect("owners");
    assert!(
        owners.iter().all(|(_, o)| *o == migrate) && owners.len() == 19,
        "vox_migrate owns every table: {owners:?}"
    );
    // After the migrations (twice: idempotent): grants and row-level security.
    for _ in 0..2 {
        sqlx::raw_sql(&sql)
            .execute(&mut admin)
            .await
            .expect("roles.sql after the migrations");
    }
    // Something outside Vox's tables, made by the administrator.
    sqlx::raw_sql("CREATE SCHEMA other; CREATE TABLE other.secrets (s TEXT); INSERT INTO other.secrets VALUES ('x')")
        .execute(&mut admin)
        .await
        .expect("another schema");

    // vox_projector: a projection step (rows, a correction, offsets; COPY into a temp table).
    let projector_opts: PgConnectOptions = db.url_as(&projector_role, &password).parse().expect("url");
    let projector_pool = pool(projector_opts.clone()).await;
    // As `vox project --database-migrate false` connects: no migration, only the check that
    // `vox migrate` (the owner, above) applied every migration of this build.
    let projector_store = Store::connect_postgres_migrated(&db.url_as(&projector_role, &password))
        .await
        .expect("the projector role connects without migrating");
    let p = projector::PROJECTOR;
    projector_store
        .apply(
            p,
            &step(
                0,
                5,
                vec![
                    row("acme", "a-1", "Hyvä"),
                    row("acme", "a-2", "Ok"),
                    row("globex", "g-1", "Nope"),
                ],
                vec![rejection("acme", 7), rejection("globex", 8)],
            ),
        )
        .await
        .expect("vox_projector writes a projection step");
    projector_store
        .apply(p, &step(5, 6, vec![row("acme", "a-1", "Hyvä, korjattu")], vec![]))
        .await
        .expect("vox_projector corrects a row");
    let acme_rows = projector_store.feedback("acme").await.expect("rows");
    assert_eq!(acme_rows.len(), 2);
    assert!(acme_rows.iter().any(|r| r.text.as_deref() == Some("Hyvä, korjattu")));
    assert_eq!(
        projector_store.positions(p).await.expect("positions"),
        vec![("vox.feedback.processed".to_owned(), 0, 6)]
    );
    let mut projector_conn = sqlx::PgConnection::connect_with(&projector_opts)
        .await
        .expect("connect");
    for (what, statement) in [
        ("create a table", "CREATE TABLE public.mine (x INT)"),
        ("create a schema", "CREATE SCHEMA mine"),
        ("read another schema", "SELECT count(*) FROM other.secrets"),
        ("write the migrations table", "DELETE FROM _sqlx_migrations"),
        ("alter a read model", "ALTER TABLE feedback ADD COLUMN x INT"),
        ("drop a read model", "DROP TABLE rejections"),
        ("truncate a read model", "TRUNCATE feedback"),
    ] {
        assert_eq!(
            sqlstate(sqlx::raw_sql(statement).execute(&mut projector_conn).await),
            DENIED,
            "vox_projector must not {what}"
        );
    }

    // vox_reader: its session names the tenant; row-level security does the rest.
    let reader_opts: PgConnectOptions = db.url_as(&reader, &password).parse().expect("url");
    let acme_reader = Store::Postgres(pool(reader_opts.clone().options([("vox.tenant_id", "acme")])).await);
    assert_eq!(acme_reader.feedback("acme").await.expect("acme's rows"), acme_rows);
    assert!(acme_reader.feedback("globex").await.expect("rows").is_empty());
    assert_eq!(acme_reader.rejections("acme").await.expect("rejections").len(), 1);
    assert!(acme_reader.rejections("globex").await.expect("rejections").is_empty());
    let mut reader_conn = sqlx::PgConnection::connect_with(&reader_opts).await.expect("connect");
    let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    assert_eq!(
        count("SELECT count(*) FROM feedback")
            .fetch_one(&mut reader_conn)
            .await
            .expect("count"),
        0,
        "no tenant set: no rows"
    );
    sqlx::raw_sql("SET vox.tenant_id = 'globex'")
        .execute(&mut reader_conn)
        .await
        .expect("set the tenant");
    assert_eq!(
        count("SELECT count(*) FROM feedback")
            .fetch_one(&mut reader_conn)
            .await
            .expect("count"),
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM rejections")
            .fetch_one(&mut reader_conn)
            .await
            .expect("count"),
        1
    );
    for (what, statement) in [
        ("insert", "INSERT INTO feedback (tenant_id) VALUES ('x')"),
        ("update", "UPDATE feedback SET text = 'x'"),
        ("delete", "DELETE FROM rejections"),
        ("read the offsets", "SELECT count(*) FROM projector_offsets"),
        ("create a table", "CREATE TABLE public.mine (x INT)"),
        ("read another schema", "SELECT count(*) FROM other.secrets"),
    ] {
        assert_eq!(
            sqlstate(sqlx::raw_sql(statement).execute(&mut reader_conn).await),
            DENIED,
            "vox_reader must not {what}"
        );
    }
    assert_eq!(
        store_sqlstate(
            acme_reader
                .apply(p, &step(6, 7, vec![row("acme", "a-3", "x")], vec![]))
                .await
        ),
        DENIED,
        "vox_reader cannot write a projection step"
    );

    // Row-level security is forced, and the owner has its policy: data migrations see every row.
    let all: i64 = match &owner {
        Store::Postgres(pool) => sqlx::query_scalar("SELECT count(*) FROM feedback")
            .fetch_one(pool)
            .await
            .expect("count"),
        Store::Sqlite(_) => unreachable!("a PostgreSQL store"),
    };
    assert_eq!(all, 3);

    // vox_api: the people API's sessions and login state; of the read models only feedback and
    // its tags, of the tenant its transaction names (row-level security).
    let api_store = Store::connect_postgres_migrated(&db.url_as(&api_role, &password))
        .await
        .expect("vox_api connects without migrating");
    let hash = [7u8; 32];
    api_store
        .create_session(&store::NewSession {
            token_sha256: hash,
            id: "s1".into(),
            scope: "acme".into(),
            user_id: "usr_1".into(),
            kind: store::SessionKind::Session,
            name: None,
            created_at: 1,
            expires_at: i64::MAX / 2,
            idle_micros: None,
            epoch: 0,
        })
        .await
        .expect("vox_api makes a session");
    assert!(api_store
        .use_session(&hash, store::SessionKind::Session, 2)
        .await
        .expect("vox_api reads it")
        .is_some());
    assert!(api_store.use_totp_step("acme", "usr_1", 5).await.expect("totp step"));
    let request = store::SsoRequest {
        id: "_r1".into(),
        tenant_id: "acme".into(),
        browser_sha256: hash,
        relay_state: None,
        created_at: 1,
        expires_at: i64::MAX / 2,
    };
    assert!(api_store
        .sso_request_create(&request, 10)
        .await
        .expect("vox_api stores an SSO request"));
    assert_eq!(
        api_store
            .sso_request_take("acme", "_r1", 2)
            .await
            .expect("vox_api takes it"),
        Some(request)
    );
    assert!(api_store
        .sso_assertion_use("acme", "id-1", i64::MAX / 2)
        .await
        .expect("vox_api records an assertion's use"));
    api_store.purge_sso(3).await.expect("vox_api purges SSO state");
    let api_opts: PgConnectOptions = db.url_as(&api_role, &password).parse().expect("url");
    let mut api_conn = sqlx::PgConnection::connect_with(&api_opts)
        .await
        .expect("api connection");
    // Statements with no tenant predicate at all: the policy alone decides.
    let tenants_in = |table: &str| format!("SELECT coalesce(string_agg(DISTINCT tenant_id, ','), '') FROM {table}");
    for table in ["feedback", "feedback_tags"] {
        let seen: String = sqlx::query_scalar(&tenants_in(table))
            .fetch_one(&mut api_conn)
            .await
            .expect("vox_api may select");
        assert_eq!(seen, "", "no tenant set: no rows of {table}");
        for tenant in ["acme", "globex"] {
            let mut tx = api_conn.begin().await.expect("begin");
            sqlx::query("SELECT set_config('vox.tenant_id', $1, true)")
                .bind(tenant)
                .execute(&mut *tx)
                .await
                .expect("set the tenant for the transaction");
            let seen: String = sqlx::query_scalar(&tenants_in(table))
                .fetch_one(&mut *tx)
                .await
                .expect("select");
            assert_eq!(seen, tenant, "{table}: only the transaction's tenant");
            let asked_for_other: i64 =
                sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE tenant_id <> $1"))
                    .bind(tenant)
                    .fetch_one(&mut *tx)
                    .await
                    .expect("select");
            assert_eq!(
                asked_for_other, 0,
                "{table}: asking for another tenant's rows finds none"
            );
            tx.commit().await.expect("commit");
        }
        // SET LOCAL ends with its transaction.
        let seen: String = sqlx::query_scalar(&tenants_in(table))
            .fetch_one(&mut api_conn)
            .await
            .expect("select");
        assert_eq!(seen, "", "{table}: the tenant ended with the transaction");
    }
    for (what, statement) in [
        ("insert feedback", "INSERT INTO feedback (tenant_id) VALUES ('x')"),
        ("update feedback", "UPDATE feedback SET text = 'x'"),
        ("delete feedback", "DELETE FROM feedback"),
        ("write tags", "DELETE FROM feedback_tags"),
        ("read rejections", "SELECT count(*) FROM rejections"),
        ("read the offsets", "SELECT count(*) FROM projector_offsets"),
        ("create a table", "CREATE TABLE public.mine (x INT)"),
    ] {
        assert_eq!(
            sqlstate(sqlx::raw_sql(statement).execute(&mut api_conn).await),
            DENIED,
            "vox_api must not {what}"
        );
    }
    // The analyst queries of the store work as vox_api (each sets its tenant for its transaction).
    let analyst = access::Access {
        tenant: "acme".into(),
        grants: vec![access::Grant {
            collection: None,
            export: true,
            tags: vec![access::TagRef::parse("store:hki").expect("a tag")],
        }],
        restricted: vec![],
    };
    let everything = access::Filter::default();
    let listed = api_store
        .list_feedback(&analyst, &everything, None, 10)
        .await
        .expect("vox_api lists feedback");
    let mut expected_rows = acme_rows.clone();
    expected_rows.sort_by(|a, b| (b.occurred_at, &b.event_id).cmp(&(a.occurred_at, &a.event_id)));
    assert_eq!(listed, expected_rows);
    assert_eq!(
        api_store
            .get_feedback(&analyst, &acme_rows[0].event_id)
            .await
            .expect("get"),
        Some(acme_rows[0].clone())
    );
    assert_eq!(
        api_store.get_feedback(&analyst, "ev-globex-g-1").await.expect("get"),
        None
    );
    assert_eq!(
        api_store
            .count_feedback_visible(&analyst, &everything)
            .await
            .expect("count"),
        2
    );
    let totals = api_store
        .aggregate_feedback(&analyst, &everything, &access::GroupBy::Tag("store".into()))
        .await
        .expect("aggregate");
    assert_eq!(
        totals
            .iter()
            .map(|r| (r.key.clone(), r.items, r.promoters))
            .collect::<Vec<_>>(),
        [(Some("hki".to_owned()), 2, 2)]
    );
    assert_eq!(
        api_store.visible_tags(&analyst, 10).await.expect("tags"),
        [("store".to_owned(), "hki".to_owned(), 2)]
    );
    let (sender, mut receiver) = tokio::sync::mpsc::channel(1);
    let (sent, exported) = tokio::join!(api_store.export_feedback(&analyst, &everything, sender), async {
        let mut n = 0;
        while receiver.recv().await.is_some() {
            n += 1;
        }
        n
    });
    assert_eq!((sent.expect("export"), exported), (2, 2));

    // vox_auditor: appends to the audit logs and moves its offsets; reads no feedback, deletes
    // nothing. vox_api reads the logs (the compliance role) and writes none of them.
    let auditor_store = Store::connect_postgres_migrated(&db.url_as(&auditor_role, &password))
        .await
        .expect("vox_auditor connects without migrating");
    let record = vec![1u8, 2, 3];
    let mut frontier = auditlog::Frontier::empty();
    let hashes = frontier.append(&record);
    auditor_store
        .apply_audit(&store::AuditStep {
            leaves: vec![store::AuditLeaf {
                log_id: "acme".into(),
                index: 0,
                occurred_at: 1,
                action: "user.login".into(),
                data: record.clone(),
            }],
            hashes: hashes.iter().map(|(id, h)| ("acme".to_owned(), *id, h.0)).collect(),
            logs: vec![store::AuditLogMove {
                log_id: "acme".into(),
                from: 0,
                to: 1,
                frontier: frontier.to_bytes(),
            }],
            offsets: vec![store::OffsetMove {
                topic: "vox.audit".into(),
                partition: 0,
                from: 0,
                to: 1,
            }],
        })
        .await
        .expect("vox_auditor appends a step");
    auditor_store
        .add_audit_checkpoint(&store::AuditCheckpointRow {
            log_id: "acme".into(),
            size: 1,
            root: frontier.root().0,
            note: "a note".into(),
            signed_at: 1,
        })
        .await
        .expect("vox_auditor stores a checkpoint");
    let read = api_store
        .audit_records("acme", &Default::default(), 10)
        .await
        .expect("vox_api reads the log");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].data, record);
    let auditor_opts: PgConnectOptions = db.url_as(&auditor_role, &password).parse().expect("url");
    let mut auditor_conn = sqlx::PgConnection::connect_with(&auditor_opts)
        .await
        .expect("auditor connection");
    for (what, statement) in [
        ("read feedback", "SELECT count(*) FROM feedback"),
        ("read sessions", "SELECT count(*) FROM sessions"),
        ("delete a record", "DELETE FROM audit_records"),
        (
            "change a bundle of records",
            "UPDATE audit_bundles SET entries = decode(repeat('00', octet_length(entries)), 'hex')",
        ),
        ("change a record", "UPDATE audit_records SET action = action"),
        (
            "change a stored hash",
            "UPDATE audit_hashes SET hashes = decode(repeat('00', octet_length(hashes)), 'hex')",
        ),
        ("change a checkpoint", "UPDATE audit_checkpoints SET note = note"),
        ("delete a checkpoint", "DELETE FROM audit_checkpoints"),
        ("delete offsets", "DELETE FROM projector_offsets"),
        ("create a table", "CREATE TABLE public.mine (x INT)"),
    ] {
        assert_eq!(
            sqlstate(sqlx::raw_sql(statement).execute(&mut auditor_conn).await),
            DENIED,
            "vox_auditor must not {what}"
        );
    }
    for (what, statement) in [
        (
            "append a record",
            "INSERT INTO audit_records VALUES ('acme', 1, 1, 'x')",
        ),
        ("change a record", "UPDATE audit_records SET action = 'x'"),
        ("delete a checkpoint", "DELETE FROM audit_checkpoints"),
    ] {
        assert_eq!(
            sqlstate(sqlx::raw_sql(statement).execute(&mut api_conn).await),
            DENIED,
            "vox_api must not {what}"
        );
    }
    drop(auditor_conn);
    if let Store::Postgres(pool) = &auditor_store {
        pool.close().await;
    }
    drop(api_conn);
    // Closed now, not when dropped: the test database is dropped next.
    if let Store::Postgres(pool) = &api_store {
        pool.close().await;
    }

    drop((projector_conn, reader_conn, acme_reader, projector_store, owner));
    projector_pool.close().await;
    drop(admin);
    let roles = [migrate, projector_role, reader, api_role, auditor_role];
    let name = db.name().to_owned();
    db.drop_now().await;
    let mut admin = sqlx::PgConnection::connect(
        &std::env::var("VOX_DATABASE_URL").unwrap_or_else(|_| "postgres://vox:vox@127.0.0.1:5432/vox".into()),
    )
    .await
    .expect("admin connection");
    for role in roles {
        sqlx::raw_sql(&format!("DROP ROLE IF EXISTS {role}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("drop role {role} (database {name} dropped): {e}"));
    }
}

/// Vox's store over TLS with the server certificate verified
/// (`sslmode=verify-full`, the local server's CA); a CA that did not sign it
/// is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_verified_tls() {
    let ca = testenv::pg_ca();
    let db = testenv::TestDatabase::create().await;
    let verified = format!("{}?sslmode=verify-full&sslrootcert={ca}", db.url);
    let store = Store::connect_postgres(&verified)
        .await
        .expect("the store connects with sslmode=verify-full");
    let Store::Postgres(pool) = &store else {
        unreachable!("a PostgreSQL store")
    };
    let (ssl, version): (bool, Option<String>) =
        sqlx::query_as("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(pool)
            .await
            .expect("pg_stat_ssl");
    assert!(ssl, "the connection is encrypted");
    assert!(matches!(version.as_deref(), Some("TLSv1.2" | "TLSv1.3")), "{version:?}");
    store
        .apply(
            projector::PROJECTOR,
            &step(0, 1, vec![row("acme", "t-1", "over TLS")], vec![]),
        )
        .await
        .expect("a step over TLS");
    pool.close().await;

    let other = tempfile::tempdir().expect("temp dir");
    let wrong = https::tls::create_certificate(other.path(), &["127.0.0.1".to_owned()]).expect("another CA");
    let refused = Store::connect_postgres(&format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        db.url,
        wrong.ca_cert.display()
    ))
    .await;
    assert!(
        refused.is_err(),
        "a server certificate that the given CA did not sign is refused"
    );
    db.drop_now().await;
}
