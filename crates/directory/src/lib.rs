//! The directory: tenant configuration (tenants, regions, collections,
//! client credentials), folded from the events of `vox.config`.
//!
//! * [`Directory`] (this module) is the pure fold: `check` and `apply` per
//!   event, and the access checks built on it. It does no I/O.
//! * [`ConfigFollower`] reads the log into a `Directory`;
//!   [`SharedDirectory`] is the live copy a long-running role reads and
//!   refreshes; [`commands`] are the configuration writes the CLI calls.
//!   These are the I/O shell around the fold.
//!
//! Ingest uses it to authenticate clients, the processor to re-check tenant
//! isolation, the CLI to refuse invalid commands.

pub mod access;
pub mod commands;
mod follow;
pub mod people;
mod shared;
mod sso;
mod steps;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

pub use self::access::{AccessGrant, AccessLevel, Principal, Revocation, RevokedBecause};
pub use follow::ConfigFollower;
pub use people::{Group, Permission, Role, Sealed, SupportGrant, Totp, User, UserStatus};
pub use shared::SharedDirectory;
pub use sso::SsoConfig;

use auth::Kek;
use schemas::{ClientId, CollectionId, ConfigEvent, InvalidId, Region, TenantId};

/// Why a configuration command is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("tenant '{0}' already exists; pick another tenant id")]
    TenantExists(String),
    #[error("tenant '{0}' does not exist; create it first with `vox tenant create {0} --name NAME`")]
    UnknownTenant(String),
    #[error("collection '{collection}' already exists in tenant '{tenant}'")]
    CollectionExists { tenant: String, collection: String },
    #[error("collection '{collection}' does not exist in tenant '{tenant}'; create it with `vox collection create --tenant {tenant} {collection}`")]
    UnknownCollection { tenant: String, collection: String },
    #[error("client '{0}' already exists")]
    ClientExists(String),
    #[error("client '{0}' does not exist in this tenant")]
    UnknownClient(String),
    #[error("client '{client}' has no active secret version {version}; its active versions are {active:?}")]
    UnknownSecretVersion {
        client: String,
        version: i32,
        active: Vec<i32>,
    },
    #[error("client '{client}' already had secret version {version}; a rotation needs a version above {highest}")]
    StaleSecretVersion { client: String, version: i32, highest: i32 },
    #[error("tenant '{tenant}': {invalid}")]
    InvalidRuleSet { tenant: String, invalid: rules::Invalid },
    #[error("tenant '{tenant}' is at rule set version {live}; the next publish must be version {}, not {version}", live + 1)]
    RuleSetVersion { tenant: String, version: i32, live: i32 },
    #[error(transparent)]
    InvalidId(#[from] InvalidId),
    #[error("{0}")]
    InvalidPeople(String),
    #[error(
        "user '{user}' does not exist in {}; list the users with `vox user list --tenant {scope}`",
        scope_name(scope)
    )]
    UnknownUser { scope: String, user: String },
    #[error(
        "{} already has a user with the e-mail {email} (e-mails compare case-insensitively)",
        scope_name(scope)
    )]
    EmailTaken { scope: String, email: String },
    #[error("the invitation is unknown, expired or already used; ask an admin for a new one")]
    InvalidInvitation,
    #[error("user '{0}' is not active (invited but not accepted, or disabled)")]
    UserNotActive(String),
    #[error("tenant '{tenant}' would have no active owner left; make another user owner first")]
    LastOwner { tenant: String },
    #[error("group '{group}' does not exist in tenant '{tenant}'")]
    UnknownGroup { tenant: String, group: String },
    #[error("group '{group}' already exists in tenant '{tenant}'")]
    GroupExists { tenant: String, group: String },
    #[error("a support grant must end after it starts and last at most 72 hours")]
    SupportGrantTooLong,
    #[error("support grant '{grant}' does not exist in tenant '{tenant}'")]
    UnknownGrant { tenant: String, grant: String },
    /// An access grant or restricted tag list that breaks its rules.
    #[error("{0}")]
    InvalidAccess(String),
    #[error("access grant '{grant}' does not exist in tenant '{tenant}'; list the grants with `vox grant list --tenant {tenant}` or GET /v1/grants")]
    UnknownAccessGrant { tenant: String, grant: String },
    #[error("access grant '{grant}' has ended already ({because}); nothing was revoked")]
    AccessGrantEnded { grant: String, because: &'static str },
    #[error("tenant '{tenant}' has {limit} access grants in force, the most it may have; revoke grants it no longer needs first")]
    TooManyAccessGrants { tenant: String, limit: usize },
}

