//! Tenant rule sets and redaction, end to end: a published rule set tags
//! items, personal data never reaches `vox.feedback.processed` or the read
//! models, and each processed event names the version it was processed with.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use schemas::{FeedbackProcessed, TagSource, Topic};
use serde_json::json;
use vox::admin;

use crate::helpers::{self, Node};
use crate::{setup_tenant, Tenant, EXAMPLES};

const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/rules.toml");

/// Personal data in `examples/feedback.ndjson`, each of which a detector
/// must remove.
const PERSONAL: [&str; 12] = [
    "jane.doe@example.com",
    "+44 20 7946 0958",
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "0151 23456789",
    "040 123 4567",
    "131052-308T",
    "811218-9876",
    "070-123 45 67",
    "192.168.1.23",
    "matti.meikalainen@example.fi",
    "Jane.Doe@Example.com",
];

/// The processed events on the log, by external id.
async fn processed(node: &Node) -> BTreeMap<String, FeedbackProcessed> {
    node.log
        .read_all(&node.topic(Topic::FeedbackProcessed))
        .await
        .expect("read processed")
        .into_iter()
        .map(|r| {
            let p: FeedbackProcessed = schemas::decode(&r.payload).expect("a processed event");
            (p.external_id.clone(), p)
        })
        .collect()
}

