//! The audit logs (README, "Audit"): what every role puts on `vox.audit`
//! becomes per-tenant RFC 6962 logs with signed checkpoints; they verify
//! in Vox and with an independent implementation (Go's
//! `golang.org/x/mod/sumdb/tlog` and `note`, tests/interop/auditverify);
//! tampering with the stored log is found and named; the auditor resumes
//! after being killed without a gap or a double leaf.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use auditlog::SigningKey;
use base64::Engine;
use eventlog::{KafkaLog, KafkaSettings, Log, Output, SqliteLog};
use reqwest::Method;
use schemas::{ActorKind, AuditAction, AuditRecord, Outcome, Topic};
use serde_json::{json, Value};
use store::{AuditCheckpointRow, Store};

use super::helpers::{Backend, Node};
use super::people::{join, Api, TENANT};
use super::setup_tenant;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The independent verifier, built once per test run: `VOX_TEST_AUDITVERIFY`
/// (the test command builds it), else built here with `go`.
fn auditverify() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Ok(path) = std::env::var("VOX_TEST_AUDITVERIFY") {
                return PathBuf::from(path);
            }
            let out = std::env::temp_dir().join(format!("vox-auditverify-{}", std::process::id()));
            let module = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/auditverify");
            let status = std::process::Command::new("go")
                .args(["-C", module, "build", "-o"])
                .arg(&out)
                .arg(".")
                .status()
                .expect("Go is needed to build tests/interop/auditverify (the test command installs nothing else)");
            assert!(status.success(), "building tests/interop/auditverify failed");
            out
        })
        .clone()
}

