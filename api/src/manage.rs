//! Administration of people, shared by the API (an admin's request) and
//! the CLI (the operator): each operation appends its configuration event
//! and its audit record in one compare-and-set (checked against the
//! directory): both are durable, or neither. Permission checks are the
//! caller's.

use std::collections::BTreeMap;
use std::net::IpAddr;

use directory::commands::{self, AdminError, Invited};
use directory::Role;
use eventlog::{Log, Output};
use schemas::{
    AccessGrantChanged, ActorKind, AuditAction, ConfigEvent, GroupChanged, Outcome, RestrictedTagsSet, SsoConfigured,
    SsoGroupsSet, SupportGrantChanged, TenantPolicySet, Topic, UserChanged, UserId, UserProvisioned, INSTALLATION,
};

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// The change was refused, or neither it nor its record was written.
    #[error(transparent)]
    Admin(#[from] AdminError),
}

/// Who makes a change.
#[derive(Debug, Clone)]
pub struct Actor {
    pub kind: ActorKind,
    /// The audit actor id (a user id, or `operator`).
    pub id: String,
    /// The `changed_by` of events (`user:<id>` or `operator`).
    pub changed_by: String,
    pub source: Option<IpAddr>,
}

impl Actor {
    /// The operator at the CLI.
    pub fn operator() -> Actor {
        Actor {
            kind: ActorKind::Operator,
            id: "operator".into(),
            changed_by: "operator".into(),
            source: None,
        }
    }
}

/// Writes people changes to one log, on record.
pub struct Manager<'a> {
    pub log: &'a Log,
    pub namespace: &'a str,
    pub region: &'a str,
    pub actor: Actor,
}

/// What a user change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    Role(Role),
    Disable,
    Enable,
    Delete,
    RevokeSessions,
}

impl<'a> Manager<'a> {
    /// The audit record of a change, as a log record appended with it.
    fn on_record(
        &self,
        scope: &str,
        action: AuditAction,
        resource: &str,
        details: BTreeMap<String, String>,
    ) -> Result<Output, AdminError> {
        let mut record = audit::record(
            Some(scope).filter(|s| *s != INSTALLATION),
            self.actor.kind,
            &self.actor.id,
            action,
            Outcome::Success,
            self.actor.source,
            self.region,
            details,
        );
        record.resource = Some(resource.to_owned());
        Ok(audit::encode(&Topic::Audit.name(self.namespace), &record)?)
    }

    /// Invites `email` to `scope` (a tenant, or the installation for a
    /// support user): returns the invitation and its token, shown once.
    pub async fn invite(&self, scope: &str, email: &str, role: Role) -> Result<(Invited, auth::Secret), ManageError> {
        let token = login::token::new_token(login::token::TokenKind::Invitation);
        let hash = login::token::token_hash(token.expose());
        let invitation = commands::NewInvitation {
            scope,
            email,
            role,
            invitation_sha256: hash,
            changed_by: &self.actor.changed_by,
        };
        let invited = commands::invite_user(self.log, self.namespace, invitation, |invited, renewed| {
            let details = BTreeMap::from([
                ("role".to_owned(), role.as_str().to_owned()),
                ("renewed".to_owned(), renewed.to_string()),
            ]);
            let resource = format!("user/{}", invited.user_id);
            Ok(vec![self.on_record(
                scope,
                AuditAction::UserInvited,
                &resource,
                details,
            )?])
        })
        .await?;
        Ok((invited, token))
    }

    pub async fn change_user(&self, scope: &str, user_id: &str, change: UserChange) -> Result<(), ManageError> {
        let (name, role, action) = match change {
            UserChange::Role(r) => ("role", Some(r.as_str().to_owned()), AuditAction::RoleChanged),
            UserChange::Disable => ("disabled", None, AuditAction::UserDisabled),
            UserChange::Enable => ("enabled", None, AuditAction::UserEnabled),
            UserChange::Delete => ("deleted", None, AuditAction::UserDeleted),
            UserChange::RevokeSessions => ("sessions_revoked", None, AuditAction::SessionsRevoked),
        };
        let event = ConfigEvent::UserChanged(UserChanged {
            tenant_id: scope.to_owned(),
            user_id: user_id.to_owned(),
            change: name.to_owned(),
            role: role.clone(),
            changed_at: schemas::clock::now_micros(),
            changed_by: self.actor.changed_by.clone(),
        });
        let details = role
            .map(|r| BTreeMap::from([("role".to_owned(), r)]))
            .unwrap_or_default();
        let record = self.on_record(scope, action, &format!("user/{user_id}"), details)?;
        commands::change(self.log, self.namespace, event, vec![record]).await?;
        Ok(())
    }

