//! The tamper-evident audit logs' storage (migration 6): one RFC 6962 tree
//! per tenant and one for the installation (log id `-`), as the auditor
//! builds them from `vox.audit`. This module stores bytes and numbers; the
//! tree's math is the `auditlog` crate's. Every step of the auditor is one
//! transaction that appends records and stored hashes, moves each log's
//! size and frontier with a compare-and-set on its size, and moves the
//! auditor's input offsets with a compare-and-set: a restart or a second
//! instance can neither skip nor repeat a leaf.
//!
//! Not a read model: [`Store::reset`] leaves these tables and the auditor's
//! offsets alone.

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row};

use crate::{OffsetMove, Store, StoreError};

/// The auditor's name among the stored input offsets (`projector_offsets`).
pub const AUDITOR: &str = "audit";

/// The log id of installation-level records (those of no tenant).
pub const INSTALLATION_LOG: &str = "-";

/// A record appended to a log: leaf number `index`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditLeaf {
    pub log_id: String,
    pub index: u64,
    /// Microseconds since the Unix epoch, from the record (0 when the
    /// record could not be read).
    pub occurred_at: i64,
    /// The record's action (`AuditAction`'s string), or `unreadable`.
    pub action: String,
    /// The leaf's data: the exact bytes of the record on `vox.audit`.
    pub data: Vec<u8>,
}

/// A log grown from `from` to `to` leaves, with its new frontier.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditLogMove {
    pub log_id: String,
    pub from: u64,
    pub to: u64,
    pub frontier: Vec<u8>,
}

/// What one auditor step writes, atomically.
#[derive(Debug, Clone, Default)]
pub struct AuditStep {
    pub leaves: Vec<AuditLeaf>,
    /// `(log id, stored hash index, hash)`: the hashes the leaves add.
    pub hashes: Vec<(String, u64, [u8; 32])>,
    pub logs: Vec<AuditLogMove>,
    pub offsets: Vec<OffsetMove>,
}

/// A log's size and frontier as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditLogState {
    pub log_id: String,
    pub size: u64,
    pub frontier: Vec<u8>,
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditCheckpointRow {
    pub log_id: String,
    pub size: u64,
    pub root: [u8; 32],
    /// The signed note, as signed.
    pub note: String,
    /// Microseconds since the Unix epoch.
    pub signed_at: i64,
}

