//! The batch contract for one item: validating it (see `split` for turning a
//! body into items).
//! Pure functions, so that property tests and the fuzz target can call them.

use std::collections::BTreeMap;

use schemas::{Channel, CollectionId, FeedbackItem, Metric, MetricKind, ReasonCode, SourceTag};
use serde::Serialize;
use serde_json::{Map, Value};

pub use crate::split::{split_items, split_sized, Format, Limits};

/// Why one item was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemError {
    /// Stable machine-readable code.
    pub code: ReasonCode,
    /// The offending field, e.g. `metrics[0].value`; empty for the whole item.
    pub field: String,
    pub message: String,
}

impl ItemError {
    fn new(code: ReasonCode, field: impl Into<String>, message: impl Into<String>) -> ItemError {
        ItemError {
            code,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An item that passed validation; its tenant comes from the credential.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidItem {
    pub external_id: String,
    pub collection: CollectionId,
    pub item: FeedbackItem,
}

const FIELDS: [&str; 10] = [
    "external_id",
    "collection",
    "occurred_at",
    "channel",
    "text",
    "language",
    "metrics",
    "respondent",
    "metadata",
    "tags",
];

/// The `external_id` of an item, if it has a usable one (for the response).
pub fn external_id_of(value: &Value) -> Option<&str> {
    value.get("external_id").and_then(Value::as_str)
}

/// Validates one item against the batch contract (see README, "The batch
/// API"). `now` bounds `occurred_at` (at most one day ahead).
pub fn validate_item(value: &Value, limits: &Limits, now: time::OffsetDateTime) -> Result<ValidItem, ItemError> {
    let size = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(usize::MAX);
    validate_sized(value, size, limits, now)
}

/// [`validate_item`] for an item whose size as sent (`size` bytes) is known.
pub fn validate_sized(
    value: &Value,
    size: usize,
    limits: &Limits,
    now: time::OffsetDateTime,
) -> Result<ValidItem, ItemError> {
    if size > limits.max_item_bytes {
        return Err(ItemError::new(
            ReasonCode::ItemTooLarge,
            "",
            format!(
                "the item has {size} bytes of JSON as sent, more than the limit of {}; shorten its text",
                limits.max_item_bytes
            ),
        ));
    }
    let Value::Object(obj) = value else {
        return Err(ItemError::new(
            ReasonCode::InvalidType,
            "",
            "an item must be a JSON object",
        ));
    };
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ItemError::new(
            ReasonCode::UnknownField,
            unknown.as_str(),
            format!("unknown field '{unknown}'; the fields are {}", FIELDS.join(", ")),
        ));
    }
    let external_id = required_string(obj, "external_id", 256)?;
    if external_id.is_empty() {
        return Err(ItemError::new(
            ReasonCode::InvalidValue,
            "external_id",
            "external_id is empty; give every item its id in your system",
        ));
    }
    let collection = required_string(obj, "collection", 63)?;
    let collection = CollectionId::parse(&collection)
        .map_err(|e| ItemError::new(ReasonCode::InvalidValue, "collection", e.to_string()))?;
    let occurred_at = occurred_at(obj, now)?;
    let channel_name = required_string(obj, "channel", 32)?;
    let channel = Channel::ALL
        .into_iter()
        .find(|c| c.as_str() == channel_name)
        .ok_or_else(|| {
            let names: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
            ItemError::new(
                ReasonCode::InvalidValue,
                "channel",
                format!("unknown channel '{channel_name}'; use one of {}", names.join(", ")),
            )
        })?;
    let text = optional_string(obj, "text", 32 * 1024)?;
    if text.as_deref() == Some("") {
        return Err(ItemError::new(
            ReasonCode::InvalidValue,
            "text",
            "text is empty; leave it out instead",
        ));
    }
    let language = optional_string(obj, "language", 35)?;
    if let Some(tag) = &language {
        if !schemas::language::is_language_tag(tag) {
            return Err(ItemError::new(
                ReasonCode::InvalidValue,
                "language",
                format!("'{tag}' is not a BCP-47 language tag such as en, fi or sv-FI"),
            ));
        }
    }
    let metrics = metrics(obj)?;
    if text.is_none() && metrics.is_empty() {
        return Err(ItemError::new(
            ReasonCode::MissingField,
            "text",
            "an item needs text, metrics, or both",
        ));
    }
    let respondent = optional_string(obj, "respondent", 256)?;
    let metadata = metadata(obj)?;
    let tags = tags(obj)?;
    Ok(ValidItem {
        external_id,
        collection,
        item: FeedbackItem {
            occurred_at,
            channel,
            text,
            language,
            metrics,
            respondent,
            metadata,
            tags,
        },
    })
}

fn type_error(field: &str, expected: &str) -> ItemError {
    ItemError::new(ReasonCode::InvalidType, field, format!("{field} must be {expected}"))
}

fn required_string(obj: &Map<String, Value>, field: &str, max_chars: usize) -> Result<String, ItemError> {
    optional_string(obj, field, max_chars)?
        .ok_or_else(|| ItemError::new(ReasonCode::MissingField, field, format!("{field} is required")))
}

fn optional_string(obj: &Map<String, Value>, field: &str, max_chars: usize) -> Result<Option<String>, ItemError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            check_string(field, s, max_chars)?;
            Ok(Some(s.clone()))
        }
        Some(_) => Err(type_error(field, "a string")),
    }
}

