//! Rust types of the events in `schemas/avro/`. Field names and order follow
//! the `.avsc` files; timestamps are microseconds since the Unix epoch (UTC).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::codec::{Event, SchemaVersion};

macro_rules! event {
    ($ty:ty, $name:literal, [$($file:literal),+ $(,)?]) => {
        impl Event for $ty {
            const NAME: &'static str = $name;
            fn versions() -> &'static [SchemaVersion] {
                static VERSIONS: OnceLock<Vec<SchemaVersion>> = OnceLock::new();
                VERSIONS.get_or_init(|| {
                    SchemaVersion::parse_all(&[$(include_str!(concat!("../avro/", $file))),+])
                })
            }
        }
    };
}

// ---------------------------------------------------------------- feedback

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Survey,
    Email,
    Chat,
    Review,
    SupportTicket,
    Social,
    Other,
}

impl Channel {
    pub const ALL: [Channel; 7] = [
        Channel::Survey,
        Channel::Email,
        Channel::Chat,
        Channel::Review,
        Channel::SupportTicket,
        Channel::Social,
        Channel::Other,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Survey => "survey",
            Channel::Email => "email",
            Channel::Chat => "chat",
            Channel::Review => "review",
            Channel::SupportTicket => "support_ticket",
            Channel::Social => "social",
            Channel::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Nps,
    Csat,
    Ces,
    Rating,
    Custom,
}

impl MetricKind {
    pub const ALL: [MetricKind; 5] = [
        MetricKind::Nps,
        MetricKind::Csat,
        MetricKind::Ces,
        MetricKind::Rating,
        MetricKind::Custom,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Nps => "nps",
            MetricKind::Csat => "csat",
            MetricKind::Ces => "ces",
            MetricKind::Rating => "rating",
            MetricKind::Custom => "custom",
        }
    }

    /// The scale every metric of this kind is on: NPS 0–10, CSAT and rating
    /// 1–5, CES 1–7; a custom metric brings its own (None).
    pub fn fixed_scale(self) -> Option<(f64, f64)> {
        match self {
            MetricKind::Nps => Some((0.0, 10.0)),
            MetricKind::Csat | MetricKind::Rating => Some((1.0, 5.0)),
            MetricKind::Ces => Some((1.0, 7.0)),
            MetricKind::Custom => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub kind: MetricKind,
    pub value: f64,
    pub scale_min: f64,
    pub scale_max: f64,
}

/// The longest tag name, in characters (client tags and rule tags alike).
pub const MAX_TAG_NAME_CHARS: usize = 128;
/// The longest tag value, in characters.
pub const MAX_TAG_VALUE_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceTag {
    pub name: String,
    pub value: String,
}

/// One piece of customer feedback as the customer system sent it, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackItem {
    pub occurred_at: i64,
    pub channel: Channel,
    pub text: Option<String>,
    pub language: Option<String>,
    pub metrics: Vec<Metric>,
    pub respondent: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub tags: Vec<SourceTag>,
}

/// Written by ingest to `vox.feedback.raw` once the item is durable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackReceived {
    pub event_id: String,
    pub tenant_id: String,
    pub collection: String,
    pub external_id: String,
    pub client_id: String,
    pub region: String,
    pub batch_id: String,
    pub received_at: i64,
    pub item: FeedbackItem,
}
event!(
    FeedbackReceived,
    "vox.events.FeedbackReceived",
    ["feedback_received.v1.avsc"]
);

/// The id of a feedback item: a UUIDv5 of tenant, collection and external id,
/// so that a retried item always gets the same id.
pub fn feedback_event_id(tenant_id: &str, collection: &str, external_id: &str) -> String {
    // A fixed namespace for Vox feedback ids (a random v4, chosen once).
    const NAMESPACE: uuid::Uuid = uuid::uuid!("5f0b7d3e-2c1a-4d8e-9a57-3c6f1e2b9d40");
    let name = format!("{}\u{0}{}\u{0}{}", tenant_id, collection, external_id);
    uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
}

