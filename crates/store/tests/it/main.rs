//! Conformance suite of the store seam: every test runs against SQLite
//! (`sqlite::…`) and PostgreSQL (`postgres::…`, a fresh database per test).

use store::{
    FeedbackRow, NewSession, OffsetMove, Projection, RejectionRow, SessionKind, SessionRow, SsoRequest, Store,
    StoreError, SupportUse, Throttle,
};

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

    fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Writes `rows` as an older Vox did: only the migrations before
    /// `version` applied, the rows inserted with the columns of that
    /// schema. The next [`Fixture::open`] migrates the rest.
    async fn rows_of_an_older_schema(&self, version: i64, rows: &[FeedbackRow]) {
        let dir = if self.is_postgres() { "postgres" } else { "sqlite" };
        let path = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).join(dir);
        let mut migrator = sqlx::migrate::Migrator::new(path).await.expect("migrations");
        migrator.migrations = migrator
            .migrations
            .iter()
            .filter(|m| m.version < version)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        let insert = |json: &str| {
            format!(
                "INSERT INTO feedback (tenant_id, collection, external_id, event_id, client_id, batch_id, channel, \
                 occurred_at, text, language, metrics, respondent, metadata, tags, received_region, processed_region, \
                 received_at, processed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11{json}, $12, \
                 $13{json}, $14{json}, $15, $16, $17, $18)"
            )
        };
        macro_rules! insert_rows {
            ($pool:expr, $sql:expr) => {
                for r in rows {
                    sqlx::query(&$sql)
                        .bind(&r.tenant_id)
                        .bind(&r.collection)
                        .bind(&r.external_id)
                        .bind(&r.event_id)
                        .bind(&r.client_id)
                        .bind(&r.batch_id)
                        .bind(&r.channel)
                        .bind(r.occurred_at)
                        .bind(&r.text)
                        .bind(&r.language)
                        .bind(r.metrics.to_string())
                        .bind(&r.respondent)
                        .bind(r.metadata.to_string())
                        .bind(r.tags.to_string())
                        .bind(&r.received_region)
                        .bind(&r.processed_region)
                        .bind(r.received_at)
                        .bind(r.processed_at)
                        .execute($pool)
                        .await
                        .expect("a row of the older schema");
                }
            };
        }
        match &self.backend {
            Backend::Sqlite(dir) => {
                let pool = sqlx::SqlitePool::connect_with(
                    sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(dir.path().join("store.sqlite"))
                        .create_if_missing(true),
                )
                .await
                .expect("open sqlite");
                migrator.run(&pool).await.expect("older migrations");
                insert_rows!(&pool, insert(""));
                pool.close().await;
            }
            Backend::Postgres(db) => {
                let pool = sqlx::PgPool::connect(&db.url).await.expect("connect postgres");
                migrator.run(&pool).await.expect("older migrations");
                insert_rows!(&pool, insert("::jsonb"));
                pool.close().await;
            }
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

// ----- The people API's operational state -----

/// A time (microseconds since the epoch) and durations.
const T0: i64 = 1_762_161_262_000_000;
const SEC: i64 = 1_000_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;

fn session(token: u8, id: &str, user: &str, kind: SessionKind) -> NewSession {
    NewSession {
        token_sha256: [token; 32],
        id: id.into(),
        scope: "acme".into(),
        user_id: user.into(),
        kind,
        name: (kind == SessionKind::Token).then(|| format!("token {id}")),
        created_at: T0,
        expires_at: T0 + HOUR,
        idle_micros: None,
        // A credential epoch the store keeps as given.
        epoch: T0 - 7,
    }
}

/// The row the store returns for `new`, last used at `last_seen_at`.
fn returned(new: &NewSession, last_seen_at: i64, attempts: i64) -> SessionRow {
    SessionRow {
        id: new.id.clone(),
        scope: new.scope.clone(),
        user_id: new.user_id.clone(),
        kind: new.kind,
        name: new.name.clone(),
        created_at: new.created_at,
        last_seen_at,
        expires_at: new.expires_at,
        idle_micros: new.idle_micros,
        attempts,
        epoch: new.epoch,
    }
}

#[test]
fn session_kinds_round_trip_their_names() {
    for kind in SessionKind::ALL {
        assert_eq!(SessionKind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(SessionKind::parse("Session"), None);
    assert_eq!(SessionKind::parse(""), None);
}

/// A session is used until its absolute end, only as its own kind, and a
/// use records when it was last seen.
async fn a_session_is_used_until_it_expires(f: Fixture) {
    let store = f.open().await;
    let s = session(1, "s1", "ann", SessionKind::Session);
    store.create_session(&s).await.expect("create");
    assert_eq!(
        store
            .use_session(&[1; 32], SessionKind::Session, T0 + SEC)
            .await
            .expect("use"),
        Some(returned(&s, T0 + SEC, 0))
    );
    drop(store);
    let store = f.open().await;
    assert_eq!(
        store
            .use_session(&[1; 32], SessionKind::Session, T0 + HOUR - 1)
            .await
            .expect("use"),
        Some(returned(&s, T0 + HOUR - 1, 0)),
        "survives a restart, live until its last microsecond"
    );
    for (token, kind, now, why) in [
        ([1; 32], SessionKind::Session, T0 + HOUR, "expired"),
        ([1; 32], SessionKind::Session, T0 + 2 * HOUR, "long expired"),
        ([1; 32], SessionKind::Token, T0 + SEC, "a session is not a token"),
        (
            [1; 32],
            SessionKind::Challenge,
            T0 + SEC,
            "a session is not a challenge",
        ),
        ([2; 32], SessionKind::Session, T0 + SEC, "unknown"),
    ] {
        assert_eq!(store.use_session(&token, kind, now).await.expect("use"), None, "{why}");
    }
    // The same hash or public id twice is refused.
    let mut again = session(1, "s2", "bob", SessionKind::Session);
    let refused = store.create_session(&again).await.expect_err("same hash");
    assert!(refused.is_refused_data(), "{refused:?}");
    again.token_sha256 = [3; 32];
    again.id = "s1".into();
    assert!(store.create_session(&again).await.is_err(), "same public id");
    f.finish().await;
}

/// With an idle timeout a session ends that long after its last use, and
/// stays ended; a use from a node whose clock is behind does not move the
/// last use back.
async fn an_idle_session_expires(f: Fixture) {
    let store = f.open().await;
    let s = NewSession {
        idle_micros: Some(10 * MIN),
        ..session(1, "s1", "ann", SessionKind::Session)
    };
    store.create_session(&s).await.expect("create");
    let used = |now| store.use_session(&[1; 32], SessionKind::Session, now);
    assert_eq!(
        used(T0 + 9 * MIN).await.expect("use"),
        Some(returned(&s, T0 + 9 * MIN, 0))
    );
    assert_eq!(
        used(T0 + 18 * MIN).await.expect("use"),
        Some(returned(&s, T0 + 18 * MIN, 0)),
        "each use restarts the idle timeout"
    );
    assert_eq!(
        used(T0 + 17 * MIN).await.expect("use"),
        Some(returned(&s, T0 + 18 * MIN, 0)),
        "last use never moves back"
    );
    assert_eq!(used(T0 + 28 * MIN).await.expect("use"), None, "idle for 10 minutes");
    assert_eq!(
        used(T0 + 27 * MIN).await.expect("use"),
        Some(returned(&s, T0 + 27 * MIN, 0)),
        "a refused use does not count as a use"
    );
    assert_eq!(used(T0 + 50 * MIN).await.expect("use"), None);
    assert_eq!(used(T0 + 51 * MIN).await.expect("use"), None, "stays ended");
    f.finish().await;
}

/// Logout revokes a live session once; a revoked or expired one is refused.
async fn a_revoked_session_is_refused(f: Fixture) {
    let store = f.open().await;
    store
        .create_session(&session(1, "s1", "ann", SessionKind::Session))
        .await
        .expect("create");
    store
        .create_session(&session(2, "s2", "ann", SessionKind::Enrol))
        .await
        .expect("create");
    assert!(store.revoke_session(&[1; 32], T0 + SEC).await.expect("revoke"));
    assert!(
        !store.revoke_session(&[1; 32], T0 + 2 * SEC).await.expect("revoke"),
        "already revoked"
    );
    assert_eq!(
        store
            .use_session(&[1; 32], SessionKind::Session, T0 + 2 * SEC)
            .await
            .expect("use"),
        None
    );
    assert!(!store.revoke_session(&[9; 32], T0).await.expect("revoke"), "unknown");
    assert!(
        !store.revoke_session(&[2; 32], T0 + HOUR).await.expect("revoke"),
        "expired"
    );
    assert!(store.revoke_session(&[2; 32], T0).await.expect("revoke"), "any kind");
    assert_eq!(
        store.use_session(&[2; 32], SessionKind::Enrol, T0).await.expect("use"),
        None
    );
    f.finish().await;
}

/// A pending second-factor step gets at most N attempts, each counted.
async fn a_challenge_gets_at_most_n_attempts(f: Fixture) {
    let store = f.open().await;
    let c = session(1, "c1", "ann", SessionKind::Challenge);
    store.create_session(&c).await.expect("create");
    store
        .create_session(&session(2, "s1", "ann", SessionKind::Session))
        .await
        .expect("create");
    store
        .create_session(&session(3, "c2", "ann", SessionKind::Challenge))
        .await
        .expect("create");
    for n in 1..=3 {
        assert_eq!(
            store.challenge_attempt(&[1; 32], T0 + n, 3).await.expect("attempt"),
            Some(returned(&c, T0 + n, n)),
            "attempt {n}"
        );
    }
    assert_eq!(
        store.challenge_attempt(&[1; 32], T0 + 4, 3).await.expect("attempt"),
        None
    );
    assert_eq!(
        store.challenge_attempt(&[1; 32], T0 + 5, 3).await.expect("attempt"),
        None,
        "stays refused"
    );
    assert_eq!(
        store.challenge_attempt(&[2; 32], T0, 3).await.expect("attempt"),
        None,
        "a session is not a challenge"
    );
    assert_eq!(store.challenge_attempt(&[9; 32], T0, 3).await.expect("attempt"), None);
    assert_eq!(
        store.challenge_attempt(&[3; 32], T0 + HOUR, 3).await.expect("attempt"),
        None,
        "expired"
    );
    assert!(store.revoke_session(&[3; 32], T0).await.expect("revoke"));
    assert_eq!(
        store.challenge_attempt(&[3; 32], T0, 3).await.expect("attempt"),
        None,
        "revoked"
    );
    f.finish().await;
}

/// Revoking a user's sessions touches only that user, in that scope, of
/// the kinds named, and counts only live ones.
async fn revoking_a_users_sessions_touches_only_that_user(f: Fixture) {
    let store = f.open().await;
    let elsewhere = NewSession {
        scope: "globex".into(),
        ..session(5, "g1", "ann", SessionKind::Session)
    };
    for s in [
        session(1, "s1", "ann", SessionKind::Session),
        session(2, "s2", "ann", SessionKind::Session),
        session(3, "t1", "ann", SessionKind::Token),
        session(4, "c1", "ann", SessionKind::Challenge),
        session(6, "b1", "bob", SessionKind::Session),
        elsewhere,
    ] {
        store.create_session(&s).await.expect("create");
    }
    assert!(store.revoke_session(&[2; 32], T0).await.expect("revoke"));
    let kinds = [SessionKind::Session, SessionKind::Challenge];
    assert_eq!(
        store
            .revoke_user_sessions("acme", "ann", &kinds, T0 + SEC)
            .await
            .expect("revoke"),
        2,
        "s1 and c1; s2 was revoked already"
    );
    assert_eq!(
        store
            .revoke_user_sessions("acme", "ann", &kinds, T0 + SEC)
            .await
            .expect("revoke"),
        0
    );
    assert_eq!(
        store
            .revoke_user_sessions("acme", "ann", &[], T0 + SEC)
            .await
            .expect("revoke"),
        0
    );
    let s = &store;
    let live = move |token: u8, kind| async move { s.use_session(&[token; 32], kind, T0 + 2 * SEC).await };
    assert!(live(1, SessionKind::Session).await.expect("use").is_none());
    assert!(live(4, SessionKind::Challenge).await.expect("use").is_none());
    assert!(
        live(3, SessionKind::Token).await.expect("use").is_some(),
        "another kind"
    );
    assert!(
        live(6, SessionKind::Session).await.expect("use").is_some(),
        "another user"
    );
    assert!(
        live(5, SessionKind::Session).await.expect("use").is_some(),
        "another scope"
    );
    f.finish().await;
}

/// A user's token list holds only their live tokens, newest first, and a
/// user revokes only their own tokens.
async fn list_tokens_lists_only_live_tokens(f: Fixture) {
    let store = f.open().await;
    let token = |n: u8, id: &str, user: &str, created_at: i64, expires_at: i64| NewSession {
        created_at,
        expires_at,
        ..session(n, id, user, SessionKind::Token)
    };
    let older = token(1, "t-old", "ann", T0, T0 + HOUR);
    let newer = token(2, "t-new", "ann", T0 + SEC, T0 + HOUR);
    for s in [
        older.clone(),
        newer.clone(),
        token(3, "t-revoked", "ann", T0, T0 + HOUR),
        token(4, "t-expired", "ann", T0, T0 + 2 * SEC),
        token(5, "t-bob", "bob", T0, T0 + HOUR),
        session(6, "s-ann", "ann", SessionKind::Session),
        NewSession {
            scope: "globex".into(),
            ..token(7, "t-globex", "ann", T0, T0 + HOUR)
        },
    ] {
        store.create_session(&s).await.expect("create");
    }
    let now = T0 + 3 * SEC;
    assert!(store
        .revoke_token("acme", "ann", "t-revoked", now)
        .await
        .expect("revoke"));
    assert!(
        !store
            .revoke_token("acme", "ann", "t-revoked", now)
            .await
            .expect("revoke"),
        "once"
    );
    assert!(
        !store.revoke_token("acme", "ann", "t-bob", now).await.expect("revoke"),
        "not hers"
    );
    assert!(
        !store.revoke_token("acme", "ann", "s-ann", now).await.expect("revoke"),
        "not a token"
    );
    assert!(
        !store
            .revoke_token("acme", "ann", "t-globex", now)
            .await
            .expect("revoke"),
        "other scope"
    );
    assert!(
        !store
            .revoke_token("acme", "ann", "t-expired", now)
            .await
            .expect("revoke"),
        "expired"
    );
    assert!(
        !store.revoke_token("acme", "ann", "nope", now).await.expect("revoke"),
        "unknown"
    );
    assert_eq!(
        store.list_tokens("acme", "ann", now).await.expect("list"),
        vec![returned(&newer, T0 + SEC, 0), returned(&older, T0, 0)]
    );
    assert!(store
        .use_session(&[5; 32], SessionKind::Token, now)
        .await
        .expect("use")
        .is_some());
    assert!(store.revoke_token("acme", "ann", "t-new", now).await.expect("revoke"));
    assert_eq!(
        store.list_tokens("acme", "ann", now).await.expect("list"),
        vec![returned(&older, T0, 0)]
    );
    assert!(store
        .use_session(&[2; 32], SessionKind::Token, now)
        .await
        .expect("use")
        .is_none());
    f.finish().await;
}

/// Purging deletes what ended longer ago than the time kept, and nothing live.
async fn purging_sessions_deletes_only_long_ended_ones(f: Fixture) {
    let store = f.open().await;
    let with = |n: u8, expires_at: i64, idle_micros: Option<i64>| NewSession {
        expires_at,
        idle_micros,
        ..session(n, &format!("s{n}"), "ann", SessionKind::Session)
    };
    for s in [
        with(1, T0 + 10 * HOUR, None),            // live
        with(2, T0 + HOUR, None),                 // expired at T0 + 1h
        with(3, T0 + 10 * HOUR, None),            // revoked at T0
        with(4, T0 + 10 * HOUR, Some(HOUR)),      // idle-expired at T0 + 1h
        with(5, T0 + 10 * HOUR, Some(10 * HOUR)), // idle, live
        with(6, T0 + 4 * HOUR, None),             // expired at T0 + 4h
    ] {
        store.create_session(&s).await.expect("create");
    }
    assert!(store.revoke_session(&[3; 32], T0).await.expect("revoke"));
    let keep = 2 * HOUR;
    assert_eq!(store.purge_sessions(T0 + 2 * HOUR, keep).await.expect("purge"), 0);
    assert_eq!(
        store.purge_sessions(T0 + 3 * HOUR + 1, keep).await.expect("purge"),
        3,
        "expired, revoked and idle-expired more than 2 h ago"
    );
    assert_eq!(store.purge_sessions(T0 + 3 * HOUR + 1, keep).await.expect("purge"), 0);
    assert_eq!(store.purge_sessions(T0 + 6 * HOUR + 1, keep).await.expect("purge"), 1);
    for token in [1, 5] {
        assert!(
            store
                .use_session(&[token; 32], SessionKind::Session, T0 + 6 * HOUR + 1)
                .await
                .expect("use")
                .is_some(),
            "s{token} is live"
        );
    }
    assert_eq!(
        store.purge_sessions(T0 + 6 * HOUR + 1, i64::MAX).await.expect("purge"),
        0,
        "a huge keep time purges nothing"
    );
    f.finish().await;
}

/// Each TOTP step is accepted once per user, never one older than the
/// newest accepted; a new enrolment starts afresh.
async fn a_totp_step_is_accepted_once(f: Fixture) {
    let store = f.open().await;
    let step = |scope: &'static str, user: &'static str, step| store.use_totp_step(scope, user, step);
    assert!(step("acme", "ann", 100).await.expect("step"));
    assert!(!step("acme", "ann", 100).await.expect("step"), "replayed");
    assert!(!step("acme", "ann", 99).await.expect("step"), "older");
    assert!(step("acme", "ann", 101).await.expect("step"));
    assert!(step("acme", "bob", 100).await.expect("step"), "another user");
    assert!(step("globex", "ann", 100).await.expect("step"), "another scope");
    assert!(!step("acme", "ann", 101).await.expect("step"));
    store.reset_totp_steps("acme", "ann").await.expect("reset");
    assert!(step("acme", "ann", 50).await.expect("step"), "after re-enrolment");
    assert!(!step("acme", "bob", 100).await.expect("step"), "others keep theirs");
    f.finish().await;
}

/// A recovery code is accepted the first time only.
async fn a_recovery_code_is_used_once(f: Fixture) {
    let store = f.open().await;
    assert!(store.use_recovery_code("acme", "ann", &[1; 32], T0).await.expect("use"));
    assert!(
        !store
            .use_recovery_code("acme", "ann", &[1; 32], T0 + 1)
            .await
            .expect("use"),
        "reused"
    );
    assert!(store.use_recovery_code("acme", "ann", &[2; 32], T0).await.expect("use"));
    assert!(store.use_recovery_code("acme", "bob", &[1; 32], T0).await.expect("use"));
    assert!(store.use_recovery_code("-", "ann", &[1; 32], T0).await.expect("use"));
    f.finish().await;
}

/// A pending TOTP enrolment is taken once, the newest one, and only before
/// it expires.
async fn a_pending_totp_enrolment_is_taken_once(f: Fixture) {
    let store = f.open().await;
    store
        .set_pending_totp("acme", "ann", b"sealed-1", T0 + MIN)
        .await
        .expect("set");
    store
        .set_pending_totp("acme", "ann", b"sealed-2", T0 + MIN)
        .await
        .expect("replace");
    store
        .set_pending_totp("acme", "bob", b"sealed-b", T0 + MIN)
        .await
        .expect("set");
    assert_eq!(
        store.take_pending_totp("acme", "ann", T0).await.expect("take"),
        Some(b"sealed-2".to_vec())
    );
    assert_eq!(
        store.take_pending_totp("acme", "ann", T0).await.expect("take"),
        None,
        "taken"
    );
    assert_eq!(store.take_pending_totp("globex", "bob", T0).await.expect("take"), None);
    assert_eq!(
        store.take_pending_totp("acme", "bob", T0 + MIN).await.expect("take"),
        None,
        "expired"
    );
    assert_eq!(
        store.take_pending_totp("acme", "bob", T0).await.expect("take"),
        None,
        "an expired one is deleted"
    );
    f.finish().await;
}

/// Failures beyond the free ones lock the account for doubling durations
/// up to the maximum; a success forgets them and says what they were.
async fn lockouts_grow_up_to_the_maximum(f: Fixture) {
    let store = f.open().await;
    let failed = |n: i64| store.login_failed("acme", "ann@example.com", T0 + n * SEC, 3, MIN, 10 * MIN);
    for n in 1..=3 {
        let t = failed(n).await.expect("failed");
        assert_eq!(
            t,
            Throttle {
                failures: n,
                locked_until: 0
            },
            "free failure {n}"
        );
        assert!(!t.is_locked(T0 + n * SEC));
    }
    for (n, lock) in [
        (4, MIN),
        (5, 2 * MIN),
        (6, 4 * MIN),
        (7, 8 * MIN),
        (8, 10 * MIN),
        (9, 10 * MIN),
    ] {
        let t = failed(n).await.expect("failed");
        assert_eq!(
            t,
            Throttle {
                failures: n,
                locked_until: T0 + n * SEC + lock
            },
            "failure {n} locks for {} s",
            lock / SEC
        );
        assert!(t.is_locked(T0 + n * SEC + lock - 1) && !t.is_locked(T0 + n * SEC + lock));
    }
    let last = Throttle {
        failures: 9,
        locked_until: T0 + 9 * SEC + 10 * MIN,
    };
    assert_eq!(
        store.login_throttle("acme", "ann@example.com").await.expect("get"),
        Some(last)
    );
    assert_eq!(
        store.login_throttle("acme", "bob@example.com").await.expect("get"),
        None
    );
    assert_eq!(
        store.login_throttle("globex", "ann@example.com").await.expect("get"),
        None
    );
    assert_eq!(
        store.login_succeeded("acme", "ann@example.com").await.expect("ok"),
        Some(last)
    );
    assert_eq!(
        store.login_succeeded("acme", "ann@example.com").await.expect("ok"),
        None
    );
    assert_eq!(
        store.login_throttle("acme", "ann@example.com").await.expect("get"),
        None
    );
    assert_eq!(
        failed(20).await.expect("failed"),
        Throttle {
            failures: 1,
            locked_until: 0
        },
        "counts afresh after a success"
    );
    f.finish().await;
}

/// A lockout in force is not shortened; the count starts over only after a
/// quiet period longer than the longest lockout; the arithmetic does not
/// overflow; the table is purged of quiet accounts.
async fn lockouts_start_over_after_a_quiet_period(f: Fixture) {
    let store = f.open().await;
    let failed =
        |account: &'static str, now: i64, base: i64, max: i64| store.login_failed("acme", account, now, 1, base, max);
    failed("ann", T0, MIN, HOUR).await.expect("failed");
    let t = failed("ann", T0, 30 * MIN, HOUR).await.expect("failed");
    assert_eq!(t.locked_until, T0 + 30 * MIN);
    let t = failed("ann", T0 + SEC, SEC, HOUR).await.expect("failed");
    assert_eq!(
        t,
        Throttle {
            failures: 3,
            locked_until: T0 + 30 * MIN
        },
        "a shorter lockout leaves the longer one in force"
    );
    // Quiet for exactly the longest lockout after the lockout ended: still counts.
    let t = failed("ann", T0 + 30 * MIN + HOUR, MIN, HOUR).await.expect("failed");
    assert_eq!(
        t,
        Throttle {
            failures: 4,
            locked_until: T0 + 30 * MIN + HOUR + 4 * MIN
        },
        "quiet for exactly the longest lockout: the fourth failure, 4 minutes"
    );
    // Quiet for longer than that: starts over.
    let quiet_from = t.locked_until;
    let t = failed("ann", quiet_from + HOUR + 1, MIN, HOUR).await.expect("failed");
    assert_eq!(
        t,
        Throttle {
            failures: 1,
            locked_until: 0
        }
    );

    // A hundred doublings cap at the maximum without overflowing, and a
    // lockout beyond the end of time saturates.
    let mut t = Throttle {
        failures: 0,
        locked_until: 0,
    };
    for _ in 0..100 {
        t = failed("bob", T0, i64::MAX / 4, i64::MAX / 2).await.expect("failed");
    }
    assert_eq!(
        t,
        Throttle {
            failures: 100,
            locked_until: T0 + i64::MAX / 2
        }
    );
    let t = failed("cy", T0, i64::MAX, i64::MAX).await.expect("failed");
    assert_eq!(
        t,
        Throttle {
            failures: 1,
            locked_until: 0
        }
    );
    let t = failed("cy", T0, i64::MAX, i64::MAX).await.expect("failed");
    assert_eq!(t.locked_until, i64::MAX);

    // Purging deletes only accounts quiet (no failure, no lockout) for longer than asked.
    failed("dee", T0, MIN, HOUR).await.expect("failed");
    assert_eq!(store.purge_login_throttle(T0 + HOUR, HOUR).await.expect("purge"), 0);
    assert_eq!(
        store.purge_login_throttle(T0 + HOUR + 1, HOUR).await.expect("purge"),
        1,
        "dee"
    );
    assert!(store.login_throttle("acme", "dee").await.expect("get").is_none());
    assert!(
        store.login_throttle("acme", "bob").await.expect("get").is_some(),
        "locked"
    );
    f.finish().await;
}

/// Support uses are listed per grant, newest first, and counted.
async fn support_uses_are_listed_newest_first(f: Fixture) {
    let store = f.open().await;
    let record = |grant: &'static str, scope: &'static str, at: i64, path: &'static str| {
        store.record_support_use(grant, scope, "sam", at, "GET", path)
    };
    record("g1", "acme", T0 + 2, "/v1/b").await.expect("record");
    record("g1", "acme", T0 + 1, "/v1/a").await.expect("record");
    record("g1", "acme", T0 + 2, "/v1/c").await.expect("record");
    record("g2", "acme", T0 + 3, "/v1/x").await.expect("record");
    record("g1", "globex", T0 + 3, "/v1/y").await.expect("record");
    let used = |at: i64, path: &str| SupportUse {
        grant_id: "g1".into(),
        scope: "acme".into(),
        support_user: "sam".into(),
        at,
        method: "GET".into(),
        path: path.into(),
    };
    assert_eq!(
        store.support_uses("acme", "g1", 10).await.expect("list"),
        vec![used(T0 + 2, "/v1/c"), used(T0 + 2, "/v1/b"), used(T0 + 1, "/v1/a")],
        "newest first; the later recorded of the same time first"
    );
    assert_eq!(
        store.support_uses("acme", "g1", 1).await.expect("list"),
        vec![used(T0 + 2, "/v1/c")]
    );
    assert!(store.support_uses("acme", "g1", -1).await.expect("list").is_empty());
    assert_eq!(store.count_support_uses("acme", "g1").await.expect("count"), 3);
    assert_eq!(store.count_support_uses("acme", "g2").await.expect("count"), 1);
    assert_eq!(store.count_support_uses("globex", "g2").await.expect("count"), 0);
    f.finish().await;
}

/// Dropping the read models for a rebuild keeps the people API's state.
async fn reset_keeps_the_people_state(f: Fixture) {
    let store = f.open().await;
    store
        .create_session(&session(1, "s1", "ann", SessionKind::Session))
        .await
        .expect("create");
    assert!(store.use_totp_step("acme", "ann", 100).await.expect("step"));
    assert!(store
        .use_recovery_code("acme", "ann", &[1; 32], T0)
        .await
        .expect("code"));
    store
        .set_pending_totp("acme", "bob", b"sealed", T0 + MIN)
        .await
        .expect("set");
    store
        .login_failed("acme", "cy", T0, 0, MIN, HOUR)
        .await
        .expect("failed");
    store
        .record_support_use("g1", "acme", "sam", T0, "GET", "/")
        .await
        .expect("record");
    store.reset().await.expect("reset");
    assert!(store
        .use_session(&[1; 32], SessionKind::Session, T0)
        .await
        .expect("use")
        .is_some());
    assert!(!store.use_totp_step("acme", "ann", 100).await.expect("step"));
    assert!(!store
        .use_recovery_code("acme", "ann", &[1; 32], T0)
        .await
        .expect("code"));
    assert!(store
        .take_pending_totp("acme", "bob", T0)
        .await
        .expect("take")
        .is_some());
    assert!(store.login_throttle("acme", "cy").await.expect("get").is_some());
    assert_eq!(store.count_support_uses("acme", "g1").await.expect("count"), 1);
    f.finish().await;
}

/// Nodes racing on one database: of 8 concurrent uses of one TOTP step or
/// one recovery code exactly one is accepted, of 8 concurrent attempts at a
/// challenge with 3 allowed exactly 3 are, and 8 concurrent failed logins
/// are all counted. The calls go through two connection pools, as two
/// nodes would.
async fn racing_nodes_accept_a_one_time_value_once(f: Fixture) {
    let nodes = [f.open().await, f.open().await];
    nodes[0]
        .create_session(&session(1, "c1", "ann", SessionKind::Challenge))
        .await
        .expect("create");
    async fn race<T, F, Fut>(nodes: &[Store; 2], call: F) -> Vec<T>
    where
        T: Send + 'static,
        F: Fn(Store) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let tasks: Vec<_> = (0..8).map(|i| tokio::spawn(call(nodes[i % 2].clone()))).collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("task").expect("call"));
        }
        results
    }
    let steps = race(&nodes, |s| async move { s.use_totp_step("acme", "ann", 7).await }).await;
    assert_eq!(steps.iter().filter(|&&ok| ok).count(), 1, "{steps:?}");
    let codes = race(&nodes, |s| async move {
        s.use_recovery_code("acme", "ann", &[1; 32], T0).await
    })
    .await;
    assert_eq!(codes.iter().filter(|&&ok| ok).count(), 1, "{codes:?}");
    let attempts = race(&nodes, |s| async move { s.challenge_attempt(&[1; 32], T0, 3).await }).await;
    let mut counted: Vec<i64> = attempts.iter().flatten().map(|c| c.attempts).collect();
    counted.sort_unstable();
    assert_eq!(counted, vec![1, 2, 3]);
    let failures = race(&nodes, |s| async move {
        s.login_failed("acme", "ann", T0, 100, MIN, HOUR).await
    })
    .await;
    let mut counted: Vec<i64> = failures.iter().map(|t| t.failures).collect();
    counted.sort_unstable();
    assert_eq!(counted, (1..=8).collect::<Vec<_>>(), "every failure counted once");
    nodes[0]
        .sso_request_create(&sso_request("_r1", "acme"), 10)
        .await
        .expect("create");
    let taken = race(&nodes, |s| async move { s.sso_request_take("acme", "_r1", T0).await }).await;
    assert_eq!(taken.iter().flatten().count(), 1, "{taken:?}");
    let used = race(
        &nodes,
        |s| async move { s.sso_assertion_use("acme", "a1", T0 + HOUR).await },
    )
    .await;
    assert_eq!(used.iter().filter(|&&ok| ok).count(), 1, "{used:?}");
    f.finish().await;
}

