//! Conformance suite of the log seam: every test runs against the embedded
//! SQLite log (`sqlite::…`) and against Kafka (`kafka::…`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use eventlog::{GroupConsumer, KafkaLog, KafkaSettings, Log, Output, Positions, Reader, Record, SqliteLog};

enum Backend {
    Sqlite(tempfile::TempDir),
    Kafka(String),
}

struct Fixture {
    backend: Backend,
    namespace: String,
}

impl Fixture {
    async fn sqlite() -> Fixture {
        Fixture {
            backend: Backend::Sqlite(tempfile::tempdir().expect("temp dir")),
            namespace: testenv::namespace(),
        }
    }

    async fn kafka() -> Fixture {
        Fixture {
            backend: Backend::Kafka(testenv::kafka_brokers()),
            namespace: testenv::namespace(),
        }
    }

    /// A new handle on the same log, as a restarted process would open it.
    async fn open(&self) -> Log {
        match &self.backend {
            Backend::Sqlite(dir) => Log::Sqlite(
                SqliteLog::open(&dir.path().join("log.sqlite"))
                    .await
                    .expect("open sqlite log"),
            ),
            Backend::Kafka(brokers) => {
                let mut settings = KafkaSettings::single_broker(brokers.clone());
                settings.timeout = Duration::from_secs(20);
                Log::Kafka(KafkaLog::connect(settings).expect("connect kafka"))
            }
        }
    }

    fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.namespace)
    }
}

fn out(topic: &str, key: &str, payload: String) -> Output {
    Output {
        topic: topic.to_owned(),
        key: key.as_bytes().to_vec(),
        payload: payload.into_bytes(),
    }
}

fn payloads(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.payload).into_owned())
        .collect()
}

async fn poll_group(consumer: &mut GroupConsumer, want: usize) -> Vec<Record> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        got.extend(
            consumer
                .poll(want - got.len(), Duration::from_millis(500))
                .await
                .expect("poll"),
        );
    }
    got
}

async fn poll_reader(reader: &mut Reader, want: usize) -> Vec<Record> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        got.extend(reader.poll(1000, Duration::from_millis(500)).await.expect("poll"));
    }
    // Anything beyond what was expected would show up now.
    got.extend(reader.poll(1000, Duration::from_millis(1000)).await.expect("poll"));
    got
}

/// Appends return positions, survive a restart, and keep per-key order.
async fn append_is_durable_and_ordered_per_key(f: Fixture) {
    let topic = f.topic("append");
    let log = f.open().await;
    log.ensure_topics(std::slice::from_ref(&topic)).await.expect("topics");
    let keys = ["tenant-a/nps/1", "tenant-b/nps/7", "tenant-a/support/3"];
    let mut expected: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for batch in 0..3 {
        let mut records = Vec::new();
        for i in 0..10 {
            let key = keys[i % keys.len()];
            let payload = format!("{key}#{batch}-{i}");
            expected.entry(key).or_default().push(payload.clone());
            records.push(out(&topic, key, payload));
        }
        let appended = log.append(records).await.expect("append");
        assert_eq!(appended.len(), 10, "one position per record");
    }
    drop(log);

    let reopened = f.open().await;
    let all = reopened.read_all(&topic).await.expect("read all");
    assert_eq!(all.len(), 30, "every appended record is there after a restart");
    let mut by_key: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in &all {
        let key = keys
            .iter()
            .find(|k| k.as_bytes() == r.key.as_slice())
            .expect("known key");
        by_key
            .entry(key)
            .or_default()
            .push(String::from_utf8_lossy(&r.payload).into_owned());
    }
    assert_eq!(by_key, expected, "records of one key come back in append order");
}

/// A consumer group resumes after a restart exactly where its last step
/// committed: nothing skipped, nothing read twice.
async fn group_consumer_resumes_after_restart(f: Fixture) {
    let (input, output, group) = (f.topic("in"), f.topic("out"), f.topic("group"));
    let log = f.open().await;
    log.ensure_topics(&[input.clone(), output.clone()])
        .await
        .expect("topics");
    log.append((0..10).map(|i| out(&input, "one-key", format!("{i}"))).collect())
        .await
        .expect("append");

    let mut first = log
        .group_consumer(&group, std::slice::from_ref(&input))
        .await
        .expect("consumer");
    let polled = poll_group(&mut first, 10).await;
    assert!(polled.len() >= 4, "polled {} records", polled.len());
    let step = &polled[..4];
    let outputs = step
        .iter()
        .map(|r| {
            out(
                &output,
                "one-key",
                format!("done-{}", String::from_utf8_lossy(&r.payload)),
            )
        })
        .collect();
    first.commit_step(outputs, step).await.expect("commit");
    drop(first);
    drop(log);

    let log = f.open().await;
    let mut second = log
        .group_consumer(&group, std::slice::from_ref(&input))
        .await
        .expect("consumer");
    let rest = poll_group(&mut second, 6).await;
    assert_eq!(
        payloads(&rest),
        ["4", "5", "6", "7", "8", "9"],
        "resumes after the committed step"
    );
    let mut reader = log
        .reader(std::slice::from_ref(&output), &Positions::new())
        .await
        .expect("reader");
    assert_eq!(
        payloads(&poll_reader(&mut reader, 4).await),
        ["done-0", "done-1", "done-2", "done-3"]
    );
}

