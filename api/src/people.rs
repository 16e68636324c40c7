//! A tenant's people, for its admins: users (invite, role, disable,
//! enable, delete, revoke sessions), groups, the login policy and support
//! access grants. Each endpoint checks the caller's role (the permission
//! matrix in README) and goes through [`crate::manage`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use directory::{Permission, Role};
use schemas::{ActorKind, INSTALLATION};
use serde::Deserialize;
use store::SessionKind;

use crate::manage::{Actor, ManageError, Manager, UserChange};
use crate::me::with_caller;
use crate::session::{json, now, rfc3339, user_json, Accept, Caller, Ctx};
use crate::{ApiError, AppState};

fn ok(body: serde_json::Value) -> Result<Response, ApiError> {
    Ok(axum::Json(body).into_response())
}

fn manage_error(e: ManageError) -> ApiError {
    let ManageError::Admin(e) = e;
    ApiError::from_admin(e)
}

pub(crate) fn manager<'a>(state: &'a AppState, caller: &Caller) -> Manager<'a> {
    Manager {
        log: &state.log,
        namespace: &state.settings.namespace,
        region: state.settings.region.as_str(),
        actor: Actor {
            kind: ActorKind::User,
            id: caller.actor(),
            changed_by: caller.changed_by(),
            source: Some(caller.source),
        },
    }
}

/// Only owners may make, change or remove owners.
fn owner_rule(caller: &Caller, touches_owner: bool) -> Result<(), ApiError> {
    if touches_owner && caller.role() != Role::Owner {
        return Err(ApiError::PermissionDenied(
            "only an owner may make, change or remove an owner".into(),
        ));
    }
    Ok(())
}

fn tenant_role(text: &str) -> Result<Role, ApiError> {
    Role::parse(text).filter(|r| Role::TENANT.contains(r)).ok_or_else(|| {
        ApiError::InvalidRequest(format!(
            "role: '{}' is not a role; use owner, admin, analyst, viewer or compliance",
            text.chars().take(40).collect::<String>()
        ))
    })
}

