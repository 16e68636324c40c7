//! `vox user|group|policy|support`: the operator's mirror of the people
//! API's administration (the same operations, through `api::manage`, on
//! record with actor `operator`). Logins, passwords and two-factor are the
//! person's own, over the API only.

use std::io::Write;

use clap::Subcommand;
use directory::{Role, UserStatus};
use eventlog::Log;
use schemas::{TenantId, INSTALLATION};

use api::manage::{Actor, Manager, UserChange};

use crate::admin;
use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Invite a user to a tenant; prints a one-time invitation token (valid 72 h) to give them.
    Invite {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// owner, admin, analyst, viewer or compliance.
        #[arg(long)]
        role: String,
    },
    /// List a tenant's users (never a credential), one JSON object per line.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Change a user's role.
    SetRole {
        #[arg(long)]
        tenant: String,
        user_id: String,
        #[arg(long)]
        role: String,
    },
    /// Disable a user: their sessions and tokens end, login is refused.
    Disable {
        #[arg(long)]
        tenant: String,
        user_id: String,
    },
    /// Enable a disabled user.
    Enable {
        #[arg(long)]
        tenant: String,
        user_id: String,
    },
    /// Delete a user (the e-mail can be invited again).
    Delete {
        #[arg(long)]
        tenant: String,
        user_id: String,
    },
    /// End every session and personal token of a user.
    RevokeSessions {
        #[arg(long)]
        tenant: String,
        user_id: String,
    },
    /// Turn off a user's two-factor authentication (a lost device and recovery codes); they enrol again.
    ResetTwoFactor {
        #[arg(long)]
        tenant: String,
        user_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group (id: lower-case letters, digits, '-' and '_').
    Create {
        #[arg(long)]
        tenant: String,
        id: String,
        #[arg(long)]
        name: String,
    },
    /// Rename a group.
    Rename {
        #[arg(long)]
        tenant: String,
        id: String,
        #[arg(long)]
        name: String,
    },
    /// Delete a group.
    Delete {
        #[arg(long)]
        tenant: String,
        id: String,
    },
    /// Add a user to a group.
    Add {
        #[arg(long)]
        tenant: String,
        id: String,
        user_id: String,
    },
    /// Remove a user from a group.
    Remove {
        #[arg(long)]
        tenant: String,
        id: String,
        user_id: String,
    },
    /// List a tenant's groups with their members, one JSON object per line.
    List {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Set a tenant's login policy.
    Set {
        #[arg(long)]
        tenant: String,
        /// Refuse password logins of users who have not enrolled in TOTP.
        #[arg(long, action = clap::ArgAction::Set)]
        two_factor_required: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SupportCommand {
    /// Invite a support user (installation-level, no tenant); prints a one-time invitation token.
    Invite {
        #[arg(long)]
        email: String,
    },
    /// List the support users, one JSON object per line.
    Users,
    /// Disable a support user.
    Disable { user_id: String },
    /// Grant a support user read-only access to a tenant, as the tenant would (operator, on record).
    Grant {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        reason: String,
        /// 1 to 72.
        #[arg(long, default_value_t = 24)]
        hours: u32,
    },
    /// Revoke a support grant.
    Revoke {
        #[arg(long)]
        tenant: String,
        grant_id: String,
    },
    /// A tenant's support grants and how often each was used, one JSON object per line.
    Grants {
        #[arg(long)]
        tenant: String,
    },
}

fn role(text: &str, scope: &str) -> anyhow::Result<Role> {
    Role::parse(text)
        .filter(|r| (scope == INSTALLATION) == (*r == Role::Support))
        .ok_or_else(|| {
            anyhow::anyhow!("'{text}' is not a tenant role; use owner, admin, analyst, viewer or compliance")
        })
}

/// The operator's manager of the configuration (every `vox` command that
/// changes people, grants or single sign-on).
pub(crate) fn manager<'a>(log: &'a Log, settings: &'a Settings) -> Manager<'a> {
    Manager {
        log,
        namespace: &settings.namespace,
        region: settings.region.as_str(),
        actor: Actor::operator(),
    }
}

fn user_line(u: &directory::User) -> serde_json::Value {
    serde_json::json!({"id": u.id, "email": u.email, "role": u.role.as_str(), "status": u.status.as_str(),
        "two_factor": u.totp.is_some()})
}

fn print_invitation(
    out: &mut impl Write,
    invited: &admin::Invited,
    token: &auth::Secret,
    scope: &str,
) -> anyhow::Result<()> {
    writeln!(out, "user_id={}", invited.user_id)?;
    writeln!(out, "invitation_token={}", token.expose())?;
    eprintln!(
        "Give the invitation token to the person (it is shown only now; valid 72 h). They set a password with \
         POST /v1/invitations/accept {{\"token\": …, \"password\": …}} on the people API{}.",
        if scope == INSTALLATION {
            " (support users then enrol two-factor before the first login)"
        } else {
            ""
        }
    );
    Ok(())
}

pub async fn user(command: UserCommand, settings: &Settings, out: &mut impl Write) -> anyhow::Result<()> {
    let log = settings.open_log().await?;
    let m = manager(&log, settings);
    let log = &log;
    let change = |tenant: String, user_id: String, change: UserChange| async move {
        let tenant = TenantId::parse(&tenant)?;
        manager(log, settings)
            .change_user(tenant.as_str(), &user_id, change)
            .await?;
        anyhow::Ok(())
    };
    match command {
        UserCommand::Invite { tenant, email, role: r } => {
            let tenant = TenantId::parse(&tenant)?;
            let r = role(&r, tenant.as_str())?;
            let (invited, token) = m.invite(tenant.as_str(), &email, r).await?;
            print_invitation(out, &invited, &token, tenant.as_str())?;
        }
        UserCommand::List { tenant } => {
            let directory = admin::directory(log, &settings.namespace).await?;
            if directory.tenant(&tenant).is_none() {
                return Err(directory::ConfigError::UnknownTenant(tenant).into());
            }
            for u in directory.users(&tenant) {
                writeln!(out, "{}", user_line(u))?;
            }
        }
        UserCommand::SetRole {
            tenant,
            user_id,
            role: r,
        } => {
            let r = role(&r, &tenant)?;
            change(tenant, user_id.clone(), UserChange::Role(r)).await?;
            writeln!(out, "user {user_id} is now {r}")?;
        }
        UserCommand::Disable { tenant, user_id } => {
            change(tenant, user_id.clone(), UserChange::Disable).await?;
            writeln!(out, "disabled user {user_id}; their sessions and tokens end")?;
        }
        UserCommand::Enable { tenant, user_id } => {
            change(tenant, user_id.clone(), UserChange::Enable).await?;
            writeln!(out, "enabled user {user_id}")?;
        }
        UserCommand::Delete { tenant, user_id } => {
            change(tenant, user_id.clone(), UserChange::Delete).await?;
            writeln!(out, "deleted user {user_id}")?;
        }
        UserCommand::ResetTwoFactor { tenant, user_id } => {
            let tenant = TenantId::parse(&tenant)?;
            manager(log, settings)
                .reset_two_factor(tenant.as_str(), &user_id)
                .await?;
            writeln!(
                out,
                "reset two-factor authentication of user {user_id}; they enrol again"
            )?;
        }
        UserCommand::RevokeSessions { tenant, user_id } => {
            change(tenant, user_id.clone(), UserChange::RevokeSessions).await?;
            writeln!(out, "ended every session and token of user {user_id}")?;
        }
    }
    Ok(())
}

pub async fn group(command: GroupCommand, settings: &Settings, out: &mut impl Write) -> anyhow::Result<()> {
    let log = settings.open_log().await?;
    let m = manager(&log, settings);
    match command {
        GroupCommand::Create { tenant, id, name } => {
            m.group(&tenant, &id, "created", Some(&name), None).await?;
            writeln!(out, "created group {id} in tenant {tenant}")?;
        }
        GroupCommand::Rename { tenant, id, name } => {
            m.group(&tenant, &id, "renamed", Some(&name), None).await?;
            writeln!(out, "renamed group {id}")?;
        }
        GroupCommand::Delete { tenant, id } => {
            m.group(&tenant, &id, "deleted", None, None).await?;
            writeln!(out, "deleted group {id}")?;
        }
        GroupCommand::Add { tenant, id, user_id } => {
            m.group(&tenant, &id, "member_added", None, Some(&user_id)).await?;
            writeln!(out, "added {user_id} to group {id}")?;
        }
        GroupCommand::Remove { tenant, id, user_id } => {
            m.group(&tenant, &id, "member_removed", None, Some(&user_id)).await?;
            writeln!(out, "removed {user_id} from group {id}")?;
        }
        GroupCommand::List { tenant } => {
            let directory = admin::directory(&log, &settings.namespace).await?;
            for g in directory.groups(&tenant) {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"id": g.id, "name": g.name, "members": g.members})
                )?;
            }
        }
    }
    Ok(())
}

