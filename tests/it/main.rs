//! End-to-end tests of the whole path, on the embedded backends
//! (`embedded::…`) and on Kafka + PostgreSQL (`kafka_postgres::…`), and the
//! contract between README and the code.

mod audit;
mod hardening;
mod helpers;
mod ingest_api;
mod least_privilege;
mod rules;

use audit::*;
use hardening::*;
use ingest_api::*;
use rules::*;

use std::collections::BTreeMap;

use eventlog::Output;
use helpers::{Backend, Node};
use schemas::{feedback_event_id, feedback_key, Channel, FeedbackItem, FeedbackReceived, Topic};
use serde_json::json;
use vox::admin;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/feedback.ndjson");

pub struct Tenant {
    pub client_id: String,
    pub secret: String,
}

pub async fn setup_tenant(node: &Node, tenant: &str, region: &str, collections: &[&str]) -> Tenant {
    let tenant = helpers::tenant(tenant);
    admin::create_tenant(&node.log, &node.namespace, &tenant, "Acme Oy", &helpers::region(region))
        .await
        .expect("tenant");
    for c in collections {
        admin::create_collection(&node.log, &node.namespace, &tenant, &helpers::collection(c), c)
            .await
            .expect("collection");
    }
    let issued = admin::create_client(&node.log, &node.namespace, &node.kek, &tenant, "crm", &[])
        .await
        .expect("client");
    Tenant {
        client_id: issued.client_id,
        secret: issued.secret.expose().to_owned(),
    }
}

/// The README's path: push the example file, read it back from the read
/// model; a retried push creates no second item.
async fn examples_flow_through_every_role(node: Node) {
    let acme = setup_tenant(&node, "acme", "eu", &["nps-2026", "support"]).await;
    let items = vox::push::read_items(std::path::Path::new(EXAMPLES)).expect("examples");
    assert_eq!(items.len(), 40);

    let mut out = Vec::new();
    let summary = vox::push::push(&node.options(&acme.client_id, &acme.secret), &items, &mut out)
        .await
        .expect("push");
    assert_eq!(
        (summary.accepted, summary.rejected),
        (40, 0),
        "{}",
        String::from_utf8_lossy(&out)
    );
    node.wait_projected(40).await;
    let rows = node.rows("acme").await;
    assert_eq!(rows.len(), 40);
    let by_id: BTreeMap<&str, &store::FeedbackRow> = rows.iter().map(|r| (r.external_id.as_str(), r)).collect();
    for item in &items {
        let id = item["external_id"].as_str().expect("id");
        let row = by_id.get(id).unwrap_or_else(|| panic!("{id} is in the read model"));
        // Byte for byte, but for personal data (redacted by default).
        let expected = item["text"].as_str().map(|t| {
            redact::Detectors::all()
                .redact(t)
                .map_or_else(|| t.to_owned(), |r| r.text)
        });
        assert_eq!(
            row.text, expected,
            "{id}: text kept byte for byte, personal data redacted"
        );
        assert_eq!(row.channel, item["channel"].as_str().expect("channel"));
        assert_eq!(row.collection, item["collection"].as_str().expect("collection"));
        assert_eq!(row.event_id, feedback_event_id("acme", &row.collection, id));
        assert_eq!(row.tenant_id, "acme", "the tenant comes from the credential");
        assert_eq!(row.client_id, acme.client_id);
        assert_eq!(
            (row.received_region.as_str(), row.processed_region.as_str()),
            ("eu", "eu")
        );
        assert_eq!(
            row.metrics.as_array().map(Vec::len),
            item["metrics"].as_array().map(Vec::len).or(Some(0))
        );
    }

    // A client retry of the same batch: accepted again (same ids), stored once.
    let first_batch = rows[0].batch_id.clone();
    let summary = vox::push::push(&node.options(&acme.client_id, &acme.secret), &items, &mut Vec::new())
        .await
        .expect("push");
    assert_eq!(summary.accepted, 40);
    node.wait_projected(80).await;
    let after_retry = node.rows("acme").await;
    assert_eq!(after_retry, rows, "a retried batch changes nothing");
    assert!(after_retry.iter().all(|r| r.batch_id == first_batch));

    // Dropping the read model and rebuilding from offset zero gives the same rows.
    let mut node = node;
    node.rebuild_read_models(80).await;
    assert_eq!(
        node.rows("acme").await,
        rows,
        "a rebuild from offset zero yields the same rows"
    );
    node.finish().await;
}

