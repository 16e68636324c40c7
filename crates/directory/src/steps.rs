//! Each configuration event's own step: whether it is valid from a state
//! (`check`) and what it changes (`apply`, called only after `check`
//! passed). Adding a configuration event adds its `impl Step` here and a
//! line to [`dispatch`] (the people events' steps are in `people.rs`, the
//! access events' in `access.rs`).

use std::collections::BTreeMap;

use schemas::{
    ClientCredentialIssued, ClientCredentialRevoked, ClientSecretRotated, CollectionCreated, RuleSetPublished,
    TenantCreated,
};

use schemas::{ClientId, CollectionId, InvalidId, Region, TenantId};

use crate::{Client, Collection, ConfigError, Directory, PublishedRuleSet, SecretVersion, Tenant};

/// Ids of events that passed `check` parse; a failure here is a bug.
fn checked<T>(id: Result<T, InvalidId>) -> T {
    id.expect("check parsed this id")
}

/// One configuration event as a step of the fold.
pub(crate) trait Step {
    fn check(&self, d: &Directory) -> Result<(), ConfigError>;
    fn apply(&self, d: &mut Directory);
}

/// Runs `$body` with `$e` bound to the event inside `$event`, whatever its type.
macro_rules! dispatch {
    ($event:expr, $e:ident => $body:expr) => {{
        use schemas::ConfigEvent;
        use $crate::steps::Step as _;
        match $event {
            ConfigEvent::TenantCreated($e) => $body,
            ConfigEvent::CollectionCreated($e) => $body,
            ConfigEvent::ClientCredentialIssued($e) => $body,
            ConfigEvent::ClientSecretRotated($e) => $body,
            ConfigEvent::ClientCredentialRevoked($e) => $body,
            ConfigEvent::RuleSetPublished($e) => $body,
            ConfigEvent::UserInvited($e) => $body,
            ConfigEvent::UserPasswordSet($e) => $body,
            ConfigEvent::UserChanged($e) => $body,
            ConfigEvent::UserTotpSet($e) => $body,
            ConfigEvent::TenantPolicySet($e) => $body,
            ConfigEvent::GroupChanged($e) => $body,
            ConfigEvent::SupportGrantChanged($e) => $body,
            ConfigEvent::AccessGrantChanged($e) => $body,
            ConfigEvent::RestrictedTagsSet($e) => $body,
            ConfigEvent::SsoConfigured($e) => $body,
            ConfigEvent::UserProvisioned($e) => $body,
            ConfigEvent::SsoGroupsSet($e) => $body,
        }
    }};
}
pub(crate) use dispatch;

impl Step for TenantCreated {
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        TenantId::parse(&self.tenant_id)?;
        Region::parse(&self.region)?;
        if d.tenants.contains_key(self.tenant_id.as_str()) {
            return Err(ConfigError::TenantExists(self.tenant_id.clone()));
        }
        Ok(())
    }

    fn apply(&self, d: &mut Directory) {
        let id = checked(TenantId::parse(&self.tenant_id));
        d.tenants.insert(
            id.clone(),
            Tenant {
                id,
                name: self.name.clone(),
                region: checked(Region::parse(&self.region)),
                collections: BTreeMap::new(),
            },
        );
    }
}

impl Step for CollectionCreated {
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        CollectionId::parse(&self.collection)?;
        let tenant = d.existing_tenant(&self.tenant_id)?;
        if tenant.collections.contains_key(self.collection.as_str()) {
            return Err(ConfigError::CollectionExists {
                tenant: self.tenant_id.clone(),
                collection: self.collection.clone(),
            });
        }
        Ok(())
    }

    fn apply(&self, d: &mut Directory) {
        if let Some(t) = d.tenants.get_mut(self.tenant_id.as_str()) {
            let id = checked(CollectionId::parse(&self.collection));
            t.collections.insert(
                id.clone(),
                Collection {
                    id,
                    name: self.name.clone(),
                },
            );
        }
    }
}