/// Runs the independent verifier over an export: its one line of output.
fn go_verify(dir: &std::path::Path, old: Option<&std::path::Path>, origin: &str) -> String {
    let mut command = std::process::Command::new(auditverify());
    command.arg("-dir").arg(dir).args(["-origin", origin]);
    if let Some(old) = old {
        command.arg("-old").arg(old);
    }
    let output = command.output().expect("the verifier runs");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Waits until the log of `tenant` has at least `min` records and a
/// checkpoint of all of them; returns that checkpoint.
async fn checkpointed(store: &Store, tenant: &str, min: u64) -> AuditCheckpointRow {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let size = store.audit_log_size(tenant).await.expect("size");
        let latest = store.audit_checkpoints(tenant).await.expect("checkpoints").pop();
        if let Some(latest) = latest.filter(|c| size >= min && c.size == size) {
            return latest;
        }
        assert!(
            Instant::now() < deadline,
            "the log of {tenant} has {size} records (want {min}) and no checkpoint of them after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn item(id: &str) -> Value {
    json!({"external_id": id, "collection": "nps-2026", "occurred_at": "2026-11-01T10:00:00Z",
           "channel": "survey", "text": "Quick delivery", "metrics": [{"kind": "nps", "value": 9}]})
}

/// Everything on record reaches its tenant's log, verifies in Vox and in
/// Go, extends a checkpoint saved earlier, and is served to the compliance
/// role (and only to it) with proofs that check.
pub async fn audit_logs_verify_inside_and_outside_vox(node: Node) {
    let acme = setup_tenant(&node, TENANT, "eu", &["nps-2026"]).await;
    let options = node.options(&acme.client_id, &acme.secret);
    for batch in 0..2 {
        let items: Vec<Value> = (0..3).map(|i| item(&format!("b{batch}-{i}"))).collect();
        let summary = vox::push::push(&options, &items, &mut Vec::new()).await.expect("push");
        assert_eq!(summary.accepted, 3);
    }
    let api = Api::new(&node);
    let cora = join(&node, &api, None, "cora@acme.example", directory::Role::Compliance).await;
    let ana = join(&node, &api, None, "ana@acme.example", directory::Role::Analyst).await;

    // The operator's three changes, both batches, and two people invited, joined and logged in.
    let first = checkpointed(&node.store, TENANT, 11).await;
    let mut replayed = Vec::new();
    let covered = store::AuditRange {
        until_index: Some(first.size),
        ..Default::default()
    };
    let n = auditor::replay(&node.store, TENANT, &covered, &mut replayed)
        .await
        .expect("replay");
    assert_eq!(n, first.size);
    let text = String::from_utf8(replayed).expect("UTF-8");
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["index"], i as u64, "records in index order");
        assert_eq!(line["record"]["tenant_id"], TENANT);
    }
    let actions: BTreeSet<&str> = lines.iter().filter_map(|l| l["record"]["action"].as_str()).collect();
    for action in [
        "tenant.created",
        "collection.created",
        "client.issued",
        "feedback.batch",
        "user.invited",
        "user.login",
    ] {
        assert!(actions.contains(action), "{action} is on record: {actions:?}");
    }
    assert!(!text.contains(&acme.secret), "no client secret on record");
    assert!(!text.contains(&cora.password), "no password on record");
    assert!(!text.contains("Quick delivery"), "no feedback text on record");

    let verified = auditor::verify(&node.store, TENANT, &node.audit_key, None)
        .await
        .expect("the log verifies");
    assert_eq!(verified.origin, format!("vox-test/{TENANT}"));
    assert!(verified.size >= first.size);
    assert!(verified.checkpoints >= 1);

    // Over HTTPS: the compliance role reads, an analyst may not.
    let checkpoint = api
        .call(Method::GET, "/v1/audit/checkpoint", Some(&cora.token), None)
        .await;
    assert_eq!(checkpoint.status, 200, "{}", checkpoint.text);
    let saved = checkpoint.text.clone();
    let opened = auditlog::open_checkpoint(&saved, &node.audit_key).expect("a signed checkpoint");
    assert!(opened.size >= first.size);
    let denied = api
        .call(Method::GET, "/v1/audit/checkpoint", Some(&ana.token), None)
        .await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    let records = api
        .call(Method::GET, "/v1/audit/records?from=1&limit=2", Some(&cora.token), None)
        .await;
    assert_eq!(records.status, 200, "{}", records.text);
    let got = records.body["records"].as_array().expect("records");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["index"], 1);
    assert_eq!(got[1]["record"]["tenant_id"], TENANT);
    let bad = api
        .call(Method::GET, "/v1/audit/records?from=x", Some(&cora.token), None)
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.message().contains("from"), "names the parameter: {}", bad.message());
    let unknown = api
        .call(Method::GET, "/v1/audit/records?tenant=globex", Some(&cora.token), None)
        .await;
    assert_eq!(unknown.status, 400, "the tenant comes from the session only");

    // More happens; the log grows and extends the saved checkpoint.
    let items: Vec<Value> = (0..2).map(|i| item(&format!("c-{i}"))).collect();
    vox::push::push(&options, &items, &mut Vec::new()).await.expect("push");
    let later = checkpointed(&node.store, TENANT, opened.size + 1).await;
    let verified = auditor::verify(&node.store, TENANT, &node.audit_key, Some(&saved))
        .await
        .expect("the log extends the saved checkpoint");
    assert_eq!(verified.saved, Some(opened.size));
    let path = format!("/v1/audit/proof/consistency?from={}&to={}", opened.size, later.size);
    let proof = api.call(Method::GET, &path, Some(&cora.token), None).await;
    assert_eq!(proof.status, 200, "{}", proof.text);
    let hashes = |v: &Value| -> Vec<auditlog::Hash> {
        v["proof"]
            .as_array()
            .expect("a proof")
            .iter()
            .map(|h| {
                let bytes = B64.decode(h.as_str().expect("base64")).expect("base64");
                auditlog::Hash(bytes.try_into().expect("32 bytes"))
            })
            .collect()
    };
    auditlog::check_consistency(
        &hashes(&proof.body),
        later.size,
        auditlog::Hash(later.root),
        opened.size,
        opened.root,
    )
    .expect("the newer tree extends the saved one");
    let path = format!("/v1/audit/proof/inclusion?index=1&size={}", later.size);
    let inclusion = api.call(Method::GET, &path, Some(&cora.token), None).await;
    assert_eq!(inclusion.status, 200, "{}", inclusion.text);
    let data = B64.decode(got[0]["data"].as_str().expect("data")).expect("base64");
    auditlog::check_inclusion(
        &hashes(&inclusion.body),
        later.size,
        auditlog::Hash(later.root),
        1,
        &data,
    )
    .expect("record 1 is in the tree");
    let out_of_range = format!("/v1/audit/proof/inclusion?index={0}&size={0}", later.size);
    let refused = api.call(Method::GET, &out_of_range, Some(&cora.token), None).await;
    assert_eq!(refused.status, 400, "{}", refused.text);

    // The export verifies without Vox, and extends the saved checkpoint.
    let dir = tempfile::tempdir().expect("dir");
    let export = dir.path().join("export");
    let summary = auditor::export(&node.store, TENANT, &node.audit_key, &export)
        .await
        .expect("export");
    assert!(summary.records >= later.size);
    let saved_file = dir.path().join("saved-checkpoint");
    std::fs::write(&saved_file, &saved).expect("save");
    let origin = format!("vox-test/{TENANT}");
    let answer = go_verify(&export, Some(&saved_file), &origin);
    assert!(
        answer.starts_with(&format!("OK {origin} size=")),
        "Go verifies the export: {answer}"
    );
    // One changed byte in an exported record: Go names its index.
    let records_file = export.join("records.ndjson");
    let mut lines: Vec<Value> = std::fs::read_to_string(&records_file)
        .expect("records")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let mut data = B64.decode(lines[3]["data"].as_str().expect("data")).expect("base64");
    data[10] ^= 1;
    lines[3]["data"] = json!(B64.encode(&data));
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&records_file, text).expect("tamper");
    let answer = go_verify(&export, None, &origin);
    assert!(
        answer.starts_with("FAIL index 3"),
        "Go names the altered record: {answer}"
    );
    node.finish().await;
}

