//! Ingest on Kafka: a load generator in its own process pushes signed
//! batches into an ingest node in this process; against Kafka's own
//! `ProducerPerformance` with the same record size, `acks=all`, idempotent.

use std::path::Path;

use eventlog::Log;
use schemas::Topic;

use crate::common::{self, kafka_log, ms, percentile, Report};
use crate::{load, Args};

/// Full speed and half the peak rate on Kafka, against the raw producer.
pub async fn run(args: &Args, brokers: &str, run: &str, dir: &Path, report: &mut Report) {
    let record_size = common::received(run, 0, "vox_ci_0011223344556677").payload.len();
    report.note(format!(
        "one item: {} bytes of JSON, {record_size} bytes as an Avro record",
        common::batch_body(run, 0, 1).len()
    ));
    let ns = format!("{run}.raw.");
    let log = kafka_log(brokers);
    let topic = Topic::FeedbackRaw.name(&ns);
    log.ensure_topics(std::slice::from_ref(&topic)).await.expect("topic");
    let raw_rate = raw_producer(brokers, &topic, args.items, record_size);

    let ns = format!("{run}.kafka.");
    let (target, stop) = common::start_node(kafka_log(brokers), &ns, dir).await;
    let cpu = common::cpu_time();
    let peak = load::spawn(&target, args, &format!("{run}k"), None).await;
    let cpu_per_item = (common::cpu_time() - cpu).as_secs_f64() * 1e6 / args.items as f64;
    let _ = stop.send(());
    let peak_rate = args.items as f64 / peak.seconds;
    let latencies = peak.latencies();
    report.ratio(
        "ingest → Kafka, full speed",
        peak_rate,
        "Kafka ProducerPerformance",
        raw_rate,
        "goal ≥ 0.9",
        &format!(
            "p50 {} p99 {}; node CPU {cpu_per_item:.1} µs/item (goal ≤ 8)",
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99))
        ),
    );

    let ns = format!("{run}.half.");
    let (target, stop) = common::start_node(kafka_log(brokers), &ns, dir).await;
    let half = load::half_peak(&target, args, &format!("{run}h"), peak_rate).await;
    let _ = stop.send(());
    let latencies = half.latencies();
    report.note(format!(
        "ingest → Kafka at half the peak ({:.0} items/s offered): p50 {} p99 {} (goal p99 < 50 ms)",
        peak_rate / 2.0,
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99))
    ));
}

/// Items/s of ingest alone on `log` (the baseline of the end-to-end phase).
pub async fn alone(args: &Args, log: Log, ns: &str, dir: &Path, run: &str) -> f64 {
    let (target, stop) = common::start_node(log, ns, dir).await;
    let load = load::spawn(&target, args, &format!("{run}a"), None).await;
    let _ = stop.send(());
    args.items as f64 / load.seconds
}

/// Kafka's ProducerPerformance from the jars `deploy/local/services.sh`
/// fetched, with a full JIT: records/s.
fn raw_producer(brokers: &str, topic: &str, records: usize, record_size: usize) -> f64 {
    let state = std::env::var("VOX_LOCAL_DIR").unwrap_or_else(|_| "/var/tmp/vox-local".into());
    let output = std::process::Command::new("java")
        .args(["-Xmx512m", "-Djava.awt.headless=true"])
        .arg(format!(
            "-Dlog4j2.configurationFile={state}/kafka/config/tools-log4j2.xml"
        ))
        .arg("-cp")
        .arg(format!("{state}/kafka-4.4.0/libs/*"))
        .arg("org.apache.kafka.tools.ProducerPerformance")
        .args([
            "--topic",
            topic,
            "--num-records",
            &records.to_string(),
            "--record-size",
            &record_size.to_string(),
        ])
        .args(["--throughput", "-1", "--producer-props"])
        .arg(format!("bootstrap.servers={brokers}"))
        .args(["acks=all", "enable.idempotence=true", "linger.ms=5"])
        .output()
        .expect("run java (deploy/local/services.sh up fetches the Kafka jars)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.contains("records sent"))
        .unwrap_or_else(|| {
            panic!(
                "no summary from ProducerPerformance: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    println!("  ProducerPerformance: {last}");
    last.split(", ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .expect("records/sec in the summary")
}
