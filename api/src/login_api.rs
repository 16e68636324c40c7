//! Logging in and out: password, then TOTP (or a recovery code) when the
//! user has enrolled; throttling per source address and per account with
//! growing lockouts; accepting an invitation.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use directory::people::{email_key, PASSWORD_PURPOSE, TOTP_PURPOSE};
use directory::{User, UserStatus};
use governor::clock::{Clock, DefaultClock};
use login::token::{self, TokenKind};
use schemas::{ActorKind, AuditAction, AuditRecord, ConfigEvent, Outcome, UserPasswordSet, INSTALLATION};
use serde::Deserialize;
use store::SessionKind;

use crate::session::{self, json, now, Accept, Ctx};
use crate::{ApiError, AppState};

/// Wrong codes a second-factor challenge takes before it is spent.
const CHALLENGE_ATTEMPTS: i64 = 5;
/// Minutes a challenge (password checked, code pending) stays valid.
const CHALLENGE_MINUTES: i64 = 5;
/// Minutes an enrolment-only token stays valid.
const ENROLMENT_MINUTES: i64 = 15;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    tenant: String,
    email: String,
    password: auth::Secret,
    /// An owner's password login while the tenant requires single sign-on
    /// (the identity provider is down): on record, and the other owners
    /// are alerted.
    #[serde(default)]
    break_glass: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SupportLoginRequest {
    email: String,
    password: auth::Secret,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TotpRequest {
    challenge: auth::Secret,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    recovery_code: Option<auth::Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceptRequest {
    token: auth::Secret,
    password: auth::Secret,
}

/// An audit record of a person's action outside a session (a login).
pub(crate) fn person_record(
    state: &AppState,
    scope: &str,
    actor: &str,
    action: AuditAction,
    outcome: Outcome,
    source: IpAddr,
    details: BTreeMap<String, String>,
) -> AuditRecord {
    let mut details = details;
    if action == AuditAction::Login {
        let label = match outcome {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        };
        metrics::counter!(crate::telemetry::LOGINS, "outcome" => label).increment(1);
    }
    if action == AuditAction::SsoLogin {
        let label = if outcome == Outcome::Success {
            "success"
        } else {
            "failure"
        };
        metrics::counter!(crate::telemetry::SSO_LOGINS, "outcome" => label).increment(1);
    }
    if scope == INSTALLATION {
        details.insert("actor_scope".into(), "installation".into());
    }
    audit::record(
        Some(scope).filter(|s| *s != INSTALLATION),
        ActorKind::User,
        actor,
        action,
        outcome,
        Some(source),
        state.settings.region.as_str(),
        details,
    )
}

fn reason(reason: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("reason".to_owned(), reason.to_owned())])
}

/// The bcrypt hash of a user, opened from its sealed copy.
pub(crate) fn password_hash(state: &AppState, user: &User) -> Result<Option<auth::Secret>, ApiError> {
    let Some(sealed) = &user.password else { return Ok(None) };
    let opened = state
        .settings
        .kek
        .open_bytes(PASSWORD_PURPOSE, &[&user.scope, user.id.as_str()], &sealed.0)
        .map_err(|_| {
            tracing::error!(user = %user.id, "a sealed password hash does not open with this node's key-encryption key");
            ApiError::Internal
        })?;
    Ok(Some(auth::Secret::new(String::from_utf8_lossy(&opened).into_owned())))
}

/// A new password checked, hashed and sealed for `user`.
pub(crate) async fn sealed_password(
    state: &AppState,
    scope: &str,
    user_id: &str,
    email: &str,
    password: &auth::Secret,
) -> Result<Vec<u8>, ApiError> {
    login::password::check_new(password.expose(), &[email, scope])?;
    let hash = state.hasher.hash(password).await.map_err(|e| {
        tracing::error!(error = %e, "hashing a password failed");
        ApiError::Internal
    })?;
    Ok(state
        .settings
        .kek
        .seal_bytes(PASSWORD_PURPOSE, &[scope, user_id], hash.as_bytes()))
}

/// The TOTP seed of a user, opened.
pub(crate) fn totp_seed(state: &AppState, user: &User) -> Result<Option<login::totp::Seed>, ApiError> {
    let Some(totp) = &user.totp else { return Ok(None) };
    let opened = state
        .settings
        .kek
        .open_bytes(TOTP_PURPOSE, &[&user.scope, user.id.as_str()], &totp.seed.0)
        .map_err(|_| ApiError::Internal)?;
    login::totp::Seed::from_bytes(opened.to_vec())
        .map(Some)
        .map_err(|_| ApiError::Internal)
}