pub async fn policy(command: PolicyCommand, settings: &Settings, out: &mut impl Write) -> anyhow::Result<()> {
    let log = settings.open_log().await?;
    let PolicyCommand::Set {
        tenant,
        two_factor_required,
    } = command;
    manager(&log, settings).set_policy(&tenant, two_factor_required).await?;
    writeln!(out, "tenant {tenant}: two_factor_required={two_factor_required}")?;
    Ok(())
}

pub async fn support(command: SupportCommand, settings: &Settings, out: &mut impl Write) -> anyhow::Result<()> {
    let log = settings.open_log().await?;
    let m = manager(&log, settings);
    match command {
        SupportCommand::Invite { email } => {
            let (invited, token) = m.invite(INSTALLATION, &email, Role::Support).await?;
            print_invitation(out, &invited, &token, INSTALLATION)?;
        }
        SupportCommand::Users => {
            let directory = admin::directory(&log, &settings.namespace).await?;
            for u in directory.users(INSTALLATION) {
                writeln!(out, "{}", user_line(u))?;
            }
        }
        SupportCommand::Disable { user_id } => {
            m.change_user(INSTALLATION, &user_id, UserChange::Disable).await?;
            writeln!(out, "disabled support user {user_id}")?;
        }
        SupportCommand::Grant {
            tenant,
            email,
            reason,
            hours,
        } => {
            let directory = admin::directory(&log, &settings.namespace).await?;
            let support = directory
                .user_by_email(INSTALLATION, &email)
                .filter(|u| u.status == UserStatus::Active)
                .ok_or_else(|| {
                    anyhow::anyhow!("no active support user has the e-mail {email}; `vox support users` lists them")
                })?;
            if hours == 0 || hours > 72 {
                anyhow::bail!("--hours: support access lasts 1 to 72 hours");
            }
            let id = m.grant_support(&tenant, support.id.as_str(), &reason, hours).await?;
            writeln!(out, "grant_id={id}")?;
        }
        SupportCommand::Revoke { tenant, grant_id } => {
            m.revoke_support(&tenant, &grant_id).await?;
            writeln!(out, "revoked support grant {grant_id}")?;
        }
        SupportCommand::Grants { tenant } => {
            let directory = admin::directory(&log, &settings.namespace).await?;
            let now = schemas::clock::now_micros();
            let store = settings.open_store().await?;
            for g in directory.support_grants(&tenant) {
                let uses = store.count_support_uses(&tenant, g.id.as_str()).await?;
                let line = serde_json::json!({"id": g.id, "support_user": g.support_user, "reason": g.reason,
                    "granted_by": g.granted_by, "expires_at": g.expires_at, "revoked_at": g.revoked_at,
                    "active": g.active_at(now), "uses": uses});
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(())
}
