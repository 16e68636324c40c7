//! People in the directory: users (per tenant, and the installation's
//! support staff under the scope [`INSTALLATION`]), their roles and the
//! fixed permission matrix, groups, tenant login policies and support
//! access grants — folded from the people events of `vox.config`, each
//! with its `check` and `apply` (pure, like the rest of the fold).
//!
//! Credentials (password hashes, TOTP seeds) are in the log only sealed
//! under the key-encryption key; here they stay sealed ([`Sealed`], which
//! never prints), and only the people API opens them, per login.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use schemas::{
    GrantId, GroupChanged, GroupId, SupportGrantChanged, TenantId, TenantPolicySet, UserChanged, UserId, UserInvited,
    UserPasswordSet, UserTotpSet, INSTALLATION,
};

use crate::steps::Step;
use crate::{ConfigError, Directory};

/// The longest invitation (72 h), in microseconds.
pub const INVITATION_MICROS: i64 = 72 * 3_600_000_000;
/// The longest support grant (72 h), in microseconds.
pub const MAX_SUPPORT_GRANT_MICROS: i64 = 72 * 3_600_000_000;
/// The longest e-mail address (RFC 5321's path limit).
pub const MAX_EMAIL_BYTES: usize = 254;
/// The longest group name or support reason, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// A role: what a user may do (grants, in the analyst API, decide which rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Owner,
    Admin,
    Analyst,
    Viewer,
    Compliance,
    /// Installation-level support staff: nothing in any tenant without the
    /// tenant's grant, and then read-only.
    Support,
}

/// An action a role may or may not take: the permission matrix's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Invite, disable, enable, delete users, change roles, revoke sessions.
    ManageUsers,
    /// See the tenant's user list.
    ListUsers,
    /// Create, rename, delete groups and change members (and, in the
    /// analyst API, collection grants).
    ManageGroups,
    /// Publish tagging and redaction rules.
    ManageRules,
    /// Issue, rotate and revoke client credentials.
    ManageClients,
    /// Read feedback (within the caller's grants).
    ReadFeedback,
    /// Export feedback.
    Export,
    /// Read the tenant's audit records.
    ReadAudit,
    /// Grant and revoke support access, list grants and their uses.
    ManageSupport,
    /// Set the tenant's login policy (two-factor required).
    ManagePolicy,
}

impl Permission {
    pub const ALL: [Permission; 10] = [
        Permission::ManageUsers,
        Permission::ListUsers,
        Permission::ManageGroups,
        Permission::ManageRules,
        Permission::ManageClients,
        Permission::ReadFeedback,
        Permission::Export,
        Permission::ReadAudit,
        Permission::ManageSupport,
        Permission::ManagePolicy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ManageUsers => "manage_users",
            Permission::ListUsers => "list_users",
            Permission::ManageGroups => "manage_groups",
            Permission::ManageRules => "manage_rules",
            Permission::ManageClients => "manage_clients",
            Permission::ReadFeedback => "read_feedback",
            Permission::Export => "export",
            Permission::ReadAudit => "read_audit",
            Permission::ManageSupport => "manage_support",
            Permission::ManagePolicy => "manage_policy",
        }
    }
}

impl Role {
    /// The roles of a tenant's users.
    pub const TENANT: [Role; 5] = [Role::Owner, Role::Admin, Role::Analyst, Role::Viewer, Role::Compliance];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
            Role::Compliance => "compliance",
            Role::Support => "support",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        [
            Role::Owner,
            Role::Admin,
            Role::Analyst,
            Role::Viewer,
            Role::Compliance,
            Role::Support,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }

    /// The permission matrix (README shows it; a test checks the two agree).
    /// Support users get theirs only under a tenant's grant, read-only.
    pub fn may(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Owner => true,
            Role::Admin => !matches!(permission, ReadAudit | ManagePolicy),
            Role::Analyst => matches!(permission, ReadFeedback | Export),
            Role::Viewer => matches!(permission, ReadFeedback),
            Role::Compliance => matches!(permission, ListUsers | ReadAudit),
            Role::Support => matches!(permission, ListUsers | ReadFeedback),
        }
    }

    /// Whether the role belongs to `scope` (a tenant, or the installation).
    fn fits(self, scope: &str) -> bool {
        (scope == INSTALLATION) == (self == Role::Support)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bytes sealed under the key-encryption key; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// Invited, has not accepted yet (cannot log in).
    Invited,
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Invited => "invited",
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Invitation {
    pub sha256: Vec<u8>,
    pub expires_at: i64,
}

/// Prints the expiry, not the token's hash.
impl fmt::Debug for Invitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invitation")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Totp {
    pub seed: Sealed,
    /// SHA-256 of each recovery code (see `login::totp::recovery_code_hash`).
    pub recovery: Vec<Vec<u8>>,
    pub enrolled_at: i64,
}

