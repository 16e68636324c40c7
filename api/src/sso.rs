//! Single sign-on (SAML 2.0) per tenant, on the people-facing listener:
//!
//! - `GET /v1/sso/{tenant}/metadata`: the tenant's service provider metadata
//!   (for the identity provider's admin);
//! - `GET /v1/sso/{tenant}/login?relay_state=/path`: an AuthnRequest, signed,
//!   by the HTTP-Redirect binding; the browser gets a cookie that binds the
//!   request to it (`__Host-vox_sso`);
//! - `POST /v1/sso/{tenant}/acs`: the Response (HTTP-POST binding), validated
//!   by the `saml` crate, answering that browser's request (or, where the
//!   tenant allows it, none); then the user by e-mail (provisioned on first
//!   login when the tenant says so), their SSO-managed groups replaced, and
//!   the same session as a password login.
//!
//! Every login and every refusal is on record (`sso.login`, with the check
//! that failed).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use directory::{SsoConfig, User, UserStatus};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use schemas::{AuditAction, Outcome, ReasonCode};

use crate::login_api::{per_address, person_record};
use crate::manage::{Actor, Manager};
use crate::session::{self, Ctx};
use crate::{ApiError, AppState};

/// The cookie that binds an AuthnRequest to the browser that started it.
pub(crate) const SSO_COOKIE: &str = "__Host-vox_sso";
/// Outstanding requests one tenant may have at once.
pub const MAX_PENDING_PER_TENANT: i64 = 10_000;
/// The longest a used assertion is remembered (its own expiry is usually
/// minutes).
const MAX_REMEMBERED_MICROS: i64 = 86_400_000_000;
/// The longest relay state (a local path).
pub const MAX_RELAY_STATE: usize = 512;
/// The largest form the ACS reads: a Response of [`saml::MAX_RESPONSE_BYTES`]
/// in base64, URL-encoded, and the relay state.
pub const MAX_ACS_BODY_BYTES: usize = saml::MAX_RESPONSE_BYTES * 2 + 4096;

/// The largest `PUT /v1/sso` body (identity providers' metadata can be
/// large: Entra ID's holds WS-Federation sections too).
pub const MAX_CONFIG_BODY_BYTES: usize = 512 * 1024;

/// Whether `path` is a tenant's ACS (`/v1/sso/{tenant}/acs`).
pub(crate) fn is_acs(path: &str) -> bool {
    path.strip_prefix("/v1/sso/")
        .and_then(|rest| rest.strip_suffix("/acs"))
        .is_some_and(|tenant| !tenant.is_empty() && !tenant.contains('/'))
}

/// The installation's service provider key and certificate: they sign every
/// tenant's AuthnRequests, and identity providers encrypt assertions to them.
pub struct SamlKeys {
    pub key: PKey<Private>,
    pub certificate: X509,
}

impl std::fmt::Debug for SamlKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlKeys").finish_non_exhaustive()
    }
}

/// The tenant's service provider: entity id and ACS under the public URL.
struct Provider {
    entity_id: String,
    acs_url: String,
}

fn provider<'a>(state: &'a AppState, tenant: &str) -> Result<(Provider, &'a SamlKeys), ApiError> {
    let (Some(base), Some(keys)) = (state.settings.public_url.as_deref(), state.settings.saml.as_deref()) else {
        return Err(ApiError::SsoNotConfigured(
            "this installation has no single sign-on: its operator sets the public URL and the SAML key (README, settings)"
                .into(),
        ));
    };
    let base = base.trim_end_matches('/');
    Ok((
        Provider {
            entity_id: format!("{base}/v1/sso/{tenant}/metadata"),
            acs_url: format!("{base}/v1/sso/{tenant}/acs"),
        },
        keys,
    ))
}

fn config(state: &AppState, tenant: &str) -> Result<SsoConfig, ApiError> {
    state.directory.read(|d| d.sso(tenant).cloned()).ok_or_else(|| {
        ApiError::SsoNotConfigured(format!(
            "tenant '{tenant}' has no single sign-on (or it is off); an owner configures it"
        ))
    })
}

fn idp_of(config: &SsoConfig) -> saml::IdentityProvider {
    saml::IdentityProvider {
        entity_id: config.idp_entity_id.clone(),
        sso_url: config.sso_url.clone(),
        certificates: config.certificates.clone(),
    }
}

fn tenant_exists(state: &AppState, tenant: &str) -> Result<(), ApiError> {
    if state.directory.read(|d| d.tenant(tenant).is_some()) {
        Ok(())
    } else {
        Err(ApiError::SsoNotConfigured(format!("there is no tenant '{tenant}'")))
    }
}

