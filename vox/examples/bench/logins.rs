//! A login storm must not hurt ingest: one process running ingest and the
//! people API (as `vox serve`, embedded log), bcrypt at the default cost
//! 12. Ingest gets the same paced load twice, alone and while 8 tasks log
//! in as fast as the API lets them; the figure is ingest's p99 with the
//! storm against its p99 without, in the same run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventlog::{Log, SqliteLog};
use store::Store;

use crate::common::{self, ms, percentile, Report, Target};
use crate::{load, Args};

const PASSWORD: &str = "violet-tractor-harbour-91";
/// Items per second offered to ingest in both runs.
const OFFERED: f64 = 2_000.0;

pub async fn run(args: &Args, run: &str, dir: &std::path::Path, report: &mut Report) {
    let dir = dir.join("logins");
    std::fs::create_dir_all(&dir).expect("dir");
    let log = Log::Sqlite(SqliteLog::open(&dir.join("log.sqlite")).await.expect("log"));
    let store = Store::open_sqlite(&dir.join("store.sqlite")).await.expect("store");
    let kek = auth::Kek::generate();
    let (client_id, secret) = common::setup_tenant(&log, "", &kek).await;
    let manager = api::manage::Manager {
        log: &log,
        namespace: "",
        region: "eu",
        actor: api::manage::Actor::operator(),
    };
    let (_, invitation) = manager
        .invite(common::TENANT, "storm@bench.example", directory::Role::Analyst)
        .await
        .expect("invite");

    let local = vox::serve::local_listeners(&dir.join("tls")).await.expect("listeners");
    let region = schemas::Region::parse("eu").expect("region");
    let mut ingest = ingest::IngestSettings::new(region.clone(), "", kek.clone());
    ingest.rate_per_second = 1_000_000;
    ingest.rate_burst = 1_000_000;
    let mut people = api::ApiSettings::new(region, "", kek);
    people.login_per_minute = 1_000_000;
    let roles = vox::serve::Roles {
        log,
        store,
        ingest,
        api: people,
        auditor: auditor::AuditorSettings::new("", auditlog::SigningKey::generate("vox-bench").expect("key")),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let node = tokio::spawn(vox::serve::run_all(roles, local.listeners, local.tls, async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let http = vox::push::client(Some(&local.ca_cert)).expect("client");
    let accepted = http
        .post(format!("{}/v1/invitations/accept", local.api_url))
        .json(&serde_json::json!({"token": invitation.expose(), "password": PASSWORD}))
        .send()
        .await
        .expect("accept");
    assert!(accepted.status().is_success(), "accepting the invitation failed");

    let target = Target {
        url: local.url.clone(),
        ca: local.ca_cert.clone(),
        client_id,
        secret,
    };
    let items = args.items.max(args.batch * args.clients);
    let per_client = OFFERED / args.batch as f64 / args.clients as f64;
    let pace = Some(Duration::from_secs_f64(1.0 / per_client));
    let quiet = load::spawn_items(&target, args, &format!("{run}lq"), items, pace).await;

    let storming = Arc::new(AtomicBool::new(true));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut storm = Vec::new();
    for _ in 0..8 {
        let (http, url) = (http.clone(), format!("{}/v1/login", local.api_url));
        let (storming, ok, failed) = (storming.clone(), ok.clone(), failed.clone());
        storm.push(tokio::spawn(async move {
            let body =
                serde_json::json!({"tenant": common::TENANT, "email": "storm@bench.example", "password": PASSWORD});
            while storming.load(Ordering::Relaxed) {
                match http.post(&url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let started = Instant::now();
    let stormy = load::spawn_items(&target, args, &format!("{run}ls"), items, pace).await;
    let seconds = started.elapsed().as_secs_f64();
    storming.store(false, Ordering::Relaxed);
    for task in storm {
        let _ = task.await;
    }
    let _ = stop.send(());
    let _ = node.await;

    let (quiet_lat, stormy_lat) = (quiet.latencies(), stormy.latencies());
    let (p99_quiet, p99_storm) = (percentile(&quiet_lat, 0.99), percentile(&stormy_lat, 0.99));
    let logins = ok.load(Ordering::Relaxed);
    report.note(format!(
        "login storm (bcrypt cost 12, 8 clients, {:.1} logins/s, {} login errors) against ingest at {OFFERED:.0} items/s: \
         ingest p99 {} with the storm, {} without: {:.2}× (goal ≤ 1.5×); p50 {} vs {}; no ingest errors ({} batches each)",
        logins as f64 / seconds,
        failed.load(Ordering::Relaxed),
        ms(p99_storm),
        ms(p99_quiet),
        p99_storm.as_secs_f64() / p99_quiet.as_secs_f64().max(1e-9),
        ms(percentile(&stormy_lat, 0.5)),
        ms(percentile(&quiet_lat, 0.5)),
        stormy_lat.len(),
    ));
}