// ------------------------------------------------ a log to tamper with ----

/// A store (and, on PostgreSQL, its database) with the log of `acme`: 300
/// records appended by the auditor's steps of 100, a checkpoint after each.
struct Logged {
    store: Store,
    key: SigningKey,
    records: Vec<Vec<u8>>,
    _dir: tempfile::TempDir,
    _database: Option<testenv::TestDatabase>,
}

fn audit_record(tenant: Option<&str>, i: usize) -> AuditRecord {
    audit::record(
        tenant,
        ActorKind::User,
        &format!("usr_{i:04}"),
        AuditAction::Login,
        Outcome::Success,
        None,
        "eu",
        BTreeMap::from([("n".to_owned(), i.to_string())]),
    )
}

async fn store_of(backend: &Backend, dir: &std::path::Path) -> (Store, Option<testenv::TestDatabase>) {
    match backend {
        Backend::Embedded => (
            Store::open_sqlite(&dir.join("store.sqlite")).await.expect("store"),
            None,
        ),
        Backend::KafkaPostgres => {
            let db = testenv::TestDatabase::create().await;
            (Store::connect_postgres(&db.url).await.expect("store"), Some(db))
        }
    }
}

async fn logged(backend: &Backend) -> Logged {
    let dir = tempfile::tempdir().expect("dir");
    let (store, database) = store_of(backend, dir.path()).await;
    let key = SigningKey::generate("vox-test").expect("key");
    let records: Vec<Vec<u8>> = (0..300)
        .map(|i| schemas::encode(&audit_record(Some("acme"), i)).expect("encode"))
        .collect();
    let mut frontiers = auditor::load_frontiers(&store).await.expect("frontiers");
    let mut positions = eventlog::Positions::new();
    for (step, chunk) in records.chunks(100).enumerate() {
        let log_records: Vec<eventlog::Record> = chunk
            .iter()
            .enumerate()
            .map(|(i, payload)| eventlog::Record {
                topic: "vox.audit".into(),
                partition: 0,
                offset: (step * 100 + i) as i64,
                key: b"acme".to_vec(),
                payload: payload.clone(),
            })
            .collect();
        auditor::append(&store, &mut frontiers, &mut positions, &log_records)
            .await
            .expect("a step");
        auditor::sign_checkpoint(&store, &key, "acme", &frontiers["acme"])
            .await
            .expect("checkpoint");
    }
    Logged {
        store,
        key,
        records,
        _dir: dir,
        _database: database,
    }
}

