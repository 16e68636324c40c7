//! The ingestion node: HTTPS `POST /v1/feedback/batch`. It authenticates the
//! client (the tenant comes from the credential, never from the body), checks
//! the tenant's region, validates every item, appends the valid ones to
//! `vox.feedback.raw` and answers only after the log has them durably, with
//! a result for every item.

mod api;
pub mod error;
mod server;
pub mod tls;
pub mod validate;

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use eventlog::{Log, LogError};
use schemas::Topic;
use tenants::{ConfigFollower, Directory};
use tokio::net::TcpListener;

pub use api::{BatchResponse, ItemResult};
pub use validate::Limits;

#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// The region of this node; tenants of other regions are refused.
    pub region: String,
    /// Prefix of every topic name (empty in production).
    pub namespace: String,
    /// Request limits.
    pub limits: Limits,
    /// How often the node re-reads `vox.config` (credentials, collections).
    pub config_refresh: Duration,
}

impl IngestSettings {
    pub fn new(region: impl Into<String>, namespace: impl Into<String>) -> IngestSettings {
        IngestSettings {
            region: region.into(),
            namespace: namespace.into(),
            limits: Limits::default(),
            config_refresh: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("the listener failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The tenant configuration as this node knows it, refreshed from the log.
pub(crate) struct SharedDirectory {
    current: RwLock<Directory>,
    follower: tokio::sync::Mutex<ConfigFollower>,
}

impl SharedDirectory {
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Directory) -> T) -> T {
        f(&self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Reads `vox.config` to its end and publishes the new state.
    pub(crate) async fn refresh(&self) -> Result<(), LogError> {
        let mut follower = self.follower.lock().await;
        if follower.catch_up().await? {
            let next = follower.directory().clone();
            *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = next;
        }
        Ok(())
    }
}

pub(crate) struct AppState {
    pub(crate) log: Log,
    pub(crate) directory: SharedDirectory,
    pub(crate) settings: IngestSettings,
    pub(crate) raw_topic: String,
}

/// Serves HTTPS on `listener` until `shutdown` completes, then stops
/// accepting, lets in-flight requests finish, and returns.
pub async fn run(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    log: Log,
    settings: IngestSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), IngestError> {
    let topics: Vec<String> = Topic::ALL.iter().map(|t| t.name(&settings.namespace)).collect();
    log.ensure_topics(&topics).await?;
    let follower = ConfigFollower::new(&log, &Topic::Config.name(&settings.namespace)).await?;
    let state = Arc::new(AppState {
        directory: SharedDirectory {
            current: RwLock::new(follower.directory().clone()),
            follower: follower.into(),
        },
        raw_topic: Topic::FeedbackRaw.name(&settings.namespace),
        log,
        settings,
    });
    let refresher = tokio::spawn({
        let state = state.clone();
        async move {
            let mut tick = tokio::time::interval(state.settings.config_refresh);
            loop {
                tick.tick().await;
                if let Err(e) = state.directory.refresh().await {
                    tracing::warn!(error = %e, "refreshing the tenant configuration failed");
                }
            }
        }
    });
    tracing::info!(addr = ?listener.local_addr().ok(), region = %state.settings.region, "ingest listening (HTTPS)");
    let result = server::serve(listener, tls, api::router(state), shutdown).await;
    refresher.abort();
    result
}