/// A crash between writing a step's outputs and committing it leaves no
/// visible output, and the step's inputs are read again.
async fn crash_between_output_and_commit_leaves_nothing(f: Fixture) {
    let (input, output, group) = (f.topic("in"), f.topic("out"), f.topic("group"));
    let log = f.open().await;
    log.ensure_topics(&[input.clone(), output.clone()])
        .await
        .expect("topics");
    log.append((0..5).map(|i| out(&input, "k", format!("{i}"))).collect())
        .await
        .expect("append");

    let mut zombie = log
        .group_consumer(&group, std::slice::from_ref(&input))
        .await
        .expect("consumer");
    let polled = poll_group(&mut zombie, 5).await;
    assert_eq!(polled.len(), 5);
    let outputs = polled
        .iter()
        .map(|r| out(&output, "k", format!("zombie-{}", String::from_utf8_lossy(&r.payload))))
        .collect();
    zombie
        .crash_before_commit(outputs, &polled)
        .await
        .expect("step written, not committed");
    drop(zombie);

    let log = f.open().await;
    let mut successor = log
        .group_consumer(&group, std::slice::from_ref(&input))
        .await
        .expect("consumer");
    let again = poll_group(&mut successor, 5).await;
    assert_eq!(
        payloads(&again),
        ["0", "1", "2", "3", "4"],
        "the uncommitted step's inputs are read again"
    );
    let outputs = again
        .iter()
        .map(|r| out(&output, "k", format!("ok-{}", String::from_utf8_lossy(&r.payload))))
        .collect();
    successor.commit_step(outputs, &again).await.expect("commit");

    let mut reader = log
        .reader(std::slice::from_ref(&output), &Positions::new())
        .await
        .expect("reader");
    assert_eq!(
        payloads(&poll_reader(&mut reader, 5).await),
        ["ok-0", "ok-1", "ok-2", "ok-3", "ok-4"],
        "only the committed step's outputs are visible"
    );
}

/// A reader starts at the positions it is given (the projector's stored
/// offsets), per partition.
async fn reader_starts_at_given_positions(f: Fixture) {
    let topic = f.topic("positions");
    let log = f.open().await;
    log.ensure_topics(std::slice::from_ref(&topic)).await.expect("topics");
    let appended = log
        .append((0..6).map(|i| out(&topic, "k", format!("{i}"))).collect())
        .await
        .expect("append");
    let partition = appended[0].partition;
    let start: Positions = [((topic.clone(), partition), appended[3].offset)].into_iter().collect();
    let mut reader = log.reader(std::slice::from_ref(&topic), &start).await.expect("reader");
    assert_eq!(payloads(&poll_reader(&mut reader, 3).await), ["3", "4", "5"]);
}

/// Where a reader stands after reading `topic` to its end.
async fn read_to_end(log: &Log, topic: &str, from: &Positions) -> (Vec<Record>, Positions) {
    let mut reader = log.reader(&[topic.to_owned()], from).await.expect("reader");
    let mut records = Vec::new();
    reader.read_to_end(&mut records).await.expect("read to end");
    let mut seen = from.clone();
    for r in &records {
        seen.insert((r.topic.clone(), r.partition), r.offset + 1);
    }
    (records, seen)
}