/// How an error names a scope: a tenant, or the installation.
fn scope_name(scope: &str) -> String {
    if scope == schemas::INSTALLATION {
        "the installation".to_owned()
    } else {
        format!("tenant '{scope}'")
    }
}

/// Why a client is not let in. The HTTP layer maps every variant to the same
/// answer so that a caller cannot probe which client ids exist.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("unknown client id")]
    UnknownClient,
    #[error("the client credential is revoked")]
    Revoked,
    #[error("the signature does not match any active secret of this client")]
    BadSignature,
    #[error("a sealed secret of client '{0}' does not open with this node's key-encryption key")]
    Unsealable(String),
}

/// Why an item may not be written to a collection.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IsolationError {
    #[error("tenant '{0}' is not known")]
    UnknownTenant(String),
    #[error("tenant '{tenant}' is pinned to region '{tenant_region}', this node serves region '{node_region}'")]
    WrongRegion {
        tenant: String,
        tenant_region: String,
        node_region: String,
    },
    #[error("collection '{collection}' does not exist in tenant '{tenant}'")]
    UnknownCollection { tenant: String, collection: String },
    #[error("client '{client}' may not write collection '{collection}'")]
    CollectionNotAllowed { client: String, collection: String },
    #[error("client '{0}' is not known or revoked")]
    UnknownClient(String),
}

impl IsolationError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> schemas::ReasonCode {
        use schemas::ReasonCode;
        match self {
            IsolationError::UnknownTenant(_) => ReasonCode::UnknownTenant,
            IsolationError::WrongRegion { .. } => ReasonCode::WrongRegion,
            IsolationError::UnknownCollection { .. } => ReasonCode::UnknownCollection,
            IsolationError::CollectionNotAllowed { .. } => ReasonCode::CollectionNotAllowed,
            IsolationError::UnknownClient(_) => ReasonCode::UnknownClient,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub region: Region,
    pub collections: BTreeMap<CollectionId, Collection>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    pub id: CollectionId,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub tenant_id: TenantId,
    pub client_id: ClientId,
    pub name: String,
    /// Collections the client may write; empty means all of the tenant's.
    pub collections: Vec<CollectionId>,
    /// Secret versions that have not been revoked.
    pub secrets: BTreeMap<i32, SecretVersion>,
    /// Revoked secret versions: they never verify, but a request signed with
    /// one is told that its credential is revoked (it proved it held it).
    pub revoked_secrets: BTreeMap<i32, SecretVersion>,
    /// The highest version ever issued (revoked ones included): versions are
    /// never reused, so an audit record's version names one secret.
    pub highest_version: i32,
    pub revoked: bool,
}

/// One secret version of a client.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretVersion {
    /// The secret sealed under the key-encryption key (None for credentials
    /// issued before sealing existed: they cannot sign requests).
    pub sealed: Option<Vec<u8>>,
    /// End of a rotation's grace period (microseconds), if any.
    pub valid_until: Option<i64>,
}

/// Prints the sealed secret's length only.
impl std::fmt::Debug for SecretVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretVersion")
            .field("sealed", &self.sealed.as_ref().map(|s| Sealed(s.clone())))
            .field("valid_until", &self.valid_until)
            .finish()
    }
}

impl SecretVersion {
    pub fn active_at(&self, now_micros: i64) -> bool {
        self.valid_until.is_none_or(|until| now_micros < until)
    }
}

