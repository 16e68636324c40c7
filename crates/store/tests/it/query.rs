//! The analyst queries on both databases: each filter kind, keyset pages,
//! aggregates, full-text search, export, tag listing, rebuilding, hostile
//! input and upgrading a store written before migration 0003.

use access::{Access, Filter, Grant, GroupBy, Metric, MetricRange, Position, TagMatch, TagRef};
use store::{AggregateRow, FeedbackRow, Store};

use crate::items::{everything, grant, ids, insert, item, tag, With};
use crate::Fixture;

const T: i64 = 1_767_261_600_000_000; // 2026-01-01T10:00:00Z

fn position(row: &FeedbackRow) -> Position {
    Position {
        occurred_at: row.occurred_at,
        event_id: row.event_id.clone(),
    }
}

/// Every page of `limit` rows, following the positions.
async fn all_pages(store: &Store, access: &Access, filter: &Filter, limit: usize) -> Vec<FeedbackRow> {
    let mut rows = Vec::new();
    let mut after: Option<Position> = None;
    loop {
        let page = store
            .list_feedback(access, filter, after.as_ref(), limit)
            .await
            .expect("a page");
        assert!(page.len() <= limit);
        rows.extend(page.iter().cloned());
        match page.last() {
            Some(last) if page.len() == limit => after = Some(position(last)),
            _ => return rows,
        }
    }
}

/// The items of the filter tests (acme), newest last; one of globex.
fn filter_items() -> Vec<FeedbackRow> {
    vec![
        item("acme", "surveys", "a1", T + 1)
            .channel("survey")
            .text(Some("fi"), "Kahvi oli hyvää")
            .metric("nps", 9.0, (0.0, 10.0))
            .tags(&[("store", "helsinki")]),
        item("acme", "surveys", "a2", T + 2)
            .channel("email")
            .language("fi-FI")
            .metric("nps", 3.0, (0.0, 10.0))
            .metric("csat", 4.0, (1.0, 5.0))
            .tags(&[("store", "espoo"), ("topic", "price")]),
        item("acme", "tickets", "a3", T + 3)
            .channel("chat")
            .text(Some("en"), "The delivery was late")
            .metric("csat", 2.0, (1.0, 5.0))
            .metric("ces", 5.0, (1.0, 7.0))
            .tags(&[("topic", "delivery")]),
        item("acme", "tickets", "a4", T + 4)
            .channel("survey")
            .language("EN-gb")
            .metric("ces", 2.0, (1.0, 7.0)),
        item("acme", "surveys", "a5", T + 5)
            .language("fil")
            .metric("nps", 7.0, (0.0, 10.0))
            .tags(&[("store", "helsinki"), ("topic", "price")]),
        item("acme", "odd%_", "a6", T + 6).language("f%"),
        item("globex", "surveys", "g1", T + 7)
            .channel("survey")
            .language("fi")
            .metric("nps", 9.0, (0.0, 10.0))
            .tags(&[("store", "helsinki")]),
    ]
}

