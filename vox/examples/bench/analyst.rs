//! The analyst API's permission-filtered queries (`--only analyst`): `--items`
//! items in one tenant (and a twentieth as many in a second, so that the
//! tenant predicate has something to exclude), written straight into a fresh
//! store through `Store::apply` in 5,000-row steps, on PostgreSQL and on
//! SQLite. For 200 users with varied grants: p50 and p99 of the list's first
//! page, of a page deep in the list, of an aggregate by month and of a text
//! search, each against the same query with no permission filter beyond the
//! tenant (the baseline), the two run interleaved so that drift hits both
//! alike (the pages and text searches in five rounds over the users, the
//! aggregates in the first); export rows/s against the baseline's export; the plans (EXPLAIN)
//! of representative users and of the baseline.
//!
//! On PostgreSQL the tables are vacuumed and analysed after loading (as
//! autovacuum leaves them). The store connects as the tables' owner, which
//! row-level security does not bind; the text search is measured once more
//! through a
//! role that it binds (the policy `vox_api` has in
//! `deploy/postgres/roles.sql`), because under it PostgreSQL may not use the
//! GIN index for `@@` (the operator is not leakproof).
//!
//! With `VOX_BENCH_KEEP=1` the PostgreSQL database and the SQLite file are
//! kept (their names are printed) for trying plans by hand.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use access::{Access, Filter, Grant, GroupBy, Position, TagRef};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use store::{FeedbackRow, OffsetMove, Projection, Store};

use crate::common::{percentile, Report};
use crate::Args;

const TENANT: &str = "analyst";
/// The second, small tenant: a twentieth of the items.
const OTHER: &str = "analyst-other";
const USERS: usize = 200;
/// Rows per projection step.
const STEP: usize = 5_000;
const PAGE: usize = 50;
/// The deep page starts after about this many rows of the user's list.
const DEPTH: usize = 5_000;
const RESTRICTED: [&str; 2] = ["hr", "confidential"];
/// In about a quarter of the items (English ones, stemmed: "deliveries").
const COMMON_WORD: &str = "delivery";
/// In about one item in 1,700.
const RARE_WORD: &str = "locker";
const SEED: u64 = 0x0a4a_1157;
const DAY: i64 = 86_400_000_000;
/// 2025-01-01T00:00:00Z; the items span two years from there.
const START: i64 = 1_735_689_600_000_000;
const SPAN: i64 = 730 * DAY;

/// Collection, channel and weight (per cent of the items).
const COLLECTIONS: [(&str, &str, u32); 10] = [
    ("nps-2026", "survey", 22),
    ("csat-support", "support_ticket", 14),
    ("app-reviews", "review", 12),
    ("web-chat", "chat", 10),
    ("email-inbox", "email", 9),
    ("store-survey", "survey", 9),
    ("delivery-followup", "survey", 8),
    ("social-mentions", "social", 6),
    ("b2b-accounts", "email", 5),
    ("employee-pulse", "other", 5),
];
const STORES: usize = 50;
const TOPICS: [&str; 20] = [
    "delivery",
    "billing",
    "app",
    "website",
    "staff",
    "price",
    "quality",
    "returns",
    "stock",
    "waiting-time",
    "cleanliness",
    "parking",
    "opening-hours",
    "loyalty",
    "payment",
    "packaging",
    "product-range",
    "accessibility",
    "noise",
    "other",
];
const HR: [&str; 4] = ["complaint", "harassment", "praise", "pay"];

