//! The store seam: read models and the projector's input offsets, in SQLite
//! (embedded) or PostgreSQL (distributed). Only this crate writes SQL for the
//! read models. Every projection step is one SQL transaction that writes the
//! rows and moves the stored offsets with a compare-and-set. A feedback
//! item is one row per event id: a later event of the same item with other
//! content (a correction) replaces the earlier one, and one with the same
//! content (a client's retry) changes nothing, so a replayed batch changes
//! nothing and the newest version in log order wins.
//!
//! Each step also writes what the analyst API's queries need: columns
//! derived from the JSON (`src/derived.rs`), the items' tags in
//! `feedback_tags`, and the full-text index (a generated `tsvector` on
//! PostgreSQL, an FTS5 table kept by triggers on SQLite). The queries
//! themselves (`src/analyst.rs`) are compiled for both databases by one
//! compiler (`src/query.rs`) from an [`access::Access`] and an
//! [`access::Filter`].
//!
//! The store also holds the operational state of the people API (sessions
//! and tokens, the second factor, login throttling, uses of support access:
//! `src/people.rs`). That state is not derived from the log:
//! [`Store::reset`] keeps it.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::SqlitePool;
use sqlx::Row;

mod derived;
mod people;
pub mod query;
mod search;
mod sso;
pub use analyst::AggregateRow;
pub use people::{NewSession, SessionKind, SessionRow, SupportUse, Throttle};
pub use sso::{OwnerAlert, SsoRequest, ALERT_MICROS};

/// The PostgreSQL schema's migrations, embedded in the binary.
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "projector '{projector}' expected to continue {topic}[{partition}] at offset {expected}, but the store is elsewhere; \
         another projector instance wrote first (restart this one)"
    )]
    OffsetConflict {
        projector: String,
        topic: String,
        partition: i32,
        expected: i64,
    },
    #[error(
        "audit log '{log_id}' was expected to have {expected} records, but the store has another number; \
         another auditor instance wrote first (restart this one)"
    )]
    AuditLogConflict { log_id: String, expected: u64 },
    #[error("the store holds a value this version cannot read: {0}")]
    Corrupt(String),
    #[error("stored JSON column could not be read: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "the database schema is not migrated to this version of Vox (missing migrations {missing:?}); run \
         `vox migrate` as the schema's owner first (this role connects with --database-migrate false)"
    )]
    NotMigrated { missing: Vec<i64> },
}

impl StoreError {
    /// Whether the database refused this data rather than failed: a value
    /// it cannot hold, a constraint, a row too large. Such a failure belongs
    /// to a record (the projector turns it into a dead letter and moves on);
    /// any other failure (connection, disk, locks) stops or retries the
    /// role.
    pub fn is_refused_data(&self) -> bool {
        match self {
            StoreError::Json(_) => true,
            StoreError::Database(sqlx::Error::Encode(_)) => true,
            StoreError::Database(sqlx::Error::Database(db)) => {
                let code = db.code().unwrap_or_default();
                match self.backend_of(db.as_ref()) {
                    // SQLSTATE classes 22 (data exception), 23 (integrity
                    // constraint), 54 (program limit, e.g. a row too large).
                    Backend::Postgres => ["22", "23", "54"].iter().any(|class| code.starts_with(class)),
                    // Primary result codes TOOBIG, CONSTRAINT, MISMATCH, RANGE.
                    Backend::Sqlite => code
                        .parse::<i32>()
                        .is_ok_and(|c| [18, 19, 20, 25].contains(&(c & 0xff))),
                }
            }
            _ => false,
        }
    }

    fn backend_of(&self, db: &dyn sqlx::error::DatabaseError) -> Backend {
        if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

enum Backend {
    Postgres,
    Sqlite,
}

/// One row of the feedback read model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedbackRow {
    pub tenant_id: String,
    pub collection: String,
    pub external_id: String,
    pub event_id: String,
    pub client_id: String,
    pub batch_id: String,
    pub channel: String,
    /// Microseconds since the Unix epoch, UTC.
    pub occurred_at: i64,
    pub text: Option<String>,
    pub language: Option<String>,
    pub metrics: serde_json::Value,
    pub respondent: Option<String>,
    pub metadata: serde_json::Value,
    pub tags: serde_json::Value,
    pub received_region: String,
    pub processed_region: String,
    pub received_at: i64,
    pub processed_at: i64,
}

/// One dead letter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectionRow {
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    pub tenant_id: Option<String>,
    pub collection: Option<String>,
    pub external_id: Option<String>,
    pub event_id: Option<String>,
    pub reason_code: String,
    pub reason: String,
    pub processed_region: String,
    pub rejected_at: i64,
}

