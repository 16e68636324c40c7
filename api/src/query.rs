//! The analyst API's query parameters: parsed strictly (an unknown
//! parameter, a malformed value, a reversed or overlong time range, a page
//! size over the maximum are refused, naming the parameter), into
//! [`access::Filter`]; and the keyset cursor, bound to the caller and the
//! query by an HMAC so that a cursor of another query, another user or a
//! tampered one is refused.

use access::{Filter, GroupBy, Metric, MetricRange, Position, TagMatch, TagRef};
use base64::Engine;
use schemas::{Channel, CollectionId};

use crate::ApiError;

/// The longest query string, in bytes.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// The most values of one repeatable parameter.
pub const MAX_VALUES: usize = 50;
/// The longest text query, in characters.
pub const MAX_TEXT_CHARS: usize = 500;
/// The default and the largest page of `GET /v1/feedback`.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;
/// The longest time range a query may span (`until − from`): 3,660 days.
pub const MAX_SPAN_MICROS: i64 = 3_660 * 86_400 * 1_000_000;

/// What an endpoint accepts besides the common filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    List,
    Aggregates,
    Export,
    Tags,
}

impl Endpoint {
    fn extra(self) -> &'static [&'static str] {
        match self {
            Endpoint::List => &["limit", "cursor"],
            Endpoint::Aggregates => &["group_by"],
            Endpoint::Export => &["format"],
            Endpoint::Tags => &[],
        }
    }

    fn filters(self) -> bool {
        self != Endpoint::Tags
    }
}

const FILTERS: [&str; 9] = [
    "collection",
    "from",
    "until",
    "channel",
    "language",
    "tag",
    "tag_match",
    "metric",
    "q",
];

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub filter: Filter,
    pub limit: usize,
    pub cursor: Option<String>,
    pub group_by: GroupBy,
    pub format: Format,
    /// The filter as the audit record and the cursor's binding show it:
    /// the filter parameters in the order given, `&`-joined, decoded.
    pub canonical: String,
}

fn bad(parameter: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidRequest(format!("{parameter}: {message}"))
}

fn shown(value: &str) -> String {
    let mut s: String = value.chars().take(60).collect();
    if value.chars().count() > 60 {
        s.push('…');
    }
    s
}

