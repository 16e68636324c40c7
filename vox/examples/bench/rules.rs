//! The tenant's rules and redaction in the processor: the processor on Kafka
//! with a 50-rule set and the default redaction against the same processor
//! with rules, built-in tags and redaction all off, on the same records;
//! and, per item, a 500-rule set against a 10-rule set.

use std::time::{Duration, Instant};

use eventlog::Log;
use schemas::{FeedbackItem, FeedbackReceived, TenantId, Topic};

use crate::common::{self, kafka_log, Report};
use crate::pipeline::{fill_raw, wait_committed};
use crate::Args;

/// Everything off: no rules, no built-in tags, no detectors.
const OFF: &str = r#"
[builtin]
nps_category = false
csat_bands = false
ces_bands = false
[redaction]
disable = ["email", "phone", "card", "iban", "fi_hetu", "se_personnummer", "ip"]
"#;

/// Words of the bench texts (and a few not in them) the first rules look for.
const WORDS: [&str; 20] = [
    "delivery",
    "invoice*",
    "toimitus*",
    "lasku*",
    "leverans*",
    "faktur*",
    "liefer*",
    "rechnung*",
    "refund",
    "password",
    "kirjautu*",
    "lösenord",
    "passwort",
    "crash*",
    "kaatu*",
    "krasch*",
    "absturz",
    "price*",
    "hinta*",
    "preis*",
];

/// A rule set of `n` rules as tenants write them: mostly phrase lists in
/// four languages, some combined with metrics or metadata, a few regular
/// expressions, and one rule in ten on metadata or metrics alone (evaluated
/// for every item). As in a real rule set, few rules fire on one item: the
/// first 20 look for words of the bench texts, the others for topics these
/// texts do not mention; so a 500-rule set tags an item as a 20-rule set
/// does, and the comparison measures matching, not output.
pub fn rule_set(n: usize) -> String {
    let mut doc = String::new();
    for i in 0..n {
        let word = WORDS
            .get(i)
            .map_or_else(|| format!("unmentioned{i}*"), |w| (*w).to_owned());
        let when = match i % 10 {
            0 => format!(
                "when.all = [{{ metric = {{ kind = \"nps\", max = {} }} }}, {{ metadata = {{ key = \"plan\", equals = \"{}\" }} }}]",
                i % 7,
                if i < WORDS.len() { "business" } else { "enterprise" }
            ),
            1 => format!("when.text_matches = '\\b(TKT|CASE)-{i}\\d{{3}}\\b'"),
            2 => format!(
                "when.all = [{{ text_contains = [\"{word}\", \"topic{i}\"] }}, {{ language = [\"fi\", \"sv\"] }}]"
            ),
            _ => format!(
                "when.text_contains = [\"{word}\", \"theme{i}a\", \"aihe{i}*\", \"ämne{i}\", \"thema{i}*\"]"
            ),
        };
        doc.push_str(&format!(
            "[[rule]]\nid = \"rule-{i}\"\n{when}\ntags = [{{ name = \"topic\", value = \"t{i}\" }}]\n\n"
        ));
    }
    doc
}

/// One raw record in ten carries personal data to redact.
fn with_personal_data(record: eventlog::Output, n: usize) -> eventlog::Output {
    if n % 10 != 0 {
        return record;
    }
    let mut received: FeedbackReceived = schemas::decode(&record.payload).expect("decode");
    if let Some(text) = &mut received.item.text {
        text.push_str(" Reach me at anna.virtanen@example.fi or +358 40 123 4567.");
    }
    eventlog::Output {
        payload: schemas::encode(&received).expect("encode"),
        ..record
    }
}

/// Runs the processor over `items` raw records of a namespace whose tenant
/// published `document`; items/s.
async fn processor_with(brokers: &str, ns: &str, run: &str, items: usize, document: &str) -> f64 {
    let log: Log = kafka_log(brokers);
    let (client, _) = common::setup_tenant(&log, ns, &auth::Kek::generate()).await;
    let tenant = TenantId::parse(common::TENANT).expect("id");
    vox::admin::publish_rules(&log, ns, &tenant, document, Some("bench"))
        .await
        .expect("publish");
    fill_raw(&log, ns, run, items, &client, with_personal_data).await;
    let settings = processor::ProcessorSettings::new(schemas::Region::parse("eu").expect("region"), ns);
    let group = settings.group.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let task = tokio::spawn(processor::run(kafka_log(brokers), settings, async {
        let _ = stopped.await;
    }));
    wait_committed(
        brokers,
        &group,
        &Topic::FeedbackRaw.name(ns),
        items,
        Duration::from_secs(1800),
    )
    .await;
    let rate = items as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(());
    task.await.expect("task").expect("processor");
    rate
}