pub(crate) async fn list_users(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    with_caller(state, ctx, "/v1/users", Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ListUsers, "/v1/users").await?;
        let users: Vec<serde_json::Value> = state
            .directory
            .read(|d| d.users(&caller.tenant).map(user_json).collect());
        ok(serde_json::json!({"users": users}))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteRequest {
    email: String,
    role: String,
}

pub(crate) async fn invite(State(state): State<Arc<AppState>>, ctx: Ctx, body: Bytes) -> Response {
    with_caller(state, ctx, "/v1/users", Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ManageUsers, "/v1/users").await?;
        let request: InviteRequest = json(&body)?;
        let role = tenant_role(&request.role)?;
        // Inviting an owner, or renewing a pending owner's invitation (which
        // would replace the owner's token and role), is an owner's.
        let pending_owner = state.directory.read(|d| {
            d.user_by_email(&caller.tenant, &request.email)
                .is_some_and(|u| u.role == Role::Owner)
        });
        owner_rule(&caller, role == Role::Owner || pending_owner)?;
        let (invited, token) = manager(&state, &caller)
            .invite(&caller.tenant, &request.email, role)
            .await
            .map_err(manage_error)?;
        crate::session::refreshed(&state).await;
        ok(serde_json::json!({
            "user_id": invited.user_id,
            "invitation_token": token.expose(),
            "expires_at": rfc3339(invited.expires_at),
            "message": "give the invitation token to the person (it is shown only now); they set their password with POST /v1/invitations/accept",
        }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserUpdate {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// The target user of the caller's tenant, or 404.
fn target(state: &AppState, caller: &Caller, id: &str) -> Result<directory::User, ApiError> {
    state
        .directory
        .read(|d| d.user(&caller.tenant, id).cloned())
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no user '{}' in this tenant",
                id.chars().take(40).collect::<String>()
            ))
        })
}

pub(crate) async fn update_user(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ctx: Ctx,
    body: Bytes,
) -> Response {
    with_caller(state, ctx, "/v1/users/{id}", Accept::Any, |state, caller| async move {
        caller
            .require(&state, Permission::ManageUsers, "/v1/users/{id}")
            .await?;
        let request: UserUpdate = json(&body)?;
        let user = target(&state, &caller, &id)?;
        let mut changes = Vec::new();
        if let Some(role) = &request.role {
            let role = tenant_role(role)?;
            owner_rule(&caller, role == Role::Owner || user.role == Role::Owner)?;
            if role != user.role {
                changes.push(UserChange::Role(role));
            }
        }
        match request.status.as_deref() {
            None => {}
            Some("disabled") => {
                owner_rule(&caller, user.role == Role::Owner)?;
                changes.push(UserChange::Disable);
            }
            Some("active") => {
                owner_rule(&caller, user.role == Role::Owner)?;
                changes.push(UserChange::Enable);
            }
            Some(other) => {
                return Err(ApiError::InvalidRequest(format!(
                    "status: '{}' is not active or disabled",
                    other.chars().take(40).collect::<String>()
                )))
            }
        }
        if changes.is_empty() {
            return Err(ApiError::InvalidRequest("send a new role or status".into()));
        }
        let m = manager(&state, &caller);
        for change in changes {
            m.change_user(&caller.tenant, &id, change).await.map_err(manage_error)?;
            crate::session::refreshed(&state).await;
            if change == UserChange::Disable {
                end_sessions(&state, &caller.tenant, &id).await?;
            }
        }
        let user = target(&state, &caller, &id).map(|u| user_json(&u)).ok();
        ok(serde_json::json!({"status": "ok", "user": user}))
    })
    .await
}

/// Ends a user's sessions and tokens in the store now (other nodes refuse
/// them once they read the event, within their refresh interval anyway).
async fn end_sessions(state: &AppState, scope: &str, id: &str) -> Result<u64, ApiError> {
    state
        .store
        .revoke_user_sessions(
            scope,
            id,
            &[
                SessionKind::Session,
                SessionKind::Token,
                SessionKind::Enrol,
                SessionKind::Challenge,
            ],
            now(),
        )
        .await
        .map_err(ApiError::store)
}

pub(crate) async fn delete_user(State(state): State<Arc<AppState>>, Path(id): Path<String>, ctx: Ctx) -> Response {
    with_caller(state, ctx, "/v1/users/{id}", Accept::Any, |state, caller| async move {
        caller
            .require(&state, Permission::ManageUsers, "/v1/users/{id}")
            .await?;
        let user = target(&state, &caller, &id)?;
        owner_rule(&caller, user.role == Role::Owner)?;
        manager(&state, &caller)
            .change_user(&caller.tenant, &id, UserChange::Delete)
            .await
            .map_err(manage_error)?;
        crate::session::refreshed(&state).await;
        end_sessions(&state, &caller.tenant, &id).await?;
        ok(serde_json::json!({"status": "ok"}))
    })
    .await
}

pub(crate) async fn revoke_sessions(State(state): State<Arc<AppState>>, Path(id): Path<String>, ctx: Ctx) -> Response {
    with_caller(
        state,
        ctx,
        "/v1/users/{id}/revoke-sessions",
        Accept::Any,
        |state, caller| async move {
            if caller.user.id != id.as_str() {
                caller
                    .require(&state, Permission::ManageUsers, "/v1/users/{id}/revoke-sessions")
                    .await?;
            }
            target(&state, &caller, &id)?;
            manager(&state, &caller)
                .change_user(&caller.tenant, &id, UserChange::RevokeSessions)
                .await
                .map_err(manage_error)?;
            crate::session::refreshed(&state).await;
            let ended = end_sessions(&state, &caller.tenant, &id).await?;
            ok(serde_json::json!({"status": "ok", "ended": ended}))
        },
    )
    .await
}

pub(crate) async fn reset_two_factor(State(state): State<Arc<AppState>>, Path(id): Path<String>, ctx: Ctx) -> Response {
    let path = "/v1/users/{id}/reset-two-factor";
    with_caller(state, ctx, path, Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ManageUsers, path).await?;
        let user = target(&state, &caller, &id)?;
        owner_rule(&caller, user.role == Role::Owner)?;
        if user.totp.is_none() {
            return Err(ApiError::Conflict(
                "the user has no two-factor authentication to reset".into(),
            ));
        }
        manager(&state, &caller)
            .reset_two_factor(&caller.tenant, &id)
            .await
            .map_err(manage_error)?;
        crate::session::refreshed(&state).await;
        ok(serde_json::json!({"status": "ok"}))
    })
    .await
}

