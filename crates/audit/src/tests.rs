//! The tallies and the builders as a pure core; the durable path and the
//! sink against the embedded SQLite log.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use eventlog::{Log, SqliteLog};
use schemas::{ActorKind, AuditAction, AuditRecord, Outcome};

use crate::sink::Tallies;
use crate::{append_durable, output, record, with_resource, AuditError, RefusalKey, Sink, MAX_TALLIES};

const TOPIC: &str = "test.audit";
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

fn key(actor: &str) -> RefusalKey {
    RefusalKey {
        tenant: Some("ten_1".into()),
        actor_kind: ActorKind::Client,
        actor: actor.into(),
        source: Some(PEER),
        action: AuditAction::AuthFailure,
        reason: "bad_signature",
        claimed: Some("vox_ci_0123456789abcdef".into()),
    }
}

fn sample(tenant: Option<&str>) -> AuditRecord {
    record(
        tenant,
        ActorKind::User,
        "usr_1",
        AuditAction::FeedbackBatch,
        Outcome::Success,
        Some(PEER),
        "eu",
        BTreeMap::from([("k".to_owned(), "v".to_owned())]),
    )
}

fn by_actor(records: &[AuditRecord], actor: &str) -> AuditRecord {
    records
        .iter()
        .find(|r| r.actor_id == actor)
        .unwrap_or_else(|| panic!("a record of {actor}"))
        .clone()
}

