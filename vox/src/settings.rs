//! One typed `Settings`, layered: defaults, then a TOML file (`--config` or
//! `VOX_CONFIG`), then `VOX_*` environment variables and flags (clap reads
//! both; a flag wins over its variable). Each setting is declared once, in
//! the `settings!` list, for all three.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use auth::Kek;
use eventlog::{KafkaLog, KafkaSettings, Log, SqliteLog};
use schemas::{Region, Topic};
use serde::Deserialize;
use store::Store;

pub use auth::Secret;

/// Declares every setting once: a field of [`SettingsLayer`] is a TOML key
/// (its name), a flag (`--` and its name with `-`) and an environment
/// variable (`VOX_` and its name in capitals), with one doc line that is
/// also the flag's help. Defaults are in [`Settings::resolve`] and the
/// crates that own them.
macro_rules! settings {
    ($( $(#[doc = $doc:literal])* [$($arg:tt)*] $field:ident: $ty:ty, )+) => {
        /// One layer of settings: the TOML file, or the flags and
        /// environment. Every key optional; unknown keys refused.
        #[derive(Debug, Clone, Default, Deserialize, clap::Args)]
        #[serde(deny_unknown_fields)]
        pub struct SettingsLayer {
            $( $(#[doc = $doc])* #[arg(long, global = true, $($arg)*)] pub $field: Option<$ty>, )+
        }

        impl SettingsLayer {
            /// Every key, as in the TOML file.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($field)),+];

            /// This layer over `lower`: a value set here wins.
            pub fn over(self, lower: SettingsLayer) -> SettingsLayer {
                SettingsLayer { $( $field: self.$field.or(lower.$field), )+ }
            }
        }
    };
}

settings! {
    /// Directory of the embedded log, store and TLS certificate [default: vox-data].
    [env = "VOX_DATA_DIR"] data_dir: PathBuf,
    /// Region this node serves [default: eu].
    [env = "VOX_REGION"] region: String,
    /// Kafka bootstrap brokers; when set, the log is Kafka instead of the embedded one.
    [env = "VOX_KAFKA_BROKERS"] kafka_brokers: String,
    /// Partitions of each topic created on Kafka [default: 3].
    [env = "VOX_KAFKA_PARTITIONS"] kafka_partitions: i32,
    /// Replication factor of each topic created on Kafka [default: 3].
    [env = "VOX_KAFKA_REPLICATION_FACTOR"] kafka_replication_factor: i32,
    /// min.insync.replicas of each topic created on Kafka [default: 2].
    [env = "VOX_KAFKA_MIN_INSYNC_REPLICAS"] kafka_min_insync_replicas: i32,
    /// Allow replication factor < 3 or min.insync.replicas < 2 (single-broker development clusters).
    [env = "VOX_KAFKA_ALLOW_UNSAFE_DURABILITY", num_args = 0..=1, default_missing_value = "true"]
    kafka_allow_unsafe_durability: bool,
    /// Kafka security.protocol: plaintext, ssl, sasl_plaintext or sasl_ssl [default: plaintext].
    [env = "VOX_KAFKA_SECURITY_PROTOCOL"] kafka_security_protocol: String,
    /// Kafka SASL mechanism, e.g. SCRAM-SHA-512.
    [env = "VOX_KAFKA_SASL_MECHANISM"] kafka_sasl_mechanism: String,
    /// Kafka SASL user name.
    [env = "VOX_KAFKA_SASL_USERNAME"] kafka_sasl_username: String,
    /// Kafka SASL password (prefer the environment variable to the flag).
    [env = "VOX_KAFKA_SASL_PASSWORD", hide_env_values = true] kafka_sasl_password: Secret,
    /// PEM file of the CA that signed the Kafka brokers' certificates [default: the system's CAs].
    [env = "VOX_KAFKA_CA_FILE"] kafka_ca_file: PathBuf,
    /// PostgreSQL URL; when set, the read models live there instead of the embedded store.
    [env = "VOX_DATABASE_URL", hide_env_values = true] database_url: Secret,
    /// Whether a role migrates the PostgreSQL schema when it connects [default: true]; false for a
    /// role without CREATE on the schema (least privilege): it only checks that `vox migrate` ran.
    [env = "VOX_DATABASE_MIGRATE", num_args = 0..=1, default_missing_value = "true"]
    database_migrate: bool,
    /// Prefix of every topic name and consumer group (lets several installations share a cluster).
    [env = "VOX_TOPIC_NAMESPACE"] topic_namespace: String,
    /// How long the log keeps vox.feedback.raw (unredacted input; unprocessed items older than this are lost), e.g. 36h or 14d [default: 7d].
    [env = "VOX_RAW_RETENTION"] raw_retention: HumanDuration,
    /// How long the log keeps vox.feedback.rejected (dead letters carry the unredacted input), e.g. 90d [default: 30d].
    [env = "VOX_REJECTED_RETENTION"] rejected_retention: HumanDuration,
    /// Stable id of this replica among its role's replicas (Kafka transactional id and static group member id; two live replicas must never share it) [default: host name].
    [env = "VOX_INSTANCE_ID"] instance_id: String,
    /// File with the key-encryption key that seals client secrets (64 hex digits, mode 0600)
    /// [default for the embedded mode: <data-dir>/secrets/kek, created on first use].
    [env = "VOX_KEK_FILE"] kek_file: PathBuf,
    /// The key-encryption key as 64 hex digits (prefer --kek-file).
    [env = "VOX_KEK", hide_env_values = true] kek: Secret,
    /// Address of the HTTPS listener (serve, ingest) [default: 127.0.0.1:8443].
    [env = "VOX_LISTEN", help_heading = "Listeners (serve, ingest)"] listen: SocketAddr,
    /// PEM certificate chain of the listener.
    [env = "VOX_TLS_CERT", help_heading = "Listeners (serve, ingest)"] tls_cert: PathBuf,
    /// PEM private key of the listener.
    [env = "VOX_TLS_KEY", help_heading = "Listeners (serve, ingest)"] tls_key: PathBuf,
    /// Address of the HTTPS operations listener: /metrics, /healthz, /readyz
    /// [default: 127.0.0.1:8444 for serve and ingest, 127.0.0.1:8445 for process, 127.0.0.1:8446 for project,
    /// 127.0.0.1:8448 for api, 127.0.0.1:8449 for audit run].
    [env = "VOX_OPS_LISTEN", help_heading = "Listeners (serve, ingest)"] ops_listen: SocketAddr,
    /// Bearer token that /metrics requires (prefer the environment variable) [default: none].
    [env = "VOX_OPS_TOKEN", hide_env_values = true, help_heading = "Listeners (serve, ingest)"] ops_token: Secret,
    /// Address of the people API's HTTPS listener (serve, api) [default: 127.0.0.1:8447].
    [env = "VOX_API_LISTEN", help_heading = "People API (serve, api)"] api_listen: SocketAddr,
    /// bcrypt cost of new password hashes, at least 11 [default: 12]; hashes of a lower cost are
    /// rehashed at the next login.
    [env = "VOX_BCRYPT_COST", help_heading = "People API (serve, api)"] bcrypt_cost: u32,
    /// A session ends after this long without a request, e.g. 30m [default: 30m].
    [env = "VOX_SESSION_IDLE", help_heading = "People API (serve, api)"] session_idle: HumanDuration,
    /// A session ends this long after login, e.g. 12h [default: 12h].
    [env = "VOX_SESSION_LIFETIME", help_heading = "People API (serve, api)"] session_lifetime: HumanDuration,
    /// Proxies whose X-Forwarded-For names the client (comma-separated addresses or CIDR
    /// networks, e.g. the ingress controller's pod network) [default: none: the connection's address].
    [env = "VOX_TRUSTED_PROXIES", help_heading = "People API (serve, api)"] trusted_proxies: String,
    /// The people API's public URL, e.g. https://vox.example.com: single sign-on (SAML) is offered
    /// only when it is set; each tenant's service provider lives under it [default: none].
    [env = "VOX_API_PUBLIC_URL", help_heading = "People API (serve, api)"] api_public_url: String,
    /// PEM file with the SAML service provider's private key and certificate (mode 0600)
    /// [default for the embedded mode: <data-dir>/secrets/saml-sp.pem, created on first use].
    [env = "VOX_SAML_KEY_FILE", help_heading = "People API (serve, api)"] saml_key_file: PathBuf,
    /// The clock skew allowed between Vox and identity providers, e.g. 60s [default: 60s].
    [env = "VOX_SSO_CLOCK_SKEW", help_heading = "People API (serve, api)"] sso_clock_skew: HumanDuration,
    /// File with the Ed25519 key that signs audit checkpoints (`vox audit keygen`; mode 0600)
    /// [default for the embedded mode: <data-dir>/secrets/audit.key, created on first use].
    [env = "VOX_AUDIT_KEY_FILE", help_heading = "Auditor (serve, audit run)"] audit_key_file: PathBuf,
    /// How often the auditor signs a checkpoint of a log that has grown, e.g. 10s [default: 10s].
    [env = "VOX_AUDIT_CHECKPOINT_INTERVAL", help_heading = "Auditor (serve, audit run)"]
    audit_checkpoint_interval: HumanDuration,
    /// Sustained requests per second per client [default: 100].
    [env = "VOX_RATE_LIMIT", help_heading = "Listeners (serve, ingest)"] rate_limit: u32,
    /// Requests a client may send at once above the sustained rate [default: 200].
    [env = "VOX_RATE_BURST", help_heading = "Listeners (serve, ingest)"] rate_burst: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the configuration file {path} is not valid: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("{0}")]
    Missing(String),
    #[error("cannot open the log: {0}")]
    Log(#[from] eventlog::LogError),
    #[error("cannot open the store: {0}")]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Kek(#[from] auth::SealError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("{path} can be read by other users (mode {mode:o}), but it holds feedback and sealed secrets: run `chmod -R go-rwx {path}`")]
    LoosePermissions { path: PathBuf, mode: u32 },
    #[error("{0}")]
    Invalid(String),
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub region: Region,
    pub kafka_brokers: Option<String>,
    pub kafka_partitions: i32,
    pub kafka_replication_factor: i32,
    pub kafka_min_insync_replicas: i32,
    pub kafka_allow_unsafe_durability: bool,
    pub kafka_security: eventlog::KafkaSecurity,
    pub ops_token: Option<Secret>,
    pub database_url: Option<Secret>,
    pub database_migrate: bool,
    pub listen: SocketAddr,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub namespace: String,
    /// How long the log keeps `vox.feedback.raw`.
    pub raw_retention: Duration,
    /// How long the log keeps `vox.feedback.rejected`.
    pub rejected_retention: Duration,
    pub instance_id: String,
    pub ops_listen: SocketAddr,
    /// Whether `ops_listen` was configured (else each role has its own default port).
    pub ops_listen_given: bool,
    pub kek_file: Option<PathBuf>,
    pub kek: Option<Secret>,
    /// Unset: the ingest node's default (`IngestSettings::new`).
    pub rate_limit: Option<u32>,
    pub rate_burst: Option<u32>,
    pub api_listen: SocketAddr,
    pub bcrypt_cost: Option<u32>,
    pub session_idle: Option<Duration>,
    pub session_lifetime: Option<Duration>,
    pub trusted_proxies: Option<String>,
    pub api_public_url: Option<String>,
    pub saml_key_file: Option<PathBuf>,
    pub sso_clock_skew: Option<Duration>,
    pub audit_key_file: Option<PathBuf>,
    pub audit_checkpoint_interval: Duration,
}

impl Settings {
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:8443";
    pub const DEFAULT_OPS_LISTEN: &'static str = "127.0.0.1:8444";
    pub const DEFAULT_API_LISTEN: &'static str = "127.0.0.1:8447";

    /// The operations listener's address for a role whose default port is
    /// `default_port` (so that the roles can run side by side on one host).
    pub fn ops_listen_or(&self, default_port: u16) -> SocketAddr {
        if self.ops_listen_given {
            self.ops_listen
        } else {
            SocketAddr::from(([127, 0, 0, 1], default_port))
        }
    }
    pub const DEFAULT_AUDIT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);
    /// The name of the signing key the embedded mode creates.
    pub const DEFAULT_AUDIT_KEY_NAME: &'static str = "vox-audit";
    pub const DEFAULT_RAW_RETENTION: Duration = Duration::from_secs(7 * 86_400);
    pub const DEFAULT_REJECTED_RETENTION: Duration = Duration::from_secs(30 * 86_400);

    /// Layers `cli` (flags and environment) over the file at `config` over
    /// the defaults.
    pub fn resolve(cli: SettingsLayer, config: Option<&Path>) -> Result<Settings, SettingsError> {
        let file = match config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                let file = toml::from_str::<SettingsLayer>(&text).map_err(|source| SettingsError::Parse {
                    path: path.to_owned(),
                    source,
                })?;
                if file.kek.is_some()
                    || file.kafka_sasl_password.is_some()
                    || file.ops_token.is_some()
                    || file.database_url.is_some()
                {
                    // The file holds a secret: only its owner may read it.
                    check_private(path)?;
                }
                file
            }
            None => SettingsLayer::default(),
        };
        let s = cli.over(file);
        let kafka_defaults = KafkaSettings::new("");
        Ok(Settings {
            data_dir: s.data_dir.unwrap_or_else(|| PathBuf::from("vox-data")),
            region: Region::parse(s.region.as_deref().unwrap_or("eu"))
                .map_err(|e| SettingsError::Invalid(format!("{e} (--region, VOX_REGION)")))?,
            kafka_brokers: s.kafka_brokers,
            kafka_partitions: s.kafka_partitions.unwrap_or(kafka_defaults.partitions),
            kafka_replication_factor: s.kafka_replication_factor.unwrap_or(kafka_defaults.replication_factor),
            kafka_min_insync_replicas: s
                .kafka_min_insync_replicas
                .unwrap_or(kafka_defaults.min_insync_replicas),
            kafka_allow_unsafe_durability: s.kafka_allow_unsafe_durability.unwrap_or(false),
            kafka_security: eventlog::KafkaSecurity {
                protocol: s.kafka_security_protocol,
                sasl_mechanism: s.kafka_sasl_mechanism,
                sasl_username: s.kafka_sasl_username,
                sasl_password: s.kafka_sasl_password,
                ca_file: s.kafka_ca_file,
            },
            ops_token: s.ops_token,
            database_url: s.database_url,
            database_migrate: s.database_migrate.unwrap_or(true),
            listen: s
                .listen
                .unwrap_or_else(|| Self::DEFAULT_LISTEN.parse().expect("the default address parses")),
            tls_cert: s.tls_cert,
            tls_key: s.tls_key,
            namespace: namespace(s.topic_namespace.unwrap_or_default()),
            raw_retention: retention(
                s.raw_retention,
                Self::DEFAULT_RAW_RETENTION,
                "--raw-retention, VOX_RAW_RETENTION",
            )?,
            rejected_retention: retention(
                s.rejected_retention,
                Self::DEFAULT_REJECTED_RETENTION,
                "--rejected-retention, VOX_REJECTED_RETENTION",
            )?,
            instance_id: s.instance_id.unwrap_or_else(host_name),
            ops_listen_given: s.ops_listen.is_some(),
            ops_listen: s
                .ops_listen
                .unwrap_or_else(|| Self::DEFAULT_OPS_LISTEN.parse().expect("the default address parses")),
            kek_file: s.kek_file,
            kek: s.kek,
            rate_limit: s.rate_limit,
            rate_burst: s.rate_burst,
            api_listen: s
                .api_listen
                .unwrap_or_else(|| Self::DEFAULT_API_LISTEN.parse().expect("the default address parses")),
            bcrypt_cost: s.bcrypt_cost,
            session_idle: s.session_idle.map(|d| d.0),
            session_lifetime: s.session_lifetime.map(|d| d.0),
            trusted_proxies: s.trusted_proxies,
            api_public_url: s.api_public_url,
            saml_key_file: s.saml_key_file,
            sso_clock_skew: s.sso_clock_skew.map(|d| d.0),
            audit_key_file: s.audit_key_file,
            audit_checkpoint_interval: match s.audit_checkpoint_interval.map(|d| d.0) {
                None => Self::DEFAULT_AUDIT_CHECKPOINT_INTERVAL,
                Some(d) if d >= Duration::from_secs(1) && d <= Duration::from_secs(3600) => d,
                Some(d) => {
                    return Err(SettingsError::Invalid(format!(
                        "--audit-checkpoint-interval {d:?}: use 1s to 1h (a log that grew gets a signed checkpoint \
                         this often)"
                    )))
                }
            },
        })
    }

    /// Kafka when brokers are configured, else the embedded log in the data
    /// directory. For the roles (`serve`, `ingest`, `process`, `project`)
    /// and the admin commands: on Kafka, `ensure_topics` creates the topics
    /// it sees missing (when the principal may) and never changes an
    /// existing one, so a principal whose topics exist needs no Create,
    /// DescribeConfigs or AlterConfigs ACL.
    pub async fn open_log(&self) -> Result<Log, SettingsError> {
        self.open_log_as(false).await
    }

    /// The log for `vox topics ensure`: on Kafka, its `ensure_topics` also
    /// corrects the retention of existing topics to these settings, and
    /// asks to create the topics its principal may not describe (the admin
    /// principal). The embedded log is the same as [`Settings::open_log`]'s
    /// (it applies its retention by pruning).
    pub async fn open_topic_admin_log(&self) -> Result<Log, SettingsError> {
        self.open_log_as(true).await
    }

    async fn open_log_as(&self, correct_retention: bool) -> Result<Log, SettingsError> {
        match &self.kafka_brokers {
            Some(brokers) => {
                self.check_durability()?;
                let mut k = KafkaSettings::new(brokers.clone());
                k.partitions = self.kafka_partitions;
                k.replication_factor = self.kafka_replication_factor;
                k.min_insync_replicas = self.kafka_min_insync_replicas;
                k.instance_id = self.instance_id.clone();
                k.security = self.kafka_security.clone();
                k.retention = self.retention();
                k.correct_retention = correct_retention;
                Ok(Log::Kafka(KafkaLog::connect(k)?))
            }
            None => {
                let path = self.data_file("log.sqlite")?;
                Ok(Log::Sqlite(SqliteLog::open_with(&path, self.retention()).await?))
            }
        }
    }

    /// The topics that hold unredacted personal data and how long the log
    /// keeps them; every other topic keeps its records for ever.
    pub fn retention(&self) -> eventlog::Retention {
        eventlog::Retention::from([
            (Topic::FeedbackRaw.name(&self.namespace), self.raw_retention),
            (Topic::FeedbackRejected.name(&self.namespace), self.rejected_retention),
        ])
    }

    /// PostgreSQL when a database URL is configured, else the embedded store.
    pub async fn open_store(&self) -> Result<Store, SettingsError> {
        match &self.database_url {
            Some(url) if self.database_migrate => Ok(Store::connect_postgres(url.expose()).await?),
            Some(url) => Ok(Store::connect_postgres_migrated(url.expose()).await?),
            None => {
                let path = self.data_file("store.sqlite")?;
                Ok(Store::open_sqlite(&path).await?)
            }
        }
    }

    /// The key-encryption key: `kek` (hex), else `kek_file`, else (embedded
    /// only) `<data-dir>/secrets/kek`, created on first use.
    pub fn kek(&self) -> Result<Kek, SettingsError> {
        if let Some(hex) = &self.kek {
            return Ok(Kek::from_hex(hex.expose(), "VOX_KEK")?);
        }
        if let Some(path) = &self.kek_file {
            return Ok(Kek::from_file(path)?);
        }
        if self.kafka_brokers.is_some() {
            return Err(SettingsError::Missing(
                "the distributed mode needs the key-encryption key that seals client secrets: set --kek-file \
                 (a file of 64 hex digits, mode 0600; e.g. `openssl rand -hex 32 > kek && chmod 600 kek`) or VOX_KEK"
                    .to_owned(),
            ));
        }
        self.create_data_dir()?;
        Ok(Kek::load_or_create(&self.data_dir.join("secrets/kek"))?)
    }

    /// The key that signs audit checkpoints: `audit_key_file`, else
    /// (embedded only) `<data-dir>/secrets/audit.key`, created on first use
    /// (named `vox-audit`).
    pub fn audit_key(&self) -> Result<auditlog::SigningKey, SettingsError> {
        if let Some(path) = &self.audit_key_file {
            return auditor::keyfile::load(path).map_err(|e| SettingsError::Invalid(e.to_string()));
        }
        if self.kafka_brokers.is_some() {
            return Err(SettingsError::Missing(
                "the distributed mode needs the key that signs audit checkpoints: set --audit-key-file \
                 (make one with `vox audit keygen --name <your domain>/audit --out FILE`) or VOX_AUDIT_KEY_FILE"
                    .to_owned(),
            ));
        }
        self.create_data_dir()?;
        auditor::keyfile::load_or_create(&self.data_dir.join("secrets/audit.key"), Self::DEFAULT_AUDIT_KEY_NAME)
            .map_err(|e| SettingsError::Invalid(e.to_string()))
    }

    /// Auditor settings from these settings.
    pub fn auditor(&self) -> Result<auditor::AuditorSettings, SettingsError> {
        let mut settings = auditor::AuditorSettings::new(self.namespace.clone(), self.audit_key()?);
        settings.checkpoint_interval = self.audit_checkpoint_interval;
        Ok(settings)
    }

    /// Ingest settings from these settings.
    pub fn ingest(&self) -> Result<ingest::IngestSettings, SettingsError> {
        let mut settings = ingest::IngestSettings::new(self.region.clone(), self.namespace.clone(), self.kek()?);
        if let Some(rate) = self.rate_limit {
            settings.rate_per_second = rate;
        }
        if let Some(burst) = self.rate_burst {
            settings.rate_burst = burst;
        }
        settings.ops_token = self.ops_token.clone();
        Ok(settings)
    }

    /// People API settings from these settings.
    pub fn api(&self) -> Result<api::ApiSettings, SettingsError> {
        let mut settings = api::ApiSettings::new(self.region.clone(), self.namespace.clone(), self.kek()?);
        if let Some(cost) = self.bcrypt_cost {
            if !(login::password::MIN_COST..=login::password::MAX_COST).contains(&cost) {
                return Err(SettingsError::Invalid(format!(
                    "--bcrypt-cost {cost}: use {} to {} (each step doubles the work; 12 takes about 0.25 s)",
                    login::password::MIN_COST,
                    login::password::MAX_COST
                )));
            }
            settings.bcrypt_cost = cost;
        }
        if let Some(idle) = self.session_idle {
            settings.session_idle = idle;
        }
        if let Some(lifetime) = self.session_lifetime {
            settings.session_lifetime = lifetime;
        }
        if settings.session_idle > settings.session_lifetime || settings.session_idle.is_zero() {
            return Err(SettingsError::Invalid(
                "--session-idle must be above zero and at most --session-lifetime".into(),
            ));
        }
        if let Some(proxies) = &self.trusted_proxies {
            settings.trusted_proxies = api::parse_trusted_proxies(proxies)
                .map_err(|e| SettingsError::Invalid(format!("--trusted-proxies: {e}")))?;
        }
        settings.ops_token = self.ops_token.clone();
        if let Some(skew) = self.sso_clock_skew {
            if skew > Duration::from_secs(600) {
                return Err(SettingsError::Invalid(
                    "--sso-clock-skew: at most 10m (assertions are valid for minutes)".into(),
                ));
            }
            settings.sso_skew = skew;
        }
        if let Some(url) = &self.api_public_url {
            settings.public_url = Some(public_url(url)?);
            settings.saml = Some(std::sync::Arc::new(self.saml_keys(url)?));
        }
        Ok(settings)
    }

    /// The SAML service provider's key and certificate: `saml_key_file`,
    /// else (embedded only) `<data-dir>/secrets/saml-sp.pem`, created on
    /// first use (a certificate for the public URL's host, ten years).
    pub fn saml_keys(&self, public: &str) -> Result<api::sso::SamlKeys, SettingsError> {
        if let Some(path) = &self.saml_key_file {
            return load_saml_keys(path);
        }
        if self.kafka_brokers.is_some() {
            return Err(SettingsError::Missing(
                "single sign-on in the distributed mode needs the service provider's key, shared by every API \
                 replica: set --saml-key-file (a PEM file with the private key and its certificate, mode 0600; \
                 e.g. `vox sso keygen --out FILE --name vox.example.com`) or VOX_SAML_KEY_FILE"
                    .to_owned(),
            ));
        }
        self.create_data_dir()?;
        let path = self.data_dir.join("secrets/saml-sp.pem");
        if !path.exists() {
            let host = public
                .split("://")
                .nth(1)
                .unwrap_or(public)
                .split(['/', ':'])
                .next()
                .unwrap_or("vox");
            write_saml_keys(&path, host)?;
        }
        load_saml_keys(&path)
    }

    pub fn require_kafka(&self, role: &str) -> Result<(), SettingsError> {
        if self.kafka_brokers.is_none() {
            return Err(SettingsError::Missing(format!(
                "`vox {role}` runs against Kafka: set --kafka-brokers or VOX_KAFKA_BROKERS (for one machine, use `vox serve`)"
            )));
        }
        Ok(())
    }

    pub fn require_database(&self, role: &str) -> Result<(), SettingsError> {
        if self.database_url.is_none() {
            return Err(SettingsError::Missing(format!(
                "`vox {role}` writes to PostgreSQL: set --database-url or VOX_DATABASE_URL (for one machine, use `vox serve`)"
            )));
        }
        Ok(())
    }

    /// Which store `open_store` opens, for messages (never the password).
    pub fn store_description(&self) -> String {
        match &self.database_url {
            Some(url) => {
                let host = url.expose().rsplit('@').next().unwrap_or("?");
                format!("PostgreSQL at {host}")
            }
            None => format!("the embedded store {}", self.data_dir.join("store.sqlite").display()),
        }
    }

    /// Refuses Kafka durability settings under which an acknowledged batch
    /// could be lost with one broker, unless explicitly allowed.
    pub fn check_durability(&self) -> Result<(), SettingsError> {
        let (rf, isr) = (self.kafka_replication_factor, self.kafka_min_insync_replicas);
        if rf < 1 || isr < 1 || isr > rf {
            return Err(SettingsError::Invalid(format!(
                "Kafka replication factor {rf} and min.insync.replicas {isr} do not fit: use 1 <= min.insync.replicas <= replication factor"
            )));
        }
        if (rf < 3 || isr < 2) && !self.kafka_allow_unsafe_durability {
            return Err(SettingsError::Invalid(format!(
                "Kafka topics would have replication factor {rf} and min.insync.replicas {isr}: an acknowledged batch \
                 could be lost with a single broker. Use at least 3 and 2 (the defaults), or, for a single-broker \
                 development cluster, set --kafka-allow-unsafe-durability (VOX_KAFKA_ALLOW_UNSAFE_DURABILITY=true)"
            )));
        }
        Ok(())
    }

    /// Creates the data directory (mode 0700) or checks that an existing
    /// one is private.
    pub fn create_data_dir(&self) -> Result<(), SettingsError> {
        use std::os::unix::fs::DirBuilderExt;
        if self.data_dir.exists() {
            return check_private(&self.data_dir);
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.data_dir)
            .map_err(|source| SettingsError::DataDir {
                path: self.data_dir.clone(),
                source,
            })
    }

    /// A file in the data directory: created empty with mode 0600 (SQLite
    /// gives its `-wal` and `-shm` files the same mode), or checked to be
    /// private when it exists.
    fn data_file(&self, name: &str) -> Result<PathBuf, SettingsError> {
        use std::os::unix::fs::OpenOptionsExt;
        self.create_data_dir()?;
        let path = self.data_dir.join(name);
        if path.exists() {
            check_private(&path)?;
            for suffix in ["-wal", "-shm"] {
                let side = self.data_dir.join(format!("{name}{suffix}"));
                if side.exists() {
                    check_private(&side)?;
                }
            }
        } else {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|source| SettingsError::DataDir {
                    path: path.clone(),
                    source,
                })?;
        }
        Ok(path)
    }
}

