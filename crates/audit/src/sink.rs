//! [`Sink`]: queued audit records and tallies of refused requests, written
//! by a task of their own.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventlog::{Log, Output};
use schemas::{ActorKind, AuditAction, AuditRecord, Outcome};
use tokio::sync::mpsc;

use crate::{output, AuditError, RECORDS_DROPPED};

/// Most bytes of encoded records waiting for the writer; a record that
/// would go past it is dropped (counted under [`RECORDS_DROPPED`]).
pub const MAX_QUEUED_BYTES: usize = 8 << 20;
/// Most distinct refusal tallies per interval; past it, refusals are
/// counted under the overflow tally (actor `*`).
pub const MAX_TALLIES: usize = 10_000;

/// What a refused request is tallied under: refusals with equal keys in one
/// interval become one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalKey {
    /// The tenant, if the request was authenticated far enough to know it.
    pub tenant: Option<String>,
    /// Who was refused (ingest: `ActorKind::Client`).
    pub actor_kind: ActorKind,
    /// The verified actor id (ingest: the client id), or `anonymous`.
    pub actor: String,
    /// The peer's address.
    pub source: Option<IpAddr>,
    /// What was refused.
    pub action: AuditAction,
    /// The stable reason code (`ReasonCode::as_str`), as `details.code`.
    pub reason: &'static str,
    /// A claimed (unverified) actor id of the valid form (ingest: a client
    /// id, `vox_ci_` + 16 hex digits), as `details.claimed_<actor kind>`.
    /// Never free text from the request.
    pub claimed: Option<String>,
}

// By hand: `ActorKind` is not `Hash`. Hashes every field `Eq` compares.
impl std::hash::Hash for RefusalKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let RefusalKey {
            tenant,
            actor_kind,
            actor,
            source,
            action,
            reason,
            claimed,
        } = self;
        tenant.hash(state);
        kind_str(*actor_kind).hash(state);
        actor.hash(state);
        source.hash(state);
        action.hash(state);
        reason.hash(state);
        claimed.hash(state);
    }
}

struct Tally {
    count: u64,
    first: i64,
    last: i64,
    status: u16,
}

/// The refusals of one interval (the pure core of the tallies: no I/O, no
/// clock).
#[derive(Default)]
pub(crate) struct Tallies(HashMap<RefusalKey, Tally>);

impl Tallies {
    /// Counts a refusal at `now` (microseconds) under `key`, or under the
    /// overflow tally once [`MAX_TALLIES`] other keys are held. `status` is
    /// the first refusal's.
    pub(crate) fn add(&mut self, mut key: RefusalKey, status: u16, now: i64) {
        if self.0.len() >= MAX_TALLIES && !self.0.contains_key(&key) {
            key = RefusalKey {
                tenant: None,
                actor: "*".into(),
                source: None,
                claimed: None,
                ..key
            };
        }
        let tally = self.0.entry(key).or_insert(Tally {
            count: 0,
            first: now,
            last: now,
            status,
        });
        tally.count += 1;
        tally.last = now;
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// One record per tally (at the tally's last time), emptying them.
    pub(crate) fn take_records(&mut self, region: &str) -> Vec<AuditRecord> {
        std::mem::take(&mut self.0)
            .into_iter()
            .map(|(key, tally)| {
                let mut details = BTreeMap::from([
                    ("code".to_owned(), key.reason.to_owned()),
                    ("status".to_owned(), tally.status.to_string()),
                    ("count".to_owned(), tally.count.to_string()),
                    ("first_at".to_owned(), tally.first.to_string()),
                    ("last_at".to_owned(), tally.last.to_string()),
                ]);
                if let Some(claimed) = &key.claimed {
                    details.insert(format!("claimed_{}", kind_str(key.actor_kind)), claimed.clone());
                }
                let outcome = if (500..600).contains(&tally.status) {
                    Outcome::Failure
                } else {
                    Outcome::Denied
                };
                let mut record = crate::record(
                    key.tenant.as_deref(),
                    key.actor_kind,
                    &key.actor,
                    key.action,
                    outcome,
                    key.source,
                    region,
                    details,
                );
                record.occurred_at = tally.last;
                record
            })
            .collect()
    }
}

/// `ActorKind` as it is spelled in the schema.
fn kind_str(kind: ActorKind) -> &'static str {
    match kind {
        ActorKind::Client => "client",
        ActorKind::User => "user",
        ActorKind::Operator => "operator",
        ActorKind::System => "system",
    }
}

struct Queue {
    /// None once closed (shutdown): later records are counted as dropped.
    tx: Option<mpsc::UnboundedSender<Output>>,
    tallies: Tallies,
}

/// A component's way onto `vox.audit` for records that need not hold up an
/// answer: a queue bounded by bytes and a writer task, plus the tallies of
/// refused requests, written every interval. Best effort: what cannot be
/// queued or written is counted under [`RECORDS_DROPPED`] and logged. For
/// records that must be durable first, [`Sink::durable`].
pub struct Sink {
    queue: Mutex<Queue>,
    queued_bytes: Arc<AtomicUsize>,
    log: Log,
    topic: String,
    region: String,
    /// Wakes the tally task at shutdown, so that it does not wait for its
    /// next interval (a node would otherwise take up to one interval to stop).
    closed: tokio::sync::Notify,
}

