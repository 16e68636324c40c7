//! Operational state of the people API: sessions and tokens, the second
//! factor, login throttling and uses of support access. Unlike the read
//! models this is not derived from the log, so [`Store::reset`] leaves it
//! alone.
//!
//! Every method is one SQL statement or one transaction, so nodes sharing
//! one database agree: a one-time value (a TOTP step, a recovery code, a
//! challenge attempt) is accepted by at most one of them. Times are
//! microseconds since the Unix epoch and always come from the caller (the
//! store reads no clock); `scope` is a tenant id, or `"-"` for
//! installation-level support users. Tokens and codes are stored only as
//! their SHA-256 hashes, which the caller computes.

use serde::Serialize;
use sqlx::Row;

use crate::{Store, StoreError};

/// Runs `$body` with `$p` bound to this store's pool, whichever backend it
/// is: the same SQL text serves both (`$n` placeholders work in SQLite too).
macro_rules! on_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match $store {
            Store::Sqlite($p) => $body,
            Store::Postgres($p) => $body,
        }
    };
}

/// The columns of a [`SessionRow`], in the order `session_from_row!` reads.
macro_rules! session_columns {
    () => {
        "id, scope, user_id, kind, name, created_at, last_seen_at, expires_at, idle_micros, attempts, epoch"
    };
}

/// Whether a `sessions` row is live at the time in parameter `$now`: not
/// revoked, not expired, and (with an idle timeout) used recently enough.
/// Written as a difference rather than `last_seen_at + idle_micros`, which
/// could overflow for a huge idle timeout.
macro_rules! live {
    ($now:literal) => {
        concat!(
            "revoked_at IS NULL AND expires_at > ",
            $now,
            " AND (idle_micros IS NULL OR idle_micros > ",
            $now,
            " - last_seen_at)"
        )
    };
}

/// `last_seen_at` moved to the time in `$now`, never backwards (nodes'
/// clocks differ a little).
macro_rules! seen {
    ($now:literal) => {
        concat!(
            "last_seen_at = CASE WHEN last_seen_at < ",
            $now,
            " THEN ",
            $now,
            " ELSE last_seen_at END"
        )
    };
}

macro_rules! session_from_row {
    ($r:expr) => {{
        let r = $r;
        let kind: String = r.try_get(3)?;
        Ok::<_, StoreError>(SessionRow {
            id: r.try_get(0)?,
            scope: r.try_get(1)?,
            user_id: r.try_get(2)?,
            kind: SessionKind::parse(&kind).ok_or_else(|| unknown_kind(&kind))?,
            name: r.try_get(4)?,
            created_at: r.try_get(5)?,
            last_seen_at: r.try_get(6)?,
            expires_at: r.try_get(7)?,
            idle_micros: r.try_get(8)?,
            attempts: i64::from(r.try_get::<i32, _>(9)?),
            epoch: r.try_get(10)?,
        })
    }};
}

fn unknown_kind(kind: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(
        format!("table sessions holds an unknown kind '{kind}'").into(),
    ))
}

/// What a row of `sessions` stands for; a secret of one kind is never
/// accepted as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    /// A signed-in browser session (after every factor).
    Session,
    /// A personal API token, named by its user.
    Token,
    /// A one-time enrolment link (setting a password or second factor).
    Enrol,
    /// A login that passed its password and waits for its second factor.
    Challenge,
}

impl SessionKind {
    pub const ALL: [SessionKind; 4] = [
        SessionKind::Session,
        SessionKind::Token,
        SessionKind::Enrol,
        SessionKind::Challenge,
    ];