/// Each filter kind selects exactly what it names, newest first, and
/// counts agree with the list.
async fn each_filter_selects_what_it_names(f: Fixture) {
    let store = f.open().await;
    insert(&store, filter_items()).await;
    let acme = everything("acme");
    let range = |metric, min, max| MetricRange { metric, min, max };
    let s = |list: &[&str]| list.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let cases: Vec<(&str, Filter, &[&str])> = vec![
        ("nothing", Filter::default(), &["a6", "a5", "a4", "a3", "a2", "a1"]),
        (
            "one collection",
            Filter {
                collections: s(&["surveys"]),
                ..Filter::default()
            },
            &["a5", "a2", "a1"],
        ),
        (
            "two collections",
            Filter {
                collections: s(&["tickets", "odd%_"]),
                ..Filter::default()
            },
            &["a6", "a4", "a3"],
        ),
        (
            "a collection named like a LIKE pattern is compared exactly",
            Filter {
                collections: s(&["odd%%"]),
                ..Filter::default()
            },
            &[],
        ),
        (
            "from inclusive, until exclusive",
            Filter {
                from: Some(T + 2),
                until: Some(T + 4),
                ..Filter::default()
            },
            &["a3", "a2"],
        ),
        (
            "channels",
            Filter {
                channels: s(&["survey", "chat"]),
                ..Filter::default()
            },
            &["a4", "a3", "a1"],
        ),
        (
            "a language and its subtags, not another language that starts alike",
            Filter {
                languages: s(&["fi"]),
                ..Filter::default()
            },
            &["a2", "a1"],
        ),
        (
            "languages compare case-insensitively",
            Filter {
                languages: s(&["EN", "fil"]),
                ..Filter::default()
            },
            &["a5", "a4", "a3"],
        ),
        (
            "LIKE's _ is a character in a language",
            Filter {
                languages: s(&["f_"]),
                ..Filter::default()
            },
            &[],
        ),
        (
            "LIKE's % is a character in a language",
            Filter {
                languages: s(&["f%"]),
                ..Filter::default()
            },
            &["a6"],
        ),
        (
            "any of two tags",
            Filter {
                tags: vec![tag("store:helsinki"), tag("topic:delivery")],
                ..Filter::default()
            },
            &["a5", "a3", "a1"],
        ),
        (
            "all of two tags",
            Filter {
                tags: vec![tag("store:helsinki"), tag("topic:price")],
                tag_match: TagMatch::All,
                ..Filter::default()
            },
            &["a5"],
        ),
        (
            "any value of a tag name",
            Filter {
                tags: vec![tag("topic")],
                ..Filter::default()
            },
            &["a5", "a3", "a2"],
        ),
        (
            "all of two tag names",
            Filter {
                tags: vec![tag("store"), tag("topic")],
                tag_match: TagMatch::All,
                ..Filter::default()
            },
            &["a5", "a2"],
        ),
        (
            "NPS detractors",
            Filter {
                metrics: vec![range(Metric::Nps, 0.0, 6.0)],
                ..Filter::default()
            },
            &["a2"],
        ),
        (
            "NPS range, inclusive",
            Filter {
                metrics: vec![range(Metric::Nps, 7.0, 9.0)],
                ..Filter::default()
            },
            &["a5", "a1"],
        ),
        (
            "CSAT",
            Filter {
                metrics: vec![range(Metric::Csat, 4.0, 5.0)],
                ..Filter::default()
            },
            &["a2"],
        ),
        (
            "CES",
            Filter {
                metrics: vec![range(Metric::Ces, 1.0, 3.0)],
                ..Filter::default()
            },
            &["a4"],
        ),
        (
            "two metrics",
            Filter {
                metrics: vec![range(Metric::Csat, 1.0, 5.0), range(Metric::Ces, 5.0, 5.0)],
                ..Filter::default()
            },
            &["a3"],
        ),
        (
            "everything together",
            Filter {
                collections: s(&["surveys"]),
                tags: vec![tag("topic")],
                metrics: vec![range(Metric::Nps, 0.0, 6.0)],
                channels: s(&["email"]),
                languages: s(&["fi"]),
                from: Some(T),
                until: Some(T + 100),
                ..Filter::default()
            },
            &["a2"],
        ),
    ];
    for (what, filter, expected) in cases {
        let rows = store.list_feedback(&acme, &filter, None, 100).await.expect("list");
        assert_eq!(ids(&rows), s(expected), "{what}");
        let n = store.count_feedback_visible(&acme, &filter).await.expect("count");
        assert_eq!(n, expected.len() as u64, "{what}: count");
    }
    f.finish().await;
}

/// Following positions page by page gives every item exactly once, in
/// order, also when items newer and older than the position arrive
/// between pages (the older ones show on a later page, the newer ones
/// not: they belong before the first page).
async fn pages_cover_everything_once_while_items_arrive(f: Fixture) {
    let store = f.open().await;
    // 30 items at 10 distinct times (ties broken by event id), half tagged.
    let mut rows = Vec::new();
    for i in 0..30 {
        let mut r = item("acme", "c", &format!("i{i:02}"), T + (i % 10) * 1000);
        if i % 2 == 0 {
            r = r.tags(&[("store", "helsinki")]);
        }
        rows.push(r);
    }
    insert(&store, rows.clone()).await;
    let helsinki = Access {
        tenant: "acme".into(),
        grants: vec![grant(None, &["store:helsinki"], false)],
        restricted: vec![],
    };
    // Later than every item so far.
    let mut clock = T + 1_000_000;
    for (access, limit) in [(everything("acme"), 4), (helsinki.clone(), 3), (everything("acme"), 1)] {
        let mut expected: Vec<FeedbackRow> = rows
            .iter()
            .filter(|r| access.grants[0].tags.is_empty() || r.tags != serde_json::json!([]))
            .cloned()
            .collect();
        let mut seen: Vec<FeedbackRow> = Vec::new();
        let mut after: Option<Position> = None;
        let mut arrivals = 0;
        loop {
            let page = store
                .list_feedback(&access, &Filter::default(), after.as_ref(), limit)
                .await
                .expect("a page");
            seen.extend(page.iter().cloned());
            let Some(last) = page.last().filter(|_| page.len() == limit) else {
                break;
            };
            after = Some(position(last));
            if arrivals == 6 {
                continue;
            }
            // One newer and one older item arrive (both tagged).
            clock += 1;
            let newer = item("acme", "c", &format!("new{limit}-{arrivals}"), clock).tags(&[("store", "helsinki")]);
            let older = item("acme", "c", &format!("old{limit}-{arrivals}"), last.occurred_at - 1)
                .tags(&[("store", "helsinki")]);
            arrivals += 1;
            insert(&store, vec![newer.clone(), older.clone()]).await;
            rows.push(newer);
            rows.push(older.clone());
            expected.push(older);
        }
        expected.sort_by(|a, b| (b.occurred_at, &b.event_id).cmp(&(a.occurred_at, &a.event_id)));
        let seen_ids: Vec<&str> = seen.iter().map(|r| r.event_id.as_str()).collect();
        let expected_ids: Vec<&str> = expected.iter().map(|r| r.event_id.as_str()).collect();
        assert_eq!(seen_ids, expected_ids, "limit {limit}");
        assert!(arrivals > 3, "pages were followed");
    }
    f.finish().await;
}