/// The log key of a feedback item: all events about one item share a key, so
/// they stay in order on one partition.
pub fn feedback_key(tenant_id: &str, collection: &str, external_id: &str) -> Vec<u8> {
    format!("{tenant_id}/{collection}/{external_id}").into_bytes()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagSource {
    Client,
    Rule,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedTag {
    pub name: String,
    pub value: String,
    pub source: TagSource,
    pub rule_id: Option<String>,
    pub rule_version: Option<i32>,
}

/// What redaction replaced in one field (never the original text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redaction {
    /// `text` or `metadata.<key>`.
    pub field: String,
    /// Since v2: the detector (`email`, `phone`, …, or `custom`).
    #[serde(default)]
    pub kind: String,
    /// Since v2: how many spans were replaced.
    #[serde(default = "one")]
    pub count: i32,
    pub rule_id: String,
    pub rule_version: i32,
}

fn one() -> i32 {
    1
}

/// Written by the processor to `vox.feedback.processed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackProcessed {
    pub event_id: String,
    pub tenant_id: String,
    pub collection: String,
    pub external_id: String,
    pub client_id: String,
    pub batch_id: String,
    pub received_region: String,
    pub processed_region: String,
    pub received_at: i64,
    pub processed_at: i64,
    pub item: FeedbackItem,
    /// Since v2: the rule set version applied (0: the defaults); None for
    /// events written before rule sets existed.
    #[serde(default)]
    pub rule_set_version: Option<i32>,
    pub applied_tags: Vec<AppliedTag>,
    pub redactions: Vec<Redaction>,
}
event!(
    FeedbackProcessed,
    "vox.events.FeedbackProcessed",
    ["feedback_processed.v1.avsc", "feedback_processed.v2.avsc"]
);

/// Dead letter written by the processor to `vox.feedback.rejected`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRejected {
    pub event_id: Option<String>,
    pub tenant_id: Option<String>,
    pub collection: Option<String>,
    pub external_id: Option<String>,
    pub reason_code: String,
    pub reason: String,
    pub processed_region: String,
    pub rejected_at: i64,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    #[serde(with = "apache_avro::serde_avro_bytes")]
    pub input: Vec<u8>,
}
event!(
    FeedbackRejected,
    "vox.events.FeedbackRejected",
    ["feedback_rejected.v1.avsc"]
);