    /// The stored name: `session`, `token`, `enrol` or `challenge`.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Session => "session",
            SessionKind::Token => "token",
            SessionKind::Enrol => "enrol",
            SessionKind::Challenge => "challenge",
        }
    }

    /// The kind with this stored name.
    pub fn parse(name: &str) -> Option<SessionKind> {
        SessionKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// A session, token, enrolment or challenge to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// SHA-256 of the secret the client holds (the secret is never stored).
    pub token_sha256: [u8; 32],
    /// A short public id, unique across the installation (what lists and
    /// revocation by id name).
    pub id: String,
    pub scope: String,
    pub user_id: String,
    pub kind: SessionKind,
    /// A personal token's name; `None` for other kinds.
    pub name: Option<String>,
    /// Also its first `last_seen_at`.
    pub created_at: i64,
    /// The absolute end, however often it is used.
    pub expires_at: i64,
    /// Idle timeout: it ends this long after its last use. `None`: no idle
    /// timeout.
    pub idle_micros: Option<i64>,
    /// The user's credential epoch the login saw (the caller compares it
    /// with the current one: a password change, disabling or "revoke
    /// sessions" moves it, and older sessions end).
    pub epoch: i64,
}

/// A live session, token, enrolment or challenge, as the store returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionRow {
    pub id: String,
    pub scope: String,
    pub user_id: String,
    pub kind: SessionKind,
    pub name: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub idle_micros: Option<i64>,
    /// Attempts made on a challenge so far (this one included, when
    /// [`Store::challenge_attempt`] returned it); 0 for other kinds.
    pub attempts: i64,
    /// The credential epoch stored with it ([`NewSession::epoch`]).
    pub epoch: i64,
}

/// The failed-login state of one account name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Throttle {
    /// Failures counted since the count last started over.
    pub failures: i64,
    /// Logins are refused before this time (0 or a past time: not locked).
    pub locked_until: i64,
}

impl Throttle {
    /// Whether logins are refused at `now`.
    pub fn is_locked(&self, now: i64) -> bool {
        self.locked_until > now
    }
}

/// One request a support user made under a tenant's access grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SupportUse {
    pub grant_id: String,
    pub scope: String,
    pub support_user: String,
    pub at: i64,
    pub method: String,
    pub path: String,
}

/// The throttle after one more failure at `now`, given the stored
/// `(failures, locked_until, updated_at)` (the arithmetic of
/// [`Store::login_failed`]).
fn after_failure(
    previous: Option<(i64, i64, i64)>,
    now: i64,
    free_failures: i64,
    base_lock_micros: i64,
    max_lock_micros: i64,
) -> Throttle {
    let max_lock = max_lock_micros.max(0);
    let (failures, locked_until) = match previous {
        // Quiet for longer than the longest lockout since the last failure
        // and the end of the last lockout: the count starts over.
        Some((failures, locked_until, updated_at)) if now.saturating_sub(updated_at.max(locked_until)) <= max_lock => {
            (failures.saturating_add(1), locked_until)
        }
        _ => (1, 0),
    };
    // Stored as INTEGER (32 bits in PostgreSQL).
    let failures = failures.clamp(1, i64::from(i32::MAX));
    let locked_until = if failures > free_failures {
        let doublings = failures.saturating_sub(free_failures).saturating_sub(1);
        let lock = match u32::try_from(doublings) {
            Ok(d) if d < 63 => base_lock_micros.max(0).checked_mul(1 << d).unwrap_or(max_lock),
            _ => max_lock,
        }
        .min(max_lock);
        // A lockout never shortens one in force.
        locked_until.max(now.saturating_add(lock))
    } else {
        locked_until
    };
    Throttle { failures, locked_until }
}

