//! The batch endpoint.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use directory::Authenticated;
use schemas::{ActorKind, AuditAction, Outcome};
use wire::BatchResponse;

use crate::error::ApiError;
use crate::telemetry;
use crate::AppState;

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/feedback/batch", post(batch))
        .route("/healthz", get(|| async { "ok" }))
        // The handler enforces its own limit with a helpful error.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Whether the query asks for an all-or-nothing batch (`atomic=true`).
fn atomic(query: &str) -> Result<bool, ApiError> {
    let mut atomic = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("atomic", "true") => atomic = true,
            ("atomic", "false") => atomic = false,
            (name, value) => {
                return Err(ApiError::MalformedBody {
                    format: "query",
                    detail: format!("unknown parameter {name}={value}; the only one is atomic=true|false"),
                })
            }
        }
    }
    Ok(atomic)
}

async fn batch(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let mut body = Some(body);
    let response = match handle(&state, peer, &uri, &headers, &mut body).await {
        Ok(response) => response,
        Err(refused) => {
            let Refused {
                error,
                client,
                tenant,
                claimed,
            } = *refused;
            let action = if error.status() == StatusCode::UNAUTHORIZED {
                AuditAction::AuthFailure
            } else {
                AuditAction::FeedbackBatch
            };
            if action == AuditAction::AuthFailure {
                // A label only for ids this node knows: made-up ids cannot
                // grow the metrics without bound.
                let label = claimed
                    .as_deref()
                    .filter(|c| state.directory.read(|d| d.client_known(c)))
                    .unwrap_or("unknown")
                    .to_owned();
                metrics::counter!(telemetry::AUTH_FAILURES, "client" => label, "reason" => error.reason()).increment(1);
            }
            state.audit.refused(
                audit::RefusalKey {
                    tenant,
                    actor_kind: ActorKind::Client,
                    actor: client.unwrap_or_else(|| "anonymous".to_owned()),
                    source: Some(peer.ip()),
                    action,
                    reason: error.reason(),
                    claimed,
                },
                error.status().as_u16(),
            );
            if let Some(unread) = body.take() {
                // Refused before its body was read: let the client finish
                // sending (discarded, never buffered) so that it can read the
                // answer instead of failing on a closed connection.
                tokio::spawn(crate::body::discard(
                    unread,
                    state.settings.limits.max_body_bytes + DISCARD_SLACK,
                    DISCARD_TIME,
                ));
            }
            error.into_response()
        }
    };
    metrics::histogram!(telemetry::LATENCY).record(started.elapsed().as_secs_f64());
    response
}

/// A refused request's body is discarded up to the body limit plus this.
const DISCARD_SLACK: usize = 64 * 1024;
/// ... and for at most this long.
const DISCARD_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// A refused request: the error, who sent it as far as verified, and the
/// client id it claimed (only of the valid form).
struct Refused {
    error: ApiError,
    client: Option<String>,
    tenant: Option<String>,
    claimed: Option<String>,
}

fn anonymous(error: ApiError) -> Box<Refused> {
    Box::new(Refused {
        error,
        client: None,
        tenant: None,
        claimed: None,
    })
}

fn refuse(error: ApiError, auth: &Authenticated) -> Box<Refused> {
    Box::new(Refused {
        error,
        client: Some(auth.client_id.to_string()),
        tenant: Some(auth.tenant_id.to_string()),
        claimed: None,
    })
}