/// The figures of the hand-computed example (see the items).
async fn aggregates_match_hand_computed_numbers(f: Fixture) {
    let store = f.open().await;
    let items = vec![
        // 2026-01-01T10:00Z, a Thursday.
        item("acme", "A", "i1", 1_767_261_600_000_000)
            .metric("nps", 10.0, (0.0, 10.0))
            .metric("csat", 5.0, (1.0, 5.0))
            .tags(&[("store", "hki")]),
        // 2026-01-01T23:59:59.999999Z.
        item("acme", "A", "i2", 1_767_311_999_999_999)
            .metric("nps", 6.0, (0.0, 10.0))
            .metric("csat", 3.0, (1.0, 5.0))
            .metric("ces", 4.0, (1.0, 7.0))
            .tags(&[("store", "hki"), ("store", "espoo")]),
        // 2026-01-04T00:00Z, a Sunday: still the week of Monday 2025-12-29.
        item("acme", "B", "i3", 1_767_484_800_000_000)
            .metric("nps", 8.0, (0.0, 10.0))
            .metric("csat", 9.0, (0.0, 10.0))
            .metric("ces", 2.0, (1.0, 7.0))
            .tags(&[("store", "espoo")]),
        // 2026-01-05T00:00Z, a Monday.
        item("acme", "B", "i4", 1_767_571_200_000_000),
        // 2026-02-01T12:00Z, a Sunday: the week of Monday 2026-01-26.
        item("acme", "A", "i5", 1_769_947_200_000_000)
            .metric("nps", 0.0, (0.0, 10.0))
            .metric("csat", 6.0, (1.0, 7.0)),
        // 1969-12-31T23:59:59.5Z, before the epoch: a Wednesday.
        item("acme", "B", "i6", -500_000).metric("csat", 1.0, (1.0, 5.0)),
        item("globex", "A", "g1", 1_767_261_600_000_000).metric("nps", 10.0, (0.0, 10.0)),
    ];
    insert(&store, items).await;
    let acme = everything("acme");
    fn row(
        key: Option<&str>,
        items: u64,
        nps: (u64, u64, u64),
        csat: (u64, Option<f64>, u64),
        ces: (u64, Option<f64>),
    ) -> AggregateRow {
        AggregateRow {
            key: key.map(str::to_owned),
            items,
            nps_responses: nps.0,
            promoters: nps.1,
            detractors: nps.2,
            csat_responses: csat.0,
            csat_mean: csat.1,
            csat_satisfied: csat.2,
            ces_responses: ces.0,
            ces_mean: ces.1,
        }
    }
    let get = |group: GroupBy, filter: Filter| {
        let store = store.clone();
        let acme = acme.clone();
        async move {
            let mut rows = store
                .aggregate_feedback(&acme, &filter, &group)
                .await
                .expect("aggregate");
            // Means compared to 1e-9.
            for r in &mut rows {
                r.csat_mean = r.csat_mean.map(|m| (m * 1e9).round() / 1e9);
                r.ces_mean = r.ces_mean.map(|m| (m * 1e9).round() / 1e9);
            }
            rows
        }
    };
    let third = |x: f64| ((x / 3.0) * 1e9).round() / 1e9;
    assert_eq!(
        get(GroupBy::Nothing, Filter::default()).await,
        // satisfied: 5 of 1–5, 9 of 0–10, 6 of 1–7 (not 3 of 1–5, 1 of 1–5).
        vec![row(None, 6, (4, 1, 2), (5, Some(4.8), 3), (2, Some(3.0)))]
    );
    assert_eq!(
        get(GroupBy::Collection, Filter::default()).await,
        vec![
            row(Some("A"), 3, (3, 1, 2), (3, Some(third(14.0)), 2), (1, Some(4.0))),
            row(Some("B"), 3, (1, 0, 0), (2, Some(5.0), 1), (1, Some(2.0))),
        ]
    );
    assert_eq!(
        get(GroupBy::Tag("store".into()), Filter::default()).await,
        vec![
            row(Some("espoo"), 2, (2, 0, 1), (2, Some(6.0), 1), (2, Some(3.0))),
            row(Some("hki"), 2, (2, 1, 1), (2, Some(4.0), 1), (1, Some(4.0))),
        ]
    );
    let keys = |rows: Vec<AggregateRow>| {
        rows.into_iter()
            .map(|r| (r.key.expect("a key"), r.items))
            .collect::<Vec<_>>()
    };
    let k = |list: &[(&str, u64)]| list.iter().map(|(k, n)| (k.to_string(), *n)).collect::<Vec<_>>();
    assert_eq!(
        keys(get(GroupBy::Day, Filter::default()).await),
        k(&[
            ("1969-12-31", 1),
            ("2026-01-01", 2),
            ("2026-01-04", 1),
            ("2026-01-05", 1),
            ("2026-02-01", 1)
        ])
    );
    assert_eq!(
        keys(get(GroupBy::Week, Filter::default()).await),
        k(&[
            ("1969-12-29", 1),
            ("2025-12-29", 3),
            ("2026-01-05", 1),
            ("2026-01-26", 1)
        ])
    );
    assert_eq!(
        keys(get(GroupBy::Month, Filter::default()).await),
        k(&[("1969-12", 1), ("2026-01", 4), ("2026-02", 1)])
    );
    // With a filter, and over nothing: one row of zeros for Nothing, no rows for groups.
    let a_only = Filter {
        collections: vec!["A".into()],
        ..Filter::default()
    };
    assert_eq!(
        keys(get(GroupBy::Week, a_only.clone()).await),
        k(&[("2025-12-29", 2), ("2026-01-26", 1)])
    );
    let none = Filter {
        collections: vec!["none".into()],
        ..Filter::default()
    };
    assert_eq!(
        get(GroupBy::Nothing, none.clone()).await,
        vec![row(None, 0, (0, 0, 0), (0, None, 0), (0, None))]
    );
    assert!(get(GroupBy::Collection, none).await.is_empty());
    let nobody = Access {
        grants: vec![],
        ..acme.clone()
    };
    assert_eq!(
        store
            .aggregate_feedback(&nobody, &Filter::default(), &GroupBy::Nothing)
            .await
            .expect("aggregate"),
        vec![row(None, 0, (0, 0, 0), (0, None, 0), (0, None))]
    );
    assert!(store
        .explain_aggregate(&acme, &Filter::default(), &GroupBy::Week)
        .await
        .expect("a plan")
        .contains("feedback"));
    f.finish().await;
}