const ENGLISH: [&str; 16] = [
    "The delivery was two days late and nobody told me why.",
    "Fast delivery and the parcel was well packed.",
    "Deliveries to our office are always on time.",
    "The staff in the store were friendly and helpful.",
    "I waited twenty minutes at the checkout.",
    "The app crashed when I tried to pay.",
    "Prices have gone up again this month.",
    "Great selection of products, I found everything I needed.",
    "The invoice was wrong and support fixed it quickly.",
    "Please bring back the old loyalty programme.",
    "The store was clean but the parking lot was full.",
    "Home delivery is the main reason I shop here.",
    "My order arrived damaged and the refund took weeks.",
    "Customer service answered my chat within a minute.",
    "The opening hours on the website are not correct.",
    "Returning the shoes was easy and free.",
];
const FINNISH: [&str; 16] = [
    "Toimitus myöhästyi kaksi päivää eikä kukaan kertonut syytä.",
    "Nopea toimitus ja paketti oli hyvin pakattu.",
    "Toimitukset toimistollemme tulevat aina ajallaan.",
    "Myymälän henkilökunta oli ystävällistä ja avuliasta.",
    "Jonotin kassalla kaksikymmentä minuuttia.",
    "Sovellus kaatui, kun yritin maksaa.",
    "Hinnat ovat taas nousseet tässä kuussa.",
    "Hyvä valikoima, löysin kaiken mitä tarvitsin.",
    "Lasku oli väärin, mutta asiakaspalvelu korjasi sen nopeasti.",
    "Tuokaa vanha kanta-asiakasohjelma takaisin.",
    "Myymälä oli siisti, mutta parkkipaikka oli täynnä.",
    "Kotiinkuljetus on tärkein syy asioida täällä.",
    "Tilaukseni saapui rikki ja hyvityksessä kesti viikkoja.",
    "Asiakaspalvelu vastasi chattiin minuutissa.",
    "Verkkosivujen aukioloajat eivät pidä paikkaansa.",
    "Kenkien palautus oli helppoa ja ilmaista.",
];
const RARE_SENTENCE: &str = "The parcel locker code never arrived by text message.";

/// How many times each user's pages and text search are timed (rounds over
/// all users): their p99 is then the 10th slowest of 1,000 rather than the
/// 3rd slowest of 200, which one stall of a few milliseconds (anything else
/// on the machine) decides. The aggregates, of a second each, are timed once.
const ROUNDS: usize = 5;
/// The figure timed only in the first round.
const AGGREGATE: usize = 2;

/// The figures, in the order they are measured for each user.
const FIGURES: [&str; 4] = [
    "list, first page (50)",
    "list, page after row ~5,000",
    "aggregate by month",
    "text search \"delivery\" (50)",
];