/// The stages of a batch: admission, the checks that need no body, the body
/// (bounded by the node's body memory), the signature, the rate limit, the
/// nonce, then the items.
async fn handle(
    state: &AppState,
    peer: SocketAddr,
    uri: &Uri,
    headers: &HeaderMap,
    body: &mut Option<Body>,
) -> Result<Response, Box<Refused>> {
    state.in_flight.admit().map_err(anonymous)?;
    state.directory.fresh(state.settings.max_staleness).map_err(|age| {
        anonymous(ApiError::ConfigStale {
            age_secs: age.as_secs(),
            retry_after_secs: 5,
        })
    })?;
    let unauthenticated = |u: crate::signature::Unauthenticated| {
        Box::new(Refused {
            error: u.error,
            client: None,
            tenant: None,
            claimed: u.claimed,
        })
    };
    let claim = crate::signature::precheck(state, headers)
        .await
        .map_err(unauthenticated)?;
    let limits = &state.settings.limits;
    let read = crate::body::read(
        body,
        headers,
        limits.max_body_bytes,
        &state.body_memory,
        state.settings.body_timeout,
    );
    let (raw, _body_memory) = read.await.map_err(|e| {
        Box::new(Refused {
            error: e,
            client: None,
            tenant: None,
            claimed: Some(claim.header.client_id.clone()).filter(|c| auth::secret::client_id_well_formed(c)),
        })
    })?;
    metrics::counter!(telemetry::BYTES_IN).increment(raw.len() as u64);
    let query = uri.query().unwrap_or("");
    let request = auth::signing::RequestToSign {
        timestamp: claim.header.timestamp,
        nonce: &claim.header.nonce,
        method: "POST",
        path: uri.path(),
        query,
        body: &raw,
    };
    let auth = crate::signature::verify(state, &claim, &request, headers).map_err(unauthenticated)?;
    if claim.header.scheme == auth::Scheme::V1 {
        metrics::counter!(telemetry::DEPRECATED_SCHEME, "client" => auth.client_id.to_string()).increment(1);
    }
    state
        .rate_limits
        .check(auth.client_id.as_str())
        .map_err(|e| refuse(e, &auth))?;
    let skew = state.settings.clock_skew.as_secs() as i64;
    state
        .replays
        .check(
            auth.client_id.as_str(),
            &claim.header.nonce,
            claim.now,
            claim.header.timestamp + skew + 1,
        )
        .map_err(|e| refuse(e, &auth))?;
    let region = &state.settings.region;
    state
        .directory
        .read(|d| match d.tenant(auth.tenant_id.as_str()) {
            Some(t) if &t.region != region => Err(ApiError::WrongRegion {
                tenant: t.id.to_string(),
                tenant_region: t.region.to_string(),
                node_region: region.to_string(),
            }),
            _ => Ok(()),
        })
        .map_err(|e| refuse(e, &auth))?;
    let atomic = atomic(query).map_err(|e| refuse(e, &auth))?;
    let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (encoding, content_type) = (header(header::CONTENT_ENCODING), header(header::CONTENT_TYPE));
    let items = crate::body::decode_off_runtime(
        &state.decode_slots,
        encoding,
        content_type.unwrap_or_default(),
        raw,
        limits.clone(),
    )
    .await
    .map_err(|e| refuse(e, &auth))?;

    let batch_id = uuid::Uuid::new_v4().to_string();
    let context = crate::plan::BatchContext {
        auth: &auth,
        limits,
        region,
        raw_topic: &state.raw_topic,
        batch_id: &batch_id,
        received_at: schemas::clock::now_micros(),
        now: time::OffsetDateTime::now_utc(),
        atomic,
    };
    let plan = state
        .directory
        .read(|d| crate::plan::plan_batch(d, &items, &context))
        .map_err(|e| refuse(e, &auth))?;
    for r in plan.results.iter().filter(|r| r.status == "rejected") {
        let reason = r.code.clone().unwrap_or_default();
        metrics::counter!(telemetry::ITEMS, "outcome" => "rejected", "reason" => reason).increment(1);
    }
    let crate::plan::BatchPlan {
        results,
        mut outputs,
        rejected,
    } = plan;
    let accepted = outputs.len();
    let details = BTreeMap::from([
        ("batch_id".to_owned(), batch_id.clone()),
        ("secret_version".to_owned(), auth.secret_version.to_string()),
        ("accepted".to_owned(), accepted.to_string()),
        ("rejected".to_owned(), rejected.to_string()),
        ("atomic".to_owned(), atomic.to_string()),
    ]);
    let outcome = if accepted > 0 {
        Outcome::Success
    } else {
        Outcome::Denied
    };
    let record = audit::record(
        Some(auth.tenant_id.as_str()),
        ActorKind::Client,
        auth.client_id.as_str(),
        AuditAction::FeedbackBatch,
        outcome,
        Some(peer.ip()),
        region.as_str(),
        details,
    );
    if accepted > 0 {
        // The batch's audit record travels with its items: both are durable
        // before the client hears back.
        outputs.extend(audit::output(&state.audit_topic, &record));
        let _in_flight = state.in_flight.start(accepted);
        let append_started = Instant::now();
        state.log.append(outputs).await.map_err(|e| {
            tracing::error!(error = %e, %batch_id, "appending the batch failed");
            refuse(ApiError::LogUnavailable { retry_after_secs: 2 }, &auth)
        })?;
        metrics::histogram!(telemetry::APPEND_LATENCY).record(append_started.elapsed().as_secs_f64());
        metrics::counter!(telemetry::ITEMS, "outcome" => "accepted", "reason" => "").increment(accepted as u64);
    } else {
        state.audit.record(record);
    }
    tracing::info!(
        tenant = %auth.tenant_id, client = %auth.client_id, secret_version = auth.secret_version,
        %peer, %batch_id, accepted, rejected, atomic, "batch"
    );
    let status = if atomic && rejected > 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    metrics::counter!(telemetry::REQUESTS, "status" => status.as_u16().to_string(), "code" => "ok").increment(1);
    Ok((
        status,
        Json(BatchResponse {
            batch_id,
            atomic,
            accepted,
            rejected,
            results,
        }),
    )
        .into_response())
}
