//! The one path every component uses to put an [`AuditRecord`] on
//! `vox.audit`. Two ways in, chosen by what the action needs:
//!
//! * **Durable**: [`append_durable`] (or [`Sink::durable`]) appends records
//!   and returns only once the log has them durably, for actions that must
//!   be on record before they are answered (a login, a configuration
//!   change). It fails rather than answer without a record; the caller then
//!   refuses the action. A record that travels with log records of its own
//!   goes in the same `append` instead: ingest appends a batch's record
//!   ([`output`]) together with its items, so both are durable when the
//!   client hears back.
//! * **Queued**: [`Sink`] is for what need not hold up an answer.
//!   [`Sink::record`] queues a record, best effort. Refused requests are not
//!   recorded one by one (a flood of bad signatures must not be able to fill
//!   the log): [`Sink::refused`] tallies them per [`RefusalKey`] (tenant,
//!   actor, source address, action, reason, claimed id) and the sink writes
//!   one record per tally and interval, with the count and the first and
//!   last time. At most [`MAX_TALLIES`] tallies are kept per interval; past
//!   that, refusals are counted under an overflow tally with actor `*` and
//!   no tenant, address or claimed id. Records go through a queue bounded by
//!   bytes ([`MAX_QUEUED_BYTES`]) to a writer task; a record that cannot be
//!   queued or written is counted ([`RECORDS_DROPPED`]) and logged.
//!
//! A record never carries a secret, a body, or an identifier from a request
//! that was not verified, except a claimed id of the valid form (for a
//! client, `vox_ci_` + 16 hex digits): the builders here ([`record`],
//! [`with_resource`]) put in a record only what they are given, and the
//! caller gives only that.
//!
//! Every record is keyed on the log by its tenant (`-` for none), so that a
//! tenant's records keep their order.

mod sink;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::IpAddr;

use eventlog::{Log, LogError, Output};
use schemas::{ActorKind, AuditAction, AuditRecord, CodecError, Outcome};

pub use sink::{RefusalKey, Sink, MAX_QUEUED_BYTES, MAX_TALLIES};

/// Metric (counter): audit records that could not be queued or written (the
/// queue full or closed, the log failing, a record that does not encode).
/// Records that [`append_durable`] could not append are not counted here:
/// its caller hears of the failure and refuses the action.
pub const RECORDS_DROPPED: &str = "vox_audit_records_dropped_total";

/// Why audit records are not on record (see [`append_durable`]).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A record does not encode as an `AuditRecord` (a bug: every record
    /// made by [`record`] encodes). Nothing was appended.
    #[error("encoding an audit record failed: {0}")]
    Encode(#[from] CodecError),
    /// The log did not take the records (unavailable, timed out, the topic
    /// missing). On Kafka some may have been written; none is on record.
    #[error("appending audit records to the log failed: {0}")]
    Log(#[from] LogError),
}

/// Appends `records` to `topic` in one `append` and returns only once every
/// one is durable (SQLite: committed; Kafka: acknowledged by all in-sync
/// replicas). For actions that must be on record before they are answered
/// (a login, a configuration change): on error, refuse the action. Encodes
/// every record before appending any, so that an encoding failure appends
/// nothing. Does not retry; an empty `records` returns at once.
pub async fn append_durable(log: &Log, topic: &str, records: &[AuditRecord]) -> Result<(), AuditError> {
    if records.is_empty() {
        return Ok(());
    }
    let outputs = records
        .iter()
        .map(|record| encode(topic, record))
        .collect::<Result<Vec<_>, _>>()?;
    log.append(outputs).await?;
    Ok(())
}

/// The log record of an audit record on `topic` (key: the tenant, or `-`),
/// to append together with other log records in one `append`. `None` when it
/// does not encode (logged and counted under [`RECORDS_DROPPED`]).
pub fn output(topic: &str, record: &AuditRecord) -> Option<Output> {
    match encode(topic, record) {
        Ok(output) => Some(output),
        Err(e) => {
            tracing::error!(error = %e, "encoding an audit record failed");
            metrics::counter!(RECORDS_DROPPED).increment(1);
            None
        }
    }
}

/// The log record of an audit record, for appending together with the
/// action it records (e.g. a configuration change, in one compare-and-set):
/// the two are durable together or not at all.
pub fn encode(topic: &str, record: &AuditRecord) -> Result<Output, CodecError> {
    Ok(Output {
        topic: topic.to_owned(),
        key: record.tenant_id.as_deref().unwrap_or("-").as_bytes().to_vec(),
        payload: schemas::encode(record)?,
    })
}

/// The node this process's records name ([`set_node`]).
static NODE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Names this process in every record it makes from now on (its instance
/// id: `--instance-id`, by default the host name). Set once, at start-up;
/// later calls change nothing.
pub fn set_node(node: &str) {
    let _ = NODE.set(node.chars().take(128).collect());
}

/// The node [`set_node`] named, if any.
pub fn node() -> Option<&'static str> {
    NODE.get().map(String::as_str)
}

/// An audit record of an action that happened now: a new random
/// `audit_id`, `occurred_at` from `schemas::clock`, this process's node
/// ([`set_node`]), no resource (see
/// [`with_resource`]). It carries what it is given and nothing else; give it
/// no secret, no body and no unverified identifier.
#[expect(
    clippy::too_many_arguments,
    reason = "one argument per field of the record the caller must decide; a builder would let one be forgotten"
)]
pub fn record(
    tenant: Option<&str>,
    actor_kind: ActorKind,
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
        actor_kind,
        actor_id: actor_id.to_owned(),
        action: action.as_str().to_owned(),
        resource: None,
        outcome,
        source_address: source.map(|ip| ip.to_string()),
        region: region.to_owned(),
        details,
        node: node().map(str::to_owned),
    }
}

/// `record` about `resource` (what the action was done to: a collection, a
/// credential, a user), e.g. `with_resource(record(…), "collection/col_1")`.
pub fn with_resource(mut record: AuditRecord, resource: &str) -> AuditRecord {
    record.resource = Some(resource.to_owned());
    record
}
