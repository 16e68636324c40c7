//! The pure core of a batch: decoded items in, the events to append and a
//! result per item out. No I/O and no HTTP, so it is tested through events
//! and items alone; the handler in `api.rs` is the shell around it.

use std::collections::HashSet;

use directory::{Authenticated, Directory, IsolationError};
use eventlog::Output;
use schemas::{feedback_event_id, feedback_key, CollectionId, FeedbackReceived, ReasonCode, Region};
use serde_json::Value;
use wire::ItemResult;

use crate::error::ApiError;
use crate::validate::{external_id_of, validate_sized, ItemError, Limits, ValidItem};

/// What a batch is checked and written with.
pub struct BatchContext<'a> {
    /// Who sent it (the tenant comes from here).
    pub auth: &'a Authenticated,
    pub limits: &'a Limits,
    /// The region of this node.
    pub region: &'a Region,
    /// `vox.feedback.raw` under the node's namespace.
    pub raw_topic: &'a str,
    pub batch_id: &'a str,
    /// Microseconds since the epoch, stamped on every event.
    pub received_at: i64,
    /// Bounds `occurred_at`.
    pub now: time::OffsetDateTime,
    /// All or nothing.
    pub atomic: bool,
}

/// The events to append (in item order) and one result per item.
#[derive(Debug)]
pub struct BatchPlan {
    pub results: Vec<ItemResult>,
    pub outputs: Vec<Output>,
    pub rejected: usize,
}

/// Validates every item, checks tenant isolation and uniqueness within the
/// batch, and makes the `FeedbackReceived` events of the valid ones. With
/// `atomic`, one bad item turns every result into a rejection and no event
/// is made. Fails only if an event cannot be encoded.
pub fn plan_batch(
    directory: &Directory,
    items: &[(Value, usize)],
    ctx: &BatchContext<'_>,
) -> Result<BatchPlan, ApiError> {
    let auth = ctx.auth;
    let mut results = Vec::with_capacity(items.len());
    let mut outputs = Vec::with_capacity(items.len() + 1);
    let mut seen = HashSet::new();
    for (index, (value, size)) in items.iter().enumerate() {
        match check_item(directory, ctx, value, *size, &mut seen) {
            Ok(v) => {
                let event_id = feedback_event_id(auth.tenant_id.as_str(), v.collection.as_str(), &v.external_id);
                results.push(accepted(index, &v.external_id, event_id.clone()));
                let key = feedback_key(auth.tenant_id.as_str(), v.collection.as_str(), &v.external_id);
                let event = FeedbackReceived {
                    event_id,
                    tenant_id: auth.tenant_id.to_string(),
                    collection: v.collection.into(),
                    external_id: v.external_id,
                    client_id: auth.client_id.to_string(),
                    region: ctx.region.to_string(),
                    batch_id: ctx.batch_id.to_owned(),
                    received_at: ctx.received_at,
                    item: v.item,
                };
                let payload = schemas::encode(&event).map_err(|e| {
                    tracing::error!(error = %e, "encoding FeedbackReceived failed");
                    ApiError::Internal
                })?;
                outputs.push(Output {
                    topic: ctx.raw_topic.to_owned(),
                    key,
                    payload,
                });
            }
            Err(e) => results.push(rejected(index, external_id_of(value), e)),
        }
    }
    let mut rejected_count = results.len() - outputs.len();
    if ctx.atomic && rejected_count > 0 {
        // All or nothing: the valid items are not appended either.
        let failed: Vec<String> = results
            .iter()
            .filter(|r| r.status == "rejected")
            .map(|r| r.index.to_string())
            .collect();
        for r in results.iter_mut().filter(|r| r.status == "accepted") {
            *r = rejected(
                r.index,
                r.external_id.as_deref(),
                ItemError {
                    code: ReasonCode::AtomicBatchFailed,
                    field: String::new(),
                    message: format!(
                        "not appended: the batch is atomic and item(s) {} failed",
                        failed.join(", ")
                    ),
                },
            );
        }
        outputs.clear();
        rejected_count = results.len();
    }
    Ok(BatchPlan {
        results,
        outputs,
        rejected: rejected_count,
    })
}

fn accepted(index: usize, external_id: &str, event_id: String) -> ItemResult {
    ItemResult {
        index,
        external_id: Some(external_id.to_owned()),
        status: "accepted".into(),
        event_id: Some(event_id),
        code: None,
        field: None,
        message: None,
    }
}

fn rejected(index: usize, external_id: Option<&str>, e: ItemError) -> ItemResult {
    ItemResult {
        index,
        external_id: external_id.map(str::to_owned),
        status: "rejected".into(),
        event_id: None,
        code: Some(e.code.as_str().to_owned()),
        field: Some(e.field),
        message: Some(e.message),
    }
}

