//! The hardening contract: no single record stops a role, unauthenticated
//! requests cost the node no body memory, bounded per-client resources,
//! corrections instead of silent drops, concurrent configuration writes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventlog::Output;
use schemas::{feedback_event_id, feedback_key, Topic};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Backend, Node};
use crate::{setup_tenant, Tenant};

fn item(external_id: &str, text: &str) -> Value {
    json!({"external_id": external_id, "collection": "nps", "occurred_at": "2026-11-01T10:00:00Z",
           "channel": "survey", "text": text})
}

async fn push(node: &Node, tenant: &Tenant, items: &[Value]) -> vox::push::PushSummary {
    let mut out = Vec::new();
    vox::push::push(&node.options(&tenant.client_id, &tenant.secret), items, &mut out)
        .await
        .expect("push")
}

fn received(tenant: &str, client: &str, external_id: &str, text: &str) -> schemas::FeedbackReceived {
    schemas::FeedbackReceived {
        event_id: feedback_event_id(tenant, "nps", external_id),
        tenant_id: tenant.into(),
        collection: "nps".into(),
        external_id: external_id.into(),
        client_id: client.into(),
        region: "eu".into(),
        batch_id: "injected".into(),
        received_at: 1_800_000_000_000_000,
        item: schemas::FeedbackItem {
            occurred_at: 1_790_000_000_000_000,
            channel: schemas::Channel::Survey,
            text: Some(text.into()),
            language: None,
            metrics: vec![],
            respondent: None,
            metadata: Default::default(),
            tags: vec![],
        },
    }
}

fn processed(r: schemas::FeedbackReceived) -> schemas::FeedbackProcessed {
    schemas::FeedbackProcessed {
        event_id: r.event_id,
        tenant_id: r.tenant_id,
        collection: r.collection,
        external_id: r.external_id,
        client_id: r.client_id,
        batch_id: r.batch_id,
        received_region: r.region.clone(),
        processed_region: r.region,
        received_at: r.received_at,
        processed_at: r.received_at,
        item: r.item,
        rule_set_version: Some(0),
        applied_tags: vec![],
        redactions: vec![],
    }
}

fn output<E: schemas::Event + serde::Serialize>(node: &Node, topic: Topic, external_id: &str, event: &E) -> Output {
    Output {
        topic: node.topic(topic),
        key: feedback_key("acme", "nps", external_id),
        payload: schemas::encode(event).expect("encode"),
    }
}

/// The store refuses rows with this external id (a CHECK constraint on
/// PostgreSQL, a trigger on SQLite): a real refusal by the database.
async fn make_store_refuse(node: &Node, external_id: &str) {
    match &node.store {
        store::Store::Postgres(pool) => {
            sqlx::query(&format!(
                "ALTER TABLE feedback ADD CONSTRAINT no_poison CHECK (external_id <> '{external_id}')"
            ))
            .execute(pool)
            .await
            .expect("constraint");
        }
        store::Store::Sqlite(pool) => {
            sqlx::query(&format!(
                "CREATE TRIGGER no_poison BEFORE INSERT ON feedback WHEN NEW.external_id = '{external_id}' \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"
            ))
            .execute(pool)
            .await
            .expect("trigger");
        }
    }
}

