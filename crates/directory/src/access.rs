//! Who may read which feedback: a tenant's access grants (a user or group,
//! one collection or all, read or export, an optional tag filter) and its
//! restricted tag names, folded from `AccessGrantChanged` and
//! `RestrictedTagsSet` (each with its `check` and `apply`, pure like the
//! rest of the fold), and [`Directory::access`], which turns them and the
//! caller's role into the [`::access::Access`] the analyst API filters by.
//!
//! Revoked grants are kept (with their revocation) so they can be listed.
//! A grant also ends when its principal goes: deleting a group ends the
//! group's grants, deleting a user ends the user's own grants (see
//! [`follow_people`]), so a group or user made again later under the same
//! id does not inherit them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ::access::{Access, Grant, TagRef, MAX_TAG_NAME_CHARS};
use schemas::{
    AccessGrantChanged, CollectionId, ConfigEvent, GrantId, GroupId, RestrictedTagsSet, TenantId, UserId, INSTALLATION,
};

use crate::people::{Permission, Role, UserStatus};
use crate::steps::Step;
use crate::{ConfigError, Directory};

/// The most tags one grant's filter may name.
pub const MAX_TAG_FILTER: usize = 50;
/// The most grants a tenant may have that are not revoked.
pub const MAX_ACTIVE_GRANTS: usize = 1000;
/// The most restricted tag names a tenant may have.
pub const MAX_RESTRICTED_TAGS: usize = 100;

/// Who a grant is for: a user or a group of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Principal {
    User(UserId),
    Group(GroupId),
}

impl Principal {
    /// `user` or `group`, as the event names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Principal::User(_) => "user",
            Principal::Group(_) => "group",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Principal::User(id) => id.as_str(),
            Principal::Group(id) => id.as_str(),
        }
    }

    /// The principal an event names, checked for form only.
    pub fn parse(kind: Option<&str>, id: Option<&str>) -> Result<Principal, ConfigError> {
        let id = id.unwrap_or("");
        match kind {
            Some("user") => Ok(Principal::User(UserId::parse(id)?)),
            Some("group") => Ok(Principal::Group(GroupId::parse(id)?)),
            other => Err(invalid(format!(
                "the principal kind '{}' is not user or group",
                other.unwrap_or("").chars().take(40).collect::<String>()
            ))),
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.id())
    }
}

/// What a grant allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessLevel {
    /// List, read and aggregate.
    Read,
    /// Read, and export.
    Export,
}

impl AccessLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::Read => "read",
            AccessLevel::Export => "export",
        }
    }

    pub fn parse(text: &str) -> Option<AccessLevel> {
        [AccessLevel::Read, AccessLevel::Export]
            .into_iter()
            .find(|l| l.as_str() == text)
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a grant ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedBecause {
    /// Revoked by an `AccessGrantChanged` `revoked`.
    Revoked,
    /// Its group was deleted.
    GroupDeleted,
    /// Its user was deleted.
    UserDeleted,
}

impl RevokedBecause {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokedBecause::Revoked => "revoked",
            RevokedBecause::GroupDeleted => "group_deleted",
            RevokedBecause::UserDeleted => "user_deleted",
        }
    }
}

/// When, by whom and why a grant ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub at: i64,
    /// The `changed_by` of the event that ended it.
    pub by: String,
    pub because: RevokedBecause,
}

/// One access grant of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    pub id: GrantId,
    pub tenant: TenantId,
    pub principal: Principal,
    /// None: every collection of the tenant.
    pub collection: Option<CollectionId>,
    pub level: AccessLevel,
    /// Empty: no filter.
    pub tag_filter: Vec<TagRef>,
    pub granted_at: i64,
    pub granted_by: String,
    /// None while the grant is in force.
    pub revoked: Option<Revocation>,
}

impl AccessGrant {
    /// Whether the grant is in force (not revoked, its principal not deleted).
    pub fn is_active(&self) -> bool {
        self.revoked.is_none()
    }