/// Prints neither the seed nor the recovery code hashes.
impl fmt::Debug for Totp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Totp")
            .field("seed", &self.seed)
            .field("recovery", &format_args!("<{} codes>", self.recovery.len()))
            .field("enrolled_at", &self.enrolled_at)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The tenant, or [`INSTALLATION`].
    pub scope: String,
    pub id: UserId,
    pub email: String,
    pub role: Role,
    pub status: UserStatus,
    pub invitation: Option<Invitation>,
    /// The bcrypt hash, sealed.
    pub password: Option<Sealed>,
    pub totp: Option<Totp>,
    /// Sessions created before this time (microseconds) are no longer valid:
    /// set by a password change, disabling and "revoke sessions".
    pub sessions_not_before: i64,
    pub created_at: i64,
    /// Created by single sign-on (just-in-time): active without a password.
    pub sso: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    /// Members added by hand (the people API, the CLI).
    pub members: BTreeSet<UserId>,
    /// Members single sign-on manages: the user's groups attribute at
    /// their last login ([`schemas::SsoGroupsSet`]).
    pub sso_members: BTreeSet<UserId>,
}

impl Group {
    /// Whether `user` is a member, by hand or by single sign-on.
    pub fn has(&self, user: &str) -> bool {
        self.members.contains(user) || self.sso_members.contains(user)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportGrant {
    pub id: GrantId,
    pub tenant: TenantId,
    pub support_user: UserId,
    pub reason: String,
    pub granted_at: i64,
    pub granted_by: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl SupportGrant {
    pub fn active_at(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// The users of one scope, with the e-mail index (lower case).
#[derive(Debug, Clone, Default)]
pub(crate) struct Users {
    pub(crate) by_id: BTreeMap<UserId, User>,
    pub(crate) by_email: HashMap<String, UserId>,
}

/// Everything about people the fold keeps.
#[derive(Clone, Default)]
pub(crate) struct People {
    pub(crate) users: HashMap<String, Users>,
    /// Pending invitations by token hash: (scope, user).
    pub(crate) invitations: HashMap<Vec<u8>, (String, UserId)>,
    pub(crate) groups: HashMap<TenantId, BTreeMap<GroupId, Group>>,
    pub(crate) two_factor_required: HashMap<TenantId, bool>,
    pub(crate) support_grants: HashMap<TenantId, BTreeMap<GrantId, SupportGrant>>,
    pub(crate) sso: HashMap<TenantId, crate::sso::SsoConfig>,
}

/// The users, groups and grants; the pending invitations only counted
/// (they are keyed by their tokens' hashes).
impl fmt::Debug for People {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("People")
            .field("users", &self.users)
            .field("pending_invitations", &self.invitations.len())
            .field("groups", &self.groups)
            .field("two_factor_required", &self.two_factor_required)
            .field("support_grants", &self.support_grants)
            .field("sso", &self.sso)
            .finish()
    }
}

/// E-mail addresses compare case-insensitively (the key of the index).
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A plausible e-mail address: one `@` with something on both sides, no
/// spaces or control characters, at most 254 bytes. (Vox sends no mail:
/// it is an account name that people recognise.)
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= MAX_EMAIL_BYTES
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// What a password hash is sealed for (with the scope and user id).
pub const PASSWORD_PURPOSE: &str = "password-hash";
/// What a TOTP seed is sealed for (with the scope and user id).
pub const TOTP_PURPOSE: &str = "totp-seed";

pub(crate) fn invalid(what: &str) -> ConfigError {
    ConfigError::InvalidPeople(what.to_owned())
}

impl Directory {
    /// A user of a scope (a tenant id, or [`INSTALLATION`]).
    pub fn user(&self, scope: &str, id: &str) -> Option<&User> {
        self.people.users.get(scope)?.by_id.get(id)
    }

    /// A user of a scope by e-mail, compared case-insensitively.
    pub fn user_by_email(&self, scope: &str, email: &str) -> Option<&User> {
        let users = self.people.users.get(scope)?;
        users.by_id.get(users.by_email.get(&email_key(email))?)
    }

    /// Every user of a scope, by id.
    pub fn users(&self, scope: &str) -> impl Iterator<Item = &User> {
        self.people.users.get(scope).into_iter().flat_map(|u| u.by_id.values())
    }

    /// The user a pending invitation (by its token's SHA-256) is for.
    pub fn invitation(&self, sha256: &[u8]) -> Option<&User> {
        let (scope, id) = self.people.invitations.get(sha256)?;
        self.user(scope, id.as_str())
    }

    pub fn groups(&self, tenant: &str) -> impl Iterator<Item = &Group> {
        self.people.groups.get(tenant).into_iter().flat_map(|g| g.values())
    }

    pub fn group(&self, tenant: &str, id: &str) -> Option<&Group> {
        self.people.groups.get(tenant)?.get(id)
    }

    /// The groups a user belongs to.
    pub fn groups_of<'a>(&'a self, tenant: &str, user: &'a UserId) -> impl Iterator<Item = &'a Group> + 'a {
        self.people
            .groups
            .get(tenant)
            .into_iter()
            .flat_map(|g| g.values())
            .filter(move |g| g.has(user.as_str()))
    }

    /// Whether the tenant requires two-factor authentication for password logins.
    pub fn two_factor_required(&self, tenant: &str) -> bool {
        self.people.two_factor_required.get(tenant).copied().unwrap_or(false)
    }

    /// Every support grant of a tenant (active, expired and revoked).
    pub fn support_grants(&self, tenant: &str) -> impl Iterator<Item = &SupportGrant> {
        self.people
            .support_grants
            .get(tenant)
            .into_iter()
            .flat_map(|g| g.values())
    }

    pub fn support_grant(&self, tenant: &str, id: &str) -> Option<&SupportGrant> {
        self.people.support_grants.get(tenant)?.get(id)
    }

    /// The grant under which `support_user` may read `tenant` now, if any.
    pub fn active_support_grant(&self, tenant: &str, support_user: &str, now: i64) -> Option<&SupportGrant> {
        self.support_grants(tenant)
            .filter(|g| g.support_user == support_user && g.active_at(now))
            .max_by_key(|g| g.expires_at)
    }

    /// Whether `id` is an active support user (checked before a grant is
    /// written).
    pub fn check_support_user(&self, id: &str) -> Result<(), ConfigError> {
        let user = self.existing_user(INSTALLATION, id)?;
        if user.status != UserStatus::Active {
            return Err(ConfigError::UserNotActive(id.to_owned()));
        }
        Ok(())
    }

    fn scope_exists(&self, scope: &str) -> Result<(), ConfigError> {
        if scope == INSTALLATION {
            return Ok(());
        }
        self.existing_tenant(scope).map(|_| ())
    }

    pub(crate) fn existing_user(&self, scope: &str, id: &str) -> Result<&User, ConfigError> {
        self.scope_exists(scope)?;
        self.user(scope, id).ok_or_else(|| ConfigError::UnknownUser {
            scope: scope.to_owned(),
            user: id.to_owned(),
        })
    }

    /// Active owners of a tenant other than `except`.
    fn other_owners(&self, scope: &str, except: &str) -> usize {
        self.users(scope)
            .filter(|u| u.role == Role::Owner && u.status == UserStatus::Active && u.id != except)
            .count()
    }

    fn user_mut(&mut self, scope: &str, id: &str) -> Option<&mut User> {
        self.people.users.get_mut(scope)?.by_id.get_mut(id)
    }
}

pub(crate) fn role_of(scope: &str, role: &str) -> Result<Role, ConfigError> {
    match Role::parse(role) {
        Some(r) if r.fits(scope) => Ok(r),
        _ if scope == INSTALLATION => Err(invalid(&format!(
            "role '{role}' is not an installation role; support users have the role 'support'"
        ))),
        _ => Err(invalid(&format!(
            "role '{role}' is not a tenant role; use owner, admin, analyst, viewer or compliance"
        ))),
    }
}

impl Step for UserInvited {
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        d.scope_exists(&self.tenant_id)?;
        let id = UserId::parse(&self.user_id)?;
        role_of(&self.tenant_id, &self.role)?;
        if !valid_email(&self.email) {
            return Err(invalid(&format!(
                "'{}' is not an e-mail address (name@example.com, at most {MAX_EMAIL_BYTES} bytes)",
                self.email.chars().take(80).collect::<String>()
            )));
        }
        let length = self.expires_at - self.invited_at;
        if self.invitation_sha256.len() != 32 || length <= 0 || length > INVITATION_MICROS {
            return Err(invalid(
                "the invitation needs a 32-byte token hash and an expiry after its time, at most 72 hours later",
            ));
        }
        if d.people.invitations.contains_key(&self.invitation_sha256) {
            return Err(invalid("this invitation token is pending already"));
        }
        let taken = d.user_by_email(&self.tenant_id, &self.email);
        match (d.user(&self.tenant_id, id.as_str()), taken) {
            // A fresh invitation for someone who has not accepted yet.
            (Some(existing), Some(same)) if existing.id == same.id && existing.status == UserStatus::Invited => Ok(()),
            (None, None) => Ok(()),
            (_, Some(other)) => Err(ConfigError::EmailTaken {
                scope: self.tenant_id.clone(),
                email: other.email.clone(),
            }),
            (Some(_), None) => Err(invalid("the user id belongs to another user")),
        }
    }

    fn apply(&self, d: &mut Directory) {
        let id = UserId::parse(&self.user_id).expect("check parsed it");
        let role = role_of(&self.tenant_id, &self.role).expect("check parsed it");
        let invitation = Invitation {
            sha256: self.invitation_sha256.clone(),
            expires_at: self.expires_at,
        };
        let users = d.people.users.entry(self.tenant_id.clone()).or_default();
        if let Some(old) = users.by_id.get(&id).and_then(|u| u.invitation.clone()) {
            d.people.invitations.remove(&old.sha256);
        }
        users.by_email.insert(email_key(&self.email), id.clone());
        users.by_id.insert(
            id.clone(),
            User {
                scope: self.tenant_id.clone(),
                id: id.clone(),
                email: self.email.trim().to_owned(),
                role,
                status: UserStatus::Invited,
                invitation: Some(invitation),
                password: None,
                totp: None,
                sessions_not_before: self.invited_at,
                created_at: self.invited_at,
                sso: false,
            },
        );
        d.people
            .invitations
            .insert(self.invitation_sha256.clone(), (self.tenant_id.clone(), id));
    }
}

impl Step for UserPasswordSet {
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        let user = d.existing_user(&self.tenant_id, &self.user_id)?;
        if self.sealed_hash.is_empty() {
            return Err(invalid("the sealed password hash is empty"));
        }
        match self.cause.as_str() {
            "invitation" => {
                let pending = user.invitation.as_ref().filter(|i| {
                    user.status == UserStatus::Invited
                        && Some(&i.sha256) == self.invitation_sha256.as_ref()
                        && self.set_at < i.expires_at
                });
                if pending.is_none() {
                    return Err(ConfigError::InvalidInvitation);
                }
                Ok(())
            }
            "change" | "rehash" if user.status == UserStatus::Active => Ok(()),
            "change" | "rehash" => Err(ConfigError::UserNotActive(self.user_id.clone())),
            other => Err(invalid(&format!(
                "password cause '{other}' is not invitation, change or rehash"
            ))),
        }
    }

    fn apply(&self, d: &mut Directory) {
        let cause = self.cause.clone();
        let Some(user) = d.user_mut(&self.tenant_id, &self.user_id) else {
            return;
        };
        user.password = Some(Sealed(self.sealed_hash.clone()));
        let consumed = match cause.as_str() {
            "invitation" => {
                user.status = UserStatus::Active;
                user.invitation.take()
            }
            "change" => {
                user.sessions_not_before = user.sessions_not_before.max(self.set_at);
                None
            }
            _ => None,
        };
        if let Some(invitation) = consumed {
            d.people.invitations.remove(&invitation.sha256);
        }
    }
}

impl Step for UserChanged {
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        let user = d.existing_user(&self.tenant_id, &self.user_id)?;
        let last_owner = user.role == Role::Owner
            && user.status == UserStatus::Active
            && d.other_owners(&self.tenant_id, &self.user_id) == 0;
        let refuse_last_owner = || {
            Err(ConfigError::LastOwner {
                tenant: self.tenant_id.clone(),
            })
        };
        match self.change.as_str() {
            "role" => {
                let role = role_of(&self.tenant_id, self.role.as_deref().unwrap_or(""))?;
                if last_owner && role != Role::Owner {
                    return refuse_last_owner();
                }
                Ok(())
            }
            "disabled" | "deleted" if last_owner => refuse_last_owner(),
            "disabled" if user.status == UserStatus::Disabled => {
                Err(invalid(&format!("user {} is disabled already", self.user_id)))
            }
            "enabled" if user.status != UserStatus::Disabled => {
                Err(invalid(&format!("user {} is not disabled", self.user_id)))
            }
            "disabled" | "deleted" | "enabled" | "sessions_revoked" => Ok(()),
            other => Err(invalid(&format!(
                "user change '{other}' is not role, disabled, enabled, deleted or sessions_revoked"
            ))),
        }
    }