pub async fn run(args: &Args, dir: &Path, report: &mut Report) {
    let items = args.items;
    let users = users();
    let keep = std::env::var("VOX_BENCH_KEEP").is_ok_and(|v| v == "1");
    println!(
        "analyst: {items} items in tenant {TENANT} and {} in {OTHER}; {USERS} users; restricted tags {RESTRICTED:?}",
        items / 20
    );

    let db = testenv::TestDatabase::create().await;
    let store = Store::connect_postgres(&db.url).await.expect("store");
    load(&store, items, "PostgreSQL").await;
    if let Store::Postgres(pool) = &store {
        // As autovacuum leaves a table that has been written for a while:
        // statistics, and the visibility map that index-only scans need.
        sqlx::query("VACUUM ANALYZE")
            .execute(pool)
            .await
            .expect("VACUUM ANALYZE");
        let sizes: (String, String) = sqlx::query_as(
            "SELECT pg_size_pretty(pg_total_relation_size('feedback')), \
             pg_size_pretty(pg_total_relation_size('feedback_tags'))",
        )
        .fetch_one(pool)
        .await
        .expect("sizes");
        println!(
            "  PostgreSQL: feedback {}, feedback_tags {} (with indexes)",
            sizes.0, sizes.1
        );
    }
    let depths = find_depths(&store, "PostgreSQL", &users).await;
    figures(&store, "PostgreSQL", &users, &depths, report).await;
    exports(&store, "PostgreSQL", &users, report).await;
    plans(&store, "PostgreSQL", &users).await;
    let role = row_level_security(&db, &store, &users, report).await;
    if let Store::Postgres(pool) = store {
        pool.close().await;
    }
    if keep {
        println!("  kept (VOX_BENCH_KEEP=1): PostgreSQL database {}", db.url);
    } else {
        db.drop_now().await;
    }
    drop_role(&role).await;

    let path = match keep {
        true => std::env::temp_dir().join("vox-bench-analyst.sqlite"),
        false => dir.join("analyst.sqlite"),
    };
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let store = Store::open_sqlite(&path).await.expect("sqlite store");
    load(&store, items, "SQLite").await;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or_default();
    println!("  SQLite: {} MB file (no ANALYZE: the store never runs it)", size >> 20);
    let depths = find_depths(&store, "SQLite", &users).await;
    figures(&store, "SQLite", &users, &depths, report).await;
    exports(&store, "SQLite", &users, report).await;
    plans(&store, "SQLite", &users).await;
    if let Store::Sqlite(pool) = store {
        pool.close().await;
    }
    if keep {
        println!("  kept (VOX_BENCH_KEEP=1): SQLite file {}", path.display());
        return;
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

// ------------------------------------------------------------------ data ----

/// Writes the items through `Store::apply` as the projector would: steps of
/// about 5,000 rows, each moving a (fake) offset. The rows are made on a
/// blocking thread while the step before is written.
async fn load(store: &Store, items: usize, backend: &str) {
    let (sender, mut steps) = tokio::sync::mpsc::channel::<Vec<FeedbackRow>>(2);
    let generator = tokio::task::spawn_blocking(move || generate(items, &sender));
    let started = Instant::now();
    let mut offset = 0;
    while let Some(feedback) = steps.recv().await {
        let to = offset + feedback.len() as i64;
        let step = Projection {
            feedback,
            rejections: Vec::new(),
            offsets: vec![OffsetMove {
                topic: "bench.analyst".into(),
                partition: 0,
                from: offset,
                to,
            }],
        };
        store.apply("bench-analyst", &step).await.expect("a projection step");
        offset = to;
    }
    generator.await.expect("generator");
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "  {backend}: loaded {offset} rows in {seconds:.1} s ({:.0} rows/s)",
        offset as f64 / seconds
    );
}

/// The steps: the main tenant's items in time order, with the second
/// tenant's of the same time range mixed in.
fn generate(items: usize, steps: &tokio::sync::mpsc::Sender<Vec<FeedbackRow>>) {
    let mut rng = StdRng::seed_from_u64(SEED);
    let others = items / 20;
    let mut n = 0;
    while n < items {
        let end = (n + STEP).min(items);
        let mut rows: Vec<FeedbackRow> = (n..end).map(|i| item(TENANT, i, items, &mut rng)).collect();
        for j in n.div_ceil(20)..end.div_ceil(20).min(others) {
            rows.push(item(OTHER, j * 20, items, &mut rng));
        }
        if steps.blocking_send(rows).is_err() {
            return;
        }
        n = end;
    }
}

fn tag(name: &str, value: &str, source: &str) -> serde_json::Value {
    let rule = (source == "rule").then_some("builtin");
    serde_json::json!({"name": name, "value": value, "source": source, "rule_id": rule, "rule_version": null})
}

fn store_name(i: usize) -> String {
    format!("st-{i:02}")
}

/// Item number `n` of `total`: its time is its place in the two years, plus
/// up to three days (late senders).
fn item(tenant: &str, n: usize, total: usize, rng: &mut StdRng) -> FeedbackRow {
    let mut pick = rng.random_range(0..100);
    let (collection, channel, _) = COLLECTIONS
        .iter()
        .find(|(_, _, weight)| {
            let here = pick < *weight;
            pick = pick.saturating_sub(*weight);
            here
        })
        .copied()
        .unwrap_or(COLLECTIONS[0]);
    let external_id = format!("x{n:08}");
    let occurred_at = START + (n as f64 / total.max(1) as f64 * SPAN as f64) as i64 + rng.random_range(0..3 * DAY);

    let finnish = rng.random_bool(0.4);
    let language = match (finnish, rng.random_bool(0.1)) {
        (true, false) => "fi",
        (true, true) => "fi-FI",
        (false, false) => "en",
        (false, true) => "en-GB",
    };
    let text = rng.random_bool(0.95).then(|| {
        let vocabulary = if finnish { &FINNISH } else { &ENGLISH };
        let mut sentences: Vec<&str> = (0..rng.random_range(1..=3))
            .map(|_| vocabulary[rng.random_range(0..vocabulary.len())])
            .collect();
        if !finnish && rng.random_bool(0.001) {
            sentences.push(RARE_SENTENCE);
        }
        sentences.join(" ")
    });

    let mut metrics = Vec::new();
    let mut tags = Vec::new();
    if rng.random_bool(0.7) {
        let class = rng.random::<f64>();
        let nps = match class {
            c if c < 0.3 => rng.random_range(0..=6),
            c if c < 0.6 => rng.random_range(7..=8),
            _ => rng.random_range(9..=10),
        };
        metrics.push(serde_json::json!({"kind": "nps", "value": f64::from(nps), "scale": [0.0, 10.0]}));
        let band = match nps {
            0..=6 => "detractor",
            7..=8 => "passive",
            _ => "promoter",
        };
        tags.push(tag("nps", band, "rule"));
    }
    if rng.random_bool(0.4) {
        let csat = rng.random_range(1..=5);
        metrics.push(serde_json::json!({"kind": "csat", "value": f64::from(csat), "scale": [1.0, 5.0]}));
    }
    if rng.random_bool(0.1) {
        let ces = rng.random_range(1..=7);
        metrics.push(serde_json::json!({"kind": "ces", "value": f64::from(ces), "scale": [1.0, 7.0]}));
    }
    if rng.random_bool(0.9) {
        // Skewed: the first stores are the big ones.
        let store = (rng.random::<f64>().powf(1.5) * STORES as f64) as usize;
        tags.push(tag("store", &store_name(store.min(STORES - 1)), "client"));
    }
    if rng.random_bool(0.95) {
        tags.push(tag("topic", TOPICS[rng.random_range(0..TOPICS.len())], "client"));
        if rng.random_bool(0.25) {
            tags.push(tag("topic", TOPICS[rng.random_range(0..TOPICS.len())], "rule"));
        }
    }
    if rng.random_bool(0.02) {
        tags.push(tag("hr", HR[rng.random_range(0..HR.len())], "rule"));
    }
    if rng.random_bool(0.01) {
        tags.push(tag("confidential", "yes", "client"));
    }
    let countries = ["FI", "SE", "EE", "DE"];
    FeedbackRow {
        tenant_id: tenant.into(),
        collection: collection.into(),
        event_id: schemas::feedback_event_id(tenant, collection, &external_id),
        external_id,
        client_id: "vox_ci_0011223344556677".into(),
        batch_id: format!("b{}", n / 100),
        channel: channel.into(),
        occurred_at,
        text,
        language: Some(language.into()),
        metrics: serde_json::Value::Array(metrics),
        respondent: Some(format!("r-{:06x}", rng.random_range(0..200_000))),
        metadata: serde_json::json!({
            "country": countries[rng.random_range(0..countries.len())],
            "plan": if rng.random_bool(0.3) { "business" } else { "consumer" },
            "app_version": "4.12.1",
        }),
        tags: serde_json::Value::Array(tags),
        received_region: "eu".into(),
        processed_region: "eu".into(),
        received_at: occurred_at + 2_000_000,
        processed_at: occurred_at + 2_500_000,
    }
}

// ----------------------------------------------------------------- users ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// 40%: one collection, 1–3 store tags.
    CollectionStores,
    /// 20%: every collection, one topic tag.
    AllTopic,
    /// 15%: two to four collections, no tag filter.
    Collections,
    /// 10%: every collection, no tag filter (restricted tags hidden).
    Everything,
    /// 10%: every collection filtered by `hr` (sees HR items), and one
    /// collection unfiltered.
    HrNamed,
    /// 5%: every collection, 20 store tags.
    ManyStores,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::CollectionStores => "1 collection + 1–3 store tags",
            Kind::AllTopic => "all collections + 1 topic tag",
            Kind::Collections => "2–4 collections, no tags",
            Kind::Everything => "all collections, no tags",
            Kind::HrNamed => "hr named + 1 collection",
            Kind::ManyStores => "all collections + 20 store tags",
        }
    }
}

