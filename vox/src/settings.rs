//! One typed `Settings`, layered: defaults, then a TOML file (`--config` or
//! `VOX_CONFIG`), then `VOX_*` environment variables and flags (clap reads
//! both; a flag wins over its variable).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use auth::Kek;
use eventlog::{KafkaLog, KafkaSettings, Log, SqliteLog};
use serde::Deserialize;
use store::Store;

pub use auth::Secret;

/// The TOML file: every key optional, unknown keys refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// Directory of the embedded backends (log, store, TLS certificate).
    pub data_dir: Option<PathBuf>,
    /// Region this node serves, e.g. `eu`.
    pub region: Option<String>,
    /// Kafka bootstrap brokers; when set, the log is Kafka.
    pub kafka_brokers: Option<String>,
    /// Partitions of each topic Vox creates on Kafka.
    pub kafka_partitions: Option<i32>,
    /// Replication factor of each topic Vox creates on Kafka [default: 3].
    pub kafka_replication_factor: Option<i32>,
    /// `min.insync.replicas` of each topic Vox creates on Kafka [default: 2].
    pub kafka_min_insync_replicas: Option<i32>,
    /// Allow a replication factor below 3 or `min.insync.replicas` below 2
    /// (a single-broker development cluster).
    pub kafka_allow_unsafe_durability: Option<bool>,
    /// Kafka `security.protocol`: plaintext, ssl, sasl_plaintext, sasl_ssl.
    pub kafka_security_protocol: Option<String>,
    /// Kafka SASL mechanism, e.g. SCRAM-SHA-512.
    pub kafka_sasl_mechanism: Option<String>,
    /// Kafka SASL user name.
    pub kafka_sasl_username: Option<String>,
    /// Kafka SASL password.
    pub kafka_sasl_password: Option<Secret>,
    /// PEM file of the CA that signed the Kafka brokers' certificates.
    pub kafka_ca_file: Option<PathBuf>,
    /// Bearer token that `/metrics` on the operations listener requires.
    pub ops_token: Option<Secret>,
    /// PostgreSQL URL; when set, the store is PostgreSQL.
    pub database_url: Option<Secret>,
    /// Address of the HTTPS ingest listener.
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain of the ingest listener.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the ingest listener.
    pub tls_key: Option<PathBuf>,
    /// Prefix of every topic name (to share a cluster between test runs).
    pub topic_namespace: Option<String>,
    /// Stable id of this replica among its role's replicas (part of Kafka
    /// transactional ids) [default: the host name].
    pub instance_id: Option<String>,
    /// Address of the HTTPS operations listener (`/metrics`, `/healthz`, `/readyz`).
    pub ops_listen: Option<SocketAddr>,
    /// File holding the key-encryption key (64 hex digits, mode 0600).
    pub kek_file: Option<PathBuf>,
    /// The key-encryption key itself (64 hex digits); prefer `kek_file`.
    pub kek: Option<Secret>,
    /// Sustained requests per second per client at an ingest node.
    pub rate_limit: Option<u32>,
    /// Requests a client may send at once above the sustained rate.
    pub rate_burst: Option<u32>,
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
    pub region: String,
    pub kafka_brokers: Option<String>,
    pub kafka_partitions: i32,
    pub kafka_replication_factor: i32,
    pub kafka_min_insync_replicas: i32,
    pub kafka_allow_unsafe_durability: bool,
    pub kafka_security: eventlog::KafkaSecurity,
    pub ops_token: Option<Secret>,
    pub database_url: Option<Secret>,
    pub listen: SocketAddr,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub namespace: String,
    pub instance_id: String,
    pub ops_listen: SocketAddr,
    pub kek_file: Option<PathBuf>,
    pub kek: Option<Secret>,
    pub rate_limit: u32,
    pub rate_burst: u32,
}

impl Settings {
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:8443";
    pub const DEFAULT_OPS_LISTEN: &'static str = "127.0.0.1:8444";