    fn apply(&self, d: &mut Directory) {
        let at = self.changed_at;
        if self.change == "deleted" {
            let Some(users) = d.people.users.get_mut(&self.tenant_id) else {
                return;
            };
            if let Some(user) = users.by_id.remove(self.user_id.as_str()) {
                users.by_email.remove(&email_key(&user.email));
                if let Some(invitation) = user.invitation {
                    d.people.invitations.remove(&invitation.sha256);
                }
                if let Some(groups) = d.people.groups.get_mut(self.tenant_id.as_str()) {
                    for group in groups.values_mut() {
                        group.members.remove(self.user_id.as_str());
                        group.sso_members.remove(self.user_id.as_str());
                    }
                }
            }
            return;
        }
        let Some(user) = d.user_mut(&self.tenant_id, &self.user_id) else {
            return;
        };
        match self.change.as_str() {
            "role" => {
                if let Some(role) = self.role.as_deref().and_then(Role::parse) {
                    user.role = role;
                }
            }
            "disabled" => {
                user.status = UserStatus::Disabled;
                user.sessions_not_before = user.sessions_not_before.max(at);
            }
            "enabled" => {
                user.status = if user.password.is_some() || user.sso {
                    UserStatus::Active
                } else {
                    UserStatus::Invited
                };
            }
            _ => user.sessions_not_before = user.sessions_not_before.max(at),
        }
    }
}

