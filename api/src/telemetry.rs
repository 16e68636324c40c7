//! Metric names of the people API (the recorder is `https::telemetry`'s).

/// Refused requests by HTTP status and code.
pub const REQUESTS: &str = "vox_api_requests_total";
/// Logins by outcome (`success`, `failure`, `denied`).
pub const LOGINS: &str = "vox_api_logins_total";
/// Owners' break-glass password logins while single sign-on is required
/// (alert on any).
pub const BREAK_GLASS: &str = "vox_api_sso_break_glass_total";
/// Single sign-ons by outcome (`success`, `failure`).
pub const SSO_LOGINS: &str = "vox_api_sso_logins_total";
/// Age in seconds of this node's copy of the configuration.
pub const CONFIG_AGE: &str = "vox_api_config_age_seconds";

/// Analyst API requests by endpoint (`list`, `read`, `aggregates`, `tags`, `export`).
pub const FEEDBACK_REQUESTS: &str = "vox_api_feedback_requests_total";
/// Rows written by exports.
pub const EXPORT_ROWS: &str = "vox_api_export_rows_total";

/// Registers every series with its zero value, so each exists from start-up.
pub fn register() {
    metrics::counter!(REQUESTS, "status" => "401", "code" => "unauthenticated").increment(0);
    for outcome in ["success", "failure", "denied"] {
        metrics::counter!(LOGINS, "outcome" => outcome).increment(0);
    }
    metrics::gauge!(CONFIG_AGE).set(0.0);
    metrics::counter!(BREAK_GLASS).increment(0);
    for outcome in ["success", "failure"] {
        metrics::counter!(SSO_LOGINS, "outcome" => outcome).increment(0);
    }
    for endpoint in ["list", "read", "aggregates", "tags", "export"] {
        metrics::counter!(FEEDBACK_REQUESTS, "endpoint" => endpoint).increment(0);
    }
    metrics::counter!(EXPORT_ROWS).increment(0);
}
