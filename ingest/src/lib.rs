//! The ingestion node: HTTPS `POST /v1/feedback/batch`. It verifies the
//! request's signature (the tenant comes from the credential, never from the
//! body), checks the tenant's region, decodes and validates every item,
//! appends the valid ones to `vox.feedback.raw` together with an audit
//! record, and answers only after the log has them durably, with a result for
//! every item. A separate operations listener serves `/metrics`,
//! `/healthz` and `/readyz`.

mod api;
mod audit;
pub mod body;
pub mod error;
mod ops;
mod overload;
mod server;
mod signature;
pub mod telemetry;
pub mod tls;
pub mod validate;

use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use auth::Kek;
use eventlog::{Log, LogError};
use schemas::Topic;
use tenants::{ConfigFollower, Directory};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use api::{BatchResponse, ItemResult};
pub use validate::Limits;

#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// The region of this node; tenants of other regions are refused.
    pub region: String,
    /// Prefix of every topic name (empty in production).
    pub namespace: String,
    /// Key-encryption key that opens the sealed client secrets.
    pub kek: Kek,
    /// Request limits.
    pub limits: Limits,
    /// How far a request's timestamp may be from this node's clock.
    pub clock_skew: Duration,
    /// Most nonces remembered for replay protection.
    pub replay_capacity: usize,
    /// Sustained requests per second per client.
    pub rate_per_second: u32,
    /// Requests a client may send at once above the sustained rate.
    pub rate_burst: u32,
    /// Items waiting for the log above which new batches are refused.
    pub high_watermark: usize,
    /// Items waiting for the log below which batches are accepted again.
    pub low_watermark: usize,
    /// How often the node re-reads `vox.config` (credentials, revocations).
    pub config_refresh: Duration,
}

impl IngestSettings {
    pub fn new(region: impl Into<String>, namespace: impl Into<String>, kek: Kek) -> IngestSettings {
        IngestSettings {
            region: region.into(),
            namespace: namespace.into(),
            kek,
            limits: Limits::default(),
            clock_skew: Duration::from_secs(300),
            replay_capacity: 1_000_000,
            rate_per_second: 100,
            rate_burst: 200,
            high_watermark: 50_000,
            low_watermark: 25_000,
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

/// The public (batch API) listener and the optional operations listener.
pub struct Listeners {
    pub public: TcpListener,
    pub ops: Option<TcpListener>,
}

/// The tenant configuration as this node knows it, refreshed from the log.
pub(crate) struct SharedDirectory {
    current: RwLock<Directory>,
    /// The follower, and when its last catch-up started.
    follower: tokio::sync::Mutex<(ConfigFollower, Option<std::time::Instant>)>,
}

impl SharedDirectory {
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Directory) -> T) -> T {
        f(&self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Reads `vox.config` to its end and publishes the new state.
    pub(crate) async fn refresh(&self) -> Result<(), LogError> {
        self.refresh_after(Duration::ZERO).await
    }

    /// Makes sure a catch-up starts after this call was made, sharing one
    /// with concurrent callers, and starting catch-ups at most once per
    /// `min_interval` (later callers wait for their turn, none is skipped).
    pub(crate) async fn refresh_after(&self, min_interval: Duration) -> Result<(), LogError> {
        let asked = std::time::Instant::now();
        let mut guard = self.follower.lock().await;
        let (follower, last_started) = &mut *guard;
        if last_started.is_some_and(|started| started >= asked) {
            return Ok(());
        }
        if let Some(next) = last_started.map(|started| started + min_interval) {
            tokio::time::sleep_until(next.into()).await;
        }
        *last_started = Some(std::time::Instant::now());
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
    pub(crate) audit_topic: String,
    pub(crate) audit: audit::AuditSink,
    pub(crate) replays: signature::ReplayGuard,
    pub(crate) in_flight: overload::InFlight,
    pub(crate) rate_limits: overload::RateLimits,
    pub(crate) stopping: AtomicBool,
}

/// Serves HTTPS until `shutdown` completes; then stops accepting, lets
/// in-flight requests finish, writes the queued audit records, flushes the
/// producer and returns.
pub async fn run(
    listeners: Listeners,
    tls: Arc<rustls::ServerConfig>,
    log: Log,
    settings: IngestSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), IngestError> {
    telemetry::handle();
    let topics: Vec<String> = Topic::ALL.iter().map(|t| t.name(&settings.namespace)).collect();
    log.ensure_topics(&topics).await?;
    let follower = ConfigFollower::new(&log, &Topic::Config.name(&settings.namespace)).await?;
    let audit_topic = Topic::Audit.name(&settings.namespace);
    let (audit, audit_task) = audit::AuditSink::spawn(log.clone(), audit_topic.clone());
    let state = Arc::new(AppState {
        directory: SharedDirectory {
            current: RwLock::new(follower.directory().clone()),
            follower: (follower, None).into(),
        },
        raw_topic: Topic::FeedbackRaw.name(&settings.namespace),
        audit_topic,
        audit,
        replays: signature::ReplayGuard::new(settings.replay_capacity),
        in_flight: overload::InFlight::new(settings.high_watermark, settings.low_watermark),
        rate_limits: overload::RateLimits::new(settings.rate_per_second, settings.rate_burst),
        stopping: AtomicBool::new(false),
        log: log.clone(),
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
                metrics::gauge!(telemetry::PRODUCER_QUEUE).set(state.log.queue_depth() as f64);
            }
        }
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    tracing::info!(
        public = ?listeners.public.local_addr().ok(),
        ops = ?listeners.ops.as_ref().and_then(|l| l.local_addr().ok()),
        region = %state.settings.region,
        "ingest listening (HTTPS)"
    );
    let public = server::serve(
        listeners.public,
        tls.clone(),
        api::router(state.clone()),
        stopped(stop_rx.clone()),
    );
    let ops = async {
        match listeners.ops {
            Some(listener) => server::serve(listener, tls, ops::router(state.clone()), stopped(stop_rx.clone())).await,
            None => Ok(()),
        }
    };
    let signal = async {
        shutdown.await;
        state.stopping.store(true, std::sync::atomic::Ordering::Release);
        let _ = stop_tx.send(true);
    };
    let (public, ops, ()) = tokio::join!(public, ops, signal);
    refresher.abort();
    // The last requests are answered; write what the audit queue holds.
    state.audit.close();
    if tokio::time::timeout(Duration::from_secs(10), audit_task).await.is_err() {
        tracing::error!("the audit queue was not written within 10 s");
    }
    log.flush(Duration::from_secs(10)).await?;
    public.and(ops)
}