impl Step for UserTotpSet {
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        let user = d.existing_user(&self.tenant_id, &self.user_id)?;
        if user.status != UserStatus::Active {
            return Err(ConfigError::UserNotActive(self.user_id.clone()));
        }
        if self.sealed_seed.is_some() && (self.recovery_sha256.is_empty() || self.recovery_sha256.len() > 20) {
            return Err(invalid("an enrolment needs 1 to 20 recovery code hashes"));
        }
        if self.recovery_sha256.iter().any(|h| h.0.len() != 32) {
            return Err(invalid("a recovery code hash is not 32 bytes"));
        }
        Ok(())
    }

    fn apply(&self, d: &mut Directory) {
        let Some(user) = d.user_mut(&self.tenant_id, &self.user_id) else {
            return;
        };
        user.totp = self.sealed_seed.as_ref().map(|seed| Totp {
            seed: Sealed(seed.clone()),
            recovery: self.recovery_sha256.iter().map(|h| h.0.clone()).collect(),
            enrolled_at: self.changed_at,
        });
    }
}

impl Step for TenantPolicySet {
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        d.existing_tenant(&self.tenant_id).map(|_| ())
    }

    fn apply(&self, d: &mut Directory) {
        let tenant = TenantId::parse(&self.tenant_id).expect("check found the tenant");
        d.people.two_factor_required.insert(tenant, self.two_factor_required);
    }
}