fn check_string(field: &str, s: &str, max_chars: usize) -> Result<(), ItemError> {
    let chars = s.chars().count();
    if chars > max_chars {
        return Err(ItemError::new(
            ReasonCode::TooLong,
            field,
            format!("{field} has {chars} characters, more than {max_chars}"),
        ));
    }
    if field == "text" {
        // Free text may have tabs and line breaks, nothing else no store can hold.
        if let Some((at, c)) = schemas::text::first_unstorable(s) {
            return Err(ItemError::new(
                ReasonCode::InvalidValue,
                field,
                format!(
                    "text contains the control character {} at character {at}; only tab, line feed and \
                     carriage return are allowed: remove it or replace it with a space",
                    schemas::text::describe(c)
                ),
            ));
        }
    } else if let Some((at, c)) = s.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Err(ItemError::new(
            ReasonCode::InvalidValue,
            field,
            format!(
                "{field} contains the control character {} at character {at}; remove it",
                schemas::text::describe(c)
            ),
        ));
    }
    Ok(())
}

fn occurred_at(obj: &Map<String, Value>, now: time::OffsetDateTime) -> Result<i64, ItemError> {
    let raw = required_string(obj, "occurred_at", 64)?;
    let at = time::OffsetDateTime::parse(&raw, &time::format_description::well_known::Rfc3339).map_err(|e| {
        ItemError::new(
            ReasonCode::InvalidValue,
            "occurred_at",
            format!("'{raw}' is not an RFC 3339 timestamp such as 2026-11-03T09:14:22Z ({e})"),
        )
    })?;
    if at > now + time::Duration::days(1) {
        return Err(ItemError::new(
            ReasonCode::OutOfRange,
            "occurred_at",
            format!("'{raw}' is more than a day in the future"),
        ));
    }
    if at.year() < 1990 {
        return Err(ItemError::new(
            ReasonCode::OutOfRange,
            "occurred_at",
            format!("'{raw}' is before 1990"),
        ));
    }
    Ok((at.unix_timestamp_nanos() / 1000) as i64)
}

fn default_scale(kind: MetricKind) -> Option<(f64, f64)> {
    kind.fixed_scale()
}

