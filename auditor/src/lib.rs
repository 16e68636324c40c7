//! The auditor: reads `vox.audit` and appends each record to its tenant's
//! tamper-evident log (or the installation's, for records of no tenant), an
//! RFC 6962 Merkle tree kept in the store; every `checkpoint_interval`
//! while a log has grown, it signs a C2SP checkpoint of it with the
//! installation's Ed25519 key.
//!
//! Exactly once and deterministic: a leaf's data is the record's bytes as
//! they are on `vox.audit`, in log order (one tenant's records are in one
//! partition: the key is the tenant), and each step appends its leaves,
//! the stored hashes they add, every log's new size and frontier and the
//! input offsets in one store transaction, each moved with a
//! compare-and-set. A restart (even after SIGKILL) resumes at the stored
//! offsets with the stored frontiers: no gap and no leaf twice; a rebuild
//! from offset zero gives the same trees.
//!
//! Nothing is dropped: bytes that are not an `AuditRecord` become a leaf
//! too (action `unreadable`, in the log their key names), so that what was
//! on `vox.audit` is what the log holds.
//!
//! [`verify`] recomputes a log from its records and checks it against
//! every checkpoint and a checkpoint saved earlier; [`export`] writes a log
//! in the layout README documents, for verifiers outside Vox.

pub mod keyfile;
pub mod telemetry;
mod verify;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use auditlog::{Frontier, SigningKey};
use eventlog::{Log, LogError, Positions, Record};
use schemas::{AuditRecord, Topic};
use store::{AuditCheckpointRow, AuditLeaf, AuditLogMove, AuditStep, OffsetMove, Store, StoreError, AUDITOR};

pub use verify::{
    consistency_proof, export, inclusion_proof, replay, verify, Divergence, ExportSummary, Verified, VerifyError,
};

/// The action stored for bytes on `vox.audit` that are not an `AuditRecord`.
pub const UNREADABLE: &str = "unreadable";

#[derive(Clone)]
pub struct AuditorSettings {
    /// Prefix of every topic name (empty in production).
    pub namespace: String,
    /// Most records written in one transaction.
    pub batch_size: usize,
    /// How long one poll waits for records.
    pub poll_wait: Duration,
    /// How often a log that has grown gets a new checkpoint.
    pub checkpoint_interval: Duration,
    /// The key that signs checkpoints; its name starts each log's origin.
    pub key: Arc<SigningKey>,
    /// Set once the auditor has read its stored state and started reading.
    pub ready: Arc<AtomicBool>,
}

