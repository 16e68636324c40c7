//! The caller's own account: who am I, password change, TOTP enrolment
//! and removal, personal API tokens.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use directory::people::{email_key, TOTP_PURPOSE};
use login::token::{self, TokenKind};
use schemas::{AuditAction, ByteString, ConfigEvent, Outcome, UserPasswordSet, UserTotpSet};
use serde::Deserialize;
use store::{NewSession, SessionKind};

use crate::login_api::{check_lock, failed_login, no_store, password_hash, per_address, sealed_password, totp_seed};
use crate::session::{self, json, now, rfc3339, Accept, Caller, Ctx};
use crate::{ApiError, AppState};

/// Minutes a begun TOTP enrolment waits for its confirming code.
const PENDING_TOTP_MINUTES: i64 = 10;
/// Personal API tokens a user may hold at once.
pub const MAX_TOKENS_PER_USER: usize = 20;

/// Runs `f` for an authenticated caller; refusals become answers.
pub(crate) async fn with_caller<F, Fut>(state: Arc<AppState>, ctx: Ctx, path: &str, accept: Accept, f: F) -> Response
where
    F: FnOnce(Arc<AppState>, Caller) -> Fut,
    Fut: std::future::Future<Output = Result<Response, ApiError>>,
{
    let result = async {
        let source = session::source(&state, ctx.peer, &ctx.headers);
        let caller = session::authenticate(&state, &ctx.headers, &ctx.method, path, source, accept).await?;
        f(state.clone(), caller).await
    }
    .await;
    no_store(result.unwrap_or_else(IntoResponse::into_response))
}

fn ok(body: serde_json::Value) -> Result<Response, ApiError> {
    Ok(axum::Json(body).into_response())
}

