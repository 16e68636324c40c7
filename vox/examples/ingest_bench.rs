//! Ingest benchmark: signed batches of realistic items over HTTPS from
//! concurrent clients into an ingest node, compared in the same run with the
//! raw producer limit of the same Kafka broker (Kafka's own
//! `ProducerPerformance`, same record size, `acks=all`, idempotent).
//!
//! Run with `deploy/local/bench.sh` (starts Kafka, builds in release mode).
//! Options: `--items N` (per phase, default 100000), `--clients N` (default 8),
//! `--batch N` (items per batch, default 100).
//!
//! Phases, each on fresh topics:
//! 1. raw producer baseline (records/s);
//! 2. ingest on Kafka at full speed (items/s, p50/p99 batch latency);
//! 3. ingest on Kafka paced at half the measured peak (p50/p99);
//! 4. ingest on the embedded SQLite log at full speed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventlog::{KafkaLog, KafkaSettings, Log, SqliteLog};
use schemas::{CollectionId, Region, TenantId, Topic};

struct Args {
    items: usize,
    clients: usize,
    batch: usize,
}

fn args() -> Args {
    let mut a = Args {
        items: 100_000,
        clients: 8,
        batch: 100,
    };
    let usage = "usage: deploy/local/bench.sh [--items N (per phase, default 100000)] [--clients N (default 8)] \
                 [--batch N (items per batch, default 100)]";
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{usage}");
            std::process::exit(0);
        }
        let Some(value) = it.next().and_then(|v| v.parse().ok()).filter(|v: &usize| *v > 0) else {
            eprintln!("error: {flag} needs a positive number\n{usage}");
            std::process::exit(2);
        };
        match flag.as_str() {
            "--items" => a.items = value,
            "--clients" => a.clients = value,
            "--batch" => a.batch = value,
            _ => {
                eprintln!("error: unknown option {flag}\n{usage}");
                std::process::exit(2);
            }
        }
    }
    a
}

/// Texts of about 400 bytes in the four languages of the examples.
const TEXTS: [&str; 4] = [
    "Delivery was quick and the package arrived a day earlier than promised, which was great. The tracking link in the mobile app worked perfectly, but the invoice PDF would not open on my phone and I had to call customer service twice before someone could send it by email. The agent was friendly and competent. Please fix the app so I can see my invoices without calling.",
    "Toimitus oli nopea ja paketti tuli päivää luvattua aiemmin, mikä oli hienoa. Sovelluksen seurantalinkki toimi hyvin, mutta laskun PDF ei auennut puhelimessa ja jouduin soittamaan asiakaspalveluun kahdesti ennen kuin sain sen sähköpostiin. Asiakaspalvelija oli ystävällinen ja osaava. Korjatkaa sovellus, jotta laskut näkyvät ilman soittamista.",
    "Leveransen var snabb och paketet kom en dag tidigare än utlovat, vilket var toppen. Spårningslänken i mobilappen fungerade perfekt, men fakturans PDF gick inte att öppna i telefonen och jag fick ringa kundtjänst två gånger innan någon kunde skicka den via e-post. Handläggaren var vänlig och kunnig. Rätta appen så att jag kan se mina fakturor utan att ringa.",
    "Die Lieferung war schnell und das Paket kam einen Tag früher als versprochen, das war großartig. Der Tracking-Link in der App funktionierte perfekt, aber die Rechnung als PDF ließ sich auf dem Handy nicht öffnen und ich musste zweimal beim Kundenservice anrufen. Die Mitarbeiterin war freundlich und kompetent. Bitte reparieren Sie die App, damit ich Rechnungen ohne Anruf sehe.",
];
const LANGS: [&str; 4] = ["en", "fi", "sv", "de"];

fn batch_body(run: &str, batch: usize, size: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..size {
        let n = batch * size + i;
        let item = serde_json::json!({
            "external_id": format!("{run}-{n:08}"),
            "collection": "nps-2026",
            "occurred_at": "2026-11-03T09:14:22Z",
            "channel": "survey",
            "text": TEXTS[n % 4],
            "language": LANGS[n % 4],
            "metrics": [{"kind": "nps", "value": (n % 11) as f64, "scale": [0, 10]}],
            "respondent": format!("r-{:06x}", n % 50_000),
            "metadata": {"country": "FI", "plan": "business", "app_version": "4.12.1"},
            "tags": [{"name": "topic", "value": "delivery"}],
        });
        serde_json::to_writer(&mut body, &item).expect("serializes");
        body.push(b'\n');
    }
    body
}

