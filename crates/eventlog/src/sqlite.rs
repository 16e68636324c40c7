//! The embedded log: topics as rows of one SQLite file (WAL, `synchronous =
//! FULL`, so a committed append survives a power cut). One partition per
//! topic. Writers take the lock up front (`BEGIN IMMEDIATE`) so that several
//! processes (`vox serve` and the CLI) can append to the same file.
//!
//! Appends are group-committed: one writer task takes every append that
//! arrived while its last commit was in progress and writes them in one
//! transaction (one fsync for many batches), each in a savepoint of its own
//! so that one failing append fails only its caller. Every caller is
//! answered only once the transaction holding its records has committed.
//!
//! Retention: a task deletes the records of topics with a retention once
//! they are older than it, at open and every minute, a chunk per
//! transaction so that appends wait at most for one chunk. Only the oldest
//! records of a topic go (offsets stay as they were), so a reader simply
//! goes on at the oldest record left.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::{next_offsets, Appended, LogError, Output, Positions, Record, Retention};
use schemas::clock::now_micros;

/// The most of a SQLite file its connections map into memory: the largest
/// map the bundled SQLite allows (`SQLITE_MAX_MMAP_SIZE`, 2 GiB - 64 KiB).
/// Address space, not memory: the pages are the OS's page cache.
pub const MMAP_BYTES: u64 = 0x7fff_0000;

/// How often a waiting reader looks for records appended by another process.
const CROSS_PROCESS_POLL: Duration = Duration::from_millis(100);

/// A pool of up to 4 connections to the SQLite file at `path` (created if
/// missing) with the durability both embedded backends use: WAL,
/// `synchronous = FULL` (a committed transaction survives a power cut),
/// and a 30 s busy timeout for writers of other processes. Reads go through
/// a memory map of the file's first [`MMAP_BYTES`] (`mmap_size`): a page
/// the connection's own small cache lost is then read from the OS's page
/// cache without a system call and a copy (measured: a store manager's
/// first page of the analyst list, 1,000,000 items, SQLite's cache cold as
/// after an aggregate, 0.49 → 0.34 ms). Writes still go through SQLite's
/// journal as before.
pub async fn durable_pool(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(30))
        .pragma("mmap_size", MMAP_BYTES.to_string());
    SqlitePoolOptions::new().max_connections(4).connect_with(options).await
}

#[derive(Clone)]
pub struct SqliteLog {
    pool: SqlitePool,
    appended: Arc<Notify>,
    /// To the group-commit writer.
    appends: tokio::sync::mpsc::Sender<AppendRequest>,
    retention: Arc<Retention>,
    /// Stops the pruning task when the last handle is dropped.
    _pruning: Option<Arc<tokio::sync::oneshot::Sender<()>>>,
}

/// One caller's append, waiting for the group commit.
struct AppendRequest {
    records: Vec<Output>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Appended>, LogError>>,
}

/// Appends queued for the writer at most (callers wait for room beyond).
const APPEND_QUEUE: usize = 1024;
/// Records in one group commit at most (about 20 MB of typical items).
const GROUP_RECORDS: usize = 32_768;
/// How often expired records are deleted (also once at open).
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Records deleted in one transaction at most.
const PRUNE_CHUNK: i64 = 1000;

impl SqliteLog {
    /// Opens (creating if needed) the log file at `path`; every topic keeps
    /// its records for ever.
    pub async fn open(path: &Path) -> Result<SqliteLog, LogError> {
        SqliteLog::open_with(path, Retention::new()).await
    }