    /// Turns a user's two-factor authentication off (they lost the device
    /// and their recovery codes): they enrol again at their next login where
    /// the policy requires it. Their sessions and tokens stay.
    pub async fn reset_two_factor(&self, scope: &str, user_id: &str) -> Result<(), ManageError> {
        let event = ConfigEvent::UserTotpSet(schemas::UserTotpSet {
            tenant_id: scope.to_owned(),
            user_id: user_id.to_owned(),
            sealed_seed: None,
            kek_id: None,
            recovery_sha256: Vec::new(),
            changed_at: schemas::clock::now_micros(),
            changed_by: self.actor.changed_by.clone(),
        });
        let details = BTreeMap::from([("by".to_owned(), "admin".to_owned())]);
        let record = self.on_record(scope, AuditAction::TotpRemoved, &format!("user/{user_id}"), details)?;
        commands::change(self.log, self.namespace, event, vec![record]).await?;
        Ok(())
    }

    pub async fn set_policy(&self, tenant: &str, two_factor_required: bool) -> Result<(), ManageError> {
        let event = ConfigEvent::TenantPolicySet(TenantPolicySet {
            tenant_id: tenant.to_owned(),
            two_factor_required,
            changed_at: schemas::clock::now_micros(),
            changed_by: self.actor.changed_by.clone(),
        });
        let details = BTreeMap::from([("two_factor_required".to_owned(), two_factor_required.to_string())]);
        let record = self.on_record(tenant, AuditAction::PolicyChanged, "policy", details)?;
        commands::change(self.log, self.namespace, event, vec![record]).await?;
        Ok(())
    }

    /// Configures (or, with `enabled` false, switches off) a tenant's single
    /// sign-on: `sso`'s tenant, time and author are this manager's.
    pub async fn configure_sso(&self, sso: SsoConfigured) -> Result<(), ManageError> {
        let tenant = sso.tenant_id.clone();
        let details = BTreeMap::from([
            ("enabled".to_owned(), sso.enabled.to_string()),
            ("idp".to_owned(), sso.idp_entity_id.clone()),
            ("required".to_owned(), sso.required.to_string()),
            ("idp_initiated".to_owned(), sso.idp_initiated.to_string()),
            ("certificates".to_owned(), sso.certificates.len().to_string()),
            (
                "provision_role".to_owned(),
                sso.provision_role.clone().unwrap_or_else(|| "none".to_owned()),
            ),
            ("group_mappings".to_owned(), sso.group_map.len().to_string()),
        ]);
        let event = ConfigEvent::SsoConfigured(SsoConfigured {
            changed_at: schemas::clock::now_micros(),
            changed_by: self.actor.changed_by.clone(),
            ..sso
        });
        let record = self.on_record(&tenant, AuditAction::SsoConfigured, "sso", details)?;
        commands::change(self.log, self.namespace, event, vec![record]).await?;
        Ok(())
    }

    /// Creates the user a single sign-on vouched for (just-in-time), with
    /// the tenant's provisioning role: their new id.
    pub async fn provision(&self, tenant: &str, email: &str, role: Role) -> Result<UserId, ManageError> {
        let id = auth::new_id("usr_");
        let event = ConfigEvent::UserProvisioned(UserProvisioned {
            tenant_id: tenant.to_owned(),
            user_id: id.clone(),
            email: email.trim().to_owned(),
            role: role.as_str().to_owned(),
            provisioned_at: schemas::clock::now_micros(),
            changed_by: self.actor.changed_by.clone(),
        });
        let details = BTreeMap::from([("role".to_owned(), role.as_str().to_owned())]);
        let record = self.on_record(tenant, AuditAction::UserProvisioned, &format!("user/{id}"), details)?;
        commands::change(self.log, self.namespace, event, vec![record]).await?;
        Ok(UserId::parse(&id).map_err(|e| AdminError::Invalid(e.into()))?)
    }

