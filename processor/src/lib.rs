//! The processor: reads `vox.feedback.raw` as a consumer group, re-checks
//! tenant isolation against the configuration folded from `vox.config`, and
//! writes each item to `vox.feedback.processed` or, with a machine-readable
//! reason, to `vox.feedback.rejected`. Outputs and input offsets are committed
//! in one transactional step, so every input is handled exactly once.

use std::future::Future;
use std::time::Duration;

use eventlog::{Log, LogError, Output, Record};
use schemas::{AppliedTag, FeedbackProcessed, FeedbackReceived, FeedbackRejected, TagSource, Topic};
use tenants::{ConfigFollower, Directory};

#[derive(Debug, Clone)]
pub struct ProcessorSettings {
    /// The region of this node; items of tenants of other regions are rejected.
    pub region: String,
    /// Prefix of every topic name (empty in production).
    pub namespace: String,
    /// Consumer group of the processors.
    pub group: String,
    /// Most records handled in one transactional step.
    pub batch_size: usize,
    /// How long one poll waits for records.
    pub poll_wait: Duration,
}

impl ProcessorSettings {
    pub fn new(region: impl Into<String>, namespace: impl Into<String>) -> ProcessorSettings {
        let namespace = namespace.into();
        ProcessorSettings {
            region: region.into(),
            group: format!("{namespace}vox-processor"),
            namespace,
            batch_size: 500,
            poll_wait: Duration::from_millis(200),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Runs until `shutdown` completes. A step that the log aborts is retried
/// (its records are polled again); any other failure ends the run with an
/// error, and a restart resumes at the last committed step.
pub async fn run(
    log: Log,
    settings: ProcessorSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ProcessorError> {
    let raw = Topic::FeedbackRaw.name(&settings.namespace);
    let config_topic = Topic::Config.name(&settings.namespace);
    let topics: Vec<String> = Topic::ALL.iter().map(|t| t.name(&settings.namespace)).collect();
    log.ensure_topics(&topics).await?;
    let mut config = ConfigFollower::new(&log, &config_topic).await?;
    let mut consumer = log.group_consumer(&settings.group, &[raw]).await?;
    tracing::info!(group = %settings.group, region = %settings.region, "processor started");
    tokio::pin!(shutdown);
    loop {
        let records = tokio::select! {
            _ = &mut shutdown => break,
            polled = consumer.poll(settings.batch_size, settings.poll_wait) => polled?,
        };
        if records.is_empty() {
            continue;
        }
        // Every item was accepted by ingest after its configuration was in
        // the log, so reading the config topic to its end first is enough.
        config.catch_up().await?;
        // Every record gets an output: a record the processor cannot handle
        // becomes a dead letter with its reason, never a stopped role.
        let outputs = records
            .iter()
            .map(|r| process(config.directory(), &settings, r, now_micros()))
            .collect::<Vec<_>>();
        match consumer.commit_step(outputs, &records).await {
            Ok(()) => tracing::debug!(records = records.len(), "step committed"),
            Err(LogError::Aborted(reason)) => tracing::warn!(%reason, "step aborted; retrying its records"),
            Err(e) => return Err(e.into()),
        }
    }
    tracing::info!("processor stopped");
    Ok(())
}

/// Handles one input record: the processed event, or a dead letter with the
/// reason. Never fails: whatever is wrong with one record (undecodable,
/// refused by isolation, characters no store can hold, an event that does
/// not encode) is that record's dead letter. Pure, so that it can be tested
/// through events alone.
pub fn process(directory: &Directory, settings: &ProcessorSettings, record: &Record, now: i64) -> Output {
    let received: FeedbackReceived = match schemas::decode(&record.payload) {
        Ok(r) => r,
        Err(e) => return reject(settings, record, None, "undecodable", e.to_string(), now),
    };
    if let Err(e) = directory.check_accepted(
        &received.tenant_id,
        &received.client_id,
        &received.collection,
        &settings.region,
    ) {
        return reject(settings, record, Some(&received), e.code(), e.to_string(), now);
    }
    if let Some((field, at, c)) = unstorable(&received) {
        let reason = format!(
            "{field} contains {} at character {at}, which no store can hold (ingest refuses it; this record \
             reached the log another way)",
            schemas::text::describe(c)
        );
        return reject(settings, record, Some(&received), "invalid_characters", reason, now);
    }
    let applied_tags = received
        .item
        .tags
        .iter()
        .map(|t| AppliedTag {
            name: t.name.clone(),
            value: t.value.clone(),
            source: TagSource::Client,
            rule_id: None,
            rule_version: None,
        })
        .collect();
    let processed = FeedbackProcessed {
        event_id: received.event_id.clone(),
        tenant_id: received.tenant_id.clone(),
        collection: received.collection.clone(),
        external_id: received.external_id.clone(),
        client_id: received.client_id.clone(),
        batch_id: received.batch_id.clone(),
        received_region: received.region.clone(),
        processed_region: settings.region.clone(),
        received_at: received.received_at,
        processed_at: now,
        item: received.item.clone(),
        applied_tags,
        redactions: Vec::new(),
    };
    match schemas::encode(&processed) {
        Ok(payload) => Output {
            topic: Topic::FeedbackProcessed.name(&settings.namespace),
            key: record.key.clone(),
            payload,
        },
        Err(e) => reject(settings, record, Some(&received), "unencodable", e.to_string(), now),
    }
}

/// The first string of an item (ids included) with a character no store can
/// hold: the field, the character index and the character.
fn unstorable(r: &FeedbackReceived) -> Option<(String, usize, char)> {
    let item = &r.item;
    let mut fields: Vec<(String, &str)> = vec![
        ("tenant_id".into(), &r.tenant_id),
        ("collection".into(), &r.collection),
        ("external_id".into(), &r.external_id),
    ];
    fields.extend(item.text.as_deref().map(|t| ("text".to_owned(), t)));
    fields.extend(item.language.as_deref().map(|t| ("language".to_owned(), t)));
    fields.extend(item.respondent.as_deref().map(|t| ("respondent".to_owned(), t)));
    for (k, v) in &item.metadata {
        fields.push((format!("metadata key {k:?}"), k));
        fields.push((format!("metadata.{k}"), v));
    }
    for (i, t) in item.tags.iter().enumerate() {
        fields.push((format!("tags[{i}].name"), &t.name));
        fields.push((format!("tags[{i}].value"), &t.value));
    }
    fields.into_iter().find_map(|(field, value)| {
        schemas::text::first_unstorable(value).map(|(at, c)| (schemas::text::sanitize(&field), at, c))
    })
}

/// The dead letter of `record`. Its identifying fields are made storable
/// (U+FFFD for what no store can hold) so that the dead letter itself can
/// always be projected.
fn reject(
    settings: &ProcessorSettings,
    record: &Record,
    received: Option<&FeedbackReceived>,
    code: &str,
    reason: String,
    now: i64,
) -> Output {
    let clean = |s: &String| schemas::text::sanitize(s);
    let rejected = FeedbackRejected {
        event_id: received.map(|r| clean(&r.event_id)),
        tenant_id: received.map(|r| clean(&r.tenant_id)),
        collection: received.map(|r| clean(&r.collection)),
        external_id: received.map(|r| clean(&r.external_id)),
        reason_code: code.to_owned(),
        reason: schemas::text::sanitize(&reason),
        processed_region: settings.region.clone(),
        rejected_at: now,
        source_topic: record.topic.clone(),
        source_partition: record.partition,
        source_offset: record.offset,
        input: record.payload.clone(),
    };
    tracing::info!(code, offset = record.offset, "feedback rejected");
    Output {
        topic: Topic::FeedbackRejected.name(&settings.namespace),
        key: record.key.clone(),
        payload: schemas::encode(&rejected).expect("a FeedbackRejected of plain strings and bytes always encodes"),
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}