/// The projector moved from `from` to `to` (next offsets) on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetMove {
    pub topic: String,
    pub partition: i32,
    pub from: i64,
    pub to: i64,
}

/// What one projection step writes, atomically.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub feedback: Vec<FeedbackRow>,
    pub rejections: Vec<RejectionRow>,
    pub offsets: Vec<OffsetMove>,
}

/// The same statements for both databases (`$n` placeholders work in SQLite
/// too); only the JSON columns differ (JSONB in PostgreSQL).
macro_rules! move_offsets {
    ($tx:ident, $projector:expr, $projection:expr) => {{
        for m in &$projection.offsets {
            let moved = sqlx::query(
                "UPDATE projector_offsets SET next_offset = $1 \
                 WHERE projector = $2 AND topic = $3 AND log_partition = $4 AND next_offset = $5",
            )
            .bind(m.to)
            .bind($projector)
            .bind(&m.topic)
            .bind(m.partition)
            .bind(m.from)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
            let inserted = if moved == 0 && m.from == 0 {
                sqlx::query(
                    "INSERT INTO projector_offsets (projector, topic, log_partition, next_offset) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT DO NOTHING",
                )
                .bind($projector)
                .bind(&m.topic)
                .bind(m.partition)
                .bind(m.to)
                .execute(&mut *$tx)
                .await?
                .rows_affected()
            } else {
                0
            };
            if moved == 0 && inserted == 0 {
                return Err(StoreError::OffsetConflict {
                    projector: $projector.to_owned(),
                    topic: m.topic.clone(),
                    partition: m.partition,
                    expected: m.from,
                });
            }
        }
    }};
}

macro_rules! feedback_columns {
    () => {
        "tenant_id, collection, external_id, event_id, client_id, batch_id, channel, occurred_at, text, language, \
         metrics, respondent, metadata, tags, received_region, processed_region, received_at, processed_at"
    };
}

/// The columns derived from a row's JSON (`src/derived.rs`), on both databases.
macro_rules! derived_columns {
    () => {
        "nps, csat, csat_satisfied, ces, language_key"
    };
}

/// A later event of an item replaces the row only when its content differs
/// (`$extra`: more derived columns to set).
macro_rules! upsert_feedback {
    ($extra:literal) => {
        concat!(
            "ON CONFLICT (event_id) DO UPDATE SET \
         client_id = excluded.client_id, batch_id = excluded.batch_id, channel = excluded.channel, \
         occurred_at = excluded.occurred_at, text = excluded.text, language = excluded.language, \
         metrics = excluded.metrics, respondent = excluded.respondent, metadata = excluded.metadata, \
         tags = excluded.tags, received_region = excluded.received_region, \
         processed_region = excluded.processed_region, received_at = excluded.received_at, \
         processed_at = excluded.processed_at, nps = excluded.nps, csat = excluded.csat, \
         csat_satisfied = excluded.csat_satisfied, ces = excluded.ces, language_key = excluded.language_key",
            $extra,
            " WHERE feedback.channel IS DISTINCT FROM excluded.channel \
         OR feedback.occurred_at IS DISTINCT FROM excluded.occurred_at \
         OR feedback.text IS DISTINCT FROM excluded.text \
         OR feedback.language IS DISTINCT FROM excluded.language \
         OR feedback.metrics IS DISTINCT FROM excluded.metrics \
         OR feedback.respondent IS DISTINCT FROM excluded.respondent \
         OR feedback.metadata IS DISTINCT FROM excluded.metadata \
         OR feedback.tags IS DISTINCT FROM excluded.tags"
        )
    };
}