    pub fn revoked_at(&self) -> Option<i64> {
        self.revoked.as_ref().map(|r| r.at)
    }

    /// The tag filter as the events write it (`name:value` or `name`).
    pub fn tag_filter_strings(&self) -> Vec<String> {
        self.tag_filter.iter().map(ToString::to_string).collect()
    }
}

/// One tenant's grants and restricted tag names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TenantAccess {
    pub(crate) grants: BTreeMap<GrantId, AccessGrant>,
    /// Sorted, without duplicates.
    pub(crate) restricted: Vec<String>,
}

/// Everything about access the fold keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AccessState {
    pub(crate) tenants: BTreeMap<TenantId, TenantAccess>,
}

fn invalid(what: String) -> ConfigError {
    ConfigError::InvalidAccess(what)
}

/// The tag filter of an event, parsed and checked: at most
/// [`MAX_TAG_FILTER`] entries, each `name:value` or `name`, no duplicates.
pub fn parse_tag_filter(entries: &[String]) -> Result<Vec<TagRef>, ConfigError> {
    if entries.len() > MAX_TAG_FILTER {
        return Err(invalid(format!(
            "a tag filter names at most {MAX_TAG_FILTER} tags, not {}",
            entries.len()
        )));
    }
    let mut seen = BTreeSet::new();
    let mut tags = Vec::with_capacity(entries.len());
    for entry in entries {
        let tag = TagRef::parse(entry).map_err(|e| invalid(format!("tag filter: {e}")))?;
        if !seen.insert(tag.clone()) {
            return Err(invalid(format!(
                "tag filter: '{tag}' appears twice; name each tag once"
            )));
        }
        tags.push(tag);
    }
    Ok(tags)
}

/// Checks a restricted tag name: 1 to 128 characters, no ':' and no
/// control characters (names compare exactly, as items carry them).
pub fn check_restricted_name(name: &str) -> Result<(), ConfigError> {
    let length = name.chars().count();
    if length == 0 || length > MAX_TAG_NAME_CHARS || name.contains(':') || name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "'{}' is not a restricted tag name: use a tag name of 1 to {MAX_TAG_NAME_CHARS} characters without ':' or control characters (a name restricts every value)",
            name.chars().take(60).collect::<String>()
        )));
    }
    Ok(())
}