/// Stemmed full-text search in the item's language (PostgreSQL: Finnish
/// and English among others; SQLite: English, Porter), with the
/// websearch syntax, on top of the permission filter.
async fn full_text_search_stems_words(f: Fixture) {
    let store = f.open().await;
    insert(
        &store,
        vec![
            item("acme", "c", "fi1", T + 1).text(Some("fi"), "Kahvi oli kylmää ja palvelu hidasta"),
            item("acme", "c", "fi2", T + 2).text(Some("fi-FI"), "Kahvia ei ollut, mutta pullat olivat hyviä"),
            item("acme", "c", "en1", T + 3).text(Some("en"), "The deliveries were running late"),
            item("acme", "c", "en2", T + 4).text(Some("en-GB"), "Delivery was quick, great service"),
            item("acme", "c", "un", T + 5).text(None, "Nothing to say"),
            item("acme", "secret", "en3", T + 6).text(Some("en"), "Secret deliveries"),
            item("globex", "c", "g1", T + 7).text(Some("en"), "Delivery by globex"),
        ],
    )
    .await;
    let acme = Access {
        tenant: "acme".into(),
        grants: vec![grant(Some("c"), &[], false)],
        restricted: vec![],
    };
    let search = |text: &str| Filter {
        text: Some(text.into()),
        ..Filter::default()
    };
    let mut cases: Vec<(&str, Vec<&str>)> = vec![
        ("delivery", vec!["en2", "en1"]),
        ("deliveries run", vec!["en1"]),
        ("\"great service\"", vec!["en2"]),
        ("\"service great\"", vec![]),
        ("delivery -late", vec!["en2"]),
        ("late or quick", vec!["en2", "en1"]),
        ("-delivery", vec!["un", "fi2", "fi1"]),
        ("   ", vec!["un", "en2", "en1", "fi2", "fi1"]),
        ("zebra", vec![]),
    ];
    if f.is_postgres() {
        // Finnish stems: kahvi, kahvia; hyviä; English: running.
        cases.extend([
            ("kahvi", vec!["fi2", "fi1"]),
            ("kahvia palvelu", vec!["fi1"]),
            ("running", vec!["en1"]),
        ]);
    } else {
        // Porter (English) only; diacritics removed.
        cases.extend([
            ("kahvi", vec!["fi1"]),
            ("kylmaa", vec!["fi1"]),
            ("running", vec!["en1"]),
            ("run", vec!["en1"]),
        ]);
    }
    for (text, expected) in cases {
        let rows = store
            .list_feedback(&acme, &search(text), None, 100)
            .await
            .expect("search");
        assert_eq!(ids(&rows), expected, "{text:?}");
        assert_eq!(
            store.count_feedback_visible(&acme, &search(text)).await.expect("count"),
            expected.len() as u64,
            "{text:?}"
        );
    }
    f.finish().await;
}