/// `GET /v1/sso/{tenant}/metadata`.
pub(crate) async fn metadata(State(state): State<Arc<AppState>>, Path(tenant): Path<String>) -> Response {
    let answer = (|| {
        session::fresh(&state)?;
        tenant_exists(&state, &tenant)?;
        let (p, keys) = provider(&state, &tenant)?;
        let sp = saml::ServiceProvider {
            entity_id: &p.entity_id,
            acs_url: &p.acs_url,
            key: &keys.key,
            certificate: &keys.certificate,
        };
        sp.metadata().map_err(|_| ApiError::Internal)
    })();
    match answer {
        Ok(xml) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/samlmetadata+xml"),
            )],
            xml,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// A relay state Vox follows: a path of this site (`/…`, not `//…`).
fn local_path(relay: &str) -> Result<&str, ApiError> {
    let ok = relay.starts_with('/')
        && !relay.starts_with("//")
        && !relay.contains('\\')
        && relay.len() <= MAX_RELAY_STATE
        && !relay.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok {
        Ok(relay)
    } else {
        Err(ApiError::InvalidRequest(format!(
            "relay_state must be a path of this site (starting with one '/', no spaces or backslashes, at most {MAX_RELAY_STATE} bytes)"
        )))
    }
}

/// `GET /v1/sso/{tenant}/login`.
pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    match start(&state, &tenant, query.as_deref().unwrap_or("")).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn start(state: &AppState, tenant: &str, query: &str) -> Result<Response, ApiError> {
    session::fresh(state)?;
    let mut relay = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "relay_state" => relay = Some(local_path(&v)?.to_owned()),
            other => {
                return Err(ApiError::InvalidRequest(format!(
                    "unknown parameter '{}': the login takes relay_state only",
                    other.chars().take(64).collect::<String>()
                )))
            }
        }
    }
    let config = config(state, tenant)?;
    let (p, keys) = provider(state, tenant)?;
    let now = session::now();
    let id = format!("_{}", hex(&login::token::token_hash(&auth::new_id("req_"))[..16]));
    let browser = login::token::new_token(login::token::TokenKind::Session);
    let lifetime = session::micros(state.settings.sso_request_lifetime);
    let request = store::SsoRequest {
        id: id.clone(),
        tenant_id: tenant.to_owned(),
        browser_sha256: login::token::token_hash(browser.expose()),
        relay_state: relay.clone(),
        created_at: now,
        expires_at: now + lifetime,
    };
    if !state
        .store
        .sso_request_create(&request, MAX_PENDING_PER_TENANT)
        .await
        .map_err(ApiError::store)?
    {
        return Err(ApiError::Unavailable {
            what: "single sign-on for this tenant (too many logins are pending)",
            retry_after_secs: 10,
        });
    }
    let sp = saml::ServiceProvider {
        entity_id: &p.entity_id,
        acs_url: &p.acs_url,
        key: &keys.key,
        certificate: &keys.certificate,
    };
    let url = sp
        .authn_request_url(&idp_of(&config), &id, &session::rfc3339(now), relay.as_deref())
        .map_err(|_| ApiError::Internal)?;
    let cookie = format!(
        "{SSO_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=None; Max-Age={}",
        browser.expose(),
        state.settings.sso_request_lifetime.as_secs()
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::LOCATION,
        HeaderValue::from_str(&url).map_err(|_| ApiError::Internal)?,
    );
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|_| ApiError::Internal)?,
    );
    Ok(response)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stable code of a failed check.
fn reason(check: saml::Check) -> ReasonCode {
    use saml::Check;
    match check {
        Check::Xml => ReasonCode::SamlMalformed,
        Check::Structure => ReasonCode::SamlStructure,
        Check::Signature => ReasonCode::SamlSignature,
        Check::Decryption => ReasonCode::SamlDecryption,
        Check::Status => ReasonCode::SamlStatus,
        Check::Issuer => ReasonCode::SamlIssuer,
        Check::Destination => ReasonCode::SamlDestination,
        Check::Recipient => ReasonCode::SamlRecipient,
        Check::Audience => ReasonCode::SamlAudience,
        Check::Time => ReasonCode::SamlExpired,
        Check::InResponseTo => ReasonCode::SamlInResponseTo,
        Check::Subject => ReasonCode::SamlSubject,
        Check::Replay => ReasonCode::SamlReplay,
    }
}

