//! The one query compiler of the analyst API, for both databases: an
//! [`Access`] (who asks), a [`Filter`] (what they ask for), an optional
//! [`Position`] and what to [`Select`] become SQL text with `$n`
//! placeholders and the [`Param`]s to bind to them. No value is ever
//! written into the SQL text: tenants, collections, tag names and values,
//! languages, full-text queries and positions are all bound. The dialects
//! differ only in the full-text clause, calendar periods, the JSON columns'
//! type, and whether a tag subquery also names the tenant (for each
//! planner's sake: see `Builder::tags_of_the_item`).
//!
//! The SQL always starts its conditions with `f.tenant_id = $1` (the first
//! wall; on PostgreSQL row-level security is the second) and then the
//! permission predicate, which follows [`access::visible`] grant by grant:
//!
//! ```text
//! [f.collection = c] AND [EXISTS a tag of the item that one of the grant's TagRefs names]
//!   AND NOT EXISTS (a tag of the item whose name is restricted and that no TagRef of the grant names)
//! ```
//!
//! Grants are OR-ed; unfiltered grants merge into one `f.collection IN
//! (...)` (no collection test when one is for all collections); no grants
//! select nothing (`FALSE`).

use std::collections::{BTreeMap, BTreeSet};

use access::{Access, Filter, GroupBy, Metric, Position, TagMatch, TagRef};

use crate::derived::TEXT_CONFIGS;
use crate::search::fts5_query;

/// The database a query is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

/// A value bound to a placeholder (`$1` is the first).
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Int(i64),
    Float(f64),
}

/// SQL text and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub sql: String,
    pub params: Vec<Param>,
}