/// Items/s of `apply` over `items` for about a second.
fn apply_rate(rules: &rules::RuleSet, items: &[FeedbackItem]) -> f64 {
    let started = Instant::now();
    let mut n = 0usize;
    while started.elapsed() < Duration::from_secs(1) {
        for item in items {
            let mut item = item.clone();
            std::hint::black_box(rules.apply(common::COLLECTION, &mut item));
            n += 1;
        }
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// Items/s of cloning the items alone (what `apply_rate` also pays).
fn clone_rate(items: &[FeedbackItem]) -> f64 {
    let started = Instant::now();
    let mut n = 0usize;
    while started.elapsed() < Duration::from_secs(1) {
        for item in items {
            std::hint::black_box(item.clone());
            n += 1;
        }
    }
    n as f64 / started.elapsed().as_secs_f64()
}

pub async fn run(args: &Args, brokers: &str, run: &str, report: &mut Report) {
    // The processor, rules off then on, alternating twice; the better of
    // each (the machine is shared).
    let fifty = rule_set(50);
    let (mut off, mut on) = (0f64, 0f64);
    for round in 0..2 {
        off = off.max(processor_with(brokers, &format!("{run}.rules-off{round}."), run, args.items, OFF).await);
        on = on.max(processor_with(brokers, &format!("{run}.rules-on{round}."), run, args.items, &fifty).await);
    }
    report.ratio(
        "processor on Kafka, 50 rules + default redaction",
        on,
        "the same processor, rules, built-in tags and redaction off",
        off,
        "goal ≥ 0.8",
        "",
    );

    // Per item: 500 rules against 10, on the bench's items (one in ten
    // with personal data).
    let items: Vec<FeedbackItem> = (0..1000)
        .map(|n| {
            let record = with_personal_data(common::received(run, n, "c"), n);
            schemas::decode::<FeedbackReceived>(&record.payload)
                .expect("decode")
                .item
        })
        .collect();
    let compile = |n: usize| {
        let started = Instant::now();
        let set = rules::RuleSet::compile(&rule_set(n), 1).expect("the generated rule set compiles");
        (set, started.elapsed())
    };
    let (ten, _) = compile(10);
    let tags = |set: &rules::RuleSet| {
        items
            .iter()
            .map(|i| set.apply(common::COLLECTION, &mut i.clone()).tags.len())
            .sum::<usize>() as f64
            / items.len() as f64
    };
    let (five_hundred, compiled_in) = compile(500);
    let off_set = rules::RuleSet::compile(OFF, 1).expect("compiles");
    let redaction_only = rules::RuleSet::compile("", 1).expect("compiles");
    let rate_10 = apply_rate(&ten, &items);
    let rate_500 = apply_rate(&five_hundred, &items);
    let (tags_10, tags_500) = (tags(&ten), tags(&five_hundred));
    report.ratio(
        "apply a 500-rule set + redaction, per item",
        rate_500,
        "a 10-rule set + redaction",
        rate_10,
        "goal ≥ 0.5",
        "",
    );
    let per = |rate: f64| 1e6 / rate;
    let (clone, nothing, redaction) = (
        per(clone_rate(&items)),
        per(apply_rate(&off_set, &items)),
        per(apply_rate(&redaction_only, &items)),
    );
    report.note(format!(
        "per item (µs, one core, ~400-byte texts, 1 in 10 with an e-mail and a phone number): clone {clone:.2}; \
         apply with everything off {nothing:.2}; built-in tags + redaction {redaction:.2}; 10 rules + redaction \
         {:.2}; 500 rules + redaction {:.2} (tags per item: {tags_10:.1} and {tags_500:.1}). Compiling the 500-rule \
         set: {} ms",
        per(rate_10),
        per(rate_500),
        compiled_in.as_millis()
    ));
}