pub(crate) async fn me(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    with_caller(state, ctx, "/v1/me", Accept::Any, |state, caller| async move {
        let groups: Vec<String> = state.directory.read(|d| {
            d.groups_of(&caller.tenant, &caller.user.id)
                .map(|g| g.id.to_string())
                .collect()
        });
        let permissions: Vec<&str> = directory::Permission::ALL
            .iter()
            .filter(|p| caller.role().may(**p))
            .map(|p| p.as_str())
            .collect();
        let mut body = session::user_json(&caller.user);
        body["groups"] = serde_json::json!(groups);
        body["permissions"] = serde_json::json!(permissions);
        body["acting_on_tenant"] = serde_json::json!(caller.tenant);
        // Owners see what they must know: other owners' break-glass logins
        // of the last 30 days.
        if caller.user.role == directory::Role::Owner {
            let since = session::now() - store::ALERT_MICROS;
            let alerts = state
                .store
                .owner_alerts(&caller.tenant, since, 20)
                .await
                .map_err(ApiError::store)?;
            body["alerts"] = alerts
                .iter()
                .filter(|a| a.actor != caller.user.id.as_str())
                .map(|a| serde_json::json!({"kind": a.kind, "user": a.actor, "at": session::rfc3339(a.created_at)}))
                .collect();
        }
        ok(body)
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: auth::Secret,
    new_password: auth::Secret,
}

pub(crate) async fn change_password(State(state): State<Arc<AppState>>, ctx: Ctx, body: Bytes) -> Response {
    with_caller(
        state,
        ctx,
        "/v1/me/password",
        Accept::SessionOnly,
        |state, caller| async move {
            let request: PasswordChange = json(&body)?;
            // Guessing the current password with a session is throttled
            // like a login.
            per_address(&state, caller.source)?;
            let account = email_key(&caller.user.email);
            check_lock(&state, &caller.user.scope, &account, caller.source, now()).await?;
            let hash = password_hash(&state, &caller.user)?;
            let verified = state
                .hasher
                .verify(&request.current_password, hash.as_ref().map(auth::Secret::expose))
                .await
                .map_err(|_| ApiError::Internal)?;
            if !verified.ok {
                failed_login(
                    &state,
                    &caller.user.scope,
                    &account,
                    Some(&caller.user),
                    caller.source,
                    "bad_password",
                )
                .await?;
                return Err(ApiError::InvalidCredentials);
            }
            let (scope, id) = (caller.user.scope.clone(), caller.user.id.to_string());
            let sealed = sealed_password(&state, &scope, &id, &caller.user.email, &request.new_password).await?;
            let now = now();
            let event = ConfigEvent::UserPasswordSet(UserPasswordSet {
                tenant_id: scope.clone(),
                user_id: id.clone(),
                sealed_hash: sealed,
                kek_id: state.settings.kek.id(),
                cause: "change".into(),
                invitation_sha256: None,
                set_at: now,
                changed_by: caller.changed_by(),
            });
            // This node's sessions, tokens and pending logins of the user
            // end first (if the change then fails, the user logs in again
            // with the old password); every other node refuses them once it
            // has read the change (their credential epoch is older).
            let ended = state
                .store
                .revoke_user_sessions(&scope, &id, &SessionKind::ALL, now)
                .await
                .map_err(ApiError::store)?;
            let details = BTreeMap::from([("sessions_ended".to_owned(), ended.to_string())]);
            let record = caller.record(&state, AuditAction::PasswordChanged, Outcome::Success, None, details);
            session::write(&state, event, &[record]).await?;
            ok(serde_json::json!({
                "status": "ok",
                "message": "the password is changed and every session and token of yours ended; log in again",
            }))
        },
    )
    .await
}

pub(crate) async fn totp_begin(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    with_caller(state, ctx, "/v1/me/totp", Accept::Enrolment, |state, caller| async move {
        if caller.user.totp.is_some() {
            return Err(ApiError::Conflict(
                "two-factor authentication is enrolled already; remove it first (DELETE /v1/me/totp with a current code) to enrol a new device".into(),
            ));
        }
        let seed = login::totp::Seed::generate();
        let (scope, id) = (caller.user.scope.clone(), caller.user.id.to_string());
        let sealed = state.settings.kek.seal_bytes(TOTP_PURPOSE, &[&scope, &id], seed.as_bytes());
        state
            .store
            .set_pending_totp(&scope, &id, &sealed, now() + PENDING_TOTP_MINUTES * 60_000_000)
            .await
            .map_err(ApiError::store)?;
        let account = format!("{}:{}", caller.tenant, caller.user.email).replace(':', "/");
        let uri = login::totp::uri(&seed, &state.settings.totp_issuer, &account).map_err(|_| ApiError::Internal)?;
        let svg = login::totp::qr_svg(&uri).map_err(|_| ApiError::Internal)?;
        ok(serde_json::json!({
            "otpauth_uri": uri.expose(),
            "secret": seed.to_base32().expose(),
            "qr_svg": svg.expose(),
            "message": format!("add the key to an authenticator app (scan qr_svg or enter the secret), then confirm with a code at POST /v1/me/totp/confirm within {PENDING_TOTP_MINUTES} minutes"),
        }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeRequest {
    code: String,
}

pub(crate) async fn totp_confirm(State(state): State<Arc<AppState>>, ctx: Ctx, body: Bytes) -> Response {
    with_caller(state, ctx, "/v1/me/totp/confirm", Accept::Enrolment, |state, caller| async move {
        let request: CodeRequest = json(&body)?;
        let (scope, id) = (caller.user.scope.clone(), caller.user.id.to_string());
        let sealed = state
            .store
            .take_pending_totp(&scope, &id, now())
            .await
            .map_err(ApiError::store)?
            .ok_or_else(|| ApiError::InvalidTotp("no enrolment is pending (or it expired); start again with POST /v1/me/totp".into()))?;
        let opened = state
            .settings
            .kek
            .open_bytes(TOTP_PURPOSE, &[&scope, &id], &sealed)
            .map_err(|_| ApiError::Internal)?;
        let seed = login::totp::Seed::from_bytes(opened.to_vec()).map_err(|_| ApiError::Internal)?;
        let unix = u64::try_from(now() / 1_000_000).unwrap_or(0);
        let Some(step) = login::totp::verify(&seed, &request.code, unix) else {
            // Put it back: a mistyped code should not restart the enrolment.
            state
                .store
                .set_pending_totp(&scope, &id, &sealed, now() + PENDING_TOTP_MINUTES * 60_000_000)
                .await
                .map_err(ApiError::store)?;
            return Err(ApiError::InvalidTotp(
                "the code does not match the key; check the authenticator app's clock and try the current code".into(),
            ));
        };
        state.store.reset_totp_steps(&scope, &id).await.map_err(ApiError::store)?;
        state
            .store
            .use_totp_step(&scope, &id, i64::try_from(step).unwrap_or(i64::MAX))
            .await
            .map_err(ApiError::store)?;
        let codes = login::totp::new_recovery_codes();
        let hashes = codes
            .iter()
            .map(|c| ByteString(login::totp::recovery_code_hash(&format!("{scope}/{id}"), c.expose()).to_vec()))
            .collect();
        let event = ConfigEvent::UserTotpSet(UserTotpSet {
            tenant_id: scope.clone(),
            user_id: id.clone(),
            sealed_seed: Some(sealed),
            kek_id: Some(state.settings.kek.id()),
            recovery_sha256: hashes,
            changed_at: now(),
            changed_by: caller.changed_by(),
        });
        let record = caller.record(&state, AuditAction::TotpEnrolled, Outcome::Success, None, BTreeMap::new());
        session::write(&state, event, &[record]).await?;
        if caller.kind == SessionKind::Enrol {
            state
                .store
                .revoke_session(&caller.token_sha256, now())
                .await
                .map_err(ApiError::store)?;
        }
        let codes: Vec<&str> = codes.iter().map(auth::Secret::expose).collect();
        ok(serde_json::json!({
            "status": "ok",
            "recovery_codes": codes,
            "message": "two-factor authentication is on. Keep the recovery codes somewhere safe: each works once, instead of a code, if the phone is lost. They are not shown again",
        }))
    })
    .await
}

pub(crate) async fn totp_remove(State(state): State<Arc<AppState>>, ctx: Ctx, body: Bytes) -> Response {
    with_caller(state, ctx, "/v1/me/totp", Accept::SessionOnly, |state, caller| async move {
        let request: CodeRequest = json(&body)?;
        let (scope, id) = (caller.user.scope.clone(), caller.user.id.to_string());
        let required = scope == schemas::INSTALLATION || state.directory.read(|d| d.two_factor_required(&scope));
        if required {
            return Err(ApiError::PermissionDenied(
                "two-factor authentication is required here and cannot be removed; to move it to a new device, ask an admin to reset it (POST /v1/users/{id}/reset-two-factor), then enrol again".into(),
            ));
        }
        let seed = totp_seed(&state, &caller.user)?
            .ok_or_else(|| ApiError::Conflict("two-factor authentication is not enrolled".into()))?;
        // Guessing codes with a session is throttled like a login.
        per_address(&state, caller.source)?;
        let account = email_key(&caller.user.email);
        check_lock(&state, &scope, &account, caller.source, now()).await?;
        let unix = u64::try_from(now() / 1_000_000).unwrap_or(0);
        let accepted = match login::totp::verify(&seed, &request.code, unix) {
            Some(step) => state
                .store
                .use_totp_step(&scope, &id, i64::try_from(step).unwrap_or(i64::MAX))
                .await
                .map_err(ApiError::store)?,
            None => false,
        };
        if !accepted {
            failed_login(&state, &scope, &account, Some(&caller.user), caller.source, "wrong_totp").await?;
            return Err(ApiError::InvalidTotp(
                "the code is wrong or was used already; send a current code to remove two-factor authentication".into(),
            ));
        }
        let event = ConfigEvent::UserTotpSet(UserTotpSet {
            tenant_id: scope,
            user_id: id,
            sealed_seed: None,
            kek_id: None,
            recovery_sha256: Vec::new(),
            changed_at: now(),
            changed_by: caller.changed_by(),
        });
        let record = caller.record(&state, AuditAction::TotpRemoved, Outcome::Success, None, BTreeMap::new());
        session::write(&state, event, &[record]).await?;
        ok(serde_json::json!({"status": "ok"}))
    })
    .await
}

pub(crate) async fn list_tokens(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    with_caller(state, ctx, "/v1/me/tokens", Accept::Any, |state, caller| async move {
        let rows = state
            .store
            .list_tokens(&caller.user.scope, caller.user.id.as_str(), now())
            .await
            .map_err(ApiError::store)?;
        let tokens: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id,
                    "name": r.name,
                    "created_at": rfc3339(r.created_at),
                    "last_used_at": rfc3339(r.last_seen_at),
                    "expires_at": rfc3339(r.expires_at),
                })
            })
            .collect();
        ok(serde_json::json!({"tokens": tokens}))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    #[serde(default)]
    expires_in_days: Option<u32>,
}

pub(crate) async fn create_token(State(state): State<Arc<AppState>>, ctx: Ctx, body: Bytes) -> Response {
    with_caller(
        state,
        ctx,
        "/v1/me/tokens",
        Accept::SessionOnly,
        |state, caller| async move {
            if caller.user.scope == schemas::INSTALLATION {
                return Err(ApiError::PermissionDenied(
                    "support users work with sessions (two-factor at every login), not personal API tokens".into(),
                ));
            }
            let request: NewToken = json(&body)?;
            let name = request.name.trim().to_owned();
            if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
                return Err(ApiError::InvalidRequest(
                    "name: give the token a name of 1 to 100 characters".into(),
                ));
            }
            let max_days = state.settings.token_max_lifetime.as_secs() / 86_400;
            let days = u64::from(request.expires_in_days.unwrap_or(90));
            if days == 0 || days > max_days {
                return Err(ApiError::InvalidRequest(format!(
                    "expires_in_days: a token lives 1 to {max_days} days"
                )));
            }
            let (scope, id) = (caller.user.scope.clone(), caller.user.id.to_string());
            let now = now();
            let held = state
                .store
                .list_tokens(&scope, &id, now)
                .await
                .map_err(ApiError::store)?;
            if held.len() >= MAX_TOKENS_PER_USER {
                return Err(ApiError::Conflict(format!(
                    "you hold {MAX_TOKENS_PER_USER} tokens, the most allowed; revoke one first"
                )));
            }
            let secret = token::new_token(TokenKind::Personal);
            let public_id = token::new_public_id();
            let expires_at = now + i64::try_from(days).unwrap_or(365) * 86_400_000_000;
            state
                .store
                .create_session(&NewSession {
                    token_sha256: token::token_hash(secret.expose()),
                    id: public_id.clone(),
                    scope,
                    user_id: id,
                    kind: SessionKind::Token,
                    name: Some(name.clone()),
                    created_at: now,
                    expires_at,
                    idle_micros: None,
                    epoch: caller.user.sessions_not_before,
                })
                .await
                .map_err(ApiError::store)?;
            let details = BTreeMap::from([("token_id".to_owned(), public_id.clone())]);
            caller.audit(&state, AuditAction::TokenCreated, None, details).await?;
            ok(serde_json::json!({
                "id": public_id,
                "name": name,
                "token": secret.expose(),
                "expires_at": rfc3339(expires_at),
                "message": "the token is shown only now; send it as `Authorization: Bearer <token>`",
            }))
        },
    )
    .await
}

pub(crate) async fn revoke_token(
    State(state): State<Arc<AppState>>,
    Path(token_id): Path<String>,
    ctx: Ctx,
) -> Response {
    with_caller(state, ctx, "/v1/me/tokens", Accept::Any, |state, caller| async move {
        let revoked = state
            .store
            .revoke_token(&caller.user.scope, caller.user.id.as_str(), &token_id, now())
            .await
            .map_err(ApiError::store)?;
        if !revoked {
            return Err(ApiError::NotFound(format!(
                "you have no live token with id '{}'",
                token_id.chars().take(40).collect::<String>()
            )));
        }
        let details = BTreeMap::from([("token_id".to_owned(), token_id.clone())]);
        caller.audit(&state, AuditAction::TokenRevoked, None, details).await?;
        ok(serde_json::json!({"status": "ok"}))
    })
    .await
}