impl Client {
    pub fn may_write(&self, collection: &CollectionId) -> bool {
        self.collections.is_empty() || self.collections.contains(collection)
    }
}

/// An authenticated client: the tenant comes from here, never from a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub tenant_id: TenantId,
    pub client_id: ClientId,
    pub secret_version: i32,
}

/// One published version of a tenant's rule set.
#[derive(Debug, Clone)]
pub struct PublishedRuleSet {
    pub version: i32,
    /// The document exactly as published.
    pub document: Arc<str>,
    pub published_at: i64,
    pub published_by: Option<String>,
    /// Compiled on first use and shared by every copy of the directory, so
    /// each (tenant, version) compiles once per process.
    compiled: Arc<OnceLock<Result<Arc<rules::RuleSet>, rules::Invalid>>>,
}

impl PublishedRuleSet {
    /// The compiled rule set. `Err` only if the document does not compile
    /// with this build (publishing checks it; a document written by a newer
    /// build, or another way, may not).
    pub fn compiled(&self) -> Result<Arc<rules::RuleSet>, rules::Invalid> {
        self.compiled
            .get_or_init(|| rules::RuleSet::compile(&self.document, self.version).map(Arc::new))
            .clone()
    }
}

/// The configuration state of every tenant.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    tenants: HashMap<TenantId, Tenant>,
    clients: HashMap<ClientId, Client>,
    /// Every published rule set version per tenant, oldest first.
    rule_sets: HashMap<TenantId, Vec<PublishedRuleSet>>,
    /// Users, groups, login policies, support grants.
    people: people::People,
    /// Access grants and restricted tag names.
    access: self::access::AccessState,
}

/// The rule set of tenants that have published none.
fn default_rules() -> Arc<rules::RuleSet> {
    static DEFAULTS: OnceLock<Arc<rules::RuleSet>> = OnceLock::new();
    DEFAULTS.get_or_init(|| Arc::new(rules::RuleSet::defaults())).clone()
}

impl Directory {
    pub fn tenant(&self, id: &str) -> Option<&Tenant> {
        self.tenants.get(id)
    }

    pub fn client(&self, id: &str) -> Option<&Client> {
        self.clients.get(id)
    }

    /// Every published rule set version of a tenant, oldest first.
    pub fn rule_set_versions(&self, tenant: &str) -> &[PublishedRuleSet] {
        self.rule_sets.get(tenant).map_or(&[], Vec::as_slice)
    }

    /// The rule set version live for a tenant (0: none published).
    pub fn live_rule_set_version(&self, tenant: &str) -> i32 {
        self.rule_set_versions(tenant).last().map_or(0, |r| r.version)
    }

    /// The tenant's live rule set, compiled (the defaults, version 0, when
    /// it has published none).
    pub fn live_rules(&self, tenant: &str) -> Result<Arc<rules::RuleSet>, rules::Invalid> {
        match self.rule_set_versions(tenant).last() {
            Some(published) => published.compiled(),
            None => Ok(default_rules()),
        }
    }

    pub fn tenants(&self) -> impl Iterator<Item = &Tenant> {
        self.tenants.values()
    }

    pub fn clients(&self) -> impl Iterator<Item = &Client> {
        self.clients.values()
    }

    /// Whether `event` is a valid next step from the current state. The CLI
    /// refuses invalid commands with this; `apply` ignores invalid events
    /// already in the log (first one wins), so replays stay deterministic.
    pub fn check(&self, event: &ConfigEvent) -> Result<(), ConfigError> {
        steps::dispatch!(event, e => e.check(self))
    }

    /// Folds one event into the state. Returns the reason when the event is
    /// not a valid step (it is then ignored: the first valid event wins).
    pub fn apply(&mut self, event: &ConfigEvent) -> Result<(), ConfigError> {
        self.check(event)?;
        steps::dispatch!(event, e => e.apply(self));
        self::access::follow_people(self, event);
        Ok(())
    }

    pub(crate) fn existing_tenant(&self, id: &str) -> Result<&Tenant, ConfigError> {
        self.tenants
            .get(id)
            .ok_or_else(|| ConfigError::UnknownTenant(id.to_owned()))
    }

