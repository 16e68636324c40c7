//! The audit logs (`--only audit`): `vox audit verify` over `--items`
//! records against the SHA-256 limit of one core measured in the same run
//! (the same leaf and inner hashes computed in memory, nothing else), on
//! SQLite and on PostgreSQL; and the auditor against the rate ingest puts
//! records on `vox.audit` (one per batch), on the embedded log and on
//! Kafka: its own rate reading a backlog, and its lag (how long a record
//! waits before it is a leaf) while records arrive at a steady rate.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use auditlog::{Frontier, SigningKey};
use eventlog::{Log, Output, SqliteLog};
use schemas::{ActorKind, AuditAction, Outcome, Topic};
use sha2::Digest;
use store::Store;

use crate::common::Report;
use crate::Args;

/// A batch's record as ingest writes it, `n`-th of the run.
fn record(n: usize) -> Vec<u8> {
    let record = audit::record(
        Some("bench"),
        ActorKind::Client,
        "vox_ci_0011223344556677",
        AuditAction::FeedbackBatch,
        Outcome::Success,
        Some(std::net::IpAddr::from([10, 1, 2, 3])),
        "eu",
        BTreeMap::from([
            ("batch_id".to_owned(), format!("bat_{n:012}")),
            ("accepted".to_owned(), "100".to_owned()),
            ("rejected".to_owned(), "0".to_owned()),
            ("secret_version".to_owned(), "1".to_owned()),
        ]),
    );
    schemas::encode(&record).expect("encodes")
}

pub async fn run(args: &Args, brokers: &str, run: &str, dir: &Path, report: &mut Report) {
    let n = args.items;
    println!("audit: {n} records");
    let records: Vec<Vec<u8>> = (0..n).map(record).collect();
    let bytes: usize = records.iter().map(Vec::len).sum();
    println!("  {} bytes per record on average", bytes / n.max(1));

    // The limit: the hashes verify must compute, in memory, on one core.
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let mut frontier = Frontier::empty();
        for r in &records {
            std::hint::black_box(frontier.append(r));
        }
        std::hint::black_box(frontier.root());
        best = best.min(started.elapsed());
    }
    let limit = n as f64 / best.as_secs_f64();
    // Plain SHA-256 over the same bytes, for scale.
    let started = Instant::now();
    let mut hasher = sha2::Sha256::new();
    for r in &records {
        hasher.update(r);
    }
    std::hint::black_box(hasher.finalize());
    let plain = bytes as f64 / started.elapsed().as_secs_f64() / 1e6;
    println!(
        "  SHA-256 limit of one core: the tree's hashes of {n} records in {:.2} s ({limit:.0} records/s); plain SHA-256 {plain:.0} MB/s",
        best.as_secs_f64()
    );

    let key = SigningKey::generate("vox-bench").expect("key");
    // SQLite.
    let path = dir.join("audit.sqlite");
    let store = Store::open_sqlite(&path).await.expect("sqlite store");
    verify(&store, "SQLite", &records, &key, limit, report).await;
    drop(store);
    // PostgreSQL.
    let db = testenv::TestDatabase::create().await;
    let store = Store::connect_postgres(&db.url).await.expect("postgres store");
    verify(&store, "PostgreSQL", &records, &key, limit, report).await;
    drop(store);
    db.drop_now().await;

    // The auditor against ingest's rate.
    let log = Log::Sqlite(SqliteLog::open(&dir.join("audit-log.sqlite")).await.expect("log"));
    let store = Store::open_sqlite(&dir.join("auditor.sqlite")).await.expect("store");
    auditor(log, store, "", "embedded log, SQLite", &records, report).await;
    let db = testenv::TestDatabase::create().await;
    let store = Store::connect_postgres(&db.url).await.expect("postgres store");
    auditor(
        crate::common::kafka_log(brokers),
        store,
        &format!("{run}."),
        "Kafka, PostgreSQL",
        &records,
        report,
    )
    .await;
    db.drop_now().await;
}

