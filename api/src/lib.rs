//! The people-facing HTTPS API (a role of its own; ingest stays for
//! machines): logins with bcrypt passwords and TOTP two-factor, sessions
//! and personal API tokens, the tenant's users, groups, login policy and
//! support access grants. The analyst API will live here too.
//!
//! * Configuration changes (users, roles, groups, policies, grants,
//!   credentials sealed under the key-encryption key) are events on
//!   `vox.config`, written by compare-and-set ([`directory::commands`]);
//!   every node folds them into its [`SharedDirectory`], refreshed every
//!   `config_refresh`.
//! * Sessions, tokens, TOTP replay state, recovery-code use and login
//!   throttling are operational state in the store, shared by every node.
//! * Every login, lockout, change and support request is on `vox.audit`
//!   (durable before the answer, through [`audit`]).

mod audit_api;
mod error;
mod feedback;
mod grants;
mod login_api;
pub mod manage;
mod me;
mod people;
pub mod query;
mod session;
pub mod sso;
pub mod telemetry;

use std::future::Future;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use auth::Kek;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::Router;
use directory::{ConfigFollower, SharedDirectory};
use eventlog::{Log, LogError};
use governor::{DefaultKeyedRateLimiter, Quota};
use schemas::{Region, Topic};
use store::Store;

pub use error::ApiError;
pub use https::{Listeners, ServerLimits};

/// The largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The region of this node.
    pub region: Region,
    /// Prefix of every topic name (empty in production).
    pub namespace: String,
    /// Seals and opens password hashes and TOTP seeds.
    pub kek: Kek,
    /// bcrypt cost of new hashes (at least 11; 12 by default). Hashes of a
    /// lower cost are rehashed at the next successful login.
    pub bcrypt_cost: u32,
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// A session ends this long after login, whatever happens.
    pub session_lifetime: Duration,
    /// The longest lifetime of a personal API token.
    pub token_max_lifetime: Duration,
    /// Login attempts per minute from one source address (then 429).
    pub login_per_minute: u32,
    /// Failed logins of one account before it is locked.
    pub free_failures: i64,
    /// The first lockout; each further failure doubles it.
    pub first_lockout: Duration,
    /// The longest lockout.
    pub max_lockout: Duration,
    /// The issuer name authenticator apps show.
    pub totp_issuer: String,
    /// How often the node re-reads `vox.config`.
    pub config_refresh: Duration,
    /// Past this age of its configuration copy the node refuses requests.
    pub max_staleness: Duration,
    /// Connection limits of the listener.
    pub server: ServerLimits,
    /// How often refused-request tallies are written to `vox.audit`.
    pub audit_interval: Duration,
    /// When set, `/metrics` needs `Authorization: Bearer <token>`.
    pub ops_token: Option<auth::Secret>,
    /// Proxies (e.g. the ingress controller) whose `X-Forwarded-For` names
    /// the client's address; requests from other peers are taken at their
    /// connection's address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The people API's public URL (`https://vox.example.com`): single
    /// sign-on's entity ids and ACS URLs are under it. `None`: no single
    /// sign-on.
    pub public_url: Option<String>,
    /// The service provider's key and certificate (single sign-on).
    pub saml: Option<Arc<sso::SamlKeys>>,
    /// The clock skew allowed between Vox and identity providers.
    pub sso_skew: Duration,
    /// How long an AuthnRequest waits for its answer.
    pub sso_request_lifetime: Duration,
}

impl ApiSettings {
    pub fn new(region: Region, namespace: impl Into<String>, kek: Kek) -> ApiSettings {
        ApiSettings {
            region,
            namespace: namespace.into(),
            kek,
            bcrypt_cost: login::password::DEFAULT_COST,
            session_idle: Duration::from_secs(30 * 60),
            session_lifetime: Duration::from_secs(12 * 3600),
            token_max_lifetime: Duration::from_secs(365 * 86_400),
            login_per_minute: 30,
            free_failures: 5,
            first_lockout: Duration::from_secs(30),
            max_lockout: Duration::from_secs(3600),
            totp_issuer: "Vox".into(),
            config_refresh: Duration::from_millis(250),
            // Roles, grants and disabled users are read from the configuration:
            // a node that cannot refresh it stops answering soon.
            max_staleness: Duration::from_secs(5),
            server: ServerLimits::default(),
            audit_interval: Duration::from_secs(10),
            ops_token: None,
            trusted_proxies: Vec::new(),
            public_url: None,
            saml: None,
            sso_skew: Duration::from_secs(60),
            sso_request_lifetime: Duration::from_secs(600),
        }
    }
}

/// Parses `--trusted-proxies`: comma-separated addresses or CIDR networks
/// (`10.0.0.0/8, 192.168.1.7`).
pub fn parse_trusted_proxies(text: &str) -> Result<Vec<ipnet::IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<ipnet::IpNet>()
                .or_else(|_| t.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("'{t}' is not an IP address or CIDR network (e.g. 10.0.0.0/8)"))
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("the listener failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the bcrypt cost setting: {0}")]
    Cost(String),
}

