//! Runs the roles: all four in one process (`vox serve`, or a test), or one.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use eventlog::Log;
use ingest::{IngestSettings, Listeners};
use processor::ProcessorSettings;
use projector::ProjectorSettings;
use store::Store;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// What the roles of one process need. Region and topic namespace come
/// from the ingest settings.
pub struct Roles {
    pub log: Log,
    pub store: Store,
    pub ingest: IngestSettings,
    pub api: api::ApiSettings,
    pub auditor: auditor::AuditorSettings,
}

/// The listeners of one process: ingest's (with the operations listener
/// that reports every role) and the people API's.
pub struct ServeListeners {
    pub ingest: Listeners,
    pub api: tokio::net::TcpListener,
}

/// Runs ingest, the people API, processor, projector and auditor together until
/// `shutdown` completes or one of them fails (then the others are stopped
/// and the error returned).
pub async fn run_all(
    roles: Roles,
    listeners: ServeListeners,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        }
    };
    let mut tasks = JoinSet::new();
    let (region, namespace) = (roles.ingest.region.clone(), roles.ingest.namespace.clone());
    let processor_settings = ProcessorSettings::new(region, namespace.clone());
    let projector_settings = ProjectorSettings::new(namespace);
    // One operations listener (ingest's) reports every role of the process.
    let api_ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut ingest_settings = roles.ingest;
    ingest_settings.also_ready.0.extend([
        https::ops::flag(api_ready.clone(), "the people API is reading the configuration"),
        https::ops::flag(
            processor_settings.ready.clone(),
            "the processor is reading the configuration",
        ),
        https::ops::flag(projector_settings.ready.clone(), "the projector is reading its offsets"),
        https::ops::flag(roles.auditor.ready.clone(), "the auditor is reading its logs"),
    ]);
    tasks.spawn(labelled(
        "ingest",
        ingest::run(
            listeners.ingest,
            tls.clone(),
            roles.log.clone(),
            ingest_settings,
            stop(),
        ),
    ));
    let api_listeners = Listeners {
        public: listeners.api,
        ops: None,
    };
    tasks.spawn(labelled(
        "api",
        api::run(
            api_listeners,
            tls,
            roles.log.clone(),
            roles.store.clone(),
            roles.api,
            api_ready,
            stop(),
        ),
    ));
    tasks.spawn(labelled(
        "processor",
        processor::run(roles.log.clone(), processor_settings, stop()),
    ));
    tasks.spawn(labelled(
        "projector",
        projector::run(roles.log.clone(), roles.store.clone(), projector_settings, stop()),
    ));
    tasks.spawn(labelled(
        "auditor",
        auditor::run(roles.log, roles.store, roles.auditor, stop()),
    ));

    tokio::pin!(shutdown);
    let mut result = Ok(());
    tokio::select! {
        _ = &mut shutdown => {}
        Some(joined) = tasks.join_next() => {
            result = flatten(joined).context("a role stopped unexpectedly");
            if result.is_ok() {
                result = Err(anyhow::anyhow!("a role stopped unexpectedly without an error"));
            }
        }
    }
    let _ = stop_tx.send(true);
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = flatten(joined) {
            tracing::error!(error = %format!("{e:#}"), "role failed during shutdown");
            if result.is_ok() {
                result = Err(e);
            }
        }
    }
    result
}

fn flatten(joined: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    joined.context("a role panicked")?
}

async fn labelled<E>(role: &'static str, role_future: impl Future<Output = Result<(), E>>) -> anyhow::Result<()>
where
    E: std::error::Error + Send + Sync + 'static,
{
    role_future.await.with_context(|| format!("{role} failed"))
}

/// Resolves when the process receives Ctrl-C or SIGTERM; `role` names the
/// process in the log line (`serve`, `ingest`, `process`, `project`).
pub async fn shutdown_signal(role: &'static str) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!(target: "vox", role, "signal received; shutting down");
}

/// HTTPS listeners on 127.0.0.1 (port 0) with a local CA and certificate in
/// `tls_dir`: what tests and benchmarks start a node with.
pub struct LocalListeners {
    pub listeners: ServeListeners,
    pub tls: Arc<rustls::ServerConfig>,
    /// The CA certificate clients should trust.
    pub ca_cert: std::path::PathBuf,
    /// `https://127.0.0.1:<port>` of the public listener.
    pub url: String,
    /// `https://127.0.0.1:<port>` of the operations listener.
    pub ops_url: String,
    /// `https://127.0.0.1:<port>` of the people API.
    pub api_url: String,
}

/// Binds [`LocalListeners`].
pub async fn local_listeners(tls_dir: &std::path::Path) -> anyhow::Result<LocalListeners> {
    let files = https::tls::ensure_local_certificate(tls_dir)?;
    let tls = https::tls::server_config(&files.server_cert, &files.server_key)?;
    let public = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let ops = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("https://{}", public.local_addr()?);
    let ops_url = format!("https://{}", ops.local_addr()?);
    let api_url = format!("https://{}", api.local_addr()?);
    Ok(LocalListeners {
        listeners: ServeListeners {
            ingest: Listeners { public, ops: Some(ops) },
            api,
        },
        tls,
        ca_cert: files.ca_cert,
        url,
        ops_url,
        api_url,
    })
}