impl Step for AccessGrantChanged {
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        let tenant = d.existing_tenant(&self.tenant_id)?;
        GrantId::parse(&self.grant_id)?;
        let existing = d.access_grant(&self.tenant_id, &self.grant_id);
        match (self.change.as_str(), existing) {
            ("granted", None) => {
                let active = d.access_grants(&self.tenant_id).filter(|g| g.is_active()).count();
                if active >= MAX_ACTIVE_GRANTS {
                    return Err(ConfigError::TooManyAccessGrants {
                        tenant: self.tenant_id.clone(),
                        limit: MAX_ACTIVE_GRANTS,
                    });
                }
                // Users and groups of a tenant are keyed by the tenant, as
                // this event is: they are in the same partition, in order.
                match Principal::parse(self.principal_kind.as_deref(), self.principal_id.as_deref())? {
                    Principal::User(user) => {
                        d.existing_user(&self.tenant_id, user.as_str())?;
                    }
                    Principal::Group(group) => {
                        if d.group(&self.tenant_id, group.as_str()).is_none() {
                            return Err(ConfigError::UnknownGroup {
                                tenant: self.tenant_id.clone(),
                                group: group.to_string(),
                            });
                        }
                    }
                }
                if let Some(collection) = &self.collection {
                    CollectionId::parse(collection)?;
                    if !tenant.collections.contains_key(collection.as_str()) {
                        return Err(ConfigError::UnknownCollection {
                            tenant: self.tenant_id.clone(),
                            collection: collection.clone(),
                        });
                    }
                }
                let level = self.level.as_deref().unwrap_or("");
                if AccessLevel::parse(level).is_none() {
                    return Err(invalid(format!(
                        "the level '{}' is not read or export",
                        level.chars().take(40).collect::<String>()
                    )));
                }
                parse_tag_filter(&self.tag_filter).map(|_| ())
            }
            ("granted", Some(_)) => Err(invalid(format!("access grant {} exists already", self.grant_id))),
            ("revoked", Some(g)) => match &g.revoked {
                None => Ok(()),
                Some(r) => Err(ConfigError::AccessGrantEnded {
                    grant: self.grant_id.clone(),
                    because: r.because.as_str(),
                }),
            },
            ("revoked", None) => Err(ConfigError::UnknownAccessGrant {
                tenant: self.tenant_id.clone(),
                grant: self.grant_id.clone(),
            }),
            (other, _) => Err(invalid(format!(
                "access grant change '{}' is not granted or revoked",
                other.chars().take(40).collect::<String>()
            ))),
        }
    }

    fn apply(&self, d: &mut Directory) {
        let tenant = TenantId::parse(&self.tenant_id).expect("check found the tenant");
        let id = GrantId::parse(&self.grant_id).expect("check parsed it");
        let grants = &mut d.access.tenants.entry(tenant.clone()).or_default().grants;
        if self.change == "revoked" {
            if let Some(g) = grants.get_mut(&id) {
                g.revoked = Some(Revocation {
                    at: self.changed_at,
                    by: self.changed_by.clone(),
                    because: RevokedBecause::Revoked,
                });
            }
            return;
        }
        let principal = Principal::parse(self.principal_kind.as_deref(), self.principal_id.as_deref())
            .expect("check parsed the principal");
        let level = AccessLevel::parse(self.level.as_deref().unwrap_or("")).expect("check parsed the level");
        grants.insert(
            id.clone(),
            AccessGrant {
                id,
                tenant,
                principal,
                collection: self
                    .collection
                    .as_deref()
                    .map(|c| CollectionId::parse(c).expect("check parsed it")),
                level,
                tag_filter: parse_tag_filter(&self.tag_filter).expect("check parsed the filter"),
                granted_at: self.changed_at,
                granted_by: self.changed_by.clone(),
                revoked: None,
            },
        );
    }
}

impl Step for RestrictedTagsSet {
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        d.existing_tenant(&self.tenant_id)?;
        if self.tag_names.len() > MAX_RESTRICTED_TAGS {
            return Err(invalid(format!(
                "a tenant restricts at most {MAX_RESTRICTED_TAGS} tag names, not {}",
                self.tag_names.len()
            )));
        }
        self.tag_names.iter().try_for_each(|n| check_restricted_name(n))
    }

    fn apply(&self, d: &mut Directory) {
        let tenant = TenantId::parse(&self.tenant_id).expect("check found the tenant");
        let names: BTreeSet<&String> = self.tag_names.iter().collect();
        d.access.tenants.entry(tenant).or_default().restricted = names.into_iter().cloned().collect();
    }
}

/// What the people events do to grants, after they are applied: deleting
/// a group ends the group's grants, deleting a user ends the user's own
/// (their memberships end with them), each recorded with the deletion's
/// time and author. A group or user made again under the same id starts
/// without grants.
pub(crate) fn follow_people(d: &mut Directory, event: &ConfigEvent) {
    let (tenant, principal, at, by, because) = match event {
        ConfigEvent::GroupChanged(e) if e.change == "deleted" => match GroupId::parse(&e.group_id) {
            Ok(id) => (
                &e.tenant_id,
                Principal::Group(id),
                e.changed_at,
                &e.changed_by,
                RevokedBecause::GroupDeleted,
            ),
            Err(_) => return,
        },
        ConfigEvent::UserChanged(e) if e.change == "deleted" => match UserId::parse(&e.user_id) {
            Ok(id) => (
                &e.tenant_id,
                Principal::User(id),
                e.changed_at,
                &e.changed_by,
                RevokedBecause::UserDeleted,
            ),
            Err(_) => return,
        },
        _ => return,
    };
    let Some(state) = d.access.tenants.get_mut(tenant.as_str()) else {
        return;
    };
    for grant in state.grants.values_mut() {
        if grant.principal == principal && grant.revoked.is_none() {
            grant.revoked = Some(Revocation {
                at,
                by: by.clone(),
                because,
            });
        }
    }
}

