//! Errors of the people API. Each has a status, a stable code (a
//! [`ReasonCode`]) and a message that says what to do; internals are
//! logged, never shown, and no message carries a password, hash, seed or
//! token.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use schemas::ReasonCode;

const INVALID_CREDENTIALS: &str =
    "the e-mail or password is wrong (or the account does not exist); check both and try again";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Wrong password or unknown e-mail: one answer for both.
    #[error("{INVALID_CREDENTIALS}")]
    InvalidCredentials,
    #[error("too many failed logins {who}; try again in {retry_after_secs} s")]
    Throttled { who: &'static str, retry_after_secs: u64 },
    #[error("this account is disabled; ask an admin of your organisation to enable it")]
    AccountDisabled,
    #[error("{0}")]
    InvalidTotp(String),
    /// Login refused until the user enrols; the answer carries a token
    /// that may only enrol (see README).
    #[error("{message}")]
    EnrolmentRequired {
        message: String,
        enrolment_token: auth::Secret,
    },
    #[error(transparent)]
    Password(#[from] login::password::PasswordRefused),
    #[error("the invitation is unknown, expired or already used; ask an admin of your organisation for a new one")]
    InvalidInvitation,
    #[error("{0}")]
    Unauthenticated(String),
    #[error("a request authenticated by the session cookie that changes something must carry the header X-Vox-CSRF with the csrf_token of the login answer")]
    Csrf,
    #[error("{0}")]
    PermissionDenied(String),
    #[error("support access to tenant '{tenant}' needs an active grant from the tenant (an owner or admin grants it with POST /v1/support-grants); there is none, or it expired or was revoked")]
    SupportGrantRequired { tenant: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("this node's copy of the configuration is {age_secs} s old (its refreshes fail); retry after {retry_after_secs} s or use another node")]
    ConfigStale { age_secs: u64, retry_after_secs: u64 },
    #[error("{what} is not available right now, so nothing was changed; retry after {retry_after_secs} s")]
    Unavailable { what: &'static str, retry_after_secs: u64 },
    #[error("internal error; nothing was changed. Retry later")]
    Internal,
    /// A SAML Response refused: the check it failed, and what exactly.
    #[error("the single sign-on was refused: {detail}")]
    Saml { code: ReasonCode, detail: String },
    #[error("{0}")]
    SsoNotConfigured(String),
    #[error("tenant '{tenant}' requires single sign-on: log in through your organisation's identity provider (GET /v1/sso/{tenant}/login); owners have the break-glass login (README)")]
    SsoRequired { tenant: String },
    #[error("{0}")]
    SsoUnknownUser(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidCredentials
            | ApiError::InvalidTotp(_)
            | ApiError::Unauthenticated(_)
            | ApiError::InvalidInvitation
            | ApiError::Saml { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::AccountDisabled
            | ApiError::EnrolmentRequired { .. }
            | ApiError::Csrf
            | ApiError::PermissionDenied(_)
            | ApiError::SupportGrantRequired { .. }
            | ApiError::SsoRequired { .. }
            | ApiError::SsoUnknownUser(_) => StatusCode::FORBIDDEN,
            ApiError::Password(_) | ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) | ApiError::SsoNotConfigured(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::ConfigStale { .. } | ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> ReasonCode {
        match self {
            ApiError::InvalidCredentials => ReasonCode::InvalidCredentials,
            ApiError::Throttled { .. } => ReasonCode::LoginThrottled,
            ApiError::AccountDisabled => ReasonCode::AccountDisabled,
            ApiError::InvalidTotp(_) => ReasonCode::InvalidTotp,
            ApiError::EnrolmentRequired { .. } => ReasonCode::TwoFactorEnrolmentRequired,
            ApiError::Password(refused) => match refused.code() {
                "password_too_short" => ReasonCode::PasswordTooShort,
                "password_too_long" => ReasonCode::PasswordTooLong,
                _ => ReasonCode::PasswordTooWeak,
            },
            ApiError::InvalidInvitation => ReasonCode::InvalidInvitation,
            ApiError::Unauthenticated(_) => ReasonCode::Unauthenticated,
            ApiError::Csrf => ReasonCode::CsrfCheckFailed,
            ApiError::PermissionDenied(_) => ReasonCode::PermissionDenied,
            ApiError::SupportGrantRequired { .. } => ReasonCode::SupportGrantRequired,
            ApiError::NotFound(_) => ReasonCode::NotFound,
            ApiError::Conflict(_) => ReasonCode::Conflict,
            ApiError::InvalidRequest(_) => ReasonCode::InvalidRequest,
            ApiError::ConfigStale { .. } => ReasonCode::ConfigStale,
            ApiError::Unavailable { .. } => ReasonCode::LogUnavailable,
            ApiError::Internal => ReasonCode::Internal,
            ApiError::Saml { code, .. } => *code,
            ApiError::SsoNotConfigured(_) => ReasonCode::SsoNotConfigured,
            ApiError::SsoRequired { .. } => ReasonCode::SsoRequired,
            ApiError::SsoUnknownUser(_) => ReasonCode::SsoUnknownUser,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Throttled { retry_after_secs, .. }
            | ApiError::ConfigStale { retry_after_secs, .. }
            | ApiError::Unavailable { retry_after_secs, .. } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// A configuration write that failed: a refusal of the change (its
    /// message), or the log being unavailable.
    pub(crate) fn from_admin(e: directory::commands::AdminError) -> ApiError {
        use directory::commands::AdminError;
        use directory::ConfigError;
        match e {
            AdminError::Invalid(ConfigError::InvalidInvitation) => ApiError::InvalidInvitation,
            AdminError::Invalid(
                e @ (ConfigError::UnknownUser { .. }
                | ConfigError::UnknownGroup { .. }
                | ConfigError::UnknownGrant { .. }),
            ) => ApiError::NotFound(e.to_string()),
            AdminError::Invalid(
                e @ (ConfigError::EmailTaken { .. } | ConfigError::GroupExists { .. } | ConfigError::LastOwner { .. }),
            ) => ApiError::Conflict(e.to_string()),
            AdminError::Invalid(e) => ApiError::InvalidRequest(e.to_string()),
            AdminError::Contended => ApiError::Unavailable {
                what: "the configuration (other writes kept changing it)",
                retry_after_secs: 1,
            },
            other => {
                tracing::error!(error = %other, "a configuration write failed");
                ApiError::Unavailable {
                    what: "the log",
                    retry_after_secs: 2,
                }
            }
        }
    }

    pub(crate) fn store(e: store::StoreError) -> ApiError {
        tracing::error!(error = %e, "the store failed");
        ApiError::Unavailable {
            what: "the session store",
            retry_after_secs: 2,
        }
    }

    pub(crate) fn audit(e: audit::AuditError) -> ApiError {
        tracing::error!(error = %e, "an audit record could not be made durable");
        ApiError::Unavailable {
            what: "the audit log",
            retry_after_secs: 2,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code().as_str();
        tracing::info!(code, %status, "request refused");
        metrics::counter!(crate::telemetry::REQUESTS, "status" => status.as_u16().to_string(), "code" => code)
            .increment(1);
        let mut response = match &self {
            ApiError::EnrolmentRequired {
                message,
                enrolment_token,
            } => (
                status,
                axum::Json(serde_json::json!({
                    "error": {"code": code, "message": message},
                    "enrolment_token": enrolment_token.expose(),
                })),
            )
                .into_response(),
            _ => https::error_response(status, code, self.to_string(), self.retry_after()),
        };
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
