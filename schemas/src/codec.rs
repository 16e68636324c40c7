//! Avro single-object encoding: `C3 01`, the 8-byte little-endian CRC-64-AVRO
//! (Rabin) fingerprint of the writer schema, then the Avro binary datum.
//! Any standard Avro library that has the `.avsc` file can decode it.

use std::io::Cursor;

use apache_avro::rabin::Rabin;
use apache_avro::Schema;
use serde::{de::DeserializeOwned, Serialize};

/// `C3 01` + 8 fingerprint bytes.
pub const HEADER_LEN: usize = 10;
const MAGIC: [u8; 2] = [0xC3, 0x01];

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("not an Avro single-object encoded record (missing C3 01 header)")]
    NotSingleObject,
    #[error("the record's writer schema (fingerprint {fingerprint}) is not a known version of {expected}")]
    UnknownSchema {
        fingerprint: String,
        expected: &'static str,
    },
    #[error("Avro {direction} of {event} failed: {source}")]
    Avro {
        direction: &'static str,
        event: &'static str,
        #[source]
        source: Box<apache_avro::Error>,
    },
}

/// One committed version of an event's schema.
pub struct SchemaVersion {
    pub version: u32,
    pub schema: Schema,
    pub fingerprint: [u8; 8],
}

impl SchemaVersion {
    /// Parses committed `.avsc` text; panics only on a schema file that is
    /// not valid Avro, which the test suite rules out for every file.
    pub fn parse_all(sources: &[&str]) -> Vec<SchemaVersion> {
        sources
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let schema = Schema::parse_str(text).expect("committed .avsc files are valid (tested)");
                let fingerprint = fingerprint(&schema);
                SchemaVersion {
                    version: i as u32 + 1,
                    schema,
                    fingerprint,
                }
            })
            .collect()
    }
}

/// The schema's Parsing Canonical Form as the Avro specification defines it.
///
/// apache-avro 0.21 writes a primitive that carried attributes (such as
/// `{"type": "long", "logicalType": "timestamp-micros"}`) as `{"type":"long"}`
/// where the specification's [PRIMITIVES] rule asks for `"long"`; its
/// fingerprints then differ from every other Avro library's. This applies
/// the rule to the library's output (in canonical form, an object with a
/// single `type` key naming a primitive can only come from that case).
pub fn parsing_canonical_form(schema: &Schema) -> String {
    let mut form = schema.canonical_form();
    for primitive in ["null", "boolean", "int", "long", "float", "double", "bytes", "string"] {
        form = form.replace(&format!(r#"{{"type":"{primitive}"}}"#), &format!(r#""{primitive}""#));
    }
    form
}

/// CRC-64-AVRO (Rabin) fingerprint of the Parsing Canonical Form, in the
/// little-endian byte order single-object encoding uses.
pub fn fingerprint(schema: &Schema) -> [u8; 8] {
    use sha2::Digest;
    let digest = Rabin::digest(parsing_canonical_form(schema).as_bytes());
    digest.as_slice().try_into().expect("a Rabin fingerprint has 8 bytes")
}

/// An event type with its committed schema versions (oldest first; the last
/// one is what this code writes).
pub trait Event: Serialize + DeserializeOwned {
    /// The Avro full name, e.g. `vox.events.FeedbackReceived`.
    const NAME: &'static str;
    /// Every committed version of the schema, oldest first.
    fn versions() -> &'static [SchemaVersion];
    fn current() -> &'static SchemaVersion {
        Self::versions()
            .last()
            .expect("every event has at least one schema version")
    }
}

/// Encodes `event` with the current schema version. Serializes straight to
/// Avro bytes with the schema-aware serializer (no intermediate `Value`
/// tree: on the ingest path the tree and its resolution cost more than the
/// encoding itself).
pub fn encode<E: Event>(event: &E) -> Result<Vec<u8>, CodecError> {
    let current = E::current();
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&current.fingerprint);
    apache_avro::write_avro_datum_ref(&current.schema, event, &mut out).map_err(|e| CodecError::Avro {
        direction: "encoding",
        event: E::NAME,
        source: Box::new(e),
    })?;
    Ok(out)
}

/// The writer-schema fingerprint of a single-object encoded record.
pub fn fingerprint_of(bytes: &[u8]) -> Option<[u8; 8]> {
    if bytes.len() < HEADER_LEN || bytes[..2] != MAGIC {
        return None;
    }
    bytes[2..HEADER_LEN].try_into().ok()
}

/// Decodes a record written with any committed version of `E`'s schema,
/// resolving it to the current version.
pub fn decode<E: Event>(bytes: &[u8]) -> Result<E, CodecError> {
    let fp = fingerprint_of(bytes).ok_or(CodecError::NotSingleObject)?;
    let writer = E::versions()
        .iter()
        .find(|v| v.fingerprint == fp)
        .ok_or_else(|| CodecError::UnknownSchema {
            fingerprint: hex(&fp),
            expected: E::NAME,
        })?;
    let err = |e: apache_avro::Error| CodecError::Avro {
        direction: "decoding",
        event: E::NAME,
        source: Box::new(e),
    };
    let mut reader = Cursor::new(&bytes[HEADER_LEN..]);
    // Resolving against the reader's schema only when the writer's differs
    // (most records are written with the current version).
    let current = E::current();
    let reader_schema = (writer.fingerprint != current.fingerprint).then_some(&current.schema);
    let value = apache_avro::from_avro_datum(&writer.schema, &mut reader, reader_schema).map_err(err)?;
    apache_avro::from_value(&value).map_err(err)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