    pub(crate) fn existing_client(&self, tenant: &str, client: &str) -> Result<&Client, ConfigError> {
        self.existing_tenant(tenant)?;
        self.clients
            .get(client)
            .filter(|c| c.tenant_id == tenant)
            .ok_or_else(|| ConfigError::UnknownClient(client.to_owned()))
    }

    /// Verifies a signed request: `signature` must be the HMAC of
    /// `string_to_sign` under one of the client's active secrets (opened
    /// with `kek`). Returns the tenant and the secret version that matched.
    /// [`AuthError::Revoked`] only when the signature verifies under a
    /// secret that was revoked or whose grace period ended (the caller held
    /// it); any other mismatch is [`AuthError::BadSignature`].
    pub fn verify_signature(
        &self,
        kek: &Kek,
        client_id: &str,
        string_to_sign: &str,
        signature: &[u8],
        now_micros: i64,
    ) -> Result<Authenticated, AuthError> {
        let client = self.clients.get(client_id).ok_or(AuthError::UnknownClient)?;
        let matches = |version: i32, entry: &SecretVersion| -> Result<bool, AuthError> {
            let Some(sealed) = &entry.sealed else { return Ok(false) };
            let secret = kek
                .open(client.tenant_id.as_str(), client_id, version, sealed)
                .map_err(|_| AuthError::Unsealable(client_id.to_owned()))?;
            Ok(auth::signing::verify(secret.expose(), string_to_sign, signature))
        };
        if !client.revoked {
            for (version, entry) in client.secrets.iter().rev().filter(|(_, s)| s.active_at(now_micros)) {
                if matches(*version, entry)? {
                    return Ok(Authenticated {
                        tenant_id: client.tenant_id.clone(),
                        client_id: client.client_id.clone(),
                        secret_version: *version,
                    });
                }
            }
        }
        let retired = client
            .secrets
            .iter()
            .filter(|(_, s)| client.revoked || !s.active_at(now_micros))
            .chain(client.revoked_secrets.iter());
        for (version, entry) in retired {
            if matches(*version, entry)? {
                return Err(AuthError::Revoked);
            }
        }
        Err(AuthError::BadSignature)
    }

    /// Whether `client_id` names a client (revoked ones included: their
    /// callers may be told so once a signature proves it). Checked before a
    /// request's body is read; the answer for an unknown client is the same
    /// as for a bad signature.
    pub fn client_known(&self, client_id: &str) -> bool {
        self.clients.contains_key(client_id)
    }

    /// Tenant isolation at ingest: may this client of this tenant write
    /// `collection` on a node of `node_region`, now?
    pub fn check_write(
        &self,
        tenant_id: &TenantId,
        client_id: &ClientId,
        collection: &CollectionId,
        node_region: &Region,
    ) -> Result<(), IsolationError> {
        self.isolation(tenant_id, client_id, collection, node_region, false)
    }

    /// Tenant isolation in the processor, for an item ingest already
    /// accepted: the same checks, except that a credential revoked since
    /// does not undo an accepted item.
    pub fn check_accepted(
        &self,
        tenant_id: &TenantId,
        client_id: &ClientId,
        collection: &CollectionId,
        node_region: &Region,
    ) -> Result<(), IsolationError> {
        self.isolation(tenant_id, client_id, collection, node_region, true)
    }