/// `POST /v1/sso/{tenant}/acs` (form: `SAMLResponse`, `RelayState`).
pub(crate) async fn acs(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    ctx: Ctx,
    body: Bytes,
) -> Response {
    let source = session::source(&state, ctx.peer, &ctx.headers);
    match consume(&state, &tenant, &ctx, &body, source).await {
        Ok(r) => r,
        Err(e) => {
            // Every refusal for a tenant that exists is on record.
            if state.directory.read(|d| d.tenant(&tenant).is_some()) && !matches!(e, ApiError::Throttled { .. }) {
                let details = BTreeMap::from([
                    ("reason".to_owned(), e.code().as_str().to_owned()),
                    ("detail".to_owned(), e.to_string().chars().take(500).collect()),
                ]);
                let record = person_record(
                    &state,
                    &tenant,
                    "-",
                    AuditAction::SsoLogin,
                    Outcome::Failure,
                    source,
                    details,
                );
                if let Err(a) = state.audit.durable(&[record]).await {
                    return ApiError::audit(a).into_response();
                }
            }
            e.into_response()
        }
    }
}

async fn consume(state: &AppState, tenant: &str, ctx: &Ctx, body: &[u8], source: IpAddr) -> Result<Response, ApiError> {
    per_address(state, source)?;
    session::fresh(state)?;
    tenant_exists(state, tenant)?;
    let mut saml_response = None;
    for (k, v) in form_urlencoded::parse(body) {
        if k == "SAMLResponse" {
            saml_response = Some(v.into_owned());
        }
    }
    let saml_response = saml_response.ok_or_else(|| {
        ApiError::InvalidRequest("the form has no SAMLResponse (the HTTP-POST binding's field)".into())
    })?;
    let config = config(state, tenant)?;
    let (p, keys) = provider(state, tenant)?;
    let sp = saml::ServiceProvider {
        entity_id: &p.entity_id,
        acs_url: &p.acs_url,
        key: &keys.key,
        certificate: &keys.certificate,
    };
    let idp = idp_of(&config);
    let now = session::now();
    // The request it claims to answer (read before the signature check only
    // to find Vox's own record of it: validation then requires the signed
    // InResponseTo to be exactly this).
    let claimed = saml::in_response_to(&saml_response);
    let expect = saml::Expect {
        now: now / 1_000_000,
        skew_seconds: i64::try_from(state.settings.sso_skew.as_secs()).unwrap_or(60),
        request_id: claimed.as_deref(),
        idp_initiated: config.idp_initiated,
    };
    let login = sp.validate(&saml_response, &idp, &expect).map_err(|r| ApiError::Saml {
        code: reason(r.check),
        detail: r.detail,
    })?;
    // The request: outstanding, of this tenant, started by this browser;
    // answered once.
    let mut relay = None;
    if let Some(id) = login.in_response_to.as_deref() {
        let cookie = session::cookie(&ctx.headers, SSO_COOKIE);
        let pending = state
            .store
            .sso_request_take(tenant, id, now)
            .await
            .map_err(ApiError::store)?;
        let bound = match (&pending, &cookie) {
            (Some(p), Some(c)) => p.browser_sha256 == login::token::token_hash(c),
            _ => false,
        };
        if !bound {
            return Err(ApiError::Saml {
                code: ReasonCode::SamlInResponseTo,
                detail: format!(
                    "the Response answers request {id:?}, which this browser did not start here, or which expired or was answered"
                ),
            });
        }
        relay = pending.and_then(|p| p.relay_state);
    }
    let remembered = (login.expires_at.saturating_mul(1_000_000)).min(now + MAX_REMEMBERED_MICROS);
    if !state
        .store
        .sso_assertion_use(tenant, &login.assertion_id, remembered)
        .await
        .map_err(ApiError::store)?
    {
        return Err(ApiError::Saml {
            code: ReasonCode::SamlReplay,
            detail: format!("the assertion {:?} was used before", login.assertion_id),
        });
    }
    let email = match &config.email_attribute {
        Some(a) => login.attributes.get(a).and_then(|v| v.first()).cloned(),
        None => login.name_id.clone(),
    };
    let email = email
        .filter(|e| directory::people::valid_email(e))
        .ok_or_else(|| ApiError::Saml {
            code: ReasonCode::SamlSubject,
            detail: match &config.email_attribute {
                Some(a) => format!("the assertion's attribute {a:?} holds no e-mail address"),
                None => "the assertion's NameID is not an e-mail address".into(),
            },
        })?;
    let manager = Manager {
        log: &state.log,
        namespace: &state.settings.namespace,
        region: state.settings.region.as_str(),
        actor: Actor {
            kind: schemas::ActorKind::System,
            id: format!("sso:{}", config.idp_entity_id),
            changed_by: format!("sso:{}", config.idp_entity_id),
            source: Some(source),
        },
    };
    let mut provisioned = false;
    let user = match state.directory.read(|d| d.user_by_email(tenant, &email).cloned()) {
        Some(user) => user,
        None => {
            let Some(role) = config.provision_role else {
                return Err(ApiError::SsoUnknownUser(
                    "the identity provider vouched for someone who is not a user of this tenant, and the tenant creates no users at login: an admin invites them first".into(),
                ));
            };
            let id = manager
                .provision(tenant, &email, role)
                .await
                .map_err(|crate::manage::ManageError::Admin(e)| ApiError::from_admin(e))?;
            provisioned = true;
            state.directory.refresh().await.map_err(|_| ApiError::Unavailable {
                what: "the configuration",
                retry_after_secs: 2,
            })?;
            state
                .directory
                .read(|d| d.user(tenant, id.as_str()).cloned())
                .ok_or(ApiError::Internal)?
        }
    };
    match user.status {
        UserStatus::Active => {}
        UserStatus::Disabled => return Err(ApiError::AccountDisabled),
        UserStatus::Invited => {
            return Err(ApiError::SsoUnknownUser(
                "this account's invitation is still pending: accept it, or ask an admin".into(),
            ))
        }
    }
    if let Some(attribute) = &config.groups_attribute {
        let values = login.attributes.get(attribute).cloned().unwrap_or_default();
        sync_groups(state, &manager, tenant, &user, &config, &values).await?;
    }
    let mut details = BTreeMap::from([
        ("idp".to_owned(), config.idp_entity_id.clone()),
        ("assertion".to_owned(), login.assertion_id.clone()),
        ("provisioned".to_owned(), provisioned.to_string()),
    ]);
    match &login.in_response_to {
        Some(id) => details.insert("request".to_owned(), id.clone()),
        None => details.insert("idp_initiated".to_owned(), "true".to_owned()),
    };
    let record = person_record(
        state,
        tenant,
        user.id.as_str(),
        AuditAction::SsoLogin,
        Outcome::Success,
        source,
        details,
    );
    state.audit.durable(&[record]).await.map_err(ApiError::audit)?;
    let user = state
        .directory
        .read(|d| d.user(tenant, user.id.as_str()).cloned())
        .unwrap_or(user);
    session::start_browser_session(state, &user, relay.as_deref().unwrap_or("/v1/me")).await
}

