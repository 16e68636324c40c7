//! The log seam. Two implementations behind one enum:
//!
//! * [`SqliteLog`]: the embedded log, one SQLite file in WAL mode. Every topic
//!   has a single partition; consumer groups keep their offsets in the same
//!   file, so a transactional step is one SQLite transaction.
//! * [`KafkaLog`]: Apache Kafka via rdkafka. Appends use an idempotent
//!   producer with `acks=all`; group consumers read `read_committed` and
//!   commit through Kafka transactions together with their outputs.
//!
//! Both give the same guarantees to the roles: an append returns only once
//! every record is durable; a transactional step publishes its outputs and
//! moves the group's offsets atomically, or does neither.
//!
//! Retention: a topic named in the [`Retention`] a log is built with keeps
//! its records for that long (Kafka: the topic's `retention.ms`; SQLite: a
//! background task deletes older records); every other topic keeps them for
//! ever. Readers and group consumers positioned before records that are
//! gone continue at the oldest record that is left.

mod kafka;
mod sqlite;

use std::collections::BTreeMap;
use std::time::Duration;

pub use kafka::{EnsuredTopics, KafkaLog, KafkaSecurity, KafkaSettings, RetentionCorrected};
pub use sqlite::{durable_pool, SqliteLog, MMAP_BYTES};

/// A poll returns at most about this many bytes of keys and payloads (it
/// stops after the record that crosses it), whatever its record limit.
pub const MAX_POLL_BYTES: usize = 16 << 20;

/// A record read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
}

/// A record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub topic: String,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
}

/// Where an appended record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub partition: i32,
    pub offset: i64,
}

/// Next offset to read, per (topic, partition).
pub type Positions = BTreeMap<(String, i32), i64>;

/// How long each topic keeps its records, by full topic name (namespace
/// prefix included). A topic not named keeps its records for ever. Given
/// to a log when it is built ([`KafkaSettings::retention`],
/// [`SqliteLog::open_with`]).
pub type Retention = BTreeMap<String, Duration>;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("embedded log (SQLite) failed: {0}")]
    Sqlite(#[from] sqlx::Error),
    #[error("embedded log migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("Kafka failed: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("topic '{0}' does not exist; `vox topics ensure` creates the topics (and a role creates missing ones at start where it may)")]
    UnknownTopic(String),
    /// Topics a role needs do not exist and its principal may not create them.
    #[error("{0}")]
    TopicsMissing(String),
    #[error("the log did not acknowledge within {0:?}")]
    Timeout(Duration),
    #[error("another consumer of group '{0}' committed first; this consumer was fenced and must restart")]
    Fenced(String),
    #[error("the transaction was aborted and the consumer rewound to the last committed offsets: {0}")]
    Aborted(String),
    #[error("a background task of the log failed: {0}")]
    Task(String),
    #[error("topic '{0}' changed since it was read (another writer appended first); read it again and retry")]
    Conflict(String),
}

/// The log: embedded SQLite or Kafka.
#[derive(Clone)]
pub enum Log {
    Sqlite(SqliteLog),
    Kafka(KafkaLog),
}

impl Log {
    /// Creates the topics that do not exist (Kafka: with the configured
    /// partition count and replication factor), with the log's
    /// [`Retention`]. Kafka: reads the topics' metadata first and asks to
    /// create only missing ones (a principal without Create passes when its
    /// topics exist; a missing one it may not create is
    /// [`LogError::TopicsMissing`]); an existing topic's retention is
    /// corrected only when `KafkaSettings::correct_retention` is on (`vox
    /// topics ensure`).
    pub async fn ensure_topics(&self, topics: &[String]) -> Result<(), LogError> {
        match self {
            Log::Sqlite(l) => l.ensure_topics(topics).await,
            Log::Kafka(l) => l.ensure_topics(topics).await,
        }
    }

    /// Appends records and returns only once every one is durable (SQLite:
    /// committed; Kafka: acknowledged by all in-sync replicas). On error, some
    /// records may have been written (Kafka), none reported as accepted.
    pub async fn append(&self, records: Vec<Output>) -> Result<Vec<Appended>, LogError> {
        match self {
            Log::Sqlite(l) => l.append(records).await,
            Log::Kafka(l) => l.append(records).await,
        }
    }

    /// Compare-and-set: appends `outputs` (all to `topic`) only if nothing
    /// was appended to `topic` after `seen`, the positions a reader had when
    /// it last read the topic to its end (per partition: the offset after
    /// the last record read; a partition not named: nothing read). Fails
    /// with [`LogError::Conflict`], appending nothing, otherwise. Concurrent
    /// conditional appends to one topic are serialised: SQLite, one write
    /// transaction; Kafka, a transactional producer whose id is the topic's,
    /// so a later writer fences an earlier one until it has committed.
    pub async fn append_if_unchanged(
        &self,
        topic: &str,
        seen: &Positions,
        outputs: Vec<Output>,
    ) -> Result<(), LogError> {
        match self {
            Log::Sqlite(l) => l.append_if_unchanged(topic, seen, outputs).await,
            Log::Kafka(l) => l.append_if_unchanged(topic, seen, outputs).await,
        }
    }

