//! Verifying a signed request (see `auth::signing` for the scheme): the
//! timestamp window, the HMAC under one of the client's active secrets,
//! then the nonce (remembered only after the signature verified, so that
//! unauthenticated requests cannot fill the replay cache).

use std::collections::HashMap;
use std::sync::Mutex;

use auth::AuthorizationHeader;
use axum::http::{header, HeaderMap};
use tenants::{AuthError, Authenticated};

use crate::error::ApiError;
use crate::AppState;

/// Nonces seen inside the time window, per client. Per node: a replay sent
/// to another node is caught by the deterministic item ids instead (it
/// creates nothing new).
pub(crate) struct ReplayGuard {
    seen: Mutex<HashMap<(String, String), i64>>,
    capacity: usize,
}

impl ReplayGuard {
    pub(crate) fn new(capacity: usize) -> ReplayGuard {
        ReplayGuard {
            seen: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Remembers the nonce until `expires` (Unix seconds); refuses one seen
    /// before that.
    fn check(&self, client: &str, nonce: &str, now: i64, expires: i64) -> Result<(), ApiError> {
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.len() >= self.capacity {
            seen.retain(|_, until| *until > now);
            if seen.len() >= self.capacity {
                return Err(ApiError::ReplayCacheFull { retry_after_secs: 5 });
            }
        }
        let key = (client.to_owned(), nonce.to_owned());
        match seen.get(&key) {
            Some(until) if *until > now => Err(ApiError::Replayed),
            _ => {
                seen.insert(key, expires);
                Ok(())
            }
        }
    }
}

/// Authenticates a request; the answer names the tenant and secret version.
pub(crate) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
) -> Result<Authenticated, (ApiError, Option<String>)> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or((ApiError::MissingSignature, None))?;
    let value = value.to_str().map_err(|_| {
        (
            ApiError::MalformedAuthorization("the Authorization header is not ASCII".into()),
            None,
        )
    })?;
    let parsed =
        AuthorizationHeader::parse(value).map_err(|e| (ApiError::MalformedAuthorization(e.to_string()), None))?;
    let client = Some(parsed.client_id.clone());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let skew = state.settings.clock_skew.as_secs() as i64;
    if parsed.timestamp.abs_diff(now) > skew as u64 {
        return Err((
            ApiError::TimestampOutOfWindow {
                timestamp: parsed.timestamp,
                now,
                skew_secs: skew,
            },
            client,
        ));
    }
    let string_to_sign = auth::signing::string_to_sign(parsed.timestamp, &parsed.nonce, method, path, query, body);
    let now_micros = now * 1_000_000;
    let verify = |state: &AppState| {
        state.directory.read(|d| {
            d.verify_signature(
                &state.settings.kek,
                &parsed.client_id,
                &string_to_sign,
                &parsed.signature,
                now_micros,
            )
        })
    };
    let verified = match verify(state) {
        // A client created a moment ago may not be in this node's copy of the
        // configuration yet: read the log once more (shared with concurrent
        // misses, at most every 100 ms, and only for well-formed ids, so a
        // flood of made-up ids cannot keep the node busy reading).
        Err(AuthError::UnknownClient) if auth::secret::client_id_well_formed(&parsed.client_id) => {
            state
                .directory
                .refresh_after(std::time::Duration::from_millis(100))
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "refreshing the configuration failed");
                    (ApiError::LogUnavailable { retry_after_secs: 1 }, client.clone())
                })?;
            verify(state)
        }
        other => other,
    };
    let authenticated = verified.map_err(|e| {
        let error = match e {
            AuthError::UnknownClient => ApiError::UnknownClient(parsed.client_id.clone()),
            AuthError::Revoked => ApiError::CredentialRevoked,
            AuthError::BadSignature => ApiError::BadSignature,
            AuthError::Unsealable(_) => {
                tracing::error!(client = %parsed.client_id, "a sealed secret does not open: is this node's key-encryption key the one the admin CLI used?");
                ApiError::Internal
            }
        };
        (error, client.clone())
    })?;
    state
        .replays
        .check(&parsed.client_id, &parsed.nonce, now, parsed.timestamp + skew + 1)
        .map_err(|e| (e, client))?;
    Ok(authenticated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_refused_inside_their_window_only() {
        let g = ReplayGuard::new(2);
        assert!(g.check("c", "n1", 100, 400).is_ok());
        assert_eq!(
            g.check("c", "n1", 200, 500).map_err(|e| e.code()),
            Err("replayed_request")
        );
        assert!(g.check("other", "n1", 200, 500).is_ok(), "nonces are per client");
        assert_eq!(
            g.check("c", "n2", 200, 500).map_err(|e| e.code()),
            Err("replay_cache_full")
        );
        assert!(g.check("c", "n2", 450, 700).is_ok(), "expired entries make room");
        let roomy = ReplayGuard::new(10);
        assert!(roomy.check("c", "n", 100, 400).is_ok());
        assert!(
            roomy.check("c", "n", 401, 700).is_ok(),
            "past its expiry the nonce's timestamp is out of the window anyway"
        );
    }
}
