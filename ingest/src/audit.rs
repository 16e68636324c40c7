//! Audit records of the ingest node on `vox.audit`. A batch's record is
//! appended together with its items (durable when the client hears back);
//! refused requests go through a bounded queue to a writer task, so a flood
//! of bad requests cannot stall the node; a record that cannot be queued or
//! written is counted (`vox_audit_records_dropped_total`) and logged.

use std::collections::BTreeMap;
use std::time::Duration;

use eventlog::{Log, Output};
use schemas::{ActorKind, AuditRecord, Outcome};
use tokio::sync::mpsc;

const QUEUE: usize = 10_000;

pub(crate) struct AuditSink {
    /// None once closed (shutdown): later records are counted as dropped.
    tx: std::sync::Mutex<Option<mpsc::Sender<AuditRecord>>>,
}

impl AuditSink {
    /// Starts the writer task; it ends once every sink is dropped and the
    /// queue is written.
    pub(crate) fn spawn(log: Log, topic: String) -> (AuditSink, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<AuditRecord>(QUEUE);
        let task = tokio::spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, 500).await > 0 {
                let outputs: Vec<Output> = batch.drain(..).filter_map(|r| output(&topic, &r)).collect();
                let n = outputs.len();
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
            }
        });
        (
            AuditSink {
                tx: std::sync::Mutex::new(Some(tx)),
            },
            task,
        )
    }

    /// Closes the queue: the writer task ends once it has written what the
    /// queue holds.
    pub(crate) fn close(&self) {
        self.tx.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    }

    pub(crate) fn record(&self, record: AuditRecord) {
        let sent = match &*self.tx.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) {
            Some(tx) => tx.try_send(record).is_ok(),
            None => false,
        };
        if !sent {
            tracing::error!("the audit queue is full; a record was dropped");
            metrics::counter!(crate::telemetry::AUDIT_DROPPED).increment(1);
        }
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
    action: &str,
    outcome: Outcome,
    source: std::net::SocketAddr,
    region: &str,
    details: BTreeMap<String, String>,
) -> AuditRecord {
    AuditRecord {
        audit_id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.map(str::to_owned),
        occurred_at: (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64,
        actor_kind: ActorKind::Client,
        actor_id: actor_id.to_owned(),
        action: action.to_owned(),
        resource: None,
        outcome,
        source_address: Some(source.ip().to_string()),
        region: region.to_owned(),
        details,
    }
}