    /// Records handed to the log client but not yet acknowledged (Kafka's
    /// producer queue; always 0 for SQLite, whose appends are synchronous).
    pub fn queue_depth(&self) -> usize {
        match self {
            Log::Sqlite(_) => 0,
            Log::Kafka(l) => l.queue_depth(),
        }
    }

    /// Waits until every record handed to the log client is acknowledged
    /// (graceful shutdown).
    pub async fn flush(&self, timeout: Duration) -> Result<(), LogError> {
        match self {
            Log::Sqlite(_) => Ok(()),
            Log::Kafka(l) => l.flush(timeout).await,
        }
    }

    /// A member of consumer group `group` reading `topics` from the group's
    /// committed offsets (or the beginning). Its progress moves only through
    /// [`GroupConsumer::commit_step`].
    pub async fn group_consumer(&self, group: &str, topics: &[String]) -> Result<GroupConsumer, LogError> {
        Ok(match self {
            Log::Sqlite(l) => GroupConsumer::Sqlite(l.group_consumer(group, topics).await?),
            Log::Kafka(l) => GroupConsumer::Kafka(l.group_consumer(group, topics).await?),
        })
    }

    /// A reader of every partition of `topics`, starting at `start` (the
    /// beginning for partitions not named). Keeps no state in the log: the
    /// caller stores its positions (the projector, in its own database).
    pub async fn reader(&self, topics: &[String], start: &Positions) -> Result<Reader, LogError> {
        Ok(match self {
            Log::Sqlite(l) => Reader::Sqlite(l.reader(topics, start)),
            Log::Kafka(l) => Reader::Kafka(l.reader(topics, start).await?),
        })
    }

    /// Reads every record of `topic` that exists now, from the beginning (for
    /// small topics such as `vox.config`).
    pub async fn read_all(&self, topic: &str) -> Result<Vec<Record>, LogError> {
        let mut reader = self.reader(&[topic.to_owned()], &Positions::new()).await?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await?;
        Ok(out)
    }
}

/// See [`Log::group_consumer`].
pub enum GroupConsumer {
    Sqlite(sqlite::SqliteGroupConsumer),
    Kafka(kafka::KafkaGroupConsumer),
}

/// Records not yet read, per (topic, partition): the log's end minus the
/// reader's position. On Kafka the end is the high watermark, which also
/// counts transaction markers and records of aborted transactions.
pub type Lag = Vec<(String, i32, i64)>;

/// A lag gauge: measures a consumer's lag every `interval` (a round trip
/// to the brokers on Kafka) and sets `metric` per partition (labels `topic`
/// and `partition`); a partition the consumer no longer owns goes to zero,
/// so that the sum over all consumers stays true. The processor's and the
/// projector's lag metrics.
pub struct LagGauge {
    metric: &'static str,
    interval: Duration,
    measured: Option<std::time::Instant>,
    owned: std::collections::BTreeSet<(String, i32)>,
}

impl LagGauge {
    pub fn new(metric: &'static str, interval: Duration) -> LagGauge {
        LagGauge {
            metric,
            interval,
            measured: None,
            owned: Default::default(),
        }
    }

    /// Whether it is time to measure again.
    pub fn due(&self) -> bool {
        self.measured.is_none_or(|at| at.elapsed() >= self.interval)
    }

    /// Records a measurement (an empty one, from a consumer that owns no
    /// partition yet, is measured again next time).
    pub fn record(&mut self, measured: Result<Lag, LogError>) {
        self.measured = Some(std::time::Instant::now());
        let lag = match measured {
            Ok(lag) => lag,
            Err(e) => {
                tracing::warn!(metric = self.metric, error = %e, "measuring the lag failed");
                return;
            }
        };
        if lag.is_empty() {
            self.measured = None;
        }
        let now: std::collections::BTreeSet<(String, i32)> = lag.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
        for (topic, partition) in self.owned.difference(&now) {
            metrics::gauge!(self.metric, "topic" => topic.clone(), "partition" => partition.to_string()).set(0.0);
        }
        for (topic, partition, n) in &lag {
            metrics::gauge!(self.metric, "topic" => topic.clone(), "partition" => partition.to_string()).set(*n as f64);
        }
        self.owned = now;
    }
}

impl GroupConsumer {
    /// What is left to read on the partitions this consumer owns now (a
    /// round trip to the brokers on Kafka: call it every few seconds, not
    /// per record).
    pub async fn lag(&self) -> Result<Lag, LogError> {
        match self {
            GroupConsumer::Sqlite(c) => c.lag().await,
            GroupConsumer::Kafka(c) => c.lag().await,
        }
    }

