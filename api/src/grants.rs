//! A tenant's feedback access, for its admins: access grants (a user or
//! group, one collection or all, read or export, an optional tag filter)
//! and the restricted tag names. Every endpoint needs
//! [`Permission::ManageGroups`] (owners and admins) and goes through
//! [`crate::manage`]; what a grant means is [`directory::Directory::access`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use directory::commands::AdminError;
use directory::{AccessGrant, ConfigError, Permission};
use serde::{Deserialize, Deserializer};

use crate::manage::ManageError;
use crate::me::with_caller;
use crate::people::manager;
use crate::session::{json, rfc3339, Accept, Ctx};
use crate::{ApiError, AppState};

/// A refused grant change as an answer: what is named but missing is 404,
/// a grant that ended or a tenant at its limit 409, other refusals 400.
fn refused(e: ManageError) -> ApiError {
    let ManageError::Admin(e) = e;
    match e {
        AdminError::Invalid(e @ (ConfigError::UnknownAccessGrant { .. } | ConfigError::UnknownCollection { .. })) => {
            ApiError::NotFound(e.to_string())
        }
        AdminError::Invalid(e @ (ConfigError::AccessGrantEnded { .. } | ConfigError::TooManyAccessGrants { .. })) => {
            ApiError::Conflict(e.to_string())
        }
        other => ApiError::from_admin(other),
    }
}

/// A grant as the API shows it.
fn grant_json(g: &AccessGrant) -> serde_json::Value {
    crate::manage::grant_json(g, |t| serde_json::json!(rfc3339(t)))
}

pub(crate) async fn list_grants(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    let path = "/v1/grants";
    with_caller(state, ctx, path, Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ManageGroups, path).await?;
        let grants: Vec<serde_json::Value> = state
            .directory
            .read(|d| d.access_grants(&caller.tenant).map(grant_json).collect());
        Ok(axum::Json(serde_json::json!({"grants": grants})).into_response())
    })
    .await
}

/// Who a grant is for: `{"user": "usr_…"}` or `{"group": "…"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum PrincipalRequest {
    User(String),
    Group(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantRequest {
    principal: PrincipalRequest,
    /// Must be present: a name, or null for every collection (a forgotten
    /// field never grants everything).
    #[serde(default, deserialize_with = "present")]
    collection: Option<Option<String>>,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    tag_filter: Vec<String>,
}

/// A field that is present, whether null or not.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub(crate) async fn grant(State(state): State<Arc<AppState>>, ctx: Ctx, body: Bytes) -> Response {
    let path = "/v1/grants";
    with_caller(state, ctx, path, Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ManageGroups, path).await?;
        let request: GrantRequest = json(&body)?;
        let Some(collection) = request.collection else {
            return Err(ApiError::InvalidRequest(
                "collection: name the collection the grant covers, or send null for every collection".into(),
            ));
        };
        let level = request.level.as_deref().unwrap_or("read");
        let (kind, id) = match &request.principal {
            PrincipalRequest::User(id) => ("user", id.as_str()),
            PrincipalRequest::Group(id) => ("group", id.as_str()),
        };
        let grant_id = manager(&state, &caller)
            .grant_access(
                &caller.tenant,
                kind,
                id,
                collection.as_deref(),
                level,
                &request.tag_filter,
            )
            .await
            .map_err(refused)?;
        crate::session::refreshed(&state).await;
        let grant = state
            .directory
            .read(|d| d.access_grant(&caller.tenant, &grant_id).map(grant_json));
        let body = serde_json::json!({"status": "ok", "grant_id": grant_id, "grant": grant});
        Ok((StatusCode::CREATED, axum::Json(body)).into_response())
    })
    .await
}

pub(crate) async fn revoke(State(state): State<Arc<AppState>>, Path(id): Path<String>, ctx: Ctx) -> Response {
    let path = "/v1/grants/{id}";
    with_caller(state, ctx, path, Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ManageGroups, path).await?;
        manager(&state, &caller)
            .revoke_access(&caller.tenant, &id)
            .await
            .map_err(refused)?;
        crate::session::refreshed(&state).await;
        Ok(axum::Json(serde_json::json!({"status": "ok", "grant_id": id})).into_response())
    })
    .await
}

pub(crate) async fn get_restricted(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    let path = "/v1/restricted-tags";
    with_caller(state, ctx, path, Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ManageGroups, path).await?;
        let names = state.directory.read(|d| d.restricted_tags(&caller.tenant).to_vec());
        Ok(axum::Json(serde_json::json!({"restricted_tags": names})).into_response())
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestrictedRequest {
    restricted_tags: Vec<String>,
}

pub(crate) async fn set_restricted(State(state): State<Arc<AppState>>, ctx: Ctx, body: Bytes) -> Response {
    let path = "/v1/restricted-tags";
    with_caller(state, ctx, path, Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ManageGroups, path).await?;
        let request: RestrictedRequest = json(&body)?;
        let names = manager(&state, &caller)
            .set_restricted_tags(&caller.tenant, &request.restricted_tags)
            .await
            .map_err(refused)?;
        crate::session::refreshed(&state).await;
        Ok(axum::Json(serde_json::json!({"status": "ok", "restricted_tags": names})).into_response())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<GrantRequest, String> {
        json::<GrantRequest>(body.as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn grant_bodies_name_a_principal_and_a_collection_or_null() {
        let user = parse(r#"{"principal": {"user": "usr_1"}, "collection": "surveys", "level": "export", "tag_filter": ["store:helsinki"]}"#)
            .expect("a full body");
        assert!(matches!(user.principal, PrincipalRequest::User(ref id) if id == "usr_1"));
        assert_eq!(user.collection, Some(Some("surveys".into())));
        assert_eq!((user.level.as_deref(), user.tag_filter.len()), (Some("export"), 1));
        let all = parse(r#"{"principal": {"group": "helsinki"}, "collection": null}"#).expect("null: every collection");
        assert!(matches!(all.principal, PrincipalRequest::Group(_)));
        assert_eq!((all.collection, all.level, all.tag_filter.len()), (Some(None), None, 0));
        let missing = parse(r#"{"principal": {"group": "helsinki"}}"#).expect("parses");
        assert_eq!(
            missing.collection, None,
            "refused by the handler: a forgotten field grants nothing"
        );
        for bad in [
            r#"{"principal": {"role": "admin"}, "collection": null}"#,
            r#"{"principal": {"user": "usr_1", "group": "g"}, "collection": null}"#,
            r#"{"principal": "usr_1", "collection": null}"#,
            r#"{"principal": {"user": "usr_1"}, "collection": null, "expires": 1}"#,
            r#"{"collection": null}"#,
        ] {
            let refused = parse(bad).expect_err(bad);
            assert!(refused.starts_with("the body is not the expected JSON"), "{refused}");
        }
    }
}