    fn isolation(
        &self,
        tenant_id: &TenantId,
        client_id: &ClientId,
        collection: &CollectionId,
        node_region: &Region,
        allow_revoked: bool,
    ) -> Result<(), IsolationError> {
        let tenant = self
            .tenants
            .get(tenant_id)
            .ok_or_else(|| IsolationError::UnknownTenant(tenant_id.to_string()))?;
        if &tenant.region != node_region {
            return Err(IsolationError::WrongRegion {
                tenant: tenant_id.to_string(),
                tenant_region: tenant.region.to_string(),
                node_region: node_region.to_string(),
            });
        }
        if !tenant.collections.contains_key(collection) {
            return Err(IsolationError::UnknownCollection {
                tenant: tenant_id.to_string(),
                collection: collection.to_string(),
            });
        }
        let client = self
            .clients
            .get(client_id)
            .filter(|c| &c.tenant_id == tenant_id && (allow_revoked || !c.revoked))
            .ok_or_else(|| IsolationError::UnknownClient(client_id.to_string()))?;
        if !client.may_write(collection) {
            return Err(IsolationError::CollectionNotAllowed {
                client: client_id.to_string(),
                collection: collection.to_string(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::{
        ClientCredentialIssued, ClientCredentialRevoked, ClientSecretRotated, CollectionCreated, TenantCreated,
    };

    const NOW: i64 = 1_800_000_000_000_000;

    fn tenant(id: &str) -> TenantId {
        TenantId::parse(id).expect("a valid tenant id")
    }
    fn client(id: &str) -> ClientId {
        ClientId::parse(id).expect("a valid client id")
    }
    fn collection(id: &str) -> CollectionId {
        CollectionId::parse(id).expect("a valid collection id")
    }
    fn region(id: &str) -> Region {
        Region::parse(id).expect("a valid region")
    }

    fn issued(kek: &Kek, secret: &str) -> ConfigEvent {
        ConfigEvent::ClientCredentialIssued(ClientCredentialIssued {
            tenant_id: "acme".into(),
            client_id: "c1".into(),
            name: "crm".into(),
            collections: vec!["nps".into()],
            secret_version: 1,
            secret_sha256: vec![],
            issued_at: 0,
            sealed_secret: Some(kek.seal("acme", "c1", 1, secret)),
            kek_id: Some(kek.id()),
        })
    }

    fn rotated(kek: &Kek, version: i32, secret: &str, previous_valid_until: Option<i64>) -> ConfigEvent {
        ConfigEvent::ClientSecretRotated(ClientSecretRotated {
            tenant_id: "acme".into(),
            client_id: "c1".into(),
            secret_version: version,
            secret_sha256: vec![],
            rotated_at: 0,
            sealed_secret: Some(kek.seal("acme", "c1", version, secret)),
            kek_id: Some(kek.id()),
            previous_valid_until,
        })
    }

    fn revoked(version: Option<i32>) -> ConfigEvent {
        ConfigEvent::ClientCredentialRevoked(ClientCredentialRevoked {
            tenant_id: "acme".into(),
            client_id: "c1".into(),
            secret_version: version,
            revoked_at: 0,
        })
    }

    fn directory_with_client(kek: &Kek, secret: &str) -> Directory {
        let mut d = Directory::default();
        let events = [
            ConfigEvent::TenantCreated(TenantCreated {
                tenant_id: "acme".into(),
                name: "Acme".into(),
                region: "eu".into(),
                created_at: 0,
            }),
            ConfigEvent::CollectionCreated(CollectionCreated {
                tenant_id: "acme".into(),
                collection: "nps".into(),
                name: "NPS".into(),
                created_at: 0,
            }),
            ConfigEvent::CollectionCreated(CollectionCreated {
                tenant_id: "acme".into(),
                collection: "support".into(),
                name: "S".into(),
                created_at: 0,
            }),
            issued(kek, secret),
        ];
        for e in &events {
            d.apply(e).expect("valid setup");
        }
        d
    }

    /// Signs a fixed request with `secret` and asks the directory who sent it.
    fn who(d: &Directory, kek: &Kek, client: &str, secret: &str, now: i64) -> Result<i32, AuthError> {
        let s = auth::signing::string_to_sign(1, "0123456789abcdef", "POST", "/v1/feedback/batch", "", b"[]");
        let signature = auth::signing::sign(secret, &s);
        d.verify_signature(kek, client, &s, &signature, now).map(|a| {
            assert_eq!(a.tenant_id, "acme");
            a.secret_version
        })
    }

    #[test]
    fn verifies_only_signatures_of_the_right_secret() {
        let kek = Kek::generate();
        let secret = auth::new_secret();
        let d = directory_with_client(&kek, &secret);
        assert_eq!(who(&d, &kek, "c1", &secret, NOW), Ok(1));
        assert_eq!(
            who(&d, &kek, "c1", &auth::new_secret(), NOW),
            Err(AuthError::BadSignature)
        );
        assert_eq!(who(&d, &kek, "c2", &secret, NOW), Err(AuthError::UnknownClient));
        assert_eq!(
            who(&d, &Kek::generate(), "c1", &secret, NOW),
            Err(AuthError::Unsealable("c1".into()))
        );
    }

    #[test]
    fn rotation_keeps_both_secrets_until_revoked() {
        let kek = Kek::generate();
        let (s1, s2) = (auth::new_secret(), auth::new_secret());
        let mut d = directory_with_client(&kek, &s1);
        d.apply(&rotated(&kek, 2, &s2, None)).expect("valid rotation");
        assert_eq!(who(&d, &kek, "c1", &s1, NOW), Ok(1));
        assert_eq!(who(&d, &kek, "c1", &s2, NOW), Ok(2));
        d.apply(&revoked(Some(1))).expect("valid revoke");
        assert_eq!(
            who(&d, &kek, "c1", &s1, NOW),
            Err(AuthError::Revoked),
            "a revoked secret is told so: its holder proved it held it"
        );
        assert_eq!(
            who(&d, &kek, "c1", &auth::new_secret(), NOW),
            Err(AuthError::BadSignature),
            "a secret it never had is not told that the credential is revoked"
        );
        assert_eq!(who(&d, &kek, "c1", &s2, NOW), Ok(2));
        d.apply(&revoked(None)).expect("valid revoke");
        assert_eq!(who(&d, &kek, "c1", &s2, NOW), Err(AuthError::Revoked));
    }

    #[test]
    fn versions_are_never_reused_and_revocations_name_active_versions() {
        let kek = Kek::generate();
        let mut d = directory_with_client(&kek, &auth::new_secret());
        d.apply(&rotated(&kek, 2, &auth::new_secret(), None))
            .expect("rotation to 2");
        d.apply(&revoked(Some(2))).expect("revoke 2");
        assert!(matches!(
            d.check(&rotated(&kek, 2, "s", None)),
            Err(ConfigError::StaleSecretVersion { highest: 2, .. })
        ));
        assert!(matches!(
            d.check(&revoked(Some(7))),
            Err(ConfigError::UnknownSecretVersion { .. })
        ));
        assert_eq!(d.client("c1").map(|c| c.highest_version), Some(2));
        d.apply(&revoked(None)).expect("revoke all");
        assert_eq!(
            d.check_write(&tenant("acme"), &client("c1"), &collection("nps"), &region("eu"))
                .map_err(|e| e.code().as_str()),
            Err("unknown_client")
        );
        assert_eq!(
            d.check_accepted(&tenant("acme"), &client("c1"), &collection("nps"), &region("eu")),
            Ok(()),
            "accepted items survive a later revocation"
        );
    }

    #[test]
    fn a_grace_period_ends_the_old_secret() {
        let kek = Kek::generate();
        let (s1, s2) = (auth::new_secret(), auth::new_secret());
        let mut d = directory_with_client(&kek, &s1);
        d.apply(&rotated(&kek, 2, &s2, Some(NOW + 1_000_000)))
            .expect("valid rotation");
        assert_eq!(who(&d, &kek, "c1", &s1, NOW), Ok(1), "inside the grace period");
        assert_eq!(
            who(&d, &kek, "c1", &s1, NOW + 1_000_000),
            Err(AuthError::Revoked),
            "after it"
        );
        assert_eq!(who(&d, &kek, "c1", &s2, NOW + 1_000_000), Ok(2));
    }

    #[test]
    fn isolation_checks_region_collection_and_client_scope() {
        let kek = Kek::generate();
        let d = directory_with_client(&kek, &auth::new_secret());
        assert_eq!(
            d.check_write(&tenant("acme"), &client("c1"), &collection("nps"), &region("eu")),
            Ok(())
        );
        assert_eq!(
            d.check_write(&tenant("acme"), &client("c1"), &collection("nps"), &region("us"))
                .map_err(|e| e.code().as_str()),
            Err("wrong_region")
        );
        assert_eq!(
            d.check_write(&tenant("acme"), &client("c1"), &collection("support"), &region("eu"))
                .map_err(|e| e.code().as_str()),
            Err("collection_not_allowed")
        );
        assert_eq!(
            d.check_write(&tenant("acme"), &client("c1"), &collection("nope"), &region("eu"))
                .map_err(|e| e.code().as_str()),
            Err("unknown_collection")
        );
        assert_eq!(
            d.check_write(&tenant("other"), &client("c1"), &collection("nps"), &region("eu"))
                .map_err(|e| e.code().as_str()),
            Err("unknown_tenant")
        );
    }

    #[test]
    fn invalid_events_are_refused_and_first_one_wins() {
        let kek = Kek::generate();
        let mut d = directory_with_client(&kek, &auth::new_secret());
        let dup = ConfigEvent::TenantCreated(TenantCreated {
            tenant_id: "acme".into(),
            name: "Other".into(),
            region: "us".into(),
            created_at: 1,
        });
        assert_eq!(d.apply(&dup), Err(ConfigError::TenantExists("acme".into())));
        assert_eq!(d.tenant("acme").map(|t| t.region.as_str()), Some("eu"));
        let bad = ConfigEvent::TenantCreated(TenantCreated {
            tenant_id: "Bad Id".into(),
            name: "x".into(),
            region: "eu".into(),
            created_at: 1,
        });
        assert!(matches!(d.apply(&bad), Err(ConfigError::InvalidId { .. })));
    }

    fn published(tenant: &str, version: i32, document: &str) -> ConfigEvent {
        ConfigEvent::RuleSetPublished(schemas::RuleSetPublished {
            tenant_id: tenant.into(),
            version,
            document: document.into(),
            published_at: NOW,
            published_by: None,
        })
    }

    #[test]
    fn rule_sets_are_versioned_whole_and_compiled_when_used() {
        let kek = Kek::generate();
        let mut d = directory_with_client(&kek, &auth::new_secret());
        assert_eq!(d.live_rule_set_version("acme"), 0, "the defaults before any publish");
        assert_eq!(d.live_rules("acme").expect("defaults").version(), 0);
        let v1 = "[[rule]]\nid = \"a\"\nwhen.channel = [\"email\"]\ntags = [{ name = \"t\", value = \"v\" }]\n";
        d.apply(&published("acme", 1, v1)).expect("version 1");
        assert_eq!(d.live_rules("acme").expect("compiles").rule_count(), 1);
        assert!(Arc::ptr_eq(
            &d.live_rules("acme").expect("cached"),
            &d.clone().live_rules("acme").expect("shared by copies")
        ));
        assert_eq!(
            d.apply(&published("acme", 3, v1)),
            Err(ConfigError::RuleSetVersion {
                tenant: "acme".into(),
                version: 3,
                live: 1
            })
        );
        assert_eq!(
            d.apply(&published("globex", 1, v1)),
            Err(ConfigError::UnknownTenant("globex".into()))
        );
        // A document this build cannot compile (another build wrote it) is
        // still the live version: folding does not compile, using does.
        d.apply(&published(
            "acme",
            2,
            "[[rule]]\nid = \"a\"\nwhen.nope = 1\ntags = []\n",
        ))
        .expect("version 2 folds");
        assert_eq!(d.live_rule_set_version("acme"), 2);
        assert!(
            d.live_rules("acme").is_err(),
            "and is not silently replaced by version 1"
        );
        d.apply(&published("acme", 3, ""))
            .expect("version 3 (the empty document)");
        assert_eq!(d.live_rules("acme").expect("compiles").version(), 3);
        assert_eq!(d.rule_set_versions("acme").len(), 3, "every version is kept");
        assert_eq!(&*d.rule_set_versions("acme")[0].document, v1);
    }
}
