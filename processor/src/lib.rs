//! The processor: reads `vox.feedback.raw` as a consumer group, re-checks
//! tenant isolation against the configuration folded from `vox.config`, and
//! writes each item to `vox.feedback.processed` or, with a machine-readable
//! reason, to `vox.feedback.rejected`. Outputs and input offsets are committed
//! in one transactional step, so every input is handled exactly once.

pub mod telemetry;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use directory::{ConfigFollower, Directory, SharedDirectory};
use eventlog::{GroupConsumer, Log, LogError, Output, PendingStep, Record};
use schemas::{
    AppliedTag, ClientId, CollectionId, FeedbackProcessed, FeedbackReceived, FeedbackRejected, ReasonCode, Redaction,
    Region, TagSource, TenantId, Topic,
};

#[derive(Debug, Clone)]
pub struct ProcessorSettings {
    /// The region of this node; items of tenants of other regions are rejected.
    pub region: Region,
    /// Prefix of every topic name (empty in production).
    pub namespace: String,
    /// Consumer group of the processors.
    pub group: String,
    /// Most records handled in one transactional step (a step also ends at
    /// 16 MiB of input, and takes only what has arrived once its first
    /// record is there, so under light load steps are small and fast).
    pub batch_size: usize,
    /// How long one poll waits for records.
    pub poll_wait: Duration,
    /// How often the copy of the tenant configuration is refreshed in the
    /// background (a record it refuses triggers a refresh of its own).
    pub config_refresh: Duration,
    /// Set once the configuration has been read to its end and the
    /// consumer has joined its group (what `/readyz` reports).
    pub ready: Arc<AtomicBool>,
}

impl ProcessorSettings {
    pub fn new(region: Region, namespace: impl Into<String>) -> ProcessorSettings {
        let namespace = namespace.into();
        ProcessorSettings {
            region,
            group: format!("{namespace}vox-processor"),
            namespace,
            batch_size: 5000,
            poll_wait: Duration::from_millis(200),
            config_refresh: Duration::from_secs(1),
            ready: Arc::new(AtomicBool::new(false)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("a processing task failed: {0}")]
    Task(String),
}

/// The largest processed event written (Kafka's default `max.message.bytes`
/// is 1 MiB; a record over it would fail its step again and again).
pub const MAX_OUTPUT_BYTES: usize = 1_000_000;

/// How often the consumer lag metric is measured (a round trip to the
/// brokers on Kafka).
const LAG_INTERVAL: Duration = Duration::from_secs(5);

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
    let config = Arc::new(SharedDirectory::new(ConfigFollower::new(&log, &config_topic).await?));
    // Keeps the copy fresh in the background, off the steps' path.
    let refresher = tokio::spawn({
        let config = config.clone();
        let every = settings.config_refresh;
        async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = config.refresh().await {
                    tracing::warn!(error = %e, "refreshing the tenant configuration failed");
                }
            }
        }
    });
    let mut consumer = log.group_consumer(&settings.group, &[raw]).await?;
    telemetry::register();
    settings.ready.store(true, Ordering::Release);
    tracing::info!(group = %settings.group, region = %settings.region, "processor started");
    tokio::pin!(shutdown);
    // The step committing while the next one is polled and handled (at most
    // one: a transaction begins only after the one before has committed).
    let mut committing: Option<Committing> = None;
    let mut lag = eventlog::LagGauge::new(telemetry::LAG, LAG_INTERVAL);
    let result = loop {
        if lag.due() {
            lag.record(consumer.lag().await);
        }
        let records = tokio::select! {
            _ = &mut shutdown => break Ok(()),
            polled = consumer.poll(settings.batch_size, settings.poll_wait) => match polled {
                Ok(r) => r,
                Err(e) => break Err(e.into()),
            },
        };
        if records.is_empty() {
            if let Some(step) = committing.take() {
                if let Err(e) = settled(&mut consumer, step).await {
                    break Err(e);
                }
            }
            continue;
        }
        let started = Instant::now();
        let (outputs, records) = match handle(&config, &settings, records).await {
            Ok(o) => o,
            Err(e) => break Err(e),
        };
        tracing::debug!(records = records.len(), process = ?started.elapsed(), "step handled");
        if let Some(step) = committing.take() {
            match settled(&mut consumer, step).await {
                Ok(true) => {}
                // The step before was aborted and the consumer rewound: these
                // records come again.
                Ok(false) => continue,
                Err(e) => break Err(e),
            }
        }
        committing = Some(Committing {
            step: consumer.start_step(outputs, &records).await,
            records: records.len(),
            started,
        });
    };
    if let Some(step) = committing.take() {
        let _ = settled(&mut consumer, step).await;
    }
    refresher.abort();
    settings.ready.store(false, Ordering::Release);
    tracing::info!("processor stopped");
    result
}

