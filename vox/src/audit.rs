//! `vox audit`: the auditor role and what compliance teams run over its
//! logs (README, "Audit").

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use store::{AuditRange, Store};

use crate::settings::Settings;

/// `vox audit verify` exit code when the log does not verify (0: it does,
/// 1: an error, 2: a usage error).
pub const EXIT_DIVERGES: u8 = 4;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Run the auditor role: reads vox.audit into per-tenant Merkle logs in the store and signs
    /// checkpoints (Kafka and PostgreSQL; `vox serve` runs it on the embedded backends).
    Run,
    /// Make a key that signs checkpoints: writes the private key to --out (mode 0600, never
    /// replaced) and prints the verifier key (`<name>+<id>+<key>`) to give compliance teams.
    Keygen {
        /// The key's name, which starts every log's origin (`<name>/<tenant>`): a name of your
        /// installation such as audit.example.com (no spaces or '+').
        #[arg(long)]
        name: String,
        /// The private key file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a log's records as NDJSON, by index: {"log", "index", "record"}.
    Replay {
        /// The tenant whose log to read (`-`: the installation's log).
        #[arg(long)]
        tenant: String,
        /// Only records that occurred at or after this time (RFC 3339, or a date YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Only records that occurred before this time (RFC 3339, or a date YYYY-MM-DD).
        #[arg(long)]
        until: Option<String>,
        /// Only records of this action (README lists them), e.g. user.login.
        #[arg(long)]
        action: Option<String>,
    },
    /// Recompute a log from its records and check every checkpoint's signature and root, and a
    /// checkpoint saved earlier; names the first record or checkpoint where anything diverges
    /// (exit code 4).
    Verify {
        /// The tenant whose log to verify (`-`: the installation's log).
        #[arg(long)]
        tenant: String,
        /// A checkpoint saved earlier (a file): the log must extend it.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// The verifier key to trust (the text `vox audit keygen` printed, or a file holding it)
        /// [default: the verifier key of the configured signing key].
        #[arg(long)]
        verifier_key: Option<String>,
    },
    /// Write a log into a new directory, for verification without Vox: verifier.key, checkpoint,
    /// records.ndjson, proofs.ndjson (README, "Audit export").
    Export {
        /// The tenant whose log to export (`-`: the installation's log).
        #[arg(long)]
        tenant: String,
        /// The directory to write (must not exist, or be empty).
        #[arg(long)]
        out: PathBuf,
        /// The verifier key to write [default: the verifier key of the configured signing key].
        #[arg(long)]
        verifier_key: Option<String>,
    },
}

/// Microseconds since the epoch of an RFC 3339 time or a date (its start,
/// UTC).
pub fn parse_time(flag: &str, text: &str) -> anyhow::Result<i64> {
    use time::format_description::well_known::Rfc3339;
    let at = match time::OffsetDateTime::parse(text, &Rfc3339) {
        Ok(at) => at,
        Err(_) => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            match time::Date::parse(text, &format) {
                Ok(date) => date.midnight().assume_utc(),
                Err(_) => anyhow::bail!(
                    "{flag} {text:?} is neither an RFC 3339 time (2026-11-30T12:00:00Z) nor a date (2026-11-30)"
                ),
            }
        }
    };
    Ok(i64::try_from(at.unix_timestamp_nanos() / 1000)?)
}

/// The verifier key: the given text, or the file it names; else that of
/// the configured signing key (never creating one).
pub fn verifier_key(settings: &Settings, given: Option<&str>) -> anyhow::Result<String> {
    if let Some(given) = given {
        let path = Path::new(given);
        let text = if !given.contains('+') && path.exists() {
            std::fs::read_to_string(path)?
        } else {
            given.to_owned()
        };
        return Ok(text.trim().to_owned());
    }
    let path = settings
        .audit_key_file
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("secrets/audit.key"));
    if !path.exists() {
        anyhow::bail!(
            "no verifier key: give --verifier-key (the text `vox audit keygen` printed), or configure the signing \
             key with --audit-key-file ({} does not exist)",
            path.display()
        );
    }
    Ok(auditor::keyfile::load(&path)?.verifier_key())
}

/// Checks `tenant` names a log: `-`, or a tenant the directory knows.
pub fn check_log(known: bool, tenant: &str) -> anyhow::Result<()> {
    if tenant == store::INSTALLATION_LOG || known {
        return Ok(());
    }
    Err(directory::ConfigError::UnknownTenant(tenant.to_owned()).into())
}

pub async fn replay(
    store: &Store,
    tenant: &str,
    since: Option<&str>,
    until: Option<&str>,
    action: Option<String>,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    if let Some(action) = &action {
        if schemas::AuditAction::parse(action).is_none() && action != auditor::UNREADABLE {
            anyhow::bail!("--action {action:?} is not an audit action: README, \"Audit actions\", lists them");
        }
    }
    let range = AuditRange {
        since: since.map(|t| parse_time("--since", t)).transpose()?,
        until: until.map(|t| parse_time("--until", t)).transpose()?,
        action,
        ..Default::default()
    };
    Ok(auditor::replay(store, tenant, &range, out).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc_3339_or_dates_and_anything_else_is_named() {
        assert_eq!(parse_time("--since", "1970-01-02").expect("a date"), 86_400_000_000);
        assert_eq!(
            parse_time("--since", "1970-01-01T00:00:01Z").expect("a time"),
            1_000_000
        );
        assert_eq!(
            parse_time("--until", "1970-01-01T02:00:00+02:00").expect("an offset"),
            0
        );
        let refused = parse_time("--since", "last tuesday").expect_err("refused").to_string();
        assert!(
            refused.contains("--since") && refused.contains("last tuesday"),
            "{refused}"
        );
    }

    #[test]
    fn only_the_installation_or_a_known_tenant_names_a_log() {
        assert!(check_log(false, "-").is_ok());
        assert!(check_log(true, "acme").is_ok());
        assert!(check_log(false, "acme")
            .expect_err("refused")
            .to_string()
            .contains("acme"));
    }
}