/// Which records of a log [`Store::audit_records`] reads.
#[derive(Debug, Clone, Default)]
pub struct AuditRange {
    /// From this index on.
    pub from: u64,
    /// Before this index (`None`: to the end).
    pub until_index: Option<u64>,
    /// Records that occurred at or after this time (microseconds).
    pub since: Option<i64>,
    /// Records that occurred before this time.
    pub until: Option<i64>,
    /// Only this action.
    pub action: Option<String>,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

fn hash32(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map_err(|_| StoreError::Corrupt(format!("a stored hash of {} bytes, not 32", bytes.len())))
}

/// The rows of an insert per statement (five columns: well within both
/// databases' limit on parameters).
const ROWS_PER_INSERT: usize = 1000;

macro_rules! write_audit_step {
    ($tx:ident, $step:expr) => {{
        let step = $step;
        for m in &step.logs {
            let moved = sqlx::query("UPDATE audit_logs SET size = $1, frontier = $2 WHERE log_id = $3 AND size = $4")
                .bind(to_i64(m.to))
                .bind(&m.frontier)
                .bind(&m.log_id)
                .bind(to_i64(m.from))
                .execute(&mut *$tx)
                .await?
                .rows_affected();
            let inserted = if moved == 0 && m.from == 0 {
                sqlx::query(
                    "INSERT INTO audit_logs (log_id, size, frontier) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(&m.log_id)
                .bind(to_i64(m.to))
                .bind(&m.frontier)
                .execute(&mut *$tx)
                .await?
                .rows_affected()
            } else {
                0
            };
            if moved == 0 && inserted == 0 {
                return Err(StoreError::AuditLogConflict {
                    log_id: m.log_id.clone(),
                    expected: m.from,
                });
            }
        }
        for chunk in step.leaves.chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::new("INSERT INTO audit_records (log_id, idx, occurred_at, action) ");
            insert.push_values(chunk, |mut row, leaf| {
                row.push_bind(&leaf.log_id)
                    .push_bind(to_i64(leaf.index))
                    .push_bind(leaf.occurred_at)
                    .push_bind(&leaf.action);
            });
            insert.build().execute(&mut *$tx).await?;
        }
        // Each log's new records continue its last bundle (read here, after
        // the compare-and-set on its size: no other writer is between).
        for (log_id, first, records) in leaf_runs(&step.leaves)? {
            let offset = first % BUNDLE;
            let mut bundle: Vec<u8> = Vec::new();
            if offset != 0 {
                let existing: Option<Vec<u8>> =
                    sqlx::query_scalar("SELECT entries FROM audit_bundles WHERE log_id = $1 AND bundle = $2")
                        .bind(log_id)
                        .bind(to_i64(first / BUNDLE))
                        .fetch_optional(&mut *$tx)
                        .await?;
                bundle = existing.unwrap_or_default();
                let held = bundle_entries(&bundle).map(|e| e.len() as u64);
                if held != Some(offset) {
                    return Err(StoreError::Corrupt(format!(
                        "audit log '{log_id}': bundle {} does not hold the {offset} records expected",
                        first / BUNDLE
                    )));
                }
            }
            let mut bundles: Vec<(u64, Vec<u8>)> = Vec::new();
            let mut number = first / BUNDLE;
            let mut held = offset;
            for data in records {
                push_entry(&mut bundle, data);
                held += 1;
                if held == BUNDLE {
                    bundles.push((number, std::mem::take(&mut bundle)));
                    number += 1;
                    held = 0;
                }
            }
            if !bundle.is_empty() {
                bundles.push((number, bundle));
            }
            for chunk in bundles.chunks(ROWS_PER_INSERT / 10) {
                let mut upsert = QueryBuilder::new("INSERT INTO audit_bundles (log_id, bundle, entries) ");
                upsert.push_values(chunk, |mut row, (bundle, entries)| {
                    row.push_bind(log_id)
                        .push_bind(to_i64(*bundle))
                        .push_bind(entries.clone());
                });
                upsert.push(" ON CONFLICT (log_id, bundle) DO UPDATE SET entries = excluded.entries");
                upsert.build().execute(&mut *$tx).await?;
            }
        }
        // Each log's new hashes continue its last block (read here, after
        // the compare-and-set on its size: no other writer is between).
        for (log_id, first, hashes) in hash_runs(&step.hashes)? {
            let mut bytes: Vec<u8> = Vec::with_capacity((hashes.len() + HASHES_PER_BLOCK) * 32);
            let offset = first % BLOCK;
            if offset != 0 {
                let existing: Option<Vec<u8>> =
                    sqlx::query_scalar("SELECT hashes FROM audit_hashes WHERE log_id = $1 AND block = $2")
                        .bind(log_id)
                        .bind(to_i64(first / BLOCK))
                        .fetch_optional(&mut *$tx)
                        .await?;
                let existing = existing.unwrap_or_default();
                if existing.len() as u64 != offset * 32 {
                    return Err(StoreError::Corrupt(format!(
                        "audit log '{log_id}': hash block {} holds {} bytes where {} were expected",
                        first / BLOCK,
                        existing.len(),
                        offset * 32
                    )));
                }
                bytes = existing;
            }
            for hash in &hashes {
                bytes.extend_from_slice(hash);
            }
            let blocks: Vec<(u64, &[u8])> = bytes
                .chunks(HASHES_PER_BLOCK * 32)
                .enumerate()
                .map(|(i, b)| (first / BLOCK + i as u64, b))
                .collect();
            for chunk in blocks.chunks(ROWS_PER_INSERT / 10) {
                let mut upsert = QueryBuilder::new("INSERT INTO audit_hashes (log_id, block, hashes) ");
                upsert.push_values(chunk, |mut row, (block, b)| {
                    row.push_bind(log_id).push_bind(to_i64(*block)).push_bind(b.to_vec());
                });
                upsert.push(" ON CONFLICT (log_id, block) DO UPDATE SET hashes = excluded.hashes");
                upsert.build().execute(&mut *$tx).await?;
            }
        }
    }};
}

/// The tables read by number ([`Store::rows_by_number`]).
#[derive(Clone, Copy)]
enum Numbered {
    Bundles,
    Blocks,
}

/// Records per bundle row.
pub const BUNDLE: u64 = 256;

/// Appends one record to a bundle's bytes: its length (4 bytes,
/// big-endian), then the record.
pub fn push_entry(bundle: &mut Vec<u8>, data: &[u8]) {
    let length = u32::try_from(data.len()).unwrap_or(u32::MAX);
    bundle.extend_from_slice(&length.to_be_bytes());
    bundle.extend_from_slice(&data[..length as usize]);
}

/// The records of a bundle's bytes; `None` when they are not a sequence of
/// length-prefixed records.
pub fn bundle_entries(bundle: &[u8]) -> Option<Vec<&[u8]>> {
    let mut entries = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        let (length, tail) = rest.split_first_chunk::<4>()?;
        let length = u32::from_be_bytes(*length) as usize;
        if tail.len() < length {
            return None;
        }
        let (entry, tail) = tail.split_at(length);
        entries.push(entry);
        rest = tail;
    }
    Some(entries)
}

