//! The batch endpoint.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use eventlog::Output;
use schemas::{feedback_event_id, feedback_key, FeedbackReceived, Outcome};
use serde::{Deserialize, Serialize};
use tenants::{Authenticated, IsolationError};

use crate::audit;
use crate::error::ApiError;
use crate::telemetry;
use crate::validate::{external_id_of, validate_sized, ItemError, ValidItem};
use crate::AppState;

/// How long a client may take to send a body (5 MiB at most).
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/feedback/batch", post(batch))
        .route("/healthz", get(|| async { "ok" }))
        // The handler enforces its own limit with a helpful error.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// The answer to a batch: one result per item, in input order.
#[derive(Debug, Serialize, Deserialize)]
pub struct BatchResponse {
    pub batch_id: String,
    /// Whether the batch was sent with `atomic=true` (all or nothing).
    pub atomic: bool,
    pub accepted: usize,
    pub rejected: usize,
    pub results: Vec<ItemResult>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ItemResult {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// `accepted` or `rejected`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ItemResult {
    fn accepted(index: usize, external_id: &str, event_id: String) -> ItemResult {
        ItemResult {
            index,
            external_id: Some(external_id.to_owned()),
            status: "accepted".into(),
            event_id: Some(event_id),
            code: None,
            field: None,
            message: None,
        }
    }

    fn rejected(index: usize, external_id: Option<&str>, e: ItemError) -> ItemResult {
        ItemResult {
            index,
            external_id: external_id.map(str::to_owned),
            status: "rejected".into(),
            event_id: None,
            code: Some(e.code.to_owned()),
            field: Some(e.field),
            message: Some(e.message),
        }
    }
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
    let response = match handle(&state, peer, &uri, &headers, body).await {
        Ok(response) => response,
        Err(refused) => {
            let (error, client, tenant) = *refused;
            let actor = client.as_deref().unwrap_or("anonymous");
            let action = if error.status() == StatusCode::UNAUTHORIZED {
                "auth.failure"
            } else {
                "feedback.batch"
            };
            let outcome = if error.status().is_server_error() {
                Outcome::Failure
            } else {
                Outcome::Denied
            };
            if action == "auth.failure" {
                let known = state
                    .directory
                    .read(|d| client.as_deref().is_some_and(|c| d.client(c).is_some()));
                let label = if known { actor.to_owned() } else { "unknown".to_owned() };
                metrics::counter!(telemetry::AUTH_FAILURES, "client" => label, "reason" => error.code()).increment(1);
            }
            let details = BTreeMap::from([("code".to_owned(), error.code().to_owned())]);
            let record = audit::record(
                tenant.as_deref(),
                actor,
                action,
                outcome,
                peer,
                &state.settings.region,
                details,
            );
            state.audit.record(record);
            error.into_response()
        }
    };
    metrics::histogram!(telemetry::LATENCY).record(started.elapsed().as_secs_f64());
    response
}

/// A refused request: the error, and who sent it as far as known.
type Refused = Box<(ApiError, Option<String>, Option<String>)>;

fn refuse(error: ApiError, auth: &Authenticated) -> Refused {
    Box::new((error, Some(auth.client_id.clone()), Some(auth.tenant_id.clone())))
}

async fn handle(
    state: &AppState,
    peer: SocketAddr,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refused> {
    let anonymous = |e: ApiError| Box::new((e, None, None));
    state.in_flight.admit().map_err(anonymous)?;
    let limits = &state.settings.limits;
    let read = axum::body::to_bytes(body, limits.max_body_bytes);
    let raw = tokio::time::timeout(BODY_TIMEOUT, read)
        .await
        .map_err(|_| {
            anonymous(ApiError::BodyTimeout {
                secs: BODY_TIMEOUT.as_secs(),
            })
        })?
        .map_err(|_| {
            anonymous(ApiError::BodyTooLarge {
                limit: limits.max_body_bytes,
            })
        })?;
    metrics::counter!(telemetry::BYTES_IN).increment(raw.len() as u64);
    let query = uri.query().unwrap_or("");
    let auth = crate::signature::authenticate(state, headers, "POST", uri.path(), query, &raw)
        .await
        .map_err(|(e, client)| Box::new((e, client, None)))?;
    state.rate_limits.check(&auth.client_id).map_err(|e| refuse(e, &auth))?;
    let region = &state.settings.region;
    state
        .directory
        .read(|d| match d.tenant(&auth.tenant_id) {
            Some(t) if &t.region != region => Err(ApiError::WrongRegion {
                tenant: t.id.clone(),
                tenant_region: t.region.clone(),
                node_region: region.clone(),
            }),
            _ => Ok(()),
        })
        .map_err(|e| refuse(e, &auth))?;
    let atomic = atomic(query).map_err(|e| refuse(e, &auth))?;
    let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let items = crate::body::decode_batch(
        header(header::CONTENT_ENCODING),
        header(header::CONTENT_TYPE).unwrap_or(""),
        &raw,
        limits,
    )
    .map_err(|e| refuse(e, &auth))?;

    let batch_id = uuid::Uuid::new_v4().to_string();
    let now = time::OffsetDateTime::now_utc();
    let received_at = (now.unix_timestamp_nanos() / 1000) as i64;
    let mut results = Vec::with_capacity(items.len());
    let mut outputs = Vec::with_capacity(items.len() + 1);
    let mut seen = HashSet::new();
    for (index, (value, size)) in items.iter().enumerate() {
        match check_item(state, &auth, value, *size, now, &mut seen) {
            Ok(v) => {
                let event_id = feedback_event_id(&auth.tenant_id, &v.collection, &v.external_id);
                results.push(ItemResult::accepted(index, &v.external_id, event_id.clone()));
                let event = FeedbackReceived {
                    event_id,
                    tenant_id: auth.tenant_id.clone(),
                    collection: v.collection,
                    external_id: v.external_id,
                    client_id: auth.client_id.clone(),
                    region: region.clone(),
                    batch_id: batch_id.clone(),
                    received_at,
                    item: v.item,
                };
                let payload = schemas::encode(&event).map_err(|e| {
                    tracing::error!(error = %e, "encoding FeedbackReceived failed");
                    refuse(ApiError::Internal, &auth)
                })?;
                outputs.push(Output {
                    topic: state.raw_topic.clone(),
                    key: feedback_key(&auth.tenant_id, &event.collection, &event.external_id),
                    payload,
                });
            }
            Err(e) => {
                metrics::counter!(telemetry::ITEMS, "outcome" => "rejected", "reason" => e.code).increment(1);
                results.push(ItemResult::rejected(index, external_id_of(value), e));
            }
        }
    }
    let mut rejected = results.len() - outputs.len();
    if atomic && rejected > 0 {
        // All or nothing: the valid items are not appended either.
        let failed: Vec<String> = results
            .iter()
            .filter(|r| r.status == "rejected")
            .map(|r| r.index.to_string())
            .collect();
        for r in results.iter_mut().filter(|r| r.status == "accepted") {
            *r = ItemResult::rejected(
                r.index,
                r.external_id.as_deref(),
                ItemError {
                    code: "atomic_batch_failed",
                    field: String::new(),
                    message: format!(
                        "not appended: the batch is atomic and item(s) {} failed",
                        failed.join(", ")
                    ),
                },
            );
        }
        outputs.clear();
        rejected = results.len();
    }
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
        Some(&auth.tenant_id),
        &auth.client_id,
        "feedback.batch",
        outcome,
        peer,
        region,
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

/// Validation, tenant isolation, and uniqueness within the batch.
fn check_item(
    state: &AppState,
    auth: &Authenticated,
    value: &serde_json::Value,
    size: usize,
    now: time::OffsetDateTime,
    seen: &mut HashSet<(String, String)>,
) -> Result<ValidItem, ItemError> {
    let v = validate_sized(value, size, &state.settings.limits, now)?;
    state
        .directory
        .read(|d| d.check_write(&auth.tenant_id, &auth.client_id, &v.collection, &state.settings.region))
        .map_err(isolation_error)?;
    if !seen.insert((v.collection.clone(), v.external_id.clone())) {
        return Err(ItemError {
            code: "duplicate_in_batch",
            field: "external_id".into(),
            message: "the same collection and external_id appear earlier in this batch".into(),
        });
    }
    Ok(v)
}

fn isolation_error(e: IsolationError) -> ItemError {
    let field = match e {
        IsolationError::UnknownCollection { .. } | IsolationError::CollectionNotAllowed { .. } => "collection",
        _ => "",
    };
    ItemError {
        code: e.code(),
        field: field.into(),
        message: e.to_string(),
    }
}
