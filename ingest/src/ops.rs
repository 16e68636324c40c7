//! The operations listener: `/metrics` (Prometheus), `/healthz` (the
//! process is up), `/readyz` (it should get traffic: not overloaded, not
//! stopping).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

use crate::AppState;

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(|| async { crate::telemetry::handle().render() }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, String) {
    if state.stopping.load(Ordering::Acquire) {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping".into())
    } else if !state.in_flight.ready() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("overloaded: {} items waiting for the log", state.in_flight.items()),
        )
    } else {
        (StatusCode::OK, "ready".into())
    }
}