/// Validation, tenant isolation, and uniqueness within the batch.
fn check_item(
    directory: &Directory,
    ctx: &BatchContext<'_>,
    value: &Value,
    size: usize,
    seen: &mut HashSet<(CollectionId, String)>,
) -> Result<ValidItem, ItemError> {
    let v = validate_sized(value, size, ctx.limits, ctx.now)?;
    directory
        .check_write(&ctx.auth.tenant_id, &ctx.auth.client_id, &v.collection, ctx.region)
        .map_err(isolation_error)?;
    if !seen.insert((v.collection.clone(), v.external_id.clone())) {
        return Err(ItemError {
            code: ReasonCode::DuplicateInBatch,
            field: "external_id".into(),
            message: "the same collection and external_id appear earlier in this batch".into(),
        });
    }
    Ok(v)
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

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::{ClientCredentialIssued, ClientId, CollectionCreated, ConfigEvent, TenantCreated, TenantId};
    use serde_json::json;

    fn directory() -> Directory {
        let mut d = Directory::default();
        let events: Vec<ConfigEvent> = vec![
            TenantCreated {
                tenant_id: "acme".into(),
                name: "Acme".into(),
                region: "eu".into(),
                created_at: 0,
            }
            .into(),
            CollectionCreated {
                tenant_id: "acme".into(),
                collection: "nps".into(),
                name: "NPS".into(),
                created_at: 0,
            }
            .into(),
            CollectionCreated {
                tenant_id: "acme".into(),
                collection: "hr".into(),
                name: "HR".into(),
                created_at: 0,
            }
            .into(),
            ClientCredentialIssued {
                tenant_id: "acme".into(),
                client_id: "c1".into(),
                name: "crm".into(),
                collections: vec!["nps".into()],
                secret_version: 1,
                secret_sha256: vec![],
                issued_at: 0,
                sealed_secret: None,
                kek_id: None,
            }
            .into(),
        ];
        for e in &events {
            d.apply(e).expect("valid setup");
        }
        d
    }

    fn item(id: &str, collection: &str) -> (Value, usize) {
        let v = json!({"external_id": id, "collection": collection, "occurred_at": "2026-11-01T10:00:00Z",
                       "channel": "survey", "text": "fine"});
        let size = v.to_string().len();
        (v, size)
    }

    fn plan(items: &[(Value, usize)], atomic: bool) -> BatchPlan {
        let auth = Authenticated {
            tenant_id: TenantId::parse("acme").expect("id"),
            client_id: ClientId::parse("c1").expect("id"),
            secret_version: 1,
        };
        let region = Region::parse("eu").expect("region");
        let limits = Limits::default();
        let ctx = BatchContext {
            auth: &auth,
            limits: &limits,
            region: &region,
            raw_topic: "t.vox.feedback.raw",
            batch_id: "b-1",
            received_at: 7,
            now: time::macros::datetime!(2026-11-29 12:00 UTC),
            atomic,
        };
        plan_batch(&directory(), items, &ctx).expect("plans")
    }

    fn codes(p: &BatchPlan) -> Vec<&str> {
        p.results.iter().map(|r| r.code.as_deref().unwrap_or("ok")).collect()
    }

    #[test]
    fn each_item_gets_a_result_and_valid_ones_an_event() {
        let items = [
            item("a", "nps"),
            item("a", "nps"),
            item("b", "hr"),
            item("c", "sales"),
            (json!({"external_id": "d"}), 20),
        ];
        let p = plan(&items, false);
        assert_eq!(
            codes(&p),
            [
                "ok",
                "duplicate_in_batch",
                "collection_not_allowed",
                "unknown_collection",
                "missing_field"
            ]
        );
        assert_eq!((p.outputs.len(), p.rejected), (1, 4));
        assert_eq!(p.outputs[0].topic, "t.vox.feedback.raw");
        assert_eq!(p.outputs[0].key, b"acme/nps/a");
        let event: FeedbackReceived = schemas::decode(&p.outputs[0].payload).expect("event");
        assert_eq!(
            (
                event.tenant_id.as_str(),
                event.client_id.as_str(),
                event.batch_id.as_str(),
                event.received_at
            ),
            ("acme", "c1", "b-1", 7),
            "the tenant and client come from the credential"
        );
        assert_eq!(p.results[0].event_id.as_deref(), Some(event.event_id.as_str()));
        assert_eq!(p.results[4].external_id.as_deref(), Some("d"));
    }

    #[test]
    fn an_atomic_batch_with_a_bad_item_makes_no_event() {
        let p = plan(&[item("a", "nps"), item("b", "sales")], true);
        assert_eq!(codes(&p), ["atomic_batch_failed", "unknown_collection"]);
        assert!(p.outputs.is_empty());
        assert_eq!(p.rejected, 2);
        let clean = plan(&[item("a", "nps"), item("b", "nps")], true);
        assert_eq!((clean.outputs.len(), clean.rejected), (2, 0));
    }
}
