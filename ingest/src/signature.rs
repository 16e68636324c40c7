//! Verifying a signed request (see `auth::signing` for the schemes), in two
//! steps around reading the body:
//!
//! 1. [`precheck`], before the body is read: the `Authorization` header is
//!    parsed (bounded in length and charset), its timestamp must be inside
//!    the window, and the client id must be known. A request that fails here
//!    costs the node no body memory.
//! 2. [`verify`], after: the HMAC under one of the client's secrets. The
//!    caller then checks the rate limit and only then remembers the nonce
//!    ([`ReplayGuard`]), so neither unauthenticated nor rate-limited
//!    requests can fill the replay cache.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use auth::{AuthorizationHeader, Scheme, SignedHeaders};
use axum::http::{header, HeaderMap};
use directory::{AuthError, Authenticated};

use crate::error::ApiError;
use crate::AppState;

const SHARDS: usize = 16;

/// Nonces seen inside the time window, per client, each client with its own
/// bounded share: a client that exhausts its share is refused
/// (`replay_cache_full`), no other client is. Expired nonces leave in order
/// of expiry (O(log n) per nonce), under one of 16 short-held locks. Per
/// node: a replay sent to another node is caught by the deterministic item
/// ids instead (it creates nothing new).
pub(crate) struct ReplayGuard {
    shards: Vec<Mutex<HashMap<String, ClientNonces>>>,
    per_client: usize,
}

#[derive(Default)]
struct ClientNonces {
    seen: HashSet<String>,
    by_expiry: BTreeSet<(i64, String)>,
}

impl ReplayGuard {
    pub(crate) fn new(per_client: usize) -> ReplayGuard {
        ReplayGuard {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_client: per_client.max(1),
        }
    }

    /// Remembers the nonce until `expires` (Unix seconds); refuses one seen
    /// before that.
    pub(crate) fn check(&self, client: &str, nonce: &str, now: i64, expires: i64) -> Result<(), ApiError> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        client.hash(&mut hasher);
        let shard = &self.shards[(hasher.finish() as usize) % SHARDS];
        let mut clients = shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let nonces = match clients.get_mut(client) {
            Some(n) => n,
            None => clients.entry(client.to_owned()).or_default(),
        };
        while let Some(first) = nonces.by_expiry.first() {
            if first.0 > now {
                break;
            }
            let (_, expired) = nonces.by_expiry.pop_first().expect("first exists");
            nonces.seen.remove(&expired);
        }
        if nonces.seen.contains(nonce) {
            return Err(ApiError::Replayed);
        }
        if nonces.seen.len() >= self.per_client {
            let oldest = nonces.by_expiry.first().map_or(now + 1, |(until, _)| *until);
            return Err(ApiError::ReplayCacheFull {
                retry_after_secs: (oldest - now).clamp(1, 600) as u64,
            });
        }
        nonces.seen.insert(nonce.to_owned());
        nonces.by_expiry.insert((expires, nonce.to_owned()));
        Ok(())
    }
}

/// Why a request was refused before it was authenticated: the error, and
/// the client id it claimed if that id has the form of one (never anything
/// else from the request goes into a record).
pub(crate) struct Unauthenticated {
    pub(crate) error: ApiError,
    pub(crate) claimed: Option<String>,
}

fn refused(error: ApiError, claimed: Option<&str>) -> Unauthenticated {
    Unauthenticated {
        error,
        claimed: claimed
            .filter(|c| auth::secret::client_id_well_formed(c))
            .map(str::to_owned),
    }
}

/// A header that passed [`precheck`].
pub(crate) struct Claim {
    pub(crate) header: AuthorizationHeader,
    pub(crate) now: i64,
}