fn name_ok(name: Option<&str>, what: &str) -> Result<(), ConfigError> {
    match name.map(str::trim) {
        Some(n) if !n.is_empty() && n.chars().count() <= MAX_NAME_CHARS && !n.chars().any(char::is_control) => Ok(()),
        _ => Err(invalid(&format!(
            "{what} must be 1 to {MAX_NAME_CHARS} characters without control characters"
        ))),
    }
}

impl Step for GroupChanged {
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        d.existing_tenant(&self.tenant_id)?;
        GroupId::parse(&self.group_id)?;
        let group = d.group(&self.tenant_id, &self.group_id);
        let unknown = || ConfigError::UnknownGroup {
            tenant: self.tenant_id.clone(),
            group: self.group_id.clone(),
        };
        match (self.change.as_str(), group) {
            ("created", None) => name_ok(self.name.as_deref(), "a group name"),
            ("created", Some(_)) => Err(ConfigError::GroupExists {
                tenant: self.tenant_id.clone(),
                group: self.group_id.clone(),
            }),
            ("renamed", Some(_)) => name_ok(self.name.as_deref(), "a group name"),
            ("deleted", Some(_)) => Ok(()),
            ("member_added" | "member_removed", Some(g)) => {
                let user = self.user_id.as_deref().unwrap_or("");
                d.existing_user(&self.tenant_id, user)?;
                let member = g.members.contains(user);
                match (self.change.as_str(), member) {
                    ("member_added", true) => Err(invalid(&format!("{user} is in group {} already", self.group_id))),
                    ("member_removed", false) => Err(invalid(&format!("{user} is not in group {}", self.group_id))),
                    _ => Ok(()),
                }
            }
            ("renamed" | "deleted" | "member_added" | "member_removed", None) => Err(unknown()),
            (other, _) => Err(invalid(&format!(
                "group change '{other}' is not created, renamed, deleted, member_added or member_removed"
            ))),
        }
    }

    fn apply(&self, d: &mut Directory) {
        let tenant = TenantId::parse(&self.tenant_id).expect("check found the tenant");
        let id = GroupId::parse(&self.group_id).expect("check parsed it");
        let groups = d.people.groups.entry(tenant).or_default();
        let name = self.name.as_deref().map(str::trim).unwrap_or_default().to_owned();
        let member = self.user_id.as_deref().and_then(|u| UserId::parse(u).ok());
        match self.change.as_str() {
            "created" => {
                groups.insert(
                    id.clone(),
                    Group {
                        id,
                        name,
                        members: BTreeSet::new(),
                        sso_members: BTreeSet::new(),
                    },
                );
            }
            "deleted" => {
                groups.remove(&id);
            }
            change => {
                let Some(group) = groups.get_mut(&id) else { return };
                match (change, member) {
                    ("renamed", _) => group.name = name,
                    ("member_added", Some(user)) => {
                        group.members.insert(user);
                    }
                    ("member_removed", Some(user)) => {
                        group.members.remove(&user);
                    }
                    _ => {}
                }
            }
        }
    }
}

