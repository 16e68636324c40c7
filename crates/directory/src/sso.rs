//! Single sign-on (SAML 2.0) in the fold: each tenant's identity provider
//! and choices ([`SsoConfigured`]), users created by their first login
//! ([`UserProvisioned`]) and the group memberships single sign-on manages
//! ([`SsoGroupsSet`]). The SAML itself (metadata, signatures) is the `saml`
//! crate's: the CLI and the people API read the metadata before they make
//! the event.

use std::collections::{BTreeMap, BTreeSet};

use schemas::{GroupId, SsoConfigured, SsoGroupsSet, TenantId, UserId, UserProvisioned};

use crate::people::{email_key, invalid, role_of, valid_email, Role, User, UserStatus, MAX_EMAIL_BYTES};
use crate::steps::Step;
use crate::{ConfigError, Directory};

/// The most signing certificates one identity provider may name, and the
/// largest one (DER).
pub const MAX_CERTIFICATES: usize = 8;
pub const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;
/// The most values of the groups attribute a tenant may map.
pub const MAX_GROUP_MAPPINGS: usize = 1_000;
/// The longest entity id, URL, attribute name or group value.
const MAX_TEXT: usize = 1_024;

/// A tenant's single sign-on as the fold keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoConfig {
    pub enabled: bool,
    pub idp_entity_id: String,
    pub sso_url: String,
    /// DER.
    pub certificates: Vec<Vec<u8>>,
    pub required: bool,
    pub idp_initiated: bool,
    pub email_attribute: Option<String>,
    pub provision_role: Option<Role>,
    pub groups_attribute: Option<String>,
    /// Value of the groups attribute → group.
    pub group_map: BTreeMap<String, GroupId>,
    pub changed_at: i64,
}

impl Directory {
    /// The tenant's single sign-on, when it is on.
    pub fn sso(&self, tenant: &str) -> Option<&SsoConfig> {
        self.people.sso.get(tenant).filter(|c| c.enabled)
    }

    /// The tenant's single sign-on as last configured, on or off.
    pub fn sso_configured(&self, tenant: &str) -> Option<&SsoConfig> {
        self.people.sso.get(tenant)
    }

    /// Whether the tenant's users must log in by single sign-on.
    pub fn sso_required(&self, tenant: &str) -> bool {
        self.sso(tenant).is_some_and(|c| c.required)
    }
}

fn text_ok(text: &str, what: &str) -> Result<(), ConfigError> {
    if text.is_empty() || text.len() > MAX_TEXT || text.chars().any(char::is_control) {
        return Err(invalid(&format!(
            "{what} must be 1 to {MAX_TEXT} bytes without control characters"
        )));
    }
    Ok(())
}

impl Step for SsoConfigured {
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        d.existing_tenant(&self.tenant_id)?;
        if !self.enabled {
            if self.required {
                return Err(invalid("single sign-on cannot be required while it is off"));
            }
            return Ok(());
        }
        text_ok(&self.idp_entity_id, "the identity provider's entity id")?;
        text_ok(&self.sso_url, "the single sign-on URL")?;
        if !self.sso_url.starts_with("https://") && !self.sso_url.starts_with("http://") {
            return Err(invalid("the single sign-on URL must be http(s)"));
        }
        if self.certificates.is_empty() || self.certificates.len() > MAX_CERTIFICATES {
            return Err(invalid(&format!(
                "the identity provider needs 1 to {MAX_CERTIFICATES} signing certificates"
            )));
        }
        if self
            .certificates
            .iter()
            .any(|c| c.0.is_empty() || c.0.len() > MAX_CERTIFICATE_BYTES)
        {
            return Err(invalid(&format!(
                "a signing certificate must be 1 to {MAX_CERTIFICATE_BYTES} bytes of DER"
            )));
        }
        for (attribute, what) in [
            (&self.email_attribute, "the e-mail attribute"),
            (&self.groups_attribute, "the groups attribute"),
        ] {
            if let Some(a) = attribute {
                text_ok(a, what)?;
            }
        }
        if let Some(role) = &self.provision_role {
            if role_of(&self.tenant_id, role)? == Role::Owner {
                return Err(invalid(
                    "single sign-on never creates owners: provision with admin, analyst, viewer or compliance",
                ));
            }
        }
        if self.group_map.len() > MAX_GROUP_MAPPINGS {
            return Err(invalid(&format!("at most {MAX_GROUP_MAPPINGS} group mappings")));
        }
        if !self.group_map.is_empty() && self.groups_attribute.is_none() {
            return Err(invalid("group mappings need the groups attribute they map"));
        }
        let mut seen = BTreeSet::new();
        for m in &self.group_map {
            text_ok(&m.idp_group, "a group of the identity provider")?;
            GroupId::parse(&m.group_id)?;
            if d.group(&self.tenant_id, &m.group_id).is_none() {
                return Err(ConfigError::UnknownGroup {
                    tenant: self.tenant_id.clone(),
                    group: m.group_id.clone(),
                });
            }
            if !seen.insert(m.idp_group.as_str()) {
                return Err(invalid(&format!("the group '{}' is mapped twice", m.idp_group)));
            }
        }
        Ok(())
    }

    fn apply(&self, d: &mut Directory) {
        let tenant = TenantId::parse(&self.tenant_id).expect("check found the tenant");
        let config = SsoConfig {
            enabled: self.enabled,
            idp_entity_id: self.idp_entity_id.clone(),
            sso_url: self.sso_url.clone(),
            certificates: self.certificates.iter().map(|c| c.0.clone()).collect(),
            required: self.required,
            idp_initiated: self.idp_initiated,
            email_attribute: self.email_attribute.clone(),
            provision_role: self.provision_role.as_deref().and_then(Role::parse),
            groups_attribute: self.groups_attribute.clone(),
            group_map: self
                .group_map
                .iter()
                .filter_map(|m| Some((m.idp_group.clone(), GroupId::parse(&m.group_id).ok()?)))
                .collect(),
            changed_at: self.changed_at,
        };
        d.people.sso.insert(tenant, config);
    }
}

