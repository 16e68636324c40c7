//! Writes one encoded sample of every event to a directory, as
//! `<stem>.bin`, for the cross-library check in `schemas/interop/`.
//!
//! `cargo run -p schemas --example sample_events -- DIR`

use std::collections::BTreeMap;

use schemas::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: sample_events DIR")?;
    std::fs::create_dir_all(&dir)?;
    let item = FeedbackItem {
        occurred_at: 1_793_697_262_000_000,
        channel: Channel::Survey,
        text: Some("Palvelu oli erinomaista – kiitos! Größe: 5 €".into()),
        language: Some("fi".into()),
        metrics: vec![Metric {
            kind: MetricKind::Nps,
            value: 9.0,
            scale_min: 0.0,
            scale_max: 10.0,
        }],
        respondent: Some("r-7f3a91".into()),
        metadata: BTreeMap::from([("country".into(), "FI".into())]),
        tags: vec![SourceTag {
            name: "topic".into(),
            value: "service".into(),
        }],
    };
    let received = FeedbackReceived {
        event_id: feedback_event_id("acme", "nps-2026", "nps-1"),
        tenant_id: "acme".into(),
        collection: "nps-2026".into(),
        external_id: "nps-1".into(),
        client_id: "vox_ci_0011223344556677".into(),
        region: "eu".into(),
        batch_id: "0b7f6a52-8d5e-4a43-9d0e-2f7c4f0e1a11".into(),
        received_at: 1_793_697_263_000_000,
        item,
    };
    let tenant = TenantCreated {
        tenant_id: "acme".into(),
        name: "Acme Oy".into(),
        region: "eu".into(),
        created_at: 1,
    };
    let rejected = FeedbackRejected {
        event_id: None,
        tenant_id: Some("acme".into()),
        collection: None,
        external_id: None,
        reason_code: "undecodable".into(),
        reason: "not Avro".into(),
        processed_region: "eu".into(),
        rejected_at: 5,
        source_topic: "vox.feedback.raw".into(),
        source_partition: 2,
        source_offset: 99,
        input: vec![0, 159, 255, 1],
    };
    let processed = FeedbackProcessed {
        event_id: received.event_id.clone(),
        tenant_id: "acme".into(),
        collection: "nps-2026".into(),
        external_id: "nps-1".into(),
        client_id: received.client_id.clone(),
        batch_id: received.batch_id.clone(),
        received_region: "eu".into(),
        processed_region: "eu".into(),
        received_at: received.received_at,
        processed_at: received.received_at + 1,
        item: received.item.clone(),
        applied_tags: vec![AppliedTag {
            name: "topic".into(),
            value: "service".into(),
            source: TagSource::Client,
            rule_id: None,
            rule_version: None,
        }],
        redactions: vec![Redaction {
            field: "text".into(),
            rule_id: "pii-email".into(),
            rule_version: 1,
        }],
    };
    let collection = CollectionCreated {
        tenant_id: "acme".into(),
        collection: "nps-2026".into(),
        name: "NPS 2026".into(),
        created_at: 2,
    };
    let issued = ClientCredentialIssued {
        tenant_id: "acme".into(),
        client_id: "vox_ci_0011223344556677".into(),
        name: "crm".into(),
        collections: vec!["nps-2026".into()],
        secret_version: 1,
        secret_sha256: vec![7; 32],
        issued_at: 3,
        sealed_secret: Some(vec![1, 2, 3]),
        kek_id: Some("kek-1".into()),
    };
    let rotated = ClientSecretRotated {
        tenant_id: "acme".into(),
        client_id: "vox_ci_0011223344556677".into(),
        secret_version: 2,
        secret_sha256: vec![8; 32],
        rotated_at: 4,
        sealed_secret: Some(vec![4, 5, 6]),
        kek_id: Some("kek-1".into()),
        previous_valid_until: Some(86_400_000_000),
    };
    let revoked = ClientCredentialRevoked {
        tenant_id: "acme".into(),
        client_id: "vox_ci_0011223344556677".into(),
        secret_version: Some(1),
        revoked_at: 5,
    };
    let audit = AuditRecord {
        audit_id: "9b2f0c1e-1111-4a2b-8c3d-000000000001".into(),
        tenant_id: Some("acme".into()),
        occurred_at: 6,
        actor_kind: ActorKind::Client,
        actor_id: "vox_ci_0011223344556677".into(),
        action: "feedback.batch".into(),
        resource: None,
        outcome: Outcome::Success,
        source_address: Some("127.0.0.1".into()),
        region: "eu".into(),
        details: BTreeMap::from([("accepted".into(), "1".into())]),
    };
    let write = |stem: &str, bytes: Vec<u8>| std::fs::write(format!("{dir}/{stem}.bin"), bytes);
    write("feedback_received", encode(&received)?)?;
    write("feedback_processed", encode(&processed)?)?;
    write("feedback_rejected", encode(&rejected)?)?;
    write("tenant_created", encode(&tenant)?)?;
    write("collection_created", encode(&collection)?)?;
    write("client_credential_issued", encode(&issued)?)?;
    write("client_secret_rotated", encode(&rotated)?)?;
    write("client_credential_revoked", encode(&revoked)?)?;
    write("audit_record", encode(&audit)?)?;
    Ok(())
}