    /// Opens (creating if needed) the log file at `path`. Records of the
    /// topics named in `retention` are deleted once they are older than
    /// their retention, by a task that runs now and every minute until the
    /// last handle on this log is dropped (see [`SqliteLog::prune`]).
    pub async fn open_with(path: &Path, retention: Retention) -> Result<SqliteLog, LogError> {
        let pool = durable_pool(path).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let appended = Arc::new(Notify::new());
        let (appends, queue) = tokio::sync::mpsc::channel(APPEND_QUEUE);
        tokio::spawn(group_writer(pool.clone(), appended.clone(), queue));
        let retention = Arc::new(retention);
        let pruning = if retention.is_empty() {
            None
        } else {
            let (stop, stopped) = tokio::sync::oneshot::channel();
            tokio::spawn(pruner(pool.clone(), retention.clone(), stopped));
            Some(Arc::new(stop))
        };
        Ok(SqliteLog {
            pool,
            appended,
            appends,
            retention,
            _pruning: pruning,
        })
    }

    /// Deletes every record of a topic with a retention that was appended
    /// before `now` minus that retention; returns how many. The pruning task
    /// calls it with the current time; tests, with a time to come.
    pub async fn prune(&self, now: SystemTime) -> Result<u64, LogError> {
        prune(&self.pool, &self.retention, now).await
    }

    pub(crate) async fn ensure_topics(&self, topics: &[String]) -> Result<(), LogError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for topic in topics {
            sqlx::query("INSERT INTO log_topics (topic, next_offset) VALUES (?, 0) ON CONFLICT (topic) DO NOTHING")
                .bind(topic)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn append(&self, records: Vec<Output>) -> Result<Vec<Appended>, LogError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let gone = || LogError::Task("the embedded log's writer stopped".into());
        self.appends
            .send(AppendRequest { records, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    pub(crate) async fn append_if_unchanged(
        &self,
        topic: &str,
        seen: &Positions,
        records: Vec<Output>,
    ) -> Result<(), LogError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let next: i64 = sqlx::query("SELECT next_offset FROM log_topics WHERE topic = ?")
            .bind(topic)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| LogError::UnknownTopic(topic.to_owned()))?
            .get(0);
        if next != seen.get(&(topic.to_owned(), 0)).copied().unwrap_or(0) {
            return Err(LogError::Conflict(topic.to_owned()));
        }
        append_in(&mut tx, records).await?;
        tx.commit().await?;
        self.appended.notify_waiters();
        Ok(())
    }

    pub(crate) async fn group_consumer(&self, group: &str, topics: &[String]) -> Result<SqliteGroupConsumer, LogError> {
        let mut committed = Positions::new();
        for topic in topics {
            let row = sqlx::query("SELECT next_offset FROM log_group_offsets WHERE group_id = ? AND topic = ?")
                .bind(group)
                .bind(topic)
                .fetch_optional(&self.pool)
                .await?;
            let next: i64 = row.map(|r| r.get(0)).unwrap_or(0);
            committed.insert((topic.clone(), 0), next);
        }
        Ok(SqliteGroupConsumer {
            log: self.clone(),
            group: group.to_owned(),
            position: committed.clone(),
            committed,
        })
    }

    pub(crate) fn reader(&self, topics: &[String], start: &Positions) -> SqliteReader {
        let position = topics
            .iter()
            .map(|t| {
                let key = (t.clone(), 0);
                let offset = start.get(&key).copied().unwrap_or(0);
                (key, offset)
            })
            .collect();
        SqliteReader {
            log: self.clone(),
            position,
        }
    }

    /// Reads up to `max` records at or after `position`, waiting up to `wait`.
    async fn poll(&self, position: &mut Positions, max: usize, wait: Duration) -> Result<Vec<Record>, LogError> {
        let deadline = Instant::now() + wait;
        loop {
            // Register interest before reading so that an append between the
            // read and the wait is not missed.
            let notified = self.appended.notified();
            let records = self.read_from(position, max).await?;
            if !records.is_empty() {
                return Ok(records);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(records);
            }
            let nap = (deadline - now).min(CROSS_PROCESS_POLL);
            let _ = tokio::time::timeout(nap, notified).await;
        }
    }

    async fn read_from(&self, position: &mut Positions, max: usize) -> Result<Vec<Record>, LogError> {
        let mut out = Vec::new();
        for ((topic, partition), next) in position.iter_mut() {
            if out.len() >= max {
                break;
            }
            let rows = sqlx::query(
                r#"SELECT "offset", key, payload FROM log_records WHERE topic = ? AND "offset" >= ? ORDER BY "offset" LIMIT ?"#,
            )
            .bind(topic.as_str())
            .bind(*next)
            .bind((max - out.len()) as i64)
            .fetch_all(&self.pool)
            .await?;
            for row in rows {
                let offset: i64 = row.get(0);
                *next = offset + 1;
                out.push(Record {
                    topic: topic.clone(),
                    partition: *partition,
                    offset,
                    key: row.get(1),
                    payload: row.get(2),
                });
            }
        }
        Ok(out)
    }

    async fn lag(&self, position: &Positions) -> Result<crate::Lag, LogError> {
        let ends = self.end_offsets(position).await?;
        Ok(position
            .iter()
            .map(|((topic, partition), at)| {
                let end = ends.get(&(topic.clone(), *partition)).copied().unwrap_or(*at);
                (topic.clone(), *partition, (end - at).max(0))
            })
            .collect())
    }

    async fn end_offsets(&self, position: &Positions) -> Result<Positions, LogError> {
        let mut ends = Positions::new();
        for (topic, partition) in position.keys() {
            let row = sqlx::query("SELECT next_offset FROM log_topics WHERE topic = ?")
                .bind(topic.as_str())
                .fetch_optional(&self.pool)
                .await?;
            let row = row.ok_or_else(|| LogError::UnknownTopic(topic.clone()))?;
            ends.insert((topic.clone(), *partition), row.get(0));
        }
        Ok(ends)
    }
}

/// Prunes at once and then every [`PRUNE_EVERY`] until `stop` is dropped
/// (with the last [`SqliteLog`]). A failed prune is retried next time.
async fn pruner(pool: SqlitePool, retention: Arc<Retention>, mut stop: tokio::sync::oneshot::Receiver<()>) {
    let mut every = tokio::time::interval(PRUNE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = every.tick() => {}
        }
        tokio::select! {
            _ = &mut stop => return,
            pruned = prune(&pool, &retention, SystemTime::now()) => match pruned {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "deleted log records past their topic's retention"),
                Err(e) => tracing::warn!(error = %e, "deleting log records past their retention failed; retrying in a minute"),
            },
        }
    }
}

