//! The analyst API's queries over the feedback read model: every one
//! permission-filtered by an [`Access`] (compiled by [`crate::query`], the
//! same SQL shape on both databases). On PostgreSQL each runs in a read-only
//! transaction that first sets `vox.tenant_id` to the access's tenant
//! (`set_config(..., true)`, i.e. `SET LOCAL`): row-level security
//! (`deploy/postgres/roles.sql`) then hides every other tenant's rows from a
//! role without BYPASSRLS, whatever the SQL says.

use access::{Access, Filter, GroupBy, Position};
use futures_util::TryStreamExt;
use sqlx::postgres::PgPool;
use sqlx::Row;

use crate::query::{self, compile, Compiled, Dialect, Param, Select};
use crate::{FeedbackRow, Store, StoreError};

/// One group of [`Store::aggregate_feedback`].
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateRow {
    /// The collection, the tag's value, the day or the week's Monday
    /// (`YYYY-MM-DD`) or the month (`YYYY-MM`); `None` for
    /// [`GroupBy::Nothing`].
    pub key: Option<String>,
    pub items: u64,
    /// Items with an NPS answer; of them promoters (9–10) and detractors
    /// (0–6).
    pub nps_responses: u64,
    pub promoters: u64,
    pub detractors: u64,
    pub csat_responses: u64,
    pub csat_mean: Option<f64>,
    /// CSAT answers in the top quarter of their scale ([`access::csat_satisfied`]).
    pub csat_satisfied: u64,
    pub ces_responses: u64,
    pub ces_mean: Option<f64>,
}

/// Binds a compiled query's parameters, in order.
macro_rules! bind_params {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for param in $params {
            query = match param {
                Param::Text(text) => query.bind(text.as_str()),
                Param::Int(n) => query.bind(*n),
                Param::Float(x) => query.bind(*x),
            };
        }
        query
    }};
}

/// The longest a query of the analyst API (not an export) runs on
/// PostgreSQL before the server cancels it.
pub const QUERY_TIMEOUT_MS: u32 = 30_000;

/// The columns of a [`crate::FeedbackRow`] (a window's rows follow them
/// with the candidate's position).
const ROW_COLUMNS: usize = 18;

/// The most candidates one window holds ([`next_window`]).
const MAX_WINDOW: usize = 100_000;

/// How many candidates a page of `limit` may look at first. The grants' own
/// streams give (almost) only visible items, so without a filter a page and
/// a margin for restricted items. With one: on PostgreSQL eight pages and a
/// margin, since the database stops looking up candidates when the page is
/// full (a window costs only the candidates it uses, and a second window
/// costs a round trip and a statement); on SQLite, which looks up a whole
/// window before it sorts it, two pages and a margin. Then
/// [`next_window`] learns the filter's pass rate.
fn first_window(dialect: Dialect, filter: &Filter, limit: usize) -> usize {
    let selective = !filter.collections.is_empty()
        || !filter.channels.is_empty()
        || !filter.languages.is_empty()
        || !filter.tags.is_empty()
        || !filter.metrics.is_empty()
        || filter.text.as_deref().is_some_and(|t| !t.trim().is_empty());
    let pages = match (selective, dialect) {
        (false, _) => 1,
        (true, Dialect::Sqlite) => 2,
        (true, Dialect::Postgres) => 8,
    };
    limit.saturating_mul(pages).saturating_add(limit / 8 + 8)
}

/// The window after `last` when `found` of the `seen` candidates so far
/// were on the page and `need` rows are still missing: the candidates
/// expected to hold them at that pass rate, half as many again and 8 more;
/// eight times `last` when none passed; never smaller than `last`, never
/// larger than [`MAX_WINDOW`]. (Measured at 1,000,000 items, a text search
/// for a word in about a quarter of the items, before PostgreSQL's windows
/// stopped where the page is full: a page read one window of 400
/// candidates before, then a first of 114 and a second of about 200; p50
/// 4.41 → 3.20 ms.)
fn next_window(last: usize, seen: usize, found: usize, need: usize) -> usize {
    let next = if found == 0 {
        last.saturating_mul(8)
    } else {
        let expected = need.saturating_mul(seen).div_ceil(found);
        expected.saturating_add(expected / 2).saturating_add(8)
    };
    next.max(last).min(MAX_WINDOW)
}