/// Poisoned records that bypassed ingest (a NUL in the text, written
/// straight into the raw and the processed topics, and a row the database
/// refuses) become rejections with their reasons; the items after them are
/// projected, for every tenant. Ingest itself refuses the NUL per item.
pub async fn poison_records_become_rejections(node: Node) {
    let acme = setup_tenant(&node, "acme", "eu", &["nps"]).await;
    let refused_by_ingest = push(&node, &acme, &[item("nul-at-ingest", "bad \u{0} text")]).await;
    assert_eq!((refused_by_ingest.accepted, refused_by_ingest.rejected), (0, 1));
    make_store_refuse(&node, "refused-by-store").await;

    let poison = received("acme", &acme.client_id, "poison-raw", "nul \u{0} inside");
    let fine = received("acme", &acme.client_id, "after-raw", "fine");
    node.log
        .append(vec![
            output(&node, Topic::FeedbackRaw, "poison-raw", &poison),
            output(&node, Topic::FeedbackRaw, "after-raw", &fine),
        ])
        .await
        .expect("inject raw");
    let poison_processed = processed(received("acme", &acme.client_id, "poison-processed", "nul \u{0}"));
    let refused = processed(received(
        "acme",
        &acme.client_id,
        "refused-by-store",
        "the store says no",
    ));
    let after = processed(received("acme", &acme.client_id, "after-processed", "fine"));
    node.log
        .append(vec![
            output(&node, Topic::FeedbackProcessed, "poison-processed", &poison_processed),
            output(&node, Topic::FeedbackProcessed, "refused-by-store", &refused),
            output(&node, Topic::FeedbackProcessed, "after-processed", &after),
        ])
        .await
        .expect("inject processed");
    // Two processor outputs, three injected processed records.
    node.wait_projected(5).await;

    let rows = node.rows("acme").await;
    let ids: Vec<&str> = rows.iter().map(|r| r.external_id.as_str()).collect();
    assert!(
        ids.contains(&"after-raw") && ids.contains(&"after-processed"),
        "the items after the poison are projected: {ids:?}"
    );
    assert_eq!(rows.len(), 2, "{ids:?}");
    let rejections = node.store.rejections("acme").await.expect("rejections");
    let mut reasons: Vec<(String, String)> = rejections
        .iter()
        .map(|r| (r.external_id.clone().unwrap_or_default(), r.reason_code.clone()))
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            ("poison-processed".to_owned(), "invalid_characters".to_owned()),
            ("poison-raw".to_owned(), "invalid_characters".to_owned()),
            ("refused-by-store".to_owned(), "store_refused".to_owned()),
        ],
        "{rejections:?}"
    );
    assert!(rejections.iter().all(|r| !r.reason.is_empty()));

    // The roles are still running: a later batch flows through.
    let later = push(&node, &acme, &[item("later", "still flowing")]).await;
    assert_eq!(later.accepted, 1);
    node.wait_projected(6).await;
    assert!(node.rows("acme").await.iter().any(|r| r.external_id == "later"));
    node.finish().await;
}

/// Resending an external id with other content is a correction: the read
/// model holds the newest version in log order (documented in README).
pub async fn resends_replace_earlier_versions(node: Node) {
    let acme = setup_tenant(&node, "acme", "eu", &["nps"]).await;
    // Tabs, line breaks and backslashes survive every path into the store
    // (PostgreSQL's COPY text format escapes them).
    const FIRST: &str = "first\tversion \\N with\na line break\r\n";
    assert_eq!(push(&node, &acme, &[item("fix-me", FIRST)]).await.accepted, 1);
    node.wait_projected(1).await;
    assert_eq!(
        push(&node, &acme, &[item("fix-me", "corrected version")])
            .await
            .accepted,
        1
    );
    node.wait_projected(2).await;
    let rows = node.rows("acme").await;
    assert_eq!(rows.len(), 1, "one row per item");
    assert_eq!(rows[0].text.as_deref(), Some("corrected version"));
    // Back to the first text: a third version, newest wins again.
    assert_eq!(push(&node, &acme, &[item("fix-me", FIRST)]).await.accepted, 1);
    node.wait_projected(3).await;
    let rows = node.rows("acme").await;
    assert_eq!(rows[0].text.as_deref(), Some(FIRST));

    // A rebuild projects all three versions in one step (PostgreSQL: one
    // statement per round of versions) and must end where the projector
    // did, version by version.
    let mut node = node;
    node.rebuild_read_models(3).await;
    assert_eq!(node.rows("acme").await, rows, "a rebuild yields the same row");
    node.finish().await;
}

/// Two rotations at once: both succeed, with different versions, and both
/// new secrets work (a write that lost the race read again and retried).
pub async fn concurrent_configuration_writes_are_not_lost(node: Node) {
    let acme = setup_tenant(&node, "acme", "eu", &["nps"]).await;
    let (tenant, client) = (crate::helpers::tenant("acme"), crate::helpers::client(&acme.client_id));
    let rotate = || vox::admin::rotate_client(&node.log, &node.namespace, &node.kek, &tenant, &client, None);
    let (a, b) = tokio::join!(rotate(), rotate());
    let (a, b) = (a.expect("first rotation"), b.expect("second rotation"));
    assert!(
        !format!("{a:?}").contains(a.secret.expose()),
        "an issued credential never prints its secret"
    );
    let mut versions = [a.secret_version, b.secret_version];
    versions.sort();
    assert_eq!(versions, [2, 3]);
    let client = vox::push::client(Some(&node.ca_cert)).expect("client");
    for issued in [a, b] {
        // Nodes pick up configuration changes within about a second.
        let options = node.options(&acme.client_id, issued.secret.expose());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let item = item(&format!("v{}", issued.secret_version), "x");
            match vox::push::send_batch(&client, &options, &[item]).await {
                Ok(answer) => {
                    assert_eq!(answer.accepted, 1);
                    break;
                }
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "secret version {} does not work: {e}",
                    issued.secret_version
                ),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    node.finish().await;
}

/// A TLS connection to the node, for requests whose body stalls.
async fn raw_tls(node: &Node) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_file(&node.ca_cert).expect("ca"))
        .expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let addr = node.url.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("127.0.0.1".try_into().expect("name"), tcp)
        .await
        .expect("handshake")
}