/// A step's leaves as one run of consecutive indexes per log: (log, first
/// index, records).
type LeafRun<'a> = (&'a str, u64, Vec<&'a [u8]>);

fn leaf_runs(leaves: &[AuditLeaf]) -> Result<Vec<LeafRun<'_>>, StoreError> {
    let mut runs: Vec<LeafRun<'_>> = Vec::new();
    for leaf in leaves {
        match runs.iter_mut().find(|r| r.0 == leaf.log_id.as_str()) {
            Some(run) if run.1 + run.2.len() as u64 == leaf.index => run.2.push(leaf.data.as_slice()),
            Some(_) => {
                return Err(StoreError::Corrupt(format!(
                    "audit log '{}': record {} does not follow the step's previous one",
                    leaf.log_id, leaf.index
                )))
            }
            None => runs.push((leaf.log_id.as_str(), leaf.index, vec![leaf.data.as_slice()])),
        }
    }
    Ok(runs)
}

/// Stored hashes per block row ([`BLOCK`] of them, 8 KiB).
const HASHES_PER_BLOCK: usize = 256;
const BLOCK: u64 = HASHES_PER_BLOCK as u64;

/// A log, the first id of a run of its stored hashes, and the hashes.
type HashRun<'a> = (&'a str, u64, Vec<[u8; 32]>);

/// A step's hashes as one run of consecutive ids per log: (log, first id,
/// hashes). Appending makes each log's stored hashes in id order without
/// a gap; anything else is a bug, refused.
fn hash_runs(hashes: &[(String, u64, [u8; 32])]) -> Result<Vec<HashRun<'_>>, StoreError> {
    let mut runs: Vec<HashRun<'_>> = Vec::new();
    for (log_id, id, hash) in hashes {
        match runs.iter_mut().find(|r| r.0 == log_id.as_str()) {
            Some(run) if run.1 + run.2.len() as u64 == *id => run.2.push(*hash),
            Some(_) => {
                return Err(StoreError::Corrupt(format!(
                    "audit log '{log_id}': stored hash {id} does not follow the step's previous one"
                )))
            }
            None => runs.push((log_id, *id, vec![*hash])),
        }
    }
    Ok(runs)
}

/// The hashes `first..=last` of a log's blocks (`(block, bytes)`), by id;
/// ids the blocks do not hold are left out.
fn hashes_of_blocks(blocks: &[(i64, Vec<u8>)], first: u64, last: u64) -> Vec<(u64, [u8; 32])> {
    let mut out = Vec::new();
    for (block, bytes) in blocks {
        let base = to_u64(*block) * BLOCK;
        for (i, hash) in bytes.chunks_exact(32).enumerate() {
            let id = base + i as u64;
            if (first..=last).contains(&id) {
                if let Ok(hash) = <[u8; 32]>::try_from(hash) {
                    out.push((id, hash));
                }
            }
        }
    }
    out
}