fn sso_request(id: &str, tenant: &str) -> SsoRequest {
    SsoRequest {
        id: id.into(),
        tenant_id: tenant.into(),
        browser_sha256: [7; 32],
        relay_state: Some("/v1/me".into()),
        created_at: T0,
        expires_at: T0 + 10 * MIN,
    }
}

/// A request is answered once, by its own tenant, before it expires.
async fn an_sso_request_is_taken_once_by_its_tenant_in_time(f: Fixture) {
    let store = f.open().await;
    for r in [
        sso_request("_a", "acme"),
        sso_request("_b", "acme"),
        sso_request("_c", "acme"),
    ] {
        assert!(store.sso_request_create(&r, 10).await.expect("create"));
    }
    assert_eq!(
        store.sso_request_take("globex", "_a", T0).await.expect("take"),
        None,
        "another tenant's"
    );
    assert_eq!(
        store.sso_request_take("acme", "_a", T0).await.expect("take"),
        Some(sso_request("_a", "acme"))
    );
    assert_eq!(
        store.sso_request_take("acme", "_a", T0).await.expect("take"),
        None,
        "answered once"
    );
    assert_eq!(
        store.sso_request_take("acme", "_b", T0 + 10 * MIN).await.expect("take"),
        None,
        "expired"
    );
    assert_eq!(
        store.sso_request_take("acme", "_unknown", T0).await.expect("take"),
        None
    );
    // The expired one is gone with the take; the live one stays until it
    // is purged after its time.
    assert_eq!(store.purge_sso(T0).await.expect("purge"), 0);
    assert_eq!(store.purge_sso(T0 + 10 * MIN).await.expect("purge"), 1);
    assert_eq!(store.sso_request_take("acme", "_c", T0).await.expect("take"), None);
    f.finish().await;
}