impl Directory {
    /// Every access grant of a tenant, by id (revoked ones included).
    pub fn access_grants(&self, tenant: &str) -> impl Iterator<Item = &AccessGrant> {
        self.access
            .tenants
            .get(tenant)
            .into_iter()
            .flat_map(|t| t.grants.values())
    }

    pub fn access_grant(&self, tenant: &str, id: &str) -> Option<&AccessGrant> {
        self.access.tenants.get(tenant)?.grants.get(id)
    }

    /// The tenant's restricted tag names, sorted.
    pub fn restricted_tags(&self, tenant: &str) -> &[String] {
        self.access.tenants.get(tenant).map_or(&[], |t| t.restricted.as_slice())
    }

    /// What `user_id` may see of `tenant`'s feedback at `now`: the caller's
    /// effective grants and the tenant's restricted tag names.
    ///
    /// The rule (README, "Who sees what"):
    /// - Only an active user counts: an invited (not yet accepted),
    ///   disabled or deleted user, or one of another tenant, gets no grants.
    /// - A role without [`Permission::ReadFeedback`] (compliance) gets no
    ///   grants at all, whatever was granted to it or its groups.
    /// - Every grant in force whose principal is the user, or a group the
    ///   user is a member of now, counts (a removed member loses the
    ///   group's grants at once; a deleted group's grants have ended).
    /// - Owners and admins also have an implicit grant of every collection
    ///   with export and no tag filter: they see everything except items
    ///   with restricted tags, unless a grant names those tags.
    /// - A role without [`Permission::Export`] (viewer) gets every grant
    ///   with `export: false`.
    /// - A support user (the installation's, role support) gets the
    ///   implicit grant of every collection, read only, while the tenant's
    ///   support grant to them is active ([`Directory::active_support_grant`]),
    ///   and nothing otherwise.
    ///
    /// An item is then visible by [`::access::visible`].
    pub fn access(&self, tenant: &str, user_id: &str, now: i64) -> Access {
        Access {
            tenant: tenant.to_owned(),
            grants: self.effective_grants(tenant, user_id, now),
            restricted: self.restricted_tags(tenant).to_vec(),
        }
    }

    fn effective_grants(&self, tenant: &str, user_id: &str, now: i64) -> Vec<Grant> {
        if tenant == INSTALLATION || self.tenant(tenant).is_none() {
            return Vec::new();
        }
        let everything = |export: bool| Grant {
            collection: None,
            export,
            tags: Vec::new(),
        };
        let Some(user) = self.user(tenant, user_id) else {
            let support = self
                .user(INSTALLATION, user_id)
                .filter(|u| u.role == Role::Support && u.status == UserStatus::Active);
            return match support {
                Some(_) if self.active_support_grant(tenant, user_id, now).is_some() => vec![everything(false)],
                _ => Vec::new(),
            };
        };
        if user.status != UserStatus::Active || !user.role.may(Permission::ReadFeedback) {
            return Vec::new();
        }
        let may_export = user.role.may(Permission::Export);
        let mut grants = Vec::new();
        if matches!(user.role, Role::Owner | Role::Admin) {
            grants.push(everything(may_export));
        }
        let groups: BTreeSet<&GroupId> = self.groups_of(tenant, &user.id).map(|g| &g.id).collect();
        for g in self.access_grants(tenant).filter(|g| g.is_active()) {
            let mine = match &g.principal {
                Principal::User(id) => *id == user.id,
                Principal::Group(id) => groups.contains(id),
            };
            if mine {
                grants.push(Grant {
                    collection: g.collection.as_ref().map(String::from),
                    export: may_export && g.level == AccessLevel::Export,
                    tags: g.tag_filter.clone(),
                });
            }
        }
        grants
    }
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