// ---------------------------------------------------------------- configuration

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantCreated {
    pub tenant_id: String,
    pub name: String,
    pub region: String,
    pub created_at: i64,
}
event!(TenantCreated, "vox.config.TenantCreated", ["tenant_created.v1.avsc"]);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionCreated {
    pub tenant_id: String,
    pub collection: String,
    pub name: String,
    pub created_at: i64,
}
event!(
    CollectionCreated,
    "vox.config.CollectionCreated",
    ["collection_created.v1.avsc"]
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientCredentialIssued {
    pub tenant_id: String,
    pub client_id: String,
    pub name: String,
    pub collections: Vec<String>,
    pub secret_version: i32,
    #[serde(with = "apache_avro::serde_avro_bytes")]
    pub secret_sha256: Vec<u8>,
    pub issued_at: i64,
    /// Since v2: the secret sealed under the key-encryption key.
    #[serde(default, with = "apache_avro::serde_avro_bytes_opt")]
    pub sealed_secret: Option<Vec<u8>>,
    /// Since v2: which key-encryption key sealed it.
    #[serde(default)]
    pub kek_id: Option<String>,
}
event!(
    ClientCredentialIssued,
    "vox.config.ClientCredentialIssued",
    ["client_credential_issued.v1.avsc", "client_credential_issued.v2.avsc"]
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientSecretRotated {
    pub tenant_id: String,
    pub client_id: String,
    pub secret_version: i32,
    #[serde(with = "apache_avro::serde_avro_bytes")]
    pub secret_sha256: Vec<u8>,
    pub rotated_at: i64,
    /// Since v2: the secret sealed under the key-encryption key.
    #[serde(default, with = "apache_avro::serde_avro_bytes_opt")]
    pub sealed_secret: Option<Vec<u8>>,
    /// Since v2: which key-encryption key sealed it.
    #[serde(default)]
    pub kek_id: Option<String>,
    /// Since v2: older versions stop verifying at this time (microseconds).
    #[serde(default)]
    pub previous_valid_until: Option<i64>,
}
event!(
    ClientSecretRotated,
    "vox.config.ClientSecretRotated",
    ["client_secret_rotated.v1.avsc", "client_secret_rotated.v2.avsc"]
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientCredentialRevoked {
    pub tenant_id: String,
    pub client_id: String,
    pub secret_version: Option<i32>,
    pub revoked_at: i64,
}
event!(
    ClientCredentialRevoked,
    "vox.config.ClientCredentialRevoked",
    ["client_credential_revoked.v1.avsc"]
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSetPublished {
    pub tenant_id: String,
    pub version: i32,
    pub document: String,
    pub published_at: i64,
    #[serde(default)]
    pub published_by: Option<String>,
}
event!(
    RuleSetPublished,
    "vox.config.RuleSetPublished",
    ["rule_set_published.v1.avsc"]
);

// ---------------------------------------------------------------- people

/// The scope of installation-level users (the vendor's support staff) in
/// the `tenant_id` field of the user events.
pub const INSTALLATION: &str = "-";

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct UserInvited {
    pub tenant_id: String,
    pub user_id: String,
    pub email: String,
    pub role: String,
    #[serde(with = "apache_avro::serde_avro_bytes")]
    pub invitation_sha256: Vec<u8>,
    pub invited_at: i64,
    pub expires_at: i64,
    pub changed_by: String,
}
event!(UserInvited, "vox.config.UserInvited", ["user_invited.v1.avsc"]);

/// Never prints the invitation's hash.
impl std::fmt::Debug for UserInvited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserInvited")
            .field("tenant_id", &self.tenant_id)
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("invited_at", &self.invited_at)
            .field("expires_at", &self.expires_at)
            .field("changed_by", &self.changed_by)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct UserPasswordSet {
    pub tenant_id: String,
    pub user_id: String,
    #[serde(with = "apache_avro::serde_avro_bytes")]
    pub sealed_hash: Vec<u8>,
    pub kek_id: String,
    pub cause: String,
    #[serde(default, with = "apache_avro::serde_avro_bytes_opt")]
    pub invitation_sha256: Option<Vec<u8>>,
    pub set_at: i64,
    pub changed_by: String,
}
event!(
    UserPasswordSet,
    "vox.config.UserPasswordSet",
    ["user_password_set.v1.avsc"]
);

/// Never prints the sealed hash.
impl std::fmt::Debug for UserPasswordSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPasswordSet")
            .field("tenant_id", &self.tenant_id)
            .field("user_id", &self.user_id)
            .field(
                "sealed_hash",
                &format_args!("<{} sealed bytes>", self.sealed_hash.len()),
            )
            .field("cause", &self.cause)
            .field("set_at", &self.set_at)
            .field("changed_by", &self.changed_by)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserChanged {
    pub tenant_id: String,
    pub user_id: String,
    pub change: String,
    #[serde(default)]
    pub role: Option<String>,
    pub changed_at: i64,
    pub changed_by: String,
}
event!(UserChanged, "vox.config.UserChanged", ["user_changed.v1.avsc"]);

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct UserTotpSet {
    pub tenant_id: String,
    pub user_id: String,
    #[serde(default, with = "apache_avro::serde_avro_bytes_opt")]
    pub sealed_seed: Option<Vec<u8>>,
    #[serde(default)]
    pub kek_id: Option<String>,
    pub recovery_sha256: Vec<ByteString>,
    pub changed_at: i64,
    pub changed_by: String,
}
event!(UserTotpSet, "vox.config.UserTotpSet", ["user_totp_set.v1.avsc"]);

/// Never prints the sealed seed or the recovery code hashes.
impl std::fmt::Debug for UserTotpSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserTotpSet")
            .field("tenant_id", &self.tenant_id)
            .field("user_id", &self.user_id)
            .field("enrolled", &self.sealed_seed.is_some())
            .field("recovery_codes", &self.recovery_sha256.len())
            .field("changed_at", &self.changed_at)
            .field("changed_by", &self.changed_by)
            .finish_non_exhaustive()
    }
}

/// An Avro `bytes` value inside an array.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ByteString(#[serde(with = "apache_avro::serde_avro_bytes")] pub Vec<u8>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantPolicySet {
    pub tenant_id: String,
    pub two_factor_required: bool,
    pub changed_at: i64,
    pub changed_by: String,
}
event!(
    TenantPolicySet,
    "vox.config.TenantPolicySet",
    ["tenant_policy_set.v1.avsc"]
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupChanged {
    pub tenant_id: String,
    pub group_id: String,
    pub change: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    pub changed_at: i64,
    pub changed_by: String,
}
event!(GroupChanged, "vox.config.GroupChanged", ["group_changed.v1.avsc"]);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupportGrantChanged {
    pub tenant_id: String,
    pub grant_id: String,
    pub change: String,
    #[serde(default)]
    pub support_user_id: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub expires_at: Option<i64>,
    pub changed_at: i64,
    pub changed_by: String,
}
event!(
    SupportGrantChanged,
    "vox.config.SupportGrantChanged",
    ["support_grant_changed.v1.avsc"]
);

/// A grant of feedback access to a user or group of a tenant, or its
/// revocation (the directory folds them; `access` states the rule).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessGrantChanged {
    pub tenant_id: String,
    pub grant_id: String,
    /// `granted` or `revoked`.
    pub change: String,
    /// `user` or `group` (granted).
    #[serde(default)]
    pub principal_kind: Option<String>,
    #[serde(default)]
    pub principal_id: Option<String>,
    /// None: every collection of the tenant.
    #[serde(default)]
    pub collection: Option<String>,
    /// `read` or `export` (granted).
    #[serde(default)]
    pub level: Option<String>,
    /// `name:value` or `name`; empty: no filter.
    #[serde(default)]
    pub tag_filter: Vec<String>,
    pub changed_at: i64,
    pub changed_by: String,
}
event!(
    AccessGrantChanged,
    "vox.config.AccessGrantChanged",
    ["access_grant_changed.v1.avsc"]
);

/// A tenant's restricted tag names, replaced whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestrictedTagsSet {
    pub tenant_id: String,
    pub tag_names: Vec<String>,
    pub changed_at: i64,
    pub changed_by: String,
}
event!(
    RestrictedTagsSet,
    "vox.config.RestrictedTagsSet",
    ["restricted_tags_set.v1.avsc"]
);

