//! One sample of every event, with realistic values: the cross-library
//! check (`examples/sample_events.rs`, read by fastavro) and the round-trip
//! tests use the same ones. Not part of the contract.

use std::collections::BTreeMap;

use crate::*;

/// One of each event.
pub struct Samples {
    pub received: FeedbackReceived,
    pub processed: FeedbackProcessed,
    pub rejected: FeedbackRejected,
    pub tenant: TenantCreated,
    pub collection: CollectionCreated,
    pub issued: ClientCredentialIssued,
    pub rotated: ClientSecretRotated,
    pub revoked: ClientCredentialRevoked,
    pub rules: RuleSetPublished,
    pub invited: UserInvited,
    pub password: UserPasswordSet,
    pub user_changed: UserChanged,
    pub totp: UserTotpSet,
    pub policy: TenantPolicySet,
    pub group: GroupChanged,
    pub support_grant: SupportGrantChanged,
    pub access_grant: AccessGrantChanged,
    pub restricted_tags: RestrictedTagsSet,
    pub sso: SsoConfigured,
    pub provisioned: UserProvisioned,
    pub sso_groups: SsoGroupsSet,
    pub audit: AuditRecord,
}

/// The samples.
pub fn samples() -> Samples {
    let item = FeedbackItem {
        occurred_at: 1_793_697_262_000_000,
        channel: Channel::Survey,
        text: Some("Palvelu oli erinomaista – kiitos! Größe: 5 €".into()),
        language: Some("fi".into()),
        metrics: vec![Metric {
            kind: MetricKind::Nps,
            value: 9.0,
            scale_min: 0.0,
            scale_max: 10.0,
        }],
        respondent: Some("r-7f3a91".into()),
        metadata: BTreeMap::from([("country".into(), "FI".into())]),
        tags: vec![SourceTag {
            name: "topic".into(),
            value: "service".into(),
        }],
    };
    let received = FeedbackReceived {
        event_id: feedback_event_id("acme", "nps-2026", "nps-1"),
        tenant_id: "acme".into(),
        collection: "nps-2026".into(),
        external_id: "nps-1".into(),
        client_id: "vox_ci_0011223344556677".into(),
        region: "eu".into(),
        batch_id: "0b7f6a52-8d5e-4a43-9d0e-2f7c4f0e1a11".into(),
        received_at: 1_793_697_263_000_000,
        item,
    };
    let tenant = TenantCreated {
        tenant_id: "acme".into(),
        name: "Acme Oy".into(),
        region: "eu".into(),
        created_at: 1,
    };
    let rejected = FeedbackRejected {
        event_id: None,
        tenant_id: Some("acme".into()),
        collection: None,
        external_id: None,
        reason_code: "undecodable".into(),
        reason: "not Avro".into(),
        processed_region: "eu".into(),
        rejected_at: 5,
        source_topic: "vox.feedback.raw".into(),
        source_partition: 2,
        source_offset: 99,
        input: vec![0, 159, 255, 1],
    };
    let processed = FeedbackProcessed {
        event_id: received.event_id.clone(),
        tenant_id: "acme".into(),
        collection: "nps-2026".into(),
        external_id: "nps-1".into(),
        client_id: received.client_id.clone(),
        batch_id: received.batch_id.clone(),
        received_region: "eu".into(),
        processed_region: "eu".into(),
        received_at: received.received_at,
        processed_at: received.received_at + 1,
        item: received.item.clone(),
        rule_set_version: Some(1),
        applied_tags: vec![AppliedTag {
            name: "topic".into(),
            value: "service".into(),
            source: TagSource::Client,
            rule_id: None,
            rule_version: None,
        }],
        redactions: vec![Redaction {
            field: "text".into(),
            kind: "email".into(),
            count: 2,
            rule_id: "builtin.redact.email".into(),
            rule_version: 1,
        }],
    };
    let collection = CollectionCreated {
        tenant_id: "acme".into(),
        collection: "nps-2026".into(),
        name: "NPS 2026".into(),
        created_at: 2,
    };
    let issued = ClientCredentialIssued {
        tenant_id: "acme".into(),
        client_id: "vox_ci_0011223344556677".into(),
        name: "crm".into(),
        collections: vec!["nps-2026".into()],
        secret_version: 1,
        secret_sha256: vec![7; 32],
        issued_at: 3,
        sealed_secret: Some(vec![1, 2, 3]),
        kek_id: Some("kek-1".into()),
    };
    let rotated = ClientSecretRotated {
        tenant_id: "acme".into(),
        client_id: "vox_ci_0011223344556677".into(),
        secret_version: 2,
        secret_sha256: vec![8; 32],
        rotated_at: 4,
        sealed_secret: Some(vec![4, 5, 6]),
        kek_id: Some("kek-1".into()),
        previous_valid_until: Some(86_400_000_000),
    };
    let revoked = ClientCredentialRevoked {
        tenant_id: "acme".into(),
        client_id: "vox_ci_0011223344556677".into(),
        secret_version: Some(1),
        revoked_at: 5,
    };
    let rules = RuleSetPublished {
        tenant_id: "acme".into(),
        version: 1,
        document: "[[rule]]\nid = \"delivery\"\nwhen.text_contains = [\"delivery\"]\ntags = [{ name = \"topic\", value = \"delivery\" }]\n".into(),
        published_at: 6,
        published_by: Some("ops".into()),
    };
    let invited = UserInvited {
        tenant_id: "acme".into(),
        user_id: "usr_0011223344556677".into(),
        email: "Aino.Analyst@acme.fi".into(),
        role: "analyst".into(),
        invitation_sha256: vec![9; 32],
        invited_at: 7,
        expires_at: 7 + 72 * 3_600_000_000,
        changed_by: "operator".into(),
    };
    let password = UserPasswordSet {
        tenant_id: "acme".into(),
        user_id: "usr_0011223344556677".into(),
        sealed_hash: vec![1, 2, 3, 4],
        kek_id: "kek-1".into(),
        cause: "invitation".into(),
        invitation_sha256: Some(vec![9; 32]),
        set_at: 8,
        changed_by: "user:usr_0011223344556677".into(),
    };
    let user_changed = UserChanged {
        tenant_id: "acme".into(),
        user_id: "usr_0011223344556677".into(),
        change: "role".into(),
        role: Some("viewer".into()),
        changed_at: 9,
        changed_by: "operator".into(),
    };
    let totp = UserTotpSet {
        tenant_id: "acme".into(),
        user_id: "usr_0011223344556677".into(),
        sealed_seed: Some(vec![5, 6, 7]),
        kek_id: Some("kek-1".into()),
        recovery_sha256: vec![ByteString(vec![1; 32]), ByteString(vec![2; 32])],
        changed_at: 10,
        changed_by: "user:usr_0011223344556677".into(),
    };
    let policy = TenantPolicySet {
        tenant_id: "acme".into(),
        two_factor_required: true,
        changed_at: 11,
        changed_by: "operator".into(),
    };
    let group = GroupChanged {
        tenant_id: "acme".into(),
        group_id: "helsinki-stores".into(),
        change: "member_added".into(),
        name: None,
        user_id: Some("usr_0011223344556677".into()),
        changed_at: 12,
        changed_by: "operator".into(),
    };
    let support_grant = SupportGrantChanged {
        tenant_id: "acme".into(),
        grant_id: "sg_0011223344556677".into(),
        change: "granted".into(),
        support_user_id: Some("usr_8899aabbccddeeff".into()),
        reason: Some("ticket 4411: missing tags".into()),
        expires_at: Some(13 + 3_600_000_000),
        changed_at: 13,
        changed_by: "user:usr_0011223344556677".into(),
    };
    let access_grant = AccessGrantChanged {
        tenant_id: "acme".into(),
        grant_id: "ag_0011223344556677".into(),
        change: "granted".into(),
        principal_kind: Some("group".into()),
        principal_id: Some("helsinki-stores".into()),
        collection: Some("nps-2026".into()),
        level: Some("read".into()),
        tag_filter: vec!["store:helsinki".into(), "hr".into()],
        changed_at: 14,
        changed_by: "user:usr_0011223344556677".into(),
    };
    let restricted_tags = RestrictedTagsSet {
        tenant_id: "acme".into(),
        tag_names: vec!["hr".into(), "legal".into()],
        changed_at: 15,
        changed_by: "operator".into(),
    };
    let sso = SsoConfigured {
        tenant_id: "acme".into(),
        enabled: true,
        idp_entity_id: "https://login.example.com/acme/metadata".into(),
        sso_url: "https://login.example.com/acme/sso".into(),
        certificates: vec![ByteString(vec![0x30, 0x82, 0x01, 0x0a])],
        required: true,
        idp_initiated: false,
        email_attribute: Some("mail".into()),
        provision_role: Some("viewer".into()),
        groups_attribute: Some("groups".into()),
        group_map: vec![SsoGroupMapping {
            idp_group: "Helsinki stores".into(),
            group_id: "helsinki-stores".into(),
        }],
        changed_at: 16,
        changed_by: "operator".into(),
    };
    let provisioned = UserProvisioned {
        tenant_id: "acme".into(),
        user_id: "usr_8899aabbccddeeff".into(),
        email: "aino@acme.fi".into(),
        role: "viewer".into(),
        provisioned_at: 17,
        changed_by: "sso:https://login.example.com/acme/metadata".into(),
    };
    let sso_groups = SsoGroupsSet {
        tenant_id: "acme".into(),
        user_id: "usr_8899aabbccddeeff".into(),
        group_ids: vec!["helsinki-stores".into()],
        changed_at: 18,
        changed_by: "sso:https://login.example.com/acme/metadata".into(),
    };
    let audit = AuditRecord {
        audit_id: "9b2f0c1e-1111-4a2b-8c3d-000000000001".into(),
        tenant_id: Some("acme".into()),
        occurred_at: 6,
        actor_kind: ActorKind::Client,
        actor_id: "vox_ci_0011223344556677".into(),
        action: "feedback.batch".into(),
        resource: None,
        outcome: Outcome::Success,
        source_address: Some("127.0.0.1".into()),
        region: "eu".into(),
        details: BTreeMap::from([("accepted".into(), "1".into())]),
        node: Some("vox-ingest-0".into()),
    };
    Samples {
        received,
        processed,
        rejected,
        tenant,
        collection,
        issued,
        rotated,
        revoked,
        rules,
        invited,
        password,
        user_changed,
        totp,
        policy,
        group,
        support_grant,
        access_grant,
        restricted_tags,
        sso,
        provisioned,
        sso_groups,
        audit,
    }
}

