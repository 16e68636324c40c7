//! The pipeline's middle and end: the processor on Kafka against a plain
//! consume → produce loop, the projector into PostgreSQL against a raw
//! `COPY`, and the whole pipeline end to end on both backends.

use std::path::Path;
use std::time::{Duration, Instant};

use eventlog::{Log, Output, Positions, SqliteLog};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, TopicPartitionList};
use schemas::{Region, Topic};

use crate::common::{self, kafka_log, Report};
use crate::Args;

fn region() -> Region {
    Region::parse("eu").expect("region")
}

/// Appends `items` raw records of `client` to `namespace`'s raw topic,
/// each changed by `shape` (given the record and its number).
pub async fn fill_raw(
    log: &Log,
    namespace: &str,
    run: &str,
    items: usize,
    client: &str,
    shape: impl Fn(Output, usize) -> Output,
) {
    let topic = Topic::FeedbackRaw.name(namespace);
    let mut n = 0;
    while n < items {
        let chunk: Vec<Output> = (n..(n + 5000).min(items))
            .map(|i| {
                shape(
                    Output {
                        topic: topic.clone(),
                        ..common::received(run, i, client)
                    },
                    i,
                )
            })
            .collect();
        n += chunk.len();
        log.append(chunk).await.expect("append raw records");
    }
}

/// Waits until consumer group `group` has committed `items` offsets of `topic`.
pub async fn wait_committed(brokers: &str, group: &str, topic: &str, items: usize, limit: Duration) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        tpl.add_partition(topic, p.id());
    }
    let started = Instant::now();
    let consumer = std::sync::Arc::new(consumer);
    loop {
        let (c, t) = (consumer.clone(), tpl.clone());
        let committed = tokio::task::spawn_blocking(move || c.committed_offsets(t, Duration::from_secs(10)))
            .await
            .expect("task");
        let done: i64 = committed
            .map(|c| {
                c.elements()
                    .iter()
                    .filter_map(|e| e.offset().to_raw())
                    .filter(|o| *o > 0)
                    .sum()
            })
            .unwrap_or(0);
        if done as usize >= items {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "group {group} committed only {done} of {items} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The baseline of the processor: a plain rdkafka loop that consumes the raw
/// records and produces each to another topic (acks=all, idempotent, no
/// transactions), until `items` are acknowledged. Records/s.
fn raw_consume_produce(brokers: &str, input: &str, output: &str, group: &str, items: usize) -> f64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let producer: ThreadedProducer<rdkafka::producer::DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    consumer.subscribe(&[input]).expect("subscribe");
    let started = Instant::now();
    let mut n = 0;
    while n < items {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                use rdkafka::message::Message;
                let mut record = BaseRecord::to(output)
                    .key(m.key().unwrap_or_default())
                    .payload(m.payload().unwrap_or_default());
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((_, back)) => {
                            record = back;
                            producer.poll(Duration::from_millis(1));
                        }
                    }
                }
                n += 1;
            }
            Some(Err(e)) => panic!("raw loop: {e}"),
            None => assert!(started.elapsed() < Duration::from_secs(600), "raw loop stalled"),
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    items as f64 / started.elapsed().as_secs_f64()
}

/// The processor against the raw loop, then the projector against `COPY`,
/// on the same records.
pub async fn stages(args: &Args, brokers: &str, run: &str, processor: bool, projector: bool, report: &mut Report) {
    let ns = format!("{run}.stages.");
    let log = kafka_log(brokers);
    let (client, _) = common::setup_tenant(&log, &ns, &auth::Kek::generate()).await;
    let items = args.items;
    fill_raw(&log, &ns, run, items, &client, |r, _| r).await;
    let raw = Topic::FeedbackRaw.name(&ns);

    // Processor.
    let copy_topic = format!("{ns}copy");
    log.ensure_topics(std::slice::from_ref(&copy_topic))
        .await
        .expect("topic");
    let baseline = {
        let (b, r, c, g) = (
            brokers.to_owned(),
            raw.clone(),
            copy_topic.clone(),
            format!("{ns}raw-loop"),
        );
        tokio::task::spawn_blocking(move || raw_consume_produce(&b, &r, &c, &g, items))
            .await
            .expect("raw loop")
    };
    let settings = processor::ProcessorSettings::new(region(), ns.clone());
    let group = settings.group.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let task = tokio::spawn(processor::run(kafka_log(brokers), settings, async {
        let _ = stopped.await;
    }));
    wait_committed(brokers, &group, &raw, items, Duration::from_secs(1800)).await;
    let rate = items as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(());
    task.await.expect("task").expect("processor");
    if processor {
        report.ratio(
            "processor on Kafka (exactly-once steps)",
            rate,
            "rdkafka consume → produce, no transactions",
            baseline,
            "goal ≥ 0.5",
            "",
        );
    }
    if projector {
        project(brokers, &ns, items, report).await;
    }
}