/// Runs one statement with binds on either database.
macro_rules! sql {
    ($store:expr, $sql:expr $(, $bind:expr)*) => {
        match $store {
            Store::Sqlite(p) => { sqlx::query($sql)$(.bind($bind))*.execute(p).await.expect("tamper"); }
            Store::Postgres(p) => { sqlx::query($sql)$(.bind($bind))*.execute(p).await.expect("tamper"); }
        }
    };
}

/// Writes the log's bundles anew from `records` (deleting the old ones:
/// bundles may not be changed in place).
async fn rewrite_bundles(store: &Store, records: &[Vec<u8>]) {
    sql!(store, "DELETE FROM audit_bundles WHERE log_id = 'acme'");
    for (n, chunk) in records.chunks(store::BUNDLE as usize).enumerate() {
        let mut bytes = Vec::new();
        for r in chunk {
            store::push_entry(&mut bytes, r);
        }
        sql!(
            store,
            "INSERT INTO audit_bundles (log_id, bundle, entries) VALUES ('acme', $1, $2)",
            n as i64,
            bytes
        );
    }
}

async fn fails(logged: &Logged, saved: Option<&str>) -> auditor::Divergence {
    match auditor::verify(&logged.store, "acme", &logged.key.verifier_key(), saved).await {
        Err(auditor::VerifyError::Diverges(d)) => d,
        other => panic!("verify must find the tampering, got {other:?}"),
    }
}

fn record_at(d: &auditor::Divergence) -> Option<u64> {
    match d {
        auditor::Divergence::Record { index, .. } => Some(*index),
        _ => None,
    }
}