pub(crate) async fn list_groups(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    with_caller(state, ctx, "/v1/groups", Accept::Any, |state, caller| async move {
        if !caller.role().may(Permission::ManageGroups) {
            caller.require(&state, Permission::ListUsers, "/v1/groups").await?;
        }
        let groups: Vec<serde_json::Value> = state.directory.read(|d| {
            d.groups(&caller.tenant)
                .map(|g| serde_json::json!({"id": g.id, "name": g.name, "members": g.members}))
                .collect()
        });
        ok(serde_json::json!({"groups": groups}))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGroup {
    id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    name: String,
}

pub(crate) async fn create_group(State(state): State<Arc<AppState>>, ctx: Ctx, body: Bytes) -> Response {
    with_caller(state, ctx, "/v1/groups", Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ManageGroups, "/v1/groups").await?;
        let request: NewGroup = json(&body)?;
        manager(&state, &caller)
            .group(&caller.tenant, &request.id, "created", Some(&request.name), None)
            .await
            .map_err(manage_error)?;
        crate::session::refreshed(&state).await;
        ok(serde_json::json!({"status": "ok", "id": request.id}))
    })
    .await
}

pub(crate) async fn rename_group(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ctx: Ctx,
    body: Bytes,
) -> Response {
    with_caller(state, ctx, "/v1/groups/{id}", Accept::Any, |state, caller| async move {
        caller
            .require(&state, Permission::ManageGroups, "/v1/groups/{id}")
            .await?;
        let request: Rename = json(&body)?;
        manager(&state, &caller)
            .group(&caller.tenant, &id, "renamed", Some(&request.name), None)
            .await
            .map_err(manage_error)?;
        crate::session::refreshed(&state).await;
        ok(serde_json::json!({"status": "ok"}))
    })
    .await
}

pub(crate) async fn delete_group(State(state): State<Arc<AppState>>, Path(id): Path<String>, ctx: Ctx) -> Response {
    with_caller(state, ctx, "/v1/groups/{id}", Accept::Any, |state, caller| async move {
        caller
            .require(&state, Permission::ManageGroups, "/v1/groups/{id}")
            .await?;
        manager(&state, &caller)
            .group(&caller.tenant, &id, "deleted", None, None)
            .await
            .map_err(manage_error)?;
        crate::session::refreshed(&state).await;
        ok(serde_json::json!({"status": "ok"}))
    })
    .await
}

async fn membership(state: Arc<AppState>, ctx: Ctx, (group, user): (String, String), change: &'static str) -> Response {
    let path = "/v1/groups/{id}/members/{user}";
    with_caller(state, ctx, path, Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ManageGroups, path).await?;
        manager(&state, &caller)
            .group(&caller.tenant, &group, change, None, Some(&user))
            .await
            .map_err(manage_error)?;
        crate::session::refreshed(&state).await;
        ok(serde_json::json!({"status": "ok"}))
    })
    .await
}

pub(crate) async fn add_member(
    State(state): State<Arc<AppState>>,
    Path(ids): Path<(String, String)>,
    ctx: Ctx,
) -> Response {
    membership(state, ctx, ids, "member_added").await
}

pub(crate) async fn remove_member(
    State(state): State<Arc<AppState>>,
    Path(ids): Path<(String, String)>,
    ctx: Ctx,
) -> Response {
    membership(state, ctx, ids, "member_removed").await
}