impl AuditorSettings {
    pub fn new(namespace: impl Into<String>, key: SigningKey) -> AuditorSettings {
        AuditorSettings {
            namespace: namespace.into(),
            batch_size: 5000,
            poll_wait: Duration::from_millis(200),
            checkpoint_interval: Duration::from_secs(10),
            key: Arc::new(key),
            ready: Arc::new(AtomicBool::new(false)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditorError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the audit log state in the store cannot be read: {0}")]
    State(String),
    #[error("signing a checkpoint failed: {0}")]
    Sign(String),
}

/// The origin line of a log's checkpoints: `<key name>/<log id>` (the log
/// id is the tenant id, or `-` for the installation's log).
pub fn origin(key_name: &str, log_id: &str) -> String {
    format!("{key_name}/{log_id}")
}

/// The log a record belongs to: its tenant, or the installation's (`-`).
/// For bytes that are not a record, the log record's key when it is a
/// plausible tenant id (what `audit::encode` writes), else the
/// installation's.
fn log_of(record: Option<&AuditRecord>, key: &[u8]) -> String {
    match record {
        Some(r) => r
            .tenant_id
            .clone()
            .unwrap_or_else(|| store::INSTALLATION_LOG.to_owned()),
        None => match std::str::from_utf8(key) {
            Ok(k) if is_log_id(k) => k.to_owned(),
            _ => store::INSTALLATION_LOG.to_owned(),
        },
    }
}

/// Whether `text` can name a log: `-`, or 1–64 ASCII letters, digits, `_`,
/// `-` and `.` (every tenant id is).
pub fn is_log_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The logs' frontiers as the auditor holds them between steps.
pub type Frontiers = HashMap<String, Frontier>;

/// Reads every log's frontier from the store.
pub async fn load_frontiers(store: &Store) -> Result<Frontiers, AuditorError> {
    let mut out = Frontiers::new();
    for state in store.audit_logs().await? {
        let frontier = Frontier::from_bytes(&state.frontier)
            .map_err(|e| AuditorError::State(format!("log '{}': {e}", state.log_id)))?;
        if frontier.size() != state.size {
            return Err(AuditorError::State(format!(
                "log '{}' has size {} but its frontier is of size {}",
                state.log_id,
                state.size,
                frontier.size()
            )));
        }
        out.insert(state.log_id, frontier);
    }
    Ok(out)
}

/// Turns a batch of `vox.audit` records into one step, starting from
/// `frontiers` and `positions` (neither is changed; the step's logs carry
/// the new frontiers). Pure.
pub fn step(frontiers: &Frontiers, positions: &Positions, records: &[Record]) -> (AuditStep, Frontiers) {
    let mut grown: Frontiers = Frontiers::new();
    let mut step = AuditStep::default();
    let mut moves: Positions = Positions::new();
    for r in records {
        let next = moves.entry((r.topic.clone(), r.partition)).or_insert(r.offset + 1);
        *next = (*next).max(r.offset + 1);
        let decoded = schemas::decode::<AuditRecord>(&r.payload).ok();
        let log_id = log_of(decoded.as_ref(), &r.key);
        let (occurred_at, action) = match &decoded {
            Some(d) => (d.occurred_at, schemas::text::sanitize(&d.action)),
            None => (0, UNREADABLE.to_owned()),
        };
        let frontier = grown
            .entry(log_id.clone())
            .or_insert_with(|| frontiers.get(&log_id).cloned().unwrap_or_default());
        let index = frontier.size();
        for (id, hash) in frontier.append(&r.payload) {
            step.hashes.push((log_id.clone(), id, hash.0));
        }
        step.leaves.push(AuditLeaf {
            log_id,
            index,
            occurred_at,
            action,
            data: r.payload.clone(),
        });
    }
    let mut logs: BTreeMap<&String, &Frontier> = BTreeMap::new();
    logs.extend(grown.iter());
    step.logs = logs
        .into_iter()
        .map(|(log_id, frontier)| AuditLogMove {
            log_id: log_id.clone(),
            from: frontiers.get(log_id).map(Frontier::size).unwrap_or_default(),
            to: frontier.size(),
            frontier: frontier.to_bytes(),
        })
        .collect();
    step.offsets = moves
        .into_iter()
        .map(|((topic, partition), to)| OffsetMove {
            from: positions.get(&(topic.clone(), partition)).copied().unwrap_or(0),
            topic,
            partition,
            to,
        })
        .collect();
    (step, grown)
}

/// Appends `records` (read from `vox.audit` at `positions`) as one step
/// ([`step`], [`Store::apply_audit`]); once it is written, `frontiers` and
/// `positions` move past it. Returns the leaves appended and how many of
/// them are unreadable.
pub async fn append(
    store: &Store,
    frontiers: &mut Frontiers,
    positions: &mut Positions,
    records: &[Record],
) -> Result<(u64, u64), StoreError> {
    let (step, grown) = step(frontiers, positions, records);
    store.apply_audit(&step).await?;
    for m in &step.offsets {
        positions.insert((m.topic.clone(), m.partition), m.to);
    }
    frontiers.extend(grown);
    let unreadable = step.leaves.iter().filter(|l| l.action == UNREADABLE).count() as u64;
    Ok((step.leaves.len() as u64, unreadable))
}

/// Signs a checkpoint of the log `log_id` as `frontier` has it (origin
/// [`origin`]) and stores it. Fails with a store error the data refused
/// when the log has a checkpoint of that size.
pub async fn sign_checkpoint(
    store: &Store,
    key: &SigningKey,
    log_id: &str,
    frontier: &Frontier,
) -> Result<(), AuditorError> {
    let root = frontier.root();
    let note = key
        .sign_checkpoint(&origin(key.name(), log_id), frontier.size(), root)
        .map_err(|e| AuditorError::Sign(e.to_string()))?;
    let row = AuditCheckpointRow {
        log_id: log_id.to_owned(),
        size: frontier.size(),
        root: root.0,
        note,
        signed_at: schemas::clock::now_micros(),
    };
    store.add_audit_checkpoint(&row).await?;
    Ok(())
}

/// Signs checkpoints of the logs that have grown, at most one per log per
/// interval.
struct Checkpointer {
    key: Arc<SigningKey>,
    interval: Duration,
    /// Per log: the size of its newest checkpoint and when this process
    /// signed it (`None`: before this process started).
    signed: HashMap<String, (u64, Option<Instant>)>,
}

impl Checkpointer {
    async fn load(store: &Store, key: Arc<SigningKey>, interval: Duration) -> Result<Checkpointer, AuditorError> {
        let signed = store
            .latest_audit_checkpoints()
            .await?
            .into_iter()
            .map(|c| (c.log_id, (c.size, None)))
            .collect();
        Ok(Checkpointer { key, interval, signed })
    }

    /// Signs and stores a checkpoint of every log that has grown since its
    /// last one, when that one is at least an interval old.
    async fn sign_due(&mut self, store: &Store, frontiers: &Frontiers) -> Result<(), AuditorError> {
        let mut logs: Vec<(&String, &Frontier)> = frontiers.iter().collect();
        logs.sort_by(|a, b| a.0.cmp(b.0));
        for (log_id, frontier) in logs {
            let (size, at) = self.signed.get(log_id).copied().unwrap_or((0, None));
            if frontier.size() <= size || at.is_some_and(|at| at.elapsed() < self.interval) {
                continue;
            }
            match sign_checkpoint(store, &self.key, log_id, frontier).await {
                Ok(()) => {
                    metrics::counter!(telemetry::CHECKPOINTS).increment(1);
                    tracing::info!(log = %log_id, size = frontier.size(), "audit checkpoint signed");
                }
                // Another instance signed this size first: the same tree, so
                // the same root; nothing is lost.
                Err(AuditorError::Store(e)) if e.is_refused_data() => {
                    tracing::warn!(log = %log_id, size = frontier.size(), error = %e, "a checkpoint of this size exists");
                }
                Err(e) => return Err(e),
            }
            self.signed
                .insert(log_id.clone(), (frontier.size(), Some(Instant::now())));
        }
        Ok(())
    }
}

/// How often the lag metric is measured.
const LAG_INTERVAL: Duration = Duration::from_secs(5);

/// Runs until `shutdown` completes, resuming from the state in the store.
pub async fn run(
    log: Log,
    store: Store,
    settings: AuditorSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AuditorError> {
    let topics = [Topic::Audit.name(&settings.namespace)];
    log.ensure_topics(&topics).await?;
    let mut positions: Positions = store
        .positions(AUDITOR)
        .await?
        .into_iter()
        .map(|(t, p, o)| ((t, p), o))
        .collect();
    let mut frontiers = load_frontiers(&store).await?;
    let mut checkpoints = Checkpointer::load(&store, settings.key.clone(), settings.checkpoint_interval).await?;
    let mut reader = log.reader(&topics, &positions).await?;
    telemetry::register();
    settings.ready.store(true, Ordering::Release);
    tracing::info!(?positions, logs = frontiers.len(), key = %settings.key.verifier_key(), "auditor started");
    tokio::pin!(shutdown);
    let mut lag = eventlog::LagGauge::new(telemetry::LAG, LAG_INTERVAL);
    loop {
        if lag.due() {
            lag.record(reader.lag().await);
        }
        let records = tokio::select! {
            _ = &mut shutdown => break,
            polled = reader.poll(settings.batch_size, settings.poll_wait) => polled?,
        };
        if !records.is_empty() {
            let started = Instant::now();
            let (leaves, unreadable) = append(&store, &mut frontiers, &mut positions, &records).await?;
            metrics::counter!(telemetry::RECORDS, "kind" => "unreadable").increment(unreadable);
            metrics::counter!(telemetry::RECORDS, "kind" => "record").increment(leaves - unreadable);
            metrics::histogram!(telemetry::STEP_LATENCY).record(started.elapsed().as_secs_f64());
        }
        checkpoints.sign_due(&store, &frontiers).await?;
    }
    // What was appended gets its checkpoint before stopping.
    checkpoints.interval = Duration::ZERO;
    checkpoints.sign_due(&store, &frontiers).await?;
    settings.ready.store(false, Ordering::Release);
    tracing::info!("auditor stopped");
    Ok(())
}