/// Every way of changing the stored log is found, and named.
pub async fn tampering_is_found_and_named(backend: Backend) {
    // Untouched: it verifies.
    let honest = logged(&backend).await;
    let verified = auditor::verify(&honest.store, "acme", &honest.key.verifier_key(), None)
        .await
        .expect("an untouched log verifies");
    assert_eq!((verified.size, verified.checkpoints), (300, 3));

    // One byte of one stored record.
    let l = logged(&backend).await;
    let mut records = l.records.clone();
    records[137][20] ^= 0x40;
    rewrite_bundles(&l.store, &records).await;
    let d = fails(&l, None).await;
    assert_eq!(record_at(&d), Some(137), "{d}");

    // A deleted record (and its line in replay's index).
    let l = logged(&backend).await;
    let mut records = l.records.clone();
    records.remove(42);
    rewrite_bundles(&l.store, &records).await;
    sql!(&l.store, "DELETE FROM audit_records WHERE log_id = 'acme' AND idx = 42");
    let d = fails(&l, None).await;
    assert_eq!(record_at(&d), Some(42), "{d}");

    // Only a line of replay's index deleted: the record is hidden from
    // replay, and verify says so.
    let l = logged(&backend).await;
    sql!(&l.store, "DELETE FROM audit_records WHERE log_id = 'acme' AND idx = 42");
    let d = fails(&l, None).await;
    assert!(d.to_string().contains("index"), "{d}");

    // Two records swapped.
    let l = logged(&backend).await;
    let mut records = l.records.clone();
    records.swap(10, 20);
    rewrite_bundles(&l.store, &records).await;
    let d = fails(&l, None).await;
    assert_eq!(record_at(&d), Some(10), "{d}");

    // The log truncated (its stored size and index too): the newest
    // checkpoint names where it ends.
    let l = logged(&backend).await;
    rewrite_bundles(&l.store, &l.records[..250]).await;
    sql!(
        &l.store,
        "DELETE FROM audit_records WHERE log_id = 'acme' AND idx >= 250"
    );
    sql!(&l.store, "UPDATE audit_logs SET size = 250 WHERE log_id = 'acme'");
    let d = fails(&l, None).await;
    assert_eq!(record_at(&d), Some(250), "{d}");

    // Truncated with its checkpoints too: a checkpoint the customer saved
    // still finds it.
    let l = logged(&backend).await;
    let saved = l.store.audit_checkpoints("acme").await.expect("checkpoints")[2]
        .note
        .clone();
    rewrite_bundles(&l.store, &l.records[..250]).await;
    sql!(
        &l.store,
        "DELETE FROM audit_records WHERE log_id = 'acme' AND idx >= 250"
    );
    sql!(
        &l.store,
        "DELETE FROM audit_checkpoints WHERE log_id = 'acme' AND size > 200"
    );
    sql!(&l.store, "UPDATE audit_logs SET size = 250 WHERE log_id = 'acme'");
    let d = fails(&l, Some(&saved)).await;
    assert!(matches!(d, auditor::Divergence::Saved { .. }), "{d}");
    assert!(d.to_string().contains("250"), "{d}");

    // A fork: a checkpoint of the same size with another root, signed by
    // the same key (an operator rewriting history after the customer saved
    // it).
    let l = logged(&backend).await;
    let mut other = auditlog::Frontier::empty();
    for (i, r) in l.records.iter().take(200).enumerate() {
        if i == 150 {
            other.append(b"a rewritten record");
        } else {
            other.append(r);
        }
    }
    let forked = l.key.sign_checkpoint("vox-test/acme", 200, other.root()).expect("sign");
    let d = fails(&l, Some(&forked)).await;
    assert!(matches!(d, auditor::Divergence::Saved { .. }), "{d}");
    assert!(d.to_string().contains("fork"), "{d}");

    // A stored checkpoint signed by another key.
    let l = logged(&backend).await;
    let intruder = SigningKey::generate("vox-test").expect("key");
    let frontier = {
        let mut f = auditlog::Frontier::empty();
        for r in l.records.iter().take(100) {
            f.append(r);
        }
        f
    };
    let note = intruder
        .sign_checkpoint("vox-test/acme", 100, frontier.root())
        .expect("sign");
    sql!(
        &l.store,
        "UPDATE audit_checkpoints SET note = $1 WHERE log_id = 'acme' AND size = 100",
        note
    );
    let d = fails(&l, None).await;
    assert_eq!(
        d,
        auditor::Divergence::Checkpoint {
            size: 100,
            what: match &d {
                auditor::Divergence::Checkpoint { what, .. } => what.clone(),
                _ => String::new(),
            }
        },
        "{d}"
    );

    // A stored hash changed in place: the store refuses (blocks only grow).
    let l = logged(&backend).await;
    let changed = match &l.store {
        Store::Sqlite(p) => sqlx::query("UPDATE audit_hashes SET hashes = zeroblob(length(hashes)) WHERE block = 0")
            .execute(p)
            .await
            .map(|_| ()),
        Store::Postgres(p) => sqlx::query(
            "UPDATE audit_hashes SET hashes = decode(repeat('00', octet_length(hashes)), 'hex') WHERE block = 0",
        )
        .execute(p)
        .await
        .map(|_| ()),
    };
    assert!(changed.is_err(), "a hash block changed in place");
    let changed = match &l.store {
        Store::Sqlite(p) => {
            sqlx::query("UPDATE audit_bundles SET entries = zeroblob(length(entries)) WHERE bundle = 0")
                .execute(p)
                .await
                .map(|_| ())
        }
        Store::Postgres(p) => sqlx::query(
            "UPDATE audit_bundles SET entries = decode(repeat('00', octet_length(entries)), 'hex') WHERE bundle = 0",
        )
        .execute(p)
        .await
        .map(|_| ()),
    };
    assert!(changed.is_err(), "a bundle of records changed in place");

    // A record changed together with every stored hash above it: only the
    // signed checkpoints can tell, and they name the range.
    let l = logged(&backend).await;
    let mut rewritten = l.records.clone();
    rewritten[120][20] ^= 0x40;
    let mut frontier = auditlog::Frontier::empty();
    let mut hashes = Vec::new();
    for r in &rewritten {
        for (_, hash) in frontier.append(r) {
            hashes.extend_from_slice(&hash.0);
        }
    }
    // (Deleted and written anew: the blocks may not be changed in place.)
    sql!(&l.store, "DELETE FROM audit_hashes WHERE log_id = 'acme'");
    for (block, bytes) in hashes.chunks(256 * 32).enumerate() {
        sql!(
            &l.store,
            "INSERT INTO audit_hashes (log_id, block, hashes) VALUES ('acme', $1, $2)",
            block as i64,
            bytes.to_vec()
        );
    }
    rewrite_bundles(&l.store, &rewritten).await;
    let d = fails(&l, None).await;
    assert!(
        matches!(d, auditor::Divergence::Checkpoint { size: 200, .. })
            && d.to_string().contains("between index 100 and 199"),
        "{d}"
    );
}

