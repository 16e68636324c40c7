//! What every phase shares: the items, the node under test, the report.

use std::path::{Path, PathBuf};
use std::time::Duration;

use eventlog::{KafkaLog, KafkaSettings, Log, Output};
use schemas::{CollectionId, FeedbackReceived, Region, TenantId, Topic};

/// Texts of about 400 bytes in the four languages of the examples.
const TEXTS: [&str; 4] = [
    "Delivery was quick and the package arrived a day earlier than promised, which was great. The tracking link in the mobile app worked perfectly, but the invoice PDF would not open on my phone and I had to call customer service twice before someone could send it by email. The agent was friendly and competent. Please fix the app so I can see my invoices without calling.",
    "Toimitus oli nopea ja paketti tuli päivää luvattua aiemmin, mikä oli hienoa. Sovelluksen seurantalinkki toimi hyvin, mutta laskun PDF ei auennut puhelimessa ja jouduin soittamaan asiakaspalveluun kahdesti ennen kuin sain sen sähköpostiin. Asiakaspalvelija oli ystävällinen ja osaava. Korjatkaa sovellus, jotta laskut näkyvät ilman soittamista.",
    "Leveransen var snabb och paketet kom en dag tidigare än utlovat, vilket var toppen. Spårningslänken i mobilappen fungerade perfekt, men fakturans PDF gick inte att öppna i telefonen och jag fick ringa kundtjänst två gånger innan någon kunde skicka den via e-post. Handläggaren var vänlig och kunnig. Rätta appen så att jag kan se mina fakturor utan att ringa.",
    "Die Lieferung war schnell und das Paket kam einen Tag früher als versprochen, das war großartig. Der Tracking-Link in der App funktionierte perfekt, aber die Rechnung als PDF ließ sich auf dem Handy nicht öffnen und ich musste zweimal beim Kundenservice anrufen. Die Mitarbeiterin war freundlich und kompetent. Bitte reparieren Sie die App, damit ich Rechnungen ohne Anruf sehe.",
];
const LANGS: [&str; 4] = ["en", "fi", "sv", "de"];

pub const TENANT: &str = "bench";
pub const COLLECTION: &str = "nps-2026";

/// Item `n` of run `run` as a client sends it.
pub fn item(run: &str, n: usize) -> serde_json::Value {
    serde_json::json!({
        "external_id": format!("{run}-{n:08}"),
        "collection": COLLECTION,
        "occurred_at": "2026-11-03T09:14:22Z",
        "channel": "survey",
        "text": TEXTS[n % 4],
        "language": LANGS[n % 4],
        "metrics": [{"kind": "nps", "value": (n % 11) as f64, "scale": [0, 10]}],
        "respondent": format!("r-{:06x}", n % 50_000),
        "metadata": {"country": "FI", "plan": "business", "app_version": "4.12.1"},
        "tags": [{"name": "topic", "value": "delivery"}],
    })
}

/// Batch `batch` of `size` items as an NDJSON body.
pub fn batch_body(run: &str, batch: usize, size: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..size {
        serde_json::to_writer(&mut body, &item(run, batch * size + i)).expect("serializes");
        body.push(b'\n');
    }
    body
}

/// Item `n` as ingest writes it to `vox.feedback.raw`, from `client`.
pub fn received(run: &str, n: usize, client: &str) -> Output {
    let valid = ingest::validate::validate_item(&item(run, n), &Default::default(), time::OffsetDateTime::now_utc())
        .expect("a valid item");
    let record = FeedbackReceived {
        event_id: schemas::feedback_event_id(TENANT, COLLECTION, &valid.external_id),
        tenant_id: TENANT.into(),
        collection: valid.collection.into(),
        external_id: valid.external_id,
        client_id: client.into(),
        region: "eu".into(),
        batch_id: "bench".into(),
        received_at: schemas::clock::now_micros(),
        item: valid.item,
    };
    Output {
        topic: String::new(),
        key: format!("{TENANT}/{}/{}", record.collection, record.external_id).into_bytes(),
        payload: schemas::encode(&record).expect("encode"),
    }
}

pub fn kafka_log(brokers: &str) -> Log {
    Log::Kafka(KafkaLog::connect(KafkaSettings::single_broker(brokers)).expect("kafka"))
}