pub(crate) struct AppState {
    pub(crate) log: Log,
    pub(crate) store: Store,
    pub(crate) directory: SharedDirectory,
    pub(crate) settings: ApiSettings,
    pub(crate) hasher: login::password::Hasher,
    pub(crate) audit: Arc<audit::Sink>,
    /// Login attempts per source address.
    pub(crate) per_address: DefaultKeyedRateLimiter<IpAddr>,
    pub(crate) stopping: AtomicBool,
    /// The key of the analyst API's page cursors (derived from the KEK, so
    /// every node accepts every node's cursors).
    pub(crate) cursor_key: [u8; 32],
    /// Analyst queries (not exports) this node runs at once.
    pub(crate) queries: tokio::sync::Semaphore,
    /// Exports this node runs at once.
    pub(crate) exports: Arc<tokio::sync::Semaphore>,
}

/// Serves the API until `shutdown` completes; then stops accepting, lets
/// requests in flight finish and writes the queued audit records.
pub async fn run(
    listeners: Listeners,
    tls: Arc<rustls::ServerConfig>,
    log: Log,
    store: Store,
    settings: ApiSettings,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    https::telemetry::handle();
    telemetry::register();
    tokio::pin!(shutdown);
    // Starting reads the configuration from the log, which can take a
    // while on a busy cluster: a stop asked meanwhile ends it.
    let start = async {
        // Making the hasher runs one bcrypt (its dummy hash): off the runtime.
        let cost = settings.bcrypt_cost;
        let hasher = tokio::task::spawn_blocking(move || login::password::Hasher::new(cost))
            .await
            .map_err(|e| RunError::Cost(e.to_string()))?
            .map_err(|e| RunError::Cost(e.to_string()))?;
        let topics: Vec<String> = Topic::ALL.iter().map(|t| t.name(&settings.namespace)).collect();
        log.ensure_topics(&topics).await?;
        let follower = ConfigFollower::new(&log, &Topic::Config.name(&settings.namespace)).await?;
        Ok::<_, RunError>((hasher, follower))
    };
    let (hasher, follower) = tokio::select! {
        started = start => started?,
        () = &mut shutdown => return Ok(()),
    };
    let (audit, audit_task) = audit::Sink::spawn(
        log.clone(),
        Topic::Audit.name(&settings.namespace),
        settings.region.to_string(),
        settings.audit_interval,
    );
    let per_minute = NonZeroU32::new(settings.login_per_minute.max(1)).expect("at least 1");
    let state = Arc::new(AppState {
        log: log.clone(),
        store,
        directory: SharedDirectory::new(follower),
        hasher,
        audit,
        per_address: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute)),
        stopping: AtomicBool::new(false),
        cursor_key: cursor_key(&settings.kek),
        queries: tokio::sync::Semaphore::new(feedback::MAX_QUERIES),
        exports: Arc::new(tokio::sync::Semaphore::new(feedback::MAX_EXPORTS)),
        settings,
    });
    let background = tokio::spawn({
        let state = state.clone();
        async move {
            let mut tick = tokio::time::interval(state.settings.config_refresh);
            let mut last_sweep = std::time::Instant::now();
            loop {
                tick.tick().await;
                if let Err(e) = state.directory.refresh().await {
                    tracing::warn!(error = %e, "refreshing the configuration failed");
                }
                metrics::gauge!(telemetry::CONFIG_AGE).set(state.directory.age().as_secs_f64());
                if last_sweep.elapsed() > Duration::from_secs(60) {
                    last_sweep = std::time::Instant::now();
                    // Bounds: addresses not seen for a minute are forgotten,
                    // sessions ended a day ago are deleted.
                    state.per_address.retain_recent();
                    state.per_address.shrink_to_fit();
                    let now = schemas::clock::now_micros();
                    if let Err(e) = state.store.purge_sessions(now, 86_400_000_000).await {
                        tracing::warn!(error = %e, "purging ended sessions failed");
                    }
                    let quiet = session::micros(state.settings.max_lockout);
                    if let Err(e) = state.store.purge_login_throttle(now, quiet).await {
                        tracing::warn!(error = %e, "purging login throttles failed");
                    }
                    // Single sign-on's requests and used assertions once
                    // they expire, owners' alerts after 30 days.
                    if let Err(e) = state.store.purge_sso(now).await {
                        tracing::warn!(error = %e, "purging single sign-on state failed");
                    }
                }
            }
        }
    });
    ready.store(true, Ordering::Release);

    tracing::info!(
        public = ?listeners.public.local_addr().ok(),
        ops = ?listeners.ops.as_ref().and_then(|l| l.local_addr().ok()),
        "people API listening (HTTPS)"
    );
    let served = https::serve_with_ops(
        listeners,
        tls,
        router(state.clone()),
        state.settings.server.clone(),
        readiness(state.clone()),
        state.settings.ops_token.clone(),
        async {
            shutdown.await;
            state.stopping.store(true, Ordering::Release);
            ready.store(false, Ordering::Release);
        },
    )
    .await;
    background.abort();
    state.audit.close();
    if tokio::time::timeout(Duration::from_secs(10), audit_task).await.is_err() {
        tracing::error!("the audit queue was not written within 10 s");
    }
    Ok(served?)
}