struct User {
    kind: Kind,
    access: Access,
}

fn grant(collection: Option<&str>, tags: &[String]) -> Grant {
    Grant {
        collection: collection.map(str::to_owned),
        export: true,
        tags: tags
            .iter()
            .map(|t| TagRef::parse(t).expect("the benchmark's tags are valid"))
            .collect(),
    }
}

/// The 200 users, the kinds interleaved (each run of 20 users has every
/// kind in its share).
fn users() -> Vec<User> {
    let mut rng = StdRng::seed_from_u64(SEED + 1);
    let collection = |rng: &mut StdRng| COLLECTIONS[rng.random_range(0..COLLECTIONS.len())].0;
    let stores = |rng: &mut StdRng, n: usize| {
        let mut picked: Vec<String> = Vec::new();
        while picked.len() < n {
            let s = format!("store:{}", store_name(rng.random_range(0..STORES)));
            if !picked.contains(&s) {
                picked.push(s);
            }
        }
        picked
    };
    (0..USERS)
        .map(|i| {
            let kind = match i % 20 {
                0..8 => Kind::CollectionStores,
                8..12 => Kind::AllTopic,
                12..15 => Kind::Collections,
                15..17 => Kind::Everything,
                17..19 => Kind::HrNamed,
                _ => Kind::ManyStores,
            };
            let grants = match kind {
                Kind::CollectionStores => {
                    let n = rng.random_range(1..=3);
                    vec![grant(Some(collection(&mut rng)), &stores(&mut rng, n))]
                }
                Kind::AllTopic => {
                    let topic = format!("topic:{}", TOPICS[rng.random_range(0..TOPICS.len())]);
                    vec![grant(None, &[topic])]
                }
                Kind::Collections => (0..rng.random_range(2..=4))
                    .map(|_| grant(Some(collection(&mut rng)), &[]))
                    .collect(),
                Kind::Everything => vec![grant(None, &[])],
                Kind::HrNamed => vec![grant(None, &["hr".to_owned()]), grant(Some(collection(&mut rng)), &[])],
                Kind::ManyStores => vec![grant(None, &stores(&mut rng, 20))],
            };
            User {
                kind,
                access: Access {
                    tenant: TENANT.into(),
                    grants,
                    restricted: RESTRICTED.map(str::to_owned).to_vec(),
                },
            }
        })
        .collect()
}