/// Replaces the user's SSO-managed groups with those `values` map to, when
/// they differ.
async fn sync_groups(
    state: &AppState,
    manager: &Manager<'_>,
    tenant: &str,
    user: &User,
    config: &SsoConfig,
    values: &[String],
) -> Result<(), ApiError> {
    let wanted: Vec<String> = config.groups_for(values).into_iter().map(|g| g.to_string()).collect();
    let current: Vec<String> = state.directory.read(|d| {
        d.groups(tenant)
            .filter(|g| g.sso_members.contains(user.id.as_str()))
            .map(|g| g.id.to_string())
            .collect()
    });
    let added: Vec<String> = wanted.iter().filter(|g| !current.contains(g)).cloned().collect();
    let removed: Vec<String> = current.iter().filter(|g| !wanted.contains(g)).cloned().collect();
    if added.is_empty() && removed.is_empty() {
        return Ok(());
    }
    manager
        .set_sso_groups(tenant, user.id.as_str(), wanted, &added, &removed)
        .await
        .map_err(|crate::manage::ManageError::Admin(e)| ApiError::from_admin(e))?;
    state.directory.refresh().await.map_err(|_| ApiError::Unavailable {
        what: "the configuration",
        retry_after_secs: 2,
    })
}

// ------------------------------------------------------ configuration ----

/// The tenant's choices besides its identity provider (the body of
/// `PUT /v1/sso`, the flags of `vox sso configure`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoChoices {
    /// The identity provider's metadata (XML); may be left out to keep the
    /// one configured.
    #[serde(default)]
    pub idp_metadata: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub idp_initiated: bool,
    #[serde(default)]
    pub email_attribute: Option<String>,
    #[serde(default)]
    pub provision_role: Option<String>,
    #[serde(default)]
    pub groups_attribute: Option<String>,
    /// Value of the groups attribute → group id.
    #[serde(default)]
    pub group_map: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// The configuration event for `tenant`: the identity provider from
