//! Configuration commands (what `vox tenant|collection|client …` call): each
//! appends one configuration event to `vox.config`
//! after checking it against the configuration folded from the log. The
//! append is a compare-and-set against the position the configuration was
//! read at, so two concurrent commands never both "succeed" with one lost:
//! the later one reads again, re-checks and retries (or fails clearly).

use std::time::Duration;

use crate::{ConfigError, ConfigFollower, Directory};
use auth::{Kek, Secret};
use eventlog::{Log, LogError, Output};
use schemas::{
    ClientCredentialIssued, ClientCredentialRevoked, ClientId, ClientSecretRotated, CollectionCreated, CollectionId,
    ConfigEvent, Region, RuleSetPublished, TenantCreated, TenantId, Topic, UserId, UserInvited,
};
use sha2::{Digest, Sha256};

/// How often a configuration write is tried when other writers keep
/// appending first.
const ATTEMPTS: u32 = 8;
/// The longest `--grace` period of a rotation.
pub const MAX_GRACE: Duration = Duration::from_secs(365 * 86_400);

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error("the log failed: {0}")]
    Log(#[from] LogError),
    #[error("encoding the configuration event failed: {0}")]
    Encode(#[from] schemas::CodecError),
    #[error("other configuration writes kept changing the configuration; {ATTEMPTS} attempts failed, nothing was written. Try again")]
    Contended,
    #[error("the grace period is longer than the limit of {} days", MAX_GRACE.as_secs() / 86_400)]
    GraceTooLong,
    /// Not a failure: the document is the live version already.
    #[error("the rule set is byte-identical to live version {0}; nothing was published")]
    Unchanged(i32),
}

/// Appends the event that `build` makes from the current configuration, if
/// it is a valid next step and nobody appended in between (else reads
/// again and retries), with its audit record ([`operator_record`]) in the
/// same append: an operator's change (`vox tenant`, `collection`,
/// `client`, `rules`) is on record or not made. Returns the event written.
pub async fn append_config(
    log: &Log,
    namespace: &str,
    build: impl Fn(&Directory) -> Result<ConfigEvent, AdminError>,
) -> Result<ConfigEvent, AdminError> {
    let audit = Topic::Audit.name(namespace);
    // The region of the tenant the change is about, as the configuration
    // it was checked against has it.
    let region = std::sync::Mutex::new(String::new());
    let build = |directory: &Directory| {
        let event = build(directory)?;
        let tenant_region = match &event {
            ConfigEvent::TenantCreated(e) => Some(e.region.clone()),
            e => directory.tenant(e.tenant_id()).map(|t| t.region.to_string()),
        };
        if let (Some(r), Ok(mut slot)) = (tenant_region, region.lock()) {
            *slot = r;
        }
        Ok(event)
    };
    append_config_with(log, namespace, build, |event| {
        let region = region.lock().map(|r| r.clone()).unwrap_or_default();
        Ok(vec![audit::encode(&audit, &operator_record(event, &region))?])
    })
    .await
}

/// Who runs an admin command, as its audit records name them: the
/// operating-system user (`USER`, else `LOGNAME`, else `uid:<n>` of the
/// process, else `unknown`), an operator of the installation. Not
/// authenticated by Vox: whoever may run `vox` with the installation's
/// credentials is an operator.
pub fn operator_id() -> String {
    let clean = |name: String| -> String {
        name.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            .take(64)
            .collect()
    };
    for variable in ["USER", "LOGNAME"] {
        let name = clean(std::env::var(variable).unwrap_or_default());
        if !name.is_empty() {
            return name;
        }
    }
    // The real uid, from the kernel's view of this process.
    let uid = std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().next())
            .and_then(|uid| uid.parse::<u32>().ok())
    });
    match uid {
        Some(uid) => format!("uid:{uid}"),
        None => "unknown".to_owned(),
    }
}