/// [`Store::login_failed`] in the open transaction `$tx`; `$lock` is what
/// locks the row it reads (`FOR UPDATE` in PostgreSQL; SQLite's `BEGIN
/// IMMEDIATE` already holds the database's write lock).
macro_rules! login_failed_in {
    ($tx:ident, $lock:literal, $scope:expr, $account:expr, $now:expr, $free:expr, $base:expr, $max:expr) => {{
        let mut previous = None;
        // A concurrent login_succeeded may delete the row between the two
        // statements; then make it again.
        for _ in 0..3 {
            sqlx::query(
                "INSERT INTO login_throttle (scope, account, failures, locked_until, updated_at) \
                 VALUES ($1, $2, 0, 0, $3) ON CONFLICT DO NOTHING",
            )
            .bind($scope)
            .bind($account)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
            let row = sqlx::query(concat!(
                "SELECT failures, locked_until, updated_at FROM login_throttle WHERE scope = $1 AND account = $2",
                $lock
            ))
            .bind($scope)
            .bind($account)
            .fetch_optional(&mut *$tx)
            .await?;
            if let Some(row) = row {
                previous = Some((
                    i64::from(row.try_get::<i32, _>(0)?),
                    row.try_get::<i64, _>(1)?,
                    row.try_get::<i64, _>(2)?,
                ));
                break;
            }
        }
        let Some(previous) = previous else {
            return Err(StoreError::Database(sqlx::Error::RowNotFound));
        };
        // A fresh row (failures 0) counts its first failure.
        let previous = (previous.0 > 0).then_some(previous);
        let next = after_failure(previous, $now, $free, $base, $max);
        sqlx::query(
            "UPDATE login_throttle SET failures = $3, locked_until = $4, updated_at = $5 \
             WHERE scope = $1 AND account = $2",
        )
        .bind($scope)
        .bind($account)
        .bind(i32::try_from(next.failures).unwrap_or(i32::MAX))
        .bind(next.locked_until)
        .bind($now)
        .execute(&mut *$tx)
        .await?;
        next
    }};
}

impl Store {
    // ----- Sessions and tokens -----