/// A step whose commit is under way.
struct Committing {
    step: PendingStep,
    records: usize,
    /// When its records were polled.
    started: Instant,
}

/// Waits for a step started with `start_step`: Ok(true) once committed,
/// Ok(false) when the log aborted it (the consumer is then rewound, and
/// whatever was polled meanwhile comes again).
async fn settled(consumer: &mut GroupConsumer, committing: Committing) -> Result<bool, ProcessorError> {
    let Committing { step, records, started } = committing;
    let waited = Instant::now();
    match step.finish().await {
        Ok(()) => {
            tracing::debug!(records, wait = ?waited.elapsed(), "step committed");
            metrics::counter!(telemetry::STEPS, "outcome" => "committed").increment(1);
            metrics::histogram!(telemetry::STEP_LATENCY).record(started.elapsed().as_secs_f64());
            Ok(true)
        }
        Err(LogError::Aborted(reason)) => {
            metrics::counter!(telemetry::STEPS, "outcome" => "aborted").increment(1);
            tracing::warn!(%reason, "step aborted; retrying its records");
            consumer.rewind().await?;
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// What handling one record gave: its output, the reason code when it is a
/// dead letter, and what the rules did (for the metrics).
struct Handled {
    output: Output,
    reason: Option<ReasonCode>,
    client_tags: u64,
    rule_tags: u64,
    /// (detector kind, spans replaced).
    redactions: Vec<(String, u64)>,
}

impl Handled {
    fn rejected(output: Output, code: ReasonCode) -> Handled {
        Handled {
            output,
            reason: Some(code),
            client_tags: 0,
            rule_tags: 0,
            redactions: Vec::new(),
        }
    }
}

/// The outputs of one step. Every record gets one: a record the processor
/// cannot handle becomes a dead letter with its reason, never a stopped role.
///
/// Every item was accepted by ingest after its configuration was in the log,
/// so a copy of the configuration read to its end after the records were
/// polled knows everything they need. The copy at hand usually does: only
/// when it refuses a record for a reason that newer configuration could
/// change (an unknown tenant, collection or client) is the log read to its
/// end and that record handled again.
async fn handle(
    config: &Arc<SharedDirectory>,
    settings: &ProcessorSettings,
    records: Vec<Record>,
) -> Result<(Vec<Output>, Vec<Record>), ProcessorError> {
    let now = schemas::clock::now_micros();
    let (mut outputs, records) = {
        let (config, settings) = (config.clone(), settings.clone());
        tokio::task::spawn_blocking(move || {
            let outputs = config.read(|d| handle_all(d, &settings, &records, now));
            (outputs, records)
        })
        .await
        .map_err(|e| ProcessorError::Task(e.to_string()))?
    };
    if outputs.iter().any(|h| h.reason.is_some_and(config_dependent)) {
        config.refresh().await?;
        config.read(|d| {
            for (o, r) in outputs.iter_mut().zip(&records) {
                if o.reason.is_some_and(config_dependent) {
                    *o = handle_record(d, settings, r, now);
                }
            }
        });
    }
    telemetry::count(&outputs);
    Ok((outputs.into_iter().map(|h| h.output).collect(), records))
}

/// [`handle_record`] for every record, on all cores (decoding and encoding
/// Avro is most of a step's CPU time).
fn handle_all(d: &Directory, settings: &ProcessorSettings, records: &[Record], now: i64) -> Vec<Handled> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = records.len().div_ceil(threads).max(256);
    if records.len() <= chunk {
        // A small step: not worth a thread.
        return records.iter().map(|r| handle_record(d, settings, r, now)).collect();
    }
    std::thread::scope(|scope| {
        let parts: Vec<_> = records
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|r| handle_record(d, settings, r, now))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("handling a record does not panic"))
            .collect()
    })
}