/// What a query returns.
#[derive(Debug, Clone, Copy)]
pub enum Select<'a> {
    /// Feedback rows (the columns of [`crate::FeedbackRow`], in its order),
    /// newest first (`occurred_at` descending, then `event_id` descending),
    /// those after `after` in that order, at most `limit`.
    Rows {
        after: Option<&'a Position>,
        limit: Option<usize>,
    },
    /// The first `window` *candidates* after `after` (see
    /// `Builder::candidates`), newest first, looked up in order. Each row:
    /// the columns of [`crate::FeedbackRow`] when the candidate is visible
    /// and the filter selects it (all NULL otherwise), then the candidate's
    /// `occurred_at` and `event_id` (where the next window starts after),
    /// then its number in the window (from 1) or NULL, when the row's
    /// place is its number. On PostgreSQL only the selected candidates and
    /// the window's last, at most `need` rows: the database stops looking
    /// up candidates there, so a large window costs only the candidates a
    /// page uses (measured at 1,000,000 items, a text search for a word in
    /// a quarter of them, with a first window of eight pages: p50 3.20 ms
    /// before, 2.37 and 2.82 ms in two runs after). On SQLite every candidate (numbered NULL): it looks up a
    /// whole window before it sorts it, so stopping there would save
    /// nothing and numbering would add a sort. No row numbered (or placed)
    /// `window`, and fewer than `need` selected: no candidates follow. Only
    /// for an access that [`drives`].
    Window {
        after: Option<&'a Position>,
        window: usize,
        need: usize,
    },
    /// The feedback row of one event id.
    One { event_id: &'a str },
    /// `COUNT(*)`.
    Count,
    /// One row per group, ordered by key: key, items, NPS responses,
    /// promoters, detractors, CSAT responses, CSAT mean, CSAT satisfied, CES
    /// responses, CES mean.
    Aggregate(&'a GroupBy),
    /// Distinct tags of the selected items: name, value, items; by name and
    /// value, at most `limit`.
    Tags { limit: usize },
}

/// NPS promoters score at least this, detractors at most
/// [`NPS_DETRACTOR_MAX`] ([`access::nps_promoter`], [`access::nps_detractor`]).
const NPS_PROMOTER_MIN: &str = "9";
const NPS_DETRACTOR_MAX: &str = "6";

/// Compiles a query over the items `access` sees that `filter` selects.
pub fn compile(dialect: Dialect, access: &Access, filter: &Filter, select: Select<'_>) -> Compiled {
    let mut q = Builder {
        dialect,
        params: Vec::new(),
        few_rows: matches!(select, Select::Window { .. } | Select::One { .. }),
        scan: matches!(
            select,
            Select::Count | Select::Aggregate(_) | Select::Tags { .. } | Select::Rows { limit: None, .. }
        ),
        flags: None,
    };
    if q.scan && dialect == Dialect::Postgres && access.grants.len() > 1 {
        q.flags = Some(Vec::new());
    }
    let tenant = q.text(&access.tenant);
    debug_assert_eq!(tenant, "$1");
    let mut conditions = vec![format!("f.tenant_id = {tenant}")];
    // On SQLite a selective access's aggregate starts from its candidates
    // (each looked up by its rowid, in rowid order) rather than from every
    // item of the tenant. Measured slower on PostgreSQL (the union of many
    // tags' streams is read whole before the join).
    let from_candidates = dialect == Dialect::Sqlite && matches!(select, Select::Aggregate(_)) && drives(access);
    let permission = if matches!(select, Select::Window { .. }) || from_candidates {
        // Every candidate is covered by a grant: what is left to test is
        // a restricted tag, not the grants' tags again (measured: a
        // regional manager's aggregate, 302,000 items, see BENCHMARKS).
        q.permission_of_a_candidate(access)
    } else {
        q.permission(access)
    };
    conditions.push(permission);
    q.filter(filter, &mut conditions);
    let flags = q.flags_join();
    let sql = match select {
        Select::Window { after, window, need } => {
            let candidates = q
                .candidates(access, filter, after, Some(window))
                .expect("an access that drives");
            // The candidates drive the join: each is looked up by its
            // event id (PostgreSQL) or its rowid (SQLite).
            conditions.push(q.candidate_lookup());
            let (numbered, selected, limit) = match dialect {
                Dialect::Postgres => {
                    let last = q.bind(Param::Int(i64::try_from(window).unwrap_or(i64::MAX)));
                    let need = q.bind(Param::Int(i64::try_from(need).unwrap_or(i64::MAX)));
                    (
                        format!(
                            "SELECT c.event_id, c.occurred_at, \
                             row_number() OVER (ORDER BY c.occurred_at DESC, c.event_id DESC) AS n FROM ({candidates}) c"
                        ),
                        format!(" WHERE f.event_id IS NOT NULL OR w.n = {last}"),
                        format!(" LIMIT {need}"),
                    )
                }
                Dialect::Sqlite => (
                    format!("SELECT c.event_id, c.occurred_at, c.seq, NULL AS n FROM ({candidates}) c"),
                    String::new(),
                    String::new(),
                ),
            };
            format!(
                "SELECT {}, w.occurred_at, w.event_id, w.n FROM ({numbered}) w LEFT JOIN feedback f ON {}{selected} \
                 ORDER BY w.occurred_at DESC, w.event_id DESC{limit}",
                row_columns(dialect),
                conditions.join(" AND ")
            )
        }
        Select::Rows { after, limit } => {
            if let Some(p) = after {
                let at = q.bind(Param::Int(p.occurred_at));
                let id = q.text(&p.event_id);
                // The first part bounds the index range; the second is the exact keyset test.
                conditions.push(format!(
                    "f.occurred_at <= {at} AND (f.occurred_at < {at} OR (f.occurred_at = {at} AND f.event_id < {id}))"
                ));
            }
            let limit = match limit {
                Some(n) => format!(" LIMIT {}", q.bind(Param::Int(i64::try_from(n).unwrap_or(i64::MAX)))),
                None => String::new(),
            };
            format!(
                "SELECT {} FROM feedback f{flags} WHERE {} ORDER BY f.occurred_at DESC, f.event_id DESC{limit}",
                row_columns(dialect),
                conditions.join(" AND ")
            )
        }
        Select::One { event_id } => {
            conditions.push(format!("f.event_id = {}", q.text(event_id)));
            format!(
                "SELECT {} FROM feedback f WHERE {}",
                row_columns(dialect),
                conditions.join(" AND ")
            )
        }
        Select::Count => format!(
            "SELECT COUNT(*) FROM feedback f{flags} WHERE {}",
            conditions.join(" AND ")
        ),
        Select::Aggregate(group) => {
            let (key, join) = match group {
                GroupBy::Nothing => ("CAST(NULL AS TEXT)".to_owned(), String::new()),
                GroupBy::Collection => ("f.collection".to_owned(), String::new()),
                GroupBy::Tag(name) => (
                    "g.value".to_owned(),
                    format!(
                        " JOIN feedback_tags g ON g.tenant_id = f.tenant_id AND g.event_id = f.event_id AND g.name = {}",
                        q.text(name)
                    ),
                ),
                GroupBy::Day | GroupBy::Week | GroupBy::Month => (period(dialect, group), String::new()),
            };
            let candidates = if from_candidates {
                q.candidates(access, filter, None, None)
            } else {
                None
            };
            let from = match candidates {
                Some(candidates) => {
                    conditions.push(q.candidate_lookup());
                    format!("({candidates}) w CROSS JOIN feedback f")
                }
                None => format!("feedback f{flags}"),
            };
            let grouped = if matches!(group, GroupBy::Nothing) {
                ""
            } else {
                " GROUP BY group_key ORDER BY group_key"
            };
            format!(
                "SELECT {key} AS group_key, COUNT(*), COUNT(f.nps), \
                 COALESCE(SUM(CASE WHEN f.nps >= {NPS_PROMOTER_MIN} THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN f.nps <= {NPS_DETRACTOR_MAX} THEN 1 ELSE 0 END), 0), \
                 COUNT(f.csat), AVG(f.csat), COALESCE(SUM(CASE WHEN f.csat_satisfied THEN 1 ELSE 0 END), 0), \
                 COUNT(f.ces), AVG(f.ces) \
                 FROM {from}{join} WHERE {}{grouped}",
                conditions.join(" AND ")
            )
        }
        Select::Tags { limit } => {
            let limit = q.bind(Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
            format!(
                "SELECT vt.name, vt.value, COUNT(*) FROM feedback f{flags} JOIN feedback_tags vt ON vt.tenant_id = f.tenant_id AND vt.event_id = f.event_id \
                 WHERE {} GROUP BY vt.name, vt.value ORDER BY vt.name, vt.value LIMIT {limit}",
                conditions.join(" AND ")
            )
        }
    };
    Compiled { sql, params: q.params }
}

/// The feedback row's columns (PostgreSQL's JSONB read as text).
fn row_columns(dialect: Dialect) -> String {
    let json = match dialect {
        Dialect::Postgres => "::text",
        Dialect::Sqlite => "",
    };
    format!(
        "f.tenant_id, f.collection, f.external_id, f.event_id, f.client_id, f.batch_id, f.channel, f.occurred_at, \
         f.text, f.language, f.metrics{json}, f.respondent, f.metadata{json}, f.tags{json}, f.received_region, \
         f.processed_region, f.received_at, f.processed_at"
    )
}

/// Whether a page of `access`'s list is better found through the grants'
/// own indexes ([`Select::Window`]) than by walking the tenant's items in
/// time order: when no grant covers every collection without a tag filter
/// (then the walk finds visible items at once) and some grant exists.
pub fn drives(access: &Access) -> bool {
    !access.grants.is_empty()
        && !access
            .grants
            .iter()
            .any(|g| g.collection.is_none() && g.tags.is_empty())
}

/// The calendar period of `occurred_at` (microseconds, UTC) as text:
/// `YYYY-MM-DD` (day; week: its Monday) or `YYYY-MM`.
fn period(dialect: Dialect, group: &GroupBy) -> String {
    // Whole seconds, rounded down (also before 1970).
    let secs = "((f.occurred_at - (((f.occurred_at % 1000000) + 1000000) % 1000000)) / 1000000)";
    match dialect {
        Dialect::Postgres => {
            let at = format!("(TIMESTAMP '1970-01-01 00:00:00' + {secs} * INTERVAL '1 second')");
            match group {
                GroupBy::Week => format!("to_char(date_trunc('week', {at}), 'YYYY-MM-DD')"),
                GroupBy::Month => format!("to_char({at}, 'YYYY-MM')"),
                _ => format!("to_char({at}, 'YYYY-MM-DD')"),
            }
        }
        Dialect::Sqlite => match group {
            // The next Sunday (or this one), six days back: the Monday of the ISO week.
            GroupBy::Week => format!("date({secs}, 'unixepoch', 'weekday 0', '-6 days')"),
            GroupBy::Month => format!("strftime('%Y-%m', {secs}, 'unixepoch')"),
            _ => format!("strftime('%Y-%m-%d', {secs}, 'unixepoch')"),
        },
    }
}

fn metric_column(metric: Metric) -> &'static str {
    match metric {
        Metric::Nps => "f.nps",
        Metric::Csat => "f.csat",
        Metric::Ces => "f.ces",
    }
}

/// `(a AND b)`; `TRUE` for no conditions.
fn all_of(conditions: Vec<String>) -> String {
    match conditions.len() {
        0 => "TRUE".to_owned(),
        1 => conditions.into_iter().next().expect("one"),
        _ => format!("({})", conditions.join(" AND ")),
    }
}

/// `(a OR b)`; `FALSE` for no alternatives.
fn any_of(alternatives: Vec<String>) -> String {
    match alternatives.len() {
        0 => "FALSE".to_owned(),
        1 => alternatives.into_iter().next().expect("one"),
        _ => format!("({})", alternatives.join(" OR ")),
    }
}

fn distinct(list: &[String]) -> BTreeSet<&str> {
    list.iter().map(String::as_str).collect()
}

/// Escapes `%`, `_` and the escape character itself for `LIKE ... ESCAPE '\'`.
fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

struct Builder {
    dialect: Dialect,
    params: Vec<Param>,
    /// The conditions are tested on a few rows only (a window's
    /// candidates, one item): see [`Builder::tags_of_the_item`] and
    /// [`Builder::text_search`].
    few_rows: bool,
    /// The query reads every row its conditions select (a count, an
    /// aggregate, the tag list, an export).
    scan: bool,
    /// The tag tests made flags of the item (see
    /// [`Builder::item_has_a_tag`]), each a condition on the tag row `x`;
    /// [`Builder::flags_join`] joins them.
    flags: Option<Vec<String>>,
}

impl Builder {
    /// The join of the item's tag flags (`pt.t0`, `pt.t1`, …: 1 when the
    /// item has a tag meeting the flag's condition; no row when it has
    /// none): one pass over the tenant's tags that any condition names,
    /// grouped by item and joined by hash. Empty without flags.
    fn flags_join(&self) -> String {
        let Some(flags) = self.flags.as_ref().filter(|f| !f.is_empty()) else {
            return String::new();
        };
        let columns: Vec<String> = flags
            .iter()
            .enumerate()
            .map(|(k, c)| format!("MAX(CASE WHEN {c} THEN 1 ELSE 0 END) AS t{k}"))
            .collect();
        let any: Vec<String> = flags.iter().map(|c| format!("({c})")).collect();
        format!(
            " LEFT JOIN (SELECT x.event_id, {} FROM feedback_tags x WHERE x.tenant_id = $1 AND ({}) GROUP BY x.event_id) pt \
             ON pt.event_id = f.event_id",
            columns.join(", "),
            any.join(" OR ")
        )
    }

    /// Binds a value; returns its placeholder.
    fn bind(&mut self, param: Param) -> String {
        self.params.push(param);
        format!("${}", self.params.len())
    }

    fn text(&mut self, text: &str) -> String {
        self.bind(Param::Text(text.to_owned()))
    }

    /// `$3, $4, $5`.
    fn texts<'a>(&mut self, texts: impl IntoIterator<Item = &'a str>) -> String {
        texts.into_iter().map(|t| self.text(t)).collect::<Vec<_>>().join(", ")
    }

    /// Whether the item `f` has (`has`) or has not a tag (alias `t`) that
    /// meets `condition`: `[NOT] EXISTS` [`Builder::tags_of_the_item`];
    /// on SQLite, when the query reads every selected row
    /// ([`Builder::scan`]), `f.seq [NOT] IN` the rowids of the tenant's tags that
    /// meet it, read once (from `feedback_tags_by_time`) rather than a probe
    /// of the primary key per row.
    ///
    /// On PostgreSQL, for a scan of an access with several grants
    /// ([`Builder::flags`]), a flag of the item instead: the grants' tests
    /// OR-ed would otherwise be subplans that keep the planner from a
    /// parallel scan of the tenant (measured: three times the unfiltered
    /// aggregate).
    fn item_has_a_tag(&mut self, has: bool, t: &str, condition: &str) -> String {
        let not = if has { "" } else { "NOT " };
        if let Some(flags) = &mut self.flags {
            // The condition names only `{t}`'s columns and placeholders
            // (values are bound, never in the text).
            let condition = condition.replace(&format!("{t}."), "x.");
            let k = match flags.iter().position(|c| *c == condition) {
                Some(k) => k,
                None => {
                    flags.push(condition);
                    flags.len() - 1
                }
            };
            return format!("COALESCE(pt.t{k}, 0) = {}", u8::from(has));
        }
        if self.dialect == Dialect::Sqlite && self.scan {
            // By rowid: a list of integers (every tag index ends with it).
            format!("f.seq {not}IN (SELECT {t}.seq FROM feedback_tags {t} WHERE {t}.tenant_id = $1 AND {condition})")
        } else {
            // A test that the item has no such tag never finds rows: where
            // rows are tested one by one (not a scan) it reads the row's own
            // tags on PostgreSQL too, like every test of a few rows
            // (measured: the first page of everything but restricted items,
            // 200,000 items, 1.86 → 0.37 ms, 138 → 0 pages read).
            let own_row = self.few_rows || (!has && !self.scan);
            format!("{not}EXISTS ({})", self.tags_of_the_item(t, condition, own_row))
        }
    }

    /// The tags (alias `t`) of the item `f` that meet `condition`. On
    /// PostgreSQL also by tenant: the planner turns such an `EXISTS` into a
    /// hashed subplan (or a join) read once from a tag index that starts
    /// `(tenant_id, name, ...)` (without the tenant it would read every
    /// tenant's tags).
    /// SQLite runs it per row, by the primary key `(event_id, name, value)`;
    /// there the tenant term would lure it to the tag index, a scan of the
    /// tenant's tags per row.
    ///
    /// With `own_row` (the rows are few, [`Builder::few_rows`], or the test
    /// is that the item has no such tag), PostgreSQL reads the
    /// tags from the item's own row instead (its `tags` column, whose
    /// elements with a text name and value are exactly its `feedback_tags`
    /// rows: `derived::tags`): no index probe per row, and nothing the
    /// planner could turn into a join that first reads every tag row the
    /// condition names (measured: a page's 64 candidates 0.37 → 0.28 ms).
    fn tags_of_the_item(&self, t: &str, condition: &str, own_row: bool) -> String {
        match self.dialect {
            Dialect::Postgres if own_row => format!(
                "SELECT 1 FROM (SELECT e->>'name' AS name, e->>'value' AS value \
                 FROM jsonb_array_elements(CASE jsonb_typeof(f.tags) WHEN 'array' THEN f.tags ELSE '[]' END) e \
                 WHERE jsonb_typeof(e->'name') = 'string' AND jsonb_typeof(e->'value') = 'string') {t} \
                 WHERE {condition}"
            ),
            Dialect::Postgres => {
                format!("SELECT 1 FROM feedback_tags {t} WHERE {t}.tenant_id = $1 AND {t}.event_id = f.event_id AND {condition}")
            }
            Dialect::Sqlite => {
                format!("SELECT 1 FROM feedback_tags {t} WHERE {t}.event_id = f.event_id AND {condition}")
            }
        }
    }

    /// The first `window` candidates after `after`, newest first (all of
    /// them, unordered, for no `window`), as SQL
    /// selecting `(event_id, occurred_at)` (on SQLite also the rowid `seq`;
    /// only `seq` for all of them): the union of one ordered stream
    /// per way a grant covers an item, each from an index in time order —
    /// the items of a collection an unfiltered grant names
    /// (`feedback_by_collection_time`); the items carrying a tag a grant's
    /// filter names, of the grant's collection (`feedback_tags_by_collection_time`)
    /// or of any (`feedback_tags_by_time`); the items carrying any value of
    /// a tag name a filter names (`feedback_tags_by_name_time`). Every item
    /// the access sees is a candidate and every candidate is covered by a
    /// grant, so the visible items among the candidates, in order, are the
    /// list; a candidate may still be hidden by a restricted tag, or not
    /// selected by the filter, which the page's full conditions decide.
    /// `None` when the access does not [`drives`].
    fn candidates(
        &mut self,
        access: &Access,
        filter: &Filter,
        after: Option<&Position>,
        window: Option<usize>,
    ) -> Option<String> {
        if !drives(access) {
            return None;
        }
        let mut collections = BTreeSet::new();
        // (collection or all, tag name, value or any)
        let mut tags: BTreeSet<(Option<&str>, &str, Option<&str>)> = BTreeSet::new();
        for grant in &access.grants {
            match (&grant.collection, grant.tags.is_empty()) {
                (Some(c), true) => {
                    collections.insert(c.as_str());
                }
                (collection, false) => {
                    for r in &grant.tags {
                        tags.insert((collection.as_deref(), r.name.as_str(), r.value.as_deref()));
                    }
                }
                (None, true) => unreachable!("drives() excludes it"),
            }
        }
        // A stream of one collection adds nothing to the same tag's stream
        // of every collection, nor a value's stream to its name's.
        let subsumed: Vec<_> = tags
            .iter()
            .filter(|(c, name, value)| {
                (c.is_some() && tags.contains(&(None, *name, *value)))
                    || (value.is_some() && tags.contains(&(*c, *name, None)))
                    || (c.is_some() && value.is_some() && tags.contains(&(None, *name, None)))
            })
            .copied()
            .collect();
        for s in subsumed {
            tags.remove(&s);
        }
        // In time order, the first `window`; or all of them, in no order.
        let window = window.map(|w| self.bind(Param::Int(i64::try_from(w).unwrap_or(i64::MAX))));
        let first = |alias: &str| match &window {
            Some(w) => format!(" ORDER BY {alias}.occurred_at DESC, {alias}.event_id DESC LIMIT {w}"),
            None => String::new(),
        };
        let limit = first("s");
        // What each stream and the union select: an item's event id and
        // time (a window's order and where the next starts) and, on SQLite,
        // its rowid (how the item is looked up, `Builder::candidate_lookup`);
        // for all candidates on SQLite only the rowid.
        let (windowed, dialect) = (window.is_some(), self.dialect);
        let columns = move |alias: &str| match (windowed, dialect) {
            (_, Dialect::Postgres) => format!("{alias}.event_id, {alias}.occurred_at"),
            (true, Dialect::Sqlite) => format!("{alias}.event_id, {alias}.occurred_at, {alias}.seq"),
            (false, Dialect::Sqlite) => format!("{alias}.seq"),
        };
        let mut streams = Vec::new();
        for collection in collections {
            let c = self.text(collection);
            let bounds = self.stream_bounds("s", filter, after);
            streams.push(format!(
                "SELECT {} FROM feedback s WHERE s.tenant_id = $1 AND s.collection = {c}{bounds}{limit}",
                columns("s")
            ));
        }
        for (collection, name, value) in tags {
            let collection = match collection {
                Some(c) => format!(" AND s.collection = {}", self.text(c)),
                None => String::new(),
            };
            let name = self.text(name);
            let value = match value {
                Some(v) => format!(" AND s.value = {}", self.text(v)),
                None => String::new(),
            };
            let bounds = self.stream_bounds("s", filter, after);
            // An item carries a name with several values: once per stream
            // (a stream of k rows must be k items, or the union's k-th row
            // would not mark where the next window starts).
            let distinct = if value.is_empty() { "DISTINCT " } else { "" };
            streams.push(format!(
                "SELECT {distinct}{} FROM feedback_tags s \
                 WHERE s.tenant_id = $1{collection} AND s.name = {name}{value}{bounds}{limit}",
                columns("s")
            ));
        }
        let arms: Vec<String> = streams
            .iter()
            .enumerate()
            .map(|(i, stream)| format!("SELECT {} FROM ({stream}) c{i}", columns(&format!("c{i}"))))
            .collect();
        // A window merges the ordered streams and stops at its last
        // candidate, reading about `window` index entries in all rather than
        // `window` of each stream (measured: a regional manager's 20 streams
        // 4 ms → 0.5 ms on PostgreSQL, 0.9 → 0.5 ms on SQLite). PostgreSQL
        // merges a `UNION ALL` read in order (Merge Append) and drops
        // duplicates as they meet (Unique); SQLite merges a compound
        // `UNION` that has its own ORDER BY (co-routines).
        let selected = columns("u");
        Some(match (&window, self.dialect) {
            (None, _) => format!("SELECT {selected} FROM ({}) u", arms.join(" UNION ")),
            (Some(_), Dialect::Postgres) => format!(
                "SELECT DISTINCT {selected} FROM ({}) u{}",
                arms.join(" UNION ALL "),
                first("u")
            ),
            (Some(w), Dialect::Sqlite) => format!(
                "SELECT {selected} FROM ({} ORDER BY occurred_at DESC, event_id DESC LIMIT {w}) u",
                arms.join(" UNION ")
            ),
        })
    }

    /// How an item `f` is found from its candidate `w`
    /// ([`Builder::candidates`]): by event id on PostgreSQL; by rowid on
    /// SQLite, one descent of the table's B-tree instead of one of the
    /// event id's index and then one of the table.
    fn candidate_lookup(&self) -> String {
        match self.dialect {
            Dialect::Postgres => "f.event_id = w.event_id".to_owned(),
            Dialect::Sqlite => "f.seq = w.seq".to_owned(),
        }
    }

    /// A stream's time bounds: the filter's range and the keyset.
    fn stream_bounds(&mut self, s: &str, filter: &Filter, after: Option<&Position>) -> String {
        let mut out = String::new();
        if let Some(from) = filter.from {
            out.push_str(&format!(" AND {s}.occurred_at >= {}", self.bind(Param::Int(from))));
        }
        if let Some(until) = filter.until {
            out.push_str(&format!(" AND {s}.occurred_at < {}", self.bind(Param::Int(until))));
        }
        if let Some(p) = after {
            let at = self.bind(Param::Int(p.occurred_at));
            let id = self.text(&p.event_id);
            out.push_str(&format!(
                " AND {s}.occurred_at <= {at} AND ({s}.occurred_at < {at} OR ({s}.occurred_at = {at} AND {s}.event_id < {id}))"
            ));
        }
        out
    }

    /// Whether a tag row (alias `t`) is one that `refs` names: name-only
    /// references as `t.name IN (...)`, the others by name and value.
    fn named_by<'a>(&mut self, t: &str, refs: impl IntoIterator<Item = &'a TagRef>) -> String {
        let mut any_value = BTreeSet::new();
        let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for r in refs {
            match &r.value {
                None => {
                    any_value.insert(r.name.as_str());
                }
                Some(v) => {
                    values.entry(&r.name).or_default().insert(v);
                }
            }
        }
        let mut alternatives = Vec::new();
        if !any_value.is_empty() {
            alternatives.push(format!("{t}.name IN ({})", self.texts(any_value.iter().copied())));
        }
        for (name, values) in values.into_iter().filter(|(n, _)| !any_value.contains(n)) {
            let name = self.text(name);
            alternatives.push(format!("({t}.name = {name} AND {t}.value IN ({}))", self.texts(values)));
        }
        any_of(alternatives)
    }

    /// `NOT EXISTS` a tag of the item whose name is restricted and that no
    /// reference of `refs` names; `None` when no restricted tag can be one.
    fn no_unnamed_restricted(&mut self, restricted: &BTreeSet<&str>, refs: &[TagRef]) -> Option<String> {
        let mut whole = Vec::new();
        let mut partly: Vec<(&str, BTreeSet<&str>)> = Vec::new();
        for &name in restricted {
            let named: Vec<&TagRef> = refs.iter().filter(|r| r.name == name).collect();
            if named.iter().any(|r| r.value.is_none()) {
                continue; // every value of the name is named
            }
            if named.is_empty() {
                whole.push(name);
            } else {
                partly.push((name, named.iter().filter_map(|r| r.value.as_deref()).collect()));
            }
        }
        let names: Vec<&str> = whole.iter().copied().chain(partly.iter().map(|(n, _)| *n)).collect();
        let mut unnamed = Vec::new();
        if !whole.is_empty() {
            unnamed.push(format!("rt.name IN ({})", self.texts(whole)));
        }
        for (name, values) in partly {
            let name = self.text(name);
            unnamed.push(format!(
                "(rt.name = {name} AND rt.value NOT IN ({}))",
                self.texts(values)
            ));
        }
        if unnamed.is_empty() {
            return None;
        }
        let test = self.item_has_a_tag(false, "rt", &any_of(unnamed));
        // SQLite, rows tested one by one (a page, a window, one item; not a
        // scan): an item whose own `tags` text does not contain any of the
        // names cannot carry such a tag (its `feedback_tags` rows are that
        // JSON's elements, and serde_json writes a name literally unless it
        // holds a quote, a backslash or a control character), so the probes
        // of the primary key, one per name, run only for the few items that
        // mention one (measured: the deep pages of 100 store managers, p50
        // 1.13 → 0.95 ms; a first page of everything but restricted items,
        // 1,000,000 items, with SQLite's page cache cold as after an
        // aggregate, 0.43 → 0.18 ms against 0.11 ms unfiltered).
        if self.dialect == Dialect::Sqlite
            && !self.scan
            && names
                .iter()
                .all(|n| !n.chars().any(|c| c == '"' || c == '\\' || c.is_control()))
        {
            let mentions: Vec<String> = names
                .into_iter()
                .map(|n| format!("instr(f.tags, {}) > 0", self.text(n)))
                .collect();
            return Some(format!("(NOT ({}) OR {test})", mentions.join(" OR ")));
        }
        Some(test)
    }

    /// The permission predicate for a candidate ([`Builder::candidates`]):
    /// a grant covers every candidate, so when every grant hides the same
    /// restricted tags (names none of them, or the same values of them) a
    /// candidate is visible iff it carries none of those; otherwise the
    /// whole [`Builder::permission`].
    fn permission_of_a_candidate(&mut self, access: &Access) -> String {
        let restricted: BTreeSet<&str> = access.restricted.iter().map(String::as_str).collect();
        fn named<'a>(grant: &'a access::Grant, restricted: &BTreeSet<&str>) -> BTreeSet<&'a TagRef> {
            grant
                .tags
                .iter()
                .filter(|r| restricted.contains(r.name.as_str()))
                .collect()
        }
        let Some(first) = access.grants.first() else {
            return "FALSE".to_owned();
        };
        let first = named(first, &restricted);
        if access.grants.iter().any(|g| named(g, &restricted) != first) {
            return self.permission(access);
        }
        let refs: Vec<TagRef> = first.into_iter().cloned().collect();
        self.no_unnamed_restricted(&restricted, &refs)
            .unwrap_or_else(|| "TRUE".to_owned())
    }

    /// The permission predicate ([`access::visible`] without the tenant).
    fn permission(&mut self, access: &Access) -> String {
        let restricted: BTreeSet<&str> = access.restricted.iter().map(String::as_str).collect();
        let mut every_collection = false;
        let mut collections = BTreeSet::new();
        let mut filtered: Vec<(Option<&str>, BTreeSet<&TagRef>)> = Vec::new();
        for grant in &access.grants {
            if grant.tags.is_empty() {
                match &grant.collection {
                    None => every_collection = true,
                    Some(c) => {
                        collections.insert(c.as_str());
                    }
                }
            } else {
                let key = (grant.collection.as_deref(), grant.tags.iter().collect::<BTreeSet<_>>());
                if !filtered.contains(&key) {
                    filtered.push(key);
                }
            }
        }
        let mut alternatives = Vec::new();
        if every_collection || !collections.is_empty() {
            let mut conditions = Vec::new();
            if !every_collection {
                conditions.push(format!("f.collection IN ({})", self.texts(collections)));
            }
            conditions.extend(self.no_unnamed_restricted(&restricted, &[]));
            alternatives.push(all_of(conditions));
        }
        for (collection, refs) in filtered {
            let mut conditions = Vec::new();
            if let Some(c) = collection {
                conditions.push(format!("f.collection = {}", self.text(c)));
            }
            let named = self.named_by("gt", refs.iter().copied());
            conditions.push(self.item_has_a_tag(true, "gt", &named));
            let refs: Vec<TagRef> = refs.into_iter().cloned().collect();
            conditions.extend(self.no_unnamed_restricted(&restricted, &refs));
            alternatives.push(all_of(conditions));
        }
        any_of(alternatives)
    }

    /// The filter's conditions (each part AND-ed; an empty list is no condition).
    fn filter(&mut self, filter: &Filter, conditions: &mut Vec<String>) {
        if !filter.collections.is_empty() {
            let c = self.texts(distinct(&filter.collections));
            conditions.push(format!("f.collection IN ({c})"));
        }
        if let Some(from) = filter.from {
            conditions.push(format!("f.occurred_at >= {}", self.bind(Param::Int(from))));
        }
        if let Some(until) = filter.until {
            conditions.push(format!("f.occurred_at < {}", self.bind(Param::Int(until))));
        }
        if !filter.channels.is_empty() {
            let c = self.texts(distinct(&filter.channels));
            conditions.push(format!("f.channel IN ({c})"));
        }
        if !filter.languages.is_empty() {
            let languages: BTreeSet<String> = filter.languages.iter().map(|l| l.to_ascii_lowercase()).collect();
            let mut alternatives = Vec::new();
            for language in &languages {
                let exact = self.text(language);
                let prefix = self.bind(Param::Text(format!("{}-%", like_literal(language))));
                alternatives.push(format!(
                    "f.language_key = {exact} OR f.language_key LIKE {prefix} ESCAPE '\\'"
                ));
            }
            conditions.push(format!("({})", alternatives.join(" OR ")));
        }
        if !filter.tags.is_empty() {
            match filter.tag_match {
                TagMatch::Any => {
                    let named = self.named_by("ta", &filter.tags);
                    conditions.push(self.item_has_a_tag(true, "ta", &named));
                }
                TagMatch::All => {
                    for tag in filter.tags.iter().collect::<BTreeSet<_>>() {
                        let named = self.named_by("ta", [tag]);
                        conditions.push(self.item_has_a_tag(true, "ta", &named));
                    }
                }
            }
        }
        for range in &filter.metrics {
            let min = self.bind(Param::Float(range.min));
            let max = self.bind(Param::Float(range.max));
            conditions.push(format!("{} BETWEEN {min} AND {max}", metric_column(range.metric)));
        }
        if let Some(text) = filter.text.as_deref().filter(|t| !t.trim().is_empty()) {
            let clause = self.text_search(text);
            conditions.push(clause);
        }
    }

    /// The full-text condition. PostgreSQL matches each item in its own
    /// language's configuration (one constant tsquery per configuration, so
    /// the GIN index serves each); SQLite matches FTS5 with the query made
    /// safe by [`fts5_query`].
    fn text_search(&mut self, text: &str) -> String {
        match self.dialect {
            Dialect::Postgres => {
                let q = self.text(text);
                // A window's or a single item's statement runs one generic
                // plan (`analyst::tenant_transaction`), where a function of
                // a parameter is computed again for every row: there each
                // tsquery is a subquery, computed once per statement
                // (measured: a window of 400 candidates 1.25 → 0.95 ms).
                let (open, close) = if self.few_rows { ("(SELECT ", ")") } else { ("", "") };
                let per_config: Vec<String> = TEXT_CONFIGS
                    .iter()
                    .map(|c| {
                        format!("(f.text_config = '{c}' AND f.search @@ {open}websearch_to_tsquery('{c}', {q}){close})")
                    })
                    .collect();
                format!("({})", per_config.join(" OR "))
            }
            Dialect::Sqlite => {
                let query = fts5_query(text);
                let mut alternatives = Vec::new();
                // Every match read once (a walk of the tenant meets many
                // rows), or one lookup by rowid per row (a window's few:
                // reading every match per window was measured far slower).
                let (is_in, not_in) = if self.few_rows {
                    (
                        "EXISTS (SELECT 1 FROM feedback_fts WHERE feedback_fts MATCH {m} AND feedback_fts.rowid = f.seq)",
                        "NOT EXISTS (SELECT 1 FROM feedback_fts WHERE feedback_fts MATCH {m} AND feedback_fts.rowid = f.seq)",
                    )
                } else {
                    (
                        "f.seq IN (SELECT rowid FROM feedback_fts WHERE feedback_fts MATCH {m})",
                        "f.seq NOT IN (SELECT rowid FROM feedback_fts WHERE feedback_fts MATCH {m})",
                    )
                };
                if let Some(matching) = query.matching {
                    let m = self.bind(Param::Text(matching));
                    alternatives.push(is_in.replace("{m}", &m));
                }
                if let Some(excluding) = query.excluding {
                    let m = self.bind(Param::Text(excluding));
                    alternatives.push(not_in.replace("{m}", &m));
                }
                any_of(alternatives)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use access::{Grant, MetricRange};

    use super::*;

    fn tag(text: &str) -> TagRef {
        TagRef::parse(text).expect("a tag")
    }

    fn grant(collection: Option<&str>, tags: &[&str]) -> Grant {
        Grant {
            collection: collection.map(str::to_owned),
            export: false,
            tags: tags.iter().map(|t| tag(t)).collect(),
        }
    }

    fn access(grants: Vec<Grant>, restricted: &[&str]) -> Access {
        Access {
            tenant: "acme".into(),
            grants,
            restricted: restricted.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn rows<'a>() -> Select<'a> {
        Select::Rows {
            after: None,
            limit: Some(10),
        }
    }

    #[test]
    fn every_query_starts_with_the_tenant_wall() {
        let a = access(vec![grant(None, &[])], &[]);
        let p = Position {
            occurred_at: 1,
            event_id: "e".into(),
        };
        let group = GroupBy::Tag("store".into());
        for dialect in [Dialect::Postgres, Dialect::Sqlite] {
            for select in [
                rows(),
                Select::Rows {
                    after: Some(&p),
                    limit: None,
                },
                Select::One { event_id: "e" },
                Select::Count,
                Select::Aggregate(&GroupBy::Week),
                Select::Aggregate(&group),
                Select::Tags { limit: 5 },
            ] {
                let c = compile(dialect, &a, &Filter::default(), select);
                assert!(c.sql.contains("WHERE f.tenant_id = $1 AND "), "{}", c.sql);
                assert_eq!(c.params[0], Param::Text("acme".into()));
            }
        }
    }

    #[test]
    fn no_grants_select_nothing() {
        let c = compile(
            Dialect::Sqlite,
            &access(vec![], &["hr"]),
            &Filter::default(),
            Select::Count,
        );
        assert_eq!(
            c.sql,
            "SELECT COUNT(*) FROM feedback f WHERE f.tenant_id = $1 AND FALSE"
        );
    }

    #[test]
    fn unfiltered_grants_merge_into_one_collection_test() {
        let a = access(
            vec![grant(Some("b"), &[]), grant(Some("a"), &[]), grant(Some("b"), &[])],
            &[],
        );
        let c = compile(Dialect::Postgres, &a, &Filter::default(), Select::Count);
        assert!(c.sql.ends_with("AND f.collection IN ($2, $3)"), "{}", c.sql);
        let all = access(vec![grant(Some("a"), &[]), grant(None, &[])], &["hr"]);
        let c = compile(Dialect::Postgres, &all, &Filter::default(), rows());
        assert!(!c.sql.contains("f.collection IN"), "{}", c.sql);
        // Only the restricted test (on the row's own tags: a page).
        assert!(
            c.sql
                .ends_with("rt WHERE rt.name IN ($2)) ORDER BY f.occurred_at DESC, f.event_id DESC LIMIT $3"),
            "{}",
            c.sql
        );
        assert!(
            c.sql.contains("AND NOT EXISTS (SELECT 1 FROM (SELECT e->>'name'"),
            "{}",
            c.sql
        );
    }

    #[test]
    fn a_postgres_scan_of_several_grants_tests_tags_as_joined_flags() {
        let a = access(
            vec![grant(Some("s"), &[]), grant(None, &["hr"])],
            &["hr", "confidential"],
        );
        let c = compile(Dialect::Postgres, &a, &Filter::default(), Select::Count);
        assert!(!c.sql.contains("EXISTS"), "{}", c.sql);
        assert!(
            c.sql.contains(
                "LEFT JOIN (SELECT x.event_id, MAX(CASE WHEN x.name IN ($3, $4) THEN 1 ELSE 0 END) AS t0, \
                 MAX(CASE WHEN x.name IN ($5) THEN 1 ELSE 0 END) AS t1, MAX(CASE WHEN x.name IN ($6) THEN 1 ELSE 0 END) AS t2 \
                 FROM feedback_tags x WHERE x.tenant_id = $1 AND ((x.name IN ($3, $4)) OR (x.name IN ($5)) OR (x.name IN ($6))) \
                 GROUP BY x.event_id) pt ON pt.event_id = f.event_id"
            ),
            "{}",
            c.sql
        );
        // The collection's items without restricted tags, or hr items without confidential ones.
        assert!(
            c.sql.ends_with(
                "((f.collection IN ($2) AND COALESCE(pt.t0, 0) = 0) OR (COALESCE(pt.t1, 0) = 1 AND COALESCE(pt.t2, 0) = 0))"
            ),
            "{}",
            c.sql
        );
        // Pages and SQLite keep the EXISTS tests.
        for (dialect, select) in [(Dialect::Postgres, rows()), (Dialect::Sqlite, Select::Count)] {
            let c = compile(dialect, &a, &Filter::default(), select);
            assert!(!c.sql.contains("pt."), "{}", c.sql);
        }
    }

    #[test]
    fn a_filtered_grant_names_what_it_may_see_of_restricted_tags() {
        let a = access(
            vec![grant(Some("s"), &["hr:complaint", "store"])],
            &["hr", "pay", "store"],
        );
        let c = compile(Dialect::Sqlite, &a, &Filter::default(), Select::Count);
        assert!(
            c.sql.contains("gt.name IN ($3) OR (gt.name = $4 AND gt.value IN ($5))"),
            "{}",
            c.sql
        );
        // store: any value named; pay: none named; hr: only complaint.
        assert!(
            c.sql
                .contains("rt.name IN ($6) OR (rt.name = $7 AND rt.value NOT IN ($8))"),
            "{}",
            c.sql
        );
        assert_eq!(
            c.params[5..],
            [
                Param::Text("pay".into()),
                Param::Text("hr".into()),
                Param::Text("complaint".into())
            ]
        );
    }

    #[test]
    fn a_postgres_page_tests_restricted_tags_on_the_rows_own_tags() {
        let walk = access(vec![grant(None, &[]), grant(None, &["hr"])], &["hr"]);
        let page = Select::Rows {
            after: None,
            limit: Some(50),
        };
        let c = compile(Dialect::Postgres, &walk, &Filter::default(), page);
        // The restricted test reads the row; the HR grant's test still
        // probes the tag table (it can find the rows).
        assert!(
            c.sql.contains("NOT EXISTS (SELECT 1 FROM (SELECT e->>'name'"),
            "{}",
            c.sql
        );
        assert!(c.sql.contains(" EXISTS (SELECT 1 FROM feedback_tags "), "{}", c.sql);
        // A scan reads the tag table (once, hashed).
        let c = compile(Dialect::Postgres, &walk, &Filter::default(), Select::Count);
        assert!(!c.sql.contains("jsonb_array_elements"), "{}", c.sql);
    }

    #[test]
    fn a_sqlite_item_is_probed_for_restricted_tags_only_when_its_tags_mention_one() {
        let one = Select::One { event_id: "e" };
        let a = access(vec![grant(Some("s"), &["store:x"])], &["hr", "pay"]);
        let c = compile(Dialect::Sqlite, &a, &Filter::default(), one);
        assert_eq!(c.sql.matches("instr(f.tags, $").count(), 2, "{}", c.sql);
        assert!(
            c.sql.contains(") > 0) OR NOT EXISTS (SELECT 1 FROM feedback_tags rt"),
            "{}",
            c.sql
        );
        assert!(c.params.contains(&Param::Text("pay".into())));
        // Also a page that walks the tenant's items.
        let walk = access(vec![grant(None, &[])], &["hr", "pay"]);
        let page = Select::Rows {
            after: None,
            limit: Some(50),
        };
        let c = compile(Dialect::Sqlite, &walk, &Filter::default(), page);
        assert_eq!(c.sql.matches("instr(f.tags, $").count(), 2, "{}", c.sql);
        // Not where JSON would escape the name, nor on PostgreSQL, nor in a
        // scan (which reads the tenant's restricted tags once).
        let quoted = access(vec![grant(Some("s"), &["store:x"])], &["hr", "h\"r"]);
        let c = compile(Dialect::Sqlite, &quoted, &Filter::default(), one);
        assert!(!c.sql.contains("instr("), "{}", c.sql);
        let export = Select::Rows {
            after: None,
            limit: None,
        };
        for (dialect, select) in [
            (Dialect::Postgres, one),
            (Dialect::Sqlite, Select::Count),
            (Dialect::Sqlite, export),
        ] {
            let c = compile(dialect, &a, &Filter::default(), select);
            assert!(!c.sql.contains("instr("), "{}", c.sql);
        }
    }

    #[test]
    fn sqlite_finds_candidates_by_rowid_and_tests_only_restricted_tags_on_them() {
        let regional = access(vec![grant(None, &["store:a", "store:b"])], &["hr"]);
        let by_month = GroupBy::Month;
        let c = compile(
            Dialect::Sqlite,
            &regional,
            &Filter::default(),
            Select::Aggregate(&by_month),
        );
        // The candidates are rowids, each looked up by rowid.
        assert!(c.sql.contains("SELECT u.seq FROM ("), "{}", c.sql);
        assert!(c.sql.contains("f.seq = w.seq"), "{}", c.sql);
        // The grant's tags are not tested again; the restricted one is, as
        // a list of rowids read once.
        assert!(!c.sql.contains("gt."), "{}", c.sql);
        assert!(
            c.sql.contains("f.seq NOT IN (SELECT rt.seq FROM feedback_tags rt"),
            "{}",
            c.sql
        );
        // A window carries the rowid with the candidate's place.
        let window = Select::Window {
            after: None,
            window: 10,
            need: 5,
        };
        let c = compile(Dialect::Sqlite, &regional, &Filter::default(), window);
        assert!(c.sql.contains("c.event_id, c.occurred_at, c.seq"), "{}", c.sql);
        assert!(c.sql.contains("f.seq = w.seq"), "{}", c.sql);
        // PostgreSQL looks candidates up by event id, and its aggregate
        // scans the tenant with the whole permission predicate.
        let c = compile(Dialect::Postgres, &regional, &Filter::default(), window);
        assert!(
            c.sql.contains("f.event_id = w.event_id") && !c.sql.contains(".seq"),
            "{}",
            c.sql
        );
        let c = compile(
            Dialect::Postgres,
            &regional,
            &Filter::default(),
            Select::Aggregate(&by_month),
        );
        assert!(c.sql.contains("gt.") && !c.sql.contains("w.event_id"), "{}", c.sql);
    }

    #[test]
    fn values_are_bound_never_written_into_the_sql() {
        let hostile = "x' OR '1'='1\"; DROP TABLE feedback; --\\%_*";
        let a = Access {
            tenant: hostile.into(),
            grants: vec![Grant {
                collection: Some(hostile.into()),
                export: true,
                tags: vec![TagRef {
                    name: hostile.into(),
                    value: Some(hostile.into()),
                }],
            }],
            restricted: vec![hostile.into()],
        };
        let filter = Filter {
            collections: vec![hostile.into()],
            from: Some(1),
            until: Some(2),
            channels: vec![hostile.into()],
            languages: vec![hostile.into()],
            tags: vec![TagRef {
                name: hostile.into(),
                value: None,
            }],
            tag_match: TagMatch::All,
            metrics: vec![MetricRange {
                metric: Metric::Nps,
                min: 0.0,
                max: 6.0,
            }],
            text: Some(hostile.into()),
        };
        let position = Position {
            occurred_at: 3,
            event_id: hostile.into(),
        };
        let group = GroupBy::Tag(hostile.into());
        for dialect in [Dialect::Postgres, Dialect::Sqlite] {
            for select in [
                Select::Rows {
                    after: Some(&position),
                    limit: Some(5),
                },
                Select::One { event_id: hostile },
                Select::Aggregate(&group),
                Select::Tags { limit: 1 },
            ] {
                let c = compile(dialect, &a, &filter, select);
                for needle in ["DROP", "'1'", "x'", "--"] {
                    assert!(!c.sql.contains(needle), "{needle} in {}", c.sql);
                }
                let placeholders = (1..=c.params.len())
                    .filter(|n| c.sql.contains(&format!("${n}")))
                    .count();
                assert_eq!(placeholders, c.params.len(), "every parameter is used: {}", c.sql);
            }
        }
    }

    #[test]
    fn languages_match_the_tag_and_its_subtags_with_like_escaped() {
        let filter = Filter {
            languages: vec!["FI".into(), "a_%".into()],
            ..Filter::default()
        };
        let c = compile(
            Dialect::Sqlite,
            &access(vec![grant(None, &[])], &[]),
            &filter,
            Select::Count,
        );
        assert!(c.params.contains(&Param::Text("fi".into())));
        assert!(c.params.contains(&Param::Text("fi-%".into())));
        assert!(c.params.contains(&Param::Text("a\\_\\%-%".into())));
    }

    #[test]
    fn the_period_statistics_are_on_the_queries_own_expressions() {
        // The planner uses a statistics object only for the expression as
        // the query writes it.
        let migration = include_str!("../migrations/postgres/0007_period_statistics.sql");
        for group in [GroupBy::Day, GroupBy::Week, GroupBy::Month] {
            let expression = period(Dialect::Postgres, &group).replace("f.", "");
            assert!(
                migration.contains(&format!("ON ({expression}) FROM feedback;")),
                "migration 7 has no statistics on {expression}"
            );
        }
    }

    #[test]
    fn nps_classes_agree_with_the_access_rule() {
        let promoter: f64 = NPS_PROMOTER_MIN.parse().expect("a number");
        let detractor: f64 = NPS_DETRACTOR_MAX.parse().expect("a number");
        for v in 0..=10 {
            let v = f64::from(v);
            assert_eq!(v >= promoter, access::nps_promoter(v), "{v}");
            assert_eq!(v <= detractor, access::nps_detractor(v), "{v}");
        }
        for v in [6.5, 8.99, 9.0] {
            assert_eq!(v >= promoter, access::nps_promoter(v), "{v}");
            assert_eq!(v <= detractor, access::nps_detractor(v), "{v}");
        }
    }
}