/// PostgreSQL: one statement for all feedback rows of a step and one for
/// its dead letters (`INSERT ... SELECT FROM UNNEST` of one array per
/// column), instead of a round trip per row.
async fn insert_rows_postgres(tx: &mut sqlx::PgConnection, projection: &Projection) -> Result<(), StoreError> {
    // One statement may not update a row twice, so the rows go in rounds:
    // round k holds the k-th version of each item in the step, which is what
    // row-by-row upserts in log order would do. A version with the same
    // content as the one before it would change nothing and is left out, so
    // a step is usually one round.
    let mut rounds: Vec<Vec<&FeedbackRow>> = Vec::new();
    let mut latest: std::collections::HashMap<&str, (usize, &FeedbackRow)> = std::collections::HashMap::new();
    for f in &projection.feedback {
        let round = match latest.get(f.event_id.as_str()) {
            None => 0,
            Some((_, previous)) if same_content(previous, f) => continue,
            Some((round, _)) => round + 1,
        };
        latest.insert(&f.event_id, (round, f));
        if rounds.len() <= round {
            rounds.push(Vec::new());
        }
        rounds[round].push(f);
    }
    if !rounds.is_empty() {
        insert_feedback_postgres(tx, &rounds).await?;
        // Each item's tags as its final version in the step has them.
        let finals: Vec<&FeedbackRow> = latest.values().map(|&(_, f)| f).collect();
        replace_tags_postgres(tx, &finals).await?;
    }
    let dead = &projection.rejections;
    if !dead.is_empty() {
        let text = |get: fn(&RejectionRow) -> &str| dead.iter().map(|r| get(r).to_owned()).collect::<Vec<String>>();
        let optional =
            |get: fn(&RejectionRow) -> &Option<String>| dead.iter().map(|r| get(r).clone()).collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO rejections (source_topic, source_partition, source_offset, tenant_id, collection, \
             external_id, event_id, reason_code, reason, processed_region, rejected_at) \
             SELECT * FROM UNNEST($1::text[], $2::int4[], $3::int8[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::text[], $10::text[], $11::int8[]) ON CONFLICT DO NOTHING",
        )
        .bind(text(|r| &r.source_topic))
        .bind(dead.iter().map(|r| r.source_partition).collect::<Vec<i32>>())
        .bind(dead.iter().map(|r| r.source_offset).collect::<Vec<i64>>())
        .bind(optional(|r| &r.tenant_id))
        .bind(optional(|r| &r.collection))
        .bind(optional(|r| &r.external_id))
        .bind(optional(|r| &r.event_id))
        .bind(text(|r| &r.reason_code))
        .bind(text(|r| &r.reason))
        .bind(text(|r| &r.processed_region))
        .bind(dead.iter().map(|r| r.rejected_at).collect::<Vec<i64>>())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Replaces the tags of `rows`' items in `feedback_tags` by theirs (the
/// tenant as the item's stored row has it).
async fn replace_tags_postgres(tx: &mut sqlx::PgConnection, rows: &[&FeedbackRow]) -> Result<(), StoreError> {
    let event_ids: Vec<&str> = rows.iter().map(|f| f.event_id.as_str()).collect();
    sqlx::query("DELETE FROM feedback_tags WHERE event_id = ANY($1::text[])")
        .bind(&event_ids)
        .execute(&mut *tx)
        .await?;
    let (mut ids, mut names, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for f in rows {
        for (name, value) in derived::tags(f) {
            ids.push(f.event_id.as_str());
            names.push(name);
            values.push(value);
        }
    }
    if !ids.is_empty() {
        sqlx::query(
            "INSERT INTO feedback_tags (tenant_id, event_id, name, value, occurred_at, collection) \
             SELECT f.tenant_id, t.event_id, t.name, t.value, f.occurred_at, f.collection \
             FROM UNNEST($1::text[], $2::text[], $3::text[]) AS t(event_id, name, value) \
             JOIN feedback f ON f.event_id = t.event_id ON CONFLICT DO NOTHING",
        )
        .bind(&ids)
        .bind(&names)
        .bind(&values)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The rounds of feedback rows: `COPY` into a temporary staging table (the
/// fastest way into PostgreSQL), then one `INSERT ... SELECT` upsert per
/// round.
async fn insert_feedback_postgres(tx: &mut sqlx::PgConnection, rounds: &[Vec<&FeedbackRow>]) -> Result<(), StoreError> {
    let staged: Option<String> = sqlx::query_scalar("SELECT to_regclass('pg_temp.feedback_stage')::text")
        .fetch_one(&mut *tx)
        .await?;
    if staged.is_none() {
        sqlx::query(
            "CREATE TEMP TABLE feedback_stage (round INTEGER NOT NULL, tenant_id TEXT, collection TEXT, \
             external_id TEXT, event_id TEXT, client_id TEXT, batch_id TEXT, channel TEXT, occurred_at BIGINT, \
             text TEXT, language TEXT, metrics TEXT, respondent TEXT, metadata TEXT, tags TEXT, \
             received_region TEXT, processed_region TEXT, received_at BIGINT, processed_at BIGINT, \
             nps FLOAT8, csat FLOAT8, csat_satisfied BOOLEAN, ces FLOAT8, language_key TEXT, text_config TEXT) \
             ON COMMIT DELETE ROWS",
        )
        .execute(&mut *tx)
        .await?;
    }
    let mut data = Vec::with_capacity(rounds.iter().map(Vec::len).sum::<usize>() * 1024);
    for (round, rows) in rounds.iter().enumerate() {
        for f in rows {
            copy_row(&mut data, round, f);
        }
    }
    let mut copy = tx
        .copy_in_raw(concat!(
            "COPY feedback_stage (round, ",
            feedback_columns!(),
            ", ",
            derived_columns!(),
            ", text_config) FROM STDIN"
        ))
        .await?;
    if let Err(e) = copy.send(data).await {
        let _ = copy.abort("sending the rows failed").await;
        return Err(e.into());
    }
    copy.finish().await?;
    for round in 0..rounds.len() as i32 {
        sqlx::query(concat!(
            "INSERT INTO feedback (",
            feedback_columns!(),
            ", ",
            derived_columns!(),
            ", text_config) SELECT tenant_id, collection, external_id, event_id, client_id, batch_id, channel, \
             occurred_at, text, language, metrics::jsonb, respondent, metadata::jsonb, tags::jsonb, received_region, \
             processed_region, received_at, processed_at, ",
            derived_columns!(),
            ", text_config FROM feedback_stage WHERE round = $1 ",
            upsert_feedback!(", text_config = excluded.text_config")
        ))
        .bind(round)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// One line of `COPY`'s text format: tab-separated, `\N` for NULL, with
/// backslash, tab, newline and carriage return escaped.
fn copy_row(out: &mut Vec<u8>, round: usize, f: &FeedbackRow) {
    fn text(out: &mut Vec<u8>, value: Option<&str>) {
        out.push(b'\t');
        let Some(value) = value else {
            out.extend_from_slice(b"\\N");
            return;
        };
        for b in value.bytes() {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b => out.push(b),
            }
        }
    }
    out.extend_from_slice(round.to_string().as_bytes());
    for v in [
        &f.tenant_id,
        &f.collection,
        &f.external_id,
        &f.event_id,
        &f.client_id,
        &f.batch_id,
        &f.channel,
    ] {
        text(out, Some(v));
    }
    text(out, Some(&f.occurred_at.to_string()));
    text(out, f.text.as_deref());
    text(out, f.language.as_deref());
    text(out, Some(&f.metrics.to_string()));
    text(out, f.respondent.as_deref());
    text(out, Some(&f.metadata.to_string()));
    text(out, Some(&f.tags.to_string()));
    text(out, Some(&f.received_region));
    text(out, Some(&f.processed_region));
    text(out, Some(&f.received_at.to_string()));
    text(out, Some(&f.processed_at.to_string()));
    let d = derived::derive(f);
    let number = |v: Option<f64>| v.map(|v| v.to_string());
    text(out, number(d.nps).as_deref());
    text(out, number(d.csat).as_deref());
    text(out, d.csat_satisfied.map(|s| if s { "t" } else { "f" }));
    text(out, number(d.ces).as_deref());
    text(out, d.language_key.as_deref());
    text(out, Some(d.text_config));
    out.push(b'\n');
}

/// Whether two versions of an item have the same content (what the upsert's
/// `WHERE ... IS DISTINCT FROM` compares).
fn same_content(a: &FeedbackRow, b: &FeedbackRow) -> bool {
    (
        &a.channel,
        a.occurred_at,
        &a.text,
        &a.language,
        &a.metrics,
        &a.respondent,
        &a.metadata,
        &a.tags,
    ) == (
        &b.channel,
        b.occurred_at,
        &b.text,
        &b.language,
        &b.metrics,
        &b.respondent,
        &b.metadata,
        &b.tags,
    )
}

/// SQLite: multi-row inserts of up to 500 rows. SQLite applies the rows of
/// one statement in order, so versions of one item in a step behave exactly
/// as row-by-row upserts.
async fn insert_rows_sqlite(tx: &mut sqlx::SqliteConnection, projection: &Projection) -> Result<(), StoreError> {
    for chunk in projection.feedback.chunks(500) {
        let mut insert = sqlx::QueryBuilder::new(concat!(
            "INSERT INTO feedback (",
            feedback_columns!(),
            ", ",
            derived_columns!(),
            ") "
        ));
        insert.push_values(chunk, |mut row, f| {
            let d = derived::derive(f);
            row.push_bind(&f.tenant_id)
                .push_bind(&f.collection)
                .push_bind(&f.external_id)
                .push_bind(&f.event_id)
                .push_bind(&f.client_id)
                .push_bind(&f.batch_id)
                .push_bind(&f.channel)
                .push_bind(f.occurred_at)
                .push_bind(&f.text)
                .push_bind(&f.language)
                .push_bind(f.metrics.to_string())
                .push_bind(&f.respondent)
                .push_bind(f.metadata.to_string())
                .push_bind(f.tags.to_string())
                .push_bind(&f.received_region)
                .push_bind(&f.processed_region)
                .push_bind(f.received_at)
                .push_bind(f.processed_at)
                .push_bind(d.nps)
                .push_bind(d.csat)
                .push_bind(d.csat_satisfied)
                .push_bind(d.ces)
                .push_bind(d.language_key);
        });
        insert.push(concat!(" ", upsert_feedback!("")));
        insert.build().execute(&mut *tx).await?;
    }
    // Each item's tags as its final version in the step has them.
    let mut finals: std::collections::HashMap<&str, &FeedbackRow> = std::collections::HashMap::new();
    for f in &projection.feedback {
        finals.insert(&f.event_id, f);
    }
    let finals: Vec<&FeedbackRow> = finals.into_values().collect();
    for chunk in finals.chunks(500) {
        let mut delete = sqlx::QueryBuilder::new("DELETE FROM feedback_tags WHERE event_id IN (");
        let mut ids = delete.separated(", ");
        for f in chunk {
            ids.push_bind(&f.event_id);
        }
        delete.push(")");
        delete.build().execute(&mut *tx).await?;
    }
    let tags: Vec<(&str, &str, &str)> = finals
        .iter()
        .flat_map(|f| derived::tags(f).into_iter().map(|(n, v)| (f.event_id.as_str(), n, v)))
        .collect();
    for chunk in tags.chunks(500) {
        // The tenant and the rowid as the item's stored row has them.
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO feedback_tags (tenant_id, event_id, name, value, occurred_at, collection, seq) \
             SELECT f.tenant_id, t.column1, t.column2, t.column3, f.occurred_at, f.collection, f.seq FROM (",
        );
        insert.push_values(chunk, |mut row, (id, name, value)| {
            row.push_bind(*id).push_bind(*name).push_bind(*value);
        });
        insert.push(") AS t JOIN feedback f ON f.event_id = t.column1 WHERE TRUE ON CONFLICT DO NOTHING");
        insert.build().execute(&mut *tx).await?;
    }
    for chunk in projection.rejections.chunks(500) {
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO rejections (source_topic, source_partition, source_offset, tenant_id, collection, \
             external_id, event_id, reason_code, reason, processed_region, rejected_at) ",
        );
        insert.push_values(chunk, |mut row, r| {
            row.push_bind(&r.source_topic)
                .push_bind(r.source_partition)
                .push_bind(r.source_offset)
                .push_bind(&r.tenant_id)
                .push_bind(&r.collection)
                .push_bind(&r.external_id)
                .push_bind(&r.event_id)
                .push_bind(&r.reason_code)
                .push_bind(&r.reason)
                .push_bind(&r.processed_region)
                .push_bind(r.rejected_at);
        });
        insert.push(" ON CONFLICT DO NOTHING");
        insert.build().execute(&mut *tx).await?;
    }
    Ok(())
}

macro_rules! feedback_from_row {
    ($r:expr) => {{
        let r = $r;
        Ok::<_, StoreError>(FeedbackRow {
            tenant_id: r.try_get(0)?,
            collection: r.try_get(1)?,
            external_id: r.try_get(2)?,
            event_id: r.try_get(3)?,
            client_id: r.try_get(4)?,
            batch_id: r.try_get(5)?,
            channel: r.try_get(6)?,
            occurred_at: r.try_get(7)?,
            text: r.try_get(8)?,
            language: r.try_get(9)?,
            metrics: serde_json::from_str(&r.try_get::<String, _>(10)?)?,
            respondent: r.try_get(11)?,
            metadata: serde_json::from_str(&r.try_get::<String, _>(12)?)?,
            tags: serde_json::from_str(&r.try_get::<String, _>(13)?)?,
            received_region: r.try_get(14)?,
            processed_region: r.try_get(15)?,
            received_at: r.try_get(16)?,
            processed_at: r.try_get(17)?,
        })
    }};
}

mod analyst;
mod audit;
pub use audit::{
    bundle_entries, push_entry, AuditCheckpointRow, AuditLeaf, AuditLogMove, AuditLogState, AuditRange, AuditRecordRow,
    AuditStep, AUDITOR, BUNDLE, INSTALLATION_LOG,
};

macro_rules! rejection_from_row {
    ($r:expr) => {{
        let r = $r;
        RejectionRow {
            source_topic: r.get(0),
            source_partition: r.get(1),
            source_offset: r.get(2),
            tenant_id: r.get(3),
            collection: r.get(4),
            external_id: r.get(5),
            event_id: r.get(6),
            reason_code: r.get(7),
            reason: r.get(8),
            processed_region: r.get(9),
            rejected_at: r.get(10),
        }
    }};
}

#[derive(Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Store {
    /// Opens (creating if needed) the embedded store at `path` and migrates it.
    pub async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        let pool = eventlog::durable_pool(path).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Store::Sqlite(pool))
    }

    /// Connects to PostgreSQL and migrates the schema (the role needs
    /// CREATE on it: the owner's).
    pub async fn connect_postgres(url: &str) -> Result<Store, StoreError> {
        let pool = Self::pg_pool(url).await?;
        POSTGRES_MIGRATIONS.run(&pool).await?;
        Ok(Store::Postgres(pool))
    }

    /// Connects to PostgreSQL without migrating: for a role that may only
    /// read and write the read models (least privilege). Fails with
    /// [`StoreError::NotMigrated`] unless every migration of this build has
    /// been applied (`vox migrate`, as the owner).
    pub async fn connect_postgres_migrated(url: &str) -> Result<Store, StoreError> {
        let pool = Self::pg_pool(url).await?;
        let applied: Vec<i64> = match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&pool)
            .await
        {
            Ok(applied) => applied,
            // No migration table: nothing was ever migrated.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let missing: Vec<i64> = POSTGRES_MIGRATIONS
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect();
        if !missing.is_empty() {
            return Err(StoreError::NotMigrated { missing });
        }
        Ok(Store::Postgres(pool))
    }

    async fn pg_pool(url: &str) -> Result<PgPool, StoreError> {
        Ok(PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?)
    }

    /// The stored next offsets of `projector`: (topic, partition, offset).
    pub async fn positions(&self, projector: &str) -> Result<Vec<(String, i32, i64)>, StoreError> {
        let sql = "SELECT topic, log_partition, next_offset FROM projector_offsets WHERE projector = $1";
        let rows: Vec<(String, i32, i64)> = match self {
            Store::Sqlite(p) => sqlx::query_as(sql).bind(projector).fetch_all(p).await?,
            Store::Postgres(p) => sqlx::query_as(sql).bind(projector).fetch_all(p).await?,
        };
        Ok(rows)
    }

    /// Writes one projection step in one transaction. Fails with
    /// [`StoreError::OffsetConflict`] (and writes nothing) when a stored
    /// offset is not where `projection.offsets` says it starts.
    pub async fn apply(&self, projector: &str, projection: &Projection) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(p) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                move_offsets!(tx, projector, projection);
                insert_rows_sqlite(&mut tx, projection).await?;
                tx.commit().await?;
            }
            Store::Postgres(p) => {
                let mut tx = p.begin().await?;
                move_offsets!(tx, projector, projection);
                insert_rows_postgres(&mut tx, projection).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Every feedback row of `tenant`, oldest first.
    pub async fn feedback(&self, tenant: &str) -> Result<Vec<FeedbackRow>, StoreError> {
        match self {
            Store::Sqlite(p) => {
                let rows = sqlx::query(&select_feedback("")).bind(tenant).fetch_all(p).await?;
                rows.iter().map(|r| feedback_from_row!(r)).collect()
            }
            Store::Postgres(p) => {
                let rows = sqlx::query(&select_feedback("::text"))
                    .bind(tenant)
                    .fetch_all(p)
                    .await?;
                rows.iter().map(|r| feedback_from_row!(r)).collect()
            }
        }
    }

    /// How many feedback rows `tenant` has.
    pub async fn count_feedback(&self, tenant: &str) -> Result<usize, StoreError> {
        let sql = "SELECT COUNT(*) FROM feedback WHERE tenant_id = $1";
        let n: i64 = match self {
            Store::Sqlite(p) => sqlx::query_scalar(sql).bind(tenant).fetch_one(p).await?,
            Store::Postgres(p) => sqlx::query_scalar(sql).bind(tenant).fetch_one(p).await?,
        };
        Ok(n as usize)
    }

    /// Every dead letter of `tenant`, in log order.
    pub async fn rejections(&self, tenant: &str) -> Result<Vec<RejectionRow>, StoreError> {
        let sql =
            "SELECT source_topic, source_partition, source_offset, tenant_id, collection, external_id, event_id, \
                   reason_code, reason, processed_region, rejected_at FROM rejections WHERE tenant_id = $1 \
                   ORDER BY source_topic, source_partition, source_offset";
        match self {
            Store::Sqlite(p) => {
                let rows = sqlx::query(sql).bind(tenant).fetch_all(p).await?;
                Ok(rows.iter().map(|r| rejection_from_row!(r)).collect())
            }
            Store::Postgres(p) => {
                let rows = sqlx::query(sql).bind(tenant).fetch_all(p).await?;
                Ok(rows.iter().map(|r| rejection_from_row!(r)).collect())
            }
        }
    }

    /// Drops every read-model row and the projector's offsets: the next
    /// projector run rebuilds them from the log. The people API's
    /// operational state (sessions, second factor, login throttling,
    /// support uses) and the audit logs with the auditor's offsets are not
    /// read models and stay.
    pub async fn reset(&self) -> Result<(), StoreError> {
        let sql = [
            "DELETE FROM feedback_tags",
            "DELETE FROM feedback",
            "DELETE FROM rejections",
            // The auditor's offsets go with its logs, which are not a read model.
            "DELETE FROM projector_offsets WHERE projector <> 'audit'",
        ];
        match self {
            Store::Sqlite(p) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                for s in sql {
                    sqlx::query(s).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            Store::Postgres(p) => {
                let mut tx = p.begin().await?;
                for s in sql {
                    sqlx::query(s).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }
}

fn select_feedback(json_cast: &str) -> String {
    format!(
        "SELECT tenant_id, collection, external_id, event_id, client_id, batch_id, channel, occurred_at, text, language, \
         metrics{c}, respondent, metadata{c}, tags{c}, received_region, processed_region, received_at, processed_at \
         FROM feedback WHERE tenant_id = $1 ORDER BY occurred_at, collection, external_id",
        c = json_cast
    )
}