/// Sends a request head announcing `length` bytes and the first KiB of the
/// body, then stalls. Returns the stream and, if the node answered within
/// `wait`, its status line.
async fn stalled_request(
    node: &Node,
    authorization: Option<&str>,
    length: usize,
    wait: Duration,
) -> (tokio_rustls::client::TlsStream<tokio::net::TcpStream>, Option<String>) {
    let mut tls = raw_tls(node).await;
    let auth = authorization
        .map(|a| format!("authorization: {a}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /v1/feedback/batch HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-ndjson\r\n{auth}content-length: {length}\r\n\r\n"
    );
    tls.write_all(head.as_bytes()).await.expect("head");
    tls.write_all(&vec![b' '; 1024]).await.expect("first KiB");
    tls.flush().await.expect("flush");
    let mut answer = vec![0u8; 4096];
    let status = match tokio::time::timeout(wait, tls.read(&mut answer)).await {
        Ok(Ok(n)) if n > 0 => Some(String::from_utf8_lossy(&answer[..n]).into_owned()),
        _ => None,
    };
    (tls, status)
}

/// Requests are refused before their body is read when their header cannot
/// authenticate; a node's body memory is bounded, a client that finds none
/// left gets 503 at once, and memory comes back when a request ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_cost_memory_only_after_the_header_checks() {
    let node = Node::start_with(Backend::Embedded, |s| {
        s.body_memory = 600 * 1024;
        s.body_timeout = Duration::from_secs(60);
    })
    .await;
    let acme = setup_tenant(&node, "acme", "eu", &["nps"]).await;
    let quick = Duration::from_secs(3);
    let (_a, answer) = stalled_request(&node, None, 4 << 20, quick).await;
    let answer = answer.expect("no Authorization header: answered before the body arrives");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("missing_signature"), "{answer}");
    let made_up = format!(
        "VOX2-HMAC-SHA256 Credential=vox_ci_0123456789abcdef, Timestamp={}, Nonce=0123456789abcdef, Signature={}",
        time::OffsetDateTime::now_utc().unix_timestamp(),
        "00".repeat(32)
    );
    let (_b, answer) = stalled_request(&node, Some(&made_up), 4 << 20, quick).await;
    let answer = answer.expect("an unknown client: answered before the body arrives");
    assert!(
        answer.starts_with("HTTP/1.1 401") && answer.contains("bad_signature"),
        "{answer}"
    );

    // A known client id and a fresh timestamp pass the header checks; two
    // such stalled bodies of 400 KiB do not fit into 600 KiB.
    let claim = |nonce: &str| {
        format!(
            "VOX2-HMAC-SHA256 Credential={}, Timestamp={}, Nonce={nonce}, Signature={}",
            acme.client_id,
            time::OffsetDateTime::now_utc().unix_timestamp(),
            "00".repeat(32)
        )
    };
    let (first, answer) = stalled_request(
        &node,
        Some(&claim("nonce-aaaaaaaaaaaaaaaa")),
        400 * 1024,
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(answer, None, "the first body is being read");
    let (_c, answer) = stalled_request(&node, Some(&claim("nonce-bbbbbbbbbbbbbbbb")), 400 * 1024, quick).await;
    let answer = answer.expect("no memory left: answered at once");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("overloaded") && answer.to_ascii_lowercase().contains("retry-after"),
        "{answer}"
    );
    // A body that ends before its declared length is told so.
    let (mut short, _) = stalled_request(
        &node,
        Some(&claim("nonce-cccccccccccccccc")),
        2048,
        Duration::from_millis(100),
    )
    .await;
    short.shutdown().await.expect("close the sending side");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(quick, short.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains("body_incomplete"),
        "{answer}"
    );
    drop(first);
    // The first request's memory comes back once its connection is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let summary = push(&node, &acme, &[item("after-stall", "fine")]).await;
        if summary.accepted == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "memory came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    node.finish().await;
}

