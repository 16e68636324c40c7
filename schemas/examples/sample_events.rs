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
    let write = |stem: &str, bytes: Vec<u8>| std::fs::write(format!("{dir}/{stem}.bin"), bytes);
    write("feedback_received", encode(&received)?)?;
    write("tenant_created", encode(&tenant)?)?;
    write("feedback_rejected", encode(&rejected)?)?;
    Ok(())
}
