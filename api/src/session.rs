//! Who is calling: the session cookie or bearer token checked against the
//! store and the directory, the anti-CSRF check, the tenant a request acts
//! on (a support user's only under the tenant's grant), permissions; and
//! the audit records of people's actions.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use directory::{Permission, Role, User, UserStatus};
use login::token::{self, TokenKind};
use schemas::{ActorKind, AuditAction, AuditRecord, Outcome, INSTALLATION};
use serde::de::DeserializeOwned;
use store::{NewSession, SessionKind};

use crate::{ApiError, AppState};

/// The session cookie (the `__Host-` prefix: Secure, Path=/, no Domain).
pub(crate) const COOKIE: &str = "__Host-vox_session";
/// The anti-CSRF header of cookie-authenticated state-changing requests.
pub(crate) const CSRF_HEADER: &str = "x-vox-csrf";
/// The header a support user names the tenant with.
pub(crate) const TENANT_HEADER: &str = "vox-tenant";

/// What a handler reads of a request besides its body and path: the
/// connection's peer, the method, the headers.
pub(crate) struct Ctx {
    pub(crate) peer: std::net::SocketAddr,
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Ctx, Self::Rejection> {
        // `https::serve` puts the peer into every request.
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or_else(|| ([0, 0, 0, 0], 0).into(), |c| c.0);
        Ok(Ctx {
            peer,
            method: parts.method.clone(),
            headers: parts.headers.clone(),
        })
    }
}

/// An authenticated caller.
pub(crate) struct Caller {
    /// The tenant the request acts on.
    pub(crate) tenant: String,
    pub(crate) user: User,
    pub(crate) token_sha256: [u8; 32],
    pub(crate) kind: SessionKind,
    /// A support user acting under this grant.
    pub(crate) support_grant: Option<String>,
    pub(crate) source: IpAddr,
}

impl Caller {
    pub(crate) fn role(&self) -> Role {
        self.user.role
    }

    /// The audit actor id: the user id (support users: `support:<id>`).
    pub(crate) fn actor(&self) -> String {
        if self.user.scope == INSTALLATION {
            format!("support:{}", self.user.id)
        } else {
            self.user.id.to_string()
        }
    }

    /// Who made a configuration change, as the events record it.
    pub(crate) fn changed_by(&self) -> String {
        format!("user:{}", self.user.id)
    }
}

/// What an endpoint accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accept {
    /// Sessions and personal tokens.
    Any,
    /// Sessions only (e.g. creating a token).
    SessionOnly,
    /// Sessions and the enrolment-only token of a login refused for lack of two-factor.
    Enrolment,
}

/// The presented token and whether it came in the cookie.
fn presented(headers: &HeaderMap) -> Option<(String, bool)> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return value.strip_prefix("Bearer ").map(|t| (t.trim().to_owned(), false));
    }
    cookie(headers, COOKIE).map(|value| (value, true))
}

/// The value of cookie `name`, if the request carries it.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

/// The address a request came from: the connection's peer, or, when the
/// peer is a trusted proxy (`trusted_proxies`), the right-most address of
/// `X-Forwarded-For` that is not itself a trusted proxy. Throttling and
/// audit records use it.
pub(crate) fn source(state: &AppState, peer: std::net::SocketAddr, headers: &HeaderMap) -> IpAddr {
    client_address(peer.ip(), headers, &state.settings.trusted_proxies)
}

fn client_address(peer: IpAddr, headers: &HeaderMap, proxies: &[ipnet::IpNet]) -> IpAddr {
    let trusted = |ip: &IpAddr| proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted(&ip) => continue,
            Ok(ip) => return ip,
            // Garbage from a client: the proxy's own view ends here.
            Err(_) => break,
        }
    }
    peer
}

pub(crate) fn now() -> i64 {
    schemas::clock::now_micros()
}

