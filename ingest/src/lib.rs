//! The ingestion node: HTTPS `POST /v1/feedback/batch`. It verifies the
//! request's signature (the tenant comes from the credential, never from the
//! body), checks the tenant's region, decodes and validates every item,
//! appends the valid ones to `vox.feedback.raw` together with an audit
//! record, and answers only after the log has them durably, with a result for
//! every item. A separate operations listener serves `/metrics`,
//! `/healthz` and `/readyz`.
//!
//! Audit records go through the `audit` crate: a batch's record is appended
//! with its items (`audit::output`); refused requests are tallied by an
//! `audit::Sink` and written every `audit_interval`, and at shutdown.

mod api;
pub mod body;
pub mod error;
mod overload;
pub mod plan;
mod signature;
pub mod split;
pub mod telemetry;
pub mod validate;

use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use auth::Kek;
use directory::{ConfigFollower, SharedDirectory};
use eventlog::{Log, LogError};
use schemas::{Region, Topic};

pub use https::{tls, Listeners, ServerLimits};
pub use validate::Limits;
pub use wire::{BatchResponse, ItemResult};

#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// The region of this node; tenants of other regions are refused.
    pub region: Region,
    /// Prefix of every topic name (empty in production).
    pub namespace: String,
    /// Key-encryption key that opens the sealed client secrets.
    pub kek: Kek,
    /// Request limits.
    pub limits: Limits,
    /// How far a request's timestamp may be from this node's clock.
    pub clock_skew: Duration,
    /// Most nonces remembered per client for replay protection.
    pub replay_per_client: usize,
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
    /// Past this age of its last successful configuration refresh the node
    /// refuses batches (503 `config_stale`) and reports unready, rather than
    /// accept credentials that may have been revoked since.
    pub max_staleness: Duration,
    /// Memory for request bodies being read, across the node, in bytes.
    pub body_memory: usize,
    /// How long a client may take to send a body.
    pub body_timeout: Duration,
    /// Connection limits and the timeouts before a request is authenticated.
    pub server: ServerLimits,
    /// How often tallies of refused requests are written to `vox.audit`.
    pub audit_interval: Duration,
    /// When set, `/metrics` on the operations listener needs
    /// `Authorization: Bearer <token>`.
    pub ops_token: Option<auth::Secret>,
    /// Readiness of the other roles in this process (`vox serve`), also
    /// reported on `/readyz`.
    pub also_ready: https::ops::Also,
}

impl IngestSettings {
    pub fn new(region: Region, namespace: impl Into<String>, kek: Kek) -> IngestSettings {
        IngestSettings {
            region,
            namespace: namespace.into(),
            kek,
            limits: Limits::default(),
            clock_skew: Duration::from_secs(300),
            replay_per_client: 65_536,
            rate_per_second: 100,
            rate_burst: 200,
            high_watermark: 50_000,
            low_watermark: 25_000,
            config_refresh: Duration::from_secs(1),
            max_staleness: Duration::from_secs(30),
            body_memory: 128 << 20,
            body_timeout: Duration::from_secs(30),
            server: ServerLimits::default(),
            audit_interval: Duration::from_secs(10),
            ops_token: None,
            also_ready: https::ops::Also::default(),
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

pub(crate) struct AppState {
    pub(crate) log: Log,
    pub(crate) directory: SharedDirectory,
    pub(crate) settings: IngestSettings,
    pub(crate) raw_topic: String,
    pub(crate) audit_topic: String,
    pub(crate) audit: Arc<audit::Sink>,
    pub(crate) replays: signature::ReplayGuard,
    pub(crate) body_memory: body::BodyMemory,
    /// Large or compressed bodies decoded at once, at most.
    pub(crate) decode_slots: tokio::sync::Semaphore,
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
    https::telemetry::handle();
    telemetry::register();
    let topics: Vec<String> = Topic::ALL.iter().map(|t| t.name(&settings.namespace)).collect();
    log.ensure_topics(&topics).await?;
    let follower = ConfigFollower::new(&log, &Topic::Config.name(&settings.namespace)).await?;
    let audit_topic = Topic::Audit.name(&settings.namespace);
    let (audit, audit_task) = audit::Sink::spawn(
        log.clone(),
        audit_topic.clone(),
        settings.region.to_string(),
        settings.audit_interval,
    );
    let decode_slots = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    let state = Arc::new(AppState {
        directory: SharedDirectory::new(follower),
        raw_topic: Topic::FeedbackRaw.name(&settings.namespace),
        audit_topic,
        audit,
        replays: signature::ReplayGuard::new(settings.replay_per_client),
        body_memory: body::BodyMemory::new(settings.body_memory),
        decode_slots: tokio::sync::Semaphore::new(decode_slots),
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
                metrics::gauge!(telemetry::CONFIG_AGE).set(state.directory.age().as_secs_f64());
                let used = state.settings.body_memory.saturating_sub(state.body_memory.available());
                metrics::gauge!(telemetry::BODY_MEMORY).set(used as f64);
            }
        }
    });

    tracing::info!(
        public = ?listeners.public.local_addr().ok(),
        ops = ?listeners.ops.as_ref().and_then(|l| l.local_addr().ok()),
        region = %state.settings.region,
        "ingest listening (HTTPS)"
    );
    let mut checks = vec![readiness(state.clone())];
    checks.extend(state.settings.also_ready.0.iter().cloned());
    let served = https::serve_with_ops(
        listeners,
        tls,
        api::router(state.clone()),
        state.settings.server.clone(),
        https::ops::all(checks),
        state.settings.ops_token.clone(),
        async {
            shutdown.await;
            state.stopping.store(true, std::sync::atomic::Ordering::Release);
        },
    )
    .await;
    refresher.abort();
    // The last requests are answered; write what the audit queue holds.
    state.audit.close();
    if tokio::time::timeout(Duration::from_secs(10), audit_task).await.is_err() {
        tracing::error!("the audit queue was not written within 10 s");
    }
    log.flush(Duration::from_secs(10)).await?;
    Ok(served?)
}

/// Whether this node should get traffic: not stopping, not overloaded, its
/// configuration fresh.
fn readiness(state: Arc<AppState>) -> https::ops::Readiness {
    Arc::new(move || {
        let age = state.directory.age();
        if state.stopping.load(std::sync::atomic::Ordering::Acquire) {
            Err("stopping".into())
        } else if !state.in_flight.ready() {
            Err(format!(
                "overloaded: {} items waiting for the log",
                state.in_flight.items()
            ))
        } else if age > state.settings.max_staleness {
            Err(format!(
                "configuration stale: last read {} s ago (refreshes fail)",
                age.as_secs()
            ))
        } else {
            Ok(())
        }
    })
}