/// Whether configuration newer than the processor's copy could accept a
/// record refused for `code`.
fn config_dependent(code: ReasonCode) -> bool {
    matches!(
        code,
        ReasonCode::UnknownTenant
            | ReasonCode::UnknownCollection
            | ReasonCode::UnknownClient
            | ReasonCode::CollectionNotAllowed
            | ReasonCode::WrongRegion
    )
}

/// Handles one input record: the processed event, or a dead letter with the
/// reason. Never fails: whatever is wrong with one record (undecodable,
/// refused by isolation, characters no store can hold, an event that does
/// not encode) is that record's dead letter. Pure, so that it can be tested
/// through events alone.
pub fn process(directory: &Directory, settings: &ProcessorSettings, record: &Record, now: i64) -> Output {
    handle_record(directory, settings, record, now).output
}

/// [`process`], with the reason code when the output is a dead letter.
fn handle_record(directory: &Directory, settings: &ProcessorSettings, record: &Record, now: i64) -> Handled {
    let received: FeedbackReceived = match schemas::decode(&record.payload) {
        Ok(r) => r,
        Err(e) => return reject(settings, record, None, ReasonCode::Undecodable, e.to_string(), now),
    };
    let ids = (
        TenantId::parse(&received.tenant_id),
        ClientId::parse(&received.client_id),
        CollectionId::parse(&received.collection),
    );
    let (tenant, client, collection) = match ids {
        (Ok(t), Ok(c), Ok(col)) => (t, c, col),
        (t, c, col) => {
            let reason = [t.err(), c.err(), col.err()]
                .into_iter()
                .flatten()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            let reason = format!("{reason} (ingest refuses it; this record reached the log another way)");
            return reject(settings, record, Some(&received), ReasonCode::InvalidId, reason, now);
        }
    };
    if let Err(e) = directory.check_accepted(&tenant, &client, &collection, &settings.region) {
        return reject(settings, record, Some(&received), e.code(), e.to_string(), now);
    }
    if let Some((field, at, c)) = unstorable(&received) {
        let reason = format!(
            "{field} contains {} at character {at}, which no store can hold (ingest refuses it; this record \
             reached the log another way)",
            schemas::text::describe(c)
        );
        return reject(
            settings,
            record,
            Some(&received),
            ReasonCode::InvalidCharacters,
            reason,
            now,
        );
    }
    let rules = match directory.live_rules(tenant.as_str()) {
        Ok(rules) => rules,
        Err(invalid) => {
            let reason = format!("the live rule set of tenant '{tenant}' does not compile with this build: {invalid}");
            return reject(
                settings,
                record,
                Some(&received),
                ReasonCode::RulesUnavailable,
                reason,
                now,
            );
        }
    };
    let mut item = received.item.clone();
    let outcome = rules.apply(collection.as_str(), &mut item);
    let version = rules.version();
    let mut applied_tags: Vec<AppliedTag> = received
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
    let rule_tags = outcome.tags.len() as u64;
    applied_tags.extend(outcome.tags.into_iter().map(|t| AppliedTag {
        name: t.name,
        value: t.value,
        source: TagSource::Rule,
        rule_id: Some(t.rule_id),
        rule_version: Some(version),
    }));
    let client_tags = received.item.tags.len() as u64;
    let redaction_counts = outcome
        .redactions
        .iter()
        .map(|r| (r.kind.clone(), u64::from(r.count)))
        .collect();
    let redactions = outcome
        .redactions
        .into_iter()
        .map(|r| Redaction {
            field: r.field,
            kind: r.kind,
            count: i32::try_from(r.count).unwrap_or(i32::MAX),
            rule_id: r.rule_id,
            rule_version: version,
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
        processed_region: settings.region.to_string(),
        received_at: received.received_at,
        processed_at: now,
        item,
        rule_set_version: Some(version),
        applied_tags,
        redactions,
    };
    match schemas::encode(&processed) {
        Ok(payload) if payload.len() > MAX_OUTPUT_BYTES => {
            let reason = format!(
                "the processed event would be {} bytes, over the limit of {MAX_OUTPUT_BYTES} (a custom redaction \
                 marker longer than what it replaces can grow an item); shorten the tenant's markers",
                payload.len()
            );
            reject(
                settings,
                record,
                Some(&received),
                ReasonCode::OutputTooLarge,
                reason,
                now,
            )
        }
        Ok(payload) => Handled {
            output: Output {
                topic: Topic::FeedbackProcessed.name(&settings.namespace),
                key: record.key.clone(),
                payload,
            },
            reason: None,
            client_tags,
            rule_tags,
            redactions: redaction_counts,
        },
        Err(e) => reject(
            settings,
            record,
            Some(&received),
            ReasonCode::Unencodable,
            e.to_string(),
            now,
        ),
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
    code: ReasonCode,
    reason: String,
    now: i64,
) -> Handled {
    let clean = |s: &String| schemas::text::sanitize(s);
    let rejected = FeedbackRejected {
        event_id: received.map(|r| clean(&r.event_id)),
        tenant_id: received.map(|r| clean(&r.tenant_id)),
        collection: received.map(|r| clean(&r.collection)),
        external_id: received.map(|r| clean(&r.external_id)),
        reason_code: code.as_str().to_owned(),
        reason: schemas::text::sanitize(&reason),
        processed_region: settings.region.to_string(),
        rejected_at: now,
        source_topic: record.topic.clone(),
        source_partition: record.partition,
        source_offset: record.offset,
        input: record.payload.clone(),
    };
    tracing::info!(code = code.as_str(), offset = record.offset, "feedback rejected");
    let output = Output {
        topic: Topic::FeedbackRejected.name(&settings.namespace),
        key: record.key.clone(),
        payload: schemas::encode(&rejected).expect("a FeedbackRejected of plain strings and bytes always encodes"),
    };
    Handled::rejected(output, code)
}

#[cfg(test)]
mod tests {
    //! `process` through events alone: a directory folded from
    //! configuration events, one input record, the one output it gets.
    use super::*;
    use schemas::{
        Channel, ClientCredentialIssued, ClientCredentialRevoked, CollectionCreated, ConfigEvent, FeedbackItem,
        SourceTag, TenantCreated,
    };

    const NOW: i64 = 1_800_000_000_000_000;

    fn directory(extra: &[ConfigEvent]) -> Directory {
        let mut events = vec![
            ConfigEvent::TenantCreated(TenantCreated {
                tenant_id: "acme".into(),
                name: "Acme".into(),
                region: "eu".into(),
                created_at: 0,
            }),
            ConfigEvent::TenantCreated(TenantCreated {
                tenant_id: "initech".into(),
                name: "Initech".into(),
                region: "us".into(),
                created_at: 0,
            }),
        ];
        for (tenant, collection) in [("acme", "nps"), ("acme", "support"), ("initech", "nps")] {
            events.push(ConfigEvent::CollectionCreated(CollectionCreated {
                tenant_id: tenant.into(),
                collection: collection.into(),
                name: collection.into(),
                created_at: 0,
            }));
        }
        for (tenant, client, collections) in [("acme", "c-all", vec![]), ("acme", "c-nps", vec!["nps".to_owned()])] {
            events.push(ConfigEvent::ClientCredentialIssued(ClientCredentialIssued {
                tenant_id: tenant.into(),
                client_id: client.into(),
                name: client.into(),
                collections,
                secret_version: 1,
                secret_sha256: vec![],
                issued_at: 0,
                sealed_secret: None,
                kek_id: None,
            }));
        }
        events.extend_from_slice(extra);
        let mut d = Directory::default();
        for e in &events {
            d.apply(e).expect("a valid setup");
        }
        d
    }

    fn received(tenant: &str, client: &str, collection: &str, text: &str) -> FeedbackReceived {
        FeedbackReceived {
            event_id: schemas::feedback_event_id(tenant, collection, "x-1"),
            tenant_id: tenant.into(),
            collection: collection.into(),
            external_id: "x-1".into(),
            client_id: client.into(),
            region: "eu".into(),
            batch_id: "b".into(),
            received_at: NOW - 1,
            item: FeedbackItem {
                occurred_at: NOW - 10,
                channel: Channel::Survey,
                text: Some(text.into()),
                language: None,
                metrics: vec![],
                respondent: None,
                metadata: Default::default(),
                tags: vec![SourceTag {
                    name: "topic".into(),
                    value: "delivery".into(),
                }],
            },
        }
    }

    fn record(payload: Vec<u8>) -> Record {
        Record {
            topic: "vox.feedback.raw".into(),
            partition: 1,
            offset: 41,
            key: b"acme/nps/x-1".to_vec(),
            payload,
        }
    }

    /// What the output says: its topic, and the reason code of a dead letter.
    fn outcome(d: &Directory, input: Vec<u8>) -> (String, Option<String>) {
        let settings = ProcessorSettings::new(Region::parse("eu").expect("region"), "");
        let out = process(d, &settings, &record(input), NOW);
        let reason = (out.topic == "vox.feedback.rejected").then(|| {
            let r: FeedbackRejected = schemas::decode(&out.payload).expect("a dead letter");
            assert_eq!((r.source_partition, r.source_offset), (1, 41), "names its input");
            r.reason_code
        });
        (out.topic, reason)
    }

    #[test]
    fn every_record_gets_one_output() {
        let revoked = ConfigEvent::ClientCredentialRevoked(ClientCredentialRevoked {
            tenant_id: "acme".into(),
            client_id: "c-all".into(),
            secret_version: None,
            revoked_at: 0,
        });
        let encode = |r: FeedbackReceived| schemas::encode(&r).expect("encode");
        /// (case, extra configuration events, input payload, expected dead-letter reason)
        type Case<'a> = (&'a str, Vec<ConfigEvent>, Vec<u8>, Option<&'a str>);
        let cases: Vec<Case> = vec![
            ("valid", vec![], encode(received("acme", "c-all", "nps", "fine")), None),
            ("not Avro", vec![], b"\x00\x01garbage".to_vec(), Some("undecodable")),
            (
                "unknown tenant",
                vec![],
                encode(received("globex", "c-all", "nps", "x")),
                Some("unknown_tenant"),
            ),
            (
                "tenant of another region",
                vec![],
                encode(received("initech", "c-all", "nps", "x")),
                Some("wrong_region"),
            ),
            (
                "unknown collection",
                vec![],
                encode(received("acme", "c-all", "sales", "x")),
                Some("unknown_collection"),
            ),
            (
                "collection outside the credential",
                vec![],
                encode(received("acme", "c-nps", "support", "x")),
                Some("collection_not_allowed"),
            ),
            (
                "unknown client",
                vec![],
                encode(received("acme", "c-none", "nps", "x")),
                Some("unknown_client"),
            ),
            (
                "client revoked after acceptance",
                vec![revoked],
                encode(received("acme", "c-all", "nps", "x")),
                None,
            ),
            (
                "NUL in the text",
                vec![],
                encode(received("acme", "c-all", "nps", "a\u{0}b")),
                Some("invalid_characters"),
            ),
            (
                "a live rule set this build cannot compile",
                vec![ConfigEvent::RuleSetPublished(schemas::RuleSetPublished {
                    tenant_id: "acme".into(),
                    version: 1,
                    document: "[[rule]]\nid = \"from-a-newer-build\"\nwhen.sentiment = \"negative\"\n".into(),
                    published_at: 0,
                    published_by: None,
                })],
                encode(received("acme", "c-all", "nps", "x")),
                Some("rules_unavailable"),
            ),
            (
                "an invalid tenant id",
                vec![],
                encode(received("Acme Corp", "c-all", "nps", "x")),
                Some("invalid_id"),
            ),
        ];
        for (name, extra, input, reason) in cases {
            let (topic, got) = outcome(&directory(&extra), input);
            let want_topic = if reason.is_some() {
                "vox.feedback.rejected"
            } else {
                "vox.feedback.processed"
            };
            assert_eq!((topic.as_str(), got.as_deref()), (want_topic, reason), "{name}");
        }
    }

    #[test]
    fn processed_events_carry_the_item_and_its_client_tags() {
        let settings = ProcessorSettings::new(Region::parse("eu").expect("region"), "t.");
        let input = received("acme", "c-all", "nps", "fine");
        let out = process(
            &directory(&[]),
            &settings,
            &record(schemas::encode(&input).expect("encode")),
            NOW,
        );
        assert_eq!(out.topic, "t.vox.feedback.processed");
        assert_eq!(out.key, b"acme/nps/x-1", "the key of the input");
        let p: FeedbackProcessed = schemas::decode(&out.payload).expect("processed");
        assert_eq!((p.event_id, p.item), (input.event_id, input.item));
        assert_eq!((p.processed_region.as_str(), p.processed_at), ("eu", NOW));
        assert_eq!(p.applied_tags.len(), 1);
        assert_eq!(p.applied_tags[0].source, TagSource::Client);
    }

    #[test]
    fn the_live_rule_set_tags_and_redacts_and_is_named_in_the_event() {
        let settings = ProcessorSettings::new(Region::parse("eu").expect("region"), "");
        let rules = ConfigEvent::RuleSetPublished(schemas::RuleSetPublished {
            tenant_id: "acme".into(),
            version: 1,
            document: "[[rule]]\nid = \"late\"\nwhen.text_contains = [\"myöhässä\"]\ntags = [{ name = \"topic\", value = \"late\" }]\n"
                .into(),
            published_at: 0,
            published_by: None,
        });
        let mut input = received("acme", "c-all", "nps", "Paketti oli MYÖHÄSSÄ, soita 040 123 4567");
        input.item.metrics.push(schemas::Metric {
            kind: schemas::MetricKind::Nps,
            value: 9.0,
            scale_min: 0.0,
            scale_max: 10.0,
        });
        let encoded = schemas::encode(&input).expect("encode");
        let out = process(&directory(&[rules]), &settings, &record(encoded.clone()), NOW);
        let p: FeedbackProcessed = schemas::decode(&out.payload).expect("processed");
        assert_eq!(p.rule_set_version, Some(1));
        assert_eq!(p.item.text.as_deref(), Some("Paketti oli MYÖHÄSSÄ, soita [phone]"));
        let tags: Vec<(&str, &str, Option<&str>, Option<i32>)> = p
            .applied_tags
            .iter()
            .map(|t| (t.name.as_str(), t.value.as_str(), t.rule_id.as_deref(), t.rule_version))
            .collect();
        assert_eq!(
            tags,
            [
                ("topic", "delivery", None, None),
                ("nps", "promoter", Some("builtin.nps_category"), Some(1)),
                ("topic", "late", Some("late"), Some(1)),
            ]
        );
        assert_eq!(p.redactions.len(), 1);
        assert_eq!((p.redactions[0].kind.as_str(), p.redactions[0].count), ("phone", 1));

        // Without a published rule set: version 0, the defaults.
        let out = process(&directory(&[]), &settings, &record(encoded), NOW);
        let p: FeedbackProcessed = schemas::decode(&out.payload).expect("processed");
        assert_eq!(p.rule_set_version, Some(0));
        assert_eq!(p.applied_tags.len(), 2, "the client's tag and the NPS category");
        assert_eq!(p.item.text.as_deref(), Some("Paketti oli MYÖHÄSSÄ, soita [phone]"));
    }
}