/// The tenant, collection and client every phase uses, on `log`; the
/// client's id and secret.
pub async fn setup_tenant(log: &Log, namespace: &str, kek: &auth::Kek) -> (String, String) {
    let tenant = TenantId::parse(TENANT).expect("id");
    let region = Region::parse("eu").expect("region");
    log.ensure_topics(&Topic::ALL.iter().map(|t| t.name(namespace)).collect::<Vec<_>>())
        .await
        .expect("topics");
    vox::admin::create_tenant(log, namespace, &tenant, "Bench Oy", &region)
        .await
        .expect("tenant");
    let collection = CollectionId::parse(COLLECTION).expect("id");
    vox::admin::create_collection(log, namespace, &tenant, &collection, "NPS")
        .await
        .expect("collection");
    let issued = vox::admin::create_client(log, namespace, kek, &tenant, "bench", &[])
        .await
        .expect("client");
    (issued.client_id, issued.secret.expose().to_owned())
}

/// Where a load generator sends its batches.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Target {
    pub url: String,
    pub ca: PathBuf,
    pub client_id: String,
    pub secret: String,
}

/// Starts an ingest node on `log` with a tenant and a client of its own
/// (created under `namespace`); stop it with the returned sender.
pub async fn start_node(log: Log, namespace: &str, dir: &Path) -> (Target, tokio::sync::oneshot::Sender<()>) {
    let kek = auth::Kek::generate();
    let (client_id, secret) = setup_tenant(&log, namespace, &kek).await;
    let local = vox::serve::local_listeners(&dir.join("tls")).await.expect("listeners");
    let mut settings = ingest::IngestSettings::new(Region::parse("eu").expect("region"), namespace, kek);
    settings.rate_per_second = 1_000_000;
    settings.rate_burst = 1_000_000;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(ingest::run(local.listeners.ingest, local.tls, log, settings, async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(500)).await;
    (
        Target {
            url: local.url,
            ca: local.ca_cert,
            client_id,
            secret,
        },
        stop,
    )
}

/// CPU time (user + system) this process has used so far.
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of /proc/<pid>/stat; the list
    // here starts at field 3. Clock ticks are 100 per second on Linux.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

pub fn percentile(latencies: &[Duration], p: f64) -> Duration {
    let mut l = latencies.to_vec();
    l.sort();
    l.get(((l.len() as f64 * p).ceil() as usize).saturating_sub(1))
        .copied()
        .unwrap_or_default()
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// The figures of one run: one line per measurement, with its baseline.
#[derive(Default)]
pub struct Report {
    lines: Vec<[String; 6]>,
    notes: Vec<String>,
}

impl Report {
    /// A measurement of `rate` items/s against `baseline` (items/s) with a
    /// goal on their ratio.
    pub fn ratio(&mut self, what: &str, rate: f64, baseline_name: &str, baseline: f64, goal: &str, extra: &str) {
        self.lines.push([
            what.to_owned(),
            format!("{rate:.0}"),
            baseline_name.to_owned(),
            format!("{baseline:.0}"),
            format!("{:.2} ({goal})", rate / baseline),
            extra.to_owned(),
        ]);
    }

    pub fn note(&mut self, note: String) {
        println!("  {note}");
        self.notes.push(note);
    }

    pub fn print(&self) {
        println!();
        println!("| measured | items/s | baseline (same run) | baseline items/s | ratio (goal) | latency, CPU |");
        println!("| --- | ---: | --- | ---: | ---: | --- |");
        for l in &self.lines {
            println!("| {} | {} | {} | {} | {} | {} |", l[0], l[1], l[2], l[3], l[4], l[5]);
        }
        if !self.notes.is_empty() {
            println!();
            for n in &self.notes {
                println!("- {n}");
            }
        }
    }
}

/// Deletes this run's topics, so that the local broker does not grow.
pub async fn delete_topics(brokers: &str, prefix: &str) {
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
    if !refs.is_empty() && admin.delete_topics(&refs, &AdminOptions::new()).await.is_err() {
        eprintln!("note: could not delete the benchmark's topics {prefix}*");
    }
}