/// Items that fail validation or tenant isolation are rejected one by one
/// with a code and a field, and the valid ones in the batch still land.
async fn bad_items_are_rejected_individually(node: Node) {
    let acme = setup_tenant(&node, "acme", "eu", &["nps-2026"]).await;
    let globex = setup_tenant(&node, "globex", "eu", &["private"]).await;
    let good = json!({"external_id": "ok-1", "collection": "nps-2026", "occurred_at": "2026-11-01T10:00:00Z",
                      "channel": "survey", "metrics": [{"kind": "nps", "value": 10}]});
    let mut nps_11 = good.clone();
    nps_11["external_id"] = json!("bad-1");
    nps_11["metrics"] = json!([{"kind": "nps", "value": 11}]);
    let mut other_tenants = good.clone();
    other_tenants["external_id"] = json!("bad-2");
    other_tenants["collection"] = json!("private");
    let mut unknown_field = good.clone();
    unknown_field["external_id"] = json!("bad-3");
    unknown_field["tenant_id"] = json!("globex");
    let mut too_large = good.clone();
    too_large["external_id"] = json!("bad-4");
    too_large["metadata"] = (0..64).map(|i| (format!("k{i}"), json!("x".repeat(1024)))).collect();

    let client = vox::push::client(Some(&node.ca_cert)).expect("client");
    let options = node.options(&acme.client_id, &acme.secret);
    let response = vox::push::send_batch(
        &client,
        &options,
        &[good, nps_11, other_tenants, unknown_field, too_large],
    )
    .await
    .expect("batch");
    let summary: Vec<(String, Option<String>, Option<String>)> = response
        .results
        .iter()
        .map(|r| (r.status.clone(), r.code.clone(), r.field.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("accepted".into(), None, None),
            (
                "rejected".into(),
                Some("out_of_range".into()),
                Some("metrics[0].value".into())
            ),
            (
                "rejected".into(),
                Some("unknown_collection".into()),
                Some("collection".into())
            ),
            (
                "rejected".into(),
                Some("unknown_field".into()),
                Some("tenant_id".into())
            ),
            ("rejected".into(), Some("item_too_large".into()), Some(String::new())),
        ]
    );
    assert_eq!(node.raw_count().await, 1, "only the valid item was appended");
    node.wait_projected(1).await;
    assert_eq!(node.rows("acme").await.len(), 1);
    assert!(node.rows("globex").await.is_empty(), "nothing reached the other tenant");
    let _ = globex;
    node.finish().await;
}

/// The processor re-checks tenant isolation: an item that reaches the raw
/// topic for a collection that does not exist is dead-lettered with a
/// reason, not projected and not dropped.
async fn processor_dead_letters_what_isolation_refuses(node: Node) {
    let acme = setup_tenant(&node, "acme", "eu", &["nps-2026"]).await;
    let item = FeedbackItem {
        occurred_at: 1_793_697_262_000_000,
        channel: Channel::Email,
        text: Some("Hej! Fakturan var fel.".into()),
        language: Some("sv".into()),
        metrics: vec![],
        respondent: None,
        metadata: BTreeMap::new(),
        tags: vec![],
    };
    let event = |collection: &str, external_id: &str| FeedbackReceived {
        event_id: feedback_event_id("acme", collection, external_id),
        tenant_id: "acme".into(),
        collection: collection.into(),
        external_id: external_id.into(),
        client_id: acme.client_id.clone(),
        region: "eu".into(),
        batch_id: "direct".into(),
        received_at: 1,
        item: item.clone(),
    };
    let raw = node.topic(Topic::FeedbackRaw);
    let records = [event("ghost", "g-1"), event("nps-2026", "n-1")]
        .iter()
        .map(|e| Output {
            topic: raw.clone(),
            key: feedback_key("acme", &e.collection, &e.external_id),
            payload: schemas::encode(e).expect("encode"),
        })
        .collect();
    node.log.append(records).await.expect("append");
    node.wait_projected(2).await;
    let rows = node.rows("acme").await;
    assert_eq!(rows.iter().map(|r| r.external_id.as_str()).collect::<Vec<_>>(), ["n-1"]);
    let rejected = node.store.rejections("acme").await.expect("rejections");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].reason_code, "unknown_collection");
    assert_eq!(rejected[0].external_id.as_deref(), Some("g-1"));
    assert!(rejected[0].reason.contains("ghost"));
    node.finish().await;
}