/// Checks the caller's session or token, the CSRF header, and the tenant
/// the request acts on; a support user's request is checked against the
/// tenant's grants, recorded as a use of the grant and audited.
pub(crate) async fn authenticate(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    source: IpAddr,
    accept: Accept,
) -> Result<Caller, ApiError> {
    fresh(state)?;
    let (token, cookie) = presented(headers).ok_or_else(|| {
        ApiError::Unauthenticated(
            "not signed in: log in with POST /v1/login and send the token as `Authorization: Bearer <token>` (or the session cookie)".into(),
        )
    })?;
    let kinds: &[SessionKind] = match (token::kind_of(&token), accept) {
        (Some(TokenKind::Session), Accept::Enrolment) => &[SessionKind::Session, SessionKind::Enrol],
        (Some(TokenKind::Session), _) => &[SessionKind::Session],
        (Some(TokenKind::Personal), Accept::Any) if !cookie => &[SessionKind::Token],
        (Some(TokenKind::Personal), _) => {
            return Err(ApiError::Unauthenticated(
                "a personal API token cannot do this; use a session (log in)".into(),
            ))
        }
        _ => return Err(ApiError::Unauthenticated("the token is malformed; log in again".into())),
    };
    let hash = token::token_hash(&token);
    let now = now();
    let mut found = None;
    for kind in kinds {
        if let Some(row) = state
            .store
            .use_session(&hash, *kind, now)
            .await
            .map_err(ApiError::store)?
        {
            found = Some(row);
            break;
        }
    }
    let ended =
        || ApiError::Unauthenticated("the session or token expired, was revoked or is unknown; log in again".into());
    let row = found.ok_or_else(ended)?;
    let user = state
        .directory
        .read(|d| d.user(&row.scope, &row.user_id).cloned())
        .filter(|u| u.status == UserStatus::Active && row.epoch >= u.sessions_not_before)
        .ok_or_else(ended)?;
    let unsafe_method = !matches!(*method, Method::GET | Method::HEAD);
    if cookie && unsafe_method {
        let csrf = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !token::csrf_matches(&token, csrf) {
            return Err(ApiError::Csrf);
        }
    }
    let named = headers.get(TENANT_HEADER).map(|v| v.to_str().unwrap_or("").to_owned());
    let mut caller = Caller {
        tenant: row.scope.clone(),
        user,
        token_sha256: hash,
        kind: row.kind,
        support_grant: None,
        source,
    };
    if caller.user.scope != INSTALLATION {
        if let Some(other) = named.filter(|t| *t != caller.tenant) {
            let refused = ApiError::PermissionDenied(format!(
                "your session belongs to tenant '{}', not '{}'; log in to that tenant",
                caller.tenant,
                other.chars().take(64).collect::<String>()
            ));
            deny(state, &caller, path, &refused).await;
            return Err(refused);
        }
        return Ok(caller);
    }
    // A support user: only a tenant that granted access, only reading.
    let Some(tenant) = named.filter(|t| schemas::TenantId::parse(t).is_ok()) else {
        if path.starts_with("/v1/me") || path == "/v1/logout" {
            caller.tenant = INSTALLATION.to_owned();
            return Ok(caller);
        }
        return Err(ApiError::InvalidRequest(
            "a support user names the tenant to read with the header Vox-Tenant".into(),
        ));
    };
    caller.tenant = tenant.clone();
    let grant = state.directory.read(|d| {
        d.active_support_grant(&tenant, caller.user.id.as_str(), now)
            .map(|g| g.id.to_string())
    });
    let refused = match (&grant, unsafe_method) {
        (None, _) => Some(ApiError::SupportGrantRequired { tenant: tenant.clone() }),
        (Some(_), true) => Some(ApiError::PermissionDenied(
            "support access is read-only: only GET requests".into(),
        )),
        _ => None,
    };
    let mut details = BTreeMap::from([
        ("method".to_owned(), method.to_string()),
        ("path".to_owned(), path.chars().take(200).collect()),
    ]);
    if let Some(g) = &grant {
        details.insert("grant".to_owned(), g.clone());
    }
    let outcome = if refused.is_some() {
        Outcome::Denied
    } else {
        Outcome::Success
    };
    let record = caller.record(state, AuditAction::SupportRequest, outcome, Some(path), details);
    if let Some(refused) = refused {
        state.audit.record(record);
        return Err(refused);
    }
    caller.support_grant = grant.clone();
    state.audit.durable(&[record]).await.map_err(ApiError::audit)?;
    let grant = grant.expect("checked above");
    state
        .store
        .record_support_use(&grant, &tenant, caller.user.id.as_str(), now, method.as_str(), path)
        .await
        .map_err(ApiError::store)?;
    Ok(caller)
}

impl Caller {
    /// Refuses (and audits) a request the caller's role does not allow.
    pub(crate) async fn require(&self, state: &AppState, permission: Permission, path: &str) -> Result<(), ApiError> {
        if self.role().may(permission) {
            return Ok(());
        }
        let refused = ApiError::PermissionDenied(format!(
            "your role '{}' may not {}; ask an owner or admin of your organisation",
            self.role(),
            describe(permission)
        ));
        deny(state, self, path, &refused).await;
        Err(refused)
    }

