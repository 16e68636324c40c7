//! Ingest into the embedded SQLite log, against a plain loop that inserts
//! the same records into a SQLite file of the same durability (WAL,
//! `synchronous = FULL`) in transactions of 5,000 records.

use std::path::Path;
use std::time::Instant;

use eventlog::{Log, SqliteLog};

use crate::common::{self, ms, percentile, Report};
use crate::{load, Args};

pub async fn run(args: &Args, run: &str, dir: &Path, report: &mut Report) {
    let baseline = raw_sqlite_loop(args, run, dir).await;

    let full_dir = dir.join("embedded-full");
    std::fs::create_dir_all(&full_dir).expect("dir");
    let log = Log::Sqlite(SqliteLog::open(&full_dir.join("log.sqlite")).await.expect("log"));
    let (target, stop) = common::start_node(log, "", &full_dir).await;
    let cpu = common::cpu_time();
    let peak = load::spawn(&target, args, &format!("{run}e"), None).await;
    let cpu_per_item = (common::cpu_time() - cpu).as_secs_f64() * 1e6 / args.items as f64;
    let _ = stop.send(());
    let peak_rate = args.items as f64 / peak.seconds;
    let latencies = peak.latencies();
    report.ratio(
        "ingest → embedded SQLite log, full speed",
        peak_rate,
        "plain SQLite loop, 5,000 records per transaction",
        baseline,
        "goal ≥ 0.5",
        &format!(
            "p50 {} p99 {}; node CPU {cpu_per_item:.1} µs/item",
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99))
        ),
    );

    let half_dir = dir.join("embedded-half");
    std::fs::create_dir_all(&half_dir).expect("dir");
    let log = Log::Sqlite(SqliteLog::open(&half_dir.join("log.sqlite")).await.expect("log"));
    let (target, stop) = common::start_node(log, "", &half_dir).await;
    let half = load::half_peak(&target, args, &format!("{run}eh"), peak_rate).await;
    let _ = stop.send(());
    let latencies = half.latencies();
    report.note(format!(
        "ingest → embedded at half the peak ({:.0} items/s offered): p50 {} p99 {} (goal p99 < 50 ms)",
        peak_rate / 2.0,
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99))
    ));
}

/// The same records (Avro, as ingest writes them) inserted by a plain loop:
/// records/s.
async fn raw_sqlite_loop(args: &Args, run: &str, dir: &Path) -> f64 {
    let pool = eventlog::durable_pool(&dir.join("raw-loop.sqlite"))
        .await
        .expect("sqlite");
    sqlx::query(
        r#"CREATE TABLE records (topic TEXT NOT NULL, "offset" INTEGER NOT NULL, key BLOB NOT NULL,
           payload BLOB NOT NULL, appended_at INTEGER NOT NULL, PRIMARY KEY (topic, "offset"))"#,
    )
    .execute(&pool)
    .await
    .expect("create");
    let records: Vec<_> = (0..args.items)
        .map(|n| common::received(run, n, "vox_ci_0011223344556677"))
        .collect();
    let started = Instant::now();
    for (chunk_no, chunk) in records.chunks(5000).enumerate() {
        let mut tx = pool.begin().await.expect("begin");
        for (i, r) in chunk.iter().enumerate() {
            sqlx::query(r#"INSERT INTO records (topic, "offset", key, payload, appended_at) VALUES (?, ?, ?, ?, ?)"#)
                .bind("vox.feedback.raw")
                .bind((chunk_no * 5000 + i) as i64)
                .bind(&r.key)
                .bind(&r.payload)
                .bind(schemas::clock::now_micros())
                .execute(&mut *tx)
                .await
                .expect("insert");
        }
        tx.commit().await.expect("commit");
    }
    args.items as f64 / started.elapsed().as_secs_f64()
}
