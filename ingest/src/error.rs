//! Whole-request errors of the ingest API. Each has a stable code and a
//! message that says what to do; internals are logged, never shown.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or malformed credentials: send `Authorization: Basic base64(client_id:client_secret)`")]
    MissingCredentials,
    #[error("the client id and secret were not accepted; check them, or ask the tenant's admin for a new secret")]
    BadCredentials,
    #[error("tenant '{tenant}' is pinned to region '{tenant_region}'; this node serves region '{node_region}': send the batch to a node of region '{tenant_region}'")]
    WrongRegion {
        tenant: String,
        tenant_region: String,
        node_region: String,
    },
    #[error("unsupported Content-Type {0:?}: send application/json (a JSON array of items) or application/x-ndjson (one item per line)")]
    UnsupportedMediaType(String),
    #[error("the body is larger than the limit of {limit} bytes; split the batch")]
    BodyTooLarge { limit: usize },
    #[error("the batch has {count} items, more than the limit of {limit}; split the batch")]
    TooManyItems { count: usize, limit: usize },
    #[error("the body is not valid {format}: {detail}")]
    MalformedBody { format: &'static str, detail: String },
    #[error("the log did not confirm the batch; nothing was accepted. Retry after {retry_after_secs} s")]
    LogUnavailable { retry_after_secs: u64 },
    #[error("internal error; the batch was not accepted. Retry later")]
    Internal,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingCredentials | ApiError::BadCredentials => StatusCode::UNAUTHORIZED,
            ApiError::WrongRegion { .. } => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BodyTooLarge { .. } | ApiError::TooManyItems { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MalformedBody { .. } => StatusCode::BAD_REQUEST,
            ApiError::LogUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingCredentials => "missing_credentials",
            ApiError::BadCredentials => "bad_credentials",
            ApiError::WrongRegion { .. } => "wrong_region",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::TooManyItems { .. } => "too_many_items",
            ApiError::MalformedBody { .. } => "malformed_body",
            ApiError::LogUnavailable { .. } => "log_unavailable",
            ApiError::Internal => "internal",
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        tracing::info!(code = self.code(), %status, "request refused");
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        match &self {
            ApiError::LogUnavailable { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            ApiError::MissingCredentials | ApiError::BadCredentials => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"vox\""),
                );
            }
            _ => {}
        }
        response
    }
}