/// What a transaction's statements read, for PostgreSQL's settings.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// A page (`LIMIT`) walking the tenant's items: a few rows, soon; no
    /// parallel workers (starting them costs more than such a query).
    Page,
    /// A page's windows of candidates, or one item: as [`Reads::Page`],
    /// and one generic plan per statement (see [`tenant_transaction`]).
    Candidates,
    /// Every row the filter selects (counts, aggregates, tags), within the
    /// query time limit.
    Scan,
    /// An export: every row, as long as its client reads.
    Export,
}

/// The memory of each sort or hash of a count, aggregate or tag list on
/// PostgreSQL (`work_mem`, for the transaction; the server's default is 4
/// MB). A regional manager's aggregate hashes the event ids of 300,000 tag
/// rows to find their items: with 4 MB the hash spills to disk in 8
/// batches (measured: 1.0 s against 0.54 s with 16 MB, 1,000,000 items).
/// A query uses a few such allowances per process, with up to two
/// parallel workers.
const SCAN_WORK_MEM: &str = "16MB";

/// A read-only transaction whose `vox.tenant_id` is `tenant` (until it
/// ends). Plans are made for the values at hand (`force_custom_plan`):
/// sqlx keeps statements prepared, and a generic plan for any tenant and
/// grant list is much slower for most walks and scans. Windows of
/// candidates and single items are the exception (`force_generic_plan`):
/// their plan is the same for any values (the candidates' index ranges,
/// merged, each looked up by event id), and planning it anew took longer
/// than running it (measured: 1.9 ms against 0.5 ms for 20 streams). No JIT compilation but for
/// exports: the planner's cost estimates for the permission subqueries
/// start it where compiling takes longer than the query (measured: 0.24 s
/// of 0.5). Counts, aggregates and tag lists sort and hash in
/// [`SCAN_WORK_MEM`].
async fn tenant_transaction(
    pool: &PgPool,
    tenant: &str,
    reads: Reads,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
    let mut tx = pool.begin_with("BEGIN READ ONLY").await?;
    let timeout = if reads == Reads::Export { 0 } else { QUERY_TIMEOUT_MS };
    let workers = if matches!(reads, Reads::Page | Reads::Candidates) {
        "0"
    } else {
        "2"
    };
    let plans = if reads == Reads::Candidates {
        "force_generic_plan"
    } else {
        "force_custom_plan"
    };
    sqlx::query(
        "SELECT set_config('vox.tenant_id', $1, true), set_config('statement_timeout', $2, true), \
         set_config('plan_cache_mode', $5, true), set_config('jit', $4, true), \
         set_config('max_parallel_workers_per_gather', $3, true), \
         set_config('work_mem', COALESCE($6, current_setting('work_mem')), true)",
    )
    .bind(tenant)
    .bind(timeout.to_string())
    .bind(workers)
    .bind(if reads == Reads::Export { "on" } else { "off" })
    .bind(plans)
    .bind((reads == Reads::Scan).then_some(SCAN_WORK_MEM))
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

macro_rules! aggregate_from_row {
    ($r:expr) => {{
        let r = $r;
        Ok::<_, StoreError>(AggregateRow {
            key: r.try_get(0)?,
            items: count(r.try_get(1)?),
            nps_responses: count(r.try_get(2)?),
            promoters: count(r.try_get(3)?),
            detractors: count(r.try_get(4)?),
            csat_responses: count(r.try_get(5)?),
            csat_mean: r.try_get(6)?,
            csat_satisfied: count(r.try_get(7)?),
            ces_responses: count(r.try_get(8)?),
            ces_mean: r.try_get(9)?,
        })
    }};
}

impl Store {
    fn dialect(&self) -> Dialect {
        match self {
            Store::Sqlite(_) => Dialect::Sqlite,
            Store::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The feedback items `access` sees that `filter` selects, newest first
    /// (`occurred_at`, then `event_id`, descending), starting after `after`,
    /// at most `limit` (ask one more than a page to learn whether another
    /// page follows).
    pub async fn list_feedback(
        &self,
        access: &Access,
        filter: &Filter,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Vec<FeedbackRow>, StoreError> {
        let first = first_window(self.dialect(), filter, limit);
        self.list_feedback_windowed(access, filter, after, limit, first).await
    }

    /// [`Store::list_feedback`] with the first window of candidates given
    /// (tests use tiny windows to exercise the windows' hand-over).
    #[doc(hidden)]
    pub async fn list_feedback_windowed(
        &self,
        access: &Access,
        filter: &Filter,
        after: Option<&Position>,
        limit: usize,
        first_window: usize,
    ) -> Result<Vec<FeedbackRow>, StoreError> {
        if limit == 0 || !query::drives(access) {
            let select = Select::Rows {
                after,
                limit: Some(limit),
            };
            return self
                .rows(access, compile(self.dialect(), access, filter, select), Reads::Page)
                .await;
        }
        let dialect = self.dialect();
        // Windows of candidates, growing, until the page is full or the
        // candidates run out: each window's visible items come before the
        // next window's, so the pages are the list, in order. One
        // connection (on PostgreSQL one transaction) for the page.
        macro_rules! windows {
            ($conn:expr) => {{
                let mut rows = Vec::with_capacity(limit);
                let mut start = after.cloned();
                let mut window = first_window.max(1);
                let mut seen_so_far = 0;
                loop {
                    let select = Select::Window {
                        after: start.as_ref(),
                        window,
                        need: limit - rows.len(),
                    };
                    let c = compile(dialect, access, filter, select);
                    // Read as a stream: memory holds one row at a time.
                    let mut found = bind_params!(sqlx::query(&c.sql), &c.params).fetch(&mut *$conn);
                    let mut last = None;
                    let mut place = 0;
                    while let Some(r) = found.try_next().await? {
                        place += 1;
                        if r.try_get::<Option<String>, _>(0)?.is_some() {
                            rows.push(feedback_from_row!(&r)?);
                        }
                        let number = r.try_get::<Option<i64>, _>(ROW_COLUMNS + 2)?;
                        if number.map_or(place, |n| usize::try_from(n).unwrap_or(0)) == window {
                            last = Some(Position {
                                occurred_at: r.try_get(ROW_COLUMNS)?,
                                event_id: r.try_get(ROW_COLUMNS + 1)?,
                            });
                        }
                        if rows.len() >= limit {
                            break;
                        }
                    }
                    drop(found);
                    // The window's last candidate came: more may follow.
                    let Some(last) = last.filter(|_| rows.len() < limit) else {
                        break;
                    };
                    start = Some(last);
                    seen_so_far += window;
                    window = next_window(window, seen_so_far, rows.len(), limit - rows.len());
                }
                rows
            }};
        }
        match self {
            Store::Sqlite(p) => {
                let mut conn = p.acquire().await?;
                Ok(windows!(conn))
            }
            Store::Postgres(p) => {
                let mut tx = tenant_transaction(p, &access.tenant, Reads::Candidates).await?;
                let rows = windows!(tx);
                tx.commit().await?;
                Ok(rows)
            }
        }
    }

    /// The item with `event_id` if `access` sees it; `None` when there is
    /// no such item and when it is not visible (the caller cannot tell).
    pub async fn get_feedback(&self, access: &Access, event_id: &str) -> Result<Option<FeedbackRow>, StoreError> {
        let compiled = compile(self.dialect(), access, &Filter::default(), Select::One { event_id });
        Ok(self.rows(access, compiled, Reads::Candidates).await?.into_iter().next())
    }

    async fn rows(&self, access: &Access, c: Compiled, reads: Reads) -> Result<Vec<FeedbackRow>, StoreError> {
        match self {
            Store::Sqlite(p) => {
                let rows = bind_params!(sqlx::query(&c.sql), &c.params).fetch_all(p).await?;
                rows.iter().map(|r| feedback_from_row!(r)).collect()
            }
            Store::Postgres(p) => {
                let mut tx = tenant_transaction(p, &access.tenant, reads).await?;
                let rows = bind_params!(sqlx::query(&c.sql), &c.params).fetch_all(&mut *tx).await?;
                tx.commit().await?;
                rows.iter().map(|r| feedback_from_row!(r)).collect()
            }
        }
    }

    /// How many items `access` sees that `filter` selects.
    pub async fn count_feedback_visible(&self, access: &Access, filter: &Filter) -> Result<u64, StoreError> {
        let c = compile(self.dialect(), access, filter, Select::Count);
        let n: i64 = match self {
            Store::Sqlite(p) => bind_params!(sqlx::query_scalar(&c.sql), &c.params).fetch_one(p).await?,
            Store::Postgres(p) => {
                let mut tx = tenant_transaction(p, &access.tenant, Reads::Scan).await?;
                let n = bind_params!(sqlx::query_scalar(&c.sql), &c.params)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                n
            }
        };
        Ok(count(n))
    }

    /// NPS, CSAT and CES figures of the items `access` sees that `filter`
    /// selects, per group (computed by the database), ordered by key.
    /// [`GroupBy::Nothing`] gives one row (with key `None`), also over no
    /// items; by tag, an item counts once for each value of the tag it has.
    pub async fn aggregate_feedback(
        &self,
        access: &Access,
        filter: &Filter,
        group: &GroupBy,
    ) -> Result<Vec<AggregateRow>, StoreError> {
        let c = compile(self.dialect(), access, filter, Select::Aggregate(group));
        match self {
            Store::Sqlite(p) => {
                let rows = bind_params!(sqlx::query(&c.sql), &c.params).fetch_all(p).await?;
                rows.iter().map(|r| aggregate_from_row!(r)).collect()
            }
            Store::Postgres(p) => {
                let mut tx = tenant_transaction(p, &access.tenant, Reads::Scan).await?;
                let rows = bind_params!(sqlx::query(&c.sql), &c.params).fetch_all(&mut *tx).await?;
                tx.commit().await?;
                rows.iter().map(|r| aggregate_from_row!(r)).collect()
            }
        }
    }

    /// Sends every item `access` sees that `filter` selects into `rows`,
    /// newest first, from one query read as a stream (memory does not grow
    /// with the result). Stops early, with `Ok`, when the receiver is
    /// dropped. Returns how many rows were sent. Give it
    /// [`Access::for_export`]: this method does not look at `export`.
    pub async fn export_feedback(
        &self,
        access: &Access,
        filter: &Filter,
        rows: tokio::sync::mpsc::Sender<FeedbackRow>,
    ) -> Result<u64, StoreError> {
        let select = Select::Rows {
            after: None,
            limit: None,
        };
        let c = compile(self.dialect(), access, filter, select);
        let mut sent = 0;
        match self {
            Store::Sqlite(p) => {
                let mut stream = bind_params!(sqlx::query(&c.sql), &c.params).fetch(p);
                while let Some(r) = stream.try_next().await? {
                    if rows.send(feedback_from_row!(&r)?).await.is_err() {
                        break;
                    }
                    sent += 1;
                }
            }
            Store::Postgres(p) => {
                // An export runs as long as it takes (its client reads it).
                let mut tx = tenant_transaction(p, &access.tenant, Reads::Export).await?;
                {
                    let mut stream = bind_params!(sqlx::query(&c.sql), &c.params).fetch(&mut *tx);
                    while let Some(r) = stream.try_next().await? {
                        if rows.send(feedback_from_row!(&r)?).await.is_err() {
                            break;
                        }
                        sent += 1;
                    }
                }
                // Ending the transaction reads (and drops) what the server
                // still sends of a stopped export.
                tx.commit().await?;
            }
        }
        Ok(sent)
    }

    /// The distinct tags `(name, value, items)` of the items `access` sees,
    /// by name and value, at most `limit`.
    pub async fn visible_tags(&self, access: &Access, limit: usize) -> Result<Vec<(String, String, u64)>, StoreError> {
        let c = compile(self.dialect(), access, &Filter::default(), Select::Tags { limit });
        let rows: Vec<(String, String, i64)> = match self {
            Store::Sqlite(p) => bind_params!(sqlx::query_as(&c.sql), &c.params).fetch_all(p).await?,
            Store::Postgres(p) => {
                let mut tx = tenant_transaction(p, &access.tenant, Reads::Scan).await?;
                let rows = bind_params!(sqlx::query_as(&c.sql), &c.params)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                rows
            }
        };
        Ok(rows.into_iter().map(|(n, v, c)| (n, v, count(c))).collect())
    }

    /// The database's plan for [`Store::list_feedback`]'s first page of
    /// `limit` (its first window, when the access drives one; for
    /// benchmarks and index work): PostgreSQL's `EXPLAIN (ANALYZE,
    /// BUFFERS)` (it runs the query), SQLite's `EXPLAIN QUERY PLAN`, one
    /// line per plan line.
    pub async fn explain_list(&self, access: &Access, filter: &Filter, limit: usize) -> Result<String, StoreError> {
        let (select, reads) = if query::drives(access) {
            let window = first_window(self.dialect(), filter, limit);
            (
                Select::Window {
                    after: None,
                    window,
                    need: limit,
                },
                Reads::Candidates,
            )
        } else {
            let select = Select::Rows {
                after: None,
                limit: Some(limit),
            };
            (select, Reads::Page)
        };
        self.explain(access, compile(self.dialect(), access, filter, select), reads)
            .await
    }

    /// The database's plan for [`Store::aggregate_feedback`], as
    /// [`Store::explain_list`].
    pub async fn explain_aggregate(
        &self,
        access: &Access,
        filter: &Filter,
        group: &GroupBy,
    ) -> Result<String, StoreError> {
        self.explain(
            access,
            compile(self.dialect(), access, filter, Select::Aggregate(group)),
            Reads::Scan,
        )
        .await
    }

    async fn explain(&self, access: &Access, c: Compiled, reads: Reads) -> Result<String, StoreError> {
        let lines: Vec<String> = match self {
            Store::Sqlite(p) => {
                let sql = format!("EXPLAIN QUERY PLAN {}", c.sql);
                let rows = bind_params!(sqlx::query(&sql), &c.params).fetch_all(p).await?;
                rows.iter()
                    .map(|r| r.try_get::<String, _>(3))
                    .collect::<Result<_, _>>()?
            }
            Store::Postgres(p) => {
                let sql = format!("EXPLAIN (ANALYZE, BUFFERS) {}", c.sql);
                let mut tx = tenant_transaction(p, &access.tenant, reads).await?;
                let lines = bind_params!(sqlx::query_scalar(&sql), &c.params)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                lines
            }
        };
        Ok(lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_after_one_that_passed_some_holds_what_the_rate_says_is_missing() {
        // A quarter passed: 25 missing rows need about 100 candidates.
        assert_eq!(next_window(108, 108, 27, 23), 92 + 46 + 8);
        // Counted over every window so far, not only the last.
        assert_eq!(next_window(100, 254, 40, 10), 64 + 32 + 8);
    }

    #[test]
    fn a_window_after_one_that_passed_none_is_eight_times_larger() {
        assert_eq!(next_window(108, 108, 0, 50), 864);
        assert_eq!(next_window(50_000, 90_000, 0, 50), MAX_WINDOW);
    }

    #[test]
    fn a_window_never_shrinks_nor_exceeds_the_maximum() {
        // Nearly everything passed, one row missing: still the last size.
        assert_eq!(next_window(400, 400, 399, 1), 400);
        assert_eq!(next_window(MAX_WINDOW, 200_000, 1, 49), MAX_WINDOW);
        assert_eq!(next_window(usize::MAX / 2, usize::MAX, 1, usize::MAX), MAX_WINDOW);
    }

    #[test]
    fn a_filter_starts_with_more_pages_than_no_filter() {
        assert_eq!(first_window(Dialect::Postgres, &Filter::default(), 50), 64);
        assert_eq!(first_window(Dialect::Sqlite, &Filter::default(), 50), 64);
        let text = Filter {
            text: Some("delivery".into()),
            ..Filter::default()
        };
        assert_eq!(first_window(Dialect::Sqlite, &text, 50), 114);
        assert_eq!(first_window(Dialect::Postgres, &text, 50), 414);
        let blank = Filter {
            text: Some("  ".into()),
            ..Filter::default()
        };
        assert_eq!(first_window(Dialect::Postgres, &blank, 50), 64);
    }
}