    /// An audit record of this caller's action.
    pub(crate) fn record(
        &self,
        state: &AppState,
        action: AuditAction,
        outcome: Outcome,
        resource: Option<&str>,
        mut details: BTreeMap<String, String>,
    ) -> AuditRecord {
        if self.user.scope == INSTALLATION {
            details.insert("actor_scope".into(), "installation".into());
        }
        let mut record = audit::record(
            Some(self.tenant.as_str()).filter(|t| *t != INSTALLATION),
            ActorKind::User,
            &self.actor(),
            action,
            outcome,
            Some(self.source),
            state.settings.region.as_str(),
            details,
        );
        record.resource = resource.map(str::to_owned);
        record
    }

    /// Writes the audit record of a completed action (durable).
    pub(crate) async fn audit(
        &self,
        state: &AppState,
        action: AuditAction,
        resource: Option<&str>,
        details: BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        let record = self.record(state, action, Outcome::Success, resource, details);
        state.audit.durable(&[record]).await.map_err(ApiError::audit)
    }
}

async fn deny(state: &AppState, caller: &Caller, path: &str, refused: &ApiError) {
    let details = BTreeMap::from([("code".to_owned(), refused.code().as_str().to_owned())]);
    let record = caller.record(state, AuditAction::AccessDenied, Outcome::Denied, Some(path), details);
    state.audit.record(record);
}

fn describe(permission: Permission) -> &'static str {
    match permission {
        Permission::ManageUsers => "manage users",
        Permission::ListUsers => "see the user list",
        Permission::ManageGroups => "manage groups",
        Permission::ManageRules => "manage rules",
        Permission::ManageClients => "manage client credentials",
        Permission::ReadFeedback => "read feedback",
        Permission::Export => "export",
        Permission::ReadAudit => "read the audit records",
        Permission::ManageSupport => "manage support access",
        Permission::ManagePolicy => "change the login policy",
    }
}

/// Refuses requests while this node's configuration is stale (a disabled
/// user or revoked grant might not be known yet).
pub(crate) fn fresh(state: &AppState) -> Result<(), ApiError> {
    state
        .directory
        .fresh(state.settings.max_staleness)
        .map_err(|age| ApiError::ConfigStale {
            age_secs: age.as_secs(),
            retry_after_secs: 2,
        })
}

/// Appends a configuration event and reads the configuration again, so
/// that this node answers (and authenticates) from the state it just made.
///
/// `records` (the change's audit records) are appended in the same
/// compare-and-set: the change and its record are durable together or not
/// at all.
pub(crate) async fn write(
    state: &AppState,
    event: schemas::ConfigEvent,
    records: &[AuditRecord],
) -> Result<(), ApiError> {
    let topic = schemas::Topic::Audit.name(&state.settings.namespace);
    let outputs = records
        .iter()
        .map(|r| audit::encode(&topic, r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::audit(audit::AuditError::Encode(e)))?;
    directory::commands::change(&state.log, &state.settings.namespace, event, outputs)
        .await
        .map_err(ApiError::from_admin)?;
    refreshed(state).await;
    Ok(())
}

/// Reads the configuration again after a write (best effort: the
/// background refresh follows anyway).
pub(crate) async fn refreshed(state: &AppState) {
    if let Err(e) = state.directory.refresh().await {
        tracing::warn!(error = %e, "reading the configuration after a write failed");
    }
}

/// A JSON request body, every field known.
pub(crate) fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidRequest(format!("the body is not the expected JSON: {e}")))
}

