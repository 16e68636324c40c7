//! The contract's own tests: round trips, the wire format, and schema
//! evolution rules.

use std::collections::BTreeMap;

use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::Schema;

use crate::*;

fn item() -> FeedbackItem {
    FeedbackItem {
        occurred_at: 1_762_161_262_000_000,
        channel: Channel::SupportTicket,
        text: Some("Lieferung kam zu spät, aber der Support war großartig.".into()),
        language: Some("de".into()),
        metrics: vec![
            Metric {
                kind: MetricKind::Csat,
                value: 4.0,
                scale_min: 1.0,
                scale_max: 5.0,
            },
            Metric {
                kind: MetricKind::Custom,
                value: 0.25,
                scale_min: 0.0,
                scale_max: 1.0,
            },
        ],
        respondent: Some("r-7f3a91".into()),
        metadata: BTreeMap::from([("country".into(), "DE".into()), ("plan".into(), "business".into())]),
        tags: vec![SourceTag {
            name: "topic".into(),
            value: "delivery".into(),
        }],
    }
}

fn sparse_item() -> FeedbackItem {
    FeedbackItem {
        occurred_at: 0,
        channel: Channel::Survey,
        text: None,
        language: None,
        metrics: vec![Metric {
            kind: MetricKind::Nps,
            value: 10.0,
            scale_min: 0.0,
            scale_max: 10.0,
        }],
        respondent: None,
        metadata: BTreeMap::new(),
        tags: vec![],
    }
}

fn received(item: FeedbackItem) -> FeedbackReceived {
    FeedbackReceived {
        event_id: feedback_event_id("acme", "nps-2026", "nps-1"),
        tenant_id: "acme".into(),
        collection: "nps-2026".into(),
        external_id: "nps-1".into(),
        client_id: "vox_ci_0011223344556677".into(),
        region: "eu".into(),
        batch_id: "0b7f6a52-8d5e-4a43-9d0e-2f7c4f0e1a11".into(),
        received_at: 1_762_161_263_000_000,
        item,
    }
}

fn round_trip<E: Event + PartialEq + std::fmt::Debug>(event: &E) {
    let bytes = encode(event).expect("encode");
    assert_eq!(&bytes[..2], &[0xC3, 0x01], "single-object marker");
    assert_eq!(fingerprint_of(&bytes), Some(E::current().fingerprint));
    let back: E = decode(&bytes).expect("decode");
    assert_eq!(&back, event);
}

#[test]
fn every_event_round_trips() {
    round_trip(&received(item()));
    round_trip(&received(sparse_item()));
    round_trip(&FeedbackProcessed {
        event_id: "e".into(),
        tenant_id: "acme".into(),
        collection: "nps-2026".into(),
        external_id: "nps-1".into(),
        client_id: "c".into(),
        batch_id: "b".into(),
        received_region: "eu".into(),
        processed_region: "eu".into(),
        received_at: 1,
        processed_at: 2,
        item: item(),
        rule_set_version: Some(3),
        applied_tags: vec![
            AppliedTag {
                name: "topic".into(),
                value: "delivery".into(),
                source: TagSource::Client,
                rule_id: None,
                rule_version: None,
            },
            AppliedTag {
                name: "churn".into(),
                value: "risk".into(),
                source: TagSource::Rule,
                rule_id: Some("r1".into()),
                rule_version: Some(3),
            },
        ],
        redactions: vec![Redaction {
            field: "text".into(),
            kind: "custom".into(),
            count: 1,
            rule_id: "pii".into(),
            rule_version: 1,
        }],
    });
    // One of each event (the samples the fastavro check also decodes).
    let samples = crate::samples::samples();
    round_trip(&samples.received);
    round_trip(&samples.processed);
    round_trip(&samples.rejected);
    round_trip(&samples.tenant);
    round_trip(&samples.collection);
    round_trip(&samples.issued);
    round_trip(&samples.rotated);
    round_trip(&samples.revoked);
    round_trip(&samples.rules);
    round_trip(&samples.access_grant);
    round_trip(&samples.restricted_tags);
    round_trip(&samples.audit);
}

