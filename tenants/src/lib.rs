//! Tenant configuration state, folded from the events of `vox.config`.
//! [`Directory`] is pure; [`ConfigFollower`] reads the log into one. Ingest uses it to authenticate clients, the processor to
//! re-check tenant isolation, the CLI to refuse invalid commands.

mod follow;

use std::collections::{BTreeMap, HashMap};

pub use follow::ConfigFollower;

use rand::RngCore;
use schemas::ConfigEvent;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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
    #[error("{what} '{value}' is not valid: use 1 to 63 characters of a-z, 0-9, '-' and '_', starting with a letter or digit")]
    InvalidId { what: &'static str, value: String },
}

/// Why a client is not let in. The HTTP layer maps every variant to the same
/// answer so that a caller cannot probe which client ids exist.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("unknown client id")]
    UnknownClient,
    #[error("the client credential is revoked")]
    Revoked,
    #[error("the secret does not match any active secret of this client")]
    BadSecret,
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
    pub fn code(&self) -> &'static str {
        match self {
            IsolationError::UnknownTenant(_) => "unknown_tenant",
            IsolationError::WrongRegion { .. } => "wrong_region",
            IsolationError::UnknownCollection { .. } => "unknown_collection",
            IsolationError::CollectionNotAllowed { .. } => "collection_not_allowed",
            IsolationError::UnknownClient(_) => "unknown_client",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub region: String,
    pub collections: BTreeMap<String, Collection>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub tenant_id: String,
    pub client_id: String,
    pub name: String,
    /// Collections the client may write; empty means all of the tenant's.
    pub collections: Vec<String>,
    /// Active secret versions and the SHA-256 of each secret.
    pub secrets: BTreeMap<i32, [u8; 32]>,
    pub revoked: bool,
}

impl Client {
    pub fn may_write(&self, collection: &str) -> bool {
        self.collections.is_empty() || self.collections.iter().any(|c| c == collection)
    }
}

/// An authenticated client: the tenant comes from here, never from a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub tenant_id: String,
    pub client_id: String,
    pub secret_version: i32,
}

/// The configuration state of every tenant.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    tenants: HashMap<String, Tenant>,
    clients: HashMap<String, Client>,
}

impl Directory {
    pub fn tenant(&self, id: &str) -> Option<&Tenant> {
        self.tenants.get(id)
    }

    pub fn client(&self, id: &str) -> Option<&Client> {
        self.clients.get(id)
    }

    pub fn tenants(&self) -> impl Iterator<Item = &Tenant> {
        self.tenants.values()
    }

    /// Whether `event` is a valid next step from the current state. The CLI
    /// refuses invalid commands with this; `apply` ignores invalid events
    /// already in the log (first one wins), so replays stay deterministic.
    pub fn check(&self, event: &ConfigEvent) -> Result<(), ConfigError> {
        match event {
            ConfigEvent::TenantCreated(e) => {
                validate_id("tenant id", &e.tenant_id)?;
                validate_id("region", &e.region)?;
                if self.tenants.contains_key(&e.tenant_id) {
                    return Err(ConfigError::TenantExists(e.tenant_id.clone()));
                }
            }
            ConfigEvent::CollectionCreated(e) => {
                validate_id("collection id", &e.collection)?;
                let tenant = self.existing_tenant(&e.tenant_id)?;
                if tenant.collections.contains_key(&e.collection) {
                    return Err(ConfigError::CollectionExists {
                        tenant: e.tenant_id.clone(),
                        collection: e.collection.clone(),
                    });
                }
            }
            ConfigEvent::ClientCredentialIssued(e) => {
                let tenant = self.existing_tenant(&e.tenant_id)?;
                if self.clients.contains_key(&e.client_id) {
                    return Err(ConfigError::ClientExists(e.client_id.clone()));
                }
                for c in &e.collections {
                    if !tenant.collections.contains_key(c) {
                        return Err(ConfigError::UnknownCollection {
                            tenant: e.tenant_id.clone(),
                            collection: c.clone(),
                        });
                    }
                }
            }
            ConfigEvent::ClientSecretRotated(e) => {
                self.existing_client(&e.tenant_id, &e.client_id)?;
            }
            ConfigEvent::ClientCredentialRevoked(e) => {
                self.existing_client(&e.tenant_id, &e.client_id)?;
            }
        }
        Ok(())
    }

    fn existing_tenant(&self, id: &str) -> Result<&Tenant, ConfigError> {
        self.tenants
            .get(id)
            .ok_or_else(|| ConfigError::UnknownTenant(id.to_owned()))
    }