/// No permission filter beyond the tenant: what every figure is compared with.
fn baseline() -> Access {
    Access {
        tenant: TENANT.into(),
        grants: vec![grant(None, &[])],
        restricted: Vec::new(),
    }
}

fn text(word: &str) -> Filter {
    Filter {
        text: Some(word.into()),
        ..Filter::default()
    }
}

// --------------------------------------------------------------- figures ----

/// Runs figure `figure` for `access` (the deep page after `deep`); its time
/// and how many rows (or groups) it returned, or the error (PostgreSQL
/// cancels a query after 30 s).
async fn query(
    store: &Store,
    access: &Access,
    figure: usize,
    deep: Option<&Position>,
) -> (Duration, Result<usize, store::StoreError>) {
    let started = Instant::now();
    let none = Filter::default();
    let rows = match figure {
        0 => store.list_feedback(access, &none, None, PAGE).await.map(|r| r.len()),
        1 => store.list_feedback(access, &none, deep, PAGE).await.map(|r| r.len()),
        2 => store
            .aggregate_feedback(access, &none, &GroupBy::Month)
            .await
            .map(|g| g.len()),
        _ => store
            .list_feedback(access, &text(COMMON_WORD), None, PAGE)
            .await
            .map(|r| r.len()),
    };
    (started.elapsed(), rows)
}

/// The position the deep page starts after: the 5,000th row of `access`'s
/// list, or for a shorter list the row before its last page (`None` for a
/// list of one page); and whether the list was shorter.
async fn deep_position(store: &Store, access: &Access) -> (Option<Position>, bool) {
    let rows = store
        .list_feedback(access, &Filter::default(), None, DEPTH)
        .await
        .expect("a list");
    let at = if rows.len() == DEPTH {
        Some(DEPTH - 1)
    } else {
        rows.len().checked_sub(PAGE + 1)
    };
    let position = at.map(|i| Position {
        occurred_at: rows[i].occurred_at,
        event_id: rows[i].event_id.clone(),
    });
    (position, rows.len() < DEPTH)
}