/// Parses the raw query string of `endpoint`.
pub fn parse(raw: Option<&str>, endpoint: Endpoint) -> Result<Query, ApiError> {
    let raw = raw.unwrap_or("");
    if raw.len() > MAX_QUERY_BYTES {
        return Err(ApiError::InvalidRequest(format!(
            "the query string is {} bytes; at most {MAX_QUERY_BYTES} are accepted",
            raw.len()
        )));
    }
    let mut query = Query {
        filter: Filter::default(),
        limit: DEFAULT_LIMIT,
        cursor: None,
        group_by: GroupBy::Nothing,
        format: Format::Ndjson,
        canonical: String::new(),
    };
    let mut seen: Vec<String> = Vec::new();
    let mut canonical: Vec<String> = Vec::new();
    let mut format_given = false;
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        let (key, value) = (key.as_ref(), value.as_ref());
        let known_filter = endpoint.filters() && FILTERS.contains(&key);
        if !known_filter && !endpoint.extra().contains(&key) {
            let mut accepted: Vec<&str> = if endpoint.filters() {
                FILTERS.to_vec()
            } else {
                Vec::new()
            };
            accepted.extend(endpoint.extra());
            return Err(ApiError::InvalidRequest(format!(
                "unknown parameter '{}'; this endpoint accepts {}",
                shown(key),
                if accepted.is_empty() {
                    "none".to_owned()
                } else {
                    accepted.join(", ")
                }
            )));
        }
        let repeatable = matches!(key, "collection" | "channel" | "language" | "tag" | "metric");
        let count = seen.iter().filter(|k| *k == key).count();
        if !repeatable && count > 0 {
            return Err(bad(key, "given more than once; give it once"));
        }
        if count >= MAX_VALUES {
            return Err(bad(key, format_args!("at most {MAX_VALUES} values")));
        }
        seen.push(key.to_owned());
        if known_filter {
            canonical.push(format!("{key}={value}"));
        }
        let f = &mut query.filter;
        match key {
            "collection" => {
                let c = CollectionId::parse(value).map_err(|e| bad(key, e))?;
                f.collections.push(c.to_string());
            }
            "from" => f.from = Some(time_param(key, value)?),
            "until" => f.until = Some(time_param(key, value)?),
            "channel" => {
                let c = Channel::ALL.iter().find(|c| c.as_str() == value).ok_or_else(|| {
                    let names: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
                    bad(
                        key,
                        format_args!("'{}' is not a channel; use one of {}", shown(value), names.join(", ")),
                    )
                })?;
                f.channels.push(c.as_str().to_owned());
            }
            "language" => {
                if !schemas::language::is_language_tag(value) {
                    return Err(bad(
                        key,
                        format_args!("'{}' is not a BCP-47 language tag such as fi or en-GB", shown(value)),
                    ));
                }
                f.languages.push(value.to_ascii_lowercase());
            }
            "tag" => f.tags.push(TagRef::parse(value).map_err(|e| bad(key, e))?),
            "tag_match" => {
                f.tag_match = match value {
                    "any" => TagMatch::Any,
                    "all" => TagMatch::All,
                    _ => return Err(bad(key, format_args!("'{}' is not any or all", shown(value)))),
                }
            }
            "metric" => f.metrics.push(metric_range(value)?),
            "q" => {
                let chars = value.chars().count();
                if value.trim().is_empty() || chars > MAX_TEXT_CHARS || value.chars().any(char::is_control) {
                    return Err(bad(
                        key,
                        format_args!(
                            "the text query must be 1 to {MAX_TEXT_CHARS} characters without control characters (it has {chars})"
                        ),
                    ));
                }
                f.text = Some(value.to_owned());
            }
            "limit" => {
                query.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        bad(
                            key,
                            format_args!("'{}' is not a page size from 1 to {MAX_LIMIT}", shown(value)),
                        )
                    })?
            }
            "cursor" => query.cursor = Some(value.to_owned()),
            "group_by" => query.group_by = group_by(value)?,
            "format" => {
                format_given = true;
                query.format = match value {
                    "csv" => Format::Csv,
                    "ndjson" => Format::Ndjson,
                    _ => return Err(bad(key, format_args!("'{}' is not csv or ndjson", shown(value)))),
                }
            }
            _ => unreachable!("checked against the accepted names"),
        }
    }
    if endpoint == Endpoint::Export && !format_given {
        return Err(bad("format", "missing; give format=csv or format=ndjson"));
    }
    let f = &query.filter;
    if let (Some(from), Some(until)) = (f.from, f.until) {
        if from >= until {
            return Err(bad(
                "until",
                "the time range is empty or reversed: from must be before until",
            ));
        }
        if until - from > MAX_SPAN_MICROS {
            return Err(bad(
                "until",
                "the time range spans more than 3,660 days; narrow it or leave from or until out",
            ));
        }
    }
    query.canonical = canonical.join("&");
    Ok(query)
}

/// RFC 3339 (`2026-11-01T00:00:00Z`) or a date (`2026-11-01`, midnight UTC).
fn time_param(key: &str, value: &str) -> Result<i64, ApiError> {
    use time::format_description::well_known::Rfc3339;
    let parsed = time::OffsetDateTime::parse(value, &Rfc3339).ok().or_else(|| {
        time::Date::parse(value, time::macros::format_description!("[year]-[month]-[day]"))
            .ok()
            .map(|d| d.midnight().assume_utc())
    });
    let t = parsed.ok_or_else(|| {
        bad(
            key,
            format_args!(
                "'{}' is not a time; use RFC 3339 (2026-11-01T08:00:00Z) or a date (2026-11-01)",
                shown(value)
            ),
        )
    })?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).map_err(|_| bad(key, "out of range"))
}

/// `nps:0..6`, `csat:4..5`, `ces:1..3.5` (inclusive).
fn metric_range(value: &str) -> Result<MetricRange, ApiError> {
    let refuse = || {
        bad(
            "metric",
            format_args!(
                "'{}' is not a metric range; use nps:0..6, csat:4..5 or ces:1..3 (name:min..max, inclusive)",
                shown(value)
            ),
        )
    };
    let (name, range) = value.split_once(':').ok_or_else(refuse)?;
    let metric = Metric::parse(name).ok_or_else(refuse)?;
    let (min, max) = range.split_once("..").ok_or_else(refuse)?;
    let number = |s: &str| s.trim().parse::<f64>().ok().filter(|v| v.is_finite());
    let (min, max) = (number(min).ok_or_else(refuse)?, number(max).ok_or_else(refuse)?);
    if min > max {
        return Err(bad("metric", format_args!("'{}': min is above max", shown(value))));
    }
    Ok(MetricRange { metric, min, max })
}