/// The projector into PostgreSQL against a raw `COPY` of the same rows.
async fn project(brokers: &str, ns: &str, items: usize, report: &mut Report) {
    let db = testenv::TestDatabase::create().await;
    let store = store::Store::connect_postgres(&db.url).await.expect("store");
    // The rows the projector writes, read and decoded outside the timing.
    let mut records = Vec::new();
    let topics = [Topic::FeedbackProcessed.name(ns), Topic::FeedbackRejected.name(ns)];
    let mut reader = kafka_log(brokers)
        .reader(&topics, &Positions::new())
        .await
        .expect("reader");
    reader.read_to_end(&mut records).await.expect("read");
    let rows = projector::project(ns, &Positions::new(), &records).feedback;
    assert_eq!(rows.len(), items, "every item was processed");
    let baseline = raw_copy(&db.url, &rows).await;

    let settings = projector::ProjectorSettings::new(ns);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let task = tokio::spawn(projector::run(kafka_log(brokers), store.clone(), settings, async {
        let _ = stopped.await;
    }));
    // Done when the stored positions are past the last record (a cheap
    // query, unlike counting rows, which would load the database).
    let mut target = Positions::new();
    for r in &records {
        let next = target.entry((r.topic.clone(), r.partition)).or_insert(0);
        *next = (*next).max(r.offset + 1);
    }
    let limit = Instant::now() + Duration::from_secs(1800);
    loop {
        let stored: Positions = store
            .positions(projector::PROJECTOR)
            .await
            .expect("positions")
            .into_iter()
            .map(|(t, p, o)| ((t, p), o))
            .collect();
        if target.iter().all(|(k, o)| stored.get(k).is_some_and(|s| s >= o)) {
            break;
        }
        assert!(Instant::now() < limit, "the projector did not finish");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rate = items as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(());
    task.await.expect("task").expect("projector");
    assert_eq!(store.count_feedback(common::TENANT).await.expect("count"), items);
    report.ratio(
        "projector into PostgreSQL",
        rate,
        "raw COPY of the same rows",
        baseline,
        "goal ≥ 0.5",
        "",
    );
    db.drop_now().await;
}

/// Waits until the read model holds `items` feedback rows of the bench
/// tenant (to within 200 ms).
async fn wait_rows(store: &store::Store, items: usize, limit: Duration) {
    let started = Instant::now();
    loop {
        let n = store.count_feedback(common::TENANT).await.expect("count");
        if n >= items {
            return;
        }
        assert!(started.elapsed() < limit, "only {n} of {items} rows within {limit:?}");
        // Counting rows costs the database a scan: not too often.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `COPY feedback_copy FROM STDIN` of `rows` (a table of the same columns
/// as `feedback`, without its indexes but its primary key): rows/s.
async fn raw_copy(url: &str, rows: &[store::FeedbackRow]) -> f64 {
    use sqlx::postgres::PgPoolCopyExt;
    let pool = sqlx::PgPool::connect(url).await.expect("connect");
    sqlx::query("CREATE TABLE feedback_copy (LIKE feedback INCLUDING ALL)")
        .execute(&pool)
        .await
        .expect("create");
    let started = Instant::now();
    let mut copy = pool
        .copy_in_raw(
            "COPY feedback_copy (tenant_id, collection, external_id, event_id, client_id, batch_id, channel, \
             occurred_at, text, language, metrics, respondent, metadata, tags, received_region, processed_region, \
             received_at, processed_at) FROM STDIN",
        )
        .await
        .expect("copy");
    let mut buf = Vec::with_capacity(1 << 20);
    for r in rows {
        let opt = |s: &Option<String>| s.as_deref().map(copy_text).unwrap_or_else(|| "\\N".into());
        let line = [
            copy_text(&r.tenant_id),
            copy_text(&r.collection),
            copy_text(&r.external_id),
            copy_text(&r.event_id),
            copy_text(&r.client_id),
            copy_text(&r.batch_id),
            copy_text(&r.channel),
            r.occurred_at.to_string(),
            opt(&r.text),
            opt(&r.language),
            copy_text(&r.metrics.to_string()),
            opt(&r.respondent),
            copy_text(&r.metadata.to_string()),
            copy_text(&r.tags.to_string()),
            copy_text(&r.received_region),
            copy_text(&r.processed_region),
            r.received_at.to_string(),
            r.processed_at.to_string(),
        ]
        .join("\t");
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        if buf.len() > (1 << 20) {
            copy.send(std::mem::take(&mut buf)).await.expect("copy data");
        }
    }
    copy.send(buf).await.expect("copy data");
    let copied = copy.finish().await.expect("copy finish");
    assert_eq!(copied as usize, rows.len());
    rows.len() as f64 / started.elapsed().as_secs_f64()
}

/// A value in COPY's text format.
fn copy_text(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

/// Items/s from the first push to the last row in the read model, with
/// ingest, processor and projector running together, on Kafka +
/// PostgreSQL and on the embedded default; against ingest alone.
pub async fn end_to_end(args: &Args, brokers: &str, run: &str, dir: &Path, report: &mut Report) {
    // Kafka + PostgreSQL.
    let ns = format!("{run}.e2e.");
    let db = testenv::TestDatabase::create().await;
    let store = store::Store::connect_postgres(&db.url).await.expect("store");
    let rate = pipeline_rate(args, kafka_log(brokers), store.clone(), &ns, dir, &format!("{run}k")).await;
    let ingest_alone = crate::ingest::alone(args, kafka_log(brokers), &format!("{run}.e2e-ingest."), dir, run).await;
    report.ratio(
        "end to end, Kafka + PostgreSQL (push → row visible)",
        rate,
        "ingest → Kafka alone",
        ingest_alone,
        "goal ≥ 0.5",
        "",
    );
    db.drop_now().await;

    // Embedded.
    let sqlite_dir = dir.join("e2e-embedded");
    std::fs::create_dir_all(&sqlite_dir).expect("dir");
    let log = Log::Sqlite(SqliteLog::open(&sqlite_dir.join("log.sqlite")).await.expect("log"));
    let store = store::Store::open_sqlite(&sqlite_dir.join("store.sqlite"))
        .await
        .expect("store");
    let rate = pipeline_rate(args, log, store, "", &sqlite_dir, &format!("{run}e")).await;
    let alone_dir = dir.join("e2e-embedded-ingest");
    std::fs::create_dir_all(&alone_dir).expect("dir");
    let log = Log::Sqlite(SqliteLog::open(&alone_dir.join("log.sqlite")).await.expect("log"));
    let ingest_alone = crate::ingest::alone(args, log, "", &alone_dir, run).await;
    report.ratio(
        "end to end, embedded (push → row visible)",
        rate,
        "ingest → embedded log alone",
        ingest_alone,
        "",
        "",
    );
}

/// Ingest, processor and projector on `log` and `store`; the load generator
/// pushes `args.items`; items/s until the last row is visible.
async fn pipeline_rate(args: &Args, log: Log, store: store::Store, ns: &str, dir: &Path, run: &str) -> f64 {
    let (target, stop_node) = common::start_node(log.clone(), ns, dir).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until = |mut s: tokio::sync::watch::Receiver<bool>| async move {
        let _ = s.wait_for(|v| *v).await;
    };
    let processor = tokio::spawn(processor::run(
        log.clone(),
        processor::ProcessorSettings::new(region(), ns),
        until(stopped.clone()),
    ));
    let projector = tokio::spawn(projector::run(
        log,
        store.clone(),
        projector::ProjectorSettings::new(ns),
        until(stopped.clone()),
    ));
    let started = Instant::now();
    crate::load::spawn(&target, args, run, None).await;
    wait_rows(&store, args.items, Duration::from_secs(1800)).await;
    let rate = args.items as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = stop_node.send(());
    processor.await.expect("task").expect("processor");
    projector.await.expect("task").expect("projector");
    rate
}
