//! What the store derives from a feedback row when it writes it: the
//! columns the analyst queries filter, group and search on, and the row's
//! tags for `feedback_tags`. Migration 0003 backfills rows written before it
//! with the same rule in SQL; keep the two in step.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::FeedbackRow;

/// The derived columns of one row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Derived {
    /// The value of the first `nps` metric (with a numeric value).
    pub nps: Option<f64>,
    pub csat: Option<f64>,
    /// Whether the first CSAT value is in the top quarter of its scale
    /// ([`access::csat_satisfied`]); `None` without CSAT or without a scale.
    pub csat_satisfied: Option<bool>,
    pub ces: Option<f64>,
    /// The language in ASCII lower case.
    pub language_key: Option<String>,
    /// PostgreSQL's text search configuration for the item's language.
    pub text_config: &'static str,
}

/// The text search configurations PostgreSQL indexes items in (the
/// language's primary subtag decides; `simple` for every other language).
pub(crate) const TEXT_CONFIGS: [&str; 5] = ["english", "finnish", "swedish", "german", "simple"];

pub(crate) fn derive(row: &FeedbackRow) -> Derived {
    let csat = first_metric(&row.metrics, "csat");
    let language_key = row.language.as_deref().map(str::to_ascii_lowercase);
    Derived {
        nps: first_metric(&row.metrics, "nps").map(|(v, _)| v),
        csat: csat.map(|(v, _)| v),
        csat_satisfied: csat.and_then(|(v, scale)| scale.map(|(lo, hi)| access::csat_satisfied(v, lo, hi))),
        ces: first_metric(&row.metrics, "ces").map(|(v, _)| v),
        text_config: text_config(language_key.as_deref()),
        language_key,
    }
}

/// The value and the scale (when it has two numbers) of the first metric of
/// `kind` that has a numeric value.
fn first_metric(metrics: &Value, kind: &str) -> Option<(f64, Option<(f64, f64)>)> {
    let metric = metrics.as_array()?.iter().find(|m| {
        m.get("kind").and_then(Value::as_str) == Some(kind) && m.get("value").is_some_and(Value::is_number)
    })?;
    let value = metric.get("value").and_then(Value::as_f64)?;
    let bound = |i: usize| metric.get("scale").and_then(|s| s.get(i)).and_then(Value::as_f64);
    Some((value, bound(0).zip(bound(1))))
}

/// `english`, `finnish`, `swedish` or `german` for the primary language
/// subtags en/eng, fi/fin, sv/swe, de/deu/ger (`fi`, `fi-FI`, `fi_FI`);
/// `simple` (no stemming, no stop words) otherwise.
fn text_config(language_key: Option<&str>) -> &'static str {
    let primary = language_key
        .and_then(|l| l.split(['-', '_']).next())
        .unwrap_or_default();
    match primary {
        "en" | "eng" => "english",
        "fi" | "fin" => "finnish",
        "sv" | "swe" => "swedish",
        "de" | "deu" | "ger" => "german",
        _ => "simple",
    }
}

/// The row's tags as distinct `(name, value)` pairs (entries without a
/// string name and a string value are not tags).
pub(crate) fn tags(row: &FeedbackRow) -> BTreeSet<(&str, &str)> {
    let Some(list) = row.tags.as_array() else {
        return BTreeSet::new();
    };
    list.iter()
        .filter_map(|t| Some((t.get("name")?.as_str()?, t.get("value")?.as_str()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(metrics: Value, language: Option<&str>, tags: Value) -> FeedbackRow {
        FeedbackRow {
            tenant_id: "acme".into(),
            collection: "c".into(),
            external_id: "x".into(),
            event_id: "e".into(),
            client_id: "cl".into(),
            batch_id: "b".into(),
            channel: "survey".into(),
            occurred_at: 0,
            text: None,
            language: language.map(str::to_owned),
            metrics,
            respondent: None,
            metadata: serde_json::json!({}),
            tags,
            received_region: "eu".into(),
            processed_region: "eu".into(),
            received_at: 0,
            processed_at: 0,
        }
    }

    #[test]
    fn the_first_metric_of_each_kind_counts() {
        let metrics = serde_json::json!([
            {"kind": "nps", "value": "nine"},
            {"kind": "csat", "value": 4, "scale": [1, 5]},
            {"kind": "nps", "value": 9, "scale": [0, 10]},
            {"kind": "nps", "value": 3, "scale": [0, 10]},
            {"kind": "ces", "value": 2.5},
        ]);
        let d = derive(&row(metrics, Some("FI-fi"), serde_json::json!([])));
        assert_eq!(d.nps, Some(9.0));
        assert_eq!((d.csat, d.csat_satisfied), (Some(4.0), Some(true)));
        assert_eq!(d.ces, Some(2.5));
        assert_eq!((d.language_key.as_deref(), d.text_config), (Some("fi-fi"), "finnish"));
        let unsatisfied = derive(&row(
            serde_json::json!([{"kind": "csat", "value": 7, "scale": [0, 10]}]),
            None,
            serde_json::json!([]),
        ));
        assert_eq!(unsatisfied.csat_satisfied, Some(false));
        let no_scale = derive(&row(
            serde_json::json!([{"kind": "csat", "value": 5}]),
            None,
            serde_json::json!([]),
        ));
        assert_eq!((no_scale.csat, no_scale.csat_satisfied), (Some(5.0), None));
        let nothing = derive(&row(serde_json::json!({}), None, serde_json::json!([])));
        assert_eq!(
            (nothing.nps, nothing.language_key, nothing.text_config),
            (None, None, "simple")
        );
    }

    #[test]
    fn languages_pick_a_text_configuration_by_primary_subtag() {
        for (language, config) in [
            ("en", "english"),
            ("en-GB", "english"),
            ("eng", "english"),
            ("fi", "finnish"),
            ("fi_FI", "finnish"),
            ("fil", "simple"),
            ("SV-se", "swedish"),
            ("de-AT", "german"),
            ("ger", "german"),
            ("ja", "simple"),
            ("", "simple"),
        ] {
            let d = derive(&row(serde_json::json!([]), Some(language), serde_json::json!([])));
            assert_eq!(d.text_config, config, "{language}");
        }
    }

    #[test]
    fn tags_are_distinct_string_pairs() {
        let list = serde_json::json!([
            {"name": "store", "value": "hki", "source": "client"},
            {"name": "store", "value": "hki", "source": "rule", "rule_id": "r1"},
            {"name": "store", "value": "espoo"},
            {"name": 1, "value": "x"},
            "junk",
        ]);
        let r = row(serde_json::json!([]), None, list);
        assert_eq!(
            tags(&r).into_iter().collect::<Vec<_>>(),
            vec![("store", "espoo"), ("store", "hki")]
        );
    }
}
