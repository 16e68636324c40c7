//! The ingestion contract: signed requests, whole-request errors, replays,
//! rotation and revocation, compression, atomic batches, audit, metrics.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use schemas::{AuditRecord, Outcome, Topic};
use serde_json::{json, Value};

use crate::helpers::{client, collection, region, tenant, Backend, Node};
use crate::{setup_tenant, Tenant};

const PATH: &str = "/v1/feedback/batch";

fn item(external_id: &str, collection: &str) -> Value {
    json!({"external_id": external_id, "collection": collection, "occurred_at": "2026-11-01T10:00:00Z",
           "channel": "survey", "text": "Kundtjänsten svarade snabbt.", "language": "sv",
           "metrics": [{"kind": "csat", "value": 5}]})
}

fn ndjson(items: &[Value]) -> Vec<u8> {
    items.iter().map(|i| format!("{i}\n")).collect::<String>().into_bytes()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("write");
    e.finish().expect("finish")
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// One HTTP request as a test builds it: what is signed and what is sent
/// may differ, to forge the failures.
struct Request {
    client_id: String,
    secret: String,
    timestamp: i64,
    nonce: String,
    query: String,
    /// Sends this query instead of the signed one.
    sent_query: Option<String>,
    signed_body: Vec<u8>,
    sent_body: Vec<u8>,
    content_type: String,
    content_encoding: Option<String>,
    /// Replaces the computed Authorization header (None: send none).
    authorization: Option<Option<String>>,
    /// Sign with the deprecated `VOX1` scheme instead of `VOX2`.
    v1: bool,
    /// Signs this content type instead of the one sent.
    signed_content_type: Option<String>,
}

impl Request {
    fn new(tenant: &Tenant, body: Vec<u8>) -> Request {
        Request {
            client_id: tenant.client_id.clone(),
            secret: tenant.secret.clone(),
            timestamp: now(),
            nonce: auth::signing::new_nonce(),
            query: String::new(),
            sent_query: None,
            signed_body: body.clone(),
            sent_body: body,
            content_type: "application/x-ndjson".into(),
            content_encoding: None,
            authorization: None,
            v1: false,
            signed_content_type: None,
        }
    }

    fn authorization(&self, host: &str) -> Option<String> {
        self.authorization.clone().unwrap_or_else(|| {
            let request = auth::signing::RequestToSign {
                timestamp: self.timestamp,
                nonce: &self.nonce,
                method: "POST",
                path: PATH,
                query: &self.query,
                body: &self.signed_body,
            };
            if self.v1 {
                return Some(auth::signing::authorization(&self.client_id, &self.secret, &request));
            }
            let headers = auth::SignedHeaders {
                host,
                content_type: self.signed_content_type.as_deref().unwrap_or(&self.content_type),
                content_encoding: self.content_encoding.as_deref().unwrap_or(""),
            };
            Some(auth::signing::authorization_v2(
                &self.client_id,
                &self.secret,
                &request,
                &headers,
            ))
        })
    }

    async fn send(&self, node: &Node) -> (u16, Value, Option<String>) {
        let client = vox::push::client(Some(&node.ca_cert)).expect("client");
        let query = self.sent_query.as_ref().unwrap_or(&self.query);
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        let mut request = client
            .post(format!("{}{PATH}{query}", node.url))
            .header("content-type", &self.content_type)
            .body(self.sent_body.clone());
        let host = node.url.trim_start_matches("https://");
        if let Some(auth) = self.authorization(host) {
            request = request.header("authorization", auth);
        }
        if let Some(encoding) = &self.content_encoding {
            request = request.header("content-encoding", encoding);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: Value = response.json().await.expect("a JSON body");
        (status, body, retry_after)
    }
}

fn assert_refused(name: &str, (status, body, _): &(u16, Value, Option<String>), expected_status: u16, code: &str) {
    assert_eq!(*status, expected_status, "{name}: {body}");
    assert_eq!(body["error"]["code"], code, "{name}: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.len() > 30,
        "{name}: the message says what was wrong and what to do: {message}"
    );
}

/// Every whole-request error answers with its status, a stable code and a
/// helpful message, and appends nothing.
pub async fn whole_request_errors_append_nothing(node: Node) {
    let acme = setup_tenant(&node, "acme", "eu", &["nps-2026"]).await;
    let initech = setup_tenant(&node, "initech", "us", &["nps-2026"]).await;
    let good = ndjson(&[item("x-1", "nps-2026")]);
    type Tweak = Box<dyn Fn(&mut Request)>;
    let cases: Vec<(&str, Tweak, u16, &str)> = vec![
        (
            "no Authorization header",
            Box::new(|r| r.authorization = Some(None)),
            401,
            "missing_signature",
        ),
        (
            "a Basic header",
            Box::new(|r| r.authorization = Some(Some("Basic dm94OnNlY3JldA==".into()))),
            401,
            "malformed_authorization",
        ),
        (
            "an unknown client id (answered like a bad signature)",
            Box::new(|r| r.client_id = "vox_ci_0000000000000000".into()),
            401,
            "bad_signature",
        ),
        (
            "a content type altered after signing",
            Box::new(|r| r.signed_content_type = Some("application/json".into())),
            401,
            "bad_signature",
        ),
        (
            "a 200 KB Credential",
            Box::new(|r| {
                r.authorization = Some(Some(format!(
                    "VOX2-HMAC-SHA256 Credential={}, Timestamp={}, Nonce=0123456789abcdef, Signature={}",
                    "a".repeat(200_000),
                    now(),
                    "00".repeat(32)
                )))
            }),
            401,
            "malformed_authorization",
        ),
        (
            "a wrong secret",
            Box::new(|r| r.secret = auth::new_secret()),
            401,
            "bad_signature",
        ),
        (
            "a body altered after signing",
            Box::new(|r| r.sent_body[20] ^= 1),
            401,
            "bad_signature",
        ),
        (
            "a query altered after signing",
            Box::new(|r| r.sent_query = Some("atomic=false".into())),
            401,
            "bad_signature",
        ),
        (
            "an expired timestamp",
            Box::new(|r| r.timestamp -= 310),
            401,
            "timestamp_out_of_window",
        ),
        (
            "a future timestamp",
            Box::new(|r| r.timestamp += 310),
            401,
            "timestamp_out_of_window",
        ),
        (
            "a wrong content type",
            Box::new(|r| r.content_type = "text/csv".into()),
            415,
            "unsupported_media_type",
        ),
        (
            "an unsupported content encoding",
            Box::new(|r| r.content_encoding = Some("br".into())),
            415,
            "unsupported_content_encoding",
        ),
        (
            "truncated gzip",
            Box::new(|r| {
                let full = gzip(&r.sent_body);
                r.sent_body = full[..full.len() - 6].to_vec();
                r.signed_body = r.sent_body.clone();
                r.content_encoding = Some("gzip".into());
            }),
            400,
            "invalid_content_encoding",
        ),
        (
            "invalid zstd",
            Box::new(|r| {
                r.sent_body = b"(\xb5/\xfd this is not zstd".to_vec();
                r.signed_body = r.sent_body.clone();
                r.content_encoding = Some("zstd".into());
            }),
            400,
            "invalid_content_encoding",
        ),
        (
            "a compression bomb",
            Box::new(|r| {
                r.sent_body = gzip(&vec![b' '; 21 * 1024 * 1024]);
                r.signed_body = r.sent_body.clone();
                r.content_encoding = Some("gzip".into());
            }),
            413,
            "decompressed_too_large",
        ),
        (
            "malformed JSON",
            Box::new(|r| {
                r.sent_body = b"[{\"external_id\": ".to_vec();
                r.signed_body = r.sent_body.clone();
                r.content_type = "application/json".into();
            }),
            400,
            "malformed_body",
        ),
        (
            "invalid UTF-8",
            Box::new(|r| {
                r.sent_body = b"{\"external_id\": \"\xff\xfe\"}\n".to_vec();
                r.signed_body = r.sent_body.clone();
            }),
            400,
            "malformed_body",
        ),
        (
            "a body over the limit",
            Box::new(|r| {
                r.sent_body = vec![b' '; 5 * 1024 * 1024 + 1];
                r.signed_body = r.sent_body.clone();
            }),
            413,
            "body_too_large",
        ),
        (
            "too many items",
            Box::new(|r| {
                r.sent_body = ndjson(
                    &(0..1001)
                        .map(|i| item(&format!("x-{i}"), "nps-2026"))
                        .collect::<Vec<_>>(),
                );
                r.signed_body = r.sent_body.clone();
            }),
            413,
            "too_many_items",
        ),
        (
            "an unknown query parameter",
            Box::new(|r| r.query = "fast=yes".into()),
            400,
            "malformed_body",
        ),
    ];
    for (name, tweak, status, code) in cases {
        let mut request = Request::new(&acme, good.clone());
        tweak(&mut request);
        assert_refused(name, &request.send(&node).await, status, code);
    }
    let other_region = Request::new(&initech, good.clone()).send(&node).await;
    assert_refused("a tenant of another region", &other_region, 403, "wrong_region");
    assert!(
        other_region.1["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("'us'")),
        "names the region"
    );
    assert_eq!(node.raw_count().await, 0, "no refused request appended anything");
    node.finish().await;
}

/// The same signed request twice: the second is a replay and is refused.
pub async fn replayed_requests_are_refused(node: Node) {
    let acme = setup_tenant(&node, "acme", "eu", &["nps-2026"]).await;
    let request = Request::new(&acme, ndjson(&[item("r-1", "nps-2026")]));
    let (status, body, _) = request.send(&node).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.raw_count().await, 1);
    assert_refused(
        "a replayed request",
        &request.send(&node).await,
        401,
        "replayed_request",
    );
    assert_eq!(node.raw_count().await, 1, "the replay appended nothing");
    node.finish().await;
}

async fn status_within(node: &Node, tenant: &Tenant, want: u16, what: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body, _) = Request::new(tenant, ndjson(&[item("rot-1", "nps-2026")]))
            .send(node)
            .await;
        if status == want {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}: still {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Rotation keeps the old secret working next to the new one; revoking a
/// version or the whole credential takes effect within seconds.
pub async fn rotation_and_revocation_take_effect(node: Node) {
    let old = setup_tenant(&node, "acme", "eu", &["nps-2026"]).await;
    let rotated = vox::admin::rotate_client(
        &node.log,
        &node.namespace,
        &node.kek,
        &tenant("acme"),
        &client(&old.client_id),
        None,
    )
    .await
    .expect("rotate");
    assert_eq!(rotated.secret_version, 2);
    let new = Tenant {
        client_id: old.client_id.clone(),
        secret: rotated.secret.expose().to_owned(),
    };
    status_within(&node, &new, 200, "the new secret verifies").await;
    status_within(&node, &old, 200, "the old secret still verifies").await;

    vox::admin::revoke_client(
        &node.log,
        &node.namespace,
        &tenant("acme"),
        &client(&old.client_id),
        Some(1),
    )
    .await
    .expect("revoke v1");
    let body = status_within(&node, &old, 401, "the revoked version is refused").await;
    assert_eq!(
        body["error"]["code"], "credential_revoked",
        "a caller that signs with a revoked secret is told so"
    );
    status_within(&node, &new, 200, "the other version still verifies").await;

    vox::admin::revoke_client(
        &node.log,
        &node.namespace,
        &tenant("acme"),
        &client(&old.client_id),
        None,
    )
    .await
    .expect("revoke all");
    let body = status_within(&node, &new, 401, "the revoked credential is refused").await;
    assert_eq!(body["error"]["code"], "credential_revoked");
    node.finish().await;
}

/// gzip and zstd bodies are decoded; the signature covers the bytes sent.
pub async fn compressed_bodies_are_accepted(node: Node) {
    let acme = setup_tenant(&node, "acme", "eu", &["nps-2026"]).await;
    let plain = ndjson(&[item("c-1", "nps-2026"), item("c-2", "nps-2026")]);
    let mut gz = Request::new(&acme, gzip(&plain));
    gz.content_encoding = Some("gzip".into());
    let (status, body, _) = gz.send(&node).await;
    assert_eq!((status, body["accepted"].as_u64()), (200, Some(2)), "{body}");
    let zstd = ruzstd::encoding::compress_to_vec(
        ndjson(&[item("c-3", "nps-2026")]).as_slice(),
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    let mut zs = Request::new(&acme, zstd);
    zs.content_encoding = Some("zstd".into());
    let (status, body, _) = zs.send(&node).await;
    assert_eq!((status, body["accepted"].as_u64()), (200, Some(1)), "{body}");
    assert_eq!(node.raw_count().await, 3);
    node.finish().await;
}

/// `atomic=true`: one invalid item and nothing is appended (422); a clean
/// batch is appended whole.
pub async fn atomic_batches_are_all_or_nothing(node: Node) {
    let acme = setup_tenant(&node, "acme", "eu", &["nps-2026"]).await;
    let mut bad = item("a-2", "nps-2026");
    bad["metrics"] = json!([{"kind": "nps", "value": 11}]);
    let mut request = Request::new(&acme, ndjson(&[item("a-1", "nps-2026"), bad]));
    request.query = "atomic=true".into();
    let (status, body, _) = request.send(&node).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["rejected"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(body["results"][0]["code"], "atomic_batch_failed");
    assert_eq!(body["results"][1]["code"], "out_of_range");
    assert_eq!(
        node.raw_count().await,
        0,
        "nothing of an atomic batch with a bad item is appended"
    );

    let mut request = Request::new(&acme, ndjson(&[item("a-1", "nps-2026"), item("a-3", "nps-2026")]));
    request.query = "atomic=true".into();
    let (status, body, _) = request.send(&node).await;
    assert_eq!((status, body["accepted"].as_u64()), (200, Some(2)), "{body}");
    assert_eq!(node.raw_count().await, 2);
    node.finish().await;
}

/// A credential limited to some collections cannot write others, nor
/// another tenant's.
pub async fn credentials_are_scoped_to_collections(node: Node) {
    let _acme = setup_tenant(&node, "acme", "eu", &["nps-2026", "support"]).await;
    setup_tenant(&node, "globex", "eu", &["private"]).await;
    let issued = vox::admin::create_client(
        &node.log,
        &node.namespace,
        &node.kek,
        &tenant("acme"),
        "survey-tool",
        &[collection("nps-2026")],
    )
    .await
    .expect("client");
    let scoped = Tenant {
        client_id: issued.client_id,
        secret: issued.secret.expose().to_owned(),
    };
    let request = Request::new(
        &scoped,
        ndjson(&[item("s-1", "nps-2026"), item("s-2", "support"), item("s-3", "private")]),
    );
    let (status, body, _) = request.send(&node).await;
    assert_eq!(status, 200, "{body}");
    let codes: Vec<&str> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["code"].as_str().unwrap_or("ok"))
        .collect();
    assert_eq!(codes, ["ok", "collection_not_allowed", "unknown_collection"]);
    assert_eq!(node.raw_count().await, 1);
    node.finish().await;
}

async fn audit_records(node: &Node, want: usize) -> Vec<AuditRecord> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let records: Vec<AuditRecord> = node
            .log
            .read_all(&node.topic(Topic::Audit))
            .await
            .expect("read audit")
            .iter()
            .map(|r| schemas::decode(&r.payload).expect("an audit record"))
            .collect();
        if records.len() >= want || Instant::now() > deadline {
            return records;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every batch and every authentication failure leaves an audit record,
/// without secrets or bodies.
pub async fn audit_records_name_client_and_secret_version(node: Node) {
    let acme = setup_tenant(&node, "acme", "eu", &["nps-2026"]).await;
    let (status, body, _) = Request::new(&acme, ndjson(&[item("au-1", "nps-2026")]))
        .send(&node)
        .await;
    assert_eq!(status, 200, "{body}");
    let mut forged = Request::new(&acme, ndjson(&[item("au-2", "nps-2026")]));
    forged.secret = auth::new_secret();
    assert_eq!(forged.send(&node).await.0, 401);

    // The operator's three changes (tenant, collection, client), then the
    // batch and the refusal.
    let all = audit_records(&node, 5).await;
    let operator: Vec<&str> = all
        .iter()
        .filter(|r| r.actor_kind == schemas::ActorKind::Operator)
        .map(|r| r.action.as_str())
        .collect();
    assert_eq!(
        operator,
        ["tenant.created", "collection.created", "client.issued"],
        "{all:?}"
    );
    let records: Vec<_> = all
        .into_iter()
        .filter(|r| r.actor_kind != schemas::ActorKind::Operator)
        .collect();
    assert_eq!(records.len(), 2, "{records:?}");
    let batch = records
        .iter()
        .find(|r| r.action == "feedback.batch")
        .expect("batch record");
    assert_eq!(batch.tenant_id.as_deref(), Some("acme"));
    assert_eq!(batch.actor_id, acme.client_id);
    assert_eq!(batch.outcome, Outcome::Success);
    assert_eq!(batch.source_address.as_deref(), Some("127.0.0.1"));
    let expected: BTreeMap<&str, &str> = [("secret_version", "1"), ("accepted", "1"), ("rejected", "0")].into();
    for (k, v) in expected {
        assert_eq!(batch.details.get(k).map(String::as_str), Some(v), "{k}");
    }
    assert_eq!(
        batch.details.get("batch_id").map(String::as_str),
        body["batch_id"].as_str()
    );
    let failure = records
        .iter()
        .find(|r| r.action == "auth.failure")
        .expect("auth failure record");
    assert_eq!(
        (failure.outcome, failure.details.get("code").map(String::as_str)),
        (Outcome::Denied, Some("bad_signature"))
    );
    for r in &records {
        let text = format!("{r:?}");
        assert!(
            !text.contains(&acme.secret) && !text.contains("Kundtjänsten"),
            "no secrets or bodies: {text}"
        );
    }
    node.finish().await;
}

/// The operations listener serves Prometheus metrics and health/readiness.
pub async fn metrics_and_readiness_are_served(node: Node) {
    // Every role of the process (the people API makes a bcrypt hash first)
    // reports on this one listener; it becomes ready, and stays so.
    node.wait_ready().await;
    let acme = setup_tenant(&node, "acme", "eu", &["nps-2026"]).await;
    let (status, _, _) = Request::new(&acme, ndjson(&[item("m-1", "nps-2026")]))
        .send(&node)
        .await;
    assert_eq!(status, 200);
    let mut forged = Request::new(&acme, ndjson(&[item("m-2", "nps-2026")]));
    forged.secret = auth::new_secret();
    assert_eq!(forged.send(&node).await.0, 401);
    let mut private = item("m-3", "nps-2026");
    private["text"] = json!("mail me: someone@example.com");
    assert_eq!(Request::new(&acme, ndjson(&[private])).send(&node).await.0, 200);
    node.wait_projected(2).await;
    let client = vox::push::client(Some(&node.ca_cert)).expect("client");
    let get = |path: &str| client.get(format!("{}{path}", node.ops_url)).send();
    assert_eq!(get("/healthz").await.expect("healthz").status().as_u16(), 200);
    let ready = get("/readyz").await.expect("readyz");
    let status = ready.status().as_u16();
    assert_eq!(status, 200, "{}", ready.text().await.unwrap_or_default());
    let metrics = get("/metrics").await.expect("metrics").text().await.expect("text");
    let raw = format!("{{topic=\"{}\",partition=\"0\"}}", node.topic(Topic::FeedbackRaw));
    let processed = format!("{{topic=\"{}\",partition=\"0\"}}", node.topic(Topic::FeedbackProcessed));
    for needle in [
        // The processor and the projector report on the same listener.
        "vox_processor_steps_total{outcome=\"committed\"}",
        "vox_processor_items_total{outcome=\"processed\",reason=\"\"}",
        "vox_processor_tags_applied_total{source=\"rule\"}",
        "vox_processor_redactions_total{kind=\"email\"}",
        "vox_processor_step_duration_seconds_bucket",
        &format!("vox_processor_consumer_lag{raw}"),
        "vox_projector_steps_total",
        "vox_projector_records_total{kind=\"feedback\"}",
        "vox_projector_step_duration_seconds_bucket",
        &format!("vox_projector_consumer_lag{processed}"),
        "vox_ingest_requests_total{status=\"200\",code=\"ok\"}",
        "vox_ingest_items_total{outcome=\"accepted\"",
        "vox_ingest_request_duration_seconds_bucket",
        "vox_ingest_bytes_received_total",
        &format!(
            "vox_ingest_auth_failures_total{{client=\"{}\",reason=\"bad_signature\"}}",
            acme.client_id
        ),
    ] {
        assert!(metrics.contains(needle), "/metrics has {needle}:\n{metrics}");
    }
    node.finish().await;
}

/// Past its rate, a client gets 429 with Retry-After, and nothing is appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_rate_limits_answer_429() {
    let node = Node::start_with(Backend::Embedded, |s| {
        s.rate_per_second = 1;
        s.rate_burst = 2;
    })
    .await;
    let acme = setup_tenant(&node, "acme", "eu", &["nps-2026"]).await;
    // A burst of 2, then 1 per second: within a few requests sent back to
    // back one must be refused (however slow this machine is).
    let started = Instant::now();
    let mut accepted = 0;
    let mut limited = None;
    for i in 0..20 {
        let answer = Request::new(&acme, ndjson(&[item(&format!("rl-{i}"), "nps-2026")]))
            .send(&node)
            .await;
        if answer.0 == 200 {
            accepted += 1;
        } else {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("a request over the rate is refused");
    assert_refused("over the rate", &limited, 429, "rate_limited");
    assert!(
        limited
            .2
            .as_deref()
            .is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1)),
        "Retry-After"
    );
    let allowed = 2 + started.elapsed().as_secs() as usize + 1;
    assert!(
        (2..=allowed).contains(&accepted),
        "{accepted} accepted before the limit, at most {allowed} allowed"
    );
    assert_eq!(node.raw_count().await, accepted, "the refused request appended nothing");
    node.finish().await;
}

/// When the log fails, the node answers 503 with Retry-After and reports no
/// item accepted: here the raw topic is deleted under a running node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_log_failure_answers_503_and_accepts_nothing() {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;

    let brokers = testenv::kafka_brokers();
    let mut kafka = eventlog::KafkaSettings::single_broker(brokers.clone());
    kafka.timeout = Duration::from_secs(3);
    let log = eventlog::Log::Kafka(eventlog::KafkaLog::connect(kafka).expect("kafka"));
    let namespace = testenv::namespace();
    let kek = auth::Kek::generate();
    vox::admin::create_tenant(&log, &namespace, &tenant("acme"), "Acme", &region("eu"))
        .await
        .expect("tenant");
    vox::admin::create_collection(&log, &namespace, &tenant("acme"), &collection("nps-2026"), "NPS")
        .await
        .expect("collection");
    let issued = vox::admin::create_client(&log, &namespace, &kek, &tenant("acme"), "crm", &[])
        .await
        .expect("client");
    let acme = Tenant {
        client_id: issued.client_id,
        secret: issued.secret.expose().to_owned(),
    };

    let dir = tempfile::tempdir().expect("dir");
    let local = vox::serve::local_listeners(dir.path()).await.expect("listeners");
    let url = local.url.clone();
    let settings = ingest::IngestSettings::new(region("eu"), namespace.clone(), kek);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let node = tokio::spawn(ingest::run(local.listeners.ingest, local.tls, log, settings, async {
        let _ = stopped.await;
    }));
    let client = vox::push::client(Some(&local.ca_cert)).expect("client");
    let send = |external_id: &str| {
        let body = ndjson(&[item(external_id, "nps-2026")]);
        let nonce = auth::signing::new_nonce();
        let request = auth::signing::RequestToSign {
            timestamp: now(),
            nonce: &nonce,
            method: "POST",
            path: PATH,
            query: "",
            body: &body,
        };
        client
            .post(format!("{url}{PATH}"))
            .header("content-type", "application/x-ndjson")
            .header(
                "authorization",
                auth::signing::authorization(&acme.client_id, &acme.secret, &request),
            )
            .body(body)
            .send()
    };
    assert_eq!(send("before").await.expect("request").status().as_u16(), 200);

    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("admin");
    admin
        .delete_topics(&[&Topic::FeedbackRaw.name(&namespace)], &AdminOptions::new())
        .await
        .expect("delete the raw topic");
    let response = send("after").await.expect("request");
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").is_some();
    let body: Value = response.json().await.expect("json");
    assert_eq!((status, retry_after), (503, true), "{body}");
    assert_eq!(body["error"]["code"], "log_unavailable");
    assert!(body.get("results").is_none(), "no item is reported accepted");
    let _ = stop.send(());
    let _ = node.await;
}