/// An export sends every visible item, newest first, through a small
/// channel; when the receiver goes away it stops and says how many it sent.
async fn export_streams_everything_and_stops_when_the_receiver_drops(f: Fixture) {
    let store = f.open().await;
    let rows: Vec<FeedbackRow> = (0..200)
        .map(|i| {
            item(
                "acme",
                if i % 4 == 0 { "hidden" } else { "c" },
                &format!("x{i:03}"),
                T + i,
            )
        })
        .collect();
    insert(&store, rows.clone()).await;
    insert(&store, vec![item("globex", "c", "g", T)]).await;
    let access = Access {
        tenant: "acme".into(),
        grants: vec![grant(Some("c"), &[], true), grant(Some("hidden"), &[], false)],
        restricted: vec![],
    }
    .for_export();
    let (sender, mut receiver) = tokio::sync::mpsc::channel(2);
    let export = tokio::spawn({
        let store = store.clone();
        let access = access.clone();
        async move { store.export_feedback(&access, &Filter::default(), sender).await }
    });
    let mut got = Vec::new();
    while let Some(row) = receiver.recv().await {
        got.push(row);
    }
    let mut expected: Vec<FeedbackRow> = rows.into_iter().filter(|r| r.collection == "c").collect();
    expected.reverse();
    assert_eq!(got, expected);
    assert_eq!(export.await.expect("task").expect("export"), 150);

    let (sender, mut receiver) = tokio::sync::mpsc::channel(1);
    let export = tokio::spawn({
        let store = store.clone();
        async move { store.export_feedback(&access, &Filter::default(), sender).await }
    });
    for _ in 0..3 {
        receiver.recv().await.expect("a row");
    }
    drop(receiver);
    let sent = export.await.expect("task").expect("a stopped export is not an error");
    assert!((3..=5).contains(&sent), "{sent}");
    // The store is usable afterwards (the connection went back clean).
    assert_eq!(
        store
            .count_feedback_visible(&everything("acme"), &Filter::default())
            .await
            .expect("count"),
        200
    );
    f.finish().await;
}