fn group_by(value: &str) -> Result<GroupBy, ApiError> {
    Ok(match value {
        "collection" => GroupBy::Collection,
        "day" => GroupBy::Day,
        "week" => GroupBy::Week,
        "month" => GroupBy::Month,
        _ => match value.strip_prefix("tag:") {
            Some(name) => {
                let tag = TagRef::parse(name).map_err(|e| bad("group_by", e))?;
                if tag.value.is_some() {
                    return Err(bad("group_by", "group by a tag name (tag:store), not a tag value"));
                }
                GroupBy::Tag(tag.name)
            }
            None => {
                return Err(bad(
                    "group_by",
                    format_args!("'{}' is not collection, day, week, month or tag:<name>", shown(value)),
                ))
            }
        },
    })
}

/// What a cursor is bound to: the user, the tenant and the filter.
pub struct Binding<'a> {
    pub key: &'a [u8; 32],
    pub tenant: &'a str,
    pub user: &'a str,
    pub canonical: &'a str,
}

const CURSOR_VERSION: u8 = 1;
const MAC_BYTES: usize = 16;

fn mac(binding: &Binding<'_>, occurred_at: i64, event_id: &str) -> [u8; MAC_BYTES] {
    let message = format!(
        "vox-cursor-v{CURSOR_VERSION}\n{}\n{}\n{}\n{occurred_at}\n{event_id}",
        binding.tenant, binding.user, binding.canonical
    );
    let full = auth::signing::sign(&hex::encode(binding.key), &message);
    let mut out = [0u8; MAC_BYTES];
    out.copy_from_slice(&full[..MAC_BYTES]);
    out
}