    /// Stores a new session, token, enrolment or challenge. A token hash or
    /// public id already stored is refused (a unique constraint:
    /// [`StoreError::is_refused_data`]); the caller may draw a new one.
    pub async fn create_session(&self, new: &NewSession) -> Result<(), StoreError> {
        let sql = "INSERT INTO sessions (token_sha256, id, scope, user_id, kind, name, created_at, last_seen_at, \
                   expires_at, idle_micros, epoch) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10)";
        on_pool!(self, p => {
            sqlx::query(sql)
            .bind(&new.token_sha256[..])
            .bind(&new.id)
            .bind(&new.scope)
            .bind(&new.user_id)
            .bind(new.kind.as_str())
            .bind(&new.name)
            .bind(new.created_at)
            .bind(new.expires_at)
            .bind(new.idle_micros)
            .bind(new.epoch)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// The live session of `kind` whose secret hashes to `token_sha256`,
    /// marked as used at `now` (which restarts its idle timeout). `None`
    /// for an unknown, expired, idle-expired or revoked one, and for one of
    /// another kind. One statement: a check and its use cannot be split by
    /// a concurrent revocation.
    pub async fn use_session(
        &self,
        token_sha256: &[u8; 32],
        kind: SessionKind,
        now: i64,
    ) -> Result<Option<SessionRow>, StoreError> {
        let sql = concat!(
            "UPDATE sessions SET ",
            seen!("$3"),
            " WHERE token_sha256 = $1 AND kind = $2 AND ",
            live!("$3"),
            " RETURNING ",
            session_columns!()
        );
        on_pool!(self, p => {
            let row = sqlx::query(sql)
                .bind(&token_sha256[..])
                .bind(kind.as_str())
                .bind(now)
                .fetch_optional(p)
                .await?;
            row.map(|r| session_from_row!(r)).transpose()
        })
    }

    /// One attempt at the live challenge whose secret hashes to
    /// `token_sha256`: counts it and returns the challenge (with the count,
    /// this attempt included) while at most `max_attempts` were made;
    /// `None` from then on, and for an unknown, expired, revoked or
    /// non-challenge secret. Atomic, so concurrent attempts on any nodes
    /// get at most `max_attempts` rows in all.
    pub async fn challenge_attempt(
        &self,
        token_sha256: &[u8; 32],
        now: i64,
        max_attempts: i64,
    ) -> Result<Option<SessionRow>, StoreError> {
        let sql = concat!(
            "UPDATE sessions SET attempts = attempts + 1, ",
            seen!("$2"),
            " WHERE token_sha256 = $1 AND kind = 'challenge' AND attempts < $3 AND ",
            live!("$2"),
            " RETURNING ",
            session_columns!()
        );
        on_pool!(self, p => {
            let row = sqlx::query(sql)
                .bind(&token_sha256[..])
                .bind(now)
                .bind(max_attempts)
                .fetch_optional(p)
                .await?;
            row.map(|r| session_from_row!(r)).transpose()
        })
    }

    /// Revokes the session (of any kind) whose secret hashes to
    /// `token_sha256`, as of `now` (logout). True if it was live.
    pub async fn revoke_session(&self, token_sha256: &[u8; 32], now: i64) -> Result<bool, StoreError> {
        let sql = concat!(
            "UPDATE sessions SET revoked_at = $2 WHERE token_sha256 = $1 AND ",
            live!("$2")
        );
        let revoked = on_pool!(self, p => sqlx::query(sql)
            .bind(&token_sha256[..])
            .bind(now)
            .execute(p)
            .await?
            .rows_affected());
        Ok(revoked == 1)
    }

    /// Revokes every live session of one user whose kind is among `kinds`
    /// (e.g. after a password change), as of `now`. How many were revoked.
    pub async fn revoke_user_sessions(
        &self,
        scope: &str,
        user_id: &str,
        kinds: &[SessionKind],
        now: i64,
    ) -> Result<u64, StoreError> {
        if kinds.is_empty() {
            return Ok(0);
        }
        // The kinds' names are this crate's constants, not input.
        let kinds = kinds
            .iter()
            .map(|k| format!("'{}'", k.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE sessions SET revoked_at = $3 WHERE scope = $1 AND user_id = $2 AND kind IN ({kinds}) AND {}",
            live!("$3")
        );
        Ok(on_pool!(self, p => sqlx::query(&sql)
            .bind(scope)
            .bind(user_id)
            .bind(now)
            .execute(p)
            .await?
            .rows_affected()))
    }

    /// The user's live personal tokens, newest first.
    pub async fn list_tokens(&self, scope: &str, user_id: &str, now: i64) -> Result<Vec<SessionRow>, StoreError> {
        let sql = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE scope = $1 AND user_id = $2 AND kind = 'token' AND ",
            live!("$3"),
            " ORDER BY created_at DESC, id DESC"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(sql).bind(scope).bind(user_id).bind(now).fetch_all(p).await?;
            rows.iter().map(|r| session_from_row!(r)).collect()
        })
    }

    /// Revokes the user's own live personal token with public id `id`, as
    /// of `now`. False for another user's token, another kind, an unknown
    /// id, or one no longer live.
    pub async fn revoke_token(&self, scope: &str, user_id: &str, id: &str, now: i64) -> Result<bool, StoreError> {
        let sql = concat!(
            "UPDATE sessions SET revoked_at = $4 WHERE scope = $1 AND user_id = $2 AND id = $3 AND kind = 'token' AND ",
            live!("$4")
        );
        let revoked = on_pool!(self, p => sqlx::query(sql)
            .bind(scope)
            .bind(user_id)
            .bind(id)
            .bind(now)
            .execute(p)
            .await?
            .rows_affected());
        Ok(revoked == 1)
    }

    /// Deletes the sessions that ended (expired, idle-expired or revoked)
    /// more than `keep_micros` before `now`: run it now and then to bound
    /// the table. How many were deleted.
    pub async fn purge_sessions(&self, now: i64, keep_micros: i64) -> Result<u64, StoreError> {
        // Not below 0, so that `$1 - last_seen_at` cannot overflow.
        let cutoff = now.saturating_sub(keep_micros.max(0)).max(0);
        let sql = "DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1 \
                   OR (idle_micros IS NOT NULL AND last_seen_at < $1 AND idle_micros < $1 - last_seen_at)";
        Ok(on_pool!(self, p => sqlx::query(sql).bind(cutoff).execute(p).await?.rows_affected()))
    }

    // ----- Second factor -----

    /// Accepts TOTP time step `step` for the user once: true, and recorded,
    /// only if no step at or after it was accepted before (so a code is
    /// accepted once, and never after a newer one), also when nodes race.
    pub async fn use_totp_step(&self, scope: &str, user_id: &str, step: i64) -> Result<bool, StoreError> {
        let sql = "INSERT INTO totp_steps (scope, user_id, last_step) VALUES ($1, $2, $3) \
                   ON CONFLICT (scope, user_id) DO UPDATE SET last_step = excluded.last_step \
                   WHERE totp_steps.last_step < excluded.last_step";
        let accepted = on_pool!(self, p => sqlx::query(sql)
            .bind(scope)
            .bind(user_id)
            .bind(step)
            .execute(p)
            .await?
            .rows_affected());
        Ok(accepted == 1)
    }

    /// Forgets the user's accepted TOTP steps (on enrolment of a new seed,
    /// whose steps start afresh).
    pub async fn reset_totp_steps(&self, scope: &str, user_id: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM totp_steps WHERE scope = $1 AND user_id = $2";
        on_pool!(self, p => {
            sqlx::query(sql).bind(scope).bind(user_id).execute(p).await?;
        });
        Ok(())
    }

    /// Records the use of the recovery code hashing to `code_sha256` at
    /// `now`: true the first time only, also when nodes race. Whether the
    /// code is one of the user's is the caller's check.
    pub async fn use_recovery_code(
        &self,
        scope: &str,
        user_id: &str,
        code_sha256: &[u8; 32],
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO recovery_codes_used (scope, user_id, code_sha256, used_at) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT DO NOTHING";
        let inserted = on_pool!(self, p => sqlx::query(sql)
            .bind(scope)
            .bind(user_id)
            .bind(&code_sha256[..])
            .bind(now)
            .execute(p)
            .await?
            .rows_affected());
        Ok(inserted == 1)
    }

    /// Keeps the user's TOTP enrolment until its first code arrives: the
    /// seed sealed by the caller, until `expires_at`. Replaces an earlier
    /// pending enrolment.
    pub async fn set_pending_totp(
        &self,
        scope: &str,
        user_id: &str,
        sealed_seed: &[u8],
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO totp_pending (scope, user_id, sealed_seed, expires_at) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (scope, user_id) DO UPDATE SET sealed_seed = excluded.sealed_seed, \
                   expires_at = excluded.expires_at";
        on_pool!(self, p => {
            sqlx::query(sql)
            .bind(scope)
            .bind(user_id)
            .bind(sealed_seed)
            .bind(expires_at)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Takes the user's pending TOTP enrolment: deletes it and returns its
    /// sealed seed if it had not expired at `now` (an expired one is
    /// deleted too). At most one caller gets it.
    pub async fn take_pending_totp(&self, scope: &str, user_id: &str, now: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let sql = "DELETE FROM totp_pending WHERE scope = $1 AND user_id = $2 RETURNING sealed_seed, expires_at";
        let taken: Option<(Vec<u8>, i64)> =
            on_pool!(self, p => sqlx::query_as(sql).bind(scope).bind(user_id).fetch_optional(p).await?);
        Ok(taken.and_then(|(seed, expires_at)| (expires_at > now).then_some(seed)))
    }

    // ----- Login throttling -----

    /// The failed-login state of `account` (as the caller normalises the
    /// name), if it has one.
    pub async fn login_throttle(&self, scope: &str, account: &str) -> Result<Option<Throttle>, StoreError> {
        let sql = "SELECT failures, locked_until FROM login_throttle WHERE scope = $1 AND account = $2";
        let row: Option<(i32, i64)> =
            on_pool!(self, p => sqlx::query_as(sql).bind(scope).bind(account).fetch_optional(p).await?);
        Ok(row.map(|(failures, locked_until)| Throttle {
            failures: i64::from(failures),
            locked_until,
        }))
    }

    /// Counts a failed login of `account` at `now` and returns the new
    /// state. The first `free_failures` failures lock nothing; failure
    /// `free_failures + n` locks the account until
    /// `now + min(base_lock_micros * 2^(n-1), max_lock_micros)` (a lockout
    /// in force is never shortened). The count starts over once the
    /// account has been quiet (no failure, no lockout) for longer than
    /// `max_lock_micros`. Call it for a credential that was checked and
    /// wrong, not for a login refused because of a lockout. One transaction,
    /// so concurrent failures on any nodes are all counted.
    pub async fn login_failed(
        &self,
        scope: &str,
        account: &str,
        now: i64,
        free_failures: i64,
        base_lock_micros: i64,
        max_lock_micros: i64,
    ) -> Result<Throttle, StoreError> {
        let (free, base, max) = (free_failures, base_lock_micros, max_lock_micros);
        let next = match self {
            Store::Sqlite(p) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let next = login_failed_in!(tx, "", scope, account, now, free, base, max);
                tx.commit().await?;
                next
            }
            Store::Postgres(p) => {
                let mut tx = p.begin().await?;
                let next = login_failed_in!(tx, " FOR UPDATE", scope, account, now, free, base, max);
                tx.commit().await?;
                next
            }
        };
        Ok(next)
    }

    /// A successful login of `account`: forgets its failures and returns
    /// what they were (for the audit of an unlock), if any.
    pub async fn login_succeeded(&self, scope: &str, account: &str) -> Result<Option<Throttle>, StoreError> {
        let sql = "DELETE FROM login_throttle WHERE scope = $1 AND account = $2 RETURNING failures, locked_until";
        let row: Option<(i32, i64)> =
            on_pool!(self, p => sqlx::query_as(sql).bind(scope).bind(account).fetch_optional(p).await?);
        Ok(row.map(|(failures, locked_until)| Throttle {
            failures: i64::from(failures),
            locked_until,
        }))
    }

    /// Deletes the failed-login state of every account (of every scope)
    /// that has been quiet, with no failure and no lockout, for longer than
    /// `quiet_micros` before `now`. With `quiet_micros` at least the
    /// `max_lock_micros` given to [`Store::login_failed`] this changes no
    /// outcome (such a count would start over anyway); it bounds the table,
    /// whose rows anyone can add by failing to log in as made-up names.
    pub async fn purge_login_throttle(&self, now: i64, quiet_micros: i64) -> Result<u64, StoreError> {
        let cutoff = now.saturating_sub(quiet_micros.max(0));
        let sql = "DELETE FROM login_throttle WHERE updated_at < $1 AND locked_until < $1";
        Ok(on_pool!(self, p => sqlx::query(sql).bind(cutoff).execute(p).await?.rows_affected()))
    }

    // ----- Support access -----

    /// Records one request of a support user under access grant `grant_id`
    /// of tenant `scope`.
    pub async fn record_support_use(
        &self,
        grant_id: &str,
        scope: &str,
        support_user: &str,
        at: i64,
        method: &str,
        path: &str,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO support_uses (grant_id, scope, support_user, at, method, path) \
                   VALUES ($1, $2, $3, $4, $5, $6)";
        on_pool!(self, p => {
            sqlx::query(sql)
            .bind(grant_id)
            .bind(scope)
            .bind(support_user)
            .bind(at)
            .bind(method)
            .bind(path)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// The latest `limit` requests made under a grant, newest first.
    pub async fn support_uses(&self, scope: &str, grant_id: &str, limit: i64) -> Result<Vec<SupportUse>, StoreError> {
        let sql = "SELECT grant_id, scope, support_user, at, method, path FROM support_uses \
                   WHERE scope = $1 AND grant_id = $2 ORDER BY at DESC, seq DESC LIMIT $3";
        let rows: Vec<(String, String, String, i64, String, String)> = on_pool!(self, p => sqlx::query_as(sql)
            .bind(scope)
            .bind(grant_id)
            .bind(limit.max(0))
            .fetch_all(p)
            .await?);
        Ok(rows
            .into_iter()
            .map(|(grant_id, scope, support_user, at, method, path)| SupportUse {
                grant_id,
                scope,
                support_user,
                at,
                method,
                path,
            })
            .collect())
    }

    /// How many requests were made under a grant.
    pub async fn count_support_uses(&self, scope: &str, grant_id: &str) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) FROM support_uses WHERE scope = $1 AND grant_id = $2";
        Ok(on_pool!(self, p => sqlx::query_scalar(sql).bind(scope).bind(grant_id).fetch_one(p).await?))
    }
}