macro_rules! audit_records_query {
    ($log_id:expr, $range:expr, $limit:expr) => {{
        let range: &AuditRange = $range;
        let mut q = QueryBuilder::new("SELECT idx, occurred_at, action FROM audit_records WHERE log_id = ");
        q.push_bind($log_id.to_owned());
        q.push(" AND idx >= ").push_bind(to_i64(range.from));
        if let Some(end) = range.until_index {
            q.push(" AND idx < ").push_bind(to_i64(end));
        }
        if let Some(since) = range.since {
            q.push(" AND occurred_at >= ").push_bind(since);
        }
        if let Some(until) = range.until {
            q.push(" AND occurred_at < ").push_bind(until);
        }
        if let Some(action) = &range.action {
            q.push(" AND action = ").push_bind(action.clone());
        }
        q.push(" ORDER BY idx LIMIT ")
            .push_bind(to_i64(u64::try_from($limit).unwrap_or(u64::MAX)));
        q
    }};
}

/// A stored record of a log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecordRow {
    pub index: u64,
    pub occurred_at: i64,
    pub action: String,
    pub data: Vec<u8>,
}

macro_rules! record_from_row {
    ($r:expr) => {{
        let r = $r;
        Ok::<_, StoreError>(AuditRecordRow {
            index: to_u64(r.try_get(0)?),
            occurred_at: r.try_get(1)?,
            action: r.try_get(2)?,
            data: Vec::new(),
        })
    }};
}

macro_rules! checkpoint_from_row {
    ($r:expr) => {{
        let r = $r;
        Ok::<_, StoreError>(AuditCheckpointRow {
            log_id: r.try_get(0)?,
            size: to_u64(r.try_get(1)?),
            root: hash32(&r.try_get::<Vec<u8>, _>(2)?)?,
            note: r.try_get(3)?,
            signed_at: r.try_get(4)?,
        })
    }};
}

const CHECKPOINT_COLUMNS: &str = "log_id, size, root, note, signed_at";

impl Store {
    /// Every audit log's size and frontier.
    pub async fn audit_logs(&self) -> Result<Vec<AuditLogState>, StoreError> {
        let sql = "SELECT log_id, size, frontier FROM audit_logs ORDER BY log_id";
        let rows: Vec<(String, i64, Vec<u8>)> = match self {
            Store::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await?,
            Store::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await?,
        };
        Ok(rows
            .into_iter()
            .map(|(log_id, size, frontier)| AuditLogState {
                log_id,
                size: to_u64(size),
                frontier,
            })
            .collect())
    }

    /// The size of one audit log (0 when it has no record).
    pub async fn audit_log_size(&self, log_id: &str) -> Result<u64, StoreError> {
        let sql = "SELECT size FROM audit_logs WHERE log_id = $1";
        let size: Option<i64> = match self {
            Store::Sqlite(p) => sqlx::query_scalar(sql).bind(log_id).fetch_optional(p).await?,
            Store::Postgres(p) => sqlx::query_scalar(sql).bind(log_id).fetch_optional(p).await?,
        };
        Ok(size.map(to_u64).unwrap_or_default())
    }

