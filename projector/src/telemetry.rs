//! Metric names of the projector. The recorder is `https::telemetry`'s,
//! installed once per process; `/metrics` on the operations listener
//! renders it.

/// Steps written to the store (one SQL transaction each).
pub const STEPS: &str = "vox_projector_steps_total";
/// Seconds from a step's records being read to its rows being committed.
pub const STEP_LATENCY: &str = "vox_projector_step_duration_seconds";
/// Records projected, by kind (`feedback`: a processed item, `rejection`: a dead letter, `store_refused`: a record the database refused, kept as a rejection).
pub const RECORDS: &str = "vox_projector_records_total";
/// Records of `vox.feedback.processed` and `vox.feedback.rejected` not yet projected, per topic and partition.
pub const LAG: &str = "vox_projector_consumer_lag";

/// Registers the series at zero, so that each documented series exists
/// from start-up.
pub fn register() {
    metrics::counter!(STEPS).increment(0);
    for kind in ["feedback", "rejection", "store_refused"] {
        metrics::counter!(RECORDS, "kind" => kind).increment(0);
    }
    let _ = metrics::histogram!(STEP_LATENCY);
}
