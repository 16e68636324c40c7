//! The Kafka log. Appends: an idempotent producer (`acks=all`) whose futures
//! are awaited, so an append returns only after every record is replicated.
//! Group consumers: `read_committed`, no auto-commit, and a transactional
//! producer whose transactions carry the consumer's offsets
//! (`send_offsets_to_transaction`). librdkafka's transactional calls block,
//! so they run on tokio's blocking pool, never on the async workers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigResource, ConfigSource, NewTopic, OwnedResourceSpecifier,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::{next_offsets, Appended, LogError, Output, Positions, Record, Retention};

/// How to reach and use the Kafka cluster.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `host:port,...` of the bootstrap brokers.
    pub brokers: String,
    /// Partitions of each topic created on startup.
    pub partitions: i32,
    /// Replication factor of each topic created on startup.
    pub replication_factor: i32,
    /// `min.insync.replicas` of each topic created on startup: with
    /// `acks=all`, an append is acknowledged once this many replicas have it.
    pub min_insync_replicas: i32,
    /// How long an append or a transaction may take before it fails.
    pub timeout: Duration,
    /// Stable identity of this process among its role's replicas; part of the
    /// transactional id, so that a restarted instance fences its predecessor.
    pub instance_id: String,
    /// How long the group coordinator waits for a silent member before it
    /// hands the member's partitions to the others (`session.timeout.ms`).
    /// Members are static (`group.instance.id` from `instance_id`), so a
    /// restart within this time resumes at once without a rebalance.
    pub session_timeout: Duration,
    /// How long a transactional step may stay open before the broker aborts
    /// it (`transaction.timeout.ms`): after a member dies inside one, its
    /// partitions resume once this has passed (plus the broker's
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`).
    pub transaction_timeout: Duration,
    /// TLS and SASL towards the brokers.
    pub security: KafkaSecurity,
    /// Topics with a bounded retention (`retention.ms`); every other topic
    /// keeps its records for ever (`retention.ms=-1`). Applied by
    /// `ensure_topics` to the topics it creates.
    pub retention: Retention,
    /// Whether `ensure_topics` administers the topics (`vox topics ensure`,
    /// as the admin principal): it then also corrects the retention of
    /// topics that exist already, and asks to create the topics this
    /// principal may not describe (the admin principal has Create,
    /// DescribeConfigs and AlterConfigs on the topics, but Describe on
    /// `vox.config` only). Off for the roles and the other admin commands:
    /// they create only topics they see missing (when their principal may)
    /// and never change an existing one, so that they need no Create,
    /// DescribeConfigs or AlterConfigs ACL once the topics exist.
    pub correct_retention: bool,
}

/// How Vox authenticates to Kafka and protects the connection.
#[derive(Clone, Default)]
pub struct KafkaSecurity {
    /// `security.protocol`: `plaintext` (default), `ssl`, `sasl_plaintext` or
    /// `sasl_ssl`.
    pub protocol: Option<String>,
    /// `sasl.mechanism`, e.g. `SCRAM-SHA-512`.
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    /// Never printed; wiped from memory when dropped.
    pub sasl_password: Option<auth::Secret>,
    /// PEM file of the CA that signed the brokers' certificates
    /// (`ssl.ca.location`); the system's CAs when unset.
    pub ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for KafkaSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSecurity")
            .field("protocol", &self.protocol)
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("sasl_username", &self.sasl_username)
            .field("sasl_password", &self.sasl_password.as_ref().map(|_| "***"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl KafkaSettings {
    /// Production defaults: replication factor 3 and `min.insync.replicas`
    /// 2, so an acknowledged append survives the loss of any one broker.
    pub fn new(brokers: impl Into<String>) -> KafkaSettings {
        KafkaSettings {
            brokers: brokers.into(),
            partitions: 3,
            replication_factor: 3,
            min_insync_replicas: 2,
            timeout: Duration::from_secs(30),
            instance_id: "0".to_owned(),
            session_timeout: Duration::from_secs(10),
            transaction_timeout: Duration::from_secs(10),
            security: KafkaSecurity::default(),
            retention: Retention::new(),
            correct_retention: false,
        }
    }

    /// For a single-broker development or test cluster: replication factor
    /// 1 and `min.insync.replicas` 1 (an acknowledged append is on one disk).
    pub fn single_broker(brokers: impl Into<String>) -> KafkaSettings {
        KafkaSettings {
            replication_factor: 1,
            min_insync_replicas: 1,
            ..KafkaSettings::new(brokers)
        }
    }

    /// The configs that bound (or not) how long `topic` keeps its records,
    /// as `ensure_topics` sets them: `retention.ms`, and for a bounded
    /// retention `segment.ms`. Kafka deletes whole segments only, once
    /// their newest record has expired, so a segment spans at most a tenth
    /// of the retention (and at most a day): a record outlives its
    /// retention by at most that (plus the broker's
    /// `log.retention.check.interval.ms`), not by the default 7 days.
    fn retention_configs(&self, topic: &str) -> Vec<(&'static str, String)> {
        match self.retention.get(topic) {
            None => vec![("retention.ms", "-1".to_owned())],
            Some(keep) => {
                let segment = (*keep / 10).min(Duration::from_secs(86_400));
                vec![("retention.ms", millis(*keep)), ("segment.ms", millis(segment))]
            }
        }
    }

    /// The `retention.ms` that `ensure_topics` gives `topic` (`-1`: for
    /// ever).
    pub fn retention_ms(&self, topic: &str) -> String {
        self.retention
            .get(topic)
            .map_or_else(|| "-1".to_owned(), |keep| millis(*keep))
    }

    fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers).set("client.id", "vox");
        let s = &self.security;
        if let Some(p) = &s.protocol {
            c.set("security.protocol", p);
        }
        if let Some(m) = &s.sasl_mechanism {
            c.set("sasl.mechanism", m);
        }
        if let Some(u) = &s.sasl_username {
            c.set("sasl.username", u);
        }
        if let Some(p) = &s.sasl_password {
            c.set("sasl.password", p.expose());
        }
        if let Some(ca) = &s.ca_file {
            c.set("ssl.ca.location", ca.to_string_lossy());
        }
        c
    }
}

/// What [`KafkaLog::ensure_topics_reporting`] found and did; each list in
/// the order the topics were given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnsuredTopics {
    /// Did not exist: created now with the settings' partitions,
    /// replication factor, `min.insync.replicas` and retention.
    pub created: Vec<String>,
    /// Existed with another retention: set to the settings' now (only with
    /// `correct_retention`).
    pub corrected: Vec<RetentionCorrected>,
    /// Existed and were left as they were: with `correct_retention`, they
    /// had the settings' retention; without it, it was not looked at.
    pub existing: Vec<String>,
    /// Existed, but this principal may not read or alter their configs (no
    /// DescribeConfigs or AlterConfigs ACL): their retention was not checked
    /// (only with `correct_retention`).
    pub retention_unchecked: Vec<String>,
    /// This principal may not describe them (no Read, Write or Describe
    /// ACL), so it does not use them, and did not create them: whether they
    /// exist is not known.
    pub not_visible: Vec<String>,
}

/// A topic whose retention `ensure_topics` corrected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionCorrected {
    pub topic: String,
    /// Its `retention.ms` before (`None`: not a number).
    pub from: Option<i64>,
    /// Its `retention.ms` now (the settings', `-1` for ever).
    pub to: String,
}

impl EnsuredTopics {
    /// Puts every list in the order of `topics`.
    fn sort_as(&mut self, topics: &[String]) {
        let at = |t: &str| topics.iter().position(|x| x == t);
        self.created.sort_by_key(|t| at(t));
        self.corrected.sort_by_key(|c| at(&c.topic));
        self.existing.sort_by_key(|t| at(t));
        self.retention_unchecked.sort_by_key(|t| at(t));
        self.not_visible.sort_by_key(|t| at(t));
    }
}

/// A topic as a principal's metadata shows it.
enum Seen {
    Exists,
    Missing,
    /// This principal may not describe it: it may or may not exist.
    Hidden,
}

#[derive(Clone)]
pub struct KafkaLog {
    settings: Arc<KafkaSettings>,
    /// The idempotent producer of `append`, made on the first append: a
    /// role that never appends (the projector, whose principal may write
    /// nothing) never asks the brokers for a producer id.
    producer: Arc<std::sync::OnceLock<FutureProducer>>,
}

impl KafkaLog {
    pub fn connect(settings: KafkaSettings) -> Result<KafkaLog, LogError> {
        // The configuration is checked now, so that a bad one fails at start.
        settings.client_config().create::<BaseProducer>()?;
        Ok(KafkaLog {
            settings: Arc::new(settings),
            producer: Default::default(),
        })
    }

    /// The settings this log was made with.
    pub fn settings(&self) -> &KafkaSettings {
        &self.settings
    }

    fn producer(&self) -> Result<&FutureProducer, LogError> {
        if let Some(p) = self.producer.get() {
            return Ok(p);
        }
        let made: FutureProducer = self
            .settings
            .client_config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "2")
            .set("message.timeout.ms", self.settings.timeout.as_millis().to_string())
            .create()?;
        // Two first appends at once: one producer wins, the other is dropped.
        Ok(self.producer.get_or_init(|| made))
    }

    /// [`KafkaLog::ensure_topics_reporting`] for the log seam: what it
    /// found is logged, not returned.
    pub(crate) async fn ensure_topics(&self, topics: &[String]) -> Result<(), LogError> {
        let report = self.ensure_topics_reporting(topics).await?;
        for topic in &report.retention_unchecked {
            tracing::warn!(
                %topic,
                "cannot read or set the topic's retention (does this principal have the DescribeConfigs and \
                 AlterConfigs ACLs?): its retention is not checked"
            );
        }
        Ok(())
    }

    /// Makes sure that `topics` exist: reads their metadata first (a
    /// Describe, which the Read and Write ACLs imply) and asks the brokers
    /// to create only the topics that do not exist, with the settings'
    /// partitions, replication factor, `min.insync.replicas` and retention.
    /// A principal whose topics all exist needs no Create ACL (Kafka checks
    /// Create before existence, so asking to create a topic that exists
    /// needs it too).
    ///
    /// A topic this principal may not describe is not one it reads or
    /// writes: a role leaves it alone (`not_visible`); with
    /// `correct_retention` (the admin principal, which has Create but not
    /// Describe) it is asked for, and found to exist or created. A missing
    /// topic that this principal may not create fails with an error that
    /// names it: the admin principal must create it (`vox topics ensure`).
    ///
    /// With `correct_retention`, topics that exist get their retention
    /// corrected to the settings (see `correct_retention`).
    pub async fn ensure_topics_reporting(&self, topics: &[String]) -> Result<EnsuredTopics, LogError> {
        let admin: Arc<AdminClient<DefaultClientContext>> = Arc::new(
            self.settings
                .client_config()
                // A metadata request must never create a topic (a broker with
                // auto.create.topics.enable would, with its own defaults).
                .set("allow.auto.create.topics", "false")
                .create()?,
        );
        let seen = self.look_up(&admin, topics).await?;
        let mut report = EnsuredTopics::default();
        let mut existing = Vec::new();
        // To create, and whether it is known to be missing (else hidden).
        let mut create: Vec<(&String, bool)> = Vec::new();
        for (topic, seen) in topics.iter().zip(seen) {
            match seen {
                Seen::Exists => existing.push(topic.clone()),
                Seen::Missing => create.push((topic, true)),
                Seen::Hidden if self.settings.correct_retention => create.push((topic, false)),
                Seen::Hidden => {
                    tracing::debug!(%topic, "this principal may not describe the topic: it does not use it");
                    report.not_visible.push(topic.clone());
                }
            }
        }
        let options = AdminOptions::new()
            .operation_timeout(Some(self.settings.timeout))
            .request_timeout(Some(self.settings.timeout));
        if !create.is_empty() {
            let names: Vec<&String> = create.iter().map(|(t, _)| *t).collect();
            let mut refused = Vec::new();
            for result in self.create_topics(&admin, &names, &options).await? {
                match result {
                    Ok(topic) => {
                        tracing::info!(%topic, "created the topic");
                        report.created.push(topic);
                    }
                    Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => existing.push(topic),
                    Err((topic, code)) if unauthorized(code) => {
                        if create.iter().any(|(t, missing)| **t == topic && *missing) {
                            refused.push(topic);
                        } else {
                            report.not_visible.push(topic);
                        }
                    }
                    Err((topic, code)) => {
                        tracing::error!(%topic, ?code, "creating a topic failed");
                        return Err(LogError::Kafka(KafkaError::AdminOp(code)));
                    }
                }
            }
            if !refused.is_empty() {
                return Err(self.cannot_create(&refused));
            }
        }
        if self.settings.correct_retention && !existing.is_empty() {
            self.correct_retention(&admin, &existing, &options, &mut report).await?;
        } else {
            report.existing = existing;
        }
        report.sort_as(topics);
        Ok(report)
    }

    /// Whether each topic exists, as this principal's metadata shows it.
    async fn look_up(
        &self,
        admin: &Arc<AdminClient<DefaultClientContext>>,
        topics: &[String],
    ) -> Result<Vec<Seen>, LogError> {
        let (admin, topics, timeout) = (admin.clone(), topics.to_vec(), self.settings.timeout);
        blocking(move || {
            topics
                .iter()
                .map(|topic| {
                    // A broker that is electing leaders (a topic just made,
                    // a restart) answers NotLeaderForPartition for a moment:
                    // asked again, it knows.
                    let mut attempt = 0;
                    let metadata = loop {
                        match admin.inner().fetch_metadata(Some(topic), timeout) {
                            Ok(metadata) => break metadata,
                            Err(KafkaError::MetadataFetch(code)) if unauthorized(code) => return Ok(Seen::Hidden),
                            Err(KafkaError::MetadataFetch(
                                RDKafkaErrorCode::NotLeaderForPartition | RDKafkaErrorCode::LeaderNotAvailable,
                            )) if attempt < 20 => {
                                attempt += 1;
                                std::thread::sleep(std::time::Duration::from_millis(100));
                            }
                            Err(e) => return Err(e.into()),
                        }
                    };
                    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
                        return Ok(Seen::Missing);
                    };
                    Ok(match found.error().map(RDKafkaErrorCode::from) {
                        None => Seen::Exists,
                        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
                            Seen::Missing
                        }
                        Some(code) if unauthorized(code) => Seen::Hidden,
                        // Exists, but its partitions are not ready (a leader
                        // election, a topic being created): nothing to create.
                        Some(
                            RDKafkaErrorCode::LeaderNotAvailable
                            | RDKafkaErrorCode::NotLeaderForPartition
                            | RDKafkaErrorCode::ReplicaNotAvailable,
                        ) => Seen::Exists,
                        // Anything else: ask to create it, as the brokers
                        // then say whether it exists.
                        Some(code) => {
                            tracing::debug!(%topic, ?code, "the topic's metadata has an error");
                            Seen::Missing
                        }
                    })
                })
                .collect()
        })
        .await
    }

    /// CreateTopics for `topics`: each result names its topic.
    async fn create_topics(
        &self,
        admin: &AdminClient<DefaultClientContext>,
        topics: &[&String],
        options: &AdminOptions,
    ) -> Result<Vec<rdkafka::admin::TopicResult>, LogError> {
        let min_isr = self.settings.min_insync_replicas.to_string();
        let retention: Vec<Vec<(&str, String)>> = topics.iter().map(|t| self.settings.retention_configs(t)).collect();
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .zip(&retention)
            .map(|(t, retention)| {
                let topic = NewTopic::new(
                    t,
                    self.settings.partitions,
                    TopicReplication::Fixed(self.settings.replication_factor),
                )
                // The log is the source of truth: nothing expires, except
                // in the topics with a retention (unredacted personal data).
                .set("retention.bytes", "-1")
                .set("min.insync.replicas", &min_isr);
                retention
                    .iter()
                    .fold(topic, |topic, (key, value)| topic.set(key, value))
            })
            .collect();
        Ok(admin.create_topics(&new, options).await?)
    }

    /// The error for missing topics this principal may not create.
    fn cannot_create(&self, topics: &[String]) -> LogError {
        let principal = match &self.settings.security.sasl_username {
            Some(user) => format!("Kafka principal User:{user}"),
            None => "this Kafka principal".to_owned(),
        };
        let (names, verb) = match topics {
            [one] => (format!("topic '{one}' does"), "it"),
            many => (
                format!(
                    "topics {} do",
                    many.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ")
                ),
                "them",
            ),
        };
        LogError::TopicsMissing(format!(
            "{names} not exist, and {principal} may not create {verb} (no Create ACL): run \
             `vox topics ensure` as the admin principal first"
        ))
    }

    /// Makes the retention of topics that exist already match the settings
    /// (a changed retention, a topic created by hand or by an older Vox).
    /// Reads their configs first and alters only the topics that differ.
    /// AlterConfigs (not the incremental one) replaces every dynamic config
    /// of a topic: each alteration carries the topic's other dynamic
    /// configs unchanged (`retention.bytes`, `min.insync.replicas`, whatever
    /// an operator set). A topic whose config this principal may not read
    /// or alter (no DescribeConfigs or AlterConfigs ACL) is left as it is
    /// and reported in `retention_unchecked`.
    ///
    /// rust-rdkafka drops the per-topic errors of both calls: a refused
    /// description comes back without entries, a refused alteration as
    /// done. So the configs are read back after the alteration, until they
    /// show the settings' retention (or `READ_BACK_TIMEOUT` has passed).
    async fn correct_retention(
        &self,
        admin: &AdminClient<DefaultClientContext>,
        topics: &[String],
        options: &AdminOptions,
        report: &mut EnsuredTopics,
    ) -> Result<(), LogError> {
        let described = self.describe_configs(admin, topics, options).await?;
        /// A topic to alter: its retention.ms as found, and every config it should have.
        struct Plan<'a> {
            topic: &'a str,
            from: Option<i64>,
            configs: Vec<(String, String)>,
        }
        let mut plans: Vec<Plan<'_>> = Vec::new();
        for topic in topics {
            // A topic whose description failed is left alone: altering it
            // with only our configs would reset the others,
            // `min.insync.replicas` too.
            let Some(config) = described.iter().find(|c| is_topic(c, topic)) else {
                report.retention_unchecked.push(topic.clone());
                continue;
            };
            if self.has_retention(config, topic) {
                report.existing.push(topic.clone());
                continue;
            }
            let wanted = self.settings.retention_configs(topic);
            let from = config_value(config, "retention.ms");
            tracing::info!(%topic, ?from, to = %wanted[0].1, "setting the topic's retention.ms");
            let mut all: Vec<(String, String)> = config
                .entries
                .iter()
                .filter(|e| e.source == ConfigSource::DynamicTopic && !e.is_read_only)
                // Topic configs are never sensitive (hidden); one would
                // be reset, not carried over.
                .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
                .filter(|(name, _)| !wanted.iter().any(|(key, _)| key == name))
                .collect();
            all.extend(wanted.into_iter().map(|(k, v)| (k.to_owned(), v)));
            plans.push(Plan {
                topic,
                from,
                configs: all,
            });
        }
        if plans.is_empty() {
            return Ok(());
        }
        let alters: Vec<AlterConfig<'_>> = plans
            .iter()
            .map(|plan| {
                plan.configs
                    .iter()
                    .fold(AlterConfig::new(ResourceSpecifier::Topic(plan.topic)), |a, (k, v)| {
                        a.set(k, v)
                    })
            })
            .collect();
        match admin.alter_configs(&alters, options).await {
            // Read back below: nothing changed.
            Err(KafkaError::AdminOp(code)) if unauthorized(code) => {}
            Err(e) => {
                tracing::error!(error = %e, "setting the topics' retention failed");
                return Err(e.into());
            }
            Ok(_) => {}
        }
        let deadline = Instant::now() + READ_BACK_TIMEOUT.min(self.settings.timeout);
        let mut pending: Vec<(String, Option<i64>)> = plans.iter().map(|p| (p.topic.to_owned(), p.from)).collect();
        loop {
            let names: Vec<String> = pending.iter().map(|(t, _)| t.clone()).collect();
            let described = self.describe_configs(admin, &names, options).await?;
            pending.retain(|(topic, from)| {
                let done = described
                    .iter()
                    .any(|c| is_topic(c, topic) && self.has_retention(c, topic));
                if done {
                    report.corrected.push(RetentionCorrected {
                        topic: topic.clone(),
                        from: *from,
                        to: self.settings.retention_ms(topic),
                    });
                }
                !done
            });
            if pending.is_empty() || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        report.retention_unchecked.extend(pending.into_iter().map(|(t, _)| t));
        Ok(())
    }

    /// The configs of those of `topics` that this principal may describe
    /// (DescribeConfigs); the others are left out.
    async fn describe_configs(
        &self,
        admin: &AdminClient<DefaultClientContext>,
        topics: &[String],
        options: &AdminOptions,
    ) -> Result<Vec<ConfigResource>, LogError> {
        let specifiers: Vec<ResourceSpecifier<'_>> = topics.iter().map(|t| ResourceSpecifier::Topic(t)).collect();
        let results = match admin.describe_configs(&specifiers, options).await {
            Err(KafkaError::AdminOp(code)) if unauthorized(code) => Vec::new(),
            Err(e) => {
                tracing::error!(error = %e, "reading the topics' configuration failed");
                return Err(e.into());
            }
            Ok(results) => results,
        };
        let mut described = Vec::new();
        for result in results {
            match result {
                // A refused description has no entries (rust-rdkafka drops its error).
                Ok(config) if config.get("retention.ms").is_some() => described.push(config),
                Ok(_) => {}
                Err(code) if unauthorized(code) => {}
                Err(code) => {
                    tracing::error!(?code, "reading the topics' configuration failed");
                    return Err(LogError::Kafka(KafkaError::AdminOp(code)));
                }
            }
        }
        Ok(described)
    }

    /// Whether `config` has the retention the settings give `topic`.
    fn has_retention(&self, config: &ConfigResource, topic: &str) -> bool {
        self.settings
            .retention_configs(topic)
            .iter()
            .all(|(key, value)| config_value(config, key) == value.parse::<i64>().ok())
    }

    pub(crate) async fn append(&self, records: Vec<Output>) -> Result<Vec<Appended>, LogError> {
        let producer = self.producer()?;
        let mut pending = Vec::with_capacity(records.len());
        for record in &records {
            let mut future_record = FutureRecord::to(&record.topic)
                .key(&record.key)
                .payload(&record.payload);
            loop {
                match producer.send_result(future_record) {
                    Ok(delivery) => break pending.push(delivery),
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        future_record = back;
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    Err((e, _)) => return Err(e.into()),
                }
            }
        }
        let wait = async {
            let mut appended = Vec::with_capacity(pending.len());
            for delivery in pending {
                match delivery.await {
                    Ok(Ok(d)) => appended.push(Appended {
                        partition: d.partition,
                        offset: d.offset,
                    }),
                    Ok(Err((e, _))) => return Err(LogError::Kafka(e)),
                    Err(_) => return Err(LogError::Task("the producer dropped a delivery report".into())),
                }
            }
            Ok(appended)
        };
        // librdkafka fails a message after message.timeout.ms; this outer
        // limit only guards against a lost delivery report.
        let limit = self.settings.timeout + Duration::from_secs(5);
        tokio::time::timeout(limit, wait)
            .await
            .map_err(|_| LogError::Timeout(limit))?
    }

    pub(crate) fn queue_depth(&self) -> usize {
        self.producer.get().map_or(0, |p| p.in_flight_count().max(0) as usize)
    }

    pub(crate) async fn flush(&self, timeout: Duration) -> Result<(), LogError> {
        let Some(producer) = self.producer.get().cloned() else {
            return Ok(());
        };
        blocking(move || producer.flush(timeout).map_err(LogError::Kafka)).await
    }

    pub(crate) async fn append_if_unchanged(
        &self,
        topic: &str,
        seen: &Positions,
        records: Vec<Output>,
    ) -> Result<(), LogError> {
        let settings = self.settings.clone();
        let topic = topic.to_owned();
        let seen = seen.clone();
        blocking(move || {
            let timeout = settings.timeout;
            let producer: BaseProducer = settings
                .client_config()
                .set("transactional.id", format!("vox-writer.{topic}"))
                .set("enable.idempotence", "true")
                .set("acks", "all")
                .create()?;
            // Fences every earlier writer of this topic: an open transaction
            // of theirs is aborted, and they can no longer commit.
            producer.init_transactions(timeout)?;
            let reader = reader_consumer(&settings)?;
            let assignment = assignment_of(&reader, &settings, std::slice::from_ref(&topic), &seen)?;
            reader.assign(&assignment)?;
            let mut remaining = end_offsets(&reader, &assignment, &mut Positions::new(), timeout)?;
            // The reader starts where `seen` ends: any record it finds is new.
            let mut unchanged = true;
            read_positions(&reader, &mut remaining, timeout, |_| {
                unchanged = false;
                false
            })?;
            if !unchanged {
                return Err(LogError::Conflict(topic));
            }
            let result = (|| {
                producer.begin_transaction()?;
                for o in &records {
                    producer
                        .send(BaseRecord::to(&o.topic).key(&o.key).payload(&o.payload))
                        .map_err(|(e, _)| e)?;
                }
                drain(&producer, timeout)?;
                producer.commit_transaction(timeout)
            })();
            match result {
                Ok(()) => Ok(()),
                Err(e) => {
                    let _ = abort(&producer, timeout);
                    match e {
                        KafkaError::Transaction(t) if t.is_fatal() || t.txn_requires_abort() => {
                            Err(LogError::Conflict(topic))
                        }
                        e => Err(e.into()),
                    }
                }
            }
        })
        .await
    }

    pub(crate) async fn group_consumer(&self, group: &str, topics: &[String]) -> Result<KafkaGroupConsumer, LogError> {
        let settings = self.settings.clone();
        let group = group.to_owned();
        let topics = topics.to_vec();
        let inner = blocking(move || {
            let consumer: BaseConsumer = settings
                .client_config()
                .set("group.id", &group)
                // Static membership: a restarted instance takes back its
                // partitions at once, without waiting for its old session to
                // expire or a rebalance of the whole group.
                .set("group.instance.id", format!("{group}.{}", settings.instance_id))
                .set("session.timeout.ms", settings.session_timeout.as_millis().to_string())
                .set(
                    "heartbeat.interval.ms",
                    (settings.session_timeout.as_millis() / 8).max(100).to_string(),
                )
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false")
                .set("isolation.level", "read_committed")
                .set("auto.offset.reset", "earliest")
                .create()?;
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            consumer.subscribe(&names)?;
            let producer: BaseProducer = settings
                .client_config()
                .set("transactional.id", format!("{group}.{}", settings.instance_id))
                .set("enable.idempotence", "true")
                .set("acks", "all")
                .set("linger.ms", "2")
                // A member that dies inside a transaction holds back its
                // outputs and its partitions' offsets until the broker
                // aborts the transaction: keep that short (a step takes
                // milliseconds).
                .set(
                    "transaction.timeout.ms",
                    settings.transaction_timeout.as_millis().to_string(),
                )
                .create()?;
            producer.init_transactions(settings.timeout)?;
            Ok(GroupInner {
                consumer,
                producer,
                group,
                timeout: settings.timeout,
            })
        })
        .await?;
        Ok(KafkaGroupConsumer { inner: Arc::new(inner) })
    }

    pub(crate) async fn reader(&self, topics: &[String], start: &Positions) -> Result<KafkaReader, LogError> {
        let settings = self.settings.clone();
        let topics = topics.to_vec();
        let start = start.clone();
        let consumer = blocking(move || {
            let consumer = reader_consumer(&settings)?;
            let assignment = assignment_of(&consumer, &settings, &topics, &start)?;
            consumer.assign(&assignment)?;
            Ok((consumer, assignment))
        })
        .await?;
        Ok(KafkaReader {
            inner: Arc::new(consumer.0),
            assignment: consumer.1,
            reached: Positions::new(),
            timeout: self.settings.timeout,
        })
    }
}

/// How long `correct_retention` reads a topic's configs back after altering
/// them, until they show the new retention (the brokers apply it within
/// moments; a refused alteration never shows).
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(10);

fn is_topic(config: &ConfigResource, topic: &str) -> bool {
    matches!(&config.specifier, OwnedResourceSpecifier::Topic(t) if t == topic)
}

/// `d` in whole milliseconds, at least 1 (Kafka's unit for durations).
fn millis(d: Duration) -> String {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1).to_string()
}

/// The numeric value of config `key` as described (`None` if missing or
/// not a number, which never matches a wanted value).
fn config_value(config: &ConfigResource, key: &str) -> Option<i64> {
    config.get(key)?.value.as_deref()?.parse().ok()
}

fn unauthorized(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::TopicAuthorizationFailed | RDKafkaErrorCode::ClusterAuthorizationFailed
    )
}

/// A consumer that only reads: positions are kept by its caller.
fn reader_consumer(settings: &KafkaSettings) -> Result<BaseConsumer, LogError> {
    Ok(settings
        .client_config()
        // Never used to commit: readers keep their positions elsewhere.
        .set("group.id", "vox-reader")
        // A stored position that no longer exists is an error to see,
        // not a reason to skip silently to the end.
        .set("auto.offset.reset", "error")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed")
        // A reader polls until its position passes a partition's end, and
        // the position moves past a transaction marker only with the next
        // fetch: do not let the broker hold an empty fetch for 500 ms.
        .set("fetch.wait.max.ms", "50")
        .create()?)
}

/// Every partition of `topics`, at `start` (the beginning where not named).
fn assignment_of(
    consumer: &BaseConsumer,
    settings: &KafkaSettings,
    topics: &[String],
    start: &Positions,
) -> Result<TopicPartitionList, LogError> {
    let mut assignment = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), settings.timeout)?;
        let partitions = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .map(|t| t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>())
            .unwrap_or_default();
        if partitions.is_empty() {
            return Err(LogError::UnknownTopic(topic.clone()));
        }
        for p in partitions {
            let offset = match start.get(&(topic.clone(), p)) {
                // Records of a topic with retention may have expired since
                // the caller read up to `o`: go on at the oldest one left
                // (the reader treats an offset out of range as an error).
                Some(o) if settings.retention.contains_key(topic) => {
                    let (low, _) = consumer.fetch_watermarks(topic, p, settings.timeout)?;
                    if *o < low {
                        tracing::warn!(
                            %topic, partition = p, from = *o, to = low,
                            "records past the topic's retention were deleted before they were read; reading on from the oldest one left"
                        );
                    }
                    Offset::Offset((*o).max(low))
                }
                Some(o) => Offset::Offset(*o),
                None => Offset::Beginning,
            };
            assignment.add_partition_offset(topic, p, offset)?;
        }
    }
    Ok(assignment)
}

/// The high watermark of every partition of `assignment` that the consumer
/// has not reached yet.
/// `reached` holds the high watermarks an earlier read already passed: the
/// consumer's position can lag behind a trailing transaction marker (it
/// moves past one only with a later fetch), and a partition whose high
/// watermark has not moved since has nothing new.
fn end_offsets(
    consumer: &BaseConsumer,
    assignment: &TopicPartitionList,
    reached: &mut Positions,
    timeout: Duration,
) -> Result<Positions, LogError> {
    let position = consumer.position()?;
    let mut remaining = Positions::new();
    for e in assignment.elements() {
        let key = (e.topic().to_owned(), e.partition());
        let (low, high) = consumer.fetch_watermarks(e.topic(), e.partition(), timeout)?;
        let at = position
            .find_partition(e.topic(), e.partition())
            .and_then(|p| p.offset().to_raw())
            .filter(|o| *o >= 0)
            .or_else(|| e.offset().to_raw().filter(|o| *o >= 0));
        let at = at.unwrap_or(low).max(low).max(reached.get(&key).copied().unwrap_or(0));
        if at < high {
            remaining.insert(key.clone(), high);
        }
        reached.insert(key, high);
    }
    Ok(remaining)
}

/// Polls until the consumer's position reaches the offset each partition
/// of `remaining` maps to. The position moves past transaction markers, which
/// are never delivered as records. `each` sees every record; it returns
/// whether to go on.
fn read_positions(
    consumer: &BaseConsumer,
    remaining: &mut Positions,
    timeout: Duration,
    mut each: impl FnMut(Record) -> bool,
) -> Result<(), LogError> {
    let deadline = Instant::now() + timeout;
    while !remaining.is_empty() {
        if Instant::now() >= deadline {
            return Err(LogError::Timeout(timeout));
        }
        for r in poll_blocking(consumer, 1000, Duration::from_millis(100))? {
            let key = (r.topic.clone(), r.partition);
            if remaining.get(&key).is_some_and(|high| r.offset + 1 >= *high) {
                remaining.remove(&key);
            }
            if !each(r) {
                return Ok(());
            }
        }
        let position = consumer.position()?;
        remaining.retain(|(topic, partition), high| {
            let at = position
                .find_partition(topic, *partition)
                .and_then(|p| p.offset().to_raw())
                .unwrap_or(-1);
            at < *high
        });
    }
    Ok(())
}

/// Waits until every record handed to `producer` is acknowledged, serving
/// its delivery reports. rust-rdkafka's own `flush` (which
/// `commit_transaction` calls first) polls in slices of 100 ms that always
/// run to their end, which made every transactional step 100 ms long; this
/// polls in slices of 1 ms, so the commit that follows finds nothing left
/// to flush.
fn drain(producer: &BaseProducer, timeout: Duration) -> Result<(), KafkaError> {
    let deadline = Instant::now() + timeout;
    while producer.in_flight_count() > 0 {
        if Instant::now() >= deadline {
            return Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut));
        }
        producer.poll(Duration::from_millis(1));
    }
    Ok(())
}

/// Aborts the open transaction. Its records still in flight are purged
/// first and their delivery reports served here: librdkafka's abort waits
/// for them, and a `BaseProducer` has no other thread serving them.
fn abort(producer: &BaseProducer, timeout: Duration) -> Result<(), KafkaError> {
    producer.purge(rdkafka::producer::PurgeConfig::default().queue().inflight());
    drain(producer, timeout)?;
    producer.abort_transaction(timeout)
}

/// Runs blocking librdkafka calls off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, LogError> + Send + 'static) -> Result<T, LogError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LogError::Task(e.to_string()))?
}

/// How long measuring the lag may wait for the brokers (it runs between
/// steps; a slow answer must not hold the step loop).
const LAG_TIMEOUT: Duration = Duration::from_secs(2);

/// High watermark minus position for every partition of `assignment` (a
/// partition not read yet counts from its low watermark).
fn lag_blocking(
    consumer: &BaseConsumer,
    assignment: &TopicPartitionList,
    timeout: Duration,
) -> Result<crate::Lag, LogError> {
    let positions = consumer.position()?;
    let mut lag = Vec::new();
    for e in assignment.elements() {
        let (low, high) = consumer.fetch_watermarks(e.topic(), e.partition(), timeout)?;
        let at = positions
            .find_partition(e.topic(), e.partition())
            .and_then(|p| p.offset().to_raw())
            .filter(|o| *o >= 0)
            .unwrap_or(low);
        lag.push((e.topic().to_owned(), e.partition(), (high - at).max(0)));
    }
    Ok(lag)
}

/// Whether a consumer's error only says that a connection to a broker
/// dropped (librdkafka reports it, then reconnects by itself), not that
/// consuming failed. Seen once in a test run on the local broker: a read of
/// `vox.audit` failed on `AllBrokersDown` that the next poll would have
/// survived.
fn dropped_connection(e: &KafkaError) -> bool {
    matches!(
        e,
        KafkaError::MessageConsumption(RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure)
    )
}

fn poll_blocking(consumer: &BaseConsumer, max: usize, wait: Duration) -> Result<Vec<Record>, LogError> {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut bytes = 0;
    while out.len() < max && bytes < crate::MAX_POLL_BYTES {
        // Wait for the first record; afterwards take only what is already here.
        let timeout = if out.is_empty() {
            deadline.saturating_duration_since(Instant::now())
        } else {
            Duration::ZERO
        };
        match consumer.poll(timeout) {
            None => break,
            Some(Ok(m)) => {
                bytes += m.payload_len() + m.key().map_or(0, <[u8]>::len);
                out.push(Record {
                    topic: m.topic().to_owned(),
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().unwrap_or_default().to_vec(),
                    payload: m.payload().unwrap_or_default().to_vec(),
                })
            }
            Some(Err(KafkaError::PartitionEOF(_))) => continue,
            Some(Err(e)) if dropped_connection(&e) => {
                // librdkafka reconnects and fetches again from where the
                // consumer stands: nothing is lost, the caller polls again.
                tracing::debug!(error = %e, "a broker connection dropped while consuming");
                break;
            }
            Some(Err(e)) => return Err(e.into()),
        }
        if out.is_empty() && Instant::now() >= deadline {
            break;
        }
    }
    Ok(out)
}

struct GroupInner {
    consumer: BaseConsumer,
    producer: BaseProducer,
    group: String,
    timeout: Duration,
}

impl GroupInner {
    fn transaction(&self, outputs: &[Output], next: &Positions) -> Result<(), KafkaError> {
        self.send_step(outputs, next)?;
        drain(&self.producer, self.timeout)?;
        self.producer.commit_transaction(self.timeout)
    }

    /// Opens a transaction with the outputs and the offsets, uncommitted.
    fn send_step(&self, outputs: &[Output], next: &Positions) -> Result<(), KafkaError> {
        self.producer.begin_transaction()?;
        for o in outputs {
            let mut record = BaseRecord::to(&o.topic).key(&o.key).payload(&o.payload);
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        self.producer.poll(Duration::from_millis(1));
                    }
                    Err((e, _)) => return Err(e),
                }
            }
        }
        // The group generation first, then the assignment: a rebalance served
        // by a poll since these records were read may have given some of
        // their partitions to another member, which may already have read
        // their committed offsets, so these offsets must not be committed
        // (the step is aborted and its records read again). A rebalance after
        // this point leaves `metadata` with the old generation, which the
        // coordinator refuses.
        let metadata = self
            .consumer
            .group_metadata()
            .ok_or(KafkaError::ConsumerCommit(RDKafkaErrorCode::InvalidArgument))?;
        let assigned = self.consumer.assignment()?;
        if next
            .keys()
            .any(|(topic, partition)| assigned.find_partition(topic, *partition).is_none())
        {
            return Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::IllegalGeneration));
        }
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), next) in next {
            offsets.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
        }
        self.producer
            .send_offsets_to_transaction(&offsets, &metadata, self.timeout)
    }

    /// Seeks back to the group's committed offsets.
    fn rewind(&self) -> Result<(), KafkaError> {
        let committed = self.consumer.committed(self.timeout)?;
        let mut rewind = TopicPartitionList::new();
        for e in committed.elements() {
            let offset = match e.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            rewind.add_partition_offset(e.topic(), e.partition(), offset)?;
        }
        if rewind.count() > 0 {
            self.consumer.seek_partitions(rewind, self.timeout)?;
        }
        Ok(())
    }
}

pub struct KafkaGroupConsumer {
    inner: Arc<GroupInner>,
}

impl KafkaGroupConsumer {
    pub(crate) async fn lag(&self) -> Result<crate::Lag, LogError> {
        let inner = self.inner.clone();
        blocking(move || {
            let assignment = inner.consumer.assignment()?;
            lag_blocking(&inner.consumer, &assignment, LAG_TIMEOUT)
        })
        .await
    }

    pub(crate) async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, LogError> {
        let inner = self.inner.clone();
        blocking(move || poll_blocking(&inner.consumer, max, wait)).await
    }

    pub(crate) async fn commit_step(&mut self, outputs: Vec<Output>, consumed: &[Record]) -> Result<(), LogError> {
        match self.start_step(outputs, consumed).finish().await {
            Err(e @ (LogError::Aborted(_) | LogError::Fenced(_))) => {
                self.rewind().await?;
                Err(e)
            }
            other => other,
        }
    }

    /// The step on the blocking pool; returns at once. A failed step is
    /// aborted, but the consumer is not rewound here: the caller may be
    /// polling meanwhile, and seeking under a concurrent poll can hang
    /// during a rebalance. The caller rewinds once the step has settled.
    pub(crate) fn start_step(&mut self, outputs: Vec<Output>, consumed: &[Record]) -> crate::PendingStep {
        let inner = self.inner.clone();
        let next = next_offsets(consumed);
        // Spawned now (not when first polled), so it runs while the caller
        // goes on.
        let step = tokio::task::spawn_blocking(move || match inner.transaction(&outputs, &next) {
            Ok(()) => Ok(()),
            Err(e) => {
                let fenced = matches!(&e, KafkaError::Transaction(t) if t.is_fatal());
                tracing::warn!(group = %inner.group, error = %e, "transaction failed; aborting it");
                abort(&inner.producer, inner.timeout).map_err(LogError::Kafka)?;
                if fenced {
                    Err(LogError::Fenced(inner.group.clone()))
                } else {
                    Err(LogError::Aborted(e.to_string()))
                }
            }
        });
        crate::PendingStep::new(async move { step.await.map_err(|e| LogError::Task(e.to_string()))? })
    }

    pub(crate) async fn rewind(&mut self) -> Result<(), LogError> {
        let inner = self.inner.clone();
        blocking(move || inner.rewind().map_err(LogError::Kafka)).await
    }
}

impl KafkaGroupConsumer {
    pub(crate) async fn crash_before_commit(
        &mut self,
        outputs: Vec<Output>,
        consumed: &[Record],
    ) -> Result<(), LogError> {
        let inner = self.inner.clone();
        let next = next_offsets(consumed);
        blocking(move || {
            inner.send_step(&outputs, &next)?;
            // Make sure the outputs reach the broker, then stop: no commit, no abort.
            drain(&inner.producer, inner.timeout)?;
            Ok(())
        })
        .await
    }
}

pub struct KafkaReader {
    inner: Arc<BaseConsumer>,
    assignment: TopicPartitionList,
    /// The high watermarks the last successful `read_to_end` reached.
    reached: Positions,
    timeout: Duration,
}

impl KafkaReader {
    pub(crate) async fn lag(&self) -> Result<crate::Lag, LogError> {
        let (inner, assignment) = (self.inner.clone(), self.assignment.clone());
        blocking(move || lag_blocking(&inner, &assignment, LAG_TIMEOUT)).await
    }

    pub(crate) async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, LogError> {
        let inner = self.inner.clone();
        blocking(move || poll_blocking(&inner, max, wait)).await
    }

    /// All or nothing: on an error the reader seeks back to where it was.
    pub(crate) async fn read_to_end(&mut self, out: &mut Vec<Record>) -> Result<(), LogError> {
        let inner = self.inner.clone();
        let assignment = self.assignment.clone();
        let timeout = self.timeout;
        let mut reached = self.reached.clone();
        let (records, reached) = blocking(move || {
            // Where this reader stands, to seek back to on an error.
            let position = inner.position()?;
            let mut rewind = TopicPartitionList::new();
            for e in assignment.elements() {
                let at = position
                    .find_partition(e.topic(), e.partition())
                    .and_then(|p| p.offset().to_raw())
                    .filter(|o| *o >= 0);
                rewind.add_partition_offset(e.topic(), e.partition(), at.map_or(e.offset(), Offset::Offset))?;
            }
            let mut records = Vec::new();
            let read = end_offsets(&inner, &assignment, &mut reached, timeout).and_then(|mut remaining| {
                read_positions(&inner, &mut remaining, timeout, |r| {
                    records.push(r);
                    true
                })
            });
            if read.is_err() {
                inner.seek_partitions(rewind, timeout)?;
            }
            read.map(|()| (records, reached))
        })
        .await?;
        self.reached = reached;
        out.extend(records);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_connection_is_not_a_failed_read() {
        for code in [
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::BrokerTransportFailure,
        ] {
            assert!(dropped_connection(&KafkaError::MessageConsumption(code)), "{code:?}");
        }
        for code in [
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::OffsetOutOfRange,
        ] {
            assert!(!dropped_connection(&KafkaError::MessageConsumption(code)), "{code:?}");
        }
    }
}