/// The cursor of the page after `position`: base64url of the version, the
/// position and the MAC.
pub fn encode_cursor(binding: &Binding<'_>, position: &Position) -> String {
    let mut bytes = vec![CURSOR_VERSION];
    bytes.extend_from_slice(&position.occurred_at.to_be_bytes());
    bytes.extend_from_slice(&mac(binding, position.occurred_at, &position.event_id));
    bytes.extend_from_slice(position.event_id.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The position a cursor names, if it was made for this binding.
pub fn decode_cursor(binding: &Binding<'_>, cursor: &str) -> Result<Position, ApiError> {
    let refused = || {
        bad(
            "cursor",
            "not a cursor of this query: pass next_cursor back unchanged with the same filter parameters, or start again without cursor",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| refused())?;
    if bytes.len() < 1 + 8 + MAC_BYTES || bytes[0] != CURSOR_VERSION || bytes.len() > 200 {
        return Err(refused());
    }
    let occurred_at = i64::from_be_bytes(bytes[1..9].try_into().expect("8 bytes"));
    let given = &bytes[9..9 + MAC_BYTES];
    let event_id = std::str::from_utf8(&bytes[9 + MAC_BYTES..]).map_err(|_| refused())?;
    let expected = mac(binding, occurred_at, event_id);
    if !login::constant_time::eq(given, &expected) {
        return Err(refused());
    }
    Ok(Position {
        occurred_at,
        event_id: event_id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(e: ApiError) -> String {
        e.to_string()
    }

    #[test]
    fn a_full_filter_parses() {
        let q = parse(
            Some("collection=nps-2026&collection=tickets&from=2026-01-01&until=2026-02-01T00:00:00Z&channel=survey&language=FI&tag=store%3Ahelsinki&tag=hr&tag_match=all&metric=nps%3A0..6&q=slow+delivery&limit=10"),
            Endpoint::List,
        )
        .expect("valid");
        let f = &q.filter;
        assert_eq!(f.collections, ["nps-2026", "tickets"]);
        assert_eq!(f.from, Some(1_767_225_600_000_000));
        assert_eq!(f.until, Some(1_769_904_000_000_000));
        assert_eq!(f.channels, ["survey"]);
        assert_eq!(f.languages, ["fi"]);
        assert_eq!(f.tags.len(), 2);
        assert_eq!(f.tag_match, TagMatch::All);
        assert_eq!(f.metrics[0].metric, Metric::Nps);
        assert_eq!((f.metrics[0].min, f.metrics[0].max), (0.0, 6.0));
        assert_eq!(f.text.as_deref(), Some("slow delivery"));
        assert_eq!(q.limit, 10);
        assert!(q
            .canonical
            .starts_with("collection=nps-2026&collection=tickets&from=2026-01-01"));
        assert!(!q.canonical.contains("limit"), "paging is not part of the filter");
    }

    #[test]
    fn bad_parameters_are_named() {
        let cases = [
            ("colour=red", "unknown parameter 'colour'"),
            ("limit=201", "limit:"),
            ("limit=0", "limit:"),
            ("limit=1&limit=2", "limit: given more than once"),
            ("from=yesterday", "from:"),
            (
                "from=2026-02-01&until=2026-01-01",
                "until: the time range is empty or reversed",
            ),
            (
                "from=2000-01-01&until=2026-01-01",
                "until: the time range spans more than",
            ),
            ("channel=fax", "channel: 'fax' is not a channel"),
            ("language=not%20a%20tag", "language:"),
            ("tag=%3Avalue", "tag:"),
            ("tag_match=some", "tag_match:"),
            ("metric=nps%3A6..0", "metric:"),
            ("metric=nps%3A0-6", "metric:"),
            ("metric=joy%3A1..2", "metric:"),
            ("metric=nps%3ANaN..1", "metric:"),
            ("q=", "q:"),
            (
                "collection=Robert%27%29%3B%20DROP%20TABLE%20feedback%3B--",
                "collection:",
            ),
            ("group_by=day", "unknown parameter 'group_by'"),
        ];
        for (raw, expected) in cases {
            let e = message(parse(Some(raw), Endpoint::List).expect_err(raw));
            assert!(e.contains(expected), "{raw}: {e}");
        }
        let long = format!("q={}", "a".repeat(501));
        assert!(message(parse(Some(&long), Endpoint::List).expect_err("refused")).starts_with("q:"));
        let huge = format!("q={}", "a".repeat(MAX_QUERY_BYTES));
        assert!(message(parse(Some(&huge), Endpoint::List).expect_err("refused")).contains("query string"));
        let many = vec!["channel=survey"; 51].join("&");
        assert!(message(parse(Some(&many), Endpoint::List).expect_err("refused")).contains("at most 50"));
        assert!(message(parse(Some("q=x"), Endpoint::Tags).expect_err("refused")).contains("accepts none"));
        assert!(message(parse(None, Endpoint::Export).expect_err("refused")).starts_with("format:"));
        assert!(message(parse(Some("format=xml"), Endpoint::Export).expect_err("refused")).starts_with("format:"));
        // Metacharacters in free text are just text.
        let q = parse(
            Some("q=%27%3B%20DROP%20TABLE%20feedback%3B--%20%22%20*%20NEAR("),
            Endpoint::List,
        )
        .expect("the test made it so");
        assert_eq!(q.filter.text.as_deref(), Some("'; DROP TABLE feedback;-- \" * NEAR("));
    }

    #[test]
    fn group_by_values() {
        let g = |v: &str| parse(Some(&format!("group_by={v}")), Endpoint::Aggregates).map(|q| q.group_by);
        assert_eq!(g("month").expect("the test made it so"), GroupBy::Month);
        assert_eq!(
            g("tag%3Astore").expect("the test made it so"),
            GroupBy::Tag("store".into())
        );
        assert!(message(g("tag%3Astore%3Ahelsinki").expect_err("refused")).starts_with("group_by:"));
        assert!(message(g("year").expect_err("refused")).starts_with("group_by:"));
    }

    #[test]
    fn cursors_are_bound_to_user_and_query() {
        let key = [7u8; 32];
        let binding = Binding {
            key: &key,
            tenant: "acme",
            user: "usr_1",
            canonical: "tag=store:helsinki",
        };
        let position = Position {
            occurred_at: 1_767_225_600_000_000,
            event_id: "1b3f81b9-5ab9-560a-b9b8-9274acc49de5".into(),
        };
        let cursor = encode_cursor(&binding, &position);
        assert_eq!(decode_cursor(&binding, &cursor).expect("the test made it so"), position);
        let other_query = Binding {
            canonical: "tag=store:espoo",
            ..binding
        };
        let other_user = Binding {
            user: "usr_2",
            ..binding
        };
        for b in [other_query, other_user] {
            assert!(message(decode_cursor(&b, &cursor).expect_err("refused")).starts_with("cursor:"));
        }
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&cursor)
            .expect("the test made it so");
        bytes[3] ^= 1;
        let tampered = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        assert!(decode_cursor(&binding, &tampered).is_err());
        for garbage in ["", "!!", "AAAA", &"A".repeat(1000)] {
            assert!(decode_cursor(&binding, garbage).is_err());
        }
    }
}