    /// Layers `cli` (flags and environment) over `file` over the defaults.
    pub fn resolve(cli: FileSettings, config: Option<&Path>) -> Result<Settings, SettingsError> {
        let file = match config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                let file = toml::from_str::<FileSettings>(&text).map_err(|source| SettingsError::Parse {
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
            None => FileSettings::default(),
        };
        Ok(Settings {
            data_dir: cli
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("vox-data")),
            region: cli.region.or(file.region).unwrap_or_else(|| "eu".to_owned()),
            kafka_brokers: cli.kafka_brokers.or(file.kafka_brokers),
            kafka_partitions: cli.kafka_partitions.or(file.kafka_partitions).unwrap_or(3),
            kafka_replication_factor: cli
                .kafka_replication_factor
                .or(file.kafka_replication_factor)
                .unwrap_or(3),
            kafka_min_insync_replicas: cli
                .kafka_min_insync_replicas
                .or(file.kafka_min_insync_replicas)
                .unwrap_or(2),
            kafka_allow_unsafe_durability: cli
                .kafka_allow_unsafe_durability
                .or(file.kafka_allow_unsafe_durability)
                .unwrap_or(false),
            kafka_security: eventlog::KafkaSecurity {
                protocol: cli.kafka_security_protocol.or(file.kafka_security_protocol),
                sasl_mechanism: cli.kafka_sasl_mechanism.or(file.kafka_sasl_mechanism),
                sasl_username: cli.kafka_sasl_username.or(file.kafka_sasl_username),
                sasl_password: cli
                    .kafka_sasl_password
                    .or(file.kafka_sasl_password)
                    .map(|p| p.expose().to_owned()),
                ca_file: cli.kafka_ca_file.or(file.kafka_ca_file),
            },
            ops_token: cli.ops_token.or(file.ops_token),
            database_url: cli.database_url.or(file.database_url),
            listen: cli
                .listen
                .or(file.listen)
                .unwrap_or_else(|| Self::DEFAULT_LISTEN.parse().expect("the default address parses")),
            tls_cert: cli.tls_cert.or(file.tls_cert),
            tls_key: cli.tls_key.or(file.tls_key),
            namespace: namespace(cli.topic_namespace.or(file.topic_namespace).unwrap_or_default()),
            instance_id: cli.instance_id.or(file.instance_id).unwrap_or_else(host_name),
            ops_listen: cli
                .ops_listen
                .or(file.ops_listen)
                .unwrap_or_else(|| Self::DEFAULT_OPS_LISTEN.parse().expect("the default address parses")),
            kek_file: cli.kek_file.or(file.kek_file),
            kek: cli.kek.or(file.kek),
            rate_limit: cli.rate_limit.or(file.rate_limit).unwrap_or(100),
            rate_burst: cli.rate_burst.or(file.rate_burst).unwrap_or(200),
        })
    }

    /// Kafka when brokers are configured, else the embedded log in the data
    /// directory.
    pub async fn open_log(&self) -> Result<Log, SettingsError> {
        match &self.kafka_brokers {
            Some(brokers) => {
                self.check_durability()?;
                let mut k = KafkaSettings::new(brokers.clone());
                k.partitions = self.kafka_partitions;
                k.replication_factor = self.kafka_replication_factor;
                k.min_insync_replicas = self.kafka_min_insync_replicas;
                k.instance_id = self.instance_id.clone();
                k.security = self.kafka_security.clone();
                Ok(Log::Kafka(KafkaLog::connect(k)?))
            }
            None => {
                let path = self.data_file("log.sqlite")?;
                Ok(Log::Sqlite(SqliteLog::open(&path).await?))
            }
        }
    }

    /// PostgreSQL when a database URL is configured, else the embedded store.
    pub async fn open_store(&self) -> Result<Store, SettingsError> {
        match &self.database_url {
            Some(url) => Ok(Store::connect_postgres(url.expose()).await?),
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

    /// Ingest settings from these settings.
    pub fn ingest(&self) -> Result<ingest::IngestSettings, SettingsError> {
        let mut settings = ingest::IngestSettings::new(self.region.clone(), self.namespace.clone(), self.kek()?);
        settings.rate_per_second = self.rate_limit;
        settings.rate_burst = self.rate_burst;
        settings.ops_token = self.ops_token.clone();
        Ok(settings)
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
