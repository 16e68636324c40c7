//! Audit records of the ingest node on `vox.audit`.
//!
//! * A batch's record is appended together with its items (durable when the
//!   client hears back).
//! * Refused requests are not recorded one by one (a flood of bad
//!   signatures must not be able to fill the log): they are tallied per
//!   (tenant, actor, source address, action, reason, claimed client id) and
//!   written as one record per tally and interval, with the count and the
//!   first and last time. At most [`MAX_TALLIES`] tallies are kept per
//!   interval; past that, refusals are counted under an overflow tally with
//!   actor `*` and no address.
//! * Records go through a queue bounded by bytes ([`MAX_QUEUED_BYTES`]) to a
//!   writer task; a record that cannot be queued or written is counted
//!   (`vox_audit_records_dropped_total`) and logged.
//!
//! A record never carries a secret, a body, or an identifier from a request
//! that was not verified, except a claimed client id of the valid form
//! (`vox_ci_` + 16 hex digits).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventlog::{Log, Output};
use schemas::{ActorKind, AuditAction, AuditRecord, Outcome};
use tokio::sync::mpsc;

/// Most bytes of encoded records waiting for the writer.
pub const MAX_QUEUED_BYTES: usize = 8 << 20;
/// Most distinct refusal tallies per interval.
pub const MAX_TALLIES: usize = 10_000;

/// What a refused request is tallied under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RefusalKey {
    pub(crate) tenant: Option<String>,
    /// The verified client id, or `anonymous`.
    pub(crate) actor: String,
    pub(crate) source: Option<IpAddr>,
    pub(crate) action: AuditAction,
    pub(crate) reason: &'static str,
    /// A claimed (unverified) client id of the valid form.
    pub(crate) claimed: Option<String>,
}

struct Tally {
    count: u64,
    first: i64,
    last: i64,
    status: u16,
}

struct Queue {
    /// None once closed (shutdown): later records are counted as dropped.
    tx: Option<mpsc::UnboundedSender<Output>>,
    tallies: HashMap<RefusalKey, Tally>,
}

pub(crate) struct AuditSink {
    queue: Mutex<Queue>,
    queued_bytes: Arc<AtomicUsize>,
    topic: String,
    region: String,
    /// Wakes the tally task at shutdown, so that it does not wait for its
    /// next interval (a node would otherwise take up to one interval to stop).
    closed: tokio::sync::Notify,
}

impl AuditSink {
    /// Starts the writer task and the task that writes the tallies every
    /// `interval`; both end once the sink is closed and what it holds is
    /// written.
    pub(crate) fn spawn(
        log: Log,
        topic: String,
        region: String,
        interval: Duration,
    ) -> (Arc<AuditSink>, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Output>();
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let sink = Arc::new(AuditSink {
            queue: Mutex::new(Queue {
                tx: Some(tx),
                tallies: HashMap::new(),
            }),
            queued_bytes: queued_bytes.clone(),
            topic,
            region,
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
                        metrics::counter!(crate::telemetry::AUDIT_DROPPED).increment(n as u64);
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
    /// writer has written what the queue holds.
    pub(crate) fn close(&self) {
        self.flush_tallies();
        self.lock().tx.take();
        // A permit is kept if the task is not waiting yet.
        self.closed.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a record (a refused request's tally, or a record that need not
    /// travel with log records of its own).
    pub(crate) fn record(&self, record: AuditRecord) {
        let Some(output) = output(&self.topic, &record) else {
            return;
        };
        let queue = self.lock();
        self.enqueue(&queue, output);
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
            metrics::counter!(crate::telemetry::AUDIT_DROPPED).increment(1);
        }
    }

    /// Counts a refused request under its tally.
    pub(crate) fn refused(&self, mut key: RefusalKey, status: u16) {
        let now = schemas::clock::now_micros();
        let mut queue = self.lock();
        if queue.tallies.len() >= MAX_TALLIES && !queue.tallies.contains_key(&key) {
            key = RefusalKey {
                tenant: None,
                actor: "*".into(),
                source: None,
                claimed: None,
                ..key
            };
        }
        let tally = queue.tallies.entry(key).or_insert(Tally {
            count: 0,
            first: now,
            last: now,
            status,
        });
        tally.count += 1;
        tally.last = now;
    }

    /// Turns the tallies into records; false once the sink is closed.
    fn flush_tallies(&self) -> bool {
        let mut queue = self.lock();
        let tallies = std::mem::take(&mut queue.tallies);
        for (key, tally) in tallies {
            let mut details = BTreeMap::from([
                ("code".to_owned(), key.reason.to_owned()),
                ("status".to_owned(), tally.status.to_string()),
                ("count".to_owned(), tally.count.to_string()),
                ("first_at".to_owned(), tally.first.to_string()),
                ("last_at".to_owned(), tally.last.to_string()),
            ]);
            if let Some(claimed) = &key.claimed {
                details.insert("claimed_client".to_owned(), claimed.clone());
            }
            let outcome = if (500..600).contains(&tally.status) {
                Outcome::Failure
            } else {
                Outcome::Denied
            };
            let mut record = record(
                key.tenant.as_deref(),
                &key.actor,
                key.action,
                outcome,
                key.source,
                &self.region,
                details,
            );
            record.occurred_at = tally.last;
            if let Some(output) = output(&self.topic, &record) {
                self.enqueue(&queue, output);
            }
        }
        queue.tx.is_some()
    }
}

/// The log record of an audit record (key: the tenant, or `-`).
pub(crate) fn output(topic: &str, record: &AuditRecord) -> Option<Output> {
    match schemas::encode(record) {
        Ok(payload) => Some(Output {
            topic: topic.to_owned(),
            key: record.tenant_id.as_deref().unwrap_or("-").as_bytes().to_vec(),
            payload,
        }),
        Err(e) => {
            tracing::error!(error = %e, "encoding an audit record failed");
            metrics::counter!(crate::telemetry::AUDIT_DROPPED).increment(1);
            None
        }
    }
}

/// An audit record of a client's request. Never carries secrets or bodies.
pub(crate) fn record(
    tenant: Option<&str>,
    actor_id: &str,
    action: AuditAction,
    outcome: Outcome,
    source: Option<IpAddr>,
    region: &str,
    details: BTreeMap<String, String>,
) -> AuditRecord {
    AuditRecord {
        audit_id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.map(str::to_owned),
        occurred_at: schemas::clock::now_micros(),
        actor_kind: ActorKind::Client,
        actor_id: actor_id.to_owned(),
        action: action.as_str().to_owned(),
        resource: None,
        outcome,
        source_address: source.map(|ip| ip.to_string()),
        region: region.to_owned(),
        details,
    }
}