/// The bytes are plain Avro: the `.avsc` file alone decodes them, with a
/// generic reader that knows nothing of the Rust types.
#[test]
fn bytes_decode_with_the_avsc_file_alone() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/avro/feedback_received.v1.avsc")).expect("avsc");
    let schema = Schema::parse_str(&text).expect("schema");
    let bytes = encode(&received(item())).expect("encode");
    assert_eq!(
        bytes[2..10],
        fingerprint(&schema),
        "the header carries the CRC-64-AVRO fingerprint of the file's schema"
    );
    let value = apache_avro::from_avro_datum(&schema, &mut &bytes[10..], None).expect("generic decode");
    let apache_avro::types::Value::Record(fields) = value else {
        panic!("a record")
    };
    let get = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(get("tenant_id"), Some(apache_avro::types::Value::String("acme".into())));
    assert_eq!(
        get("external_id"),
        Some(apache_avro::types::Value::String("nps-1".into()))
    );
}

#[test]
fn config_events_decode_by_fingerprint() {
    let events = [
        ConfigEvent::TenantCreated(TenantCreated {
            tenant_id: "acme".into(),
            name: "A".into(),
            region: "eu".into(),
            created_at: 1,
        }),
        ConfigEvent::CollectionCreated(CollectionCreated {
            tenant_id: "acme".into(),
            collection: "c".into(),
            name: "C".into(),
            created_at: 1,
        }),
        ConfigEvent::ClientCredentialRevoked(ClientCredentialRevoked {
            tenant_id: "acme".into(),
            client_id: "x".into(),
            secret_version: Some(1),
            revoked_at: 1,
        }),
        ConfigEvent::AccessGrantChanged(AccessGrantChanged {
            tenant_id: "acme".into(),
            grant_id: "ag_0011223344556677".into(),
            change: "revoked".into(),
            principal_kind: None,
            principal_id: None,
            collection: None,
            level: None,
            tag_filter: vec![],
            changed_at: 1,
            changed_by: "operator".into(),
        }),
        ConfigEvent::RestrictedTagsSet(RestrictedTagsSet {
            tenant_id: "acme".into(),
            tag_names: vec![],
            changed_at: 1,
            changed_by: "operator".into(),
        }),
    ];
    for e in events {
        assert_eq!(ConfigEvent::decode(&e.encode().expect("encode")).expect("decode"), e);
    }
    let feedback = encode(&received(item())).expect("encode");
    assert!(matches!(
        ConfigEvent::decode(&feedback),
        Err(CodecError::UnknownSchema { .. })
    ));
}

#[test]
fn bad_bytes_are_errors_not_panics() {
    assert!(matches!(
        decode::<FeedbackReceived>(b"{\"json\": true}"),
        Err(CodecError::NotSingleObject)
    ));
    assert!(matches!(
        decode::<FeedbackReceived>(&[0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0]),
        Err(CodecError::UnknownSchema { .. })
    ));
    let bytes = encode(&received(item())).expect("encode");
    for cut in [11, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            matches!(decode::<FeedbackReceived>(&bytes[..cut]), Err(CodecError::Avro { .. })),
            "cut at {cut}"
        );
    }
}

/// Every `.avsc` file is registered, versions are numbered 1, 2, … without
/// gaps, and each version reads data of the previous one and vice versa
/// (full compatibility), so old and new nodes can share a topic.
#[test]
fn every_schema_version_stays_compatible_with_the_previous() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/avro");
    let mut files: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("avro dir") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".avsc") else {
            continue;
        };
        let (event, version) = stem.rsplit_once(".v").expect("files are named <event>.v<N>.avsc");
        files
            .entry(event.to_owned())
            .or_default()
            .push(version.parse().expect("numeric version"));
    }
    let registered = all_versions();
    assert_eq!(
        files.len(),
        registered.len(),
        "every schema file belongs to a registered event: {files:?}"
    );
    for (stem, versions) in &files {
        let mut versions = versions.clone();
        versions.sort();
        assert_eq!(
            versions,
            (1..=versions.len() as u32).collect::<Vec<_>>(),
            "{stem}: versions without gaps"
        );
        let registered_versions = registered.iter().find(|(s, _, _)| s == stem).map(|(_, _, v)| v.len());
        assert_eq!(
            registered_versions,
            Some(versions.len()),
            "{stem}: every version file is registered in events.rs"
        );
    }
    for (_, name, versions) in registered {
        for pair in versions.windows(2) {
            let (old, new) = (&pair[0], &pair[1]);
            SchemaCompatibility::can_read(&old.schema, &new.schema)
                .unwrap_or_else(|e| panic!("{name} v{} cannot read v{} data: {e}", new.version, old.version));
            SchemaCompatibility::can_read(&new.schema, &old.schema)
                .unwrap_or_else(|e| panic!("{name} v{} cannot read v{} data: {e}", old.version, new.version));
        }
    }
}