/// A tenant's single sign-on (SAML 2.0), replaced whole: its identity
/// provider (from the IdP's metadata) and the tenant's choices.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SsoConfigured {
    pub tenant_id: String,
    /// `false`: single sign-on is off (the rest is kept for the record).
    pub enabled: bool,
    pub idp_entity_id: String,
    /// The IdP's single sign-on URL (HTTP-Redirect binding).
    pub sso_url: String,
    /// The IdP's signing certificates (DER), several during a rollover.
    pub certificates: Vec<ByteString>,
    /// Password logins of the tenant's users are refused (owners keep the
    /// audited break-glass login).
    pub required: bool,
    /// Responses that answer no request of Vox (IdP-initiated) are accepted.
    pub idp_initiated: bool,
    /// The attribute that holds the user's e-mail; `None`: the NameID.
    #[serde(default)]
    pub email_attribute: Option<String>,
    /// The role of users created at their first login; `None`: no
    /// just-in-time provisioning (unknown users are refused).
    #[serde(default)]
    pub provision_role: Option<String>,
    /// The attribute whose values map to Vox groups; `None`: SSO manages
    /// no group memberships.
    #[serde(default)]
    pub groups_attribute: Option<String>,
    pub group_map: Vec<SsoGroupMapping>,
    pub changed_at: i64,
    pub changed_by: String,
}
event!(SsoConfigured, "vox.config.SsoConfigured", ["sso_configured.v1.avsc"]);