/// Loads the log straight through the store (as the auditor's steps
/// would, 5,000 records a step), then times `verify`.
async fn verify(store: &Store, backend: &str, records: &[Vec<u8>], key: &SigningKey, limit: f64, report: &mut Report) {
    let started = Instant::now();
    let mut frontiers = auditor::Frontiers::new();
    let mut positions = eventlog::Positions::new();
    for (step, chunk) in records.chunks(5000).enumerate() {
        let log_records: Vec<eventlog::Record> = chunk
            .iter()
            .enumerate()
            .map(|(i, payload)| eventlog::Record {
                topic: "vox.audit".into(),
                partition: 0,
                offset: (step * 5000 + i) as i64,
                key: b"bench".to_vec(),
                payload: payload.clone(),
            })
            .collect();
        auditor::append(store, &mut frontiers, &mut positions, &log_records)
            .await
            .expect("a step");
    }
    auditor::sign_checkpoint(store, key, "bench", &frontiers["bench"])
        .await
        .expect("checkpoint");
    println!(
        "  {backend}: {} records loaded in {:.1} s",
        records.len(),
        started.elapsed().as_secs_f64()
    );
    let mut best = Duration::MAX;
    for _ in 0..2 {
        let started = Instant::now();
        let verified = auditor::verify(store, "bench", &key.verifier_key(), None)
            .await
            .expect("verifies");
        best = best.min(started.elapsed());
        assert_eq!(verified.size, records.len() as u64);
    }
    let rate = records.len() as f64 / best.as_secs_f64();
    report.ratio(
        &format!("audit verify, {backend} (records/s)"),
        rate,
        "the tree's SHA-256 on one core, in memory",
        limit,
        "goal: ≥ 0.25",
        &format!("{} records in {:.2} s", records.len(), best.as_secs_f64()),
    );
}

/// Ingest's audit records per second at the ingest benchmark's rate (about
/// 66,000 items/s in batches of 100): one record per batch.
const INGEST_RECORDS_PER_SECOND: f64 = 660.0;

/// The auditor reading a backlog (its own rate), then records arriving at
/// a steady rate well above ingest's (its lag).
async fn auditor(log: Log, store: Store, namespace: &str, backend: &str, records: &[Vec<u8>], report: &mut Report) {
    let topic = Topic::Audit.name(namespace);
    log.ensure_topics(std::slice::from_ref(&topic)).await.expect("topic");
    let backlog = records.len().min(200_000);
    let outputs = |chunk: &[Vec<u8>]| -> Vec<Output> {
        chunk
            .iter()
            .map(|p| Output {
                topic: topic.clone(),
                key: b"bench".to_vec(),
                payload: p.clone(),
            })
            .collect()
    };
    for chunk in records[..backlog].chunks(5000) {
        log.append(outputs(chunk)).await.expect("append");
    }
    let settings = auditor::AuditorSettings::new(namespace, SigningKey::generate("vox-bench").expect("key"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let task = tokio::spawn(auditor::run(log.clone(), store.clone(), settings, async {
        let _ = stopped.await;
    }));
    let size = |store: Store| async move { store.audit_log_size("bench").await.expect("size") };
    while size(store.clone()).await < backlog as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = backlog as f64 / started.elapsed().as_secs_f64();
    report.ratio(
        &format!("auditor reading a backlog, {backend} (records/s)"),
        rate,
        "ingest's audit records at its benchmark rate (one per batch of 100)",
        INGEST_RECORDS_PER_SECOND,
        "goal: ≥ 1",
        &format!("{backlog} records in {:.1} s", started.elapsed().as_secs_f64()),
    );

    // Steady arrivals: 2,000 records/s (three times ingest's) for 10 s, in
    // batches of 20 every 10 ms; the lag of each batch is the time from its
    // append until the log has it.
    let paced = records.len().saturating_sub(backlog).min(20_000);
    let mut lags = Vec::new();
    let mut appended_at: Vec<(u64, Instant)> = Vec::new();
    let mut total = backlog as u64;
    let mut next = Instant::now();
    let mut pending = 0;
    for chunk in records[backlog..backlog + paced].chunks(20) {
        log.append(outputs(chunk)).await.expect("append");
        total += chunk.len() as u64;
        appended_at.push((total, Instant::now()));
        pending += 1;
        if pending % 10 == 0 {
            let now_size = size(store.clone()).await;
            let now = Instant::now();
            appended_at.retain(|(n, at)| {
                if *n <= now_size {
                    lags.push(now - *at);
                    false
                } else {
                    true
                }
            });
        }
        next += Duration::from_millis(10);
        tokio::time::sleep_until(next.into()).await;
    }
    while let Some(&(n, at)) = appended_at.first() {
        if size(store.clone()).await >= n {
            lags.push(at.elapsed());
            appended_at.remove(0);
        } else {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let _ = stop.send(());
    task.await.expect("no panic").expect("the auditor stops cleanly");
    if !lags.is_empty() {
        let max = lags.iter().max().copied().unwrap_or_default();
        let p99 = crate::common::percentile(&lags, 0.99);
        report.note(format!(
            "auditor lag, {backend}: {paced} records at 2,000/s (three times ingest's): p99 {:.0} ms, max {:.0} ms (goal: under 5 s; measured within 100 ms)",
            p99.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        ));
    }
}
