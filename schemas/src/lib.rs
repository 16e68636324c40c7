//! The Vox event contract: Avro schemas (`schemas/avro/*.avsc`), their Rust
//! types, the topics that carry them, and the single-object encoding used on
//! every topic. This crate does no I/O.

pub mod clock;
mod codec;
mod events;
pub mod ids;
pub mod language;
#[doc(hidden)]
pub mod samples;
pub mod text;
mod topics;
mod vocabulary;

pub use codec::{
    decode, encode, fingerprint, fingerprint_of, parsing_canonical_form, CodecError, Event, SchemaVersion, HEADER_LEN,
};
pub use events::*;
pub use ids::{ClientId, CollectionId, EventId, GrantId, GroupId, InvalidId, Region, TenantId, UserId};
pub use topics::Topic;
pub use vocabulary::{AuditAction, ReasonCode};

#[cfg(test)]
mod tests;