/// One address cannot hold every connection: past its limit its new
/// connections are closed at once, while another address is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_limited_per_address() {
    let node = Node::start_with(Backend::Embedded, |s| s.server.max_connections_per_address = 4).await;
    let acme = setup_tenant(&node, "acme", "eu", &["nps"]).await;
    let addr = node.url.trim_start_matches("https://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fifth = tokio::net::TcpStream::connect(&addr).await.expect("the kernel accepts");
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(3), fifth.read(&mut byte)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the fifth connection from one address is closed at once: {closed:?}"
    );
    // 127.0.0.2 is another address on the loopback interface.
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&node.ca_cert).expect("ca")).expect("pem"))
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let started = Instant::now();
    let status = client
        .get(format!("{}/healthz", node.url))
        .send()
        .await
        .expect("another address is served")
        .status();
    assert_eq!(status.as_u16(), 200);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    drop(idle);
    let _ = acme;
    node.finish().await;
}

/// A node whose configuration refreshes fail stops accepting batches past
/// the maximum staleness, and says it is not ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_configuration_is_refused() {
    let node = Node::start_with(Backend::Embedded, |s| {
        s.config_refresh = Duration::from_secs(3600);
        s.max_staleness = Duration::from_millis(300);
    })
    .await;
    let acme = setup_tenant(&node, "acme", "eu", &["nps"]).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let options = node.options(&acme.client_id, &acme.secret);
    let client = vox::push::client(Some(&node.ca_cert)).expect("client");
    let mut options_once = options.clone();
    options_once.batch_size = 1;
    let err = vox::push::send_batch(&client, &options_once, &[item("stale", "x")])
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("config_stale"), "{err}");
    let ready = client
        .get(format!("{}/readyz", node.ops_url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status().as_u16(), 503);
    assert!(ready.text().await.expect("text").contains("stale"));
    assert_eq!(node.raw_count().await, 0);
    node.finish().await;
}