fn metrics(obj: &Map<String, Value>) -> Result<Vec<Metric>, ItemError> {
    let list = match obj.get("metrics") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(type_error("metrics", "an array of {kind, value, scale}")),
    };
    if list.len() > 32 {
        return Err(ItemError::new(
            ReasonCode::TooMany,
            "metrics",
            "at most 32 metrics per item",
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let field = |name: &str| format!("metrics[{i}].{name}");
        let Value::Object(m) = m else {
            return Err(type_error(&format!("metrics[{i}]"), "an object {kind, value, scale}"));
        };
        if let Some(unknown) = m.keys().find(|k| !["kind", "value", "scale"].contains(&k.as_str())) {
            return Err(ItemError::new(
                ReasonCode::UnknownField,
                field(unknown),
                format!("unknown field '{unknown}'; a metric has kind, value and scale"),
            ));
        }
        let kind_name = m
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| ItemError::new(ReasonCode::MissingField, field("kind"), "kind is required"))?;
        let kind = MetricKind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind_name)
            .ok_or_else(|| {
                ItemError::new(
                    ReasonCode::InvalidValue,
                    field("kind"),
                    format!("unknown metric kind '{kind_name}'; use nps, csat, ces, rating or custom"),
                )
            })?;
        let value = match m.get("value") {
            Some(Value::Number(n)) => n.as_f64().filter(|v| v.is_finite()),
            None => {
                return Err(ItemError::new(
                    ReasonCode::MissingField,
                    field("value"),
                    "value is required",
                ))
            }
            Some(_) => return Err(type_error(&field("value"), "a number")),
        }
        .ok_or_else(|| {
            ItemError::new(
                ReasonCode::InvalidValue,
                field("value"),
                "value must be a finite number",
            )
        })?;
        let scale = match m.get("scale") {
            None | Some(Value::Null) => default_scale(kind).ok_or_else(|| {
                ItemError::new(
                    ReasonCode::MissingField,
                    field("scale"),
                    "a custom metric needs a scale [min, max]",
                )
            })?,
            Some(Value::Array(s)) if s.len() == 2 => match (s[0].as_f64(), s[1].as_f64()) {
                (Some(a), Some(b)) if a.is_finite() && b.is_finite() && a < b => (a, b),
                _ => {
                    return Err(ItemError::new(
                        ReasonCode::InvalidValue,
                        field("scale"),
                        "scale must be [min, max] with min < max",
                    ))
                }
            },
            Some(_) => return Err(type_error(&field("scale"), "an array [min, max]")),
        };
        if let Some(expected) = default_scale(kind) {
            if scale != expected {
                return Err(ItemError::new(
                    ReasonCode::InvalidValue,
                    field("scale"),
                    format!("{kind_name} is on the scale [{}, {}]", expected.0, expected.1),
                ));
            }
        }
        if value < scale.0 || value > scale.1 {
            return Err(ItemError::new(
                ReasonCode::OutOfRange,
                field("value"),
                format!(
                    "{kind_name} value {value} is outside its scale [{}, {}]",
                    scale.0, scale.1
                ),
            ));
        }
        if kind == MetricKind::Nps && value.fract() != 0.0 {
            return Err(ItemError::new(
                ReasonCode::InvalidValue,
                field("value"),
                "an NPS value is a whole number from 0 to 10",
            ));
        }
        out.push(Metric {
            kind,
            value,
            scale_min: scale.0,
            scale_max: scale.1,
        });
    }
    Ok(out)
}

fn metadata(obj: &Map<String, Value>) -> Result<BTreeMap<String, String>, ItemError> {
    let map = match obj.get("metadata") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(type_error("metadata", "an object of string values")),
    };
    if map.len() > 64 {
        return Err(ItemError::new(
            ReasonCode::TooMany,
            "metadata",
            "at most 64 metadata entries per item",
        ));
    }
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let field = format!("metadata.{k}");
        if k.is_empty() || k.chars().count() > 128 || k.chars().any(char::is_control) {
            return Err(ItemError::new(
                ReasonCode::InvalidValue,
                field,
                "metadata keys have 1 to 128 characters, no control characters",
            ));
        }
        let Value::String(v) = v else {
            return Err(type_error(&field, "a string"));
        };
        check_string(&field, v, 1024)?;
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