/// The audit record of an operator's configuration change: actor
/// `operator`/[`operator_id`], the tenant's `region`, the action and
/// resource the event names,
/// never a secret (a credential's record names the client id and version,
/// not the secret or its hash).
pub fn operator_record(event: &ConfigEvent, region: &str) -> schemas::AuditRecord {
    use schemas::{ActorKind, AuditAction, Outcome};
    let (action, resource, details): (AuditAction, String, Vec<(&str, String)>) = match event {
        ConfigEvent::TenantCreated(e) => (
            AuditAction::TenantCreated,
            format!("tenant/{}", e.tenant_id),
            vec![("region", e.region.clone())],
        ),
        ConfigEvent::CollectionCreated(e) => (
            AuditAction::CollectionCreated,
            format!("collection/{}", e.collection),
            Vec::new(),
        ),
        ConfigEvent::ClientCredentialIssued(e) => (
            AuditAction::ClientIssued,
            format!("client/{}", e.client_id),
            vec![("collections", e.collections.join(","))],
        ),
        ConfigEvent::ClientSecretRotated(e) => (
            AuditAction::ClientSecretRotated,
            format!("client/{}", e.client_id),
            vec![("secret_version", e.secret_version.to_string())],
        ),
        ConfigEvent::ClientCredentialRevoked(e) => (
            AuditAction::ClientRevoked,
            format!("client/{}", e.client_id),
            vec![(
                "secret_version",
                e.secret_version.map_or("all".to_owned(), |v| v.to_string()),
            )],
        ),
        ConfigEvent::RuleSetPublished(e) => (AuditAction::RulesPublished, format!("rules/{}", e.version), Vec::new()),
        _ => (AuditAction::ConfigChanged, "config".to_owned(), Vec::new()),
    };
    audit::with_resource(
        audit::record(
            Some(event.tenant_id()),
            ActorKind::Operator,
            &operator_id(),
            action,
            Outcome::Success,
            None,
            region,
            details.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        ),
        &resource,
    )
}