/// With an ops token, `/metrics` needs it; health and readiness stay open.
/// Every documented series without a per-client label exists from start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ops_token_protects_metrics() {
    let node = Node::start_with(Backend::Embedded, |s| {
        s.ops_token = Some(auth::Secret::new("t0ken-for-tests"))
    })
    .await;
    let client = vox::push::client(Some(&node.ca_cert)).expect("client");
    let get = |path: &str, token: Option<&str>| {
        let mut r = client.get(format!("{}{path}", node.ops_url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(get("/metrics", None).await.expect("metrics").status().as_u16(), 401);
    assert_eq!(
        get("/metrics", Some("wrong")).await.expect("metrics").status().as_u16(),
        401
    );
    let metrics = get("/metrics", Some("t0ken-for-tests")).await.expect("metrics");
    assert_eq!(metrics.status().as_u16(), 200);
    let text = metrics.text().await.expect("text");
    for series in [
        "vox_audit_records_dropped_total",
        "vox_ingest_bytes_received_total",
        "vox_ingest_in_flight_items",
        "vox_log_producer_queue_depth",
        "vox_ingest_connections_refused_total",
        "vox_ingest_body_memory_bytes",
        "vox_ingest_config_age_seconds",
        "vox_ingest_requests_total{status=\"200\",code=\"ok\"}",
        "vox_ingest_items_total{outcome=\"accepted\",reason=\"\"}",
        "vox_ingest_request_duration_seconds",
        "vox_ingest_log_append_duration_seconds",
    ] {
        assert!(text.contains(series), "{series} is there from the start:\n{text}");
    }
    assert_eq!(get("/healthz", None).await.expect("healthz").status().as_u16(), 200);
    // Ready once every role has started (the processor and the projector too).
    node.wait_ready().await;
    assert_eq!(get("/readyz", None).await.expect("readyz").status().as_u16(), 200);
    node.finish().await;
}

/// Refused requests are tallied: a flood of bad signatures with huge
/// headers makes one small audit record with a count, not one per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_are_tallied_in_the_audit_log() {
    let node = Node::start(Backend::Embedded).await;
    let acme = setup_tenant(&node, "acme", "eu", &["nps"]).await;
    let client = vox::push::client(Some(&node.ca_cert)).expect("client");
    let huge = format!(
        "VOX2-HMAC-SHA256 Credential={}, Timestamp=1, Nonce=0123456789abcdef, Signature={}",
        "a".repeat(200_000),
        "00".repeat(32)
    );
    for _ in 0..20 {
        let status = client
            .post(format!("{}/v1/feedback/batch", node.url))
            .header("authorization", &huge)
            .header("content-type", "application/x-ndjson")
            .body("{}\n")
            .send()
            .await
            .expect("request")
            .status();
        assert_eq!(status.as_u16(), 401);
    }
    let mut forged = node.options(&acme.client_id, &acme.secret);
    forged.client_secret = auth::Secret::new(auth::new_secret());
    for i in 0..5 {
        let err = vox::push::send_batch(&client, &forged, &[item(&format!("f{i}"), "x")]).await;
        assert!(err.is_err());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let records = loop {
        let raw = node.log.read_all(&node.topic(Topic::Audit)).await.expect("audit");
        let records: Vec<(usize, schemas::AuditRecord)> = raw
            .iter()
            .map(|r| (r.payload.len(), schemas::decode(&r.payload).expect("record")))
            .collect();
        let counted: u64 = records
            .iter()
            .filter_map(|(_, r)| r.details.get("count").and_then(|c| c.parse::<u64>().ok()))
            .sum();
        if counted >= 25 || Instant::now() > deadline {
            break records;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let malformed: Vec<_> = records
        .iter()
        .filter(|(_, r)| r.details.get("code").map(String::as_str) == Some("malformed_authorization"))
        .collect();
    assert_eq!(malformed.len(), 1, "one tally for the flood: {records:?}");
    assert_eq!(malformed[0].1.details.get("count").map(String::as_str), Some("20"));
    assert!(malformed[0].0 < 1024, "a small record: {} bytes", malformed[0].0);
    assert_eq!(malformed[0].1.actor_id, "anonymous");
    let forged_tally = records
        .iter()
        .find(|(_, r)| r.details.get("code").map(String::as_str) == Some("bad_signature"))
        .expect("a tally of the bad signatures");
    assert_eq!(forged_tally.1.details.get("count").map(String::as_str), Some("5"));
    assert_eq!(
        forged_tally.1.details.get("claimed_client").map(String::as_str),
        Some(acme.client_id.as_str()),
        "a claimed id of the valid form is kept, as a claim"
    );
    node.finish().await;
}

/// A request refused by the rate limit leaves no nonce: the same signed
/// request is accepted once the client is within its rate again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_requests_do_not_use_up_their_nonce() {
    let node = Node::start_with(Backend::Embedded, |s| {
        s.rate_per_second = 1;
        s.rate_burst = 1;
    })
    .await;
    let acme = setup_tenant(&node, "acme", "eu", &["nps"]).await;
    let client = vox::push::client(Some(&node.ca_cert)).expect("client");
    let body = b"{\"external_id\":\"n-1\",\"collection\":\"nps\",\"occurred_at\":\"2026-11-01T10:00:00Z\",\"channel\":\"survey\",\"text\":\"x\"}\n".to_vec();
    let url = format!("{}/v1/feedback/batch", node.url);
    let send = |nonce: String| {
        let body = body.clone();
        let authorization = vox::push::authorization(&acme.client_id, &acme.secret, &url, &nonce, &body, "");
        client
            .post(&url)
            .header("content-type", "application/x-ndjson")
            .header("authorization", authorization)
            .body(body)
            .send()
    };
    let nonces: Vec<String> = (0..10).map(|_| auth::signing::new_nonce()).collect();
    let mut limited = None;
    for nonce in &nonces {
        let status = send(nonce.clone()).await.expect("request").status().as_u16();
        if status == 429 {
            limited = Some(nonce.clone());
            break;
        }
        assert_eq!(status, 200);
    }
    let nonce = limited.expect("a request over the rate is refused");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = send(nonce).await.expect("request");
    assert_eq!(
        again.status().as_u16(),
        200,
        "the nonce of a rate-limited request is still unused: {}",
        again.text().await.unwrap_or_default()
    );
    node.finish().await;
}

/// The deprecated `VOX1` scheme is still accepted (see README for its end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vox1_scheme_is_still_accepted() {
    let node = Node::start(Backend::Embedded).await;
    let acme = setup_tenant(&node, "acme", "eu", &["nps"]).await;
    let client = vox::push::client(Some(&node.ca_cert)).expect("client");
    let body = b"{\"external_id\":\"v1\",\"collection\":\"nps\",\"occurred_at\":\"2026-11-01T10:00:00Z\",\"channel\":\"survey\",\"text\":\"x\"}\n".to_vec();
    let nonce = auth::signing::new_nonce();
    let request = auth::signing::RequestToSign {
        timestamp: time::OffsetDateTime::now_utc().unix_timestamp(),
        nonce: &nonce,
        method: "POST",
        path: "/v1/feedback/batch",
        query: "",
        body: &body,
    };
    let response = client
        .post(format!("{}/v1/feedback/batch", node.url))
        .header("content-type", "application/x-ndjson")
        .header(
            "authorization",
            auth::signing::authorization(&acme.client_id, &acme.secret, &request),
        )
        .body(body.clone())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    node.finish().await;
}