    /// Writes one auditor step in one transaction. Fails, writing nothing,
    /// with [`StoreError::OffsetConflict`] when a stored offset is not where
    /// the step starts, and with [`StoreError::AuditLogConflict`] when a
    /// log's stored size is not.
    pub async fn apply_audit(&self, step: &AuditStep) -> Result<(), StoreError> {
        let offsets = crate::Projection {
            offsets: step.offsets.clone(),
            ..Default::default()
        };
        match self {
            Store::Sqlite(p) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                move_offsets!(tx, AUDITOR, offsets);
                write_audit_step!(tx, step);
                tx.commit().await?;
            }
            Store::Postgres(p) => {
                let mut tx = p.begin().await?;
                move_offsets!(tx, AUDITOR, offsets);
                write_audit_step!(tx, step);
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// At most `limit` records of a log in `range`, by index (their data
    /// from the bundles that hold them).
    pub async fn audit_records(
        &self,
        log_id: &str,
        range: &AuditRange,
        limit: usize,
    ) -> Result<Vec<AuditRecordRow>, StoreError> {
        let mut rows = self.audit_index(log_id, range, limit).await?;
        let mut numbers: Vec<i64> = rows.iter().map(|r| to_i64(r.index / BUNDLE)).collect();
        numbers.dedup();
        let bundles: HashMap<u64, Vec<u8>> = self
            .rows_by_number(Numbered::Bundles, log_id, &numbers)
            .await?
            .into_iter()
            .map(|(n, e)| (to_u64(n), e))
            .collect();
        for row in &mut rows {
            let entry = bundles
                .get(&(row.index / BUNDLE))
                .and_then(|b| bundle_entries(b))
                .and_then(|e| e.get((row.index % BUNDLE) as usize).map(|d| d.to_vec()));
            row.data = entry.ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "audit log '{log_id}': record {} is not in its bundle; run `vox audit verify`",
                    row.index
                ))
            })?;
        }
        Ok(rows)
    }

    /// A log's rows of bundles or blocks whose number is one of `numbers`:
    /// (number, bytes).
    async fn rows_by_number(
        &self,
        table: Numbered,
        log_id: &str,
        numbers: &[i64],
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let (select, column) = match table {
            Numbered::Bundles => (
                "SELECT bundle, entries FROM audit_bundles WHERE log_id = ",
                " AND bundle IN (",
            ),
            Numbered::Blocks => (
                "SELECT block, hashes FROM audit_hashes WHERE log_id = ",
                " AND block IN (",
            ),
        };
        let mut out = Vec::new();
        for chunk in numbers.chunks(ROWS_PER_INSERT) {
            macro_rules! query {
                () => {{
                    let mut q = QueryBuilder::new(select);
                    q.push_bind(log_id.to_owned()).push(column);
                    let mut list = q.separated(", ");
                    for n in chunk {
                        list.push_bind(*n);
                    }
                    q.push(")");
                    q
                }};
            }
            let rows: Vec<(i64, Vec<u8>)> = match self {
                Store::Sqlite(p) => query!().build_query_as().fetch_all(p).await?,
                Store::Postgres(p) => query!().build_query_as().fetch_all(p).await?,
            };
            out.extend(rows);
        }
        Ok(out)
    }

    /// A log's rows of bundles or blocks numbered `first..=last`, in order:
    /// (number, bytes).
    async fn rows_in_range(
        &self,
        table: Numbered,
        log_id: &str,
        first: u64,
        last: u64,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let sql = match table {
            Numbered::Bundles => {
                "SELECT bundle, entries FROM audit_bundles WHERE log_id = $1 AND bundle >= $2 AND bundle <= $3 ORDER BY bundle"
            }
            Numbered::Blocks => {
                "SELECT block, hashes FROM audit_hashes WHERE log_id = $1 AND block >= $2 AND block <= $3 ORDER BY block"
            }
        };
        let (from, to) = (to_i64(first), to_i64(last));
        Ok(match self {
            Store::Sqlite(p) => {
                sqlx::query_as(sql)
                    .bind(log_id)
                    .bind(from)
                    .bind(to)
                    .fetch_all(p)
                    .await?
            }
            Store::Postgres(p) => {
                sqlx::query_as(sql)
                    .bind(log_id)
                    .bind(from)
                    .bind(to)
                    .fetch_all(p)
                    .await?
            }
        })
    }

    /// The records' bundles `first..=last` of a log: (bundle, records).
    pub async fn audit_bundles(&self, log_id: &str, first: u64, last: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let rows = self.rows_in_range(Numbered::Bundles, log_id, first, last).await?;
        Ok(rows.into_iter().map(|(n, e)| (to_u64(n), e)).collect())
    }

    /// How many records a log's index (`audit_records`) holds.
    pub async fn audit_index_len(&self, log_id: &str) -> Result<u64, StoreError> {
        let sql = "SELECT COUNT(*) FROM audit_records WHERE log_id = $1";
        let n: i64 = match self {
            Store::Sqlite(p) => sqlx::query_scalar(sql).bind(log_id).fetch_one(p).await?,
            Store::Postgres(p) => sqlx::query_scalar(sql).bind(log_id).fetch_one(p).await?,
        };
        Ok(to_u64(n))
    }

    /// At most `limit` index rows of a log in `range`, by index (no data).
    async fn audit_index(
        &self,
        log_id: &str,
        range: &AuditRange,
        limit: usize,
    ) -> Result<Vec<AuditRecordRow>, StoreError> {
        match self {
            Store::Sqlite(p) => {
                let mut q = audit_records_query!(log_id, range, limit);
                let rows = q.build().fetch_all(p).await?;
                rows.iter().map(|r| record_from_row!(r)).collect()
            }
            Store::Postgres(p) => {
                let mut q = audit_records_query!(log_id, range, limit);
                let rows = q.build().fetch_all(p).await?;
                rows.iter().map(|r| record_from_row!(r)).collect()
            }
        }
    }

    /// The stored hashes `ids` of a log that exist.
    pub async fn audit_hashes(&self, log_id: &str, ids: &[u64]) -> Result<HashMap<u64, [u8; 32]>, StoreError> {
        let mut blocks: Vec<i64> = ids.iter().map(|id| to_i64(id / BLOCK)).collect();
        blocks.sort_unstable();
        blocks.dedup();
        let wanted: std::collections::HashSet<u64> = ids.iter().copied().collect();
        let mut out = HashMap::with_capacity(ids.len());
        {
            let rows = self.rows_by_number(Numbered::Blocks, log_id, &blocks).await?;
            for (id, hash) in hashes_of_blocks(&rows, 0, u64::MAX) {
                if wanted.contains(&id) {
                    out.insert(id, hash);
                }
            }
        }
        Ok(out)
    }

    /// The stored hashes of a log with ids from `first` to `last`
    /// (inclusive), by id.
    pub async fn audit_hash_range(
        &self,
        log_id: &str,
        first: u64,
        last: u64,
    ) -> Result<Vec<(u64, [u8; 32])>, StoreError> {
        let rows = self
            .rows_in_range(Numbered::Blocks, log_id, first / BLOCK, last / BLOCK)
            .await?;
        Ok(hashes_of_blocks(&rows, first, last))
    }

    /// Stores a signed checkpoint. Fails (a database constraint) when the
    /// log already has one of the same size.
    pub async fn add_audit_checkpoint(&self, row: &AuditCheckpointRow) -> Result<(), StoreError> {
        let sql = "INSERT INTO audit_checkpoints (log_id, size, root, note, signed_at) VALUES ($1, $2, $3, $4, $5)";
        macro_rules! insert {
            ($pool:expr) => {
                sqlx::query(sql)
                    .bind(&row.log_id)
                    .bind(to_i64(row.size))
                    .bind(row.root.to_vec())
                    .bind(&row.note)
                    .bind(row.signed_at)
                    .execute($pool)
                    .await?
                    .rows_affected()
            };
        }
        match self {
            Store::Sqlite(p) => insert!(p),
            Store::Postgres(p) => insert!(p),
        };
        Ok(())
    }

    /// Every checkpoint of a log, smallest size first.
    pub async fn audit_checkpoints(&self, log_id: &str) -> Result<Vec<AuditCheckpointRow>, StoreError> {
        let sql = format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE log_id = $1 ORDER BY size");
        match self {
            Store::Sqlite(p) => {
                let rows = sqlx::query(&sql).bind(log_id).fetch_all(p).await?;
                rows.iter().map(|r| checkpoint_from_row!(r)).collect()
            }
            Store::Postgres(p) => {
                let rows = sqlx::query(&sql).bind(log_id).fetch_all(p).await?;
                rows.iter().map(|r| checkpoint_from_row!(r)).collect()
            }
        }
    }

    /// The newest checkpoint of every log.
    pub async fn latest_audit_checkpoints(&self) -> Result<Vec<AuditCheckpointRow>, StoreError> {
        let sql = format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints c \
             WHERE size = (SELECT MAX(size) FROM audit_checkpoints m WHERE m.log_id = c.log_id) ORDER BY log_id"
        );
        match self {
            Store::Sqlite(p) => {
                let rows = sqlx::query(&sql).fetch_all(p).await?;
                rows.iter().map(|r| checkpoint_from_row!(r)).collect()
            }
            Store::Postgres(p) => {
                let rows = sqlx::query(&sql).fetch_all(p).await?;
                rows.iter().map(|r| checkpoint_from_row!(r)).collect()
            }
        }
    }
}