pub(crate) fn per_address(state: &AppState, source: IpAddr) -> Result<(), ApiError> {
    state.per_address.check_key(&address_key(source)).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::Throttled {
            who: "from this address",
            retry_after_secs: wait.as_secs().max(1),
        }
    })
}

/// What the per-address limit counts: an IPv4 address, or an IPv6
/// address's /64 (one client's network: a host can use any address in it).
fn address_key(source: IpAddr) -> IpAddr {
    match source {
        IpAddr::V4(_) => source,
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::V6(octets.into())
        }
    }
}

fn tally(state: &AppState, scope: &str, source: IpAddr, error: &ApiError) {
    state.audit.refused(
        audit::RefusalKey {
            // Only a tenant that exists: nothing else from an unauthenticated
            // request enters a durable record.
            tenant: Some(scope.to_owned())
                .filter(|s| s != INSTALLATION && state.directory.read(|d| d.tenant(s).is_some())),
            actor_kind: ActorKind::User,
            actor: "anonymous".into(),
            source: Some(source),
            action: AuditAction::Login,
            reason: error.code().as_str(),
            claimed: None,
        },
        error.status().as_u16(),
    );
}

pub(crate) async fn login(State(state): State<Arc<AppState>>, ctx: Ctx, body: Bytes) -> Response {
    let source = session::source(&state, ctx.peer, &ctx.headers);
    let result = async {
        let request: LoginRequest = json(&body)?;
        password_login(
            &state,
            &request.tenant,
            &request.email,
            &request.password,
            source,
            request.break_glass,
        )
        .await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn support_login(State(state): State<Arc<AppState>>, ctx: Ctx, body: Bytes) -> Response {
    let source = session::source(&state, ctx.peer, &ctx.headers);
    let result = async {
        let request: SupportLoginRequest = json(&body)?;
        password_login(&state, INSTALLATION, &request.email, &request.password, source, false).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The password step of a login (`scope`: the tenant, or the installation
/// for support users).
async fn password_login(
    state: &Arc<AppState>,
    scope: &str,
    email: &str,
    password: &auth::Secret,
    source: IpAddr,
    break_glass: bool,
) -> Result<Response, ApiError> {
    session::fresh(state)?;
    if let Err(refused) = per_address(state, source) {
        tally(state, scope, source, &refused);
        return Err(refused);
    }
    let user = state
        .directory
        .read(|d| d.user_by_email(scope, email).cloned())
        .filter(|u| u.status != UserStatus::Invited);
    let now = now();
    // Throttled by the e-mail asked for, whether an account has it or not:
    // a lockout must not tell which e-mails have accounts.
    let account = email_key(email);
    check_lock(state, scope, &account, source, now).await?;
    let hash = match &user {
        Some(u) => password_hash(state, u)?,
        None => None,
    };
    let verified = state
        .hasher
        .verify(password, hash.as_ref().map(auth::Secret::expose))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "verifying a password failed");
            ApiError::Internal
        })?;
    let user = match user {
        Some(user) if verified.ok => user,
        user => {
            failed_login(state, scope, &account, user.as_ref(), source, "bad_password").await?;
            return Err(ApiError::InvalidCredentials);
        }
    };
    let actor = user.id.to_string();
    if user.status == UserStatus::Disabled {
        let record = person_record(
            state,
            scope,
            &actor,
            AuditAction::Login,
            Outcome::Denied,
            source,
            reason("account_disabled"),
        );
        state.audit.durable(&[record]).await.map_err(ApiError::audit)?;
        return Err(ApiError::AccountDisabled);
    }
    // Single sign-on required: passwords are refused (after the password
    // check, so the answer tells nothing of which accounts exist), but for
    // an owner's break-glass login, on record with the other owners alerted.
    if scope != INSTALLATION && state.directory.read(|d| d.sso_required(scope)) {
        if !(break_glass && user.role == directory::Role::Owner) {
            let record = person_record(
                state,
                scope,
                &actor,
                AuditAction::Login,
                Outcome::Denied,
                source,
                reason(if break_glass {
                    "break_glass_not_owner"
                } else {
                    "sso_required"
                }),
            );
            state.audit.durable(&[record]).await.map_err(ApiError::audit)?;
            return Err(ApiError::SsoRequired {
                tenant: scope.to_owned(),
            });
        }
        let record = person_record(
            state,
            scope,
            &actor,
            AuditAction::BreakGlass,
            Outcome::Success,
            source,
            BTreeMap::from([("step".to_owned(), "password".to_owned())]),
        );
        state.audit.durable(&[record]).await.map_err(ApiError::audit)?;
        metrics::counter!(crate::telemetry::BREAK_GLASS).increment(1);
        let alert = store::OwnerAlert {
            id: auth::new_id("alert_"),
            tenant_id: scope.to_owned(),
            kind: "break_glass".into(),
            actor: actor.clone(),
            created_at: now,
        };
        state.store.owner_alert_add(&alert).await.map_err(ApiError::store)?;
    }
    if verified.needs_rehash {
        rehash(state, &user, password).await;
    }
    if user.totp.is_some() {
        let challenge = session::start_limited(state, &user, SessionKind::Challenge, CHALLENGE_MINUTES).await?;
        let body = serde_json::json!({
            "status": "totp_required",
            "challenge": challenge.expose(),
            "message": "send a code from your authenticator app (or a recovery code) with this challenge to POST /v1/login/totp",
        });
        return Ok(no_store(axum::Json(body).into_response()));
    }
    let required = scope == INSTALLATION || state.directory.read(|d| d.two_factor_required(scope));
    if required {
        let token = session::start_limited(state, &user, SessionKind::Enrol, ENROLMENT_MINUTES).await?;
        let record = person_record(
            state,
            scope,
            &actor,
            AuditAction::Login,
            Outcome::Denied,
            source,
            reason("two_factor_enrolment_required"),
        );
        state.audit.durable(&[record]).await.map_err(ApiError::audit)?;
        let whose = if scope == INSTALLATION {
            "support users must use two-factor authentication".to_owned()
        } else {
            format!("tenant '{scope}' requires two-factor authentication")
        };
        return Err(ApiError::EnrolmentRequired {
            message: format!(
                "{whose} and you have not enrolled: send the enrolment_token of this answer as `Authorization: Bearer` to POST /v1/me/totp, add the key to an authenticator app, confirm with a code at POST /v1/me/totp/confirm, then log in again (the token is valid for {ENROLMENT_MINUTES} minutes)"
            ),
            enrolment_token: token,
        });
    }
    succeeded(state, &user, source).await?;
    let details = BTreeMap::from([("factors".to_owned(), "password".to_owned())]);
    let record = person_record(
        state,
        scope,
        &actor,
        AuditAction::Login,
        Outcome::Success,
        source,
        details,
    );
    state.audit.durable(&[record]).await.map_err(ApiError::audit)?;
    session::start_session(state, &user).await
}

/// A whole login succeeded: the account's failure count starts over (an
/// unlock after a lockout is on record). Only then: a known password alone
/// must not reset the count that protects the second factor.
async fn succeeded(state: &AppState, user: &User, source: IpAddr) -> Result<(), ApiError> {
    let prior = state
        .store
        .login_succeeded(&user.scope, &email_key(&user.email))
        .await
        .map_err(ApiError::store)?;
    if let Some(prior) = prior.filter(|t| t.locked_until > 0) {
        let details = BTreeMap::from([("failures".to_owned(), prior.failures.to_string())]);
        let record = person_record(
            state,
            &user.scope,
            user.id.as_str(),
            AuditAction::Unlock,
            Outcome::Success,
            source,
            details,
        );
        state.audit.record(record);
    }
    Ok(())
}

/// Refuses a login step while the account name (`email_key`) is locked.
pub(crate) async fn check_lock(
    state: &AppState,
    scope: &str,
    account: &str,
    source: IpAddr,
    now: i64,
) -> Result<(), ApiError> {
    let throttle = state
        .store
        .login_throttle(scope, account)
        .await
        .map_err(ApiError::store)?;
    if let Some(t) = throttle.filter(|t| t.locked_until > now) {
        let refused = ApiError::Throttled {
            who: "for this account",
            retry_after_secs: u64::try_from((t.locked_until - now) / 1_000_000).unwrap_or(0).max(1),
        };
        tally(state, scope, source, &refused);
        return Err(refused);
    }
    Ok(())
}

/// Counts a failed login of an account name (locking it after too many):
/// on record for a known user (durable), tallied for an unknown name.
pub(crate) async fn failed_login(
    state: &AppState,
    scope: &str,
    account: &str,
    user: Option<&User>,
    source: IpAddr,
    why: &str,
) -> Result<(), ApiError> {
    let now = now();
    let t = state
        .store
        .login_failed(
            scope,
            account,
            now,
            state.settings.free_failures,
            session::micros(state.settings.first_lockout),
            session::micros(state.settings.max_lockout),
        )
        .await
        .map_err(ApiError::store)?;
    let Some(user) = user else {
        tally(state, scope, source, &ApiError::InvalidCredentials);
        return Ok(());
    };
    let actor = user.id.to_string();
    let mut records = vec![person_record(
        state,
        scope,
        &actor,
        AuditAction::Login,
        Outcome::Failure,
        source,
        reason(why),
    )];
    if t.locked_until > now {
        let details = BTreeMap::from([
            ("failures".to_owned(), t.failures.to_string()),
            (
                "locked_for_secs".to_owned(),
                ((t.locked_until - now) / 1_000_000).to_string(),
            ),
        ]);
        records.push(person_record(
            state,
            scope,
            &actor,
            AuditAction::Lockout,
            Outcome::Success,
            source,
            details,
        ));
    }
    state.audit.durable(&records).await.map_err(ApiError::audit)
}

/// Rehashes at the configured cost after a login proved the password
/// (best effort: the login does not fail if this does).
async fn rehash(state: &AppState, user: &User, password: &auth::Secret) {
    let hash = match state.hasher.hash(password).await {
        Ok(hash) => hash,
        Err(e) => return tracing::warn!(error = %e, "rehashing a password failed"),
    };
    let sealed = state
        .settings
        .kek
        .seal_bytes(PASSWORD_PURPOSE, &[&user.scope, user.id.as_str()], hash.as_bytes());
    let event = ConfigEvent::UserPasswordSet(UserPasswordSet {
        tenant_id: user.scope.clone(),
        user_id: user.id.to_string(),
        sealed_hash: sealed,
        kek_id: state.settings.kek.id(),
        cause: "rehash".into(),
        invitation_sha256: None,
        set_at: now(),
        changed_by: format!("user:{}", user.id),
    });
    // Only over the hash the login checked: a password changed meanwhile
    // (the compare-and-set reads the configuration again) is not undone.
    let checked = user.password.clone();
    let written = directory::commands::append_config_with(
        &state.log,
        &state.settings.namespace,
        |d| {
            let current = d.user(&user.scope, user.id.as_str()).and_then(|u| u.password.clone());
            if current != checked {
                return Err(directory::ConfigError::InvalidPeople(
                    "the password changed since it was checked; the rehash is dropped".into(),
                )
                .into());
            }
            Ok(event.clone())
        },
        |_| Ok(Vec::new()),
    )
    .await;
    match written {
        Ok(_) => session::refreshed(state).await,
        Err(e) => tracing::warn!(error = %e, "writing a rehashed password failed"),
    }
}

pub(crate) async fn login_totp(State(state): State<Arc<AppState>>, ctx: Ctx, body: Bytes) -> Response {
    let source = session::source(&state, ctx.peer, &ctx.headers);
    let result = async {
        let request: TotpRequest = json(&body)?;
        second_factor(&state, request, source).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn second_factor(state: &Arc<AppState>, request: TotpRequest, source: IpAddr) -> Result<Response, ApiError> {
    session::fresh(state)?;
    per_address(state, source)?;
    let spent = || {
        ApiError::InvalidTotp("the login challenge expired, was used, or had too many wrong codes; log in again".into())
    };
    if token::kind_of(request.challenge.expose()) != Some(TokenKind::Challenge) {
        return Err(spent());
    }
    if request.code.is_some() == request.recovery_code.is_some() {
        return Err(ApiError::InvalidRequest(
            "send either `code` (6 digits from the authenticator app) or `recovery_code`".into(),
        ));
    }
    let hash = token::token_hash(request.challenge.expose());
    let row = state
        .store
        .challenge_attempt(&hash, now(), CHALLENGE_ATTEMPTS)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(spent)?;
    let user = state
        .directory
        .read(|d| d.user(&row.scope, &row.user_id).cloned())
        .filter(|u| u.status == UserStatus::Active && u.totp.is_some() && row.epoch >= u.sessions_not_before)
        .ok_or_else(spent)?;
    check_lock(state, &user.scope, &email_key(&user.email), source, now()).await?;
    let scope = user.scope.clone();
    let verdict = match (&request.code, &request.recovery_code) {
        (Some(code), None) => {
            let seed = totp_seed(state, &user)?.ok_or_else(spent)?;
            let unix = u64::try_from(now() / 1_000_000).unwrap_or(0);
            match login::totp::verify(&seed, code, unix) {
                None => Err("wrong_totp"),
                Some(step) => {
                    let step = i64::try_from(step).unwrap_or(i64::MAX);
                    if state
                        .store
                        .use_totp_step(&scope, user.id.as_str(), step)
                        .await
                        .map_err(ApiError::store)?
                    {
                        Ok("totp")
                    } else {
                        Err("replayed_totp")
                    }
                }
            }
        }
        (None, Some(recovery)) => {
            let h = login::totp::recovery_code_hash(&format!("{scope}/{}", user.id), recovery.expose());
            let known = user
                .totp
                .as_ref()
                .is_some_and(|t| t.recovery.iter().any(|r| r[..] == h[..]));
            if known
                && state
                    .store
                    .use_recovery_code(&scope, user.id.as_str(), &h, now())
                    .await
                    .map_err(ApiError::store)?
            {
                Ok("recovery_code")
            } else {
                Err("bad_recovery_code")
            }
        }
        _ => {
            return Err(ApiError::InvalidRequest(
                "send either `code` (6 digits from the authenticator app) or `recovery_code`".into(),
            ))
        }
    };
    let factor = match verdict {
        Ok(factor) => factor,
        Err(why) => {
            failed_login(state, &user.scope, &email_key(&user.email), Some(&user), source, why).await?;
            return Err(ApiError::InvalidTotp(if why == "replayed_totp" {
                "this code was used already; wait for the next code of the authenticator app".into()
            } else {
                "the code is wrong (or the recovery code unknown or used); try again with a current code".into()
            }));
        }
    };
    state
        .store
        .revoke_session(&hash, now())
        .await
        .map_err(ApiError::store)?;
    succeeded(state, &user, source).await?;
    let actor = user.id.to_string();
    let details = BTreeMap::from([("factors".to_owned(), format!("password,{factor}"))]);
    let mut records = vec![person_record(
        state,
        &scope,
        &actor,
        AuditAction::Login,
        Outcome::Success,
        source,
        details,
    )];
    if factor == "recovery_code" {
        records.push(person_record(
            state,
            &scope,
            &actor,
            AuditAction::RecoveryCodeUsed,
            Outcome::Success,
            source,
            BTreeMap::new(),
        ));
    }
    state.audit.durable(&records).await.map_err(ApiError::audit)?;
    session::start_session(state, &user).await
}

pub(crate) async fn logout(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    crate::me::with_caller(state, ctx, "/v1/logout", Accept::Any, |state, caller| async move {
        state
            .store
            .revoke_session(&caller.token_sha256, now())
            .await
            .map_err(ApiError::store)?;
        caller.audit(&state, AuditAction::Logout, None, BTreeMap::new()).await?;
        let mut response = axum::Json(serde_json::json!({"status": "ok"})).into_response();
        response.headers_mut().insert(
            header::SET_COOKIE,
            HeaderValue::from_static("__Host-vox_session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"),
        );
        Ok(response)
    })
    .await
}

pub(crate) async fn accept_invitation(State(state): State<Arc<AppState>>, ctx: Ctx, body: Bytes) -> Response {
    let source = session::source(&state, ctx.peer, &ctx.headers);
    let result = async {
        session::fresh(&state)?;
        per_address(&state, source)?;
        let request: AcceptRequest = json(&body)?;
        if token::kind_of(request.token.expose()) != Some(TokenKind::Invitation) {
            return Err(ApiError::InvalidInvitation);
        }
        let hash = token::token_hash(request.token.expose());
        let now = now();
        let user = state
            .directory
            .read(|d| d.invitation(&hash).cloned())
            .filter(|u| u.invitation.as_ref().is_some_and(|i| i.expires_at > now))
            .ok_or(ApiError::InvalidInvitation)?;
        let sealed = sealed_password(&state, &user.scope, user.id.as_str(), &user.email, &request.password).await?;
        let event = ConfigEvent::UserPasswordSet(UserPasswordSet {
            tenant_id: user.scope.clone(),
            user_id: user.id.to_string(),
            sealed_hash: sealed,
            kek_id: state.settings.kek.id(),
            cause: "invitation".into(),
            invitation_sha256: Some(hash.to_vec()),
            set_at: now,
            changed_by: format!("user:{}", user.id),
        });
        let record = person_record(
            &state,
            &user.scope,
            user.id.as_str(),
            AuditAction::InvitationAccepted,
            Outcome::Success,
            source,
            BTreeMap::new(),
        );
        session::write(&state, event, &[record]).await?;
        let body = serde_json::json!({
            "status": "ok",
            "user": {"id": user.id, "tenant": user.scope, "email": user.email, "role": user.role.as_str()},
            "message": "your password is set; log in with POST /v1/login",
        });
        Ok(no_store(axum::Json(body).into_response()))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

pub(crate) fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_limited_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        assert_eq!(address_key(v4), v4);
    }
}
