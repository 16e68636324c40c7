//! Routes and handlers.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use eventlog::Output;
use schemas::{feedback_event_id, feedback_key, FeedbackReceived};
use serde::Serialize;
use tenants::{AuthError, Authenticated, IsolationError};

use crate::error::ApiError;
use crate::validate::{external_id_of, split_items, validate_item, Format, ItemError};
use crate::AppState;

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/feedback/batch", post(batch))
        .route("/healthz", get(|| async { "ok" }))
        // The handler enforces its own limit with a helpful error.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// The answer to a batch: one result per item, in input order.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct BatchResponse {
    pub batch_id: String,
    pub accepted: usize,
    pub rejected: usize,
    pub results: Vec<ItemResult>,
}

#[derive(Debug, Serialize, serde::Deserialize)]
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

/// `(client_id, secret)` from `Authorization: Basic base64(client_id:secret)`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (client_id, secret) = decoded.split_once(':')?;
    Some((client_id.to_owned(), secret.to_owned()))
}

fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Authenticated, ApiError> {
    let (client_id, secret) = basic_credentials(headers).ok_or(ApiError::MissingCredentials)?;
    state
        .directory
        .read(|d| d.authenticate(&client_id, &secret))
        .map_err(|e| {
            tracing::info!(%client_id, reason = %e, "authentication failed");
            ApiError::BadCredentials
        })
}

async fn batch(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<BatchResponse>, ApiError> {
    let limits = &state.settings.limits;
    // A client created a moment ago may not be in this node's copy of the
    // configuration yet: on an unknown client, read the log once more.
    let auth = match authenticate(&state, &headers) {
        Err(ApiError::BadCredentials) if unknown_client(&state, &headers) => {
            state.directory.refresh().await.map_err(|e| {
                tracing::error!(error = %e, "refreshing the configuration failed");
                ApiError::LogUnavailable { retry_after_secs: 1 }
            })?;
            authenticate(&state, &headers)?
        }
        other => other?,
    };
    let region = &state.settings.region;
    state.directory.read(|d| match d.tenant(&auth.tenant_id) {
        Some(t) if &t.region != region => Err(ApiError::WrongRegion {
            tenant: t.id.clone(),
            tenant_region: t.region.clone(),
            node_region: region.clone(),
        }),
        _ => Ok(()),
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = Format::from_content_type(content_type)?;
    let bytes = axum::body::to_bytes(body, limits.max_body_bytes)
        .await
        .map_err(|_| ApiError::BodyTooLarge {
            limit: limits.max_body_bytes,
        })?;
    let items = split_items(format, &bytes, limits)?;

    let batch_id = uuid::Uuid::new_v4().to_string();
    let now = time::OffsetDateTime::now_utc();
    let received_at = (now.unix_timestamp_nanos() / 1000) as i64;
    let mut results = Vec::with_capacity(items.len());
    let mut outputs = Vec::new();
    let mut accepted_at = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (index, value) in items.iter().enumerate() {
        let external_id = external_id_of(value);
        let valid = validate_item(value, limits, now).and_then(|v| {
            state
                .directory
                .read(|d| d.check_write(&auth.tenant_id, &auth.client_id, &v.collection, region))
                .map_err(isolation_error)?;
            if !seen.insert((v.collection.clone(), v.external_id.clone())) {
                return Err(ItemError {
                    code: "duplicate_in_batch",
                    field: "external_id".into(),
                    message: "the same collection and external_id appear earlier in this batch".into(),
                });
            }
            Ok(v)
        });
        match valid {
            Ok(v) => {
                let event_id = feedback_event_id(&auth.tenant_id, &v.collection, &v.external_id);
                let event = FeedbackReceived {
                    event_id: event_id.clone(),
                    tenant_id: auth.tenant_id.clone(),
                    collection: v.collection.clone(),
                    external_id: v.external_id.clone(),
                    client_id: auth.client_id.clone(),
                    region: region.clone(),
                    batch_id: batch_id.clone(),
                    received_at,
                    item: v.item,
                };
                let payload = schemas::encode(&event).map_err(|e| {
                    tracing::error!(error = %e, "encoding FeedbackReceived failed");
                    ApiError::Internal
                })?;
                outputs.push(Output {
                    topic: state.raw_topic.clone(),
                    key: feedback_key(&auth.tenant_id, &v.collection, &v.external_id),
                    payload,
                });
                accepted_at.push(results.len());
                results.push(ItemResult {
                    index,
                    external_id: Some(v.external_id),
                    status: "accepted".into(),
                    event_id: Some(event_id),
                    code: None,
                    field: None,
                    message: None,
                });
            }
            Err(e) => results.push(ItemResult::rejected(index, external_id, e)),
        }
    }
    let accepted = outputs.len();
    if !outputs.is_empty() {
        // Answer only once the log has every accepted item.
        state.log.append(outputs).await.map_err(|e| {
            tracing::error!(error = %e, %batch_id, "appending the batch failed");
            ApiError::LogUnavailable { retry_after_secs: 2 }
        })?;
    }
    tracing::info!(
        tenant = %auth.tenant_id, client = %auth.client_id, secret_version = auth.secret_version,
        %peer, %batch_id, accepted, rejected = results.len() - accepted, "batch"
    );
    Ok(Json(BatchResponse {
        batch_id,
        accepted,
        rejected: results.len() - accepted,
        results,
    }))
}

fn unknown_client(state: &AppState, headers: &HeaderMap) -> bool {
    basic_credentials(headers).is_some_and(|(client, _)| {
        state
            .directory
            .read(|d| d.authenticate(&client, "") == Err(AuthError::UnknownClient))
    })
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
