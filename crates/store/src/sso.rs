//! SAML single sign-on's state, shared by every node of the people API:
//! the AuthnRequests outstanding (each bound to the browser that started
//! it, answered at most once) and the assertions already used (each kept
//! until it expires, so that a replay is refused). Times in microseconds.

use sqlx::Row;

use crate::{Store, StoreError};

/// An AuthnRequest sent and not yet answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoRequest {
    /// The AuthnRequest's ID (what the Response's `InResponseTo` names).
    pub id: String,
    pub tenant_id: String,
    /// The SHA-256 of the cookie that binds the request to its browser.
    pub browser_sha256: [u8; 32],
    /// Where to go after the login (a local path).
    pub relay_state: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// How long owners' alerts are kept (30 days).
pub const ALERT_MICROS: i64 = 30 * 86_400_000_000;

/// Something the owners of a tenant must know about (kind
/// `break_glass`: an owner logged in with a password while single sign-on
/// is required).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerAlert {
    pub id: String,
    pub tenant_id: String,
    pub kind: String,
    /// The user it is about.
    pub actor: String,
    pub created_at: i64,
}

macro_rules! on_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match $store {
            Store::Sqlite($p) => $body,
            Store::Postgres($p) => $body,
        }
    };
}

impl Store {
    /// Stores an outstanding request unless its tenant already has `max`
    /// live ones (then `false`, nothing stored: the bound on what one
    /// tenant's unanswered logins may hold; concurrent calls may pass it by
    /// a few).
    pub async fn sso_request_create(&self, request: &SsoRequest, max: i64) -> Result<bool, StoreError> {
        let sql = "INSERT INTO sso_requests (id, tenant_id, browser_sha256, relay_state, created_at, expires_at) \
                   SELECT $1, $2, $3, $4, $5, $6 \
                   WHERE (SELECT COUNT(*) FROM sso_requests WHERE tenant_id = $2 AND expires_at > $5) < $7";
        let stored = on_pool!(self, p => sqlx::query(sql)
            .bind(&request.id)
            .bind(&request.tenant_id)
            .bind(&request.browser_sha256[..])
            .bind(&request.relay_state)
            .bind(request.created_at)
            .bind(request.expires_at)
            .bind(max)
            .execute(p)
            .await?
            .rows_affected());
        Ok(stored == 1)
    }

    /// Takes the request `id` of `tenant`: deletes it and returns it if it
    /// was live at `now`. A request is answered once; `None` for an
    /// unknown, expired, already answered or other tenant's request.
    pub async fn sso_request_take(&self, tenant: &str, id: &str, now: i64) -> Result<Option<SsoRequest>, StoreError> {
        let sql = "DELETE FROM sso_requests WHERE id = $1 AND tenant_id = $2 \
                   RETURNING id, tenant_id, browser_sha256, relay_state, created_at, expires_at";
        let row = on_pool!(self, p => {
            match sqlx::query(sql).bind(id).bind(tenant).fetch_optional(p).await? {
                None => None,
                Some(r) => {
                    let browser: Vec<u8> = r.try_get(2)?;
                    Some(SsoRequest {
                        id: r.try_get(0)?,
                        tenant_id: r.try_get(1)?,
                        browser_sha256: browser.try_into().unwrap_or([0; 32]),
                        relay_state: r.try_get(3)?,
                        created_at: r.try_get(4)?,
                        expires_at: r.try_get(5)?,
                    })
                }
            }
        });
        Ok(row.filter(|r| r.expires_at > now))
    }

    /// Records the first use of an assertion of `tenant`, remembered until
    /// `expires_at`: `false` when it was used before (a replay).
    pub async fn sso_assertion_use(
        &self,
        tenant: &str,
        assertion_id: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO sso_assertions (tenant_id, assertion_id, expires_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (tenant_id, assertion_id) DO NOTHING";
        let stored = on_pool!(self, p => sqlx::query(sql)
            .bind(tenant)
            .bind(assertion_id)
            .bind(expires_at)
            .execute(p)
            .await?
            .rows_affected());
        Ok(stored == 1)
    }

    /// Records an alert for the tenant's owners.
    pub async fn owner_alert_add(&self, alert: &OwnerAlert) -> Result<(), StoreError> {
        let sql = "INSERT INTO owner_alerts (id, tenant_id, kind, actor, created_at) VALUES ($1, $2, $3, $4, $5)";
        on_pool!(self, p => {
            sqlx::query(sql)
                .bind(&alert.id)
                .bind(&alert.tenant_id)
                .bind(&alert.kind)
                .bind(&alert.actor)
                .bind(alert.created_at)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// The tenant's alerts since `since`, newest first, at most `limit`.
    pub async fn owner_alerts(&self, tenant: &str, since: i64, limit: i64) -> Result<Vec<OwnerAlert>, StoreError> {
        let sql = "SELECT id, tenant_id, kind, actor, created_at FROM owner_alerts \
                   WHERE tenant_id = $1 AND created_at >= $2 ORDER BY created_at DESC, id DESC LIMIT $3";
        on_pool!(self, p => {
            let rows = sqlx::query(sql).bind(tenant).bind(since).bind(limit).fetch_all(p).await?;
            rows.iter()
                .map(|r| {
                    Ok(OwnerAlert {
                        id: r.try_get(0)?,
                        tenant_id: r.try_get(1)?,
                        kind: r.try_get(2)?,
                        actor: r.try_get(3)?,
                        created_at: r.try_get(4)?,
                    })
                })
                .collect()
        })
    }

    /// Deletes the requests and used assertions that expired before `now`;
    /// how many.
    pub async fn purge_sso(&self, now: i64) -> Result<u64, StoreError> {
        let mut purged = 0;
        for sql in [
            "DELETE FROM sso_requests WHERE expires_at <= $1",
            "DELETE FROM sso_assertions WHERE expires_at <= $1",
        ] {
            purged += on_pool!(self, p => sqlx::query(sql).bind(now).execute(p).await?.rows_affected());
        }
        // Alerts are kept for 30 days.
        purged += on_pool!(self, p => sqlx::query("DELETE FROM owner_alerts WHERE created_at < $1")
            .bind(now - ALERT_MICROS)
            .execute(p)
            .await?
            .rows_affected());
        Ok(purged)
    }
}
