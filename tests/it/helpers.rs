//! Starting a whole node (ingest + processor + projector) on either backend,
//! on port 0, with its own topics/database/data directory.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use eventlog::{KafkaLog, KafkaSettings, Log, Positions, SqliteLog};
use schemas::Topic;
use store::{FeedbackRow, Store};
use tokio::sync::oneshot;
use vox::push::PushOptions;
use vox::settings::Secret;

pub enum Backend {
    Embedded,
    KafkaPostgres,
}

pub struct Node {
    pub url: String,
    /// The people API.
    pub api_url: String,
    pub ops_url: String,
    pub kek: auth::Kek,
    /// The verifier key of the key that signs the node's audit checkpoints.
    pub audit_key: String,
    pub ca_cert: PathBuf,
    pub log: Log,
    pub store: Store,
    pub namespace: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
    database: Option<testenv::TestDatabase>,
}

impl Node {
    pub async fn start(backend: Backend) -> Node {
        Node::start_with(backend, |_| {}).await
    }

    /// Starts a node whose ingest settings `tune` adjusts.
    pub async fn start_with(backend: Backend, tune: impl FnOnce(&mut ingest::IngestSettings)) -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, store, namespace, database) = match backend {
            Backend::Embedded => {
                let log = Log::Sqlite(SqliteLog::open(&dir.path().join("log.sqlite")).await.expect("log"));
                let store = Store::open_sqlite(&dir.path().join("store.sqlite"))
                    .await
                    .expect("store");
                (log, store, String::new(), None)
            }
            Backend::KafkaPostgres => {
                let log = Log::Kafka(
                    KafkaLog::connect(KafkaSettings::single_broker(testenv::kafka_brokers())).expect("kafka"),
                );
                let db = testenv::TestDatabase::create().await;
                let store = Store::connect_postgres(&db.url).await.expect("postgres");
                (log, store, testenv::namespace(), Some(db))
            }
        };
        let local = vox::serve::local_listeners(&dir.path().join("tls"))
            .await
            .expect("listeners");
        let kek = auth::Kek::generate();
        let mut settings = ingest::IngestSettings::new(region("eu"), namespace.clone(), kek.clone());
        // Tallies of refused requests reach the audit topic quickly in tests.
        settings.audit_interval = Duration::from_millis(200);
        tune(&mut settings);
        let mut api = api::ApiSettings::new(region("eu"), namespace.clone(), kek.clone());
        // The lowest cost bcrypt allows keeps the tests fast.
        api.bcrypt_cost = login::password::MIN_COST;
        api.audit_interval = Duration::from_millis(200);
        let audit_signing_key = auditlog::SigningKey::generate("vox-test").expect("key");
        let audit_key = audit_signing_key.verifier_key();
        let mut auditor = auditor::AuditorSettings::new(namespace.clone(), audit_signing_key);
        // Checkpoints come quickly in tests.
        auditor.checkpoint_interval = Duration::from_millis(200);
        let roles = vox::serve::Roles {
            log: log.clone(),
            store: store.clone(),
            ingest: settings,
            api,
            auditor,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(vox::serve::run_all(roles, local.listeners, local.tls, async {
            let _ = stopped.await;
        }));
        Node {
            url: local.url,
            api_url: local.api_url,
            ops_url: local.ops_url,
            kek,
            audit_key,
            ca_cert: local.ca_cert,
            log,
            store,
            namespace,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
            database,
        }
    }

    /// Stops every role and waits until they have finished.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("roles did not panic").expect("roles stopped cleanly");
        }
    }

    /// Stops the node's roles, drops the read models and rebuilds them from
    /// offset zero with a projector of its own, until `outputs` records of
    /// the output topics are projected.
    pub async fn rebuild_read_models(&mut self, outputs: usize) {
        self.stop().await;
        self.store.reset().await.expect("reset");
        assert!(self.rows("acme").await.is_empty(), "the reset dropped the rows");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let rebuild = tokio::spawn(projector::run(
            self.log.clone(),
            self.store.clone(),
            projector::ProjectorSettings::new(self.namespace.clone()),
            async {
                let _ = stopped.await;
            },
        ));
        self.wait_projected(outputs).await;
        let _ = stop.send(());
        rebuild.await.expect("no panic").expect("projector ran");
    }

    pub async fn finish(mut self) {
        self.stop().await;
        if let Some(db) = self.database.take() {
            db.drop_now().await;
        }
    }

    pub fn options(&self, client_id: &str, secret: &str) -> PushOptions {
        PushOptions {
            url: self.url.clone(),
            ca_cert: Some(self.ca_cert.clone()),
            client_id: client_id.into(),
            client_secret: Secret::new(secret),
            batch_size: 500,
            gzip: false,
            atomic: false,
        }
    }

    /// Waits until `/readyz` answers 200: every role of the node has started
    /// (the processor has read the configuration, the projector its offsets).
    pub async fn wait_ready(&self) {
        let client = vox::push::client(Some(&self.ca_cert)).expect("client");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = client.get(format!("{}/readyz", self.ops_url)).send().await;
            if answer.is_ok_and(|a| a.status().as_u16() == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "the node never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn topic(&self, topic: Topic) -> String {
        topic.name(&self.namespace)
    }

    /// Records on `vox.feedback.raw` now (written without transactions).
    pub async fn raw_count(&self) -> usize {
        self.log
            .read_all(&self.topic(Topic::FeedbackRaw))
            .await
            .expect("read raw")
            .len()
    }

    /// Waits until the processor has written `outputs` records (processed
    /// plus rejected) and the projector has stored everything up to them.
    pub async fn wait_projected(&self, outputs: usize) {
        let topics = [
            self.topic(Topic::FeedbackProcessed),
            self.topic(Topic::FeedbackRejected),
        ];
        let mut reader = self.log.reader(&topics, &Positions::new()).await.expect("reader");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut ends = Positions::new();
        let mut seen = 0;
        while seen < outputs {
            assert!(
                Instant::now() < deadline,
                "only {seen} of {outputs} processor outputs arrived"
            );
            for r in reader.poll(1000, Duration::from_millis(200)).await.expect("poll") {
                seen += 1;
                let end = ends.entry((r.topic.clone(), r.partition)).or_insert(0);
                *end = (*end).max(r.offset + 1);
            }
        }
        assert_eq!(seen, outputs, "the processor wrote more outputs than inputs");
        loop {
            let stored: Positions = self
                .store
                .positions(projector::PROJECTOR)
                .await
                .expect("positions")
                .into_iter()
                .map(|(t, p, o)| ((t, p), o))
                .collect();
            if ends.iter().all(|(k, end)| stored.get(k).is_some_and(|o| o >= end)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the projector did not catch up: {stored:?} < {ends:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn rows(&self, tenant: &str) -> Vec<FeedbackRow> {
        self.store.feedback(tenant).await.expect("rows")
    }
}

/// Typed ids for the tests (valid by construction: parsing a literal).
pub fn tenant(id: &str) -> schemas::TenantId {
    schemas::TenantId::parse(id).expect("a valid tenant id")
}

pub fn collection(id: &str) -> schemas::CollectionId {
    schemas::CollectionId::parse(id).expect("a valid collection id")
}

pub fn client(id: &str) -> schemas::ClientId {
    schemas::ClientId::parse(id).expect("a valid client id")
}

pub fn region(id: &str) -> schemas::Region {
    schemas::Region::parse(id).expect("a valid region")
}

/// Another node's people API on the same log and store as `node` (and the
/// same certificate): what "on every node" means in the session tests.
pub struct SecondApi {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), api::RunError>>>,
}

impl SecondApi {
    /// Starts it and waits until it has read the configuration.
    pub async fn start(node: &Node) -> SecondApi {
        SecondApi::start_with(node, |_| {}).await
    }

    /// Starts one whose settings `tune` adjusts (e.g. a `config_refresh`
    /// so long that the node reads the configuration only at its start and
    /// after its own writes: a node that lags behind on purpose).
    pub async fn start_with(node: &Node, tune: impl FnOnce(&mut api::ApiSettings)) -> SecondApi {
        let tls_dir = node.ca_cert.parent().expect("the CA lies in the node's TLS directory");
        let files = https::tls::ensure_local_certificate(tls_dir).expect("the node's certificate");
        let tls = https::tls::server_config(&files.server_cert, &files.server_key).expect("a TLS configuration");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let url = format!("https://{}", listener.local_addr().expect("its address"));
        let mut settings = api::ApiSettings::new(region("eu"), node.namespace.clone(), node.kek.clone());
        settings.bcrypt_cost = login::password::MIN_COST;
        settings.audit_interval = Duration::from_millis(200);
        // Single sign-on's URLs are under the API's own address.
        settings.public_url = Some(url.clone());
        tune(&mut settings);
        let ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(api::run(
            api::Listeners {
                public: listener,
                ops: None,
            },
            tls,
            node.log.clone(),
            node.store.clone(),
            settings,
            ready.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready.load(std::sync::atomic::Ordering::Acquire) {
            assert!(Instant::now() < deadline, "the second people API never became ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        SecondApi {
            url,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops it and waits until it has finished.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("no panic")
                .expect("the second people API stopped cleanly");
        }
    }
}
