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
                let mut settings = KafkaSettings::new(brokers.clone());
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
);