#[test]
fn a_tally_becomes_one_record_with_count_and_times() {
    let mut tallies = Tallies::default();
    tallies.add(key("anonymous"), 401, 10);
    tallies.add(key("anonymous"), 401, 20);
    tallies.add(key("anonymous"), 401, 30);
    let mut other = key("vox_ci_aaaaaaaaaaaaaaaa");
    other.claimed = None;
    tallies.add(other, 503, 15);

    let records = tallies.take_records("eu");
    assert_eq!(records.len(), 2);
    assert_eq!(tallies.len(), 0, "taking the records empties the tallies");

    let r = by_actor(&records, "anonymous");
    assert_eq!(r.occurred_at, 30, "at the last refusal");
    assert_eq!(r.tenant_id.as_deref(), Some("ten_1"));
    assert_eq!(r.actor_kind, ActorKind::Client);
    assert_eq!(r.action, "auth.failure");
    assert_eq!(r.outcome, Outcome::Denied);
    assert_eq!(r.source_address.as_deref(), Some("192.0.2.7"));
    assert_eq!(r.region, "eu");
    assert_eq!(r.resource, None);
    let expected: BTreeMap<String, String> = [
        ("code", "bad_signature"),
        ("status", "401"),
        ("count", "3"),
        ("first_at", "10"),
        ("last_at", "30"),
        ("claimed_client", "vox_ci_0123456789abcdef"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(r.details, expected);

    let r = by_actor(&records, "vox_ci_aaaaaaaaaaaaaaaa");
    assert_eq!(r.outcome, Outcome::Failure, "a 5xx is a failure, not a denial");
    assert!(!r.details.contains_key("claimed_client"));
}

#[test]
fn the_claimed_id_is_named_after_the_actor_kind() {
    let mut tallies = Tallies::default();
    tallies.add(
        RefusalKey {
            actor_kind: ActorKind::User,
            claimed: Some("usr_1".into()),
            ..key("anonymous")
        },
        401,
        1,
    );
    let r = tallies.take_records("eu").remove(0);
    assert_eq!(r.actor_kind, ActorKind::User);
    assert_eq!(r.details.get("claimed_user").map(String::as_str), Some("usr_1"));
}

#[test]
fn past_max_tallies_new_keys_fold_into_the_star_actor() {
    let mut tallies = Tallies::default();
    for i in 0..MAX_TALLIES {
        tallies.add(key(&format!("vox_ci_{i:016x}")), 401, 1);
    }
    assert_eq!(tallies.len(), MAX_TALLIES);
    // A key already held keeps its own tally.
    tallies.add(key(&format!("vox_ci_{:016x}", 0)), 401, 2);
    assert_eq!(tallies.len(), MAX_TALLIES);
    // New keys: one overflow tally per action and reason, without tenant,
    // address or claimed id.
    tallies.add(key("new-1"), 401, 3);
    let mut other_tenant = key("new-2");
    other_tenant.tenant = Some("ten_2".into());
    other_tenant.source = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    tallies.add(other_tenant, 401, 4);
    assert_eq!(tallies.len(), MAX_TALLIES + 1);
    tallies.add(
        RefusalKey {
            reason: "expired",
            ..key("new-3")
        },
        401,
        5,
    );
    assert_eq!(
        tallies.len(),
        MAX_TALLIES + 2,
        "a different reason is a different overflow tally"
    );

    let records = tallies.take_records("eu");
    let first = by_actor(&records, &format!("vox_ci_{:016x}", 0));
    assert_eq!(first.details["count"], "2");
    let overflow: Vec<&AuditRecord> = records.iter().filter(|r| r.actor_id == "*").collect();
    assert_eq!(overflow.len(), 2);
    let star = overflow
        .iter()
        .find(|r| r.details["code"] == "bad_signature")
        .expect("the overflow tally of bad_signature");
    assert_eq!(star.details["count"], "2");
    assert_eq!(star.details["first_at"], "3");
    assert_eq!(star.details["last_at"], "4");
    assert_eq!(star.tenant_id, None);
    assert_eq!(star.source_address, None);
    assert!(!star.details.contains_key("claimed_client"));
    assert_eq!(star.action, "auth.failure");
    assert!(records.iter().all(|r| !r.actor_id.starts_with("new-")));
}

#[test]
fn record_carries_what_it_is_given_and_nothing_else() {
    let before = schemas::clock::now_micros();
    let r = sample(Some("ten_1"));
    let after = schemas::clock::now_micros();
    let expected = AuditRecord {
        audit_id: r.audit_id.clone(),
        tenant_id: Some("ten_1".into()),
        occurred_at: r.occurred_at,
        actor_kind: ActorKind::User,
        actor_id: "usr_1".into(),
        action: "feedback.batch".into(),
        resource: None,
        outcome: Outcome::Success,
        source_address: Some("192.0.2.7".into()),
        region: "eu".into(),
        details: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
        node: crate::node().map(str::to_owned),
    };
    assert_eq!(r, expected);
    assert!((before..=after).contains(&r.occurred_at));
    let id = uuid::Uuid::parse_str(&r.audit_id).expect("a UUID");
    assert_eq!(id.get_version_num(), 4);
    assert_ne!(sample(Some("ten_1")).audit_id, r.audit_id, "a new id per record");

    let anonymous = record(
        None,
        ActorKind::Client,
        "anonymous",
        AuditAction::AuthFailure,
        Outcome::Denied,
        None,
        "eu",
        BTreeMap::new(),
    );
    assert_eq!(anonymous.tenant_id, None);
    assert_eq!(anonymous.source_address, None);
    assert!(anonymous.details.is_empty());

    let about = with_resource(r.clone(), "collection/col_1");
    assert_eq!(about.resource.as_deref(), Some("collection/col_1"));
    assert_eq!(
        AuditRecord {
            resource: None,
            ..about
        },
        r,
        "only the resource changes"
    );
}

#[test]
fn output_is_keyed_by_tenant_and_decodes_back() {
    let r = sample(Some("ten_1"));
    let out = output(TOPIC, &r).expect("encodes");
    assert_eq!(out.topic, TOPIC);
    assert_eq!(out.key, b"ten_1");
    assert_eq!(schemas::decode::<AuditRecord>(&out.payload).expect("decodes"), r);
    let none = output(TOPIC, &sample(None)).expect("encodes");
    assert_eq!(none.key, b"-");
}

async fn sqlite(dir: &tempfile::TempDir) -> Log {
    let log = Log::Sqlite(
        SqliteLog::open(&dir.path().join("log.sqlite"))
            .await
            .expect("open sqlite log"),
    );
    log.ensure_topics(&[TOPIC.to_owned()]).await.expect("topic");
    log
}

async fn written(log: &Log) -> Vec<(Vec<u8>, AuditRecord)> {
    log.read_all(TOPIC)
        .await
        .expect("read")
        .into_iter()
        .map(|r| {
            let decoded = schemas::decode::<AuditRecord>(&r.payload).expect("an AuditRecord");
            (r.key, decoded)
        })
        .collect()
}

#[tokio::test]
async fn append_durable_returns_once_the_records_are_in_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = sqlite(&dir).await;
    let records = [sample(Some("ten_1")), sample(None)];
    append_durable(&log, TOPIC, &records).await.expect("appended");
    // Read through a second handle, as another process would.
    let other = sqlite(&dir).await;
    let got = written(&other).await;
    assert_eq!(
        got,
        vec![
            (b"ten_1".to_vec(), records[0].clone()),
            (b"-".to_vec(), records[1].clone())
        ]
    );

    append_durable(&log, TOPIC, &[]).await.expect("nothing to append");
    assert_eq!(written(&log).await.len(), 2);
}

#[tokio::test]
async fn append_durable_names_a_log_failure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = sqlite(&dir).await;
    let err = append_durable(&log, "no.such.topic", &[sample(None)])
        .await
        .expect_err("the topic does not exist");
    assert!(
        matches!(err, AuditError::Log(eventlog::LogError::UnknownTopic(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_sink_writes_queued_records_and_tallies_at_close() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = sqlite(&dir).await;
    let (sink, task) = Sink::spawn(log.clone(), TOPIC, "eu", Duration::from_secs(3600));
    let queued = sample(Some("ten_1"));
    sink.record(queued.clone());
    for _ in 0..3 {
        sink.refused(key("anonymous"), 401);
    }
    let durable = sample(Some("ten_2"));
    sink.durable(std::slice::from_ref(&durable)).await.expect("durable");
    assert!(
        written(&log).await.iter().any(|(_, r)| *r == durable),
        "durable before it returns"
    );

    sink.close();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the sink stops at close, without waiting for its interval")
        .expect("the task ends");
    sink.record(sample(Some("late")));
    sink.refused(key("late"), 401);

    let got: Vec<AuditRecord> = written(&log).await.into_iter().map(|(_, r)| r).collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.contains(&queued));
    let tally = by_actor(&got, "anonymous");
    assert_eq!(tally.details["count"], "3");
    assert_eq!(tally.region, "eu");
}

#[tokio::test]
async fn the_sink_writes_tallies_every_interval() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = sqlite(&dir).await;
    let (sink, task) = Sink::spawn(log.clone(), TOPIC, "eu", Duration::from_millis(50));
    sink.refused(key("anonymous"), 401);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while written(&log).await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the tally was not written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sink.close();
    task.await.expect("the task ends");
    assert_eq!(written(&log).await.len(), 1, "an empty interval writes nothing");
}
