//! Conformance suite of the log seam: every test runs against the embedded
//! SQLite log (`sqlite::…`) and against Kafka (`kafka::…`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use eventlog::{GroupConsumer, KafkaLog, KafkaSettings, Log, Output, Positions, Reader, Record, Retention, SqliteLog};

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
            Backend::Kafka(_) => self.open_with(Retention::new()).await,
        }
    }

    /// [`Fixture::open`] with a retention per topic.
    async fn open_with(&self, retention: Retention) -> Log {
        match &self.backend {
            Backend::Sqlite(dir) => Log::Sqlite(
                SqliteLog::open_with(&dir.path().join("log.sqlite"), retention)
                    .await
                    .expect("open sqlite log"),
            ),
            Backend::Kafka(brokers) => {
                let mut settings = KafkaSettings::single_broker(brokers.clone());
                settings.timeout = Duration::from_secs(20);
                settings.retention = retention;
                Log::Kafka(KafkaLog::connect(settings).expect("connect kafka"))
            }
        }
    }

    /// Deletes the records of `topic` before `upto` in `partition` as its
    /// retention `keep` would once they have expired (every record there
    /// now is older than `upto`'s). SQLite: pruning at a time `keep` from
    /// now; Kafka: DeleteRecords, which moves the partition's start as the
    /// broker's retention does.
    async fn expire(&self, log: &Log, topic: &str, partition: i32, upto: i64, keep: Duration) {
        match (log, &self.backend) {
            (Log::Sqlite(l), _) => {
                let deleted = l.prune(SystemTime::now() + keep).await.expect("prune");
                assert_eq!(deleted, upto as u64, "pruning deletes every expired record");
            }
            (Log::Kafka(_), Backend::Kafka(brokers)) => {
                let mut offsets = rdkafka::TopicPartitionList::new();
                offsets
                    .add_partition_offset(topic, partition, rdkafka::Offset::Offset(upto))
                    .expect("offsets");
                let deleted = admin(brokers)
                    .delete_records(&offsets, &rdkafka::admin::AdminOptions::new())
                    .await
                    .expect("delete records");
                let low = deleted.find_partition(topic, partition).expect("the partition");
                assert_eq!(low.error(), Ok(()));
                assert_eq!(low.offset(), rdkafka::Offset::Offset(upto), "the partition's new start");
            }
            (Log::Kafka(_), Backend::Sqlite(_)) => unreachable!("a Kafka log of a SQLite fixture"),
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

/// Records past their topic's retention are deleted (SQLite: by pruning;
/// Kafka: by the broker), and whoever was positioned before them goes on at
/// the next record left: a consumer group whose committed offset is gone,
/// a reader given a stored position that is gone, a reader from the start.
async fn readers_skip_records_past_retention(f: Fixture) {
    let (topic, group) = (f.topic("vox.feedback.raw"), f.topic("group"));
    let keep = Duration::from_secs(3600);
    let log = f.open_with(Retention::from([(topic.clone(), keep)])).await;
    log.ensure_topics(std::slice::from_ref(&topic)).await.expect("topics");
    let appended = log
        .append((0..4).map(|i| out(&topic, "one-key", format!("{i}"))).collect())
        .await
        .expect("append");
    let partition = appended[0].partition;
    let mut consumer = log
        .group_consumer(&group, std::slice::from_ref(&topic))
        .await
        .expect("consumer");
    let first = poll_group(&mut consumer, 1).await;
    assert_eq!(payloads(&first), ["0"]);
    consumer.commit_step(Vec::new(), &first).await.expect("commit");
    drop(consumer);
    drop(log);

    let log = f.open_with(Retention::from([(topic.clone(), keep)])).await;
    f.expire(&log, &topic, partition, appended[3].offset + 1, keep).await;
    log.append((4..6).map(|i| out(&topic, "one-key", format!("{i}"))).collect())
        .await
        .expect("append after the deletion");

    let mut consumer = log
        .group_consumer(&group, std::slice::from_ref(&topic))
        .await
        .expect("consumer");
    assert_eq!(
        payloads(&poll_group(&mut consumer, 2).await),
        ["4", "5"],
        "the group goes on at the next record left"
    );
    let start: Positions = [((topic.clone(), partition), appended[1].offset)].into_iter().collect();
    let mut reader = log.reader(std::slice::from_ref(&topic), &start).await.expect("reader");
    assert_eq!(
        payloads(&poll_reader(&mut reader, 2).await),
        ["4", "5"],
        "a stored position that is gone reads on from the next record left"
    );
    let (all, _) = read_to_end(&log, &topic, &Positions::new()).await;
    assert_eq!(payloads(&all), ["4", "5"]);
    assert_eq!(all[0].offset, appended[3].offset + 1, "offsets are never reused");
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
    readers_skip_records_past_retention,
);

fn admin(brokers: &str) -> rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> {
    rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin")
}

/// The topic's configs that differ from the broker's defaults, and
/// `retention.ms`, as the broker describes them.
async fn topic_config(brokers: &str, topic: &str) -> BTreeMap<String, String> {
    use rdkafka::admin::{AdminOptions, ConfigSource, ResourceSpecifier};
    let described = admin(brokers)
        .describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .expect("describe");
    let config = described[0].as_ref().expect("the topic's config");
    config
        .entries
        .iter()
        .filter(|e| e.source == ConfigSource::DynamicTopic || e.name == "retention.ms")
        .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
        .collect()
}

/// Waits until the topic's config has `key` = `value` (a broker applies an
/// alteration a moment after the controller accepted it).
async fn await_config(brokers: &str, topic: &str, key: &str, value: &str) -> BTreeMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let config = topic_config(brokers, topic).await;
        if config.get(key).map(String::as_str) == Some(value) || Instant::now() >= deadline {
            return config;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// New topics get the configured retention (and segments of at most a day,
/// so that Kafka can delete expired records on time); every other topic
/// keeps its records for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_topics_are_created_with_their_retention() {
    let brokers = testenv::kafka_brokers();
    let ns = testenv::namespace();
    let (raw, rejected, processed) = (
        format!("{ns}vox.feedback.raw"),
        format!("{ns}vox.feedback.rejected"),
        format!("{ns}vox.feedback.processed"),
    );
    let day = Duration::from_secs(86_400);
    let mut settings = KafkaSettings::single_broker(brokers.clone());
    settings.retention = Retention::from([(raw.clone(), 7 * day), (rejected.clone(), 30 * day)]);
    let log = Log::Kafka(KafkaLog::connect(settings).expect("connect"));
    log.ensure_topics(&[raw.clone(), rejected.clone(), processed.clone()])
        .await
        .expect("topics");
    let base = [("retention.bytes", "-1"), ("min.insync.replicas", "1")];
    assert_eq!(
        topic_config(&brokers, &raw).await,
        expected(&[
            base[0],
            base[1],
            ("retention.ms", "604800000"),
            ("segment.ms", "60480000")
        ])
    );
    assert_eq!(
        topic_config(&brokers, &rejected).await,
        expected(&[
            base[0],
            base[1],
            ("retention.ms", "2592000000"),
            ("segment.ms", "86400000")
        ])
    );
    assert_eq!(
        topic_config(&brokers, &processed).await,
        expected(&[base[0], base[1], ("retention.ms", "-1")])
    );
    // A restart with the same settings changes nothing.
    log.ensure_topics(&[raw.clone(), rejected, processed])
        .await
        .expect("topics again");
    assert_eq!(
        topic_config(&brokers, &raw)
            .await
            .get("retention.ms")
            .map(String::as_str),
        Some("604800000")
    );
}

/// Topics that exist already get their retention corrected to the
/// settings: a changed retention, a topic without retention created with
/// one (by hand: the broker's default 7 days). Their other topic configs
/// stay as they were (AlterConfigs would otherwise reset them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_existing_topics_get_their_retention_corrected() {
    use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
    let brokers = testenv::kafka_brokers();
    let ns = testenv::namespace();
    let (raw, audit) = (format!("{ns}vox.feedback.raw"), format!("{ns}vox.audit"));
    let before = Log::Kafka(KafkaLog::connect(KafkaSettings::single_broker(brokers.clone())).expect("connect"));
    before.ensure_topics(std::slice::from_ref(&raw)).await.expect("topics");
    assert_eq!(
        topic_config(&brokers, &raw)
            .await
            .get("retention.ms")
            .map(String::as_str),
        Some("-1")
    );
    // Created by hand: the broker's default retention, and a config of the
    // operator's own.
    let by_hand = NewTopic::new(&audit, 1, TopicReplication::Fixed(1)).set("max.message.bytes", "2000000");
    admin(&brokers)
        .create_topics([&by_hand], &AdminOptions::new())
        .await
        .expect("create")[0]
        .as_ref()
        .expect("created");
    assert_ne!(
        topic_config(&brokers, &audit)
            .await
            .get("retention.ms")
            .map(String::as_str),
        Some("-1"),
        "the broker's default retention"
    );

    let mut settings = KafkaSettings::single_broker(brokers.clone());
    settings.retention = Retention::from([(raw.clone(), Duration::from_secs(3600))]);
    // Without correct_retention (the roles, the admin commands other than
    // `vox topics ensure`), existing topics stay as they are.
    let cli = Log::Kafka(KafkaLog::connect(settings.clone()).expect("connect"));
    cli.ensure_topics(&[raw.clone(), audit.clone()]).await.expect("topics");
    assert_eq!(
        topic_config(&brokers, &raw)
            .await
            .get("retention.ms")
            .map(String::as_str),
        Some("-1"),
        "only `vox topics ensure` changes an existing topic"
    );
    settings.correct_retention = true;
    let log = KafkaLog::connect(settings).expect("connect");
    let report = log
        .ensure_topics_reporting(&[raw.clone(), audit.clone()])
        .await
        .expect("topics");
    assert_eq!(
        report
            .corrected
            .iter()
            .map(|c| (c.topic.as_str(), c.from, c.to.as_str()))
            .collect::<Vec<_>>(),
        [
            (raw.as_str(), Some(-1), "3600000"),
            (audit.as_str(), Some(604_800_000), "-1")
        ],
        "{report:?}"
    );
    assert!(
        report.created.is_empty() && report.existing.is_empty() && report.retention_unchecked.is_empty(),
        "{report:?}"
    );
    assert_eq!(
        await_config(&brokers, &raw, "retention.ms", "3600000").await,
        expected(&[
            ("retention.ms", "3600000"),
            ("segment.ms", "360000"),
            ("retention.bytes", "-1"),
            ("min.insync.replicas", "1"),
        ]),
        "the retention is set; the other configs stay"
    );
    assert_eq!(
        await_config(&brokers, &audit, "retention.ms", "-1").await,
        expected(&[("retention.ms", "-1"), ("max.message.bytes", "2000000")]),
        "a topic without retention keeps its records for ever; the operator's config stays"
    );
}

/// A SCRAM user of the local broker with Describe on the topics of one
/// prefix and nothing else (no Create): made with the broker's own tools
/// (`deploy/local/services.sh kafka-run`) as its PLAINTEXT super user,
/// removed again when dropped.
struct DescribeOnly {
    brokers: String,
    user: String,
    prefix: String,
}

impl DescribeOnly {
    fn make(prefix: &str, password: &str) -> DescribeOnly {
        let made = DescribeOnly {
            brokers: testenv::kafka_brokers(),
            user: format!("{prefix}describe-only"),
            prefix: prefix.to_owned(),
        };
        made.tool(&[
            "org.apache.kafka.tools.ConfigCommand",
            "--alter",
            "--entity-type",
            "users",
            "--entity-name",
            &made.user,
            "--add-config",
            &format!("SCRAM-SHA-512=[iterations=8192,password={password}]"),
        ])
        .expect("a SCRAM user");
        made.tool(&made.acl("--add")).expect("its ACL");
        made
    }

    fn acl(&self, action: &str) -> Vec<String> {
        [
            "org.apache.kafka.tools.AclCommand",
            action,
            "--force",
            "--allow-principal",
            &format!("User:{}", self.user),
            "--resource-pattern-type",
            "prefixed",
            "--topic",
            &self.prefix,
            "--operation",
            "Describe",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn tool<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<(), String> {
        let services = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/local/services.sh");
        let output = std::process::Command::new(services)
            .arg("kafka-run")
            .arg(&args[0])
            .arg("--bootstrap-server")
            .arg(&self.brokers)
            .args(&args[1..])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if output.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }
}

impl Drop for DescribeOnly {
    fn drop(&mut self) {
        // Best effort: the broker should not collect a user per test run.
        let _ = self.tool(&self.acl("--remove"));
        let _ = self.tool(&[
            "org.apache.kafka.tools.ConfigCommand",
            "--alter",
            "--entity-type",
            "users",
            "--entity-name",
            &self.user,
            "--delete-config",
            "SCRAM-SHA-512",
        ]);
    }
}

/// Whether `topic` exists, as the super user sees it.
fn topic_exists(brokers: &str, topic: &str) -> bool {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    metadata
        .topics()
        .iter()
        .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
}

/// ensure_topics reads the topics' metadata and asks to create only the
/// missing ones, so a principal that may describe its topics but not
/// create them (a role under least privilege, once `vox topics ensure`
/// ran) passes when they exist; a topic it may not describe is not its
/// concern and is left alone; a missing one fails, named, with what to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_ensure_topics_creates_only_missing_topics() {
    let brokers = testenv::kafka_brokers();
    let secure = testenv::kafka_sasl_ssl();
    let ns = testenv::namespace();
    let (existing, missing) = (format!("{ns}exists"), format!("{ns}missing"));
    let hidden = format!("{}hidden", testenv::namespace());
    let superuser = KafkaLog::connect(KafkaSettings::single_broker(brokers.clone())).expect("connect");
    let made = superuser
        .ensure_topics_reporting(std::slice::from_ref(&existing))
        .await
        .expect("the super user creates a topic");
    assert_eq!(made.created, std::slice::from_ref(&existing));

    let password = uuid::Uuid::new_v4().simple().to_string();
    let principal = DescribeOnly::make(&ns, &password);
    let mut settings = KafkaSettings::single_broker(secure.brokers.clone());
    settings.timeout = Duration::from_secs(10);
    settings.security = eventlog::KafkaSecurity {
        protocol: Some("sasl_ssl".into()),
        sasl_mechanism: Some("SCRAM-SHA-512".into()),
        sasl_username: Some(principal.user.clone()),
        sasl_password: Some(auth::Secret::new(password)),
        ca_file: Some(secure.ca_file.clone().into()),
    };
    let limited = KafkaLog::connect(settings).expect("connect");

    // The new credential reaches the broker within moments.
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        match limited.ensure_topics_reporting(std::slice::from_ref(&existing)).await {
            Ok(report) => break report,
            Err(e) if Instant::now() < deadline => {
                eprintln!("not yet: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("a principal without Create ensures a topic that exists: {e}"),
        }
    };
    assert_eq!(report.existing, std::slice::from_ref(&existing), "{report:?}");
    assert!(report.created.is_empty() && report.not_visible.is_empty(), "{report:?}");

    let report = limited
        .ensure_topics_reporting(&[existing.clone(), hidden.clone()])
        .await
        .expect("a topic this principal may not describe is left alone");
    assert_eq!(report.existing, std::slice::from_ref(&existing), "{report:?}");
    assert_eq!(report.not_visible, std::slice::from_ref(&hidden), "{report:?}");
    assert!(!topic_exists(&brokers, &hidden), "nothing was created");

    let err = Log::Kafka(limited.clone())
        .ensure_topics(&[existing.clone(), missing.clone()])
        .await
        .expect_err("a missing topic this principal may not create");
    let message = err.to_string();
    assert!(
        message.contains(&format!("'{missing}'"))
            && !message.contains(&format!("'{existing}'"))
            && message.contains(&principal.user)
            && message.contains("vox topics ensure"),
        "{message}"
    );
    assert!(!topic_exists(&brokers, &missing));
    drop(principal);
}

/// SQLite: pruning deletes the records of topics with a retention that are
/// older than it, many chunks' worth, and nothing else; offsets are not
/// reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_prune_deletes_only_expired_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (raw, other) = ("vox.feedback.raw".to_owned(), "vox.feedback.processed".to_owned());
    let keep = Duration::from_secs(3600);
    let log = SqliteLog::open_with(&dir.path().join("log.sqlite"), Retention::from([(raw.clone(), keep)]))
        .await
        .expect("open");
    let log = Log::Sqlite(log);
    log.ensure_topics(&[raw.clone(), other.clone()]).await.expect("topics");
    log.append((0..2500).map(|i| out(&raw, "k", format!("old-{i}"))).collect())
        .await
        .expect("append");
    log.append((0..3).map(|i| out(&other, "k", format!("{i}"))).collect())
        .await
        .expect("append");
    // Every record so far was appended before this instant, the next ones after.
    let between = SystemTime::now();
    log.append(vec![out(&raw, "k", "new-0".into()), out(&raw, "k", "new-1".into())])
        .await
        .expect("append");
    let Log::Sqlite(sqlite) = &log else { unreachable!() };

    assert_eq!(sqlite.prune(between).await.expect("prune"), 0, "nothing is an hour old");
    assert_eq!(
        sqlite.prune(between + keep).await.expect("prune"),
        2500,
        "the records older than the retention, in several chunks"
    );
    let left = log.read_all(&raw).await.expect("read");
    assert_eq!(payloads(&left), ["new-0", "new-1"]);
    assert_eq!(left[0].offset, 2500);
    assert_eq!(
        log.read_all(&other).await.expect("read").len(),
        3,
        "a topic without retention keeps everything"
    );
    assert_eq!(
        sqlite.prune(between + keep).await.expect("prune"),
        0,
        "nothing left to do"
    );

    assert_eq!(sqlite.prune(SystemTime::now() + 2 * keep).await.expect("prune"), 2);
    assert!(log.read_all(&raw).await.expect("read").is_empty());
    let appended = log.append(vec![out(&raw, "k", "later".into())]).await.expect("append");
    assert_eq!(appended[0].offset, 2502, "offsets go on where they were");
    assert_eq!(log.read_all(&other).await.expect("read").len(), 3);
}

/// SQLite: a log opened with a retention prunes in the background, from
/// the moment it is opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_prunes_in_the_background() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.sqlite");
    let (raw, other) = ("vox.feedback.raw".to_owned(), "vox.config".to_owned());
    let log = Log::Sqlite(SqliteLog::open(&path).await.expect("open"));
    log.ensure_topics(&[raw.clone(), other.clone()]).await.expect("topics");
    log.append(vec![out(&raw, "k", "a".into()), out(&other, "k", "b".into())])
        .await
        .expect("append");
    drop(log);

    // The records are older than 1 ms by the time the log is open again.
    let log = Log::Sqlite(
        SqliteLog::open_with(&path, Retention::from([(raw.clone(), Duration::from_millis(1))]))
            .await
            .expect("open"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log.read_all(&raw).await.expect("read").is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(log.read_all(&raw).await.expect("read").is_empty(), "pruned at open");
    assert_eq!(log.read_all(&other).await.expect("read").len(), 1);
}

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
    use rdkafka::admin::{AdminOptions, ResourceSpecifier};
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
    let described = admin(&brokers)
        .describe_configs([&ResourceSpecifier::Topic(&topic)], &AdminOptions::new())
        .await
        .expect("describe");
    let config = described[0].as_ref().expect("the topic's config");
    let value = |name: &str| config.get(name).and_then(|e| e.value.clone());
    assert_eq!(value("min.insync.replicas").as_deref(), Some("1"));
    assert_eq!(value("retention.ms").as_deref(), Some("-1"));
}

/// SQLite: pruned records leave nothing of their payloads in the file once
/// the write-ahead log is checkpointed (`secure_delete`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_pruned_payloads_leave_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.sqlite");
    let raw = "vox.feedback.raw".to_owned();
    let keep = Duration::from_secs(3600);
    let log = SqliteLog::open_with(&path, Retention::from([(raw.clone(), keep)]))
        .await
        .expect("open");
    let logged = Log::Sqlite(log.clone());
    logged.ensure_topics(std::slice::from_ref(&raw)).await.expect("topics");
    logged
        .append(
            (0..50)
                .map(|i| out(&raw, "k", format!("personal-data-{i:04}")))
                .collect(),
        )
        .await
        .expect("append");
    let checkpoint = || async {
        let pool = eventlog::durable_pool(&path).await.expect("pool");
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&pool)
            .await
            .expect("checkpoint");
        pool.close().await;
        let bytes = std::fs::read(&path).expect("read the file");
        bytes.windows(14).any(|w| w == b"personal-data-")
    };
    assert!(checkpoint().await, "the payloads are in the file");
    assert_eq!(log.prune(SystemTime::now() + keep).await.expect("prune"), 50);
    assert!(!checkpoint().await, "no pruned payload is left in the file");
}

/// The embedded backends read through a memory map of the file, as large
/// as the bundled SQLite allows (every connection of the pool).
#[tokio::test]
async fn sqlite_pools_read_through_a_memory_map() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = eventlog::durable_pool(&dir.path().join("mapped.sqlite"))
        .await
        .expect("pool");
    let mut connections = Vec::new();
    for _ in 0..2 {
        connections.push(pool.acquire().await.expect("a connection"));
    }
    for c in &mut connections {
        let bytes: i64 = sqlx::query_scalar("PRAGMA mmap_size")
            .fetch_one(&mut **c)
            .await
            .expect("mmap_size");
        assert_eq!(u64::try_from(bytes).ok(), Some(eventlog::MMAP_BYTES));
    }
}
