//! Conformance suite of the store seam: every test runs against SQLite
//! (`sqlite::…`) and PostgreSQL (`postgres::…`, a fresh database per test).

use store::{FeedbackRow, OffsetMove, Projection, RejectionRow, Store, StoreError};

const P: &str = "feedback";

enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(testenv::TestDatabase),
}

struct Fixture {
    backend: Backend,
}

impl Fixture {
    async fn sqlite() -> Fixture {
        Fixture {
            backend: Backend::Sqlite(tempfile::tempdir().expect("temp dir")),
        }
    }

    async fn postgres() -> Fixture {
        Fixture {
            backend: Backend::Postgres(testenv::TestDatabase::create().await),
        }
    }

    /// A new connection to the same store, as a restarted process would open it.
    async fn open(&self) -> Store {
        match &self.backend {
            Backend::Sqlite(dir) => Store::open_sqlite(&dir.path().join("store.sqlite"))
                .await
                .expect("open sqlite"),
            Backend::Postgres(db) => Store::connect_postgres(&db.url).await.expect("connect postgres"),
        }
    }

    async fn finish(self) {
        if let Backend::Postgres(db) = self.backend {
            db.drop_now().await;
        }
    }
}

fn row(tenant: &str, external_id: &str, text: &str) -> FeedbackRow {
    FeedbackRow {
        tenant_id: tenant.into(),
        collection: "nps-2026".into(),
        external_id: external_id.into(),
        event_id: format!("ev-{tenant}-{external_id}"),
        client_id: "vox_ci_1".into(),
        batch_id: "b1".into(),
        channel: "survey".into(),
        occurred_at: 1_762_161_262_000_000,
        text: Some(text.into()),
        language: Some("fi".into()),
        metrics: serde_json::json!([{"kind": "nps", "value": 9.0, "scale": [0.0, 10.0]}]),
        respondent: Some("r-1".into()),
        metadata: serde_json::json!({"country": "FI"}),
        tags: serde_json::json!([]),
        received_region: "eu".into(),
        processed_region: "eu".into(),
        received_at: 1_762_161_263_000_000,
        processed_at: 1_762_161_264_000_000,
    }
}

fn rejection(offset: i64) -> RejectionRow {
    RejectionRow {
        source_topic: "vox.feedback.raw".into(),
        source_partition: 0,
        source_offset: offset,
        tenant_id: Some("acme".into()),
        collection: Some("gone".into()),
        external_id: Some("x".into()),
        event_id: Some("ev-x".into()),
        reason_code: "unknown_collection".into(),
        reason: "collection 'gone' does not exist in tenant 'acme'".into(),
        processed_region: "eu".into(),
        rejected_at: 1,
    }
}

fn step(from: i64, to: i64, feedback: Vec<FeedbackRow>, rejections: Vec<RejectionRow>) -> Projection {
    Projection {
        feedback,
        rejections,
        offsets: vec![OffsetMove {
            topic: "vox.feedback.processed".into(),
            partition: 0,
            from,
            to,
        }],
    }
}

/// Rows and offsets land together, and a restarted projector finds both.
async fn a_step_writes_rows_and_offsets_together(f: Fixture) {
    let store = f.open().await;
    store
        .apply(
            P,
            &step(
                0,
                2,
                vec![row("acme", "1", "Hyvä"), row("acme", "2", "Bra")],
                vec![rejection(7)],
            ),
        )
        .await
        .expect("apply");
    drop(store);
    let store = f.open().await;
    assert_eq!(
        store.positions(P).await.expect("positions"),
        vec![("vox.feedback.processed".to_owned(), 0, 2)]
    );
    let rows = store.feedback("acme").await.expect("rows");
    assert_eq!(
        rows,
        vec![row("acme", "1", "Hyvä"), row("acme", "2", "Bra")],
        "rows round-trip unchanged"
    );
    assert_eq!(store.rejections("acme").await.expect("rejections"), vec![rejection(7)]);
    assert!(
        store.feedback("other").await.expect("rows").is_empty(),
        "rows are per tenant"
    );
    f.finish().await;
}

/// Replaying a step changes nothing: the offset compare-and-set refuses it
/// whole; a repeated event id is stored once, as its newest version.
async fn replaying_a_step_changes_nothing(f: Fixture) {
    let store = f.open().await;
    let first = step(0, 1, vec![row("acme", "1", "first")], vec![]);
    store.apply(P, &first).await.expect("apply");
    let replay = store.apply(P, &first).await;
    assert!(
        matches!(replay, Err(StoreError::OffsetConflict { expected: 0, .. })),
        "{replay:?}"
    );

    // The same item arriving again at a later offset (a client's resend,
    // a correction) replaces the earlier version, never silently dropped,
    // and still moves the offset.
    store
        .apply(P, &step(1, 2, vec![row("acme", "1", "corrected")], vec![]))
        .await
        .expect("apply the later version");
    assert_eq!(
        store.feedback("acme").await.expect("rows"),
        vec![row("acme", "1", "corrected")]
    );
    assert_eq!(store.positions(P).await.expect("positions")[0].2, 2);
    f.finish().await;
}

/// A step whose start offset does not match writes none of its rows.
async fn a_conflicting_step_writes_nothing(f: Fixture) {
    let store = f.open().await;
    store
        .apply(P, &step(0, 5, vec![row("acme", "1", "a")], vec![]))
        .await
        .expect("apply");
    let stale = step(3, 9, vec![row("acme", "2", "b")], vec![rejection(4)]);
    assert!(matches!(
        store.apply(P, &stale).await,
        Err(StoreError::OffsetConflict { .. })
    ));
    assert_eq!(store.feedback("acme").await.expect("rows").len(), 1);
    assert!(store.rejections("acme").await.expect("rejections").is_empty());
    assert_eq!(store.positions(P).await.expect("positions")[0].2, 5);
    f.finish().await;
}

/// Dropping the read models and applying the same steps from offset zero
/// gives the same rows.
async fn rebuild_from_zero_gives_the_same_rows(f: Fixture) {
    let store = f.open().await;
    let steps = [
        step(
            0,
            2,
            vec![row("acme", "1", "a"), row("acme", "2", "b")],
            vec![rejection(0)],
        ),
        step(2, 3, vec![row("acme", "1", "dup")], vec![]),
        step(3, 5, vec![row("acme", "3", "c"), row("globex", "1", "g")], vec![]),
    ];
    for s in &steps {
        store.apply(P, s).await.expect("apply");
    }
    let before = (
        store.feedback("acme").await.expect("rows"),
        store.rejections("acme").await.expect("rej"),
    );
    store.reset().await.expect("reset");
    assert!(store.feedback("acme").await.expect("rows").is_empty());
    assert!(store.positions(P).await.expect("positions").is_empty());
    for s in &steps {
        store.apply(P, s).await.expect("apply again");
    }
    let after = (
        store.feedback("acme").await.expect("rows"),
        store.rejections("acme").await.expect("rej"),
    );
    assert_eq!(before, after);
    assert_eq!(after.0.len(), 3);
    f.finish().await;
}

macro_rules! conformance {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Fixture::sqlite().await).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Fixture::postgres().await).await
                }
            )+
        }
    };
}

conformance!(
    a_step_writes_rows_and_offsets_together,
    replaying_a_step_changes_nothing,
    a_conflicting_step_writes_nothing,
    rebuild_from_zero_gives_the_same_rows,
);