struct Phase {
    name: String,
    items: usize,
    seconds: f64,
    latencies: Vec<Duration>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.items as f64 / self.seconds
    }
    fn percentile(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        l.get(((l.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    }
}

struct Target {
    url: String,
    ca: PathBuf,
    client_id: String,
    secret: String,
}

/// Sends `bodies` from `clients` concurrent clients; with `pace`, each
/// client sends one batch per `pace` interval.
async fn push(target: &Target, bodies: Vec<Vec<u8>>, clients: usize, items: usize, pace: Option<Duration>) -> Phase {
    let target = Arc::new((
        target.url.clone(),
        target.ca.clone(),
        target.client_id.clone(),
        target.secret.clone(),
    ));
    let queues: Vec<Vec<Vec<u8>>> = (0..clients)
        .map(|c| bodies.iter().skip(c).step_by(clients).cloned().collect())
        .collect();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, queue) in queues.into_iter().enumerate() {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let (url, ca, client_id, secret) = &*target;
            let http = vox::push::client(Some(ca)).expect("client");
            let mut latencies = Vec::new();
            // Spread paced clients over the interval.
            let start = Instant::now() + pace.map(|p| p * c as u32 / clients as u32).unwrap_or_default();
            for (i, body) in queue.into_iter().enumerate() {
                if let Some(p) = pace {
                    tokio::time::sleep_until((start + p * i as u32).into()).await;
                }
                let sent = Instant::now();
                let batch_url = format!("{url}/v1/feedback/batch");
                let nonce = auth::signing::new_nonce();
                let authorization = vox::push::authorization(client_id, secret, &batch_url, &nonce, &body, "");
                let response = http
                    .post(&batch_url)
                    .header("authorization", authorization)
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .await
                    .expect("request");
                let status = response.status();
                let text = response.text().await.expect("body");
                assert!(status.is_success(), "{status}: {text}");
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("client task"));
    }
    Phase {
        name: String::new(),
        items,
        seconds: started.elapsed().as_secs_f64(),
        latencies,
    }
}

/// Starts an ingest node on `log` and a tenant with a client.
async fn start_node(log: Log, namespace: &str, dir: &std::path::Path) -> (Target, tokio::sync::oneshot::Sender<()>) {
    let kek = auth::Kek::generate();
    let tenant = TenantId::parse("bench").expect("id");
    let region = Region::parse("eu").expect("region");
    vox::admin::create_tenant(&log, namespace, &tenant, "Bench Oy", &region)
        .await
        .expect("tenant");
    let collection = CollectionId::parse("nps-2026").expect("id");
    vox::admin::create_collection(&log, namespace, &tenant, &collection, "NPS")
        .await
        .expect("collection");
    let issued = vox::admin::create_client(&log, namespace, &kek, &tenant, "bench", &[])
        .await
        .expect("client");
    let local = vox::serve::local_listeners(&dir.join("tls")).await.expect("listeners");
    let mut settings = ingest::IngestSettings::new(region, namespace, kek);
    settings.rate_per_second = 1_000_000;
    settings.rate_burst = 1_000_000;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(ingest::run(local.listeners, local.tls, log, settings, async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(500)).await;
    (
        Target {
            url: local.url,
            ca: local.ca_cert,
            client_id: issued.client_id,
            secret: issued.secret.expose().to_owned(),
        },
        stop,
    )
}

/// Kafka's ProducerPerformance from the jars `deploy/local/services.sh`
/// fetched, with a full JIT: records/s.
fn raw_producer(brokers: &str, topic: &str, records: usize, record_size: usize) -> f64 {
    let state = std::env::var("VOX_LOCAL_DIR").unwrap_or_else(|_| "/var/tmp/vox-local".into());
    let output = std::process::Command::new("java")
        .args(["-Xmx512m", "-Djava.awt.headless=true"])
        .arg(format!(
            "-Dlog4j2.configurationFile={state}/kafka/config/tools-log4j2.xml"
        ))
        .arg("-cp")
        .arg(format!("{state}/kafka-4.4.0/libs/*"))
        .arg("org.apache.kafka.tools.ProducerPerformance")
        .args([
            "--topic",
            topic,
            "--num-records",
            &records.to_string(),
            "--record-size",
            &record_size.to_string(),
        ])
        .args(["--throughput", "-1", "--producer-props"])
        .arg(format!("bootstrap.servers={brokers}"))
        .args(["acks=all", "enable.idempotence=true", "linger.ms=5"])
        .output()
        .expect("run java (deploy/local/services.sh up fetches the Kafka jars)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.contains("records sent"))
        .unwrap_or_else(|| {
            panic!(
                "no summary from ProducerPerformance: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    println!("  ProducerPerformance: {last}");
    last.split(", ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .expect("records/sec in the summary")
}

fn kafka_log(brokers: &str) -> Log {
    Log::Kafka(KafkaLog::connect(KafkaSettings::single_broker(brokers)).expect("kafka"))
}

#[tokio::main]
async fn main() {
    let args = args();
    let brokers = std::env::var("VOX_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let batches = args.items.div_ceil(args.batch);
    let items = batches * args.batch;
    let run = format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "vox ingest benchmark: {items} items per phase, {} items per batch, {} clients, HTTPS + VOX2-HMAC-SHA256",
        args.batch, args.clients
    );

    // The size of one FeedbackReceived record as ingest writes it.
    let sample = batch_body(&run, 0, 1);
    let item: serde_json::Value = serde_json::from_slice(&sample).expect("json");
    let valid =
        ingest::validate::validate_item(&item, &Default::default(), time::OffsetDateTime::now_utc()).expect("valid");
    let record = schemas::FeedbackReceived {
        event_id: schemas::feedback_event_id("bench", "nps-2026", &valid.external_id),
        tenant_id: "bench".into(),
        collection: valid.collection.into(),
        external_id: valid.external_id,
        client_id: "vox_ci_0011223344556677".into(),
        region: "eu".into(),
        batch_id: uuid::Uuid::new_v4().to_string(),
        received_at: 0,
        item: valid.item,
    };
    let record_size = schemas::encode(&record).expect("encode").len();
    println!(
        "  one item: {} bytes of JSON, {record_size} bytes as an Avro record",
        sample.len()
    );

    // 1. Raw producer baseline on the same broker.
    let ns = format!("{run}.raw.");
    let log = kafka_log(&brokers);
    let topic = Topic::FeedbackRaw.name(&ns);
    log.ensure_topics(std::slice::from_ref(&topic)).await.expect("topic");
    let raw_rate = raw_producer(&brokers, &topic, items, record_size);

    // 2. Ingest on Kafka, full speed.
    let ns = format!("{run}.kafka.");
    let (target, stop) = start_node(kafka_log(&brokers), &ns, dir.path()).await;
    let bodies: Vec<Vec<u8>> = (0..batches)
        .map(|b| batch_body(&format!("{run}k"), b, args.batch))
        .collect();
    let mut peak = push(&target, bodies, args.clients, items, None).await;
    peak.name = "ingest → Kafka, full speed".into();
    let _ = stop.send(());

    // 3. Ingest on Kafka at half the peak rate.
    let ns = format!("{run}.half.");
    let (target, stop) = start_node(kafka_log(&brokers), &ns, dir.path()).await;
    let half_items = (items / 2).max(args.batch * args.clients);
    let half_batches = half_items.div_ceil(args.batch);
    let bodies: Vec<Vec<u8>> = (0..half_batches)
        .map(|b| batch_body(&format!("{run}h"), b, args.batch))
        .collect();
    let per_client_rate = peak.rate() / 2.0 / args.batch as f64 / args.clients as f64;
    let pace = Duration::from_secs_f64(1.0 / per_client_rate);
    let mut half = push(&target, bodies, args.clients, half_batches * args.batch, Some(pace)).await;
    half.name = format!("ingest → Kafka at half peak ({:.0} items/s offered)", peak.rate() / 2.0);
    let _ = stop.send(());

    // 4. Ingest on the embedded log.
    let sqlite = Log::Sqlite(SqliteLog::open(&dir.path().join("log.sqlite")).await.expect("sqlite"));
    let (target, stop) = start_node(sqlite, "", dir.path()).await;
    let bodies: Vec<Vec<u8>> = (0..batches)
        .map(|b| batch_body(&format!("{run}e"), b, args.batch))
        .collect();
    let mut embedded = push(&target, bodies, args.clients, items, None).await;
    embedded.name = "ingest → embedded SQLite, full speed".into();
    let _ = stop.send(());

    println!();
    println!("| phase | items/s | p50 batch | p99 batch |");
    println!("| --- | ---: | ---: | ---: |");
    println!("| raw producer (ProducerPerformance, {record_size} B records, acks=all) | {raw_rate:.0} | | |");
    for p in [&peak, &half, &embedded] {
        println!(
            "| {} | {:.0} | {:.1} ms | {:.1} ms |",
            p.name,
            p.rate(),
            p.percentile(0.5).as_secs_f64() * 1e3,
            p.percentile(0.99).as_secs_f64() * 1e3
        );
    }
    println!();
    println!(
        "ratio ingest/raw producer: {:.2} (target ≥ 0.50)",
        peak.rate() / raw_rate
    );
    println!(
        "p99 at half peak: {:.1} ms (target < 50 ms)",
        half.percentile(0.99).as_secs_f64() * 1e3
    );
    delete_topics(&brokers, &format!("{run}.")).await;
}

/// Deletes this run's topics, so that the local broker does not grow.
async fn delete_topics(brokers: &str, prefix: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let config = rdkafka::ClientConfig::new().set("bootstrap.servers", brokers).clone();
    let (Ok(admin), Ok(consumer)) = (
        config.create::<AdminClient<rdkafka::client::DefaultClientContext>>(),
        config.create::<BaseConsumer>(),
    ) else {
        return eprintln!("note: could not delete the benchmark's topics {prefix}*");
    };
    let names: Vec<String> = match consumer.fetch_metadata(None, Duration::from_secs(10)) {
        Ok(m) => m
            .topics()
            .iter()
            .map(|t| t.name().to_owned())
            .filter(|n| n.starts_with(prefix))
            .collect(),
        Err(_) => return eprintln!("note: could not list the benchmark's topics {prefix}*"),
    };
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    if admin.delete_topics(&refs, &AdminOptions::new()).await.is_err() {
        eprintln!("note: could not delete the benchmark's topics {prefix}*");
    }
}