/// `choices.idp_metadata` (read with the `saml` crate), or the one
/// configured before.
pub fn configured(
    tenant: &str,
    choices: &SsoChoices,
    before: Option<&SsoConfig>,
) -> Result<schemas::SsoConfigured, String> {
    let idp = match (&choices.idp_metadata, before) {
        (Some(xml), _) => saml::IdentityProvider::from_metadata(xml).map_err(|e| e.to_string())?,
        (None, Some(b)) => idp_of(b),
        (None, None) => {
            return Err("idp_metadata is needed: the tenant has no identity provider configured yet".into())
        }
    };
    Ok(schemas::SsoConfigured {
        tenant_id: tenant.to_owned(),
        enabled: choices.enabled,
        idp_entity_id: idp.entity_id,
        sso_url: idp.sso_url,
        certificates: idp.certificates.into_iter().map(schemas::ByteString).collect(),
        required: choices.required,
        idp_initiated: choices.idp_initiated,
        email_attribute: choices.email_attribute.clone(),
        provision_role: choices.provision_role.clone(),
        groups_attribute: choices.groups_attribute.clone(),
        group_map: choices
            .group_map
            .iter()
            .map(|(idp_group, group_id)| schemas::SsoGroupMapping {
                idp_group: idp_group.clone(),
                group_id: group_id.clone(),
            })
            .collect(),
        changed_at: 0,
        changed_by: String::new(),
    })
}

/// A tenant's single sign-on as the API and the CLI show it (certificates
/// by SHA-256 fingerprint).
pub fn config_json(config: &SsoConfig) -> serde_json::Value {
    use sha2::Digest;
    let fingerprints: Vec<String> = config
        .certificates
        .iter()
        .map(|c| hex(&sha2::Sha256::digest(c)))
        .collect();
    serde_json::json!({
        "enabled": config.enabled,
        "idp_entity_id": config.idp_entity_id,
        "sso_url": config.sso_url,
        "certificate_sha256": fingerprints,
        "required": config.required,
        "idp_initiated": config.idp_initiated,
        "email_attribute": config.email_attribute,
        "provision_role": config.provision_role.map(|r| r.as_str()),
        "groups_attribute": config.groups_attribute,
        "group_map": config.group_map.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
        "changed_at": session::rfc3339(config.changed_at),
    })
}

fn sp_json(state: &AppState, tenant: &str) -> serde_json::Value {
    match provider(state, tenant) {
        Ok((p, _)) => serde_json::json!({"entity_id": p.entity_id, "acs_url": p.acs_url, "metadata_url": p.entity_id}),
        Err(_) => serde_json::Value::Null,
    }
}

/// What `GET` and `PUT /v1/sso` answer: the tenant's configuration and
/// its service provider.
fn config_answer(state: &AppState, tenant: &str) -> serde_json::Value {
    let config = state.directory.read(|d| d.sso_configured(tenant).cloned());
    serde_json::json!({
        "sso": config.as_ref().map(config_json),
        "service_provider": sp_json(state, tenant),
    })
}

/// `GET /v1/sso`: the caller's tenant's single sign-on (owners).
pub(crate) async fn get_config(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    crate::me::with_caller(
        state,
        ctx,
        "/v1/sso",
        session::Accept::Any,
        |state, caller| async move {
            caller
                .require(&state, directory::Permission::ManagePolicy, "/v1/sso")
                .await?;
            Ok(axum::Json(config_answer(&state, &caller.tenant)).into_response())
        },
    )
    .await
}

/// `PUT /v1/sso`: configures the caller's tenant's single sign-on (owners).
pub(crate) async fn put_config(State(state): State<Arc<AppState>>, ctx: Ctx, body: Bytes) -> Response {
    crate::me::with_caller(
        state,
        ctx,
        "/v1/sso",
        session::Accept::Any,
        |state, caller| async move {
            caller
                .require(&state, directory::Permission::ManagePolicy, "/v1/sso")
                .await?;
            let choices: SsoChoices = session::json(&body)?;
            let before = state.directory.read(|d| d.sso_configured(&caller.tenant).cloned());
            let event = configured(&caller.tenant, &choices, before.as_ref()).map_err(ApiError::InvalidRequest)?;
            crate::people::manager(&state, &caller)
                .configure_sso(event)
                .await
                .map_err(|crate::manage::ManageError::Admin(e)| ApiError::from_admin(e))?;
            session::refreshed(&state).await;
            let mut body = config_answer(&state, &caller.tenant);
            body["status"] = serde_json::json!("ok");
            Ok(axum::Json(body).into_response())
        },
    )
    .await
}