impl Step for SupportGrantChanged {
    fn check(&self, d: &Directory) -> Result<(), ConfigError> {
        d.existing_tenant(&self.tenant_id)?;
        GrantId::parse(&self.grant_id)?;
        let existing = d.support_grant(&self.tenant_id, &self.grant_id);
        match (self.change.as_str(), existing) {
            ("granted", None) => {
                // The support user's events have the installation's key, so
                // on Kafka they may sit in another partition of vox.config
                // than this tenant's: a reader cannot rely on having folded
                // them first. Folding checks the form; the command that
                // writes a grant checks the user ([`Directory::check_support_user`]),
                // and a request under a grant needs the user active anyway.
                UserId::parse(self.support_user_id.as_deref().unwrap_or(""))?;
                name_ok(self.reason.as_deref(), "the reason")?;
                let length = self.expires_at.map(|e| e - self.changed_at);
                if !length.is_some_and(|l| l > 0 && l <= MAX_SUPPORT_GRANT_MICROS) {
                    return Err(ConfigError::SupportGrantTooLong);
                }
                Ok(())
            }
            ("granted", Some(_)) => Err(invalid(&format!("grant {} exists already", self.grant_id))),
            ("revoked", Some(g)) if g.revoked_at.is_none() => Ok(()),
            ("revoked", Some(_)) => Err(invalid(&format!("grant {} is revoked already", self.grant_id))),
            ("revoked", None) => Err(ConfigError::UnknownGrant {
                tenant: self.tenant_id.clone(),
                grant: self.grant_id.clone(),
            }),
            (other, _) => Err(invalid(&format!(
                "support grant change '{other}' is not granted or revoked"
            ))),
        }
    }

    fn apply(&self, d: &mut Directory) {
        let tenant = TenantId::parse(&self.tenant_id).expect("check found the tenant");
        let id = GrantId::parse(&self.grant_id).expect("check parsed it");
        let grants = d.people.support_grants.entry(tenant.clone()).or_default();
        if self.change == "revoked" {
            if let Some(g) = grants.get_mut(&id) {
                g.revoked_at = Some(self.changed_at);
            }
            return;
        }
        let support_user = UserId::parse(self.support_user_id.as_deref().unwrap_or("")).expect("check found the user");
        grants.insert(
            id.clone(),
            SupportGrant {
                id,
                tenant,
                support_user,
                reason: self.reason.clone().unwrap_or_default(),
                granted_at: self.changed_at,
                granted_by: self.changed_by.clone(),
                expires_at: self.expires_at.unwrap_or(self.changed_at),
                revoked_at: None,
            },
        );
    }
}

#[cfg(test)]
#[path = "people_tests.rs"]
mod tests;
