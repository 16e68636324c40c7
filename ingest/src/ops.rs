//! The operations listener: `/metrics` (Prometheus; with a bearer token
//! when one is configured), `/healthz` (the process is up), `/readyz` (it
//! should get traffic: not overloaded, configuration fresh, not stopping).
//! Bind it to loopback or a private interface.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::AppState;

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.settings.ops_token {
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

async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, String) {
    let age = state.directory.age();
    if state.stopping.load(Ordering::Acquire) {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping".into())
    } else if !state.in_flight.ready() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("overloaded: {} items waiting for the log", state.in_flight.items()),
        )
    } else if age > state.settings.max_staleness {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "configuration stale: last read {} s ago (refreshes fail)",
                age.as_secs()
            ),
        )
    } else {
        (StatusCode::OK, "ready".into())
    }
}