/// Pushes probe items until one is processed with rule set `version` (the
/// processors pick up a published rule set within their refresh interval).
async fn wait_rules_live(node: &Node, tenant: &Tenant, version: i32) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    for probe in 0.. {
        assert!(Instant::now() < deadline, "rule set version {version} never went live");
        let id = format!("probe-{version}-{probe}");
        let item = json!({"external_id": id, "collection": "nps-2026", "occurred_at": "2026-11-01T10:00:00Z",
            "channel": "survey", "text": "probe"});
        let summary = vox::push::push(
            &node.options(&tenant.client_id, &tenant.secret),
            &[item],
            &mut Vec::new(),
        )
        .await
        .expect("push probe");
        assert_eq!(summary.accepted, 1);
        loop {
            if let Some(p) = processed(node).await.get(&id) {
                if p.rule_set_version == Some(version) {
                    return probe + 1;
                }
                break;
            }
            assert!(Instant::now() < deadline, "probe {id} was never processed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    unreachable!("the loop returns or fails")
}

/// A published rule set tags the examples in four languages and redaction
/// removes every piece of personal data before the processed topic.
pub async fn rules_tag_and_personal_data_is_redacted(node: Node) {
    let acme = setup_tenant(&node, "acme", "eu", &["nps-2026", "support"]).await;
    let document = std::fs::read_to_string(RULES).expect("examples/rules.toml");
    let tenant = helpers::tenant("acme");
    let published = admin::publish_rules(&node.log, &node.namespace, &tenant, &document, Some("test"))
        .await
        .expect("publish");
    assert_eq!(published, admin::Published::New(1));
    let again = admin::publish_rules(&node.log, &node.namespace, &tenant, &document, None)
        .await
        .expect("publish again");
    assert_eq!(
        again,
        admin::Published::Unchanged(1),
        "a byte-identical publish is a no-op"
    );
    let refused = admin::publish_rules(&node.log, &node.namespace, &helpers::tenant("globex"), &document, None).await;
    assert!(
        matches!(
            refused,
            Err(admin::AdminError::Invalid(directory::ConfigError::UnknownTenant(_)))
        ),
        "{refused:?}"
    );
    let probes = wait_rules_live(&node, &acme, 1).await;

    let mut items = vox::push::read_items(std::path::Path::new(EXAMPLES)).expect("examples");
    // The same address in other letter cases is found too.
    items[0]["metadata"]["contact"] = json!("Jane.Doe@Example.com");
    let summary = vox::push::push(&node.options(&acme.client_id, &acme.secret), &items, &mut Vec::new())
        .await
        .expect("push");
    assert_eq!((summary.accepted, summary.rejected), (40, 0));
    node.wait_projected(40 + probes).await;

    // Nothing after the raw topic holds the personal data.
    for topic in [Topic::FeedbackProcessed, Topic::FeedbackRejected] {
        for r in node.log.read_all(&node.topic(topic)).await.expect("read") {
            let text = String::from_utf8_lossy(&r.payload);
            for secret in PERSONAL {
                assert!(!text.contains(secret), "{secret} reached {topic:?}");
            }
        }
    }
    let rows = node.rows("acme").await;
    let rows_json = serde_json::to_string(&rows).expect("json");
    for secret in PERSONAL {
        assert!(!rows_json.contains(secret), "{secret} reached the read model");
    }
    // The raw topic still has it (bounded retention; see ARCHITECTURE.md).
    let raw = node.log.read_all(&node.topic(Topic::FeedbackRaw)).await.expect("raw");
    assert!(raw
        .iter()
        .any(|r| String::from_utf8_lossy(&r.payload).contains("jane.doe@example.com")));

    let events = processed(&node).await;
    let billed = &events["nps-2026-0008"];
    assert_eq!(billed.rule_set_version, Some(1));
    assert_eq!(
        billed
            .item
            .text
            .as_deref()
            .map(|t| t.ends_with("reach me at [email] or [phone], and the double charge was on card [card].")),
        Some(true),
        "{:?}",
        billed.item.text
    );
    let redactions: Vec<(&str, &str, i32, &str)> = billed
        .redactions
        .iter()
        .map(|r| (r.field.as_str(), r.kind.as_str(), r.count, r.rule_id.as_str()))
        .collect();
    assert_eq!(
        redactions,
        [
            ("text", "email", 1, "builtin.redact.email"),
            ("text", "phone", 1, "builtin.redact.phone"),
            ("text", "card", 1, "builtin.redact.card"),
        ]
    );
    assert!(billed.redactions.iter().all(|r| r.rule_version == 1));
    let tags: Vec<(&str, &str, TagSource, Option<&str>)> = billed
        .applied_tags
        .iter()
        .map(|t| (t.name.as_str(), t.value.as_str(), t.source, t.rule_id.as_deref()))
        .collect();
    assert_eq!(
        tags,
        [
            ("topic", "billing", TagSource::Client, None),
            ("nps", "detractor", TagSource::Rule, Some("builtin.nps_category")),
            (
                "escalate",
                "billing",
                TagSource::Rule,
                Some("escalate-billing-detractors")
            ),
        ]
    );
    let first = &events["nps-2026-0001"];
    assert_eq!(
        first.item.metadata["contact"], "[email]",
        "metadata values are redacted"
    );
    // Phrases match in Finnish, Swedish and German (prefixes of compounds included).
    for (id, tag) in [
        ("nps-2026-0002", ("topic", "billing")),    // fi "laskun" (lasku*)
        ("nps-2026-0003", ("topic", "billing")),    // sv "fakturan" (faktur*)
        ("nps-2026-0004", ("topic", "billing")),    // de "Preise" (preis*)
        ("nps-2026-0023", ("topic", "mobile_app")), // fi "Mobiilisovellus"
        ("nps-2026-0021", ("topic", "billing")),    // de "Rechnung"
        ("sup-10251", ("queue", "nordics")),
    ] {
        assert!(
            events[id]
                .applied_tags
                .iter()
                .any(|t| (t.name.as_str(), t.value.as_str()) == tag && t.source == TagSource::Rule),
            "{id}: {tag:?} in {:?}",
            events[id].applied_tags
        );
    }
    let row = rows.iter().find(|r| r.external_id == "sup-10248").expect("row");
    assert_eq!(row.metadata["contact_email"], "[email]");
    assert!(row
        .text
        .as_deref()
        .is_some_and(|t| t.contains("numeroon [phone], henkilötunnukseni on [hetu]. Tilausnumero 2024-118832.")));
    node.finish().await;
}