fn cursor_key(kek: &Kek) -> [u8; 32] {
    let derived = auth::signing::sign(&kek.to_hex(), "vox analyst API cursor key v1");
    derived.try_into().expect("HMAC-SHA256 gives 32 bytes")
}

fn readiness(state: Arc<AppState>) -> https::ops::Readiness {
    Arc::new(move || {
        let age = state.directory.age();
        if state.stopping.load(Ordering::Acquire) {
            Err("stopping".into())
        } else if age > state.settings.max_staleness {
            Err(format!("configuration stale: last read {} s ago", age.as_secs()))
        } else {
            Ok(())
        }
    })
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/feedback", get(feedback::list))
        .route("/v1/feedback/{event_id}", get(feedback::one))
        .route("/v1/aggregates", get(feedback::aggregates))
        .route("/v1/export", get(feedback::export))
        .route("/v1/tags", get(feedback::tags))
        .route("/v1/audit/checkpoint", get(audit_api::checkpoint))
        .route("/v1/audit/records", get(audit_api::records))
        .route("/v1/audit/proof/inclusion", get(audit_api::inclusion))
        .route("/v1/audit/proof/consistency", get(audit_api::consistency))
        .route("/v1/login", post(login_api::login))
        .route("/v1/login/totp", post(login_api::login_totp))
        .route("/v1/support/login", post(login_api::support_login))
        .route("/v1/logout", post(login_api::logout))
        .route("/v1/invitations/accept", post(login_api::accept_invitation))
        .route("/v1/me", get(me::me))
        .route("/v1/me/password", post(me::change_password))
        .route("/v1/me/totp", post(me::totp_begin).delete(me::totp_remove))
        .route("/v1/me/totp/confirm", post(me::totp_confirm))
        .route("/v1/me/tokens", get(me::list_tokens).post(me::create_token))
        .route("/v1/me/tokens/{id}", delete(me::revoke_token))
        .route("/v1/users", get(people::list_users).post(people::invite))
        .route(
            "/v1/users/{id}",
            axum::routing::patch(people::update_user).delete(people::delete_user),
        )
        .route("/v1/users/{id}/revoke-sessions", post(people::revoke_sessions))
        .route("/v1/users/{id}/reset-two-factor", post(people::reset_two_factor))
        .route("/v1/groups", get(people::list_groups).post(people::create_group))
        .route(
            "/v1/groups/{id}",
            axum::routing::patch(people::rename_group).delete(people::delete_group),
        )
        .route(
            "/v1/groups/{id}/members/{user}",
            put(people::add_member).delete(people::remove_member),
        )
        .route("/v1/policy", get(people::get_policy).put(people::set_policy))
        .route(
            "/v1/support-grants",
            get(people::list_grants).post(people::grant_support),
        )
        .route("/v1/support-grants/{id}", delete(people::revoke_grant))
        .route("/v1/support-grants/{id}/uses", get(people::grant_uses))
        .route("/v1/grants", get(grants::list_grants).post(grants::grant))
        .route("/v1/grants/{id}", delete(grants::revoke))
        .route(
            "/v1/restricted-tags",
            get(grants::get_restricted).put(grants::set_restricted),
        )
        .route(
            "/v1/sso",
            get(sso::get_config)
                .put(sso::put_config)
                .layer(DefaultBodyLimit::max(sso::MAX_CONFIG_BODY_BYTES)),
        )
        .route("/v1/sso/{tenant}/metadata", get(sso::metadata))
        .route("/v1/sso/{tenant}/login", get(sso::login))
        .route(
            "/v1/sso/{tenant}/acs",
            post(sso::acs).layer(DefaultBodyLimit::max(sso::MAX_ACS_BODY_BYTES)),
        )
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(too_large))
        .layer(axum::middleware::from_fn(json_only))
        .with_state(state)
}

/// A request with a body must say it is JSON: a cross-site form (which can
/// send `text/plain` without a preflight) cannot log someone in to an
/// account of the sender's.
async fn json_only(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
    // The single sign-on ACS takes the identity provider's form, posted
    // cross-site by design: the signed Response and the request it answers
    // (bound to the browser) are its defence.
    if sso::is_acs(request.uri().path()) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let has_body = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() != "0")
        && (headers.contains_key(CONTENT_LENGTH) || headers.contains_key(axum::http::header::TRANSFER_ENCODING));
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if has_body && !json {
        return https::error_response(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            schemas::ReasonCode::UnsupportedMediaType.as_str(),
            "send the body as JSON with `Content-Type: application/json`".into(),
            None,
        );
    }
    next.run(request).await
}

/// The body limit's refusal as every other refusal: JSON with a code.
async fn too_large(response: axum::response::Response) -> axum::response::Response {
    if response.status() != axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return response;
    }
    https::error_response(
        response.status(),
        schemas::ReasonCode::BodyTooLarge.as_str(),
        format!("the request body is larger than the limit of {MAX_BODY_BYTES} bytes"),
        None,
    )
}
