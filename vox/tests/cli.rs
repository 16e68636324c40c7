//! The `vox` command line, run as a process (the binary cargo built).

/// `vox <args> --data-dir <data>` on the embedded backends, whatever the
/// environment says about Kafka and PostgreSQL.
fn embedded(args: &[&str], data: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_vox"));
    command.args(args).arg("--data-dir").arg(data);
    for var in [
        "VOX_KAFKA_BROKERS",
        "VOX_DATABASE_URL",
        "VOX_TOPIC_NAMESPACE",
        "VOX_KAFKA_ALLOW_UNSAFE_DURABILITY",
        "VOX_KAFKA_REPLICATION_FACTOR",
        "VOX_KAFKA_MIN_INSYNC_REPLICAS",
    ] {
        command.env_remove(var);
    }
    command
}

/// `vox <args>` on the embedded backends: exit code, stdout, stderr.
fn run_embedded(args: &[&str], data: &std::path::Path) -> (Option<i32>, String, String) {
    let output = embedded(args, data).output().expect("run vox");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// CLI errors are one line on stderr that says what to do, and exit 1.
#[test]
fn cli_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let run = |args: &[&str]| embedded(args, &data).output().expect("run vox");
    let created = run(&["tenant", "create", "acme"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    for (args, expected) in [
        (&["tenant", "create", "acme"][..], "already exists"),
        (&["tenant", "create", "Bad Id"][..], "is not valid"),
        (
            &["collection", "create", "--tenant", "nobody", "nps"][..],
            "create it first",
        ),
        (&["ingest"][..], "--kafka-brokers"),
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
        assert!(
            lines[0].starts_with("error: ") && lines[0].contains(expected),
            "{args:?}: {stderr}"
        );
    }
}

/// The CLI's own hardening: a private data directory, refusals that say what
/// to do, idempotent creates, lists, and certificates for the listeners.
#[test]
fn cli_keeps_data_private_and_commands_repeatable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let run = |args: &[&str]| run_embedded(args, &data);
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;

    let (code, _, err) = run(&["tenant", "create", "acme"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(mode(&data), 0o700, "the data directory is private");
    assert_eq!(mode(&data.join("log.sqlite")), 0o600, "so is the log");
    // Repeatable: --if-not-exists succeeds without a second event.
    let (code, out, err) = run(&["tenant", "create", "acme", "--if-not-exists"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("exists"), "{out}");
    let (code, _, _) = run(&["collection", "create", "--tenant", "acme", "nps"]);
    assert_eq!(code, Some(0));
    let (code, _, err) = run(&["collection", "create", "--tenant", "acme", "nps", "--if-not-exists"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, first, _) = run(&["client", "create", "--tenant", "acme", "--name", "crm"]);
    assert_eq!(code, Some(0));
    let (code, again, err) = run(&[
        "client",
        "create",
        "--tenant",
        "acme",
        "--name",
        "crm",
        "--if-not-exists",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!again.contains("VOX_CLIENT_SECRET"), "no second secret: {again}");
    assert_eq!(
        first.lines().next(),
        again.lines().next(),
        "the same client id is printed"
    );
    let (_, tenants, _) = run(&["tenant", "list"]);
    assert_eq!(tenants.lines().count(), 1, "{tenants}");
    assert!(tenants.contains("\"id\":\"acme\""), "{tenants}");
    let (_, collections, _) = run(&["collection", "list", "--tenant", "acme"]);
    assert!(collections.contains("\"id\":\"nps\""), "{collections}");
    let (_, clients, _) = run(&["client", "list", "--tenant", "acme"]);
    assert!(clients.contains("\"active_secret_versions\":[1]"), "{clients}");
    assert!(!clients.contains("vox_sk_"), "never a secret: {clients}");
    let (code, _, err) = run(&["inspect", "feedback", "--tenant", "nosuch"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("'nosuch' does not exist"), "{err}");
    let (code, _, err) = run(&["inspect", "feedback", "--tenant", "acme"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("store.sqlite"), "says which store it read: {err}");

    let client_id = first
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("export VOX_CLIENT_ID="))
        .expect("client id")
        .to_owned();
    let (code, _, err) = run(&[
        "client",
        "rotate",
        "--tenant",
        "acme",
        &client_id,
        "--grace",
        "99999999999d",
    ]);
    assert_eq!(code, Some(2), "a usage error: {err}");
    assert!(err.contains("longer than the limit of 365 days"), "{err}");
    let (code, _, err) = run(&[
        "process",
        "--kafka-brokers",
        "127.0.0.1:1",
        "--kafka-replication-factor",
        "1",
        "--kafka-min-insync-replicas",
        "1",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("--kafka-allow-unsafe-durability"), "{err}");
    assert!(err.contains("replication factor 1"), "{err}");

    let certs = dir.path().join("certs");
    let (code, out, err) = run(&[
        "cert",
        "create",
        "--dir",
        certs.to_str().expect("utf-8"),
        "--name",
        "ingest.example.com",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("--tls-cert"), "{out}");
    assert_eq!(mode(&certs.join("server.key")), 0o600);
    assert!(certs.join("ca.pem").exists());

    // A configuration file that holds a secret must be private.
    let config = dir.path().join("vox.toml");
    std::fs::write(&config, format!("kek = \"{}\"\n", "ab".repeat(32))).expect("config");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, _, err) = run(&["--config", config.to_str().expect("utf-8"), "tenant", "list"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("vox.toml") && err.contains("other users"), "{err}");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let (code, _, err) = run(&["--config", config.to_str().expect("utf-8"), "tenant", "list"]);
    assert_eq!(code, Some(0), "{err}");

    // A data directory others can read is refused, with the fix.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (code, _, err) = run(&["tenant", "list"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("chmod") && err.contains("other users"), "{err}");
}

/// `vox topics ensure`, the admin principal's command: one line per topic,
/// created with the retention settings, then corrected when a retention
/// changes, then nothing left to do; on the embedded log it only makes sure
/// the topics exist.
#[test]
fn topics_ensure_creates_and_corrects_topics() {
    let brokers = testenv::kafka_brokers();
    let ns = testenv::namespace();
    let run = |extra: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_vox"))
            .args([
                "topics",
                "ensure",
                "--kafka-brokers",
                &brokers,
                "--topic-namespace",
                &ns,
            ])
            .args(["--kafka-replication-factor", "1", "--kafka-min-insync-replicas", "1"])
            .arg("--kafka-allow-unsafe-durability")
            .args(extra)
            .env_remove("VOX_RAW_RETENTION")
            .env_remove("VOX_REJECTED_RETENTION")
            .output()
            .expect("run vox");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
        stdout
    };
    let lines = |pairs: &[(&str, &str, &str)]| -> String {
        pairs
            .iter()
            .map(|(what, topic, retention)| format!("{what} {ns}{topic} (retention.ms {retention})\n"))
            .collect()
    };
    assert_eq!(
        run(&[]),
        lines(&[
            ("created", "vox.feedback.raw", "604800000"),
            ("created", "vox.feedback.processed", "-1"),
            ("created", "vox.feedback.rejected", "2592000000"),
            ("created", "vox.config", "-1"),
            ("created", "vox.audit", "-1"),
        ])
    );
    assert_eq!(
        run(&["--raw-retention", "2d"]),
        lines(&[
            ("corrected", "vox.feedback.raw", "604800000 -> 172800000"),
            ("exists", "vox.feedback.processed", "-1"),
            ("exists", "vox.feedback.rejected", "2592000000"),
            ("exists", "vox.config", "-1"),
            ("exists", "vox.audit", "-1"),
        ])
    );
    let again = run(&["--raw-retention", "2d"]);
    assert!(
        again.lines().count() == 5 && again.lines().all(|l| l.starts_with("exists ")),
        "{again}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let output = embedded(&["topics", "ensure"], &dir.path().join("data"))
        .output()
        .expect("run vox");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("exists vox.feedback.raw\n") && stdout.contains("log.sqlite"),
        "{stdout}"
    );
}

/// Issue 14, fast recovery on Kafka, with `vox process` as real processes
/// killed with SIGKILL while raw records keep arriving:
/// * restarted with the same instance id, a processor commits its first
///   step within 5 s (static group membership; its transactional id fences
///   the dead one's open transaction);
/// * when an instance never comes back, the other takes over its partitions
///   and commits on every partition again within 15 s (session and
///   transaction timeouts of 10 s);
/// * through both, every raw record gets exactly one output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_processor_restarts_and_takeovers_are_fast() {
    use std::time::{Duration, Instant};

    use eventlog::{KafkaLog, KafkaSettings, Log, Output};
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use schemas::{CollectionId, Region, TenantId, Topic};

    let brokers = testenv::kafka_brokers();
    let ns = testenv::namespace();
    let log = Log::Kafka(KafkaLog::connect(KafkaSettings::single_broker(&brokers)).expect("kafka"));
    let topics: Vec<String> = Topic::ALL.iter().map(|t| t.name(&ns)).collect();
    log.ensure_topics(&topics).await.expect("topics");
    let tenant = TenantId::parse("acme").expect("id");
    let region = Region::parse("eu").expect("region");
    vox::admin::create_tenant(&log, &ns, &tenant, "Acme", &region)
        .await
        .expect("tenant");
    let collection = CollectionId::parse("nps").expect("id");
    vox::admin::create_collection(&log, &ns, &tenant, &collection, "NPS")
        .await
        .expect("collection");
    let client = vox::admin::create_client(&log, &ns, &auth::Kek::generate(), &tenant, "crm", &[])
        .await
        .expect("client")
        .client_id;

    // Raw records keep arriving, about 1,000 a second, on every partition.
    let raw = Topic::FeedbackRaw.name(&ns);
    let (stop_feed, mut feed_stopped) = tokio::sync::watch::channel(false);
    let feeder = tokio::spawn({
        let (log, raw, client) = (log.clone(), raw.clone(), client.clone());
        async move {
            let mut sent = 0usize;
            while !*feed_stopped.borrow() {
                let batch: Vec<Output> = (sent..sent + 20).map(|n| raw_record(&raw, &client, n)).collect();
                log.append(batch).await.expect("append");
                sent += 20;
                let _ = tokio::time::timeout(Duration::from_millis(20), feed_stopped.changed()).await;
            }
            sent
        }
    });

    let group = format!("{ns}vox-processor");
    let committed = {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", &group)
            .create()
            .expect("consumer");
        let consumer = std::sync::Arc::new(consumer);
        let raw = raw.clone();
        move || {
            let mut tpl = rdkafka::TopicPartitionList::new();
            for p in 0..3 {
                tpl.add_partition(&raw, p);
            }
            // The broker is busy with two processors; ask again on a timeout.
            let got = (0..5)
                .find_map(|_| consumer.committed_offsets(tpl.clone(), Duration::from_secs(10)).ok())
                .expect("committed offsets");
            (0..3)
                .map(|p| {
                    got.find_partition(&raw, p)
                        .and_then(|e| e.offset().to_raw())
                        .unwrap_or(0)
                        .max(0)
                })
                .collect::<Vec<i64>>()
        }
    };
    // Waits until every partition's committed offset is past `from`.
    let wait_past = |from: Vec<i64>, limit: Duration, what: &'static str| {
        let committed = committed.clone();
        async move {
            let started = Instant::now();
            loop {
                let now = tokio::task::spawn_blocking({
                    let committed = committed.clone();
                    move || committed()
                })
                .await
                .expect("task");
                if now.iter().zip(&from).all(|(n, f)| n > f) {
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < limit + Duration::from_secs(20),
                    "{what}: committed offsets {now:?} did not pass {from:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let data = tempfile::tempdir().expect("temp dir");
    let spawn = |instance: &str| spawn_processor(&brokers, &ns, data.path(), instance, "127.0.0.1:0");

    let mut a = spawn("a");
    wait_past(vec![0; 3], Duration::from_secs(30), "first start").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    a.kill().expect("SIGKILL");
    a.wait().expect("reaped");
    let at_kill = committed();
    let mut a = spawn("a");
    let resumed = wait_past(at_kill, Duration::from_secs(5), "restart").await;

    let mut b = spawn("b");
    // B's joining moves some partitions to it; let the group settle.
    let settled = committed();
    wait_past(settled, Duration::from_secs(15), "after b joined").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    a.kill().expect("SIGKILL");
    a.wait().expect("reaped");
    let at_kill = committed();
    let taken_over = wait_past(at_kill, Duration::from_secs(15), "takeover").await;

    let _ = stop_feed.send(true);
    let sent = feeder.await.expect("feeder");
    // B alone finishes the rest; then every record has exactly one output.
    let started = Instant::now();
    while committed().iter().sum::<i64>() < sent as i64 {
        assert!(started.elapsed() < Duration::from_secs(60), "b did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.kill().expect("SIGKILL");
    b.wait().expect("reaped");
    // A dead member's open transaction holds back what was written after it
    // (read_committed) until the broker aborts it: wait for that.
    let started = Instant::now();
    let mut ids: Vec<String> = loop {
        let outputs = log.read_all(&Topic::FeedbackProcessed.name(&ns)).await.expect("read");
        if outputs.len() >= sent || started.elapsed() > Duration::from_secs(30) {
            break outputs
                .iter()
                .map(|r| {
                    schemas::decode::<schemas::FeedbackProcessed>(&r.payload)
                        .expect("processed")
                        .external_id
                })
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let rejected = log.read_all(&Topic::FeedbackRejected.name(&ns)).await.expect("read");
    assert!(rejected.is_empty(), "no dead letters: {}", rejected.len());
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "no output doubled");
    assert_eq!(ids.len(), sent, "no input lost");
    assert!(resumed <= Duration::from_secs(5), "restart resumed after {resumed:?}");
    assert!(taken_over <= Duration::from_secs(15), "takeover after {taken_over:?}");
    eprintln!(
        "restart: first committed step after {resumed:?}; takeover after {taken_over:?}; {sent} records, each once"
    );
}

/// Raw record `n` of tenant acme, collection nps, from `client`.
fn raw_record(topic: &str, client: &str, n: usize) -> eventlog::Output {
    let external_id = format!("x-{n:07}");
    let received = schemas::FeedbackReceived {
        event_id: schemas::feedback_event_id("acme", "nps", &external_id),
        tenant_id: "acme".into(),
        collection: "nps".into(),
        external_id: external_id.clone(),
        client_id: client.into(),
        region: "eu".into(),
        batch_id: "b".into(),
        received_at: schemas::clock::now_micros(),
        item: schemas::FeedbackItem {
            occurred_at: schemas::clock::now_micros() - 1_000_000,
            channel: schemas::Channel::Survey,
            text: Some("fine".into()),
            language: None,
            metrics: vec![],
            respondent: None,
            metadata: Default::default(),
            tags: vec![],
        },
    };
    eventlog::Output {
        topic: topic.into(),
        key: format!("acme/nps/{external_id}").into_bytes(),
        payload: schemas::encode(&received).expect("encode"),
    }
}

/// Issue 14, group commit of the embedded log: `vox serve` is killed with
/// SIGKILL in the middle of a push storm from 16 concurrent clients; after
/// it, every item the node acknowledged is in the log file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_log_keeps_every_acknowledged_item_through_sigkill() {
    use std::io::{BufRead, BufReader};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use eventlog::{Log, SqliteLog};
    use schemas::Topic;

    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let log_file = data.join("log.sqlite");
    let (client_id, secret) = embedded_client(&data);
    let mut serve = embedded(
        &["serve", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"],
        &data,
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("start vox serve");
    // "  ingest:  https://127.0.0.1:PORT/v1/feedback/batch" on stderr.
    let mut lines = BufReader::new(serve.stderr.take().expect("stderr")).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("vox serve printed its address")
            .expect("stderr line");
        assert!(!line.starts_with("error"), "vox serve: {line}");
        if let Some(rest) = line.trim().strip_prefix("ingest:") {
            break rest.trim().trim_end_matches("/v1/feedback/batch").to_owned();
        }
    };
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(|l| eprintln!("vox serve: {l}")));
    let options = vox::push::PushOptions {
        url,
        ca_cert: Some(data.join("tls/ca.pem")),
        client_id,
        client_secret: auth::Secret::new(&secret),
        batch_size: 50,
        gzip: false,
        atomic: false,
    };

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for c in 0..16 {
        let (options, acknowledged) = (options.clone(), acknowledged.clone());
        clients.push(tokio::spawn(async move {
            let http = vox::push::client(options.ca_cert.as_deref()).expect("client");
            for b in 0.. {
                let ids: Vec<String> = (0..50).map(|i| format!("c{c}-b{b}-{i}")).collect();
                let items: Vec<serde_json::Value> = ids
                    .iter()
                    .map(|id| {
                        serde_json::json!({"external_id": id, "collection": "nps",
                            "occurred_at": "2026-11-03T09:14:22Z", "channel": "survey", "text": "fine"})
                    })
                    .collect();
                match vox::push::send_batch(&http, &options, &items).await {
                    Ok(answer) => {
                        assert_eq!(answer.accepted, 50, "{answer:?}");
                        acknowledged.lock().expect("lock").extend(ids);
                    }
                    // The node is gone: what it did not acknowledge may be lost.
                    Err(e) => {
                        eprintln!("client {c} stops: {e}");
                        return;
                    }
                }
            }
        }));
    }
    // Let the storm run, then kill the node in the middle of it.
    let started = std::time::Instant::now();
    while acknowledged.lock().expect("lock").len() < 20_000 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the storm did not get going"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    serve.kill().expect("SIGKILL");
    serve.wait().expect("reaped");
    for c in clients {
        c.await.expect("client task");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();

    let log = Log::Sqlite(SqliteLog::open(&log_file).await.expect("the log opens after a crash"));
    let raw = log.read_all(&Topic::FeedbackRaw.name("")).await.expect("read");
    let in_log: std::collections::HashSet<String> = raw
        .iter()
        .map(|r| {
            schemas::decode::<schemas::FeedbackReceived>(&r.payload)
                .expect("received")
                .external_id
        })
        .collect();
    let missing: Vec<&String> = acknowledged.iter().filter(|id| !in_log.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged items are missing, e.g. {:?}",
        missing.len(),
        acknowledged.len(),
        missing.iter().take(3).collect::<Vec<_>>()
    );
    eprintln!(
        "{} items acknowledged before SIGKILL, all in the log ({} records in it)",
        acknowledged.len(),
        raw.len()
    );
}

/// `vox rules`: validate, publish (versions, no-op, refusals with exit code
/// 2 that append nothing), show, and the dry run on the shipped examples.
#[test]
fn rules_are_validated_published_shown_and_dry_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let rules = format!("{examples}/rules.toml");
    let feedback = format!("{examples}/feedback.ndjson");
    let run = |args: &[&str]| run_embedded(args, &data);
    let (code, out, err) = run(&["rules", "validate", &rules]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("valid; 7 rule(s)"), "{out}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[rule]]\nid = \"late\"\nwhen.metric = { kind = \"nps\", max = 11 }\ntags = [{ name = \"a\", value = \"b\" }]\n\
         [[rule]]\nid = \"late\"\nwhen.text_matches = '(unclosed'\ntags = [{ name = \"a\", value = \"b\" }]\n",
    )
    .expect("write");
    let bad = bad.to_str().expect("utf-8 path");
    let (code, _, err) = run(&["rules", "validate", bad]);
    assert_eq!(code, Some(2), "{err}");
    for expected in [
        "rule `late`: metric nps range 0–11",
        "duplicate id \"late\"",
        "is invalid",
    ] {
        assert!(err.contains(expected), "{expected}: {err}");
    }

    let (code, _, err) = run(&["rules", "publish", "--tenant", "acme", &rules]);
    assert_eq!(code, Some(2), "an unknown tenant is refused: {err}");
    assert!(err.contains("tenant 'acme' does not exist"), "{err}");
    assert_eq!(run(&["tenant", "create", "acme"]).0, Some(0));
    let (code, _, err) = run(&["rules", "publish", "--tenant", "acme", bad]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = run(&["rules", "show", "--tenant", "acme"]);
    assert_eq!(code, Some(0));
    assert!(err.contains("published no rule set"), "nothing was appended: {err}");

    let (code, out, err) = run(&["rules", "publish", "--tenant", "acme", &rules, "--by", "alice"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "published rule set version 1 for tenant acme");
    let (code, out, _) = run(&["rules", "publish", "--tenant", "acme", &rules]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("unchanged:") && out.contains("live version 1"), "{out}");
    let (code, out, err) = run(&["rules", "show", "--tenant", "acme"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        out,
        std::fs::read_to_string(&rules).expect("rules"),
        "the document as published"
    );
    assert!(err.contains("version 1 of 1, published by alice"), "{err}");
    let (code, _, err) = run(&["rules", "show", "--tenant", "acme", "--version", "2"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no rule set version 2"), "{err}");

    // The dry run, with the file and with the live version: the same answer.
    let (code, with_file, err) = run(&["rules", "test", "--tenant", "acme", &rules, &feedback]);
    assert_eq!(code, Some(0), "{err}");
    let (_, live, _) = run(&["rules", "test", "--tenant", "acme", &feedback]);
    assert_eq!(with_file, live);
    // One block per item: its header line, then indented lines.
    let item = |id: &str| -> String {
        let mut block = Vec::new();
        for line in with_file.lines() {
            if line.starts_with(&format!("{id} (")) || (!block.is_empty() && line.starts_with("  ")) {
                block.push(line);
            } else if !block.is_empty() {
                break;
            }
        }
        assert!(!block.is_empty(), "{id} in {with_file}");
        block.join("\n")
    };
    let expected: [(&str, &[&str]); 3] = [
        (
            "nps-2026-0008",
            &[
                "tag     nps=detractor  <- builtin.nps_category",
                "tag     escalate=billing  <- escalate-billing-detractors",
                "redact  text email x1  <- builtin.redact.email",
                "redact  text card x1  <- builtin.redact.card",
                "reach me at [email] or [phone], and the double charge was on card [card].",
            ],
        ),
        (
            "sup-10248",
            &[
                "redact  text fi_hetu x1  <- builtin.redact.fi_hetu",
                "redact  metadata.contact_email email x1  <- builtin.redact.email",
                "metadata.contact_email = [email]",
                "tag     queue=nordics  <- nordic-support-queue",
            ],
        ),
        (
            "sup-10231",
            &[
                "tag     has_ticket=yes  <- ticket-reference",
                "redact  text custom x1  <- order-number",
                "It is about order [order] (ticket TKT-10231).",
            ],
        ),
    ];
    for (id, lines) in expected {
        let block = item(id);
        for line in lines {
            assert!(block.contains(line), "{line} in\n{block}");
        }
    }
    assert_eq!(
        item("nps-2026-0013"),
        "nps-2026-0013 (nps-2026):\n  tag     nps=detractor  <- builtin.nps_category"
    );
}

/// Tenant acme with collection nps and a client, made with the CLI in the
/// embedded data directory `data`: the client's id and secret.
fn embedded_client(data: &std::path::Path) -> (String, String) {
    let cli = |args: &[&str]| {
        let output = embedded(args, data).output().expect("run vox");
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    cli(&["tenant", "create", "acme"]);
    cli(&["collection", "create", "--tenant", "acme", "nps"]);
    let created = cli(&["client", "create", "--tenant", "acme", "--name", "crm"]);
    let export = |name: &str| {
        created
            .lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("{name} in {created}"))
            .trim_matches('\'')
            .to_owned()
    };
    (export("VOX_CLIENT_ID"), export("VOX_CLIENT_SECRET"))
}

/// `vox process` on Kafka as an OS process: topic namespace `ns`, instance
/// id `instance`, its ops listener on `ops`, its data directory `data`.
fn spawn_processor(brokers: &str, ns: &str, data: &std::path::Path, instance: &str, ops: &str) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_vox"))
        .args(["process", "--ops-listen", ops, "--data-dir"])
        .arg(data)
        .env("VOX_KAFKA_BROKERS", brokers)
        .env("VOX_TOPIC_NAMESPACE", ns)
        .env("VOX_INSTANCE_ID", instance)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start vox process")
}

/// A free port on loopback (bound and released: a process started next can take it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

/// How many outputs (processed and rejected, read with read_committed) each
/// event id has, and the reason codes of the rejected ones.
async fn outputs_by_event(log: &eventlog::Log, ns: &str) -> (std::collections::HashMap<String, usize>, Vec<String>) {
    use schemas::Topic;
    let mut counts = std::collections::HashMap::new();
    for r in log
        .read_all(&Topic::FeedbackProcessed.name(ns))
        .await
        .expect("read processed")
    {
        let p: schemas::FeedbackProcessed = schemas::decode(&r.payload).expect("processed");
        *counts.entry(p.event_id).or_insert(0) += 1;
    }
    let mut reasons = Vec::new();
    for r in log
        .read_all(&Topic::FeedbackRejected.name(ns))
        .await
        .expect("read rejected")
    {
        let d: schemas::FeedbackRejected = schemas::decode(&r.payload).expect("rejected");
        *counts
            .entry(d.event_id.expect("a decodable input has an id"))
            .or_insert(0) += 1;
        reasons.push(d.reason_code);
    }
    (counts, reasons)
}

/// Issue 13, exactly once under crashes on Kafka: `vox process` runs as an
/// OS process and is killed with SIGKILL at random moments, at least 20
/// times, while 50,000 raw records arrive (one in 50 for a collection that
/// does not exist, so dead letters are written too); for the second half a
/// second processor runs beside it, so the group rebalances and either may
/// die. Afterwards `vox.feedback.processed` and `vox.feedback.rejected`,
/// read with read_committed, hold exactly one output per input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_processor_is_exactly_once_through_random_sigkills() {
    use std::time::{Duration, Instant};

    use eventlog::{KafkaLog, KafkaSettings, Log, Output};
    use rand::Rng;
    use schemas::{CollectionId, Region, TenantId, Topic};

    const ITEMS: usize = 50_000;
    const KILLS: usize = 20;
    let brokers = testenv::kafka_brokers();
    let ns = testenv::namespace();
    let log = Log::Kafka(KafkaLog::connect(KafkaSettings::single_broker(&brokers)).expect("kafka"));
    let topics: Vec<String> = Topic::ALL.iter().map(|t| t.name(&ns)).collect();
    log.ensure_topics(&topics).await.expect("topics");
    let tenant = TenantId::parse("acme").expect("id");
    vox::admin::create_tenant(&log, &ns, &tenant, "Acme", &Region::parse("eu").expect("region"))
        .await
        .expect("tenant");
    vox::admin::create_collection(&log, &ns, &tenant, &CollectionId::parse("nps").expect("id"), "NPS")
        .await
        .expect("collection");
    let client = vox::admin::create_client(&log, &ns, &auth::Kek::generate(), &tenant, "crm", &[])
        .await
        .expect("client")
        .client_id;

    // 50,000 raw records over about 20 s.
    let raw = Topic::FeedbackRaw.name(&ns);
    let feeder = tokio::spawn({
        let (log, raw, client) = (log.clone(), raw.clone(), client.clone());
        async move {
            for start in (0..ITEMS).step_by(125) {
                let batch: Vec<Output> = (start..start + 125)
                    .map(|n| {
                        let mut r = raw_record(&raw, &client, n);
                        if n % 50 == 7 {
                            r = raw_record_in(&raw, &client, n, "sales");
                        }
                        r
                    })
                    .collect();
                log.append(batch).await.expect("append");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });

    let data = tempfile::tempdir().expect("temp dir");
    let ops_port = free_port();
    let spawn = |instance: &str| {
        let ops = if instance == "a" {
            format!("127.0.0.1:{ops_port}")
        } else {
            "127.0.0.1:0".to_owned()
        };
        spawn_processor(&brokers, &ns, data.path(), instance, &ops)
    };
    let mut a = spawn("a");
    // The processor's operations listener says when it is ready.
    let started = Instant::now();
    loop {
        let ca = data.path().join("tls/ca.pem");
        let ready = match ca.exists().then(|| vox::push::client(Some(&ca))) {
            Some(Ok(http)) => http
                .get(format!("https://127.0.0.1:{ops_port}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().as_u16() == 200),
            _ => false,
        };
        if ready {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "vox process never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut b: Option<std::process::Child> = None;
    let mut kills = 0;
    let mut rng = rand::rng();
    while kills < KILLS || !feeder.is_finished() {
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..1500))).await;
        if kills == KILLS / 2 && b.is_none() {
            b = Some(spawn("b"));
        }
        // Either member may die once both run.
        let victim = match &mut b {
            Some(b) if rng.random_bool(0.5) => (b, "b"),
            _ => (&mut a, "a"),
        };
        victim.0.kill().expect("SIGKILL");
        victim.0.wait().expect("reaped");
        *victim.0 = spawn(victim.1);
        kills += 1;
    }
    feeder.await.expect("feeder");

    // Both run until every input has its output (dead members' open
    // transactions are aborted by the broker meanwhile).
    let expected: std::collections::HashSet<String> = (0..ITEMS)
        .map(|n| {
            let collection = if n % 50 == 7 { "sales" } else { "nps" };
            schemas::feedback_event_id("acme", collection, &format!("x-{n:07}"))
        })
        .collect();
    let started = Instant::now();
    let (counts, reasons) = loop {
        let (counts, reasons) = outputs_by_event(&log, &ns).await;
        if counts.len() >= ITEMS || started.elapsed() > Duration::from_secs(120) {
            break (counts, reasons);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    a.kill().expect("SIGKILL");
    a.wait().expect("reaped");
    if let Some(mut b) = b {
        b.kill().expect("SIGKILL");
        b.wait().expect("reaped");
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(3).collect();
    assert!(twice.is_empty(), "outputs written twice, e.g. {twice:?}");
    let lost = expected.iter().filter(|id| !counts.contains_key(*id)).count();
    assert_eq!(lost, 0, "{lost} inputs have no output");
    assert_eq!(counts.len(), ITEMS, "no output without an input");
    assert_eq!(reasons.len(), ITEMS / 50);
    assert!(reasons.iter().all(|r| r == "unknown_collection"), "{reasons:?}");
    eprintln!(
        "{kills} SIGKILLs (a second processor for the last {}); {ITEMS} inputs, each with exactly one output",
        KILLS - KILLS / 2
    );
}

/// Raw record `n` of tenant acme in `collection`.
fn raw_record_in(topic: &str, client: &str, n: usize, collection: &str) -> eventlog::Output {
    let mut record = raw_record(topic, client, n);
    let mut received: schemas::FeedbackReceived = schemas::decode(&record.payload).expect("decode");
    received.collection = collection.into();
    received.event_id = schemas::feedback_event_id("acme", collection, &received.external_id);
    record.key = format!("acme/{collection}/{}", received.external_id).into_bytes();
    record.payload = schemas::encode(&received).expect("encode");
    record
}

/// Issue 13, exactly once under crashes on the embedded log: `vox serve`
/// (whose processor is the one under test) is killed with SIGKILL at random
/// moments, at least 20 times, while a client pushes 50,000 items and
/// resends every batch that was not acknowledged. Afterwards every record of
/// `vox.feedback.raw` (a resent batch may be there twice) has exactly one
/// output: per event id, as many outputs as inputs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_processor_is_exactly_once_through_random_sigkills() {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use eventlog::{Log, SqliteLog};
    use rand::Rng;
    use schemas::Topic;

    const ITEMS: usize = 50_000;
    const KILLS: usize = 20;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let (client_id, secret) = embedded_client(&data);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let spawn = || {
        embedded(&["serve", "--listen", &listen, "--ops-listen", "127.0.0.1:0"], &data)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start vox serve")
    };
    let mut serve = spawn();
    let options = vox::push::PushOptions {
        url: format!("https://{listen}"),
        ca_cert: Some(data.join("tls/ca.pem")),
        client_id,
        client_secret: auth::Secret::new(&secret),
        batch_size: 100,
        gzip: false,
        atomic: false,
    };
    // The client: 100 items a batch, each batch resent until acknowledged.
    let done = Arc::new(AtomicBool::new(false));
    let pusher = tokio::spawn({
        let (options, done) = (options.clone(), done.clone());
        async move {
            let mut http = None;
            for start in (0..ITEMS).step_by(100) {
                let items: Vec<serde_json::Value> = (start..start + 100)
                    .map(|n| {
                        serde_json::json!({"external_id": format!("e-{n:06}"), "collection": "nps",
                            "occurred_at": "2026-11-03T09:14:22Z", "channel": "survey",
                            "text": format!("item {n}: call me on 040 123 4567")})
                    })
                    .collect();
                loop {
                    if http.is_none() {
                        // The CA exists once the first serve has started.
                        http = vox::push::client(options.ca_cert.as_deref()).ok();
                    }
                    if let Some(client) = &http {
                        if let Ok(answer) = vox::push::send_batch(client, &options, &items).await {
                            assert_eq!(answer.accepted, 100, "{answer:?}");
                            break;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            done.store(true, Ordering::Release);
        }
    });
    let mut kills = 0;
    let mut rng = rand::rng();
    while kills < KILLS || !done.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..1500))).await;
        serve.kill().expect("SIGKILL");
        serve.wait().expect("reaped");
        serve = spawn();
        kills += 1;
    }
    pusher.await.expect("pusher");

    // The last serve finishes the rest.
    let log = Log::Sqlite(SqliteLog::open(&data.join("log.sqlite")).await.expect("log"));
    let started = Instant::now();
    let (inputs, outputs) = loop {
        let mut inputs: HashMap<String, usize> = HashMap::new();
        for r in log.read_all(&Topic::FeedbackRaw.name("")).await.expect("raw") {
            let e: schemas::FeedbackReceived = schemas::decode(&r.payload).expect("received");
            *inputs.entry(e.event_id).or_insert(0) += 1;
        }
        let (outputs, _) = outputs_by_event(&log, "").await;
        let (i, o): (usize, usize) = (inputs.values().sum(), outputs.values().sum());
        if o >= i || started.elapsed() > Duration::from_secs(120) {
            break (inputs, outputs);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    serve.kill().expect("SIGKILL");
    serve.wait().expect("reaped");
    assert_eq!(inputs.len(), ITEMS, "every item is in the raw topic");
    let wrong: Vec<_> = inputs
        .iter()
        .filter(|(id, n)| outputs.get(*id) != Some(n))
        .take(3)
        .map(|(id, n)| (id, n, outputs.get(id)))
        .collect();
    assert!(wrong.is_empty(), "(event, inputs, outputs) that differ, e.g. {wrong:?}");
    assert_eq!(outputs.len(), ITEMS, "no output without an input");
    let resent: usize = inputs.values().sum::<usize>() - ITEMS;
    eprintln!(
        "{kills} SIGKILLs; {ITEMS} items ({resent} raw records of resent batches), each input with exactly one output"
    );
}

/// The operator's people commands: invite (a token once, stored hashed),
/// list, roles, groups, policy, support users and grants; refusals are one
/// clear line and change nothing.
#[test]
fn people_commands_mirror_the_api_for_the_operator() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let run = |args: &[&str]| run_embedded(args, &data);
    let ok = |args: &[&str]| {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        out
    };
    let value = |out: &str, key: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key} in {out}"))
            .to_owned()
    };
    ok(&["tenant", "create", "acme"]);
    let invited = ok(&[
        "user",
        "invite",
        "--tenant",
        "acme",
        "--email",
        "Aino@Acme.fi",
        "--role",
        "analyst",
    ]);
    let (user, token) = (value(&invited, "user_id"), value(&invited, "invitation_token"));
    assert!(user.starts_with("usr_") && token.starts_with("vox_inv_"), "{invited}");
    let listed = ok(&["user", "list", "--tenant", "acme"]);
    assert!(
        listed.contains(&format!("\"id\":\"{user}\"")) && listed.contains("\"status\":\"invited\""),
        "{listed}"
    );
    assert!(!listed.contains(&token), "the token is shown once");
    ok(&["user", "set-role", "--tenant", "acme", &user, "--role", "viewer"]);
    ok(&[
        "group",
        "create",
        "--tenant",
        "acme",
        "helsinki",
        "--name",
        "Helsinki stores",
    ]);
    ok(&["group", "add", "--tenant", "acme", "helsinki", &user]);
    let groups = ok(&["group", "list", "--tenant", "acme"]);
    assert!(groups.contains(&user) && groups.contains("Helsinki stores"), "{groups}");
    ok(&["policy", "set", "--tenant", "acme", "--two-factor-required", "true"]);
    let support = ok(&["support", "invite", "--email", "sam@vendor.example"]);
    assert!(value(&support, "user_id").starts_with("usr_"), "{support}");
    assert!(ok(&["support", "users"]).contains("sam@vendor.example"));
    for (args, expected) in [
        (
            &[
                "user",
                "invite",
                "--tenant",
                "acme",
                "--email",
                "aino@acme.fi",
                "--role",
                "root",
            ][..],
            "not a tenant role",
        ),
        (
            &[
                "user",
                "invite",
                "--tenant",
                "acme",
                "--email",
                "not-an-address",
                "--role",
                "viewer",
            ][..],
            "is not an e-mail address",
        ),
        (
            &["user", "disable", "--tenant", "acme", "usr_0000000000000000"][..],
            "does not exist",
        ),
        (
            // Sam has not accepted: no grant for an inactive support user.
            &[
                "support",
                "grant",
                "--tenant",
                "acme",
                "--email",
                "sam@vendor.example",
                "--reason",
                "ticket 1",
            ][..],
            "no active support user",
        ),
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, Some(1), "{args:?}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    let after = ok(&["user", "list", "--tenant", "acme"]);
    assert_eq!(after.lines().count(), 1, "the refusals added nobody: {after}");
    assert!(after.contains("\"role\":\"viewer\""), "{after}");
}

/// The operator's access commands: grants to a user and a group (listed
/// with revoked ones), revocation, restricted tag names replaced whole;
/// refusals are one clear line and change nothing.
#[test]
fn access_grants_and_restricted_tags_from_the_cli() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let run = |args: &[&str]| run_embedded(args, &data);
    let ok = |args: &[&str]| {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        out
    };
    let grant_id = |out: &str| -> String {
        let id = out
            .lines()
            .find_map(|l| l.strip_prefix("grant_id="))
            .unwrap_or_else(|| panic!("no grant_id in {out}"));
        assert!(
            id.len() == 19 && id.starts_with("ag_") && id[3..].bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
        id.to_owned()
    };
    ok(&["tenant", "create", "acme"]);
    ok(&["collection", "create", "--tenant", "acme", "surveys"]);
    let invited = ok(&[
        "user",
        "invite",
        "--tenant",
        "acme",
        "--email",
        "aino@acme.fi",
        "--role",
        "analyst",
    ]);
    let user = invited
        .lines()
        .find_map(|l| l.strip_prefix("user_id="))
        .expect("a user id")
        .to_owned();
    ok(&[
        "group",
        "create",
        "--tenant",
        "acme",
        "helsinki",
        "--name",
        "Helsinki stores",
    ]);

    let to_user = grant_id(&ok(&[
        "grant",
        "add",
        "--tenant",
        "acme",
        "--user",
        &user,
        "--collection",
        "surveys",
        "--level",
        "export",
        "--tag",
        "store:helsinki",
        "--tag",
        "hr",
    ]));
    let to_group = grant_id(&ok(&["grant", "add", "--tenant", "acme", "--group", "helsinki"]));
    let listed = ok(&["grant", "list", "--tenant", "acme"]);
    let lines: Vec<serde_json::Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let line = |id: &str| {
        lines
            .iter()
            .find(|l| l["grant_id"] == id)
            .unwrap_or_else(|| panic!("{id} in {listed}"))
            .clone()
    };
    let first = line(&to_user);
    assert_eq!(first["principal"], serde_json::json!({ "user": user }));
    assert_eq!(
        (
            &first["collection"],
            &first["level"],
            &first["tag_filter"],
            &first["active"]
        ),
        (
            &serde_json::json!("surveys"),
            &serde_json::json!("export"),
            &serde_json::json!(["store:helsinki", "hr"]),
            &serde_json::json!(true)
        )
    );
    assert_eq!(first["granted_by"], "operator");
    let second = line(&to_group);
    assert_eq!(second["principal"], serde_json::json!({"group": "helsinki"}));
    assert!(second["collection"].is_null(), "every collection: {second}");
    assert_eq!(second["level"], "read", "the default level");

    assert!(ok(&["grant", "revoke", "--tenant", "acme", &to_group]).contains(&to_group));
    let after = ok(&["grant", "list", "--tenant", "acme"]);
    assert_eq!(after.lines().count(), 2, "a revoked grant is still listed: {after}");
    assert!(
        after.contains("\"revoked_because\":\"revoked\"") && after.contains("\"active\":false"),
        "{after}"
    );

    let set = ok(&["restricted-tags", "set", "--tenant", "acme", "legal", "hr", "legal"]);
    assert_eq!(set.trim(), r#"{"restricted_tags":["hr","legal"]}"#);
    let shown = ok(&["restricted-tags", "show", "--tenant", "acme"]);
    assert_eq!(shown.trim(), r#"{"restricted_tags":["hr","legal"]}"#);

    for (args, expected) in [
        (
            &[
                "grant",
                "add",
                "--tenant",
                "acme",
                "--user",
                &user,
                "--collection",
                "tickets",
            ][..],
            "collection 'tickets' does not exist in tenant 'acme'",
        ),
        (
            &["grant", "add", "--tenant", "acme", "--group", "espoo"][..],
            "group 'espoo' does not exist",
        ),
        (
            &["grant", "add", "--tenant", "acme", "--user", &user, "--level", "write"][..],
            "the level 'write' is not read or export",
        ),
        (
            &["grant", "add", "--tenant", "acme", "--user", &user, "--tag", "store:"][..],
            "'store:' is not a tag",
        ),
        (
            &["grant", "add", "--tenant", "nobody", "--user", &user][..],
            "create it first",
        ),
        (
            &["grant", "revoke", "--tenant", "acme", &to_group][..],
            "has ended already (revoked)",
        ),
        (
            &["grant", "revoke", "--tenant", "acme", "ag_0000000000000000"][..],
            "`vox grant list --tenant acme`",
        ),
        (
            &["restricted-tags", "set", "--tenant", "acme", "hr:complaint"][..],
            "'hr:complaint' is not a restricted tag name",
        ),
        (&["grant", "list", "--tenant", "nobody"][..], "create it first"),
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert_eq!(
        ok(&["grant", "list", "--tenant", "acme"]).lines().count(),
        2,
        "the refusals granted nothing"
    );
    let shown = ok(&["restricted-tags", "show", "--tenant", "acme"]);
    assert_eq!(
        shown.trim(),
        r#"{"restricted_tags":["hr","legal"]}"#,
        "nor changed the list"
    );
    let cleared = ok(&["restricted-tags", "set", "--tenant", "acme"]);
    assert_eq!(cleared.trim(), r#"{"restricted_tags":[]}"#);
}

/// `vox sso`: the service provider's key file, a tenant's single sign-on
/// configured from an identity provider's metadata, shown, changed
/// without the metadata, switched off; bad input named.
#[test]
fn single_sign_on_from_the_cli() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let run = |args: &[&str]| run_embedded(args, &data);
    let ok = |args: &[&str]| {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        out
    };
    let key = dir.path().join("saml-sp.pem");
    let key_arg = key.to_str().expect("path");
    ok(&["sso", "keygen", "--out", key_arg, "--name", "vox.example.com"]);
    let mode = std::fs::metadata(&key).expect("key file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (code, _, err) = run(&["sso", "keygen", "--out", key_arg, "--name", "x"]);
    assert_eq!(code, Some(1), "never replaced: {err}");
    ok(&["tenant", "create", "acme"]);
    ok(&["group", "create", "--tenant", "acme", "hr", "--name", "HR"]);
    let metadata = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/saml/tests/fixtures/idp_md.xml");
    let shown = ok(&[
        "sso",
        "configure",
        "--tenant",
        "acme",
        "--idp-metadata",
        metadata,
        "--provision-role",
        "viewer",
        "--groups-attribute",
        "groups",
        "--map",
        "HR staff=hr",
    ]);
    let config: serde_json::Value = serde_json::from_str(shown.trim()).expect("JSON");
    assert_eq!(config["idp_entity_id"], "https://idp.test/metadata");
    assert_eq!(config["sso_url"], "https://idp.test/sso");
    assert_eq!(config["group_map"]["HR staff"], "hr");
    // Required, the identity provider kept.
    let shown = ok(&["sso", "configure", "--tenant", "acme", "--required"]);
    let config: serde_json::Value = serde_json::from_str(shown.trim()).expect("JSON");
    assert_eq!(
        (config["required"].clone(), config["idp_entity_id"].clone()),
        (serde_json::json!(true), serde_json::json!("https://idp.test/metadata"))
    );
    assert_eq!(
        config["provision_role"],
        serde_json::Value::Null,
        "each configure says everything but the IdP"
    );
    let shown: serde_json::Value = serde_json::from_str(ok(&["sso", "show", "--tenant", "acme"]).trim()).expect("JSON");
    assert_eq!(shown["required"], true);
    ok(&["sso", "off", "--tenant", "acme"]);
    let shown: serde_json::Value = serde_json::from_str(ok(&["sso", "show", "--tenant", "acme"]).trim()).expect("JSON");
    assert_eq!(
        (shown["enabled"].clone(), shown["required"].clone()),
        (serde_json::json!(false), serde_json::json!(false))
    );
    // Bad input: each named.
    let bad = dir.path().join("not-metadata.xml");
    std::fs::write(&bad, "<EntityDescriptor/>").expect("write");
    for (args, says) in [
        (
            vec![
                "sso",
                "configure",
                "--tenant",
                "acme",
                "--idp-metadata",
                bad.to_str().expect("path"),
            ],
            "IDPSSODescriptor",
        ),
        (
            vec![
                "sso",
                "configure",
                "--tenant",
                "acme",
                "--idp-metadata",
                metadata,
                "--provision-role",
                "owner",
            ],
            "never creates owners",
        ),
        (
            vec![
                "sso",
                "configure",
                "--tenant",
                "acme",
                "--idp-metadata",
                metadata,
                "--groups-attribute",
                "g",
                "--map",
                "x=no-such",
            ],
            "no-such",
        ),
        (
            vec![
                "sso",
                "configure",
                "--tenant",
                "acme",
                "--idp-metadata",
                metadata,
                "--map",
                "novalue",
            ],
            "VALUE=GROUP_ID",
        ),
        (vec!["sso", "show", "--tenant", "globex"], "no single sign-on"),
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, Some(1), "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