/// The tags listed are those of the items the access sees, with counts.
async fn visible_tags_are_those_of_visible_items(f: Fixture) {
    let store = f.open().await;
    insert(
        &store,
        vec![
            item("acme", "c", "1", T).tags(&[("store", "hki"), ("topic", "price")]),
            item("acme", "c", "2", T).tags(&[("store", "hki"), ("hr", "complaint")]),
            item("acme", "c", "3", T).tags(&[("store", "espoo")]),
            item("acme", "d", "4", T).tags(&[("store", "tku")]),
            item("globex", "c", "5", T).tags(&[("store", "hki"), ("zz", "z")]),
        ],
    )
    .await;
    let owned = |list: &[(&str, &str, u64)]| {
        list.iter()
            .map(|(n, v, c)| (n.to_string(), v.to_string(), *c))
            .collect::<Vec<_>>()
    };
    let access = Access {
        tenant: "acme".into(),
        grants: vec![grant(Some("c"), &[], false)],
        restricted: vec!["hr".into()],
    };
    assert_eq!(
        store.visible_tags(&access, 100).await.expect("tags"),
        owned(&[("store", "espoo", 1), ("store", "hki", 1), ("topic", "price", 1)]),
        "no item with a restricted tag, nothing of collection d or of globex"
    );
    let hr = Access {
        grants: vec![grant(Some("c"), &[], false), grant(None, &["hr"], false)],
        ..access.clone()
    };
    assert_eq!(
        store.visible_tags(&hr, 100).await.expect("tags"),
        owned(&[
            ("hr", "complaint", 1),
            ("store", "espoo", 1),
            ("store", "hki", 2),
            ("topic", "price", 1)
        ])
    );
    assert_eq!(
        store.visible_tags(&hr, 2).await.expect("tags"),
        owned(&[("hr", "complaint", 1), ("store", "espoo", 1)])
    );
    let none = Access { grants: vec![], ..hr };
    assert!(store.visible_tags(&none, 100).await.expect("tags").is_empty());
    f.finish().await;
}

/// A snapshot of everything the analyst queries answer for `tenant`.
async fn answers(store: &Store, tenant: &str) -> (Vec<FeedbackRow>, Vec<(String, String, u64)>, Vec<AggregateRow>) {
    let access = everything(tenant);
    (
        all_pages(store, &access, &Filter::default(), 3).await,
        store.visible_tags(&access, 1000).await.expect("tags"),
        store
            .aggregate_feedback(&access, &Filter::default(), &GroupBy::Tag("store".into()))
            .await
            .expect("aggregate"),
    )
}

/// Corrections replace an item's tags and derived columns; dropping the
/// read models and applying the same steps again answers the same.
async fn rebuild_gives_identical_rows_and_tags(f: Fixture) {
    let store = f.open().await;
    let steps = [
        vec![
            item("acme", "c", "1", T)
                .tags(&[("store", "hki")])
                .metric("nps", 9.0, (0.0, 10.0)),
            item("acme", "c", "2", T + 1).tags(&[("store", "espoo")]),
            // Two versions in one step: the last one's tags count.
            item("acme", "c", "2", T + 1).tags(&[("store", "tku"), ("topic", "x")]),
        ],
        vec![
            // A correction drops the tag and changes the metric.
            item("acme", "c", "1", T).metric("nps", 3.0, (0.0, 10.0)),
            item("acme", "c", "3", T + 2).tags(&[("store", "hki")]),
            item("globex", "c", "1", T).tags(&[("store", "hki")]),
        ],
        vec![
            // The same content again (a retry) changes nothing.
            item("acme", "c", "3", T + 2).tags(&[("store", "hki")]),
        ],
    ];
    for s in &steps {
        insert(&store, s.clone()).await;
    }
    let before = answers(&store, "acme").await;
    let owned = |list: &[(&str, &str, u64)]| {
        list.iter()
            .map(|(n, v, c)| (n.to_string(), v.to_string(), *c))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        before.1,
        owned(&[("store", "hki", 1), ("store", "tku", 1), ("topic", "x", 1)])
    );
    let detractors = Filter {
        metrics: vec![MetricRange {
            metric: Metric::Nps,
            min: 0.0,
            max: 6.0,
        }],
        ..Filter::default()
    };
    assert_eq!(
        store
            .count_feedback_visible(&everything("acme"), &detractors)
            .await
            .expect("count"),
        1,
        "the corrected metric"
    );
    store.reset().await.expect("reset");
    assert!(store
        .visible_tags(&everything("acme"), 10)
        .await
        .expect("tags")
        .is_empty());
    for s in &steps {
        insert(&store, s.clone()).await;
    }
    assert_eq!(answers(&store, "acme").await, before);
    f.finish().await;
}

