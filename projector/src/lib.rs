//! The projector: reads `vox.feedback.processed` and `vox.feedback.rejected`
//! and writes the read models. Each step writes its rows and its input
//! offsets in one SQL transaction (compare-and-set on the stored offsets,
//! dedupe on the event id), so a restart or a replay never applies an event
//! twice, and a rebuild from offset zero yields the same rows.

pub mod telemetry;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventlog::{Log, LogError, Positions, Record};
use schemas::{FeedbackProcessed, FeedbackRejected, ReasonCode, Topic};
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
    /// Set once the projector has read its stored offsets and started
    /// reading (what `/readyz` reports).
    pub ready: Arc<AtomicBool>,
}

impl ProjectorSettings {
    pub fn new(namespace: impl Into<String>) -> ProjectorSettings {
        ProjectorSettings {
            namespace: namespace.into(),
            batch_size: 5000,
            poll_wait: Duration::from_millis(200),
            ready: Arc::new(AtomicBool::new(false)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a projector task failed: {0}")]
    Task(String),
}

/// How often the lag metric is measured (a round trip to the brokers on
/// Kafka).
const LAG_INTERVAL: Duration = Duration::from_secs(5);

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
    telemetry::register();
    settings.ready.store(true, Ordering::Release);
    tracing::info!(?positions, "projector started");
    tokio::pin!(shutdown);
    // The step being written while the next one is read and projected (at
    // most one: the next step's offsets start where this one's end).
    let mut writing: Option<Writing> = None;
    let mut lag = eventlog::LagGauge::new(telemetry::LAG, LAG_INTERVAL);
    loop {
        if lag.due() {
            lag.record(reader.lag().await);
        }
        let records = tokio::select! {
            _ = &mut shutdown => break,
            polled = reader.poll(settings.batch_size, settings.poll_wait) => polled?,
        };
        if records.is_empty() {
            if let Some(w) = writing.take() {
                w.finish(&store, &settings.namespace).await?;
            }
            continue;
        }
        let projected = Instant::now();
        let projection = project(&settings.namespace, &positions, &records);
        tracing::debug!(records = records.len(), project = ?projected.elapsed(), "step projected");
        if let Some(w) = writing.take() {
            w.finish(&store, &settings.namespace).await?;
        }
        let start = positions.clone();
        for m in &projection.offsets {
            positions.insert((m.topic.clone(), m.partition), m.to);
        }
        let counts = (projection.feedback.len() as u64, projection.rejections.len() as u64);
        let task = tokio::spawn({
            let store = store.clone();
            async move {
                let started = Instant::now();
                let written = store.apply(PROJECTOR, &projection).await;
                tracing::debug!(write = ?started.elapsed(), "step written");
                written
            }
        });
        writing = Some(Writing {
            task,
            records,
            start,
            counts,
            started: projected,
        });
    }
    if let Some(w) = writing.take() {
        w.finish(&store, &settings.namespace).await?;
    }
    settings.ready.store(false, Ordering::Release);
    tracing::info!("projector stopped");
    Ok(())
}

/// A step whose write is under way.
struct Writing {
    task: tokio::task::JoinHandle<Result<(), StoreError>>,
    records: Vec<Record>,
    /// The positions the step starts from.
    start: Positions,
    /// Rows of processed items and of dead letters in the step.
    counts: (u64, u64),
    /// When its records were read.
    started: Instant,
}

impl Writing {
    /// Waits for the write. One record the store refuses must not stop the
    /// read models of every tenant: the step is then written record by
    /// record, the refused one kept as a dead letter, ending at the same
    /// positions.
    async fn finish(self, store: &Store, namespace: &str) -> Result<(), ProjectorError> {
        let written = self.task.await.map_err(|e| ProjectorError::Task(e.to_string()))?;
        match written {
            Ok(()) => {
                metrics::counter!(telemetry::RECORDS, "kind" => "feedback").increment(self.counts.0);
                metrics::counter!(telemetry::RECORDS, "kind" => "rejection").increment(self.counts.1);
            }
            Err(e) if e.is_refused_data() => {
                tracing::warn!(error = %e, "the store refused a step; writing its records one by one");
                let mut positions = self.start;
                for r in &self.records {
                    apply_one(store, namespace, &mut positions, r).await?;
                }
            }
            Err(e) => return Err(e.into()),
        }
        metrics::counter!(telemetry::STEPS).increment(1);
        metrics::histogram!(telemetry::STEP_LATENCY).record(self.started.elapsed().as_secs_f64());
        Ok(())
    }
}

/// Writes one record's step; if the store refuses its data, writes a dead
/// letter for it instead (`store_refused`, with the database's reason). Fails
/// only when the store fails for a reason that is not the record's.
async fn apply_one(
    store: &Store,
    namespace: &str,
    positions: &mut Positions,
    r: &Record,
) -> Result<(), ProjectorError> {
    let projection = project(namespace, positions, std::slice::from_ref(r));
    let refused = match store.apply(PROJECTOR, &projection).await {
        Ok(()) => None,
        Err(e) if e.is_refused_data() => Some(e),
        Err(e) => return Err(e.into()),
    };
    let projection = match refused {
        None => {
            let kind = if projection.feedback.is_empty() {
                "rejection"
            } else {
                "feedback"
            };
            metrics::counter!(telemetry::RECORDS, "kind" => kind).increment(1);
            projection
        }
        Some(e) => {
            metrics::counter!(telemetry::RECORDS, "kind" => "store_refused").increment(1);
            tracing::error!(topic = %r.topic, offset = r.offset, error = %e, "the store refused a record; kept as a rejection");
            let mut dead = projection;
            let (tenant_id, collection, external_id, event_id) = match dead.feedback.pop() {
                Some(f) => (
                    Some(f.tenant_id),
                    Some(f.collection),
                    Some(f.external_id),
                    Some(f.event_id),
                ),
                None => dead
                    .rejections
                    .pop()
                    .map(|d| (d.tenant_id, d.collection, d.external_id, d.event_id))
                    .unwrap_or_default(),
            };
            dead.feedback.clear();
            dead.rejections = vec![RejectionRow {
                source_topic: r.topic.clone(),
                source_partition: r.partition,
                source_offset: r.offset,
                tenant_id,
                collection,
                external_id,
                event_id,
                reason_code: ReasonCode::StoreRefused.as_str().to_owned(),
                reason: schemas::text::sanitize(&e.to_string()),
                processed_region: String::new(),
                rejected_at: 0,
            }];
            store.apply(PROJECTOR, &dead).await?;
            dead
        }
    };
    for m in projection.offsets {
        positions.insert((m.topic, m.partition), m.to);
    }
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
                Ok(p) => {
                    let row = feedback_row(p);
                    match unstorable(&row) {
                        None => projection.feedback.push(row),
                        Some(reason) => projection.rejections.push(RejectionRow {
                            source_topic: r.topic.clone(),
                            source_partition: r.partition,
                            source_offset: r.offset,
                            tenant_id: Some(sanitize(&row.tenant_id)),
                            collection: Some(sanitize(&row.collection)),
                            external_id: Some(sanitize(&row.external_id)),
                            event_id: Some(sanitize(&row.event_id)),
                            reason_code: ReasonCode::InvalidCharacters.as_str().to_owned(),
                            reason,
                            processed_region: sanitize(&row.processed_region),
                            rejected_at: row.processed_at,
                        }),
                    }
                }
                Err(e) => projection.rejections.push(undecodable(r, e)),
            }
        } else {
            match schemas::decode::<FeedbackRejected>(&r.payload) {
                Ok(d) => {
                    let clean = |s: Option<String>| s.map(|s| sanitize(&s));
                    projection.rejections.push(RejectionRow {
                        source_topic: sanitize(&d.source_topic),
                        source_partition: d.source_partition,
                        source_offset: d.source_offset,
                        tenant_id: clean(d.tenant_id),
                        collection: clean(d.collection),
                        external_id: clean(d.external_id),
                        event_id: clean(d.event_id),
                        reason_code: sanitize(&d.reason_code),
                        reason: sanitize(&d.reason),
                        processed_region: sanitize(&d.processed_region),
                        rejected_at: d.rejected_at,
                    })
                }
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

use schemas::text::sanitize;

/// Why a feedback row cannot be stored anywhere (a character no store can
/// hold, e.g. U+0000, which PostgreSQL refuses), or None.
fn unstorable(row: &FeedbackRow) -> Option<String> {
    let strings = [
        ("tenant_id", Some(row.tenant_id.as_str())),
        ("collection", Some(&row.collection)),
        ("external_id", Some(&row.external_id)),
        ("event_id", Some(&row.event_id)),
        ("client_id", Some(&row.client_id)),
        ("batch_id", Some(&row.batch_id)),
        ("text", row.text.as_deref()),
        ("language", row.language.as_deref()),
        ("respondent", row.respondent.as_deref()),
        ("received_region", Some(&row.received_region)),
        ("processed_region", Some(&row.processed_region)),
    ];
    let mut json = Vec::new();
    json_strings("metadata", &row.metadata, &mut json);
    json_strings("tags", &row.tags, &mut json);
    strings
        .into_iter()
        .filter_map(|(field, value)| value.map(|v| (field, v)))
        .chain(json.iter().map(|(field, v)| (*field, v.as_str())))
        .find_map(|(field, value)| {
            schemas::text::first_unstorable(value).map(|(at, c)| {
                format!(
                    "{field} contains {} at character {at}, which no store can hold",
                    schemas::text::describe(c)
                )
            })
        })
}

/// Every string (object keys included) inside a JSON value.
fn json_strings<'a>(field: &'static str, value: &'a serde_json::Value, out: &mut Vec<(&'static str, &'a String)>) {
    match value {
        serde_json::Value::String(s) => out.push((field, s)),
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_strings(field, v, out)),
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                out.push((field, k));
                json_strings(field, v, out);
            }
        }
        _ => {}
    }
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
        reason_code: ReasonCode::Undecodable.as_str().to_owned(),
        reason: e.to_string(),
        processed_region: String::new(),
        rejected_at: 0,
    }
}