    /// Replaces the groups single sign-on makes `user` a member of;
    /// `added` and `removed` are on record.
    pub async fn set_sso_groups(
        &self,
        tenant: &str,
        user: &str,
        groups: Vec<String>,
        added: &[String],
        removed: &[String],
    ) -> Result<(), ManageError> {
        let event = ConfigEvent::SsoGroupsSet(SsoGroupsSet {
            tenant_id: tenant.to_owned(),
            user_id: user.to_owned(),
            group_ids: groups,
            changed_at: schemas::clock::now_micros(),
            changed_by: self.actor.changed_by.clone(),
        });
        let details = BTreeMap::from([
            ("added".to_owned(), added.join(",")),
            ("removed".to_owned(), removed.join(",")),
        ]);
        let record = self.on_record(tenant, AuditAction::SsoGroupsChanged, &format!("user/{user}"), details)?;
        commands::change(self.log, self.namespace, event, vec![record]).await?;
        Ok(())
    }

    /// `change`: created, renamed, deleted, member_added, member_removed.
    pub async fn group(
        &self,
        tenant: &str,
        group: &str,
        change: &str,
        name: Option<&str>,
        user: Option<&str>,
    ) -> Result<(), ManageError> {
        let event = ConfigEvent::GroupChanged(GroupChanged {
            tenant_id: tenant.to_owned(),
            group_id: group.to_owned(),
            change: change.to_owned(),
            name: name.map(str::to_owned),
            user_id: user.map(str::to_owned),
            changed_at: schemas::clock::now_micros(),
            changed_by: self.actor.changed_by.clone(),
        });
        let mut details = BTreeMap::from([("change".to_owned(), change.to_owned())]);
        if let Some(user) = user {
            details.insert("user".to_owned(), user.to_owned());
        }
        let record = self.on_record(tenant, AuditAction::GroupChanged, &format!("group/{group}"), details)?;
        commands::change(self.log, self.namespace, event, vec![record]).await?;
        Ok(())
    }

    /// Grants the support user `support_user` read-only access to `tenant`
    /// for `hours` (at most 72): returns the grant id.
    pub async fn grant_support(
        &self,
        tenant: &str,
        support_user: &str,
        reason: &str,
        hours: u32,
    ) -> Result<String, ManageError> {
        let now = schemas::clock::now_micros();
        let grant_id = auth::new_id("sg_");
        let event = ConfigEvent::SupportGrantChanged(SupportGrantChanged {
            tenant_id: tenant.to_owned(),
            grant_id: grant_id.clone(),
            change: "granted".into(),
            support_user_id: Some(support_user.to_owned()),
            reason: Some(reason.trim().to_owned()),
            expires_at: Some(now + i64::from(hours) * 3_600_000_000),
            changed_at: now,
            changed_by: self.actor.changed_by.clone(),
        });
        let details = BTreeMap::from([
            ("support_user".to_owned(), support_user.to_owned()),
            ("hours".to_owned(), hours.to_string()),
        ]);
        let record = self.on_record(
            tenant,
            AuditAction::SupportGranted,
            &format!("support-grant/{grant_id}"),
            details,
        )?;
        commands::append_config_with(
            self.log,
            self.namespace,
            |d| {
                d.check_support_user(support_user)?;
                Ok(event.clone())
            },
            |_| Ok(vec![record.clone()]),
        )
        .await?;
        Ok(grant_id)
    }

    pub async fn revoke_support(&self, tenant: &str, grant_id: &str) -> Result<(), ManageError> {
        let event = ConfigEvent::SupportGrantChanged(SupportGrantChanged {
            tenant_id: tenant.to_owned(),
            grant_id: grant_id.to_owned(),
            change: "revoked".into(),
            support_user_id: None,
            reason: None,
            expires_at: None,
            changed_at: schemas::clock::now_micros(),
            changed_by: self.actor.changed_by.clone(),
        });
        let record = self.on_record(
            tenant,
            AuditAction::SupportRevoked,
            &format!("support-grant/{grant_id}"),
            BTreeMap::new(),
        )?;
        commands::change(self.log, self.namespace, event, vec![record]).await?;
        Ok(())
    }

