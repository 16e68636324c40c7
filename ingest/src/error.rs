//! Whole-request errors of the ingest API. Each has a stable code and a
//! message that says what to do; internals are logged, never shown.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use schemas::ReasonCode;

const BAD_SIGNATURE: &str = "the signature does not verify, or the client id is not known: check VOX_CLIENT_ID, and sign the exact bytes sent with an active secret of this client";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request is not signed: send `Authorization: VOX2-HMAC-SHA256 Credential=…, Timestamp=…, Nonce=…, Signature=…` (see the README, \"Signing requests\")")]
    MissingSignature,
    #[error("{0}")]
    MalformedAuthorization(String),
    #[error("the request's timestamp {timestamp} is more than {skew_secs} s from this node's clock ({now}); sign with the current Unix time (check the client's clock)")]
    TimestampOutOfWindow { timestamp: i64, now: i64, skew_secs: i64 },
    /// Answered exactly like [`ApiError::BadSignature`], so that nobody can
    /// probe which client ids exist; metrics and audit keep the reason.
    #[error("{BAD_SIGNATURE}")]
    UnknownClient,
    #[error("{BAD_SIGNATURE}")]
    BadSignature,
    #[error("the request is signed with a secret that was revoked or whose rotation grace period ended; ask the tenant's admin for a new one")]
    CredentialRevoked,
    #[error("this node's copy of the tenant configuration is {age_secs} s old (its refreshes fail), so it cannot be sure your credential is still valid; retry after {retry_after_secs} s, or send to another node")]
    ConfigStale { age_secs: u64, retry_after_secs: u64 },
    #[error("the node has no memory left for request bodies right now; retry after {retry_after_secs} s, or send to another node")]
    BodyMemoryFull { retry_after_secs: u64 },
    #[error("the request body ended or failed before its declared length arrived; send the whole body")]
    BodyIncomplete,
    #[error("this nonce was already used by this client within the time window: a replayed request. Use a fresh random nonce for every request")]
    Replayed,
    #[error("the node cannot remember more nonces right now; retry after {retry_after_secs} s")]
    ReplayCacheFull { retry_after_secs: u64 },
    #[error("client '{client}' sends requests faster than its limit; retry after {retry_after_secs} s")]
    RateLimited { client: String, retry_after_secs: u64 },
    #[error("the node is overloaded ({in_flight} items waiting for the log); retry after {retry_after_secs} s, or send to another node")]
    Overloaded { in_flight: usize, retry_after_secs: u64 },
    #[error("unsupported Content-Encoding {0:?}: send the body uncompressed, or as gzip or zstd")]
    UnsupportedContentEncoding(String),
    #[error("the body is not valid {encoding}: {detail}")]
    InvalidContentEncoding { encoding: &'static str, detail: String },
    #[error("the body decompresses to more than the limit of {limit} bytes; split the batch")]
    DecompressedTooLarge { limit: usize },
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
    #[error("the log did not confirm the batch, so no item is reported accepted; retry the same batch after {retry_after_secs} s (safe: item ids are deterministic, an item the log did take is not stored twice)")]
    LogUnavailable { retry_after_secs: u64 },
    #[error("the request body did not arrive within {secs} s; send it faster or split the batch")]
    BodyTimeout { secs: u64 },
    #[error("internal error; the batch was not accepted. Retry later")]
    Internal,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingSignature
            | ApiError::MalformedAuthorization(_)
            | ApiError::TimestampOutOfWindow { .. }
            | ApiError::UnknownClient
            | ApiError::BadSignature
            | ApiError::CredentialRevoked
            | ApiError::Replayed => StatusCode::UNAUTHORIZED,
            ApiError::WrongRegion { .. } => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType(_) | ApiError::UnsupportedContentEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::BodyTooLarge { .. } | ApiError::TooManyItems { .. } | ApiError::DecompressedTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::MalformedBody { .. } | ApiError::InvalidContentEncoding { .. } | ApiError::BodyIncomplete => {
                StatusCode::BAD_REQUEST
            }
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::LogUnavailable { .. }
            | ApiError::ReplayCacheFull { .. }
            | ApiError::Overloaded { .. }
            | ApiError::ConfigStale { .. }
            | ApiError::BodyMemoryFull { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds a client should wait before retrying, for the answers that
    /// carry `Retry-After`.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::LogUnavailable { retry_after_secs }
            | ApiError::ReplayCacheFull { retry_after_secs }
            | ApiError::RateLimited { retry_after_secs, .. }
            | ApiError::Overloaded { retry_after_secs, .. }
            | ApiError::ConfigStale { retry_after_secs, .. }
            | ApiError::BodyMemoryFull { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// Stable machine-readable code, as the client sees it.
    pub fn code(&self) -> &'static str {
        self.public_code().as_str()
    }

    /// The precise reason, for metrics and audit records.
    pub fn reason(&self) -> &'static str {
        self.reason_code().as_str()
    }

    /// The code the client sees: where telling the client the precise
    /// reason would help an attacker, a coarser one.
    pub fn public_code(&self) -> ReasonCode {
        match self.reason_code() {
            ReasonCode::UnknownClient => ReasonCode::BadSignature,
            ReasonCode::BodyMemoryFull => ReasonCode::Overloaded,
            other => other,
        }
    }

    /// The precise reason.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            ApiError::MissingSignature => ReasonCode::MissingSignature,
            ApiError::MalformedAuthorization(_) => ReasonCode::MalformedAuthorization,
            ApiError::TimestampOutOfWindow { .. } => ReasonCode::TimestampOutOfWindow,
            ApiError::UnknownClient => ReasonCode::UnknownClient,
            ApiError::ConfigStale { .. } => ReasonCode::ConfigStale,
            ApiError::BodyMemoryFull { .. } => ReasonCode::BodyMemoryFull,
            ApiError::BodyIncomplete => ReasonCode::BodyIncomplete,
            ApiError::BadSignature => ReasonCode::BadSignature,
            ApiError::CredentialRevoked => ReasonCode::CredentialRevoked,
            ApiError::Replayed => ReasonCode::ReplayedRequest,
            ApiError::ReplayCacheFull { .. } => ReasonCode::ReplayCacheFull,
            ApiError::RateLimited { .. } => ReasonCode::RateLimited,
            ApiError::Overloaded { .. } => ReasonCode::Overloaded,
            ApiError::UnsupportedContentEncoding(_) => ReasonCode::UnsupportedContentEncoding,
            ApiError::InvalidContentEncoding { .. } => ReasonCode::InvalidContentEncoding,
            ApiError::DecompressedTooLarge { .. } => ReasonCode::DecompressedTooLarge,
            ApiError::BodyTimeout { .. } => ReasonCode::BodyTimeout,
            ApiError::WrongRegion { .. } => ReasonCode::WrongRegion,
            ApiError::UnsupportedMediaType(_) => ReasonCode::UnsupportedMediaType,
            ApiError::BodyTooLarge { .. } => ReasonCode::BodyTooLarge,
            ApiError::TooManyItems { .. } => ReasonCode::TooManyItems,
            ApiError::MalformedBody { .. } => ReasonCode::MalformedBody,
            ApiError::LogUnavailable { .. } => ReasonCode::LogUnavailable,
            ApiError::Internal => ReasonCode::Internal,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        tracing::info!(code = self.code(), reason = self.reason(), %status, "request refused");
        metrics::counter!(crate::telemetry::REQUESTS, "status" => status.as_u16().to_string(), "code" => self.reason())
            .increment(1);
        let mut response = https::error_response(status, self.code(), self.to_string(), self.retry_after());
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(auth::SCHEME));
        }
        response
    }
}
