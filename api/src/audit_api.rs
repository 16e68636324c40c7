//! The tenant's audit log for its compliance team (README, "Audit over
//! HTTPS"): the newest signed checkpoint, records by index range, and
//! inclusion and consistency proofs. Every endpoint needs
//! [`Permission::ReadAudit`] (owners and the compliance role); the log is
//! always the session's tenant's. Each request is itself on record
//! (`audit.read`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use directory::Permission;
use schemas::AuditAction;
use store::AuditRange;

use crate::me::with_caller;
use crate::session::{Accept, Ctx};
use crate::{ApiError, AppState};

/// The most records one `GET /v1/audit/records` returns.
pub const MAX_RECORDS: u64 = 1000;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The query's parameters, each at most once, each one of `allowed`, each
/// a whole number ≥ 0.
fn numbers(raw: Option<&str>, allowed: &[&str]) -> Result<BTreeMap<String, u64>, ApiError> {
    let mut out = BTreeMap::new();
    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !allowed.contains(&name) {
            return Err(ApiError::InvalidRequest(format!(
                "unknown parameter {:?}: this endpoint takes {}",
                name.chars().take(64).collect::<String>(),
                allowed.join(", ")
            )));
        }
        let n: u64 = value.parse().map_err(|_| {
            ApiError::InvalidRequest(format!(
                "{name}: {:?} is not a whole number ≥ 0",
                value.chars().take(64).collect::<String>()
            ))
        })?;
        if n > i64::MAX as u64 {
            return Err(ApiError::InvalidRequest(format!("{name}: {n} is too large")));
        }
        if out.insert(name.to_owned(), n).is_some() {
            return Err(ApiError::InvalidRequest(format!("{name} is given twice")));
        }
    }
    Ok(out)
}

fn required(params: &BTreeMap<String, u64>, name: &str) -> Result<u64, ApiError> {
    params
        .get(name)
        .copied()
        .ok_or_else(|| ApiError::InvalidRequest(format!("{name} is required")))
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "reading the audit log failed");
    ApiError::Unavailable {
        what: "the audit log",
        retry_after_secs: 2,
    }
}

fn proof_error(e: auditor::VerifyError) -> ApiError {
    match e {
        auditor::VerifyError::Input(what) => ApiError::InvalidRequest(what),
        other => unavailable(other),
    }
}

fn details(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

/// `GET /v1/audit/checkpoint`: the newest signed checkpoint of the
/// tenant's log, as signed (`text/plain`); 404 before the first.
pub(crate) async fn checkpoint(State(state): State<Arc<AppState>>, ctx: Ctx, RawQuery(raw): RawQuery) -> Response {
    const PATH: &str = "/v1/audit/checkpoint";
    with_caller(state, ctx, PATH, Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ReadAudit, PATH).await?;
        numbers(raw.as_deref(), &[])?;
        let latest = state
            .store
            .audit_checkpoints(&caller.tenant)
            .await
            .map_err(unavailable)?
            .pop();
        caller
            .audit(
                &state,
                AuditAction::AuditRead,
                Some(PATH),
                details(&[("size", latest.as_ref().map_or(0, |c| c.size).to_string())]),
            )
            .await?;
        let Some(latest) = latest else {
            return Err(ApiError::NotFound(
                "the audit log has no checkpoint yet: the auditor signs one within its interval (10 s by default) \
                 of the first record"
                    .to_owned(),
            ));
        };
        Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], latest.note).into_response())
    })
    .await
}

/// `GET /v1/audit/records?from=N&limit=M`: records `from` onwards, at most
/// `limit` (default and maximum [`MAX_RECORDS`]), each with its index, its
/// leaf data in base64 and the record as JSON.
pub(crate) async fn records(State(state): State<Arc<AppState>>, ctx: Ctx, RawQuery(raw): RawQuery) -> Response {
    const PATH: &str = "/v1/audit/records";
    with_caller(state, ctx, PATH, Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ReadAudit, PATH).await?;
        let params = numbers(raw.as_deref(), &["from", "limit"])?;
        let from = params.get("from").copied().unwrap_or(0);
        let limit = params.get("limit").copied().unwrap_or(MAX_RECORDS);
        if !(1..=MAX_RECORDS).contains(&limit) {
            return Err(ApiError::InvalidRequest(format!("limit: use 1 to {MAX_RECORDS}")));
        }
        let range = AuditRange {
            from,
            ..Default::default()
        };
        let rows = state
            .store
            .audit_records(&caller.tenant, &range, limit as usize)
            .await
            .map_err(unavailable)?;
        let size = state.store.audit_log_size(&caller.tenant).await.map_err(unavailable)?;
        caller
            .audit(
                &state,
                AuditAction::AuditRead,
                Some(PATH),
                details(&[("from", from.to_string()), ("returned", rows.len().to_string())]),
            )
            .await?;
        let records: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "index": r.index,
                    "data": B64.encode(&r.data),
                    "record": schemas::decode::<schemas::AuditRecord>(&r.data).ok(),
                })
            })
            .collect();
        let next = rows.last().map(|r| r.index + 1).filter(|n| *n < size);
        Ok(axum::Json(serde_json::json!({"size": size, "records": records, "next_from": next})).into_response())
    })
    .await
}

/// `GET /v1/audit/proof/inclusion?index=N&size=S`: the RFC 6962 inclusion
/// proof of record `index` in the tree of `size` records.
pub(crate) async fn inclusion(State(state): State<Arc<AppState>>, ctx: Ctx, RawQuery(raw): RawQuery) -> Response {
    const PATH: &str = "/v1/audit/proof/inclusion";
    with_caller(state, ctx, PATH, Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ReadAudit, PATH).await?;
        let params = numbers(raw.as_deref(), &["index", "size"])?;
        let (index, size) = (required(&params, "index")?, required(&params, "size")?);
        let proof = auditor::inclusion_proof(&state.store, &caller.tenant, index, size)
            .await
            .map_err(proof_error)?;
        caller
            .audit(
                &state,
                AuditAction::AuditRead,
                Some(PATH),
                details(&[("index", index.to_string()), ("size", size.to_string())]),
            )
            .await?;
        let proof: Vec<String> = proof.iter().map(|h| B64.encode(h.0)).collect();
        Ok(axum::Json(serde_json::json!({"index": index, "tree_size": size, "proof": proof})).into_response())
    })
    .await
}

/// `GET /v1/audit/proof/consistency?from=A&to=B`: the RFC 6962 consistency
/// proof from the tree of `from` records to that of `to`.
pub(crate) async fn consistency(State(state): State<Arc<AppState>>, ctx: Ctx, RawQuery(raw): RawQuery) -> Response {
    const PATH: &str = "/v1/audit/proof/consistency";
    with_caller(state, ctx, PATH, Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ReadAudit, PATH).await?;
        let params = numbers(raw.as_deref(), &["from", "to"])?;
        let (from, to) = (required(&params, "from")?, required(&params, "to")?);
        let proof = auditor::consistency_proof(&state.store, &caller.tenant, from, to)
            .await
            .map_err(proof_error)?;
        caller
            .audit(
                &state,
                AuditAction::AuditRead,
                Some(PATH),
                details(&[("from", from.to_string()), ("to", to.to_string())]),
            )
            .await?;
        let proof: Vec<String> = proof.iter().map(|h| B64.encode(h.0)).collect();
        Ok(axum::Json(serde_json::json!({"from": from, "to": to, "proof": proof})).into_response())
    })
    .await
}
