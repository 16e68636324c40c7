//! `vox rules …`: checking, publishing, showing and dry-running a tenant's
//! rule set. A rule set problem is exit code 2 ([`EXIT_INVALID`]) with every
//! problem on stderr; nothing is appended.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use schemas::FeedbackItem;
use serde_json::Value;

/// Exit code of `vox rules validate|publish|test` when the rule set (or the
/// tenant it is for) is refused.
pub const EXIT_INVALID: u8 = 2;

/// Why a rules command refused its input (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{path}: {invalid}")]
    Invalid { path: String, invalid: rules::Invalid },
    #[error("{0}")]
    Config(#[from] directory::ConfigError),
}

/// `Ok` when `tenant` names a tenant of `directory`; else the refusal
/// (exit code 2).
pub fn known_tenant(directory: &directory::Directory, tenant: &str) -> Result<(), Refused> {
    match directory.tenant(tenant) {
        Some(_) => Ok(()),
        None => Err(Refused::Config(directory::ConfigError::UnknownTenant(
            tenant.to_owned(),
        ))),
    }
}

/// Reads a rule set file (at most [`rules::MAX_DOCUMENT_BYTES`] + 1 bytes
/// are read, so an oversized file is refused without being loaded whole).
pub fn read_document(path: &Path) -> anyhow::Result<Result<String, Refused>> {
    use std::io::Read;
    let file = std::fs::File::open(path).with_context(|| format!("cannot read the rule set {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(rules::MAX_DOCUMENT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read the rule set {}", path.display()))?;
    if bytes.len() > rules::MAX_DOCUMENT_BYTES {
        let problem = rules::Problem {
            rule: None,
            message: format!(
                "the document is larger than {} bytes (256 KiB), the most a rule set holds",
                rules::MAX_DOCUMENT_BYTES
            ),
        };
        return Ok(Err(Refused::Invalid {
            path: path.display().to_string(),
            invalid: rules::Invalid {
                problems: vec![problem],
            },
        }));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Ok(text)),
        Err(e) => Ok(Err(Refused::Invalid {
            path: path.display().to_string(),
            invalid: rules::Invalid {
                problems: vec![rules::Problem {
                    rule: None,
                    message: format!("not UTF-8 text (at byte {})", e.utf8_error().valid_up_to()),
                }],
            },
        })),
    }
}

/// Compiles a rule set file as `version`, or says everything wrong with it.
pub fn compile(path: &Path, version: i32) -> anyhow::Result<Result<rules::RuleSet, Refused>> {
    let text = match read_document(path)? {
        Ok(text) => text,
        Err(refused) => return Ok(Err(refused)),
    };
    Ok(
        rules::RuleSet::compile(&text, version).map_err(|invalid| Refused::Invalid {
            path: path.display().to_string(),
            invalid,
        }),
    )
}

/// A one-paragraph summary of a compiled rule set.
pub fn summary(rules: &rules::RuleSet) -> String {
    let detectors: Vec<&str> = rules.detectors().iter().map(|d| d.name()).collect();
    format!(
        "{} rule(s); redaction detectors on: {}",
        rules.rule_count(),
        if detectors.is_empty() {
            "none".to_owned()
        } else {
            detectors.join(", ")
        }
    )
}

/// `vox rules test`: applies `rules` to every item of an NDJSON (or JSON
/// array) file and prints, per item, the tags it would get and the
/// redactions it would make, each with the rule that fired. Items that fail
/// the batch contract are reported and skipped.
pub fn dry_run(rules: &rules::RuleSet, items: &[Value], out: &mut impl Write) -> anyhow::Result<()> {
    let limits = ingest::validate::Limits::default();
    let now = time::OffsetDateTime::now_utc();
    for (i, value) in items.iter().enumerate() {
        let label = ingest::validate::external_id_of(value).map_or_else(|| format!("item #{}", i + 1), str::to_owned);
        let valid = match ingest::validate::validate_item(value, &limits, now) {
            Ok(v) => v,
            Err(e) => {
                writeln!(out, "{label}: not a valid item ({}: {}): skipped", e.field, e.message)?;
                continue;
            }
        };
        let mut item: FeedbackItem = valid.item;
        let before = item.clone();
        let outcome = rules.apply(valid.collection.as_str(), &mut item);
        writeln!(out, "{label} ({}):", valid.collection)?;
        for t in &before.tags {
            writeln!(out, "  tag     {}={}  (client)", t.name, t.value)?;
        }
        for t in &outcome.tags {
            writeln!(out, "  tag     {}={}  <- {}", t.name, t.value, t.rule_id)?;
        }
        for r in &outcome.redactions {
            writeln!(out, "  redact  {} {} x{}  <- {}", r.field, r.kind, r.count, r.rule_id)?;
        }
        if item.text != before.text {
            writeln!(out, "  text    {}", item.text.as_deref().unwrap_or(""))?;
        }
        for (key, value) in &item.metadata {
            if before.metadata.get(key) != Some(value) {
                writeln!(out, "  metadata.{key} = {value}")?;
            }
        }
        if before.tags.is_empty() && outcome.tags.is_empty() && outcome.redactions.is_empty() {
            writeln!(out, "  (no tags, nothing redacted)")?;
        }
    }
    Ok(())
}