fn tags(obj: &Map<String, Value>) -> Result<Vec<SourceTag>, ItemError> {
    let list = match obj.get("tags") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(type_error("tags", "an array of {name, value}")),
    };
    if list.len() > 64 {
        return Err(ItemError::new(ReasonCode::TooMany, "tags", "at most 64 tags per item"));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let field = format!("tags[{i}]");
        let Value::Object(t) = t else {
            return Err(type_error(&field, "an object {name, value}"));
        };
        if let Some(unknown) = t.keys().find(|k| !["name", "value"].contains(&k.as_str())) {
            return Err(ItemError::new(
                ReasonCode::UnknownField,
                format!("{field}.{unknown}"),
                format!("unknown field '{unknown}'; a tag has name and value"),
            ));
        }
        let name = required_string(t, "name", schemas::MAX_TAG_NAME_CHARS).map_err(|e| ItemError {
            field: format!("{field}.{}", e.field),
            ..e
        })?;
        let value = required_string(t, "value", schemas::MAX_TAG_VALUE_CHARS).map_err(|e| ItemError {
            field: format!("{field}.{}", e.field),
            ..e
        })?;
        out.push(SourceTag { name, value });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> time::OffsetDateTime {
        time::macros::datetime!(2026-11-29 12:00 UTC)
    }

    fn good() -> Value {
        json!({
            "external_id": "nps-1", "collection": "nps-2026", "occurred_at": "2026-11-03T09:14:22Z",
            "channel": "survey", "text": "Toimitus oli nopea.", "language": "fi",
            "metrics": [{"kind": "nps", "value": 9, "scale": [0, 10]}],
            "respondent": "r-1", "metadata": {"country": "FI"}, "tags": [{"name": "topic", "value": "delivery"}]
        })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut v = good();
        v[field] = value;
        v
    }

    fn without(field: &str) -> Value {
        let mut v = good();
        v.as_object_mut().expect("object").remove(field);
        v
    }

    #[test]
    fn a_complete_item_is_valid() {
        let v = validate_item(&good(), &Limits::default(), now()).expect("valid");
        assert_eq!(v.external_id, "nps-1");
        assert_eq!(v.item.occurred_at, 1_793_697_262_000_000);
        assert_eq!(v.item.metrics[0].value, 9.0);
        assert_eq!(v.item.tags[0].value, "delivery");
    }

    #[test]
    fn bad_items_name_the_field_and_reason() {
        let cases: Vec<(Value, &str, &str)> = vec![
            (with("surprise", json!(1)), "unknown_field", "surprise"),
            (without("external_id"), "missing_field", "external_id"),
            (without("collection"), "missing_field", "collection"),
            (with("external_id", json!(5)), "invalid_type", "external_id"),
            (with("occurred_at", json!("yesterday")), "invalid_value", "occurred_at"),
            (
                with("occurred_at", json!("2030-01-01T00:00:00Z")),
                "out_of_range",
                "occurred_at",
            ),
            (with("channel", json!("fax")), "invalid_value", "channel"),
            (with("language", json!("english please")), "invalid_value", "language"),
            (
                with("metrics", json!([{"kind": "nps", "value": 11}])),
                "out_of_range",
                "metrics[0].value",
            ),
            (
                with("metrics", json!([{"kind": "nps", "value": 7.5}])),
                "invalid_value",
                "metrics[0].value",
            ),
            (
                with("metrics", json!([{"kind": "nps", "value": 7, "scale": [1, 5]}])),
                "invalid_value",
                "metrics[0].scale",
            ),
            (
                with("metrics", json!([{"kind": "custom", "value": 7}])),
                "missing_field",
                "metrics[0].scale",
            ),
            (
                with("metrics", json!([{"kind": "mood", "value": 7}])),
                "invalid_value",
                "metrics[0].kind",
            ),
            (
                with("metrics", json!([{"kind": "csat", "value": "5"}])),
                "invalid_type",
                "metrics[0].value",
            ),
            (with("metadata", json!({"plan": 3})), "invalid_type", "metadata.plan"),
            (
                with("tags", json!([{"name": "topic"}])),
                "missing_field",
                "tags[0].value",
            ),
            (with("collection", json!("Not A Slug")), "invalid_value", "collection"),
            (with("text", json!("")), "invalid_value", "text"),
        ];
        for (item, code, field) in cases {
            let err = validate_item(&item, &Limits::default(), now()).expect_err(&format!("{item} must be refused"));
            assert_eq!(
                (err.code.as_str(), err.field.as_str()),
                (code, field),
                "{item}: {}",
                err.message
            );
            assert!(!err.message.is_empty());
        }
    }

    #[test]
    fn an_item_needs_text_or_metrics() {
        let mut v = without("text");
        v.as_object_mut().expect("object").remove("metrics");
        v.as_object_mut().expect("object").remove("language");
        assert_eq!(
            validate_item(&v, &Limits::default(), now()).map_err(|e| e.code.as_str()),
            Err("missing_field")
        );
        let metrics_only = without("text");
        assert!(validate_item(&metrics_only, &Limits::default(), now()).is_ok());
    }

    #[test]
    fn oversized_items_are_refused() {
        let limits = Limits {
            max_item_bytes: 100,
            ..Limits::default()
        };
        assert_eq!(
            validate_item(&good(), &limits, now()).map_err(|e| e.code.as_str()),
            Err("item_too_large")
        );
    }

    #[test]
    fn bodies_split_by_format() {
        let limits = Limits::default();
        let ndjson = format!("{}\n\n{}\n", good(), good());
        assert_eq!(
            split_items(Format::Ndjson, ndjson.as_bytes(), &limits)
                .expect("ndjson")
                .len(),
            2
        );
        let array = json!([good(), good(), good()]).to_string();
        assert_eq!(
            split_items(Format::JsonArray, array.as_bytes(), &limits)
                .expect("array")
                .len(),
            3
        );
        for (format, body) in [
            (Format::JsonArray, &b"{\"not\": \"an array\"}"[..]),
            (Format::JsonArray, &b"[{\"truncated\": "[..]),
            (Format::Ndjson, &b"{\"a\":1}\nnot json\n"[..]),
            (Format::JsonArray, &b"[\"\xff\xfe\"]"[..]),
            (Format::JsonArray, &b"[]"[..]),
        ] {
            let err = split_items(format, body, &limits).expect_err("malformed");
            assert_eq!(err.code(), "malformed_body");
        }
        let few = Limits {
            max_items: 2,
            ..Limits::default()
        };
        assert_eq!(
            split_items(Format::JsonArray, array.as_bytes(), &few)
                .map_err(|e| e.code())
                .err(),
            Some("too_many_items")
        );
        assert_eq!(
            split_items(Format::Ndjson, ndjson.repeat(2).as_bytes(), &few)
                .map_err(|e| e.code())
                .err(),
            Some("too_many_items")
        );
    }

    #[test]
    fn oversized_items_are_not_parsed() {
        let limits = Limits {
            max_item_bytes: 1024,
            ..Limits::default()
        };
        // Not even valid JSON: refused by its size, per item, never parsed.
        let big = format!("{{\"text\": \"{}\n", "a".repeat(4096));
        let body = format!("{}\n{big}{}\n", good(), good());
        let items = split_sized(Format::Ndjson, body.as_bytes(), &limits).expect("the batch splits");
        assert_eq!(items.len(), 3);
        assert_eq!(
            validate_sized(&items[1].0, items[1].1, &limits, now()).map_err(|e| e.code.as_str()),
            Err("item_too_large")
        );
        assert!(validate_sized(&items[2].0, items[2].1, &limits, now()).is_ok());
        let array = format!("[{}, {{\"text\": \"{}\"}}]", good(), "a".repeat(4096));
        let items = split_sized(Format::JsonArray, array.as_bytes(), &limits).expect("the array splits");
        assert_eq!(items[1].0, Value::Null, "the oversized item was not parsed");
        assert_eq!(
            validate_sized(&items[1].0, items[1].1, &limits, now()).map_err(|e| e.code.as_str()),
            Err("item_too_large")
        );
    }

    #[test]
    fn control_characters_are_refused_where_no_store_can_hold_them() {
        for (field, value) in [
            ("text", "nul \u{0} inside"),
            ("text", "escape \u{1b}[31m"),
            ("text", "c1 \u{85}"),
            ("respondent", "tab\there"),
            ("external_id", "a\u{0}b"),
        ] {
            let err = validate_item(&with(field, json!(value)), &Limits::default(), now())
                .expect_err(&format!("{field}={value:?} must be refused"));
            assert_eq!(
                (err.code.as_str(), err.field.as_str()),
                ("invalid_value", field),
                "{}",
                err.message
            );
            assert!(err.message.contains("U+00"), "{}", err.message);
        }
        let mut v = good();
        v["metadata"] = json!({"k": "v\u{0}"});
        assert_eq!(
            validate_item(&v, &Limits::default(), now()).map_err(|e| e.code.as_str()),
            Err("invalid_value")
        );
        let fine = with("text", json!("line one\nline two\r\n\tindented"));
        assert!(validate_item(&fine, &Limits::default(), now()).is_ok());
    }

    #[test]
    fn content_types() {
        assert_eq!(
            Format::from_content_type("application/json; charset=utf-8").ok(),
            Some(Format::JsonArray)
        );
        assert_eq!(
            Format::from_content_type("application/x-ndjson").ok(),
            Some(Format::Ndjson)
        );
        assert_eq!(
            Format::from_content_type("text/csv").map_err(|e| e.code()).err(),
            Some("unsupported_media_type")
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn valid_item() -> impl Strategy<Value = Value> {
            (
                "[a-zA-Z0-9_.:-]{1,40}",
                "[a-z0-9][a-z0-9_-]{0,20}",
                0usize..7,
                proptest::option::of("\\PC{1,200}"),
                proptest::option::of(0u8..=10),
                proptest::collection::btree_map("[a-z_]{1,10}", "\\PC{0,30}", 0..5),
            )
                .prop_filter("text or metrics", |(_, _, _, text, nps, _)| {
                    text.is_some() || nps.is_some()
                })
                .prop_map(|(external_id, collection, channel, text, nps, metadata)| {
                    let mut v = json!({
                        "external_id": external_id,
                        "collection": collection,
                        "occurred_at": "2026-11-03T09:14:22+02:00",
                        "channel": Channel::ALL[channel].as_str(),
                        "metadata": metadata,
                    });
                    if let Some(text) = text {
                        v["text"] = json!(text);
                    }
                    if let Some(nps) = nps {
                        v["metrics"] = json!([{"kind": "nps", "value": nps}]);
                    }
                    v
                })
        }

        proptest! {
            #[test]
            fn valid_items_validate_and_keep_their_fields(item in valid_item()) {
                let v = validate_item(&item, &Limits::default(), now()).expect("a valid item");
                prop_assert_eq!(v.external_id.as_str(), item["external_id"].as_str().expect("id"));
                prop_assert_eq!(v.item.text.as_deref(), item["text"].as_str());
                prop_assert_eq!(v.item.channel.as_str(), item["channel"].as_str().expect("channel"));
                prop_assert_eq!(v.item.metadata.len(), item["metadata"].as_object().map_or(0, |m| m.len()));
                prop_assert_eq!(v.item.occurred_at, 1_793_690_062_000_000);
            }

            #[test]
            fn array_and_ndjson_bodies_hold_the_same_items(items in proptest::collection::vec(valid_item(), 1..20)) {
                let limits = Limits::default();
                let array = serde_json::to_vec(&items).expect("json");
                let ndjson: Vec<u8> = items.iter().flat_map(|i| format!("{i}\n").into_bytes()).collect();
                let a = split_items(Format::JsonArray, &array, &limits).expect("array");
                let n = split_items(Format::Ndjson, &ndjson, &limits).expect("ndjson");
                prop_assert_eq!(&a, &n);
                prop_assert_eq!(a, items);
            }

        }
    }
}