/// Starts a session of `user` and answers with its token, the anti-CSRF
/// value and the `__Host-` cookie.
pub(crate) async fn start_session(state: &AppState, user: &User) -> Result<Response, ApiError> {
    let now = now();
    let lifetime = micros(state.settings.session_lifetime);
    let idle = Some(micros(state.settings.session_idle));
    let token = store_session(state, user, SessionKind::Session, now + lifetime, idle).await?;
    let body = serde_json::json!({
        "status": "ok",
        "token": token.expose(),
        "csrf_token": token::csrf_token(token.expose()),
        "expires_at": rfc3339(now + lifetime),
        "idle_timeout_secs": state.settings.session_idle.as_secs(),
        "user": user_json(user),
    });
    let cookie = format!(
        "{COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        token.expose(),
        state.settings.session_lifetime.as_secs()
    );
    let mut response = axum::Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Starts a session of `user` for a browser that arrived by a cross-site
/// POST (single sign-on): the session cookie, and a page that goes on to
/// `to` (a local path) from this site, so that the browser sends the
/// `SameSite=Strict` cookie with it (a redirect would still count as the
/// identity provider's navigation). The SSO binding cookie is cleared.
pub(crate) async fn start_browser_session(state: &AppState, user: &User, to: &str) -> Result<Response, ApiError> {
    let now = now();
    let lifetime = micros(state.settings.session_lifetime);
    let idle = Some(micros(state.settings.session_idle));
    let token = store_session(state, user, SessionKind::Session, now + lifetime, idle).await?;
    let cookie = format!(
        "{COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        token.expose(),
        state.settings.session_lifetime.as_secs()
    );
    let escaped = to
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let page = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url={escaped}\">\
         <title>Vox</title></head><body><p>Logged in. <a href=\"{escaped}\">Continue</a>.</p></body></html>"
    );
    let mut response = axum::response::Html(page).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.append(header::SET_COOKIE, value);
    }
    headers.append(
        header::SET_COOKIE,
        HeaderValue::from_static("__Host-vox_sso=; Path=/; Secure; HttpOnly; SameSite=None; Max-Age=0"),
    );
    Ok(response)
}

/// A short-lived token of another kind (a second-factor challenge, an
/// enrolment-only session).
pub(crate) async fn start_limited(
    state: &AppState,
    user: &User,
    kind: SessionKind,
    minutes: i64,
) -> Result<auth::Secret, ApiError> {
    store_session(state, user, kind, now() + minutes * 60_000_000, None).await
}

/// A new token of `kind` for `user`, stored as its SHA-256 with the user's
/// credential epoch.
async fn store_session(
    state: &AppState,
    user: &User,
    kind: SessionKind,
    expires_at: i64,
    idle_micros: Option<i64>,
) -> Result<auth::Secret, ApiError> {
    let token = token::new_token(match kind {
        SessionKind::Challenge => TokenKind::Challenge,
        SessionKind::Token => TokenKind::Personal,
        SessionKind::Session | SessionKind::Enrol => TokenKind::Session,
    });
    state
        .store
        .create_session(&NewSession {
            token_sha256: token::token_hash(token.expose()),
            id: token::new_public_id(),
            scope: user.scope.clone(),
            user_id: user.id.to_string(),
            kind,
            name: None,
            created_at: now(),
            expires_at,
            idle_micros,
            epoch: user.sessions_not_before,
        })
        .await
        .map_err(ApiError::store)?;
    Ok(token)
}

pub(crate) fn micros(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// A user as the API shows it (never a credential).
pub(crate) fn user_json(user: &User) -> serde_json::Value {
    serde_json::json!({
        "id": user.id,
        "tenant": user.scope,
        "email": user.email,
        "role": user.role.as_str(),
        "status": user.status.as_str(),
        "two_factor": user.totp.is_some(),
    })
}

/// A time (microseconds) as RFC 3339 UTC.
pub(crate) fn rfc3339(micros: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_address_comes_from_trusted_proxies_only() {
        let proxies = crate::parse_trusted_proxies("10.0.0.0/8, 192.168.1.7").expect("valid");
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 198.51.100.4, 10.1.2.3"),
        );
        assert_eq!(
            client_address(ip("10.9.9.9"), &headers, &proxies),
            ip("198.51.100.4"),
            "right-most untrusted"
        );
        assert_eq!(
            client_address(ip("203.0.113.50"), &headers, &proxies),
            ip("203.0.113.50"),
            "not a proxy: header ignored"
        );
        assert_eq!(
            client_address(ip("192.168.1.7"), &HeaderMap::new(), &proxies),
            ip("192.168.1.7")
        );
        headers.insert("x-forwarded-for", HeaderValue::from_static("not-an-ip"));
        assert_eq!(client_address(ip("10.0.0.1"), &headers, &proxies), ip("10.0.0.1"));
        assert!(crate::parse_trusted_proxies("10.0.0.0/33").is_err());
        assert!(crate::parse_trusted_proxies("").expect("none").is_empty());
    }

    #[test]
    fn tokens_come_from_the_bearer_header_before_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; __Host-vox_session=vox_st_x"),
        );
        assert_eq!(presented(&headers), Some(("vox_st_x".to_owned(), true)));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer vox_pt_y"));
        assert_eq!(presented(&headers), Some(("vox_pt_y".to_owned(), false)));
    }
}
