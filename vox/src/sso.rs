//! `vox sso`: a tenant's single sign-on (SAML 2.0) from the operator's
//! side: configure it from the identity provider's metadata, switch it off,
//! show it, and make the installation's service provider key.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;

use api::sso::SsoChoices;

use crate::admin;
use crate::people::manager;
use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub enum SsoCommand {
    /// Configure (or change) a tenant's single sign-on from its identity provider's metadata.
    Configure {
        #[arg(long)]
        tenant: String,
        /// The identity provider's metadata (XML); left out, the one configured before is kept.
        #[arg(long)]
        idp_metadata: Option<PathBuf>,
        /// Refuse password logins of the tenant's users (owners keep the break-glass login).
        #[arg(long)]
        required: bool,
        /// Accept Responses that answer no request of Vox (IdP-initiated logins).
        #[arg(long)]
        idp_initiated: bool,
        /// The attribute holding the e-mail address [default: the NameID].
        #[arg(long)]
        email_attribute: Option<String>,
        /// Create unknown users at their first login with this role (admin, analyst, viewer, compliance).
        #[arg(long)]
        provision_role: Option<String>,
        /// The attribute whose values map to groups (with --map).
        #[arg(long)]
        groups_attribute: Option<String>,
        /// A value of the groups attribute and the group it means: VALUE=GROUP_ID (repeatable).
        #[arg(long = "map", value_name = "VALUE=GROUP_ID")]
        group_map: Vec<String>,
    },
    /// Switch a tenant's single sign-on off (password logins work again).
    Off {
        #[arg(long)]
        tenant: String,
    },
    /// Show a tenant's single sign-on (JSON).
    Show {
        #[arg(long)]
        tenant: String,
    },
    /// Make the service provider's key and certificate (a PEM file, mode 0600) for --saml-key-file.
    Keygen {
        /// Where to write it (never replaced).
        #[arg(long)]
        out: PathBuf,
        /// The certificate's name, e.g. the API's host name.
        #[arg(long)]
        name: String,
    },
}

pub async fn sso(command: SsoCommand, settings: &Settings, out: &mut impl Write) -> anyhow::Result<()> {
    match command {
        SsoCommand::Keygen { out: path, name } => {
            crate::settings::write_saml_keys(&path, &name)?;
            writeln!(
                out,
                "wrote {} (mode 0600): use it as --saml-key-file on every API replica",
                path.display()
            )?;
        }
        SsoCommand::Configure {
            tenant,
            idp_metadata,
            required,
            idp_initiated,
            email_attribute,
            provision_role,
            groups_attribute,
            group_map,
        } => {
            let metadata = match idp_metadata {
                Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| {
                    anyhow::anyhow!("cannot read the identity provider's metadata {}: {e}", path.display())
                })?),
                None => None,
            };
            let mut map = BTreeMap::new();
            for m in group_map {
                let Some((value, group)) = m.rsplit_once('=') else {
                    anyhow::bail!("--map {m:?}: use VALUE=GROUP_ID (the group attribute's value, then the group's id)");
                };
                map.insert(value.to_owned(), group.to_owned());
            }
            let choices = SsoChoices {
                idp_metadata: metadata,
                enabled: true,
                required,
                idp_initiated,
                email_attribute,
                provision_role,
                groups_attribute,
                group_map: map,
            };
            let log = settings.open_log().await?;
            let directory = admin::directory(&log, &settings.namespace).await?;
            let event = api::sso::configured(&tenant, &choices, directory.sso_configured(&tenant))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            manager(&log, settings).configure_sso(event).await?;
            let directory = admin::directory(&log, &settings.namespace).await?;
            if let Some(config) = directory.sso_configured(&tenant) {
                writeln!(out, "{}", api::sso::config_json(config))?;
            }
        }
        SsoCommand::Off { tenant } => {
            let log = settings.open_log().await?;
            let directory = admin::directory(&log, &settings.namespace).await?;
            let Some(before) = directory.sso_configured(&tenant).cloned() else {
                anyhow::bail!("tenant '{tenant}' has no single sign-on to switch off");
            };
            let choices = SsoChoices {
                enabled: false,
                ..SsoChoices::default()
            };
            let event = api::sso::configured(&tenant, &choices, Some(&before)).map_err(|e| anyhow::anyhow!("{e}"))?;
            manager(&log, settings).configure_sso(event).await?;
            writeln!(out, "tenant {tenant}: single sign-on off")?;
        }
        SsoCommand::Show { tenant } => {
            let log = settings.open_log().await?;
            let directory = admin::directory(&log, &settings.namespace).await?;
            match directory.sso_configured(&tenant) {
                Some(config) => writeln!(out, "{}", api::sso::config_json(config))?,
                None => {
                    anyhow::bail!("tenant '{tenant}' has no single sign-on (configure it with `vox sso configure`)")
                }
            }
        }
    }
    Ok(())
}
