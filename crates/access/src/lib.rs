//! Who sees which feedback item: the caller's effective grants
//! ([`Access`]), the rule ([`visible`]) that is the specification, and the
//! analyst API's query filter ([`Filter`]). Pure data and one pure
//! function: the directory builds an [`Access`] from its fold, the store
//! compiles it (with a [`Filter`]) into SQL for both databases, and tests
//! compare every answer of the SQL with [`visible`].
//!
//! The rule (README, "Who sees what"): a user sees an item iff the item
//! belongs to the user's tenant and some grant of the user or of one of the
//! user's groups covers it. A grant covers an item when
//! - it is for all of the tenant's collections or for the item's one, and
//! - its tag filter is empty, or the item carries at least one tag the
//!   filter names, and
//! - every tag on the item whose name the tenant restricted is named by the
//!   grant's tag filter (so an unfiltered grant never covers an item with a
//!   restricted tag).

use std::fmt;

/// The longest tag name and value a tag reference may carry (as items).
pub const MAX_TAG_NAME_CHARS: usize = 128;
pub const MAX_TAG_VALUE_CHARS: usize = 256;

/// A tag as a filter names it: `name:value` (that tag) or `name` (any
/// value of that name). Tags compare exactly (case-sensitive), as items
/// carry them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagRef {
    pub name: String,
    pub value: Option<String>,
}

impl TagRef {
    /// Parses `name:value` or `name` (the first `:` separates). Refuses an
    /// empty name or value, control characters, and overlong parts.
    pub fn parse(text: &str) -> Result<TagRef, String> {
        let (name, value) = match text.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (text, None),
        };
        let bad = |s: &str| s.is_empty() || s.chars().any(char::is_control);
        if bad(name) || name.chars().count() > MAX_TAG_NAME_CHARS {
            return Err(format!(
                "'{}' is not a tag: use name:value or name (1 to {MAX_TAG_NAME_CHARS} characters, no control characters)",
                shorten(text)
            ));
        }
        if let Some(v) = value {
            if bad(v) || v.chars().count() > MAX_TAG_VALUE_CHARS {
                return Err(format!(
                    "'{}' is not a tag: the value after ':' must be 1 to {MAX_TAG_VALUE_CHARS} characters without control characters",
                    shorten(text)
                ));
            }
        }
        Ok(TagRef {
            name: name.to_owned(),
            value: value.map(str::to_owned),
        })
    }

    /// Whether this reference names the tag `name:value`.
    pub fn matches(&self, name: &str, value: &str) -> bool {
        self.name == name && self.value.as_deref().is_none_or(|v| v == value)
    }
}

impl fmt::Display for TagRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}:{v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(60).collect()
}

/// One effective grant: a collection (or all of the tenant's), whether it
/// allows export, and its tag filter (empty: no filter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `None`: every collection of the tenant.
    pub collection: Option<String>,
    pub export: bool,
    pub tags: Vec<TagRef>,
}

/// What one caller may see: the tenant, every grant of the caller and of
/// the caller's groups (and those the caller's role implies), and the
/// tenant's restricted tag names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub tenant: String,
    pub grants: Vec<Grant>,
    pub restricted: Vec<String>,
}

impl Access {
    /// The same access with only the grants that allow export (what an
    /// export may return).
    pub fn for_export(&self) -> Access {
        Access {
            tenant: self.tenant.clone(),
            grants: self.grants.iter().filter(|g| g.export).cloned().collect(),
            restricted: self.restricted.clone(),
        }
    }

    /// Whether any grant allows export.
    pub fn may_export(&self) -> bool {
        self.grants.iter().any(|g| g.export)
    }
}

/// What the rule needs to know of an item.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    pub tenant: &'a str,
    pub collection: &'a str,
    /// The item's tags as `(name, value)`.
    pub tags: &'a [(String, String)],
}

/// Whether `grant` covers `item` (the tenant is checked by [`visible`]).
pub fn covers(grant: &Grant, restricted: &[String], item: &Item<'_>) -> bool {
    let collection = grant.collection.as_deref().is_none_or(|c| c == item.collection);
    let named = |(n, v): &(String, String)| grant.tags.iter().any(|t| t.matches(n, v));
    let filter = grant.tags.is_empty() || item.tags.iter().any(named);
    let restricted_named = item.tags.iter().filter(|(n, _)| restricted.contains(n)).all(named);
    collection && filter && restricted_named
}

/// The specification: whether the holder of `access` sees `item`.
pub fn visible(access: &Access, item: &Item<'_>) -> bool {
    item.tenant == access.tenant && access.grants.iter().any(|g| covers(g, &access.restricted, item))
}

/// A score the analyst API filters and aggregates on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    Nps,
    Csat,
    Ces,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::Nps, Metric::Csat, Metric::Ces];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Nps => "nps",
            Metric::Csat => "csat",
            Metric::Ces => "ces",
        }
    }

    pub fn parse(text: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

/// An inclusive range of a metric (`nps:0..6`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricRange {
    pub metric: Metric,
    pub min: f64,
    pub max: f64,
}

/// How repeated tag filters combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagMatch {
    /// An item carrying at least one of them.
    #[default]
    Any,
    /// An item carrying each of them.
    All,
}

