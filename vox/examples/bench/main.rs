//! The Vox benchmarks, one binary (run it with `deploy/local/bench.sh`, which
//! starts Kafka and PostgreSQL and builds in release mode). Every figure is
//! printed next to a baseline measured in the same run:
//!
//! * `ingest`: signed HTTPS batches from a load generator in its own process
//!   into an ingest node on Kafka (full speed and half the peak rate), against
//!   Kafka's own `ProducerPerformance`; the node's CPU µs per item;
//! * `embedded`: the same push into the embedded SQLite log, against a plain
//!   loop inserting the same records in large batched transactions;
//! * `processor`: `vox process` on Kafka, against a plain rdkafka consume →
//!   produce loop over the same records without transactions;
//! * `rules`: the processor on Kafka with a 50-rule set and the default
//!   redaction, against the same processor with rules, built-in tags and
//!   redaction off, on the same records; per item, a 500-rule set against a
//!   10-rule set;
//! * `projector`: the projector into PostgreSQL, against a raw `COPY` of the
//!   same rows;
//! * `e2e`: items/s from the first push to the last row visible in the read
//!   model, on Kafka + PostgreSQL and on the embedded default, against ingest
//!   alone;
//! * `logins`: ingest's p99 while a login storm (bcrypt cost 12) runs in the
//!   same process, against its p99 without the storm;
//! * `analyst`: the analyst API's permission-filtered list, deep page,
//!   aggregate and text search for 200 users with varied grants over
//!   `--items` items in one tenant, on PostgreSQL and SQLite, p50/p99 against
//!   the same queries without the permission filter; export rows/s; the
//!   query plans (BENCHMARKS.md runs it with `--items 1000000`).
//!
//! Options: `--items N` (per phase, default 100000), `--clients N` (default 8),
//! `--batch N` (items per batch, default 100), `--only a,b` (phases to run).

mod analyst;
mod auditing;
mod common;
mod embedded;
mod ingest;
mod load;
mod logins;
mod pipeline;
mod rules;

use std::time::Duration;

pub struct Args {
    pub items: usize,
    pub clients: usize,
    pub batch: usize,
    pub only: Vec<String>,
}

const PHASES: [&str; 9] = [
    "ingest",
    "embedded",
    "processor",
    "rules",
    "projector",
    "e2e",
    "logins",
    "analyst",
    "audit",
];

fn args() -> Args {
    let mut a = Args {
        items: 100_000,
        clients: 8,
        batch: 100,
        only: PHASES.iter().map(|p| p.to_string()).collect(),
    };
    let usage = "usage: deploy/local/bench.sh [--items N (per phase, default 100000)] [--clients N (default 8)] \
                 [--batch N (items per batch, default 100)] [--only ingest,embedded,processor,rules,projector,e2e,logins,analyst,audit]";
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{usage}");
            std::process::exit(0);
        }
        let Some(value) = it.next() else {
            eprintln!("error: {flag} needs a value\n{usage}");
            std::process::exit(2);
        };
        if flag == "--only" {
            a.only = value.split(',').map(str::to_owned).collect();
            if let Some(bad) = a.only.iter().find(|p| !PHASES.contains(&p.as_str())) {
                eprintln!("error: unknown phase {bad}\n{usage}");
                std::process::exit(2);
            }
            continue;
        }
        let Some(value) = value.parse().ok().filter(|v: &usize| *v > 0) else {
            eprintln!("error: {flag} needs a positive number\n{usage}");
            std::process::exit(2);
        };
        match flag.as_str() {
            "--items" => a.items = value,
            "--clients" => a.clients = value,
            "--batch" => a.batch = value,
            _ => {
                eprintln!("error: unknown option {flag}\n{usage}");
                std::process::exit(2);
            }
        }
    }
    a.items = a.items.div_ceil(a.batch) * a.batch;
    a
}

#[tokio::main]
async fn main() {
    // The load generator: a child process of this benchmark.
    let mut raw = std::env::args().skip(1);
    if raw.next().as_deref() == Some("--load") {
        load::child(&raw.next().unwrap_or_default()).await;
        return;
    }
    let args = args();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let brokers = std::env::var("VOX_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let run = format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "vox benchmarks: {} items per phase, {} items per batch, {} clients; phases: {}",
        args.items,
        args.batch,
        args.clients,
        args.only.join(", ")
    );
    let mut report = common::Report::default();
    let wants = |p: &str| args.only.iter().any(|o| o == p);
    if wants("ingest") {
        ingest::run(&args, &brokers, &run, dir.path(), &mut report).await;
    }
    if wants("embedded") {
        embedded::run(&args, &run, dir.path(), &mut report).await;
    }
    if wants("processor") || wants("projector") {
        pipeline::stages(
            &args,
            &brokers,
            &run,
            wants("processor"),
            wants("projector"),
            &mut report,
        )
        .await;
    }
    if wants("rules") {
        rules::run(&args, &brokers, &run, &mut report).await;
    }
    if wants("e2e") {
        pipeline::end_to_end(&args, &brokers, &run, dir.path(), &mut report).await;
    }
    if wants("logins") {
        logins::run(&args, &run, dir.path(), &mut report).await;
    }
    if wants("analyst") {
        analyst::run(&args, dir.path(), &mut report).await;
    }
    if wants("audit") {
        auditing::run(&args, &brokers, &run, dir.path(), &mut report).await;
    }
    report.print();
    common::delete_topics(&brokers, &format!("{run}.")).await;
    // Let librdkafka's threads wind down before the runtime goes.
    tokio::time::sleep(Duration::from_millis(100)).await;
}
