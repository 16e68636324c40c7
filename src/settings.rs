//! One typed `Settings`, layered: defaults, then a TOML file (`--config` or
//! `VOX_CONFIG`), then `VOX_*` environment variables and flags (clap reads
//! both; a flag wins over its variable).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use auth::Kek;
use eventlog::{KafkaLog, KafkaSettings, Log, SqliteLog};
use serde::Deserialize;
use store::Store;

/// A value that must not appear in logs or debug output.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

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
    /// Replication factor of each topic Vox creates on Kafka.
    pub kafka_replication_factor: Option<i32>,
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
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub region: String,
    pub kafka_brokers: Option<String>,
    pub kafka_partitions: i32,
    pub kafka_replication_factor: i32,
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
                toml::from_str::<FileSettings>(&text).map_err(|source| SettingsError::Parse {
                    path: path.to_owned(),
                    source,
                })?
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
                .unwrap_or(1),
            database_url: cli.database_url.or(file.database_url),
            listen: cli
                .listen
                .or(file.listen)
                .unwrap_or_else(|| Self::DEFAULT_LISTEN.parse().expect("the default address parses")),
            tls_cert: cli.tls_cert.or(file.tls_cert),
            tls_key: cli.tls_key.or(file.tls_key),
            namespace: cli.topic_namespace.or(file.topic_namespace).unwrap_or_default(),
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
                let mut k = KafkaSettings::new(brokers.clone());
                k.partitions = self.kafka_partitions;
                k.replication_factor = self.kafka_replication_factor;
                k.instance_id = self.instance_id.clone();
                Ok(Log::Kafka(KafkaLog::connect(k)?))
            }
            None => {
                self.create_data_dir()?;
                Ok(Log::Sqlite(SqliteLog::open(&self.data_dir.join("log.sqlite")).await?))
            }
        }
    }

    /// PostgreSQL when a database URL is configured, else the embedded store.
    pub async fn open_store(&self) -> Result<Store, SettingsError> {
        match &self.database_url {
            Some(url) => Ok(Store::connect_postgres(url.expose()).await?),
            None => {
                self.create_data_dir()?;
                Ok(Store::open_sqlite(&self.data_dir.join("store.sqlite")).await?)
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

    fn create_data_dir(&self) -> Result<(), SettingsError> {
        std::fs::create_dir_all(&self.data_dir).map_err(|source| SettingsError::DataDir {
            path: self.data_dir.clone(),
            source,
        })
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
