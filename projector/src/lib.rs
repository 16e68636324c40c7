//! The projector: reads `vox.feedback.processed` and `vox.feedback.rejected`
//! and writes the read models. Each step writes its rows and its input
//! offsets in one SQL transaction (compare-and-set on the stored offsets,
//! dedupe on the event id), so a restart or a replay never applies an event
//! twice, and a rebuild from offset zero yields the same rows.

use std::future::Future;
use std::time::Duration;

use eventlog::{Log, LogError, Positions, Record};
use schemas::{FeedbackProcessed, FeedbackRejected, Topic};
use store::{FeedbackRow, OffsetMove, Projection, RejectionRow, Store, StoreError};

/// The name under which this projector stores its offsets.
pub const PROJECTOR: &str = "feedback";

#[derive(Debug, Clone)]
pub struct ProjectorSettings {
    /// Prefix of every topic name (empty in production).
    pub namespace: String,
    /// Most records written in one transaction.
    pub batch_size: usize,
    /// How long one poll waits for records.
    pub poll_wait: Duration,
}

impl ProjectorSettings {
    pub fn new(namespace: impl Into<String>) -> ProjectorSettings {
        ProjectorSettings {
            namespace: namespace.into(),
            batch_size: 1000,
            poll_wait: Duration::from_millis(200),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs until `shutdown` completes, resuming from the offsets in the store.
pub async fn run(
    log: Log,
    store: Store,
    settings: ProjectorSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ProjectorError> {
    let topics = [
        Topic::FeedbackProcessed.name(&settings.namespace),
        Topic::FeedbackRejected.name(&settings.namespace),
    ];
    log.ensure_topics(&topics).await?;
    let mut positions: Positions = store
        .positions(PROJECTOR)
        .await?
        .into_iter()
        .map(|(t, p, o)| ((t, p), o))
        .collect();
    let mut reader = log.reader(&topics, &positions).await?;
    tracing::info!(?positions, "projector started");
    tokio::pin!(shutdown);
    loop {
        let records = tokio::select! {
            _ = &mut shutdown => break,
            polled = reader.poll(settings.batch_size, settings.poll_wait) => polled?,
        };
        if records.is_empty() {
            continue;
        }
        let projection = project(&settings.namespace, &positions, &records);
        store.apply(PROJECTOR, &projection).await?;
        for m in projection.offsets {
            positions.insert((m.topic, m.partition), m.to);
        }
    }
    tracing::info!("projector stopped");
    Ok(())
}

/// Turns a batch of records into rows and offset moves. Pure.
pub fn project(namespace: &str, positions: &Positions, records: &[Record]) -> Projection {
    let processed_topic = Topic::FeedbackProcessed.name(namespace);
    let mut projection = Projection::default();
    let mut moves: Positions = Positions::new();
    for r in records {
        let key = (r.topic.clone(), r.partition);
        let next = moves.entry(key).or_insert(r.offset + 1);
        *next = (*next).max(r.offset + 1);
        if r.topic == processed_topic {
            match schemas::decode::<FeedbackProcessed>(&r.payload) {
                Ok(p) => projection.feedback.push(feedback_row(p)),
                Err(e) => projection.rejections.push(undecodable(r, e)),
            }
        } else {
            match schemas::decode::<FeedbackRejected>(&r.payload) {
                Ok(d) => projection.rejections.push(RejectionRow {
                    source_topic: d.source_topic,
                    source_partition: d.source_partition,
                    source_offset: d.source_offset,
                    tenant_id: d.tenant_id,
                    collection: d.collection,
                    external_id: d.external_id,
                    event_id: d.event_id,
                    reason_code: d.reason_code,
                    reason: d.reason,
                    processed_region: d.processed_region,
                    rejected_at: d.rejected_at,
                }),
                Err(e) => projection.rejections.push(undecodable(r, e)),
            }
        }
    }
    projection.offsets = moves
        .into_iter()
        .map(|((topic, partition), to)| {
            let from = positions.get(&(topic.clone(), partition)).copied().unwrap_or(0);
            OffsetMove {
                topic,
                partition,
                from,
                to,
            }
        })
        .collect();
    projection
}

/// A record the projector cannot read is kept as a dead letter, not dropped.
fn undecodable(r: &Record, e: schemas::CodecError) -> RejectionRow {
    tracing::error!(topic = %r.topic, offset = r.offset, error = %e, "undecodable record; kept as a rejection");
    RejectionRow {
        source_topic: r.topic.clone(),
        source_partition: r.partition,
        source_offset: r.offset,
        tenant_id: None,
        collection: None,
        external_id: None,
        event_id: None,
        reason_code: "undecodable".to_owned(),
        reason: e.to_string(),
        processed_region: String::new(),
        rejected_at: 0,
    }
}

fn feedback_row(p: FeedbackProcessed) -> FeedbackRow {
    let metrics = p
        .item
        .metrics
        .iter()
        .map(|m| serde_json::json!({"kind": m.kind.as_str(), "value": m.value, "scale": [m.scale_min, m.scale_max]}))
        .collect();
    let tags = p
        .applied_tags
        .iter()
        .map(|t| {
            serde_json::json!({
                "name": t.name, "value": t.value,
                "source": match t.source { schemas::TagSource::Client => "client", schemas::TagSource::Rule => "rule" },
                "rule_id": t.rule_id, "rule_version": t.rule_version,
            })
        })
        .collect();
    FeedbackRow {
        tenant_id: p.tenant_id,
        collection: p.collection,
        external_id: p.external_id,
        event_id: p.event_id,
        client_id: p.client_id,
        batch_id: p.batch_id,
        channel: p.item.channel.as_str().to_owned(),
        occurred_at: p.item.occurred_at,
        text: p.item.text,
        language: p.item.language,
        metrics: serde_json::Value::Array(metrics),
        respondent: p.item.respondent,
        metadata: serde_json::to_value(&p.item.metadata).unwrap_or_default(),
        tags: serde_json::Value::Array(tags),
        received_region: p.received_region,
        processed_region: p.processed_region,
        received_at: p.received_at,
        processed_at: p.processed_at,
    }
}