impl Step for UserProvisioned {
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        d.existing_tenant(&self.tenant_id)?;
        let id = UserId::parse(&self.user_id)?;
        let role = role_of(&self.tenant_id, &self.role)?;
        let Some(config) = d.sso(&self.tenant_id) else {
            return Err(invalid("single sign-on is off for this tenant: nobody is provisioned"));
        };
        if config.provision_role != Some(role) {
            return Err(invalid(
                "users are provisioned with the tenant's provisioning role only",
            ));
        }
        if !valid_email(&self.email) {
            return Err(invalid(&format!(
                "'{}' is not an e-mail address (name@example.com, at most {MAX_EMAIL_BYTES} bytes)",
                self.email.chars().take(80).collect::<String>()
            )));
        }
        if d.user(&self.tenant_id, id.as_str()).is_some() {
            return Err(invalid("the user id belongs to another user"));
        }
        if let Some(other) = d.user_by_email(&self.tenant_id, &self.email) {
            return Err(ConfigError::EmailTaken {
                scope: self.tenant_id.clone(),
                email: other.email.clone(),
            });
        }
        Ok(())
    }

    fn apply(&self, d: &mut Directory) {
        let id = UserId::parse(&self.user_id).expect("check parsed it");
        let role = role_of(&self.tenant_id, &self.role).expect("check parsed it");
        let users = d.people.users.entry(self.tenant_id.clone()).or_default();
        users.by_email.insert(email_key(&self.email), id.clone());
        users.by_id.insert(
            id.clone(),
            User {
                scope: self.tenant_id.clone(),
                id,
                email: self.email.trim().to_owned(),
                role,
                status: UserStatus::Active,
                invitation: None,
                password: None,
                totp: None,
                sessions_not_before: self.provisioned_at,
                created_at: self.provisioned_at,
                sso: true,
            },
        );
    }
}

impl Step for SsoGroupsSet {
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        d.existing_tenant(&self.tenant_id)?;
        d.existing_user(&self.tenant_id, &self.user_id)?;
        if self.group_ids.len() > MAX_GROUP_MAPPINGS {
            return Err(invalid(&format!("at most {MAX_GROUP_MAPPINGS} groups")));
        }
        for g in &self.group_ids {
            GroupId::parse(g)?;
            if d.group(&self.tenant_id, g).is_none() {
                return Err(ConfigError::UnknownGroup {
                    tenant: self.tenant_id.clone(),
                    group: g.clone(),
                });
            }
        }
        Ok(())
    }

    fn apply(&self, d: &mut Directory) {
        let Ok(user) = UserId::parse(&self.user_id) else { return };
        let wanted: BTreeSet<&str> = self.group_ids.iter().map(String::as_str).collect();
        let Some(groups) = d.people.groups.get_mut(self.tenant_id.as_str()) else {
            return;
        };
        for group in groups.values_mut() {
            if wanted.contains(group.id.as_str()) {
                group.sso_members.insert(user.clone());
            } else {
                group.sso_members.remove(&user);
            }
        }
    }
}

impl SsoConfig {
    /// The groups a login's groups attribute values map to, in order, each
    /// once; values the tenant does not map are left out.
    pub fn groups_for(&self, values: &[String]) -> Vec<&GroupId> {
        let mut out: Vec<&GroupId> = Vec::new();
        for v in values {
            if let Some(g) = self.group_map.get(v) {
                if !out.contains(&g) {
                    out.push(g);
                }
            }
        }
        out
    }
}