    fn existing_client(&self, tenant: &str, client: &str) -> Result<&Client, ConfigError> {
        self.existing_tenant(tenant)?;
        self.clients
            .get(client)
            .filter(|c| c.tenant_id == tenant)
            .ok_or_else(|| ConfigError::UnknownClient(client.to_owned()))
    }

    /// Folds one event into the state. Returns the reason when the event is
    /// not a valid step (it is then ignored: the first valid event wins).
    pub fn apply(&mut self, event: &ConfigEvent) -> Result<(), ConfigError> {
        self.check(event)?;
        match event {
            ConfigEvent::TenantCreated(e) => {
                self.tenants.insert(
                    e.tenant_id.clone(),
                    Tenant {
                        id: e.tenant_id.clone(),
                        name: e.name.clone(),
                        region: e.region.clone(),
                        collections: BTreeMap::new(),
                    },
                );
            }
            ConfigEvent::CollectionCreated(e) => {
                if let Some(t) = self.tenants.get_mut(&e.tenant_id) {
                    t.collections.insert(
                        e.collection.clone(),
                        Collection {
                            id: e.collection.clone(),
                            name: e.name.clone(),
                        },
                    );
                }
            }
            ConfigEvent::ClientCredentialIssued(e) => {
                let Ok(hash) = <[u8; 32]>::try_from(e.secret_sha256.as_slice()) else {
                    return Ok(());
                };
                self.clients.insert(
                    e.client_id.clone(),
                    Client {
                        tenant_id: e.tenant_id.clone(),
                        client_id: e.client_id.clone(),
                        name: e.name.clone(),
                        collections: e.collections.clone(),
                        secrets: BTreeMap::from([(e.secret_version, hash)]),
                        revoked: false,
                    },
                );
            }
            ConfigEvent::ClientSecretRotated(e) => {
                if let (Some(c), Ok(hash)) = (
                    self.clients.get_mut(&e.client_id),
                    <[u8; 32]>::try_from(e.secret_sha256.as_slice()),
                ) {
                    c.secrets.insert(e.secret_version, hash);
                }
            }
            ConfigEvent::ClientCredentialRevoked(e) => {
                if let Some(c) = self.clients.get_mut(&e.client_id) {
                    match e.secret_version {
                        Some(v) => {
                            c.secrets.remove(&v);
                        }
                        None => c.revoked = true,
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks a client id and secret. Every active secret is compared in
    /// constant time.
    pub fn authenticate(&self, client_id: &str, secret: &str) -> Result<Authenticated, AuthError> {
        let client = self.clients.get(client_id).ok_or(AuthError::UnknownClient)?;
        if client.revoked {
            return Err(AuthError::Revoked);
        }
        let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let mut matched = None;
        for (version, hash) in &client.secrets {
            if bool::from(hash.ct_eq(&presented)) {
                matched = Some(*version);
            }
        }
        let secret_version = matched.ok_or(AuthError::BadSecret)?;
        Ok(Authenticated {
            tenant_id: client.tenant_id.clone(),
            client_id: client.client_id.clone(),
            secret_version,
        })
    }

    /// Tenant isolation: may this client of this tenant write `collection`
    /// on a node of `node_region`?
    pub fn check_write(
        &self,
        tenant_id: &str,
        client_id: &str,
        collection: &str,
        node_region: &str,
    ) -> Result<(), IsolationError> {
        let tenant = self
            .tenants
            .get(tenant_id)
            .ok_or_else(|| IsolationError::UnknownTenant(tenant_id.to_owned()))?;
        if tenant.region != node_region {
            return Err(IsolationError::WrongRegion {
                tenant: tenant_id.to_owned(),
                tenant_region: tenant.region.clone(),
                node_region: node_region.to_owned(),
            });
        }
        if !tenant.collections.contains_key(collection) {
            return Err(IsolationError::UnknownCollection {
                tenant: tenant_id.to_owned(),
                collection: collection.to_owned(),
            });
        }
        let client = self
            .clients
            .get(client_id)
            .filter(|c| c.tenant_id == tenant_id && !c.revoked)
            .ok_or_else(|| IsolationError::UnknownClient(client_id.to_owned()))?;
        if !client.may_write(collection) {
            return Err(IsolationError::CollectionNotAllowed {
                client: client_id.to_owned(),
                collection: collection.to_owned(),
            });
        }
        Ok(())
    }
}

/// Tenant, collection and region ids: short, lower-case, URL- and log-key-safe.
pub fn validate_id(what: &'static str, value: &str) -> Result<(), ConfigError> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && value.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(ConfigError::InvalidId {
            what,
            value: value.to_owned(),
        })
    }
}

/// A freshly generated client credential. The secret is shown to the user
/// once; only its SHA-256 enters the log.
pub struct NewSecret {
    pub secret: String,
    pub sha256: [u8; 32],
}

/// A new public client id, e.g. `vox_ci_5f0b7d3e2c1a4d8e`.
pub fn new_client_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    format!("vox_ci_{}", hex::encode(bytes))
}

/// A new 256-bit client secret with a recognisable prefix (`vox_sk_`), so that
/// secret scanners can find leaked ones.
pub fn new_secret() -> NewSecret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("vox_sk_{}", hex::encode(bytes));
    let sha256 = Sha256::digest(secret.as_bytes()).into();
    NewSecret { secret, sha256 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::{
        ClientCredentialIssued, ClientCredentialRevoked, ClientSecretRotated, CollectionCreated, TenantCreated,
    };

    fn directory_with_client(secret: &NewSecret) -> Directory {
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
            ConfigEvent::ClientCredentialIssued(ClientCredentialIssued {
                tenant_id: "acme".into(),
                client_id: "c1".into(),
                name: "crm".into(),
                collections: vec!["nps".into()],
                secret_version: 1,
                secret_sha256: secret.sha256.to_vec(),
                issued_at: 0,
            }),
        ];
        for e in &events {
            d.apply(e).expect("valid setup");
        }
        d
    }