/// The compatibility check used above does catch a breaking change.
#[test]
fn the_compatibility_check_catches_breaking_changes() {
    let current = &TenantCreated::current().schema;
    let text = include_str!("../avro/tenant_created.v1.avsc");
    let added_required = text.replacen(r#""fields": ["#, r#""fields": [{"name": "plan", "type": "string"},"#, 1);
    let added_required = Schema::parse_str(&added_required).expect("schema");
    assert!(
        SchemaCompatibility::can_read(current, &added_required).is_err(),
        "a new field without default breaks old data"
    );
    let added_optional = text.replacen(
        r#""fields": ["#,
        r#""fields": [{"name": "plan", "type": ["null", "string"], "default": null},"#,
        1,
    );
    let added_optional = Schema::parse_str(&added_optional).expect("schema");
    assert!(SchemaCompatibility::can_read(current, &added_optional).is_ok());
    assert!(SchemaCompatibility::can_read(&added_optional, current).is_ok());
}

/// Fingerprints agree with other Avro libraries: the expected values were
/// computed by fastavro 1.13 (`fastavro.schema.fingerprint(pcf, "CRC-64-AVRO")`)
/// from the same `.avsc` files. apache-avro's own `fingerprint` differs on
/// schemas with logical types; see `parsing_canonical_form`.
#[test]
fn fingerprints_match_other_avro_libraries() {
    assert_eq!(
        parsing_canonical_form(&TenantCreated::current().schema),
        r#"{"name":"vox.config.TenantCreated","type":"record","fields":[{"name":"tenant_id","type":"string"},{"name":"name","type":"string"},{"name":"region","type":"string"},{"name":"created_at","type":"long"}]}"#
    );
    let hex = |b: [u8; 8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(hex(TenantCreated::current().fingerprint), "c569b4d1e25988dc");
    assert_eq!(hex(FeedbackReceived::current().fingerprint), "7877863aa95c9880");
}

/// A record written with an older schema version decodes with the current
/// one: the fields added since take their defaults.
#[test]
fn records_of_older_versions_still_decode() {
    #[derive(serde::Serialize)]
    struct IssuedV1 {
        tenant_id: String,
        client_id: String,
        name: String,
        collections: Vec<String>,
        secret_version: i32,
        #[serde(with = "apache_avro::serde_avro_bytes")]
        secret_sha256: Vec<u8>,
        issued_at: i64,
    }
    let v1 = &ClientCredentialIssued::versions()[0];
    assert_eq!(ClientCredentialIssued::versions().len(), 2);
    let old = IssuedV1 {
        tenant_id: "acme".into(),
        client_id: "c".into(),
        name: "crm".into(),
        collections: vec![],
        secret_version: 1,
        secret_sha256: vec![7; 32],
        issued_at: 7,
    };
    let value = apache_avro::to_value(&old)
        .expect("value")
        .resolve(&v1.schema)
        .expect("resolve");
    let mut bytes = vec![0xC3, 0x01];
    bytes.extend_from_slice(&v1.fingerprint);
    bytes.extend(apache_avro::to_avro_datum(&v1.schema, value).expect("datum"));
    let decoded: ClientCredentialIssued = decode(&bytes).expect("a v1 record decodes");
    assert_eq!(
        (decoded.client_id.as_str(), decoded.sealed_secret, decoded.kek_id),
        ("c", None, None)
    );
    assert!(matches!(
        ConfigEvent::decode(&bytes),
        Ok(ConfigEvent::ClientCredentialIssued(_))
    ));
}