macro_rules! end_to_end {
    ($($test:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Node::start(super::Backend::Embedded).await).await
                }
            )+
        }
        mod kafka_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Node::start(super::Backend::KafkaPostgres).await).await
                }
            )+
        }
    };
}

mod analyst;
mod people;
mod sso;
end_to_end!(
    examples_flow_through_every_role,
    bad_items_are_rejected_individually,
    processor_dead_letters_what_isolation_refuses,
    whole_request_errors_append_nothing,
    replayed_requests_are_refused,
    rotation_and_revocation_take_effect,
    compressed_bodies_are_accepted,
    atomic_batches_are_all_or_nothing,
    credentials_are_scoped_to_collections,
    audit_records_name_client_and_secret_version,
    metrics_and_readiness_are_served,
    poison_records_become_rejections,
    resends_replace_earlier_versions,
    concurrent_configuration_writes_are_not_lost,
    rules_tag_and_personal_data_is_redacted,
    audit_logs_verify_inside_and_outside_vox,
);

/// The audit logs' store and auditor on their own, on both backends.
mod audit_logs {
    use super::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tampering_is_found_and_named_embedded() {
        super::audit::tampering_is_found_and_named(Backend::Embedded).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tampering_is_found_and_named_kafka_postgres() {
        super::audit::tampering_is_found_and_named(Backend::KafkaPostgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_auditor_resumes_without_gaps_or_doubles_embedded() {
        super::audit::the_auditor_resumes_without_gaps_or_doubles(Backend::Embedded).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_auditor_resumes_without_gaps_or_doubles_kafka_postgres() {
        super::audit::the_auditor_resumes_without_gaps_or_doubles(Backend::KafkaPostgres).await
    }
}

/// README is the contract: every reason code and audit action the code can
/// produce is named there.
#[test]
fn readme_names_every_reason_code_and_audit_action() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README");
    let missing: Vec<&str> = schemas::ReasonCode::ALL
        .iter()
        .map(|c| c.as_str())
        .chain(schemas::AuditAction::ALL.iter().map(|a| a.as_str()))
        .filter(|s| !readme.contains(&format!("`{s}`")))
        .collect();
    assert!(missing.is_empty(), "README does not name {missing:?}");
}

/// README is the contract: every metric the pipeline roles export is named
/// there.
#[test]
fn readme_names_every_metric() {
    let readme = include_str!("../../README.md");
    for name in [
        processor::telemetry::STEPS,
        processor::telemetry::STEP_LATENCY,
        processor::telemetry::ITEMS,
        processor::telemetry::TAGS,
        processor::telemetry::REDACTIONS,
        processor::telemetry::LAG,
        projector::telemetry::STEPS,
        projector::telemetry::STEP_LATENCY,
        projector::telemetry::RECORDS,
        projector::telemetry::LAG,
        auditor::telemetry::RECORDS,
        auditor::telemetry::CHECKPOINTS,
        auditor::telemetry::STEP_LATENCY,
        auditor::telemetry::LAG,
        ingest::telemetry::REQUESTS,
        ingest::telemetry::ITEMS,
        ingest::telemetry::LATENCY,
        ingest::telemetry::APPEND_LATENCY,
        ingest::telemetry::BYTES_IN,
        ingest::telemetry::IN_FLIGHT,
        ingest::telemetry::PRODUCER_QUEUE,
        ingest::telemetry::RATE_LIMITED,
        ingest::telemetry::AUTH_FAILURES,
        ingest::telemetry::AUDIT_DROPPED,
        ingest::telemetry::DEPRECATED_SCHEME,
        ingest::telemetry::CONNECTIONS_REFUSED,
        ingest::telemetry::BODY_MEMORY,
        ingest::telemetry::CONFIG_AGE,
    ] {
        assert!(readme.contains(&format!("`{name}`")), "README names the metric {name}");
    }
}