/// See [`SqliteLog::prune`]. Deletes from the oldest record of each topic
/// on, [`PRUNE_CHUNK`] records per transaction, and stops at the first
/// record that has not expired: offsets grow with append time, and a
/// clock that stepped back only delays a deletion.
async fn prune(pool: &SqlitePool, retention: &Retention, now: SystemTime) -> Result<u64, LogError> {
    let now = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or_default();
    let mut deleted = 0;
    for (topic, keep) in retention {
        // `appended_at` is in microseconds (`now_micros`).
        let cutoff = now.saturating_sub(i64::try_from(keep.as_micros()).unwrap_or(i64::MAX));
        loop {
            // Read without the write lock: only pruning deletes, and only
            // from the start, so the expired prefix can only shrink meanwhile.
            let rows = sqlx::query(
                r#"SELECT "offset", appended_at FROM log_records WHERE topic = ? ORDER BY "offset" LIMIT ?"#,
            )
            .bind(topic)
            .bind(PRUNE_CHUNK)
            .fetch_all(pool)
            .await?;
            let expired = rows.iter().take_while(|r| r.get::<i64, _>(1) < cutoff).count();
            let Some(last) = expired.checked_sub(1).map(|i| rows[i].get::<i64, _>(0)) else {
                break;
            };
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            // Overwrite what is deleted with zeros: this is personal data,
            // and free pages of the file would otherwise keep it.
            sqlx::query("PRAGMA secure_delete = ON").execute(&mut *tx).await?;
            deleted += sqlx::query(r#"DELETE FROM log_records WHERE topic = ? AND "offset" <= ?"#)
                .bind(topic)
                .bind(last)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            if (expired as i64) < PRUNE_CHUNK {
                break;
            }
            // Let writers (of this and other processes) take the lock
            // between chunks.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    Ok(deleted)
}

/// The group-commit writer: runs until every [`SqliteLog`] is dropped.
async fn group_writer(pool: SqlitePool, appended: Arc<Notify>, mut queue: tokio::sync::mpsc::Receiver<AppendRequest>) {
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        let mut records = group[0].records.len();
        while records < GROUP_RECORDS {
            match queue.try_recv() {
                Ok(next) => {
                    records += next.records.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        let answers = match write_group(&pool, &mut group).await {
            Ok(answers) => {
                appended.notify_waiters();
                answers
            }
            // Nothing of the group is durable: every caller hears why.
            Err(e) => {
                let reason = format!("the embedded log could not commit: {e}");
                group.iter().map(|_| Err(LogError::Task(reason.clone()))).collect()
            }
        };
        for (request, answer) in group.into_iter().zip(answers) {
            let _ = request.reply.send(answer);
        }
    }
}

/// Writes every append of `group` in one transaction, each inside a
/// savepoint (a failing one is rolled back alone and gets its error).
async fn write_group(
    pool: &SqlitePool,
    group: &mut [AppendRequest],
) -> Result<Vec<Result<Vec<Appended>, LogError>>, LogError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut answers = Vec::with_capacity(group.len());
    for request in group.iter_mut() {
        sqlx::query("SAVEPOINT append").execute(&mut *tx).await?;
        match append_in(&mut tx, std::mem::take(&mut request.records)).await {
            Ok(appended) => answers.push(Ok(appended)),
            Err(e) => {
                sqlx::query("ROLLBACK TO append").execute(&mut *tx).await?;
                answers.push(Err(e));
            }
        }
        sqlx::query("RELEASE append").execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(answers)
}

/// Appends inside an open transaction, so that a transactional step can put
/// its outputs and its offsets into one commit.
async fn append_in(tx: &mut sqlx::SqliteConnection, records: Vec<Output>) -> Result<Vec<Appended>, LogError> {
    let mut next: HashMap<String, i64> = HashMap::new();
    let mut appended = Vec::with_capacity(records.len());
    let now = now_micros();
    let mut rows = Vec::with_capacity(records.len());
    for record in records {
        let offset = match next.get(&record.topic) {
            Some(o) => *o,
            None => {
                let row = sqlx::query("SELECT next_offset FROM log_topics WHERE topic = ?")
                    .bind(&record.topic)
                    .fetch_optional(&mut *tx)
                    .await?;
                row.ok_or_else(|| LogError::UnknownTopic(record.topic.clone()))?.get(0)
            }
        };
        appended.push(Appended { partition: 0, offset });
        next.insert(record.topic.clone(), offset + 1);
        rows.push((offset, record));
    }
    // Multi-row inserts: one statement per 500 records, not one per record.
    for chunk in rows.chunks(500) {
        let mut insert =
            sqlx::QueryBuilder::new(r#"INSERT INTO log_records (topic, "offset", key, payload, appended_at) "#);
        insert.push_values(chunk, |mut row, (offset, record)| {
            row.push_bind(&record.topic)
                .push_bind(*offset)
                .push_bind(&record.key)
                .push_bind(&record.payload)
                .push_bind(now);
        });
        insert.build().execute(&mut *tx).await?;
    }
    for (topic, offset) in next {
        sqlx::query("UPDATE log_topics SET next_offset = ? WHERE topic = ?")
            .bind(offset)
            .bind(topic)
            .execute(&mut *tx)
            .await?;
    }
    Ok(appended)
}

pub struct SqliteGroupConsumer {
    log: SqliteLog,
    group: String,
    /// Next offset to read.
    position: Positions,
    /// Next offset as committed in the log (what a restart resumes from).
    committed: Positions,
}

impl SqliteGroupConsumer {
    pub(crate) async fn lag(&self) -> Result<crate::Lag, LogError> {
        self.log.lag(&self.position).await
    }

    pub(crate) async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, LogError> {
        self.log.poll(&mut self.position, max, wait).await
    }

    pub(crate) async fn commit_step(&mut self, outputs: Vec<Output>, consumed: &[Record]) -> Result<(), LogError> {
        let result = self.try_commit_step(outputs, consumed).await;
        match &result {
            Ok(new) => {
                self.committed.extend(new.clone());
                self.log.appended.notify_waiters();
            }
            Err(_) => self.position = self.committed.clone(),
        }
        result.map(|_| ())
    }

    pub(crate) async fn rewind(&mut self) -> Result<(), LogError> {
        self.position = self.committed.clone();
        Ok(())
    }

    pub(crate) async fn crash_before_commit(
        &mut self,
        outputs: Vec<Output>,
        consumed: &[Record],
    ) -> Result<(), LogError> {
        let tx = self.write_step(outputs, consumed).await?;
        // A crash: the transaction ends without COMMIT.
        drop(tx.0);
        Ok(())
    }

    async fn try_commit_step(&self, outputs: Vec<Output>, consumed: &[Record]) -> Result<Positions, LogError> {
        let (tx, next) = self.write_step(outputs, consumed).await?;
        tx.commit().await?;
        Ok(next)
    }

    /// Moves the offsets (compare-and-set) and appends the outputs inside one
    /// open transaction.
    async fn write_step(
        &self,
        outputs: Vec<Output>,
        consumed: &[Record],
    ) -> Result<(sqlx::Transaction<'static, sqlx::Sqlite>, Positions), LogError> {
        let next = next_offsets(consumed);
        let mut tx = self.log.pool.begin_with("BEGIN IMMEDIATE").await?;
        for ((topic, partition), offset) in &next {
            let expected = self.committed.get(&(topic.clone(), *partition)).copied().unwrap_or(0);
            // Compare-and-set: a second consumer of the same group that
            // committed in between fences this one.
            let updated = sqlx::query(
                "UPDATE log_group_offsets SET next_offset = ? WHERE group_id = ? AND topic = ? AND next_offset = ?",
            )
            .bind(offset)
            .bind(&self.group)
            .bind(topic)
            .bind(expected)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                let inserted = if expected == 0 {
                    sqlx::query(
                        "INSERT INTO log_group_offsets (group_id, topic, next_offset) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    )
                    .bind(&self.group)
                    .bind(topic)
                    .bind(offset)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                } else {
                    0
                };
                if inserted == 0 {
                    return Err(LogError::Fenced(self.group.clone()));
                }
            }
        }
        append_in(&mut tx, outputs).await?;
        Ok((tx, next))
    }
}

pub struct SqliteReader {
    log: SqliteLog,
    position: Positions,
}

impl SqliteReader {
    pub(crate) async fn lag(&self) -> Result<crate::Lag, LogError> {
        self.log.lag(&self.position).await
    }

    pub(crate) async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, LogError> {
        self.log.poll(&mut self.position, max, wait).await
    }

    pub(crate) async fn read_to_end(&mut self, out: &mut Vec<Record>) -> Result<(), LogError> {
        let ends = self.log.end_offsets(&self.position).await?;
        while ends
            .iter()
            .any(|(k, end)| self.position.get(k).copied().unwrap_or(0) < *end)
        {
            let batch = self.log.read_from(&mut self.position, 1000).await?;
            if batch.is_empty() {
                break;
            }
            out.extend(batch);
        }
        Ok(())
    }
}