/// Prints the certificates' count, not their bytes.
impl std::fmt::Debug for SsoConfigured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoConfigured")
            .field("tenant_id", &self.tenant_id)
            .field("enabled", &self.enabled)
            .field("idp_entity_id", &self.idp_entity_id)
            .field("sso_url", &self.sso_url)
            .field("certificates", &self.certificates.len())
            .field("required", &self.required)
            .field("idp_initiated", &self.idp_initiated)
            .field("email_attribute", &self.email_attribute)
            .field("provision_role", &self.provision_role)
            .field("groups_attribute", &self.groups_attribute)
            .field("group_map", &self.group_map)
            .field("changed_at", &self.changed_at)
            .field("changed_by", &self.changed_by)
            .finish()
    }
}

/// One value of the groups attribute and the Vox group it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoGroupMapping {
    pub idp_group: String,
    pub group_id: String,
}

/// A user created by their first single sign-on (just-in-time
/// provisioning): active at once, with no password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserProvisioned {
    pub tenant_id: String,
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub provisioned_at: i64,
    pub changed_by: String,
}
event!(
    UserProvisioned,
    "vox.config.UserProvisioned",
    ["user_provisioned.v1.avsc"]
);

/// The groups single sign-on makes a user a member of, replaced whole at
/// each login (memberships added by hand are not touched).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SsoGroupsSet {
    pub tenant_id: String,
    pub user_id: String,
    pub group_ids: Vec<String>,
    pub changed_at: i64,
    pub changed_by: String,
}
event!(SsoGroupsSet, "vox.config.SsoGroupsSet", ["sso_groups_set.v1.avsc"]);

/// Declares [`ConfigEvent]`], the events that may appear on `vox.config`,
/// from one list: the enum, the log key (the tenant), encoding, and decoding
/// by the writer schema's fingerprint. Adding a configuration event adds a
/// line here (and its `check`/`apply` in the directory).
macro_rules! config_events {
    ($($variant:ident),+ $(,)?) => {
        /// Every event that may appear on `vox.config`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum ConfigEvent {
            $($variant($variant),)+
        }

        $(impl From<$variant> for ConfigEvent {
            fn from(e: $variant) -> ConfigEvent {
                ConfigEvent::$variant(e)
            }
        })+

        impl ConfigEvent {
            /// The tenant the event belongs to (the log key of `vox.config`).
            pub fn tenant_id(&self) -> &str {
                match self {
                    $(ConfigEvent::$variant(e) => &e.tenant_id,)+
                }
            }

            pub fn encode(&self) -> Result<Vec<u8>, crate::CodecError> {
                match self {
                    $(ConfigEvent::$variant(e) => crate::encode(e),)+
                }
            }

            /// Decodes any configuration event, choosing the type by the
            /// writer schema's fingerprint.
            pub fn decode(bytes: &[u8]) -> Result<ConfigEvent, crate::CodecError> {
                let fp = crate::fingerprint_of(bytes).ok_or(crate::CodecError::NotSingleObject)?;
                $(if <$variant as Event>::versions().iter().any(|v| v.fingerprint == fp) {
                    return crate::decode(bytes).map(ConfigEvent::$variant);
                })+
                Err(crate::CodecError::UnknownSchema {
                    fingerprint: fp.iter().map(|b| format!("{b:02x}")).collect(),
                    expected: "a vox.config event",
                })
            }
        }
    };
}