/// [`append_config`], with records for other topics (the change's audit
/// record on `vox.audit`) that `also` makes from the event: appended in the
/// same compare-and-set, so that the change and its record are durable
/// together or not at all.
pub async fn append_config_with(
    log: &Log,
    namespace: &str,
    build: impl Fn(&Directory) -> Result<ConfigEvent, AdminError>,
    also: impl Fn(&ConfigEvent) -> Result<Vec<Output>, AdminError>,
) -> Result<ConfigEvent, AdminError> {
    let topics: Vec<String> = Topic::ALL.iter().map(|t| t.name(namespace)).collect();
    log.ensure_topics(&topics).await?;
    let topic = Topic::Config.name(namespace);
    for attempt in 0..ATTEMPTS {
        let config = ConfigFollower::new(log, &topic).await?;
        let event = build(config.directory())?;
        config.directory().check(&event)?;
        let mut outputs = vec![Output {
            topic: topic.clone(),
            key: event.tenant_id().as_bytes().to_vec(),
            payload: event.encode()?,
        }];
        outputs.extend(also(&event)?);
        match log.append_if_unchanged(&topic, config.positions(), outputs).await {
            Ok(()) => return Ok(event),
            Err(LogError::Conflict(_)) => {
                tracing::info!(attempt, "the configuration changed while writing; reading it again");
                tokio::time::sleep(Duration::from_millis(20 + 40 * u64::from(attempt))).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(AdminError::Contended)
}

/// The configuration as the log holds it now.
pub async fn directory(log: &Log, namespace: &str) -> Result<Directory, AdminError> {
    let topics: Vec<String> = Topic::ALL.iter().map(|t| t.name(namespace)).collect();
    log.ensure_topics(&topics).await?;
    Ok(ConfigFollower::new(log, &Topic::Config.name(namespace))
        .await?
        .directory()
        .clone())
}

pub async fn create_tenant(
    log: &Log,
    namespace: &str,
    id: &TenantId,
    name: &str,
    region: &Region,
) -> Result<(), AdminError> {
    let event = TenantCreated {
        tenant_id: id.into(),
        name: name.into(),
        region: region.into(),
        created_at: schemas::clock::now_micros(),
    };
    append_config(log, namespace, |_| Ok(ConfigEvent::TenantCreated(event.clone()))).await?;
    Ok(())
}

pub async fn create_collection(
    log: &Log,
    namespace: &str,
    tenant: &TenantId,
    id: &CollectionId,
    name: &str,
) -> Result<(), AdminError> {
    let event = CollectionCreated {
        tenant_id: tenant.into(),
        collection: id.into(),
        name: name.into(),
        created_at: schemas::clock::now_micros(),
    };
    append_config(log, namespace, |_| Ok(ConfigEvent::CollectionCreated(event.clone()))).await?;
    Ok(())
}

/// A credential as shown to the user, once.
#[derive(Debug)]
pub struct IssuedCredential {
    pub client_id: String,
    pub secret_version: i32,
    pub secret: Secret,
}

/// Issues a client id and a first secret, sealed under `kek` in the log.
pub async fn create_client(
    log: &Log,
    namespace: &str,
    kek: &Kek,
    tenant: &TenantId,
    name: &str,
    collections: &[CollectionId],
) -> Result<IssuedCredential, AdminError> {
    let client_id = auth::new_client_id();
    let secret = Secret::new(auth::new_secret());
    let event = ClientCredentialIssued {
        tenant_id: tenant.into(),
        client_id: client_id.clone(),
        name: name.into(),
        collections: collections.iter().map(String::from).collect(),
        secret_version: 1,
        secret_sha256: Sha256::digest(secret.expose().as_bytes()).to_vec(),
        issued_at: schemas::clock::now_micros(),
        sealed_secret: Some(kek.seal(tenant.as_str(), &client_id, 1, secret.expose())),
        kek_id: Some(kek.id()),
    };
    append_config(log, namespace, |_| {
        Ok(ConfigEvent::ClientCredentialIssued(event.clone()))
    })
    .await?;
    Ok(IssuedCredential {
        client_id,
        secret_version: 1,
        secret,
    })
}

/// Adds a new secret version. The old ones stay valid until revoked, or,
/// with a `grace` period (at most [`MAX_GRACE`]), until it ends.
pub async fn rotate_client(
    log: &Log,
    namespace: &str,
    kek: &Kek,
    tenant: &TenantId,
    client_id: &ClientId,
    grace: Option<Duration>,
) -> Result<IssuedCredential, AdminError> {
    let grace_micros = match grace {
        Some(g) if g > MAX_GRACE => return Err(AdminError::GraceTooLong),
        Some(g) => Some(i64::try_from(g.as_micros()).map_err(|_| AdminError::GraceTooLong)?),
        None => None,
    };
    let secret = Secret::new(auth::new_secret());
    let event = append_config(log, namespace, |directory| {
        let version = directory
            .client(client_id.as_str())
            .filter(|c| &c.tenant_id == tenant)
            .ok_or_else(|| ConfigError::UnknownClient(client_id.to_string()))?
            .highest_version
            + 1;
        let now = schemas::clock::now_micros();
        Ok(ConfigEvent::ClientSecretRotated(ClientSecretRotated {
            tenant_id: tenant.into(),
            client_id: client_id.into(),
            secret_version: version,
            secret_sha256: Sha256::digest(secret.expose().as_bytes()).to_vec(),
            rotated_at: now,
            sealed_secret: Some(kek.seal(tenant.as_str(), client_id.as_str(), version, secret.expose())),
            kek_id: Some(kek.id()),
            previous_valid_until: grace_micros
                .map(|g| now.checked_add(g).ok_or(AdminError::GraceTooLong))
                .transpose()?,
        }))
    })
    .await?;
    let ConfigEvent::ClientSecretRotated(rotated) = event else {
        unreachable!("the builder makes a rotation")
    };
    Ok(IssuedCredential {
        client_id: client_id.into(),
        secret_version: rotated.secret_version,
        secret,
    })
}

/// Revokes one secret version, or the whole credential when `version` is None.
pub async fn revoke_client(
    log: &Log,
    namespace: &str,
    tenant: &TenantId,
    client_id: &ClientId,
    version: Option<i32>,
) -> Result<(), AdminError> {
    let event = ClientCredentialRevoked {
        tenant_id: tenant.into(),
        client_id: client_id.into(),
        secret_version: version,
        revoked_at: schemas::clock::now_micros(),
    };
    append_config(log, namespace, |_| {
        Ok(ConfigEvent::ClientCredentialRevoked(event.clone()))
    })
    .await?;
    Ok(())
}

/// What publishing a rule set did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// The document is live as this new version.
    New(i32),
    /// The document is byte-identical to this live version: nothing appended.
    Unchanged(i32),
}

/// Publishes `document` as the tenant's next rule set version (the whole
/// rule set at once). The document is checked and compiled first; an
/// invalid one is refused with every problem, and nothing is appended.
pub async fn publish_rules(
    log: &Log,
    namespace: &str,
    tenant: &TenantId,
    document: &str,
    published_by: Option<&str>,
) -> Result<Published, AdminError> {
    rules::RuleSet::compile(document, 1).map_err(|invalid| ConfigError::InvalidRuleSet {
        tenant: tenant.to_string(),
        invalid,
    })?;
    let written = append_config(log, namespace, |directory| {
        directory.existing_tenant(tenant.as_str())?;
        let live = directory.rule_set_versions(tenant.as_str()).last();
        if let Some(live) = live.filter(|l| &*l.document == document) {
            return Err(AdminError::Unchanged(live.version));
        }
        Ok(ConfigEvent::RuleSetPublished(RuleSetPublished {
            tenant_id: tenant.into(),
            version: live.map_or(0, |l| l.version) + 1,
            document: document.to_owned(),
            published_at: schemas::clock::now_micros(),
            published_by: published_by.map(str::to_owned),
        }))
    })
    .await;
    match written {
        Ok(ConfigEvent::RuleSetPublished(p)) => Ok(Published::New(p.version)),
        Ok(_) => unreachable!("the builder makes a rule set event"),
        Err(AdminError::Unchanged(version)) => Ok(Published::Unchanged(version)),
        Err(e) => Err(e),
    }
}

/// Appends one configuration event (checked against the configuration
/// read from the log, compare-and-set; see [`append_config`]) with `also`
/// (its audit records) in the same append.
pub async fn change(log: &Log, namespace: &str, event: ConfigEvent, also: Vec<Output>) -> Result<(), AdminError> {
    append_config_with(log, namespace, |_| Ok(event.clone()), |_| Ok(also.clone())).await?;
    Ok(())
}

/// A written invitation.
#[derive(Debug, Clone)]
pub struct Invited {
    pub user_id: UserId,
    pub expires_at: i64,
    /// A fresh invitation for someone invited before who had not accepted.
    pub renewed: bool,
}

/// An invitation to write: `email` to `scope` (a tenant, or
/// `schemas::INSTALLATION` for a support user) with `role`; the token's
/// SHA-256; who invites.
#[derive(Debug, Clone, Copy)]
pub struct NewInvitation<'a> {
    pub scope: &'a str,
    pub email: &'a str,
    pub role: crate::Role,
    pub invitation_sha256: [u8; 32],
    pub changed_by: &'a str,
}

/// Invites `email` to `scope` (a tenant, or `schemas::INSTALLATION` for a
/// support user) with `role`; the caller made the invitation token and
/// passes only its SHA-256. Someone invited before who has not accepted
/// keeps their user id and gets this new invitation (the old one stops
/// working); an e-mail of an active or disabled user is refused. `also`
/// makes the records appended with it (its audit record) from the event and
/// whether it renews a pending invitation.
pub async fn invite_user(
    log: &Log,
    namespace: &str,
    invitation: NewInvitation<'_>,
    also: impl Fn(&UserInvited, bool) -> Result<Vec<Output>, AdminError>,
) -> Result<Invited, AdminError> {
    let now = schemas::clock::now_micros();
    let fresh_id = auth::new_id("usr_");
    let written = append_config_with(
        log,
        namespace,
        |d| {
            let pending = d
                .user_by_email(invitation.scope, invitation.email)
                .filter(|u| u.status == crate::UserStatus::Invited)
                .map(|u| u.id.to_string());
            Ok(ConfigEvent::UserInvited(UserInvited {
                tenant_id: invitation.scope.to_owned(),
                user_id: pending.unwrap_or_else(|| fresh_id.clone()),
                email: invitation.email.trim().to_owned(),
                role: invitation.role.as_str().to_owned(),
                invitation_sha256: invitation.invitation_sha256.to_vec(),
                invited_at: now,
                expires_at: now + crate::people::INVITATION_MICROS,
                changed_by: invitation.changed_by.to_owned(),
            }))
        },
        |event| match event {
            ConfigEvent::UserInvited(invited) => also(invited, invited.user_id != fresh_id),
            _ => Ok(Vec::new()),
        },
    )
    .await?;
    let ConfigEvent::UserInvited(invited) = written else {
        unreachable!("the builder makes an invitation")
    };
    Ok(Invited {
        user_id: UserId::parse(&invited.user_id).map_err(ConfigError::from)?,
        expires_at: invited.expires_at,
        renewed: invited.user_id != fresh_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::GroupChanged;

    fn note(topic: &str, text: &str) -> Output {
        Output {
            topic: topic.to_owned(),
            key: b"acme".to_vec(),
            payload: text.as_bytes().to_vec(),
        }
    }

    fn group(change: &str) -> ConfigEvent {
        ConfigEvent::GroupChanged(GroupChanged {
            tenant_id: "acme".into(),
            group_id: "stores".into(),
            change: change.into(),
            name: Some("Stores".into()),
            user_id: None,
            changed_at: 1,
            changed_by: "operator".into(),
        })
    }

    /// An operator is always named (here the test's user, or its uid),
    /// with nothing but the characters an id may have.
    #[test]
    fn the_operator_is_named() {
        let id = operator_id();
        assert!(!id.is_empty() && id != "unknown", "{id}");
        assert!(
            id.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c)),
            "{id}"
        );
    }

    /// A change and the records that go with it (its audit record) are
    /// appended together, or, when the change is refused, neither is.
    #[tokio::test]
    async fn a_change_and_its_records_are_one_append() {
        let dir = tempfile::tempdir().expect("dir");
        let log = Log::Sqlite(
            eventlog::SqliteLog::open(&dir.path().join("log.sqlite"))
                .await
                .expect("log"),
        );
        let audit = Topic::Audit.name("");
        create_tenant(
            &log,
            "",
            &TenantId::parse("acme").expect("id"),
            "Acme",
            &Region::parse("eu").expect("region"),
        )
        .await
        .expect("tenant");
        change(&log, "", group("created"), vec![note(&audit, "created")])
            .await
            .expect("a valid change");
        let refused = change(&log, "", group("created"), vec![note(&audit, "created again")]).await;
        assert!(
            matches!(refused, Err(AdminError::Invalid(ConfigError::GroupExists { .. }))),
            "{refused:?}"
        );
        let mut records = log.read_all(&audit).await.expect("read").into_iter();
        // The operator's own change first, with its record.
        let tenant_created: schemas::AuditRecord =
            schemas::decode(&records.next().expect("the tenant's record").payload).expect("an audit record");
        assert_eq!(tenant_created.action, "tenant.created");
        let audit_records = records
            .map(|r| String::from_utf8(r.payload).expect("text"))
            .collect::<Vec<_>>();
        assert_eq!(audit_records, ["created"], "the refused change left no record");
        assert!(directory(&log, "")
            .await
            .expect("directory")
            .group("acme", "stores")
            .is_some());
    }
}
