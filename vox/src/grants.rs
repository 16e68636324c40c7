//! `vox grant|restricted-tags`: the operator's mirror of the people API's
//! feedback access administration (`/v1/grants`, `/v1/restricted-tags`):
//! the same operations through `api::manage`, on record with actor
//! `operator`.

use std::io::Write;

use clap::{ArgGroup, Subcommand};
use directory::AccessGrant;

use crate::admin;
use crate::people::manager;
use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// Grant a user or a group access to a tenant's feedback; prints the grant id.
    #[command(group(ArgGroup::new("principal").required(true).args(["user", "group"])))]
    Add {
        #[arg(long)]
        tenant: String,
        /// The user (usr_…) the grant is for.
        #[arg(long)]
        user: Option<String>,
        /// The group the grant is for (its members now and later).
        #[arg(long)]
        group: Option<String>,
        /// Only this collection [default: every collection of the tenant].
        #[arg(long)]
        collection: Option<String>,
        /// read (list, read, aggregate) or export (also export).
        #[arg(long, default_value = "read")]
        level: String,
        /// Only items with this tag: name:value, or name for any value; repeat for several
        /// (an item needs one of them). Naming a restricted tag name lets the grant see it.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
    },
    /// Revoke an access grant (it stays listed, as revoked).
    Revoke {
        #[arg(long)]
        tenant: String,
        grant_id: String,
    },
    /// List a tenant's access grants, revoked ones too, one JSON object per line.
    List {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RestrictedTagsCommand {
    /// Replace a tenant's restricted tag names (none: clear the list). Items with such a tag are
    /// visible only under a grant whose tag filter names it.
    Set {
        #[arg(long)]
        tenant: String,
        /// Tag names (no ':'): every value of the name is restricted.
        names: Vec<String>,
    },
    /// Show a tenant's restricted tag names.
    Show {
        #[arg(long)]
        tenant: String,
    },
}

/// A grant as `vox grant list` prints it (the API's shape, times in microseconds).
fn grant_line(g: &AccessGrant) -> serde_json::Value {
    api::manage::grant_json(g, |t| serde_json::json!(t))
}

async fn existing_tenant(
    log: &eventlog::Log,
    settings: &Settings,
    tenant: &str,
) -> anyhow::Result<directory::Directory> {
    let directory = admin::directory(log, &settings.namespace).await?;
    if directory.tenant(tenant).is_none() {
        return Err(directory::ConfigError::UnknownTenant(tenant.to_owned()).into());
    }
    Ok(directory)
}

pub async fn grant(command: GrantCommand, settings: &Settings, out: &mut impl Write) -> anyhow::Result<()> {
    let log = settings.open_log().await?;
    let m = manager(&log, settings);
    match command {
        GrantCommand::Add {
            tenant,
            user,
            group,
            collection,
            level,
            tags,
        } => {
            let (kind, id) = match (user, group) {
                (Some(user), None) => ("user", user),
                (None, Some(group)) => ("group", group),
                _ => anyhow::bail!("name the grant's principal with either --user or --group"),
            };
            let grant_id = m
                .grant_access(&tenant, kind, &id, collection.as_deref(), &level, &tags)
                .await?;
            writeln!(out, "grant_id={grant_id}")?;
        }
        GrantCommand::Revoke { tenant, grant_id } => {
            m.revoke_access(&tenant, &grant_id).await?;
            writeln!(out, "revoked access grant {grant_id}")?;
        }
        GrantCommand::List { tenant } => {
            let directory = existing_tenant(&log, settings, &tenant).await?;
            for g in directory.access_grants(&tenant) {
                writeln!(out, "{}", grant_line(g))?;
            }
        }
    }
    Ok(())
}

pub async fn restricted_tags(
    command: RestrictedTagsCommand,
    settings: &Settings,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let log = settings.open_log().await?;
    match command {
        RestrictedTagsCommand::Set { tenant, names } => {
            let stored = manager(&log, settings).set_restricted_tags(&tenant, &names).await?;
            writeln!(out, "{}", serde_json::json!({"restricted_tags": stored}))?;
        }
        RestrictedTagsCommand::Show { tenant } => {
            let directory = existing_tenant(&log, settings, &tenant).await?;
            writeln!(
                out,
                "{}",
                serde_json::json!({"restricted_tags": directory.restricted_tags(&tenant)})
            )?;
        }
    }
    Ok(())
}