/// The analyst's filter (all parts combine with AND; an empty list is no
/// filter). Times are microseconds since the Unix epoch: `from` inclusive,
/// `until` exclusive, on the item's `occurred_at`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    pub collections: Vec<String>,
    pub from: Option<i64>,
    pub until: Option<i64>,
    pub channels: Vec<String>,
    /// Language tags, lower case: `fi` selects items whose language is `fi`
    /// or starts with `fi-` (`fi-FI`), compared case-insensitively.
    pub languages: Vec<String>,
    pub tags: Vec<TagRef>,
    pub tag_match: TagMatch,
    pub metrics: Vec<MetricRange>,
    /// A full-text query (words; `"a phrase"`; `-word` excludes; `or`).
    pub text: Option<String>,
}

/// A position in the list's order (newest first: `occurred_at` descending,
/// then `event_id` descending): the next page starts after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub occurred_at: i64,
    pub event_id: String,
}

/// How aggregates are grouped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// One group: everything the filter selects.
    Nothing,
    Collection,
    /// By the values of one tag name (an item with two values counts in
    /// both groups; an item without the tag in none).
    Tag(String),
    /// By calendar period of `occurred_at`, UTC; weeks start on Monday
    /// (ISO 8601) and are named by that Monday's date.
    Day,
    Week,
    Month,
}

/// Whether an item is a CSAT "satisfied" answer: its value is in the top
/// quarter of its scale (4–5 of 1–5, 6–7 of 1–7, 8–10 of 0–10).
pub fn csat_satisfied(value: f64, scale_min: f64, scale_max: f64) -> bool {
    value >= scale_max - (scale_max - scale_min) / 4.0
}

/// NPS classes on the 0–10 scale: promoters 9–10, detractors 0–6.
pub fn nps_promoter(value: f64) -> bool {
    value >= 9.0
}

pub fn nps_detractor(value: f64) -> bool {
    value <= 6.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    fn grant(collection: Option<&str>, tags: &[&str]) -> Grant {
        Grant {
            collection: collection.map(str::to_owned),
            export: false,
            tags: tags
                .iter()
                .map(|t| TagRef::parse(t).expect("the test made it so"))
                .collect(),
        }
    }

    #[test]
    fn the_readme_example() {
        // A store manager with store:helsinki on "surveys"; HR restricted.
        let access = Access {
            tenant: "acme".into(),
            grants: vec![grant(Some("surveys"), &["store:helsinki"])],
            restricted: vec!["hr".into()],
        };
        let item = |collection, t: &[(&str, &str)]| (collection, tags(t));
        let cases = [
            (item("surveys", &[("store", "helsinki")]), true),
            (item("surveys", &[("store", "espoo")]), false),
            (item("tickets", &[("store", "helsinki")]), false),
            (item("surveys", &[("store", "helsinki"), ("hr", "complaint")]), false),
            (item("surveys", &[]), false),
        ];
        for ((collection, t), expected) in cases {
            let it = Item {
                tenant: "acme",
                collection,
                tags: &t,
            };
            assert_eq!(visible(&access, &it), expected, "{collection} {t:?}");
            let other = Item { tenant: "globex", ..it };
            assert!(!visible(&access, &other), "never another tenant's");
        }
    }

    #[test]
    fn restricted_tags_need_a_grant_naming_them() {
        let hr = tags(&[("hr", "complaint"), ("store", "espoo")]);
        let item = Item {
            tenant: "acme",
            collection: "tickets",
            tags: &hr,
        };
        let restricted = vec!["hr".to_string()];
        let with = |g: Grant| Access {
            tenant: "acme".into(),
            grants: vec![g],
            restricted: restricted.clone(),
        };
        assert!(!visible(&with(grant(None, &[])), &item), "an unfiltered grant");
        assert!(visible(&with(grant(None, &["hr"])), &item), "any hr value");
        assert!(visible(&with(grant(None, &["hr:complaint"])), &item));
        assert!(!visible(&with(grant(None, &["hr:praise"])), &item));
        assert!(
            !visible(&with(grant(None, &["store:espoo"])), &item),
            "the filter matches but names no hr tag"
        );
        assert!(visible(&with(grant(None, &["store:espoo", "hr"])), &item));
    }

    #[test]
    fn tag_references_parse_and_refuse() {
        assert_eq!(
            TagRef::parse("store:helsinki").expect("the test made it so"),
            TagRef {
                name: "store".into(),
                value: Some("helsinki".into())
            }
        );
        assert_eq!(
            TagRef::parse("url:http://x")
                .expect("the test made it so")
                .value
                .as_deref(),
            Some("http://x")
        );
        assert_eq!(TagRef::parse("hr").expect("the test made it so").value, None);
        for bad in ["", ":x", "x:", "a\nb", &"n".repeat(129)] {
            assert!(TagRef::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            TagRef::parse("store:espoo").expect("the test made it so").to_string(),
            "store:espoo"
        );
    }

    #[test]
    fn export_keeps_only_export_grants() {
        let mut g = grant(None, &[]);
        g.export = true;
        let access = Access {
            tenant: "acme".into(),
            grants: vec![grant(Some("a"), &[]), g],
            restricted: vec![],
        };
        assert!(access.may_export());
        assert_eq!(access.for_export().grants.len(), 1);
        assert!(!access.for_export().for_export().grants.is_empty());
    }

    #[test]
    fn satisfied_and_nps_classes() {
        assert!(csat_satisfied(4.0, 1.0, 5.0) && !csat_satisfied(3.0, 1.0, 5.0));
        assert!(csat_satisfied(6.0, 1.0, 7.0) && !csat_satisfied(5.0, 1.0, 7.0));
        assert!(csat_satisfied(8.0, 0.0, 10.0) && !csat_satisfied(7.0, 0.0, 10.0));
        assert!(nps_promoter(9.0) && !nps_promoter(8.0) && nps_detractor(6.0) && !nps_detractor(7.0));
    }
}
