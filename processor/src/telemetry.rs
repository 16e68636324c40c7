//! Metric names of the processor. The recorder is `https::telemetry`'s,
//! installed once per process; `/metrics` on the operations listener
//! renders it.

use std::collections::BTreeMap;

use crate::Handled;

/// Transactional steps by outcome (`committed`, `aborted`).
pub const STEPS: &str = "vox_processor_steps_total";
/// Seconds from a step's records being polled to its commit.
pub const STEP_LATENCY: &str = "vox_processor_step_duration_seconds";
/// Input records by outcome (`processed`, `rejected`) and reason code (empty when processed).
pub const ITEMS: &str = "vox_processor_items_total";
/// Tags on processed items by source (`client`, `rule`; built-in tags count as `rule`).
pub const TAGS: &str = "vox_processor_tags_applied_total";
/// Spans redacted, by detector kind (`email`, `phone`, …, `custom`).
pub const REDACTIONS: &str = "vox_processor_redactions_total";
/// Records of `vox.feedback.raw` not yet read by this processor, per topic and partition it owns.
pub const LAG: &str = "vox_processor_consumer_lag";

/// Registers the series without per-record labels at zero, so that each
/// documented series exists from start-up.
pub fn register() {
    for outcome in ["committed", "aborted"] {
        metrics::counter!(STEPS, "outcome" => outcome).increment(0);
    }
    metrics::counter!(ITEMS, "outcome" => "processed", "reason" => "").increment(0);
    for source in ["client", "rule"] {
        metrics::counter!(TAGS, "source" => source).increment(0);
    }
    let _ = metrics::histogram!(STEP_LATENCY);
}

/// Counts what one step's records gave.
pub(crate) fn count(handled: &[Handled]) {
    let (mut processed, mut client, mut rule) = (0u64, 0u64, 0u64);
    let mut rejected: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut redactions: BTreeMap<&str, u64> = BTreeMap::new();
    for h in handled {
        match h.reason {
            Some(code) => *rejected.entry(code.as_str()).or_default() += 1,
            None => processed += 1,
        }
        client += h.client_tags;
        rule += h.rule_tags;
        for (kind, n) in &h.redactions {
            *redactions.entry(kind.as_str()).or_default() += n;
        }
    }
    metrics::counter!(ITEMS, "outcome" => "processed", "reason" => "").increment(processed);
    for (reason, n) in rejected {
        metrics::counter!(ITEMS, "outcome" => "rejected", "reason" => reason).increment(n);
    }
    metrics::counter!(TAGS, "source" => "client").increment(client);
    metrics::counter!(TAGS, "source" => "rule").increment(rule);
    for (kind, n) in redactions {
        metrics::counter!(REDACTIONS, "kind" => kind.to_owned()).increment(n);
    }
}
