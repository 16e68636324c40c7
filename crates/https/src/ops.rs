//! The operations listener every role has: `/metrics` (Prometheus; with a
//! bearer token when one is configured), `/healthz` (the process is up),
//! `/readyz` (it should get traffic, as the role's own check says). Bind it
//! to loopback or a private interface.

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

/// Whether the role should get traffic now: `Err(why not)` answers 503.
pub type Readiness = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

#[derive(Clone)]
struct Ops {
    ready: Readiness,
    token: Option<auth::Secret>,
}

/// Serves the operations router on `listener` (HTTPS with `tls`) until
/// `shutdown` completes: what every role runs beside its work.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    ready: Readiness,
    token: Option<auth::Secret>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    crate::serve(
        listener,
        tls,
        router(ready, token),
        crate::ServerLimits::default(),
        shutdown,
    )
    .await
}

/// Readiness from a flag a role sets once it is working: `Err(why)` names
/// the role and what it is still doing.
pub fn flag(ready: Arc<std::sync::atomic::AtomicBool>, waiting_for: &'static str) -> Readiness {
    Arc::new(move || {
        if ready.load(std::sync::atomic::Ordering::Acquire) {
            Ok(())
        } else {
            Err(format!("not ready: {waiting_for}"))
        }
    })
}

/// Readiness checks of the other roles of one process (`vox serve`), which
/// the listener that serves them also reports.
#[derive(Clone, Default)]
pub struct Also(pub Vec<Readiness>);

impl std::fmt::Debug for Also {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} other readiness check(s)", self.0.len())
    }
}

/// Ready when every one of `all` is.
pub fn all(all: Vec<Readiness>) -> Readiness {
    Arc::new(move || all.iter().try_for_each(|ready| ready()))
}

/// The operations router of a role.
pub fn router(ready: Readiness, token: Option<auth::Secret>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(Ops { ready, token })
}

async fn metrics(State(ops): State<Ops>, headers: HeaderMap) -> Response {
    if let Some(token) = &ops.token {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Comparing digests keeps the time independent of where they differ.
        if Sha256::digest(sent.as_bytes()) != Sha256::digest(token.expose().as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "/metrics needs `Authorization: Bearer <the ops token>` (VOX_OPS_TOKEN)\n",
            )
                .into_response();
        }
    }
    crate::telemetry::handle().render().into_response()
}

async fn readyz(State(ops): State<Ops>) -> (StatusCode, String) {
    match (ops.ready)() {
        Ok(()) => (StatusCode::OK, "ready".into()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}