/// Each sample encoded, with the stem of its schema files.
pub fn encoded() -> Result<Vec<(&'static str, Vec<u8>)>, CodecError> {
    let s = samples();
    Ok(vec![
        ("feedback_received", encode(&s.received)?),
        ("feedback_processed", encode(&s.processed)?),
        ("feedback_rejected", encode(&s.rejected)?),
        ("tenant_created", encode(&s.tenant)?),
        ("collection_created", encode(&s.collection)?),
        ("client_credential_issued", encode(&s.issued)?),
        ("client_secret_rotated", encode(&s.rotated)?),
        ("client_credential_revoked", encode(&s.revoked)?),
        ("rule_set_published", encode(&s.rules)?),
        ("user_invited", encode(&s.invited)?),
        ("user_password_set", encode(&s.password)?),
        ("user_changed", encode(&s.user_changed)?),
        ("user_totp_set", encode(&s.totp)?),
        ("tenant_policy_set", encode(&s.policy)?),
        ("group_changed", encode(&s.group)?),
        ("support_grant_changed", encode(&s.support_grant)?),
        ("access_grant_changed", encode(&s.access_grant)?),
        ("restricted_tags_set", encode(&s.restricted_tags)?),
        ("sso_configured", encode(&s.sso)?),
        ("user_provisioned", encode(&s.provisioned)?),
        ("sso_groups_set", encode(&s.sso_groups)?),
        ("audit_record", encode(&s.audit)?),
    ])
}
