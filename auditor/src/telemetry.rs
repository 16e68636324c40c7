//! Metric names of the auditor. The recorder is `https::telemetry`'s,
//! installed once per process; `/metrics` on the operations listener
//! renders it.

/// Records appended to the audit logs, by kind (`record`: an audit record;
/// `unreadable`: bytes that are not an `AuditRecord`, appended as they are).
pub const RECORDS: &str = "vox_auditor_records_total";
/// Checkpoints signed and stored.
pub const CHECKPOINTS: &str = "vox_auditor_checkpoints_total";
/// Seconds from a step's records being read to their being committed.
pub const STEP_LATENCY: &str = "vox_auditor_step_duration_seconds";
/// Records of `vox.audit` not yet in a log, per topic and partition.
pub const LAG: &str = "vox_auditor_consumer_lag";

/// Registers the series at zero, so that each documented series exists
/// from start-up.
pub fn register() {
    for kind in ["record", "unreadable"] {
        metrics::counter!(RECORDS, "kind" => kind).increment(0);
    }
    metrics::counter!(CHECKPOINTS).increment(0);
    let _ = metrics::histogram!(STEP_LATENCY);
}
