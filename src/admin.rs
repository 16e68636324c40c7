//! Admin commands: each appends one configuration event to `vox.config`
//! after checking it against the configuration folded from the log.

use auth::Kek;
use eventlog::{Log, LogError, Output};
use schemas::{
    ClientCredentialIssued, ClientCredentialRevoked, ClientSecretRotated, CollectionCreated, ConfigEvent,
    TenantCreated, Topic,
};
use sha2::{Digest, Sha256};
use tenants::{ConfigError, ConfigFollower};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error("the log failed: {0}")]
    Log(#[from] LogError),
    #[error("encoding the configuration event failed: {0}")]
    Encode(#[from] schemas::CodecError),
}

/// Appends `event` to `vox.config` if it is a valid next step.
pub async fn append_config(log: &Log, namespace: &str, event: ConfigEvent) -> Result<(), AdminError> {
    let topics: Vec<String> = Topic::ALL.iter().map(|t| t.name(namespace)).collect();
    log.ensure_topics(&topics).await?;
    let config = ConfigFollower::new(log, &Topic::Config.name(namespace)).await?;
    config.directory().check(&event)?;
    let output = Output {
        topic: Topic::Config.name(namespace),
        key: event.tenant_id().as_bytes().to_vec(),
        payload: event.encode()?,
    };
    log.append(vec![output]).await?;
    Ok(())
}

pub async fn create_tenant(log: &Log, namespace: &str, id: &str, name: &str, region: &str) -> Result<(), AdminError> {
    let event = TenantCreated {
        tenant_id: id.into(),
        name: name.into(),
        region: region.into(),
        created_at: now_micros(),
    };
    append_config(log, namespace, ConfigEvent::TenantCreated(event)).await
}

pub async fn create_collection(
    log: &Log,
    namespace: &str,
    tenant: &str,
    id: &str,
    name: &str,
) -> Result<(), AdminError> {
    let event = CollectionCreated {
        tenant_id: tenant.into(),
        collection: id.into(),
        name: name.into(),
        created_at: now_micros(),
    };
    append_config(log, namespace, ConfigEvent::CollectionCreated(event)).await
}

/// A credential as shown to the user, once.
#[derive(Debug)]
pub struct IssuedCredential {
    pub client_id: String,
    pub secret_version: i32,
    pub secret: String,
}

/// Issues a client id and a first secret, sealed under `kek` in the log.
pub async fn create_client(
    log: &Log,
    namespace: &str,
    kek: &Kek,
    tenant: &str,
    name: &str,
    collections: &[String],
) -> Result<IssuedCredential, AdminError> {
    let client_id = auth::new_client_id();
    let secret = auth::new_secret();
    let event = ClientCredentialIssued {
        tenant_id: tenant.into(),
        client_id: client_id.clone(),
        name: name.into(),
        collections: collections.to_vec(),
        secret_version: 1,
        secret_sha256: Sha256::digest(secret.as_bytes()).to_vec(),
        issued_at: now_micros(),
        sealed_secret: Some(kek.seal(tenant, &client_id, 1, &secret)),
        kek_id: Some(kek.id()),
    };
    append_config(log, namespace, ConfigEvent::ClientCredentialIssued(event)).await?;
    Ok(IssuedCredential {
        client_id,
        secret_version: 1,
        secret,
    })
}

/// Adds a new secret version. The old ones stay valid until revoked, or,
/// with a `grace` period, until it ends.
pub async fn rotate_client(
    log: &Log,
    namespace: &str,
    kek: &Kek,
    tenant: &str,
    client_id: &str,
    grace: Option<std::time::Duration>,
) -> Result<IssuedCredential, AdminError> {
    let config = ConfigFollower::new(log, &Topic::Config.name(namespace)).await?;
    let version = config
        .directory()
        .client(client_id)
        .filter(|c| c.tenant_id == tenant)
        .ok_or_else(|| ConfigError::UnknownClient(client_id.to_owned()))?
        .highest_version
        + 1;
    let secret = auth::new_secret();
    let now = now_micros();
    let event = ClientSecretRotated {
        tenant_id: tenant.into(),
        client_id: client_id.into(),
        secret_version: version,
        secret_sha256: Sha256::digest(secret.as_bytes()).to_vec(),
        rotated_at: now,
        sealed_secret: Some(kek.seal(tenant, client_id, version, &secret)),
        kek_id: Some(kek.id()),
        previous_valid_until: grace.map(|g| now + g.as_micros() as i64),
    };
    append_config(log, namespace, ConfigEvent::ClientSecretRotated(event)).await?;
    Ok(IssuedCredential {
        client_id: client_id.into(),
        secret_version: version,
        secret,
    })
}

/// Revokes one secret version, or the whole credential when `version` is None.
pub async fn revoke_client(
    log: &Log,
    namespace: &str,
    tenant: &str,
    client_id: &str,
    version: Option<i32>,
) -> Result<(), AdminError> {
    let event = ClientCredentialRevoked {
        tenant_id: tenant.into(),
        client_id: client_id.into(),
        secret_version: version,
        revoked_at: now_micros(),
    };
    append_config(log, namespace, ConfigEvent::ClientCredentialRevoked(event)).await
}

fn now_micros() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64
}