/// SQL and FTS metacharacters and very long strings in every text
/// parameter are values: no error, no injection, and a value that looks
/// like SQL is found exactly when it is asked for.
async fn hostile_inputs_are_values(f: Fixture) {
    let store = f.open().await;
    let long = "x".repeat(10_000);
    let long_words = "ab or -cd \"ef ".repeat(800);
    let hostile: Vec<&str> = vec![
        "'",
        "\"",
        ";",
        "--",
        "\\",
        "%",
        "_",
        "*",
        "' OR '1'='1",
        "x'; DROP TABLE feedback; --",
        "\"; DELETE FROM feedback_tags; --",
        "NEAR(",
        "NEAR(a b, 2)",
        "\"unterminated",
        "a AND",
        "AND OR NOT",
        "-",
        "^start",
        "col:value",
        "a*",
        "(",
        ")",
        "!&|<->:*",
        "",
        " ",
        &long,
        &long_words,
    ];
    let tricky = hostile[9];
    insert(
        &store,
        vec![
            item("acme", tricky, "1", T)
                .tags(&[(tricky, tricky)])
                .text(Some(tricky), tricky)
                .channel(tricky),
            item("acme", "c", "2", T + 1).tags(&[("store", "hki")]),
        ],
    )
    .await;
    for h in hostile.iter().map(|h| h.to_string()) {
        // Values the API would refuse (empty, overlong) too: the store binds whatever it gets.
        let named = TagRef {
            name: h.clone(),
            value: Some(h.clone()),
        };
        let any_value = TagRef {
            name: h.clone(),
            value: None,
        };
        let access = Access {
            tenant: "acme".into(),
            grants: vec![
                grant(Some(&h), &[], true),
                Grant {
                    collection: None,
                    export: true,
                    tags: vec![named.clone()],
                },
                Grant {
                    collection: Some(h.clone()),
                    export: false,
                    tags: vec![any_value.clone(), tag("store:hki")],
                },
            ],
            restricted: vec![h.clone()],
        };
        let filter = Filter {
            collections: vec![h.clone()],
            channels: vec![h.clone()],
            languages: vec![h.clone()],
            tags: vec![named, any_value],
            text: Some(h.clone()),
            ..Filter::default()
        };
        let position = Position {
            occurred_at: T + 10,
            event_id: h.clone(),
        };
        let text_only = Filter {
            text: Some(h.clone()),
            ..Filter::default()
        };
        for filter in [&filter, &text_only, &Filter::default()] {
            store
                .list_feedback(&access, filter, Some(&position), 10)
                .await
                .unwrap_or_else(|e| panic!("list {h:.40}: {e}"));
            store
                .count_feedback_visible(&access, filter)
                .await
                .unwrap_or_else(|e| panic!("count {h:.40}: {e}"));
            for group in [GroupBy::Tag(h.clone()), GroupBy::Week] {
                store
                    .aggregate_feedback(&access, filter, &group)
                    .await
                    .unwrap_or_else(|e| panic!("aggregate {h:.40}: {e}"));
            }
            let (sender, mut receiver) = tokio::sync::mpsc::channel(10);
            let export = store.export_feedback(&access, filter, sender);
            let (sent, _) = tokio::join!(export, async { while receiver.recv().await.is_some() {} });
            sent.unwrap_or_else(|e| panic!("export {h:.40}: {e}"));
        }
        assert_eq!(store.get_feedback(&access, &h).await.expect("get"), None);
        store.visible_tags(&access, 10).await.expect("tags");
        let other_tenant = Access {
            tenant: h.clone(),
            ..access.clone()
        };
        assert!(store
            .list_feedback(&other_tenant, &Filter::default(), None, 10)
            .await
            .expect("list")
            .is_empty());
    }
    // The value that looks like SQL is found exactly.
    let access = everything("acme");
    let exact = Filter {
        collections: vec![tricky.into()],
        channels: vec![tricky.into()],
        tags: vec![tag(&format!("{tricky}:{tricky}"))],
        languages: vec![tricky.to_lowercase()],
        ..Filter::default()
    };
    let found = store.list_feedback(&access, &exact, None, 10).await.expect("list");
    assert_eq!(ids(&found), ["1"]);
    assert!(store
        .get_feedback(&access, &found[0].event_id)
        .await
        .expect("get")
        .is_some());
    let by_tag = store
        .aggregate_feedback(&access, &Filter::default(), &GroupBy::Tag(tricky.into()))
        .await
        .expect("aggregate");
    assert_eq!(by_tag.len(), 1);
    assert_eq!(by_tag[0].key.as_deref(), Some(tricky));
    assert_eq!(store.count_feedback("acme").await.expect("count"), 2, "nothing dropped");
    f.finish().await;
}

