//! What every HTTPS-speaking role shares: TLS ([`tls`]), the accept loop
//! with its connection limits and graceful shutdown ([`serve`]), the JSON
//! error answer ([`error_response`]), the operations listener ([`ops`]) and
//! the metrics recorder ([`telemetry`]). A role brings its own router.

pub mod ops;
mod server;
pub mod telemetry;
pub mod tls;

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub use server::serve;

/// Connections the accept loop closed at once, by reason (`per_address`:
/// the address has too many open).
pub const CONNECTIONS_REFUSED: &str = "vox_ingest_connections_refused_total";

/// The public listener of an HTTPS role and its optional operations listener.
pub struct Listeners {
    pub public: tokio::net::TcpListener,
    pub ops: Option<tokio::net::TcpListener>,
}

/// Serves a role's `app` on its public listener and, when there is one,
/// the operations router (with `ready` and `ops_token`) on its operations
/// listener, until `shutdown` completes; then both stop accepting and
/// finish the requests in flight. The role's own shutdown steps (marking
/// itself as stopping) belong in `shutdown`, before it resolves.
pub async fn serve_with_ops(
    listeners: Listeners,
    tls: std::sync::Arc<rustls::ServerConfig>,
    app: axum::Router,
    limits: ServerLimits,
    ready: ops::Readiness,
    ops_token: Option<auth::Secret>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let public = serve(listeners.public, tls.clone(), app, limits, stopped(stop_rx.clone()));
    let ops = async {
        match listeners.ops {
            Some(listener) => ops::serve(listener, tls, ready, ops_token, stopped(stop_rx.clone())).await,
            None => Ok(()),
        }
    };
    let signal = async {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let (public, ops, ()) = tokio::join!(public, ops, signal);
    public.and(ops)
}

/// Limits of the HTTPS accept loop.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Open connections at most; further ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Open connections at most from one IP address; further ones are closed.
    pub max_connections_per_address: usize,
    /// Time for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time for a request's head to arrive (also the idle keep-alive time).
    pub header_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> ServerLimits {
        ServerLimits {
            max_connections: 4096,
            max_connections_per_address: 256,
            handshake_timeout: Duration::from_secs(5),
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// A refusal as every role answers it: `{"error": {"code", "message"}}`
/// with its status, and `Retry-After` when the client should retry later.
pub fn error_response(status: StatusCode, code: &str, message: String, retry_after_secs: Option<u64>) -> Response {
    let body = wire::ErrorBody {
        error: wire::ErrorDetail {
            code: code.to_owned(),
            message,
        },
    };
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