config_events!(
    TenantCreated,
    CollectionCreated,
    ClientCredentialIssued,
    ClientSecretRotated,
    ClientCredentialRevoked,
    RuleSetPublished,
    UserInvited,
    UserPasswordSet,
    UserChanged,
    UserTotpSet,
    TenantPolicySet,
    GroupChanged,
    SupportGrantChanged,
    AccessGrantChanged,
    RestrictedTagsSet,
    SsoConfigured,
    UserProvisioned,
    SsoGroupsSet,
);

// ---------------------------------------------------------------- audit

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Client,
    User,
    Operator,
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

/// One raw audit record on `vox.audit`. Never carries secrets or bodies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub audit_id: String,
    pub tenant_id: Option<String>,
    pub occurred_at: i64,
    pub actor_kind: ActorKind,
    pub actor_id: String,
    pub action: String,
    pub resource: Option<String>,
    pub outcome: Outcome,
    pub source_address: Option<String>,
    pub region: String,
    pub details: BTreeMap<String, String>,
    /// The node that made the record (v2; `None` in v1 records).
    pub node: Option<String>,
}
event!(
    AuditRecord,
    "vox.audit.AuditRecord",
    ["audit_record.v1.avsc", "audit_record.v2.avsc"]
);

/// Every event with the stem of its `.avsc` files (`<stem>.v<N>.avsc`) and
/// its versions, oldest first: the compatibility test walks this list.
pub fn all_versions() -> Vec<(&'static str, &'static str, &'static [SchemaVersion])> {
    vec![
        (
            "feedback_received",
            FeedbackReceived::NAME,
            FeedbackReceived::versions(),
        ),
        (
            "feedback_processed",
            FeedbackProcessed::NAME,
            FeedbackProcessed::versions(),
        ),
        (
            "feedback_rejected",
            FeedbackRejected::NAME,
            FeedbackRejected::versions(),
        ),
        ("tenant_created", TenantCreated::NAME, TenantCreated::versions()),
        (
            "collection_created",
            CollectionCreated::NAME,
            CollectionCreated::versions(),
        ),
        (
            "client_credential_issued",
            ClientCredentialIssued::NAME,
            ClientCredentialIssued::versions(),
        ),
        (
            "client_secret_rotated",
            ClientSecretRotated::NAME,
            ClientSecretRotated::versions(),
        ),
        (
            "client_credential_revoked",
            ClientCredentialRevoked::NAME,
            ClientCredentialRevoked::versions(),
        ),
        (
            "rule_set_published",
            RuleSetPublished::NAME,
            RuleSetPublished::versions(),
        ),
        ("user_invited", UserInvited::NAME, UserInvited::versions()),
        ("user_password_set", UserPasswordSet::NAME, UserPasswordSet::versions()),
        ("user_changed", UserChanged::NAME, UserChanged::versions()),
        ("user_totp_set", UserTotpSet::NAME, UserTotpSet::versions()),
        ("tenant_policy_set", TenantPolicySet::NAME, TenantPolicySet::versions()),
        ("group_changed", GroupChanged::NAME, GroupChanged::versions()),
        (
            "support_grant_changed",
            SupportGrantChanged::NAME,
            SupportGrantChanged::versions(),
        ),
        (
            "access_grant_changed",
            AccessGrantChanged::NAME,
            AccessGrantChanged::versions(),
        ),
        (
            "restricted_tags_set",
            RestrictedTagsSet::NAME,
            RestrictedTagsSet::versions(),
        ),
        ("sso_configured", SsoConfigured::NAME, SsoConfigured::versions()),
        ("user_provisioned", UserProvisioned::NAME, UserProvisioned::versions()),
        ("sso_groups_set", SsoGroupsSet::NAME, SsoGroupsSet::versions()),
        ("audit_record", AuditRecord::NAME, AuditRecord::versions()),
    ]
}