/// `get_feedback` answers only for items the access sees: never another
/// tenant's, never one the grants do not cover; and the same `None` for
/// one that does not exist.
async fn get_answers_only_what_is_visible(f: Fixture) {
    let store = f.open().await;
    let rows = vec![
        item("acme", "c", "1", T).tags(&[("store", "hki")]),
        item("acme", "c", "2", T).tags(&[("store", "hki"), ("hr", "x")]),
        item("acme", "d", "3", T),
        item("globex", "c", "1", T).tags(&[("store", "hki")]),
    ];
    insert(&store, rows.clone()).await;
    let access = Access {
        tenant: "acme".into(),
        grants: vec![grant(Some("c"), &["store:hki"], false)],
        restricted: vec!["hr".into()],
    };
    let visible: Vec<Option<String>> = {
        let mut out = Vec::new();
        for r in &rows {
            out.push(
                store
                    .get_feedback(&access, &r.event_id)
                    .await
                    .expect("get")
                    .map(|r| r.external_id),
            );
        }
        out
    };
    assert_eq!(visible, [Some("1".to_owned()), None, None, None]);
    assert_eq!(store.get_feedback(&access, "nope").await.expect("get"), None);
    assert_eq!(
        store.get_feedback(&access, &rows[0].event_id).await.expect("get"),
        Some(rows[0].clone()),
        "the row as stored"
    );
    f.finish().await;
}

/// Rows written before migration 0003 get their derived columns, tags and
/// search index when the store migrates.
async fn upgrading_fills_the_analyst_columns(f: Fixture) {
    let old = vec![
        item("acme", "c", "1", T)
            .text(Some("EN-us"), "Deliveries were late")
            .metric("csat", 2.0, (1.0, 5.0))
            .metric("nps", 10.0, (0.0, 10.0))
            .metric("nps", 0.0, (0.0, 10.0))
            .tags(&[("store", "hki"), ("topic", "late")]),
        item("acme", "c", "2", T + 1)
            .language("fi")
            .metric("csat", 7.0, (1.0, 7.0))
            .metric("ces", 3.0, (1.0, 7.0))
            .tags(&[("store", "espoo")]),
    ];
    f.rows_of_an_older_schema(3, &old).await;
    let store = f.open().await;
    let access = everything("acme");
    assert_eq!(
        store
            .aggregate_feedback(&access, &Filter::default(), &GroupBy::Nothing)
            .await
            .expect("aggregate"),
        vec![AggregateRow {
            key: None,
            items: 2,
            nps_responses: 1,
            promoters: 1,
            detractors: 0,
            csat_responses: 2,
            csat_mean: Some(4.5),
            csat_satisfied: 1,
            ces_responses: 1,
            ces_mean: Some(3.0),
        }]
    );
    let only = |filter: Filter| {
        let store = store.clone();
        let access = access.clone();
        async move { ids(&store.list_feedback(&access, &filter, None, 10).await.expect("list")) }
    };
    assert_eq!(
        only(Filter {
            languages: vec!["en".into()],
            ..Filter::default()
        })
        .await,
        ["1"]
    );
    assert_eq!(
        only(Filter {
            tags: vec![tag("store:espoo")],
            ..Filter::default()
        })
        .await,
        ["2"]
    );
    assert_eq!(
        only(Filter {
            text: Some("delivery".into()),
            ..Filter::default()
        })
        .await,
        ["1"]
    );
    assert_eq!(
        store.visible_tags(&access, 10).await.expect("tags").len(),
        3,
        "the tags of the old rows"
    );
    // A grant narrowed by a tag finds its items through the tag rows (on
    // SQLite by the rowid that migration 0008 gave them).
    let hki = Access {
        tenant: "acme".into(),
        grants: vec![grant(None, &["store:hki"], false)],
        restricted: Vec::new(),
    };
    assert_eq!(
        ids(&store
            .list_feedback(&hki, &Filter::default(), None, 10)
            .await
            .expect("list")),
        ["1"]
    );
    let counted = store
        .aggregate_feedback(&hki, &Filter::default(), &GroupBy::Nothing)
        .await
        .expect("aggregate");
    assert_eq!(counted.iter().map(|g| g.items).collect::<Vec<_>>(), [1], "{counted:?}");
    // Written again by this version: the same answers.
    let before = answers(&store, "acme").await;
    store.reset().await.expect("reset");
    insert(&store, old).await;
    assert_eq!(answers(&store, "acme").await, before);
    f.finish().await;
}

conformance!(
    each_filter_selects_what_it_names,
    pages_cover_everything_once_while_items_arrive,
    aggregates_match_hand_computed_numbers,
    full_text_search_stems_words,
    export_streams_everything_and_stops_when_the_receiver_drops,
    visible_tags_are_those_of_visible_items,
    rebuild_gives_identical_rows_and_tags,
    hostile_inputs_are_values,
    get_answers_only_what_is_visible,
    upgrading_fills_the_analyst_columns,
);