    /// Up to `max` records (and about [`MAX_POLL_BYTES`]), waiting at most
    /// `wait` for the first one and then taking only what has arrived.
    pub async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, LogError> {
        match self {
            GroupConsumer::Sqlite(c) => c.poll(max, wait).await,
            GroupConsumer::Kafka(c) => c.poll(max, wait).await,
        }
    }

    /// The transactional step: appends `outputs` and commits the group's
    /// offsets past every record in `consumed`, atomically. On error nothing
    /// is visible to `read_committed` readers and the consumer is rewound to
    /// the last committed offsets, so the same records are polled again.
    pub async fn commit_step(&mut self, outputs: Vec<Output>, consumed: &[Record]) -> Result<(), LogError> {
        match self {
            GroupConsumer::Sqlite(c) => c.commit_step(outputs, consumed).await,
            GroupConsumer::Kafka(c) => c.commit_step(outputs, consumed).await,
        }
    }

    /// [`GroupConsumer::commit_step`] that returns as soon as the step is
    /// under way (Kafka: its transaction runs on the blocking pool; SQLite:
    /// it is done before this returns), so that the caller can poll and
    /// prepare the next step meanwhile. Finish it before starting another.
    /// If it fails, the records polled meanwhile must be dropped and
    /// [`GroupConsumer::rewind`] called before the next poll: they come again.
    pub async fn start_step(&mut self, outputs: Vec<Output>, consumed: &[Record]) -> PendingStep {
        match self {
            GroupConsumer::Sqlite(c) => {
                let result = c.commit_step(outputs, consumed).await;
                PendingStep::new(async move { result })
            }
            GroupConsumer::Kafka(c) => c.start_step(outputs, consumed),
        }
    }

    /// Moves the consumer back to the group's committed offsets.
    pub async fn rewind(&mut self) -> Result<(), LogError> {
        match self {
            GroupConsumer::Sqlite(c) => c.rewind().await,
            GroupConsumer::Kafka(c) => c.rewind().await,
        }
    }

    /// Failure injection for the conformance tests: performs a step up to,
    /// but not including, its commit, and stops there as a crashed process
    /// would (SQLite: the transaction is never committed; Kafka: the outputs
    /// are in the log inside a transaction that is never committed). Drop
    /// the consumer afterwards.
    #[doc(hidden)]
    pub async fn crash_before_commit(&mut self, outputs: Vec<Output>, consumed: &[Record]) -> Result<(), LogError> {
        match self {
            GroupConsumer::Sqlite(c) => c.crash_before_commit(outputs, consumed).await,
            GroupConsumer::Kafka(c) => c.crash_before_commit(outputs, consumed).await,
        }
    }
}

/// A transactional step under way (see [`GroupConsumer::start_step`]).
pub struct PendingStep(std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), LogError>> + Send>>);

impl PendingStep {
    fn new(step: impl std::future::Future<Output = Result<(), LogError>> + Send + 'static) -> PendingStep {
        PendingStep(Box::pin(step))
    }

    /// Waits until the step has committed, or failed as
    /// [`GroupConsumer::commit_step`] fails.
    pub async fn finish(self) -> Result<(), LogError> {
        self.0.await
    }
}

/// See [`Log::reader`].
pub enum Reader {
    Sqlite(sqlite::SqliteReader),
    Kafka(kafka::KafkaReader),
}

impl Reader {
    /// What is left to read on every partition of the reader (see
    /// [`GroupConsumer::lag`]).
    pub async fn lag(&self) -> Result<Lag, LogError> {
        match self {
            Reader::Sqlite(r) => r.lag().await,
            Reader::Kafka(r) => r.lag().await,
        }
    }

    /// Up to `max` records, waiting at most `wait` for the first one.
    pub async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, LogError> {
        match self {
            Reader::Sqlite(r) => r.poll(max, wait).await,
            Reader::Kafka(r) => r.poll(max, wait).await,
        }
    }

    /// Reads until the reader has passed every record that existed when the
    /// call began (on Kafka, also past transaction markers).
    pub async fn read_to_end(&mut self, out: &mut Vec<Record>) -> Result<(), LogError> {
        match self {
            Reader::Sqlite(r) => r.read_to_end(out).await,
            Reader::Kafka(r) => r.read_to_end(out).await,
        }
    }
}

/// Next offsets per partition after `consumed`.
pub(crate) fn next_offsets(consumed: &[Record]) -> Positions {
    let mut next = Positions::new();
    for r in consumed {
        let e = next.entry((r.topic.clone(), r.partition)).or_insert(r.offset + 1);
        *e = (*e).max(r.offset + 1);
    }
    next
}