/// Refuses a file or directory that users other than its owner can access.
fn check_private(path: &Path) -> Result<(), SettingsError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|source| SettingsError::Read {
            path: path.to_owned(),
            source,
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(SettingsError::LoosePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// `--api-public-url`: https (http only for loopback), no query or fragment.
fn public_url(url: &str) -> Result<String, SettingsError> {
    let trimmed = url.trim().trim_end_matches('/');
    let host = trimmed.strip_prefix("https://").or_else(|| {
        trimmed
            .strip_prefix("http://")
            .filter(|h| h.starts_with("127.0.0.1") || h.starts_with("localhost"))
    });
    match host {
        Some(h) if !h.is_empty() && !trimmed.contains(['?', '#', ' ']) => Ok(trimmed.to_owned()),
        _ => Err(SettingsError::Invalid(format!(
            "--api-public-url '{url}': use the https:// URL people reach the API at, e.g. https://vox.example.com \
             (http:// only for 127.0.0.1 or localhost)"
        ))),
    }
}

/// Reads the SAML key file: private and loose files are refused.
pub fn load_saml_keys(path: &Path) -> Result<api::sso::SamlKeys, SettingsError> {
    check_private(path)?;
    let pem = std::fs::read(path).map_err(|source| SettingsError::Read {
        path: path.to_owned(),
        source,
    })?;
    let bad = |what: &str| {
        SettingsError::Invalid(format!(
            "{}: {what} (the file holds the PEM private key and its PEM certificate; make one with `vox sso keygen`)",
            path.display()
        ))
    };
    let key = openssl::pkey::PKey::private_key_from_pem(&pem).map_err(|_| bad("no readable private key"))?;
    let certificate = openssl::x509::X509::from_pem(&pem).map_err(|_| bad("no readable certificate"))?;
    let public = certificate
        .public_key()
        .map_err(|_| bad("the certificate's key is unreadable"))?;
    if !key.public_eq(&public) {
        return Err(bad("the certificate is not the private key's"));
    }
    Ok(api::sso::SamlKeys { key, certificate })
}

/// Makes a new SAML key file (mode 0600; never replaces one).
pub fn write_saml_keys(path: &Path, name: &str) -> Result<(), SettingsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let (key, certificate) =
        saml::generate_key(name).map_err(|e| SettingsError::Invalid(format!("making the SAML key: {e}")))?;
    let mut pem = key
        .private_key_to_pem_pkcs8()
        .map_err(|e| SettingsError::Invalid(format!("writing the SAML key: {e}")))?;
    pem.extend(
        certificate
            .to_pem()
            .map_err(|e| SettingsError::Invalid(format!("writing the SAML certificate: {e}")))?,
    );
    let write = || -> std::io::Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(&pem)?;
        file.sync_all()
    };
    write().map_err(|source| SettingsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A duration setting: a whole number and a unit, `30s`, `15m`, `24h` or
/// `7d` (a string in the TOML file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<HumanDuration, String> {
        let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
        let n: u64 = number
            .parse()
            .map_err(|_| format!("'{text}' is not a duration such as 30m, 24h or 7d"))?;
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => {
                return Err(format!(
                    "'{text}' is not a duration such as 30m, 24h or 7d (units: s, m, h, d)"
                ))
            }
        };
        n.checked_mul(scale)
            .map(|secs| HumanDuration(Duration::from_secs(secs)))
            .ok_or_else(|| format!("'{text}' is too long"))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<HumanDuration, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A retention setting (`names`: its flag and variable), `default` when
/// unset; zero is refused.
fn retention(value: Option<HumanDuration>, default: Duration, names: &str) -> Result<Duration, SettingsError> {
    let retention = value.map_or(default, |d| d.0);
    if retention.is_zero() {
        return Err(SettingsError::Invalid(format!(
            "a retention of zero ({names}) would delete records as soon as they are written: \
             give a duration such as 7d"
        )));
    }
    Ok(retention)
}

/// A topic namespace ends with a separator, so that `staging` names
/// `staging.vox.feedback.raw` and the group `staging.vox-processor`.
fn namespace(prefix: String) -> String {
    if prefix.is_empty() || prefix.ends_with(['.', '-', '_']) {
        prefix
    } else {
        format!("{prefix}.")
    }
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "0".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// README lists every key of the configuration file, and no other.
    #[test]
    fn readme_lists_every_setting() {
        let readme = include_str!("../../README.md");
        let start = readme.find("keys as the").expect("README's configuration section");
        let end = start
            + readme[start..]
                .find("unknown keys are refused")
                .expect("the end of the list");
        let listed: Vec<&str> = readme[start..end]
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|k| *k != "_")
            .collect();
        assert_eq!(listed, SettingsLayer::KEYS, "README's list of keys, in the same order");
    }

    #[test]
    fn flags_beat_the_file_which_beats_the_defaults() {
        let dir = std::env::temp_dir().join(format!("vox-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("vox.toml");
        std::fs::write(&file, "region = \"us\"\nrate_limit = 7\n").expect("write");
        let cli = SettingsLayer {
            region: Some("ch".into()),
            ..SettingsLayer::default()
        };
        let s = Settings::resolve(cli, Some(&file)).expect("resolves");
        assert_eq!(
            (s.region.as_str(), s.rate_limit, s.kafka_partitions),
            ("ch", Some(7), 3)
        );
        std::fs::write(&file, "regoin = \"us\"\n").expect("write");
        let err = Settings::resolve(SettingsLayer::default(), Some(&file)).expect_err("unknown key");
        assert!(err.to_string().contains("regoin"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Single sign-on is on only with a public URL; the embedded mode makes
    /// the service provider's key file once (0600) and reads it again; a
    /// loose file, a bad URL and the distributed mode without a key file
    /// are refused with what to do.
    #[test]
    fn single_sign_on_settings_and_the_key_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let layer = |url: Option<&str>| SettingsLayer {
            data_dir: Some(dir.path().join("data")),
            api_public_url: url.map(str::to_owned),
            ..SettingsLayer::default()
        };
        let off = Settings::resolve(layer(None), None)
            .expect("resolves")
            .api()
            .expect("api");
        assert!(off.public_url.is_none() && off.saml.is_none());
        let on = Settings::resolve(layer(Some("https://vox.example.com/")), None)
            .expect("resolves")
            .api()
            .expect("api");
        assert_eq!(on.public_url.as_deref(), Some("https://vox.example.com"));
        let key_file = dir.path().join("data/secrets/saml-sp.pem");
        let mode = std::fs::metadata(&key_file).expect("made").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let first = on.saml.expect("keys").certificate.to_der().expect("der");
        let again = Settings::resolve(layer(Some("https://vox.example.com")), None)
            .expect("resolves")
            .api()
            .expect("api");
        assert_eq!(
            again.saml.expect("keys").certificate.to_der().expect("der"),
            first,
            "the same key"
        );
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let loose = Settings::resolve(layer(Some("https://vox.example.com")), None)
            .expect("resolves")
            .api()
            .expect_err("a loose key file");
        assert!(loose.to_string().contains("chmod"), "{loose}");
        let plain = Settings::resolve(layer(Some("http://vox.example.com")), None)
            .expect("resolves")
            .api()
            .expect_err("http");
        assert!(plain.to_string().contains("https://"), "{plain}");
        let distributed = SettingsLayer {
            kafka_brokers: Some("127.0.0.1:9".into()),
            kek: Some(Secret::new("00".repeat(32))),
            ..layer(Some("https://vox.example.com"))
        };
        let missing = Settings::resolve(distributed, None)
            .expect("resolves")
            .api()
            .expect_err("no key file");
        assert!(missing.to_string().contains("--saml-key-file"), "{missing}");
    }

    /// Raw input and dead letters have a bounded retention (7 and 30 days
    /// by default; flags and the file as for every setting); other topics
    /// none; zero is refused, naming the setting.
    #[test]
    fn retention_of_the_topics_with_personal_data() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            settings: SettingsLayer,
        }
        let day = Duration::from_secs(86_400);
        let s = Settings::resolve(SettingsLayer::default(), None).expect("defaults");
        assert_eq!((s.raw_retention, s.rejected_retention), (7 * day, 30 * day));
        assert_eq!(
            s.retention(),
            eventlog::Retention::from([
                ("vox.feedback.raw".to_owned(), 7 * day),
                ("vox.feedback.rejected".to_owned(), 30 * day),
            ]),
            "only the raw and rejected topics expire"
        );

        let cli = Cli::try_parse_from(["vox", "--raw-retention", "36h", "--topic-namespace", "staging"])
            .expect("flags parse")
            .settings;
        let s = Settings::resolve(cli, None).expect("resolves");
        assert_eq!(
            s.retention().get("staging.vox.feedback.raw"),
            Some(&Duration::from_secs(36 * 3600))
        );
        assert_eq!(s.rejected_retention, 30 * day);

        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("vox.toml");
        std::fs::write(&file, "raw_retention = \"2d\"\nrejected_retention = \"90d\"\n").expect("write");
        let s = Settings::resolve(SettingsLayer::default(), Some(&file)).expect("resolves");
        assert_eq!((s.raw_retention, s.rejected_retention), (2 * day, 90 * day));
        std::fs::write(&file, "raw_retention = \"7 days\"\n").expect("write");
        let err = Settings::resolve(SettingsLayer::default(), Some(&file)).expect_err("not a duration");
        assert!(err.to_string().contains("7 days"), "{err}");

        let zero = Cli::try_parse_from(["vox", "--rejected-retention", "0d"])
            .expect("flags parse")
            .settings;
        let err = Settings::resolve(zero, None).expect_err("zero retention");
        assert!(err.to_string().contains("--rejected-retention"), "{err}");
        assert!(
            Cli::try_parse_from(["vox", "--raw-retention", "1w"]).is_err(),
            "unknown unit"
        );
        assert!(Cli::try_parse_from(["vox", "--raw-retention", "7"]).is_err(), "no unit");
    }
}