/// Checks what can be checked before the body is read.
pub(crate) async fn precheck(state: &AppState, headers: &HeaderMap) -> Result<Claim, Unauthenticated> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| refused(ApiError::MissingSignature, None))?;
    let value = value.to_str().map_err(|_| {
        refused(
            ApiError::MalformedAuthorization("the Authorization header is not ASCII".into()),
            None,
        )
    })?;
    let parsed = AuthorizationHeader::parse(value)
        .map_err(|e| refused(ApiError::MalformedAuthorization(e.to_string()), None))?;
    let claimed = Some(parsed.client_id.as_str());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let skew = state.settings.clock_skew.as_secs() as i64;
    if parsed.timestamp.abs_diff(now) > skew as u64 {
        return Err(refused(
            ApiError::TimestampOutOfWindow {
                timestamp: parsed.timestamp,
                now,
                skew_secs: skew,
            },
            claimed,
        ));
    }
    let well_formed = auth::secret::client_id_well_formed(&parsed.client_id);
    let known = |state: &AppState| state.directory.read(|d| d.client_known(&parsed.client_id));
    if well_formed && !known(state) {
        // A client created a moment ago may not be in this node's copy of the
        // configuration yet: read the log once more (shared with concurrent
        // misses, at most every 100 ms, and only for well-formed ids, so a
        // flood of made-up ids cannot keep the node busy reading).
        state
            .directory
            .refresh_after(std::time::Duration::from_millis(100))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "refreshing the configuration failed");
                refused(ApiError::LogUnavailable { retry_after_secs: 1 }, claimed)
            })?;
    }
    if !well_formed || !known(state) {
        return Err(refused(ApiError::UnknownClient, claimed));
    }
    Ok(Claim { header: parsed, now })
}

/// Verifies the signature over the whole request; the answer names the
/// tenant and secret version.
pub(crate) fn verify(
    state: &AppState,
    claim: &Claim,
    request: &auth::signing::RequestToSign<'_>,
    headers: &HeaderMap,
) -> Result<Authenticated, Unauthenticated> {
    let parsed = &claim.header;
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    let string_to_sign = match parsed.scheme {
        Scheme::V1 => request.string_to_sign(),
        Scheme::V2 => auth::signing::string_to_sign_v2(
            request,
            &SignedHeaders {
                host: text(header::HOST),
                content_type: text(header::CONTENT_TYPE),
                content_encoding: text(header::CONTENT_ENCODING),
            },
        ),
    };
    state
        .directory
        .read(|d| {
            d.verify_signature(
                &state.settings.kek,
                &parsed.client_id,
                &string_to_sign,
                &parsed.signature,
                claim.now * 1_000_000,
            )
        })
        .map_err(|e| {
            let error = match e {
                AuthError::UnknownClient => ApiError::UnknownClient,
                AuthError::Revoked => ApiError::CredentialRevoked,
                AuthError::BadSignature => ApiError::BadSignature,
                AuthError::Unsealable(_) => {
                    tracing::error!(client = %parsed.client_id, "a sealed secret does not open: is this node's key-encryption key the one the admin CLI used?");
                    ApiError::Internal
                }
            };
            refused(error, Some(&parsed.client_id))
        })
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
        assert!(g.check("c", "n2", 200, 500).is_ok());
        assert_eq!(
            g.check("c", "n3", 200, 500).map_err(|e| e.code()),
            Err("replay_cache_full"),
            "c's share (2) is full"
        );
        assert!(
            g.check("third", "n3", 200, 500).is_ok(),
            "a client that exhausts its share does not stop the others"
        );
        assert!(g.check("c", "n3", 450, 700).is_ok(), "expired entries make room");
        let roomy = ReplayGuard::new(10);
        assert!(roomy.check("c", "n", 100, 400).is_ok());
        assert!(
            roomy.check("c", "n", 401, 700).is_ok(),
            "past its expiry the nonce's timestamp is out of the window anyway"
        );
    }

    #[test]
    fn expiry_removes_nonces_in_order() {
        let g = ReplayGuard::new(1000);
        // Nonce i expires at 1000 + i, inserted in reverse order of expiry.
        for i in (0..1000).rev() {
            assert!(g.check("c", &format!("n{i}"), 0, 1000 + i).is_ok());
        }
        assert_eq!(
            g.check("c", "late", 0, 3000).map_err(|e| e.code()),
            Err("replay_cache_full")
        );
        // At 1500, nonces 0..=500 have expired; the rest are still refused.
        assert!(g.check("c", "late", 1500, 3000).is_ok());
        assert_eq!(
            g.check("c", "n999", 1500, 3000).map_err(|e| e.code()),
            Err("replayed_request")
        );
        assert!(g.check("c", "n10", 1500, 3000).is_ok());
    }
}
