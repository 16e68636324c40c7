//! Metric names of the ingest node. The recorder is `https::telemetry`'s,
//! installed once per process; `/metrics` on the operations listener
//! renders it.

/// Requests by HTTP status and code (`ok` for answered batches).
pub const REQUESTS: &str = "vox_ingest_requests_total";
/// Items by outcome (`accepted`, `rejected`) and reason code.
pub const ITEMS: &str = "vox_ingest_items_total";
/// Seconds from request start to answer.
pub const LATENCY: &str = "vox_ingest_request_duration_seconds";
/// Seconds the log took to acknowledge a batch.
pub const APPEND_LATENCY: &str = "vox_ingest_log_append_duration_seconds";
/// Body bytes received, as sent on the wire.
pub const BYTES_IN: &str = "vox_ingest_bytes_received_total";
/// Items waiting for the log's acknowledgement.
pub const IN_FLIGHT: &str = "vox_ingest_in_flight_items";
/// Records in the log client's producer queue (Kafka; 0 for SQLite).
pub const PRODUCER_QUEUE: &str = "vox_log_producer_queue_depth";
/// Requests refused by the rate limit, by client.
pub const RATE_LIMITED: &str = "vox_ingest_rate_limited_total";
/// Authentication failures, by client id (`unknown` when it is not a known client) and reason.
pub const AUTH_FAILURES: &str = "vox_ingest_auth_failures_total";
/// Audit records that could not be written (queue full or log failure): the
/// `audit` crate's [`audit::RECORDS_DROPPED`], which this node's audit sink
/// counts.
pub const AUDIT_DROPPED: &str = audit::RECORDS_DROPPED;
/// Batches signed with the deprecated `VOX1-HMAC-SHA256` scheme, by client.
pub const DEPRECATED_SCHEME: &str = "vox_ingest_deprecated_signature_scheme_total";
/// Connections closed at once, by reason (the accept loop's).
pub const CONNECTIONS_REFUSED: &str = https::CONNECTIONS_REFUSED;
/// Bytes of request bodies being read now (the node's body memory in use).
pub const BODY_MEMORY: &str = "vox_ingest_body_memory_bytes";
/// Age in seconds of this node's copy of the tenant configuration.
pub const CONFIG_AGE: &str = "vox_ingest_config_age_seconds";

/// Registers every series that has no per-client label with its zero value,
/// so that each documented series exists from start-up.
pub fn register() {
    metrics::counter!(REQUESTS, "status" => "200", "code" => "ok").increment(0);
    metrics::counter!(ITEMS, "outcome" => "accepted", "reason" => "").increment(0);
    let _ = metrics::histogram!(LATENCY);
    let _ = metrics::histogram!(APPEND_LATENCY);
    metrics::counter!(AUDIT_DROPPED).increment(0);
    metrics::counter!(BYTES_IN).increment(0);
    metrics::counter!(CONNECTIONS_REFUSED, "reason" => "per_address").increment(0);
    metrics::gauge!(IN_FLIGHT).set(0.0);
    metrics::gauge!(PRODUCER_QUEUE).set(0.0);
    metrics::gauge!(BODY_MEMORY).set(0.0);
    metrics::gauge!(CONFIG_AGE).set(0.0);
}