impl Sink {
    /// Starts the writer task and the task that writes the tallies every
    /// `interval`, for records on `topic` made in `region`. The handle ends
    /// once the sink is closed ([`Sink::close`]) and what it held is written
    /// (or dropped after three failed appends): await it at shutdown, with a
    /// timeout. Must be called within a Tokio runtime.
    pub fn spawn(
        log: Log,
        topic: impl Into<String>,
        region: impl Into<String>,
        interval: Duration,
    ) -> (Arc<Sink>, tokio::task::JoinHandle<()>) {
        // The series exists from start-up, at zero.
        metrics::counter!(RECORDS_DROPPED).increment(0);
        let (tx, mut rx) = mpsc::unbounded_channel::<Output>();
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let sink = Arc::new(Sink {
            queue: Mutex::new(Queue {
                tx: Some(tx),
                tallies: Tallies::default(),
            }),
            queued_bytes: queued_bytes.clone(),
            log: log.clone(),
            topic: topic.into(),
            region: region.into(),
            closed: tokio::sync::Notify::new(),
        });
        let writer = tokio::spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, 500).await > 0 {
                let outputs: Vec<Output> = std::mem::take(&mut batch);
                let n = outputs.len();
                let bytes: usize = outputs.iter().map(|o| o.payload.len()).sum();
                let mut attempt = 0;
                while let Err(e) = log.append(outputs.clone()).await {
                    attempt += 1;
                    if attempt == 3 {
                        tracing::error!(error = %e, records = n, "audit records could not be written");
                        metrics::counter!(RECORDS_DROPPED).increment(n as u64);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
            }
        });
        let flusher = tokio::spawn({
            let sink = sink.clone();
            async move {
                let mut tick = tokio::time::interval(interval);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        // `close` wrote the tallies and closed the queue.
                        _ = sink.closed.notified() => break,
                    }
                    if !sink.flush_tallies() {
                        break;
                    }
                }
            }
        });
        let task = tokio::spawn(async move {
            let _ = flusher.await;
            let _ = writer.await;
        });
        (sink, task)
    }

    /// Writes the tallies, then closes the queue: the tasks end once the
    /// writer has written what the queue holds. Later [`Sink::record`]s and
    /// tallies are dropped (counted); [`Sink::durable`] still works.
    pub fn close(&self) {
        self.flush_tallies();
        self.lock().tx.take();
        // A permit is kept if the task is not waiting yet.
        self.closed.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a record (best effort: a record that need not travel with log
    /// records of its own nor be durable before an answer). Returns at once;
    /// a record that does not fit in [`MAX_QUEUED_BYTES`], comes after
    /// [`Sink::close`] or cannot be written is counted under
    /// [`RECORDS_DROPPED`] and logged.
    pub fn record(&self, record: AuditRecord) {
        let Some(output) = output(&self.topic, &record) else {
            return;
        };
        let queue = self.lock();
        self.enqueue(&queue, output);
    }

    /// Appends `records` to the sink's topic and returns once they are
    /// durable: [`crate::append_durable`] on the sink's log, bypassing the
    /// queue (so not ordered with queued records).
    pub async fn durable(&self, records: &[AuditRecord]) -> Result<(), AuditError> {
        crate::append_durable(&self.log, &self.topic, records).await
    }

    fn enqueue(&self, queue: &Queue, output: Output) {
        let bytes = output.payload.len();
        let sent = match &queue.tx {
            Some(tx) if self.queued_bytes.load(Ordering::Acquire) + bytes <= MAX_QUEUED_BYTES => {
                self.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
                tx.send(output).is_ok()
            }
            _ => false,
        };
        if !sent {
            tracing::error!("the audit queue is full or closed; a record was dropped");
            metrics::counter!(RECORDS_DROPPED).increment(1);
        }
    }

    /// Counts a refused request under its tally; `status` is the HTTP
    /// status it was answered with (5xx: outcome `failure`, else `denied`).
    /// Written as one record per tally at the next interval or at
    /// [`Sink::close`].
    pub fn refused(&self, key: RefusalKey, status: u16) {
        let now = schemas::clock::now_micros();
        let mut queue = self.lock();
        if queue.tx.is_none() {
            // Closed: its tallies would never be written.
            tracing::error!("the audit sink is closed; a refused request was not tallied");
            metrics::counter!(RECORDS_DROPPED).increment(1);
            return;
        }
        queue.tallies.add(key, status, now);
    }

    /// Turns the tallies into records; false once the sink is closed.
    fn flush_tallies(&self) -> bool {
        let mut queue = self.lock();
        for record in queue.tallies.take_records(&self.region) {
            if let Some(output) = output(&self.topic, &record) {
                self.enqueue(&queue, output);
            }
        }
        queue.tx.is_some()
    }
}