/// A whole number as a JSON integer (`9`, not `9.0`), anything else as a
/// float.
fn number(v: f64) -> serde_json::Value {
    if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
        serde_json::Value::from(v as i64)
    } else {
        serde_json::Value::from(v)
    }
}

fn feedback_row(p: FeedbackProcessed) -> FeedbackRow {
    let metrics = p
        .item
        .metrics
        .iter()
        .map(|m| serde_json::json!({"kind": m.kind.as_str(), "value": number(m.value), "scale": [number(m.scale_min), number(m.scale_max)]}))
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

#[cfg(test)]
mod tests {
    //! `project` through events alone: records in, rows, rejections and
    //! offset moves out.
    use super::*;
    use schemas::{Channel, FeedbackItem, Metric, MetricKind};

    fn processed(external_id: &str, text: &str) -> FeedbackProcessed {
        FeedbackProcessed {
            event_id: schemas::feedback_event_id("acme", "nps", external_id),
            tenant_id: "acme".into(),
            collection: "nps".into(),
            external_id: external_id.into(),
            client_id: "c".into(),
            batch_id: "b".into(),
            received_region: "eu".into(),
            processed_region: "eu".into(),
            received_at: 1,
            processed_at: 2,
            item: FeedbackItem {
                occurred_at: 3,
                channel: Channel::Survey,
                text: Some(text.into()),
                language: None,
                metrics: vec![Metric {
                    kind: MetricKind::Nps,
                    value: 9.0,
                    scale_min: 0.0,
                    scale_max: 10.0,
                }],
                respondent: None,
                metadata: Default::default(),
                tags: vec![],
            },
            rule_set_version: Some(0),
            applied_tags: vec![],
            redactions: vec![],
        }
    }

    fn record(topic: &str, offset: i64, payload: Vec<u8>) -> Record {
        Record {
            topic: topic.into(),
            partition: 0,
            offset,
            key: vec![],
            payload,
        }
    }

    #[test]
    fn records_become_rows_rejections_and_offset_moves() {
        let processed_topic = "vox.feedback.processed";
        let rejected_topic = "vox.feedback.rejected";
        let dead = FeedbackRejected {
            event_id: None,
            tenant_id: Some("acme".into()),
            collection: None,
            external_id: Some("bad\u{0}id".into()),
            reason_code: "unknown_collection".into(),
            reason: "no such collection".into(),
            processed_region: "eu".into(),
            rejected_at: 5,
            source_topic: "vox.feedback.raw".into(),
            source_partition: 2,
            source_offset: 7,
            input: vec![],
        };
        let records = vec![
            record(
                processed_topic,
                10,
                schemas::encode(&processed("ok-1", "fine")).expect("encode"),
            ),
            record(processed_topic, 11, b"not avro".to_vec()),
            record(
                processed_topic,
                12,
                schemas::encode(&processed("nul", "a\u{0}b")).expect("encode"),
            ),
            record(rejected_topic, 4, schemas::encode(&dead).expect("encode")),
        ];
        let positions: Positions = [((processed_topic.to_owned(), 0), 10)].into_iter().collect();
        let p = project("", &positions, &records);

        assert_eq!(p.feedback.len(), 1);
        let row = &p.feedback[0];
        assert_eq!((row.external_id.as_str(), row.text.as_deref()), ("ok-1", Some("fine")));
        assert_eq!(
            row.metrics,
            serde_json::json!([{"kind": "nps", "value": 9, "scale": [0, 10]}]),
            "whole numbers stay integers"
        );
        let codes: Vec<(&str, &str)> = p
            .rejections
            .iter()
            .map(|r| (r.source_topic.as_str(), r.reason_code.as_str()))
            .collect();
        assert_eq!(
            codes,
            [
                (processed_topic, "undecodable"),
                (processed_topic, "invalid_characters"),
                ("vox.feedback.raw", "unknown_collection"),
            ]
        );
        assert_eq!(
            p.rejections[2].external_id.as_deref(),
            Some("bad\u{fffd}id"),
            "a dead letter is made storable"
        );
        let mut moves: Vec<(String, i64, i64)> = p.offsets.iter().map(|m| (m.topic.clone(), m.from, m.to)).collect();
        moves.sort();
        assert_eq!(
            moves,
            [(processed_topic.to_owned(), 10, 13), (rejected_topic.to_owned(), 0, 5)],
            "from the stored positions to after the last record, per partition"
        );
    }

    #[test]
    fn each_record_becomes_a_row_or_a_rejection() {
        let processed_topic = "vox.feedback.processed";
        let mut odd_metadata = processed("meta", "fine");
        odd_metadata.item.metadata.insert("key".into(), "v\u{1b}".into());
        /// (case, topic, payload, the row's external id or the rejection's code)
        type Case<'a> = (&'a str, &'a str, Vec<u8>, Result<&'a str, &'a str>);
        let cases: Vec<Case> = vec![
            (
                "a processed item",
                processed_topic,
                schemas::encode(&processed("a", "fine")).expect("encode"),
                Ok("a"),
            ),
            ("not Avro", processed_topic, b"\x00garbage".to_vec(), Err("undecodable")),
            (
                "NUL in the text",
                processed_topic,
                schemas::encode(&processed("n", "a\u{0}")).expect("encode"),
                Err("invalid_characters"),
            ),
            (
                "an escape in metadata",
                processed_topic,
                schemas::encode(&odd_metadata).expect("encode"),
                Err("invalid_characters"),
            ),
            (
                "not a dead letter",
                "vox.feedback.rejected",
                b"junk".to_vec(),
                Err("undecodable"),
            ),
        ];
        for (name, topic, payload, want) in cases {
            let p = project("", &Positions::new(), &[record(topic, 0, payload)]);
            let got = match (p.feedback.as_slice(), p.rejections.as_slice()) {
                ([row], []) => Ok(row.external_id.as_str()),
                ([], [dead]) => Err(dead.reason_code.as_str()),
                other => panic!("{name}: one output expected, got {other:?}"),
            };
            assert_eq!(got, want, "{name}");
            assert_eq!(p.offsets.len(), 1, "{name}: the offset moves past the record");
        }
    }
}