// ------------------------------------------------------ killed auditor ----

/// The auditor killed at random points (its task aborted mid-step and its
/// connections closed, as a SIGKILL leaves the store) and restarted: every record on
/// `vox.audit` is in its log exactly once, in log order, and every log
/// verifies.
pub async fn the_auditor_resumes_without_gaps_or_doubles(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let (store, database) = store_of(&backend, dir.path()).await;
    // What a new process would open (a killed one's connections are gone
    // with it, and with them any transaction it had begun).
    let reopen = || async {
        match &database {
            None => Store::open_sqlite(&dir.path().join("store.sqlite"))
                .await
                .expect("store"),
            Some(db) => Store::connect_postgres(&db.url).await.expect("store"),
        }
    };
    let (log, namespace) = match backend {
        Backend::Embedded => (
            Log::Sqlite(SqliteLog::open(&dir.path().join("log.sqlite")).await.expect("log")),
            String::new(),
        ),
        Backend::KafkaPostgres => (
            Log::Kafka(KafkaLog::connect(KafkaSettings::single_broker(testenv::kafka_brokers())).expect("kafka")),
            testenv::namespace(),
        ),
    };
    let topic = Topic::Audit.name(&namespace);
    log.ensure_topics(std::slice::from_ref(&topic)).await.expect("topic");
    // Three tenants and the installation, interleaved.
    let tenants = [Some("acme"), Some("globex"), None, Some("initech")];
    let mut expected: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for chunk in 0..20 {
        let mut outputs = Vec::new();
        for i in 0..100 {
            let n = chunk * 100 + i;
            let record = audit_record(tenants[n % 4], n);
            let output: Output = audit::encode(&topic, &record).expect("encode");
            expected
                .entry(tenants[n % 4].unwrap_or("-").to_owned())
                .or_default()
                .push(output.payload.clone());
            outputs.push(output);
        }
        log.append(outputs).await.expect("append");
    }
    let key = SigningKey::generate("vox-test").expect("key");
    let settings = || {
        let copy = SigningKey::from_file_text(key.to_file_text().expose()).expect("the same key");
        let mut s = auditor::AuditorSettings::new(namespace.clone(), copy);
        s.batch_size = 7;
        s.checkpoint_interval = Duration::from_millis(20);
        s
    };
    for kill_after in [15u64, 40, 5, 70, 25, 120, 60] {
        let killed = reopen().await;
        let run = tokio::spawn(auditor::run(
            log.clone(),
            killed.clone(),
            settings(),
            std::future::pending(),
        ));
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        run.abort();
        let _ = run.await;
        match killed {
            Store::Sqlite(p) => p.close().await,
            Store::Postgres(p) => p.close().await,
        }
    }
    // The last run, to the end.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(auditor::run(log.clone(), store.clone(), settings(), async {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut total = 0;
        for state in store.audit_logs().await.expect("logs") {
            total += state.size;
        }
        if total == 2000 {
            break;
        }
        assert!(total < 2000, "more leaves ({total}) than records (2000)");
        if run.is_finished() {
            panic!("the auditor stopped early: {:?}", run.await);
        }
        assert!(
            Instant::now() < deadline,
            "{total} of 2000 records in the logs after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    run.await.expect("no panic").expect("the auditor stops cleanly");
    for (log_id, payloads) in &expected {
        let rows = store
            .audit_records(log_id, &Default::default(), 10_000)
            .await
            .expect("records");
        let data: Vec<&Vec<u8>> = rows.iter().map(|r| &r.data).collect();
        assert_eq!(
            data,
            payloads.iter().collect::<Vec<_>>(),
            "log {log_id}: every record once, in log order"
        );
        let verified = auditor::verify(&store, log_id, &key.verifier_key(), None)
            .await
            .expect("each log verifies");
        assert_eq!(verified.size, payloads.len() as u64);
        assert_eq!(
            verified.latest_checkpoint,
            Some(verified.size),
            "stopping signs what was appended"
        );
    }
}