    #[test]
    fn authenticates_only_the_right_secret() {
        let s = new_secret();
        let d = directory_with_client(&s);
        let auth = d.authenticate("c1", &s.secret).expect("right secret");
        assert_eq!(
            auth,
            Authenticated {
                tenant_id: "acme".into(),
                client_id: "c1".into(),
                secret_version: 1
            }
        );
        assert_eq!(d.authenticate("c1", "vox_sk_wrong"), Err(AuthError::BadSecret));
        assert_eq!(d.authenticate("c2", &s.secret), Err(AuthError::UnknownClient));
    }

    #[test]
    fn rotation_keeps_both_secrets_until_revoked() {
        let s1 = new_secret();
        let s2 = new_secret();
        let mut d = directory_with_client(&s1);
        d.apply(&ConfigEvent::ClientSecretRotated(ClientSecretRotated {
            tenant_id: "acme".into(),
            client_id: "c1".into(),
            secret_version: 2,
            secret_sha256: s2.sha256.to_vec(),
            rotated_at: 0,
        }))
        .expect("valid rotation");
        assert_eq!(d.authenticate("c1", &s1.secret).map(|a| a.secret_version), Ok(1));
        assert_eq!(d.authenticate("c1", &s2.secret).map(|a| a.secret_version), Ok(2));
        d.apply(&ConfigEvent::ClientCredentialRevoked(ClientCredentialRevoked {
            tenant_id: "acme".into(),
            client_id: "c1".into(),
            secret_version: Some(1),
            revoked_at: 0,
        }))
        .expect("valid revoke");
        assert_eq!(d.authenticate("c1", &s1.secret), Err(AuthError::BadSecret));
        d.apply(&ConfigEvent::ClientCredentialRevoked(ClientCredentialRevoked {
            tenant_id: "acme".into(),
            client_id: "c1".into(),
            secret_version: None,
            revoked_at: 0,
        }))
        .expect("valid revoke");
        assert_eq!(d.authenticate("c1", &s2.secret), Err(AuthError::Revoked));
    }

    #[test]
    fn isolation_checks_region_collection_and_client_scope() {
        let s = new_secret();
        let d = directory_with_client(&s);
        assert_eq!(d.check_write("acme", "c1", "nps", "eu"), Ok(()));
        assert_eq!(
            d.check_write("acme", "c1", "nps", "us").map_err(|e| e.code()),
            Err("wrong_region")
        );
        assert_eq!(
            d.check_write("acme", "c1", "support", "eu").map_err(|e| e.code()),
            Err("collection_not_allowed")
        );
        assert_eq!(
            d.check_write("acme", "c1", "nope", "eu").map_err(|e| e.code()),
            Err("unknown_collection")
        );
        assert_eq!(
            d.check_write("other", "c1", "nps", "eu").map_err(|e| e.code()),
            Err("unknown_tenant")
        );
    }

    #[test]
    fn invalid_events_are_refused_and_first_one_wins() {
        let s = new_secret();
        let mut d = directory_with_client(&s);
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

    #[test]
    fn secrets_are_prefixed_and_unique() {
        let a = new_secret();
        let b = new_secret();
        assert!(a.secret.starts_with("vox_sk_") && a.secret.len() == 7 + 64);
        assert_ne!(a.secret, b.secret);
    }
}