    /// Grants `principal_kind` (`user` or `group`) `principal_id` of
    /// `tenant` `level` (`read` or `export`) access to `collection` (None:
    /// every collection), only to items with a tag `tag_filter` names
    /// (`name:value` or `name`; empty: no filter): returns the grant id
    /// (`ag_` and 16 hex digits). The directory checks the rest.
    pub async fn grant_access(
        &self,
        tenant: &str,
        principal_kind: &str,
        principal_id: &str,
        collection: Option<&str>,
        level: &str,
        tag_filter: &[String],
    ) -> Result<String, ManageError> {
        let grant_id = auth::new_id("ag_");
        let event = ConfigEvent::AccessGrantChanged(AccessGrantChanged {
            tenant_id: tenant.to_owned(),
            grant_id: grant_id.clone(),
            change: "granted".into(),
            principal_kind: Some(principal_kind.to_owned()),
            principal_id: Some(principal_id.to_owned()),
            collection: collection.map(str::to_owned),
            level: Some(level.to_owned()),
            tag_filter: tag_filter.to_vec(),
            changed_at: schemas::clock::now_micros(),
            changed_by: self.actor.changed_by.clone(),
        });
        let details = BTreeMap::from([
            ("change".to_owned(), "granted".to_owned()),
            ("principal".to_owned(), format!("{principal_kind}:{principal_id}")),
            ("collection".to_owned(), collection.unwrap_or("*").to_owned()),
            ("level".to_owned(), level.to_owned()),
            (
                "tag_filter".to_owned(),
                serde_json::to_string(tag_filter).unwrap_or_default(),
            ),
        ]);
        let record = self.on_record(
            tenant,
            AuditAction::AccessGrantChanged,
            &format!("access-grant/{grant_id}"),
            details,
        )?;
        commands::change(self.log, self.namespace, event, vec![record]).await?;
        Ok(grant_id)
    }

    /// Revokes an access grant that is in force.
    pub async fn revoke_access(&self, tenant: &str, grant_id: &str) -> Result<(), ManageError> {
        let event = ConfigEvent::AccessGrantChanged(AccessGrantChanged {
            tenant_id: tenant.to_owned(),
            grant_id: grant_id.to_owned(),
            change: "revoked".into(),
            principal_kind: None,
            principal_id: None,
            collection: None,
            level: None,
            tag_filter: Vec::new(),
            changed_at: schemas::clock::now_micros(),
            changed_by: self.actor.changed_by.clone(),
        });
        let details = BTreeMap::from([("change".to_owned(), "revoked".to_owned())]);
        let record = self.on_record(
            tenant,
            AuditAction::AccessGrantChanged,
            &format!("access-grant/{grant_id}"),
            details,
        )?;
        commands::change(self.log, self.namespace, event, vec![record]).await?;
        Ok(())
    }

    /// Replaces the tenant's restricted tag names with `names` (empty:
    /// none); returns the list as stored (sorted, without duplicates).
    pub async fn set_restricted_tags(&self, tenant: &str, names: &[String]) -> Result<Vec<String>, ManageError> {
        let mut names = names.to_vec();
        names.sort();
        names.dedup();
        let event = ConfigEvent::RestrictedTagsSet(RestrictedTagsSet {
            tenant_id: tenant.to_owned(),
            tag_names: names.clone(),
            changed_at: schemas::clock::now_micros(),
            changed_by: self.actor.changed_by.clone(),
        });
        let details = BTreeMap::from([(
            "restricted_tags".to_owned(),
            serde_json::to_string(&names).unwrap_or_default(),
        )]);
        let record = self.on_record(tenant, AuditAction::RestrictedTagsChanged, "restricted-tags", details)?;
        commands::change(self.log, self.namespace, event, vec![record]).await?;
        Ok(names)
    }
}

/// An access grant as the API and `vox grant list` show it (`principal` in
/// the request's shape), with its times as `time` writes them.
pub fn grant_json(g: &directory::AccessGrant, time: impl Fn(i64) -> serde_json::Value) -> serde_json::Value {
    let principal = match &g.principal {
        directory::Principal::User(id) => serde_json::json!({"user": id}),
        directory::Principal::Group(id) => serde_json::json!({"group": id}),
    };
    serde_json::json!({
        "grant_id": g.id,
        "principal": principal,
        "collection": g.collection,
        "level": g.level.as_str(),
        "tag_filter": g.tag_filter_strings(),
        "granted_at": time(g.granted_at),
        "granted_by": g.granted_by,
        "active": g.is_active(),
        "revoked_at": g.revoked.as_ref().map(|r| time(r.at)),
        "revoked_by": g.revoked.as_ref().map(|r| r.by.clone()),
        "revoked_because": g.revoked.as_ref().map(|r| r.because.as_str()),
    })
}