fn time(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// Where each user's deep page starts (and the baseline's), with how many
/// items each kind of user sees: found once per backend, untimed.
struct Depths {
    base: Option<Position>,
    users: Vec<Option<Position>>,
    visible: BTreeMap<Kind, u64>,
    all: u64,
}

async fn find_depths(store: &Store, name: &str, users: &[User]) -> Depths {
    let started = Instant::now();
    let base = baseline();
    let (base_deep, _) = deep_position(store, &base).await;
    let mut deep = Vec::with_capacity(users.len());
    let mut short = 0;
    for u in users {
        let (position, shorter) = deep_position(store, &u.access).await;
        short += usize::from(shorter);
        deep.push(position);
    }
    let mut visible = BTreeMap::new();
    for u in users {
        if let std::collections::btree_map::Entry::Vacant(entry) = visible.entry(u.kind) {
            let n = store
                .count_feedback_visible(&u.access, &Filter::default())
                .await
                .expect("count");
            entry.insert(n);
        }
    }
    let all = store
        .count_feedback_visible(&base, &Filter::default())
        .await
        .expect("count");
    println!(
        "  {name}: deep-page positions found in {:.1} s; {short} of {USERS} users see fewer than {DEPTH} items \
         (their deep page is their list's last page)",
        started.elapsed().as_secs_f64()
    );
    Depths {
        base: base_deep,
        users: deep,
        visible,
        all,
    }
}

/// The four figures for every user against the baseline, interleaved.
async fn figures(store: &Store, name: &str, users: &[User], depths: &Depths, report: &mut Report) {
    let base = baseline();
    // Warm-up (untimed): ten users and the baseline, every figure.
    for (u, d) in users.iter().zip(&depths.users).take(10) {
        for figure in 0..FIGURES.len() {
            let _ = query(store, &u.access, figure, d.as_ref()).await;
            let _ = query(store, &base, figure, depths.base.as_ref()).await;
        }
    }

    // [figure][0: filtered, 1: baseline]
    let mut samples: Vec<[Vec<Duration>; 2]> = vec![Default::default(); FIGURES.len()];
    let mut rows = vec![[0usize; 2]; FIGURES.len()];
    let mut failed = vec![[0usize; 2]; FIGURES.len()];
    let mut by_kind: BTreeMap<Kind, Vec<Vec<Duration>>> = BTreeMap::new();
    let started = Instant::now();
    let mut timed = 0;
    for round in 0..ROUNDS {
        for (i, (u, d)) in users.iter().zip(&depths.users).enumerate() {
            for figure in 0..FIGURES.len() {
                if figure == AGGREGATE && round > 0 {
                    continue;
                }
                timed += 2;
                let order = if (i + round + figure) % 2 == 0 { [0, 1] } else { [1, 0] };
                for side in order {
                    let (access, after) = match side {
                        0 => (&u.access, d.as_ref()),
                        _ => (&base, depths.base.as_ref()),
                    };
                    let (took, result) = query(store, access, figure, after).await;
                    samples[figure][side].push(took);
                    match result {
                        Ok(n) => rows[figure][side] += n,
                        Err(e) => {
                            failed[figure][side] += 1;
                            eprintln!(
                                "  {name}: {} for a user of kind \"{}\" failed after {}: {e}",
                                FIGURES[figure],
                                u.kind.label(),
                                time(took)
                            );
                        }
                    }
                    if side == 0 {
                        by_kind.entry(u.kind).or_insert_with(|| vec![Vec::new(); FIGURES.len()])[figure].push(took);
                    }
                }
            }
        }
    }
    println!(
        "  {name}: {timed} timed queries in {:.1} s ({ROUNDS} rounds of the pages and text searches, one of the aggregates)",
        started.elapsed().as_secs_f64()
    );

    println!();
    println!(
        "| {name} | filtered p50 | filtered p99 | baseline p50 | baseline p99 | p99 ratio (goal ≤ 2) | rows per query, filtered / baseline | failed |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (figure, label) in FIGURES.iter().enumerate() {
        let [f, b] = &samples[figure];
        let (f50, f99, b50, b99) = (
            percentile(f, 0.5),
            percentile(f, 0.99),
            percentile(b, 0.5),
            percentile(b, 0.99),
        );
        let ratio = f99.as_secs_f64() / b99.as_secs_f64().max(1e-9);
        println!(
            "| {label} | {} | {} | {} | {} | {ratio:.2} | {:.1} / {:.1} | {} / {} |",
            time(f50),
            time(f99),
            time(b50),
            time(b99),
            rows[figure][0] as f64 / f.len().max(1) as f64,
            rows[figure][1] as f64 / b.len().max(1) as f64,
            failed[figure][0],
            failed[figure][1],
        );
        report.note(format!(
            "analyst, {name}, {label}: p99 filtered {} against {} without the permission filter: {ratio:.2}× (goal ≤ 2); p50 {} against {}",
            time(f99),
            time(b99),
            time(f50),
            time(b50)
        ));
    }
    println!();
    println!(
        "| {name}, filtered, by kind of user (p50 / max) | users | visible items (first user of the kind) | {} |",
        FIGURES.join(" | ")
    );
    println!("| --- | ---: | ---: |{}", " ---: |".repeat(FIGURES.len()));
    for (kind, figures) in &by_kind {
        let cells: Vec<String> = figures
            .iter()
            .map(|s| format!("{} / {}", time(percentile(s, 0.5)), time(percentile(s, 1.0))))
            .collect();
        println!(
            "| {} | {} | {} | {} |",
            kind.label(),
            figures[AGGREGATE].len(),
            depths.visible.get(kind).copied().unwrap_or_default(),
            cells.join(" | ")
        );
    }
    println!("| baseline (no permission filter) | | {} | |", depths.all);
    println!();
}

/// Exports the whole tenant for `access` into a consumer that counts the
/// rows (no encoding): rows and seconds.
async fn export(store: &Store, access: &Access) -> (u64, f64) {
    let (sender, mut rows) = tokio::sync::mpsc::channel::<FeedbackRow>(512);
    let consumer = tokio::spawn(async move {
        let mut n = 0u64;
        let mut bytes = 0usize;
        while let Some(row) = rows.recv().await {
            n += 1;
            bytes += row.text.as_ref().map_or(0, String::len);
        }
        std::hint::black_box(bytes);
        n
    });
    let started = Instant::now();
    let sent = store
        .export_feedback(&access.for_export(), &Filter::default(), sender)
        .await
        .expect("an export");
    let received = consumer.await.expect("the consumer");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(sent, received, "every row sent was received");
    (sent, seconds)
}

/// The access of the first user of `kind`.
fn first_of(users: &[User], kind: Kind) -> Access {
    users
        .iter()
        .find(|u| u.kind == kind)
        .map(|u| u.access.clone())
        .expect("every kind has users")
}

async fn exports(store: &Store, name: &str, users: &[User], report: &mut Report) {
    let first = |kind: Kind| first_of(users, kind);
    let cases = [
        ("no permission filter (baseline)", baseline()),
        ("all collections, restricted tags hidden", first(Kind::Everything)),
        (Kind::AllTopic.label(), first(Kind::AllTopic)),
        (Kind::CollectionStores.label(), first(Kind::CollectionStores)),
    ];
    // Two rounds, alternating; the better of each counts.
    let mut best = vec![(0u64, f64::MAX); cases.len()];
    for _ in 0..2 {
        for (i, (_, access)) in cases.iter().enumerate() {
            let (rows, seconds) = export(store, access).await;
            if seconds < best[i].1 {
                best[i] = (rows, seconds);
            }
        }
    }
    let (base_rows, base_seconds) = best[0];
    let base_rate = base_rows as f64 / base_seconds;
    println!("| {name}: export (best of 2) | rows | seconds | rows/s | ratio to baseline |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for ((label, _), (rows, seconds)) in cases.iter().zip(&best) {
        let rate = *rows as f64 / seconds;
        println!(
            "| {label} | {rows} | {seconds:.2} | {rate:.0} | {:.2} |",
            rate / base_rate
        );
    }
    println!();
    let (rows, seconds) = best[1];
    report.ratio(
        &format!("analyst export, {name}, all collections, restricted tags hidden (rows/s)"),
        rows as f64 / seconds,
        "the same export without permission filter",
        base_rate,
        "goal: ≥ 50,000 rows/s",
        &format!("{rows} rows in {seconds:.1} s"),
    );
    let (rows, seconds) = best[2];
    report.ratio(
        &format!("analyst export, {name}, {} (rows/s)", Kind::AllTopic.label()),
        rows as f64 / seconds,
        "the same export without permission filter",
        base_rate,
        "few rows, no goal",
        &format!("{rows} rows in {seconds:.1} s"),
    );
}

/// The plans of the list, the aggregate and the text search for the
/// baseline and three representative users.
async fn plans(store: &Store, name: &str, users: &[User]) {
    let first = |kind: Kind| first_of(users, kind);
    let cases = [
        ("baseline (no permission filter)".to_owned(), baseline()),
        (Kind::CollectionStores.label().to_owned(), first(Kind::CollectionStores)),
        (Kind::AllTopic.label().to_owned(), first(Kind::AllTopic)),
        (Kind::HrNamed.label().to_owned(), first(Kind::HrNamed)),
    ];
    for (label, access) in &cases {
        println!("  {name}: grants of \"{label}\": {:?}", access.grants);
        let list = store
            .explain_list(access, &Filter::default(), PAGE)
            .await
            .expect("explain");
        println!("--- EXPLAIN {name}, list first page, {label}\n{list}\n");
        let aggregate = store
            .explain_aggregate(access, &Filter::default(), &GroupBy::Month)
            .await
            .expect("explain");
        println!("--- EXPLAIN {name}, aggregate by month, {label}\n{aggregate}\n");
        let search = store
            .explain_list(access, &text(COMMON_WORD), PAGE)
            .await
            .expect("explain");
        println!("--- EXPLAIN {name}, text search \"{COMMON_WORD}\", {label}\n{search}\n");
    }
}

// ---------------------------------------------------- row-level security ----

/// The text search once more through a role that row-level security binds
/// (the `vox_api` policy of `deploy/postgres/roles.sql`: the rows of the
/// transaction's `vox.tenant_id`), interleaved with the owner; a common word
/// for every user, a rare one for every tenth. Returns the role's name (drop
/// it once the database is gone).
async fn row_level_security(db: &testenv::TestDatabase, owner: &Store, users: &[User], report: &mut Report) -> String {
    let Store::Postgres(pool) = owner else {
        unreachable!("row-level security is PostgreSQL's")
    };
    let role = format!("vox_bench_api_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let password = uuid::Uuid::new_v4().simple().to_string();
    // ENABLE without FORCE: the owner (the other measurements) stays unbound.
    sqlx::raw_sql(&format!(
        "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD '{password}';
         GRANT SELECT ON feedback, feedback_tags, _sqlx_migrations TO {role};
         ALTER TABLE feedback ENABLE ROW LEVEL SECURITY;
         ALTER TABLE feedback_tags ENABLE ROW LEVEL SECURITY;
         CREATE POLICY bench_api_tenant ON feedback FOR SELECT TO {role}
             USING (tenant_id = current_setting('vox.tenant_id', true));
         CREATE POLICY bench_api_tenant ON feedback_tags FOR SELECT TO {role}
             USING (tenant_id = current_setting('vox.tenant_id', true));"
    ))
    .execute(pool)
    .await
    .expect("a role bound by row-level security");
    let bound = Store::connect_postgres_migrated(&db.url_as(&role, &password))
        .await
        .expect("connect as the role");
    let base = baseline();
    let common = text(COMMON_WORD);
    let rare = text(RARE_WORD);
    let check = bound.list_feedback(&base, &common, None, PAGE).await.expect("list");
    let expected = owner.list_feedback(&base, &common, None, PAGE).await.expect("list");
    assert_eq!(check, expected, "the role sees what the owner sees");

    let stores = [owner, &bound];
    // [word][0: owner, 1: role][0: filtered, 1: baseline]
    let mut samples: Vec<[[Vec<Duration>; 2]; 2]> = vec![Default::default(); 2];
    for (word, (filter, every)) in [(&common, 1), (&rare, 10)].into_iter().enumerate() {
        for (i, u) in users.iter().enumerate().step_by(every) {
            for k in 0..4 {
                let k = (k + i) % 4;
                let (who, side) = (k / 2, k % 2);
                let access = if side == 0 { &u.access } else { &base };
                let started = Instant::now();
                stores[who]
                    .list_feedback(access, filter, None, PAGE)
                    .await
                    .expect("text search");
                samples[word][who][side].push(started.elapsed());
            }
        }
    }
    println!();
    println!("| PostgreSQL text search (50) | users | owner p50 | owner p99 | RLS role p50 | RLS role p99 | p99 RLS / owner |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (word, label) in [COMMON_WORD, RARE_WORD].iter().enumerate() {
        for (side, who) in ["filtered", "baseline"].iter().enumerate() {
            let owner_samples = &samples[word][0][side];
            let role_samples = &samples[word][1][side];
            let (o99, r99) = (percentile(owner_samples, 0.99), percentile(role_samples, 0.99));
            let ratio = r99.as_secs_f64() / o99.as_secs_f64().max(1e-9);
            println!(
                "| \"{label}\", {who} | {} | {} | {} | {} | {} | {ratio:.2} |",
                owner_samples.len(),
                time(percentile(owner_samples, 0.5)),
                time(o99),
                time(percentile(role_samples, 0.5)),
                time(r99),
            );
            report.note(format!(
                "analyst, PostgreSQL, text search \"{label}\", {who}, through a role bound by row-level security: p99 {} against {} as the owner ({ratio:.2}×)",
                time(r99),
                time(o99)
            ));
        }
    }
    println!();
    for (label, filter) in [(COMMON_WORD, &common), (RARE_WORD, &rare)] {
        for (who, store) in [("owner", owner), ("RLS role", &bound)] {
            let plan = store.explain_list(&base, filter, PAGE).await.expect("explain");
            println!("--- EXPLAIN PostgreSQL as the {who}, text search \"{label}\", baseline\n{plan}\n");
        }
    }
    if let Store::Postgres(pool) = bound {
        pool.close().await;
    }
    role
}

async fn drop_role(role: &str) {
    let admin = std::env::var("VOX_DATABASE_URL").unwrap_or_else(|_| "postgres://vox:vox@127.0.0.1:5432/vox".into());
    match sqlx::PgPool::connect(&admin).await {
        Ok(pool) => {
            if let Err(e) = sqlx::query(&format!("DROP ROLE IF EXISTS {role}")).execute(&pool).await {
                eprintln!("note: could not drop the benchmark's role {role}: {e}");
            }
            pool.close().await;
        }
        Err(e) => eprintln!("note: could not drop the benchmark's role {role}: {e}"),
    }
}