/// No tenant holds more than its bound of live requests; expired ones do
/// not count.
async fn sso_requests_are_bounded_per_tenant(f: Fixture) {
    let store = f.open().await;
    for i in 0..3 {
        assert!(store
            .sso_request_create(&sso_request(&format!("_a{i}"), "acme"), 3)
            .await
            .expect("create"));
    }
    assert!(!store
        .sso_request_create(&sso_request("_a3", "acme"), 3)
        .await
        .expect("create"));
    assert_eq!(
        store.sso_request_take("acme", "_a3", T0).await.expect("take"),
        None,
        "not stored"
    );
    assert!(
        store
            .sso_request_create(&sso_request("_g0", "globex"), 3)
            .await
            .expect("create"),
        "another tenant's bound"
    );
    let later = SsoRequest {
        created_at: T0 + 10 * MIN,
        expires_at: T0 + 20 * MIN,
        ..sso_request("_a4", "acme")
    };
    assert!(
        store.sso_request_create(&later, 3).await.expect("create"),
        "the expired ones no longer count"
    );
    f.finish().await;
}

/// An assertion is used once per tenant; purging forgets only expired ones.
async fn an_assertion_is_used_once(f: Fixture) {
    let store = f.open().await;
    assert!(store.sso_assertion_use("acme", "id-1", T0 + HOUR).await.expect("use"));
    assert!(
        !store.sso_assertion_use("acme", "id-1", T0 + HOUR).await.expect("use"),
        "a replay"
    );
    assert!(
        store.sso_assertion_use("globex", "id-1", T0 + HOUR).await.expect("use"),
        "another tenant's"
    );
    assert!(store.sso_assertion_use("acme", "id-2", T0 + MIN).await.expect("use"));
    assert_eq!(store.purge_sso(T0 + 2 * MIN).await.expect("purge"), 1);
    assert!(
        !store.sso_assertion_use("acme", "id-1", T0 + HOUR).await.expect("use"),
        "still remembered"
    );
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
    a_session_is_used_until_it_expires,
    an_idle_session_expires,
    a_revoked_session_is_refused,
    a_challenge_gets_at_most_n_attempts,
    revoking_a_users_sessions_touches_only_that_user,
    list_tokens_lists_only_live_tokens,
    purging_sessions_deletes_only_long_ended_ones,
    a_totp_step_is_accepted_once,
    a_recovery_code_is_used_once,
    a_pending_totp_enrolment_is_taken_once,
    lockouts_grow_up_to_the_maximum,
    lockouts_start_over_after_a_quiet_period,
    support_uses_are_listed_newest_first,
    reset_keeps_the_people_state,
    racing_nodes_accept_a_one_time_value_once,
    an_sso_request_is_taken_once_by_its_tenant_in_time,
    sso_requests_are_bounded_per_tenant,
    an_assertion_is_used_once,
);

// The analyst queries: their conformance suite and the oracle property test.
mod items;
mod oracle;
mod query;