pub(crate) async fn get_policy(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    with_caller(state, ctx, "/v1/policy", Accept::Any, |state, caller| async move {
        let required = state.directory.read(|d| d.two_factor_required(&caller.tenant));
        ok(serde_json::json!({"two_factor_required": required}))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Policy {
    two_factor_required: bool,
}

pub(crate) async fn set_policy(State(state): State<Arc<AppState>>, ctx: Ctx, body: Bytes) -> Response {
    with_caller(state, ctx, "/v1/policy", Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ManagePolicy, "/v1/policy").await?;
        let request: Policy = json(&body)?;
        manager(&state, &caller)
            .set_policy(&caller.tenant, request.two_factor_required)
            .await
            .map_err(manage_error)?;
        crate::session::refreshed(&state).await;
        ok(serde_json::json!({"status": "ok", "two_factor_required": request.two_factor_required}))
    })
    .await
}

fn grant_json(g: &directory::SupportGrant, now: i64, email: Option<String>) -> serde_json::Value {
    serde_json::json!({
        "id": g.id,
        "support_user": g.support_user,
        "support_email": email,
        "reason": g.reason,
        "granted_at": rfc3339(g.granted_at),
        "granted_by": g.granted_by,
        "expires_at": rfc3339(g.expires_at),
        "revoked_at": g.revoked_at.map(rfc3339),
        "active": g.active_at(now),
    })
}

pub(crate) async fn list_grants(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    with_caller(
        state,
        ctx,
        "/v1/support-grants",
        Accept::Any,
        |state, caller| async move {
            caller
                .require(&state, Permission::ManageSupport, "/v1/support-grants")
                .await?;
            let now = now();
            let grants: Vec<(String, serde_json::Value)> = state.directory.read(|d| {
                d.support_grants(&caller.tenant)
                    .map(|g| {
                        let email = d.user(INSTALLATION, g.support_user.as_str()).map(|u| u.email.clone());
                        (g.id.to_string(), grant_json(g, now, email))
                    })
                    .collect()
            });
            let mut out = Vec::new();
            for (id, mut grant) in grants {
                let uses = state
                    .store
                    .count_support_uses(&caller.tenant, &id)
                    .await
                    .map_err(ApiError::store)?;
                grant["uses"] = serde_json::json!(uses);
                out.push(grant);
            }
            ok(serde_json::json!({"grants": out}))
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantRequest {
    support_email: String,
    reason: String,
    hours: u32,
}

pub(crate) async fn grant_support(State(state): State<Arc<AppState>>, ctx: Ctx, body: Bytes) -> Response {
    with_caller(
        state,
        ctx,
        "/v1/support-grants",
        Accept::Any,
        |state, caller| async move {
            caller
                .require(&state, Permission::ManageSupport, "/v1/support-grants")
                .await?;
            let request: GrantRequest = json(&body)?;
            if request.hours == 0 || request.hours > 72 {
                return Err(ApiError::InvalidRequest(
                    "hours: support access lasts 1 to 72 hours".into(),
                ));
            }
            let support = state
                .directory
                .read(|d| {
                    d.user_by_email(INSTALLATION, &request.support_email)
                        .map(|u| u.id.to_string())
                })
                .ok_or_else(|| ApiError::NotFound("no support user has that e-mail address".into()))?;
            let id = manager(&state, &caller)
                .grant_support(&caller.tenant, &support, &request.reason, request.hours)
                .await
                .map_err(manage_error)?;
            crate::session::refreshed(&state).await;
            let grant = state.directory.read(|d| {
                d.support_grant(&caller.tenant, &id)
                    .map(|g| grant_json(g, now(), Some(request.support_email.clone())))
            });
            ok(serde_json::json!({"status": "ok", "id": id, "grant": grant}))
        },
    )
    .await
}

pub(crate) async fn revoke_grant(State(state): State<Arc<AppState>>, Path(id): Path<String>, ctx: Ctx) -> Response {
    with_caller(
        state,
        ctx,
        "/v1/support-grants/{id}",
        Accept::Any,
        |state, caller| async move {
            caller
                .require(&state, Permission::ManageSupport, "/v1/support-grants/{id}")
                .await?;
            manager(&state, &caller)
                .revoke_support(&caller.tenant, &id)
                .await
                .map_err(manage_error)?;
            crate::session::refreshed(&state).await;
            ok(serde_json::json!({"status": "ok"}))
        },
    )
    .await
}

pub(crate) async fn grant_uses(State(state): State<Arc<AppState>>, Path(id): Path<String>, ctx: Ctx) -> Response {
    with_caller(state, ctx, "/v1/support-grants/{id}/uses", Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ManageSupport, "/v1/support-grants/{id}/uses").await?;
        if state.directory.read(|d| d.support_grant(&caller.tenant, &id).is_none()) {
            return Err(ApiError::NotFound("no such support grant in this tenant".into()));
        }
        let uses = state
            .store
            .support_uses(&caller.tenant, &id, 1000)
            .await
            .map_err(ApiError::store)?;
        let uses: Vec<serde_json::Value> = uses
            .iter()
            .map(|u| serde_json::json!({"at": rfc3339(u.at), "support_user": u.support_user, "method": u.method, "path": u.path}))
            .collect();
        ok(serde_json::json!({"uses": uses}))
    })
    .await
}