impl Step for ClientCredentialIssued {
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        let tenant = d.existing_tenant(&self.tenant_id)?;
        ClientId::parse(&self.client_id)?;
        if d.clients.contains_key(self.client_id.as_str()) {
            return Err(ConfigError::ClientExists(self.client_id.clone()));
        }
        for c in &self.collections {
            if !tenant.collections.contains_key(c.as_str()) {
                return Err(ConfigError::UnknownCollection {
                    tenant: self.tenant_id.clone(),
                    collection: c.clone(),
                });
            }
        }
        Ok(())
    }

    fn apply(&self, d: &mut Directory) {
        let version = SecretVersion {
            sealed: self.sealed_secret.clone(),
            valid_until: None,
        };
        let client_id = checked(ClientId::parse(&self.client_id));
        d.clients.insert(
            client_id.clone(),
            Client {
                tenant_id: checked(TenantId::parse(&self.tenant_id)),
                client_id,
                name: self.name.clone(),
                collections: self
                    .collections
                    .iter()
                    .map(|c| checked(CollectionId::parse(c)))
                    .collect(),
                secrets: BTreeMap::from([(self.secret_version, version)]),
                revoked_secrets: BTreeMap::new(),
                highest_version: self.secret_version,
                revoked: false,
            },
        );
    }
}

impl Step for ClientSecretRotated {
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        let client = d.existing_client(&self.tenant_id, &self.client_id)?;
        if self.secret_version <= client.highest_version {
            return Err(ConfigError::StaleSecretVersion {
                client: self.client_id.clone(),
                version: self.secret_version,
                highest: client.highest_version,
            });
        }
        Ok(())
    }

    fn apply(&self, d: &mut Directory) {
        if let Some(c) = d.clients.get_mut(self.client_id.as_str()) {
            if let Some(until) = self.previous_valid_until {
                for old in c.secrets.values_mut() {
                    old.valid_until = Some(old.valid_until.map_or(until, |u| u.min(until)));
                }
            }
            let version = SecretVersion {
                sealed: self.sealed_secret.clone(),
                valid_until: None,
            };
            c.secrets.insert(self.secret_version, version);
            c.highest_version = c.highest_version.max(self.secret_version);
        }
    }
}

impl Step for ClientCredentialRevoked {
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        let client = d.existing_client(&self.tenant_id, &self.client_id)?;
        if let Some(version) = self.secret_version {
            if !client.secrets.contains_key(&version) {
                return Err(ConfigError::UnknownSecretVersion {
                    client: self.client_id.clone(),
                    version,
                    active: client.secrets.keys().copied().collect(),
                });
            }
        }
        Ok(())
    }

    fn apply(&self, d: &mut Directory) {
        if let Some(c) = d.clients.get_mut(self.client_id.as_str()) {
            match self.secret_version {
                Some(v) => {
                    if let Some(secret) = c.secrets.remove(&v) {
                        c.revoked_secrets.insert(v, secret);
                    }
                }
                None => c.revoked = true,
            }
        }
    }
}

impl Step for RuleSetPublished {
    /// The structure only: the tenant exists and the version is the next
    /// one. The document is checked whole when it is published
    /// (`commands::publish_rules`) and compiled when it is first used
    /// ([`PublishedRuleSet::compiled`]): folding never compiles, and a
    /// document that does not compile with this build (written by a newer
    /// one, or another way) is still the live version, whose items are then
    /// dead-lettered as `rules_unavailable` rather than tagged by an older
    /// version.
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        d.existing_tenant(&self.tenant_id)?;
        let live = d.live_rule_set_version(&self.tenant_id);
        if self.version != live + 1 {
            return Err(ConfigError::RuleSetVersion {
                tenant: self.tenant_id.clone(),
                version: self.version,
                live,
            });
        }
        Ok(())
    }

    fn apply(&self, d: &mut Directory) {
        let tenant = checked(TenantId::parse(&self.tenant_id));
        let versions = d.rule_sets.entry(tenant).or_default();
        // Only the live version is ever applied: drop what older ones
        // compiled (copies of the directory that still use them keep theirs).
        for old in versions.iter_mut() {
            old.compiled = Default::default();
        }
        versions.push(PublishedRuleSet {
            version: self.version,
            document: self.document.as_str().into(),
            published_at: self.published_at,
            published_by: self.published_by.clone(),
            compiled: Default::default(),
        });
    }
}