/// A conditional append succeeds only on the position it was read at; of
/// two writers that read the same position, exactly one wins; readers read
/// past what conditional appends leave in the log (Kafka: transaction
/// markers).
async fn conditional_appends_compare_and_set(f: Fixture) {
    let topic = f.topic("config");
    let log = f.open().await;
    log.ensure_topics(std::slice::from_ref(&topic)).await.expect("topics");
    let (_, empty) = read_to_end(&log, &topic, &Positions::new()).await;
    log.append_if_unchanged(&topic, &empty, vec![out(&topic, "k", "first".into())])
        .await
        .expect("unchanged since read: appended");
    let err = log
        .append_if_unchanged(&topic, &empty, vec![out(&topic, "k", "stale".into())])
        .await
        .expect_err("the topic changed since that read");
    assert!(matches!(err, eventlog::LogError::Conflict(_)), "{err}");
    let (records, seen) = read_to_end(&log, &topic, &Positions::new()).await;
    assert_eq!(payloads(&records), ["first"], "the stale write appended nothing");

    // Two writers that read the same state race; exactly one wins.
    let (a, b) = tokio::join!(
        log.append_if_unchanged(&topic, &seen, vec![out(&topic, "k", "a".into())]),
        log.append_if_unchanged(&topic, &seen, vec![out(&topic, "k", "b".into())]),
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "exactly one of two racing writers wins: {a:?} {b:?}"
    );
    let (more, seen) = read_to_end(&log, &topic, &seen).await;
    assert_eq!(more.len(), 1, "{:?}", payloads(&more));
    // A reader that has read everything can write again; reading from there
    // finds nothing new (it passes the markers).
    log.append_if_unchanged(&topic, &seen, vec![out(&topic, "k", "last".into())])
        .await
        .expect("appended after a fresh read");
    let (all, _) = read_to_end(&log, &topic, &Positions::new()).await;
    assert_eq!(all.len(), 3);
    assert_eq!(payloads(&all)[2], "last");
}

macro_rules! conformance {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Fixture::sqlite().await).await
                }
            )+
        }
        mod kafka {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Fixture::kafka().await).await
                }
            )+
        }
    };
}

conformance!(
    append_is_durable_and_ordered_per_key,
    group_consumer_resumes_after_restart,
    crash_between_output_and_commit_leaves_nothing,
    reader_starts_at_given_positions,
    conditional_appends_compare_and_set,
);

/// Kafka over TLS with SASL/SCRAM, against the local broker's SASL_SSL
/// listener (`deploy/local/services.sh` makes it; its `env` names it): the
/// configured credentials write and read; a wrong password is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_over_sasl_ssl() {
    let secure = testenv::kafka_sasl_ssl();
    let mut settings = KafkaSettings::single_broker(secure.brokers.clone());
    settings.timeout = Duration::from_secs(20);
    settings.security = eventlog::KafkaSecurity {
        protocol: Some("sasl_ssl".into()),
        sasl_mechanism: Some("SCRAM-SHA-512".into()),
        sasl_username: Some(secure.username.clone()),
        sasl_password: Some(auth::Secret::new(secure.password.clone())),
        ca_file: Some(secure.ca_file.clone().into()),
    };
    assert!(
        !format!("{settings:?}").contains(&secure.password),
        "the password never prints"
    );
    let topic = format!("{}secure", testenv::namespace());
    let log = Log::Kafka(KafkaLog::connect(settings.clone()).expect("connect"));
    log.ensure_topics(std::slice::from_ref(&topic))
        .await
        .expect("topics over SASL_SSL");
    log.append(vec![out(&topic, "k", "over tls".into())])
        .await
        .expect("append over SASL_SSL");
    assert_eq!(payloads(&log.read_all(&topic).await.expect("read")), ["over tls"]);

    settings.security.sasl_password = Some(auth::Secret::new("wrong"));
    settings.timeout = Duration::from_secs(5);
    let wrong = Log::Kafka(KafkaLog::connect(settings).expect("a client is created"));
    assert!(
        wrong.ensure_topics(std::slice::from_ref(&topic)).await.is_err()
            || wrong.append(vec![out(&topic, "k", "x".into())]).await.is_err(),
        "a wrong password neither creates topics nor appends"
    );
    assert_eq!(log.read_all(&topic).await.expect("read").len(), 1);
}

/// Topics are created with the configured `min.insync.replicas`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_topics_carry_min_insync_replicas() {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    let brokers = testenv::kafka_brokers();
    let topic = format!("{}durable", testenv::namespace());
    let settings = KafkaSettings::single_broker(brokers.clone());
    assert_eq!(
        (
            KafkaSettings::new("x").replication_factor,
            KafkaSettings::new("x").min_insync_replicas
        ),
        (3, 2),
        "production defaults"
    );
    let log = Log::Kafka(KafkaLog::connect(settings).expect("connect"));
    log.ensure_topics(std::slice::from_ref(&topic)).await.expect("topics");
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("admin");
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(&topic)], &AdminOptions::new())
        .await
        .expect("describe");
    let config = described[0].as_ref().expect("the topic's config");
    let value = |name: &str| config.get(name).and_then(|e| e.value.clone());
    assert_eq!(value("min.insync.replicas").as_deref(), Some("1"));
    assert_eq!(value("retention.ms").as_deref(), Some("-1"));
}
