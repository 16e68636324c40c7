//! The tamper-evident audit log's math and formats. A pure library: no I/O,
//! no clock, no async; the auditor and the CLI own storage and time.
//!
//! * [`tree`]: a tenant's log is an RFC 6962 Merkle tree (leaf hash
//!   `SHA-256(0x00 ‖ record)`, interior `SHA-256(0x01 ‖ left ‖ right)`). A
//!   [`Frontier`] is the whole state needed to append: the roots of the
//!   complete subtrees, at most 64 hashes, stored in one column. Appending a
//!   leaf returns the *stored hashes* it adds, numbered as Go's
//!   `golang.org/x/mod/sumdb/tlog` numbers them (`StoredHashIndex`), which is
//!   also the order of the C2SP tlog-tiles layout.
//! * [`proof`]: inclusion and consistency proofs in two steps so that the
//!   store can stay async: ask which stored hashes a proof needs
//!   ([`inclusion_proof_indexes`]), fetch them, then build the proof from a
//!   map ([`inclusion_proof`]). The checks need only the proof and the roots.
//! * [`checkpoint`]: the C2SP `tlog-checkpoint` body (`origin`, size, base64
//!   root, three lines) in a C2SP signed note with Ed25519, and the signing
//!   key in Go's `note` text forms (`PRIVATE+KEY+<name>+<id>+<key>` and the
//!   verifier key `<name>+<id>+<key>`), so that Go's `note` package and any
//!   other signed-note implementation read what Vox writes.
//!
//! The arithmetic is `tlog_tiles` and the note format `signed_note`
//! (Cloudflare's ports of Go's `tlog` and `note`); this crate adds the
//! frontier, the two-step proofs, strict checkpoint parsing and key files.
//! The tests pin the results to published vectors: the Certificate
//! Transparency reference tree, a real CT log's proofs, and values computed
//! by Go's `golang.org/x/mod` itself (`testdata/gocompat`).

pub mod checkpoint;
pub mod proof;
pub mod tree;

pub use checkpoint::{open_checkpoint, Checkpoint, SigningKey};
pub use proof::{
    check_consistency, check_inclusion, consistency_proof, consistency_proof_indexes, inclusion_proof,
    inclusion_proof_indexes,
};
pub use tlog_tiles::{stored_hash_index, Hash, EMPTY_HASH, HASH_SIZE};
pub use tree::{leaf_hash, Frontier, MAX_TREE_SIZE};

/// Everything that can go wrong in this crate. Each variant says what was
/// wrong with which input; none carries secret material.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Stored frontier bytes that this version cannot read.
    #[error("malformed frontier: {0}")]
    MalformedFrontier(&'static str),
    /// A tree size beyond [`MAX_TREE_SIZE`].
    #[error("tree size {size} is beyond the largest supported ({max})", max = MAX_TREE_SIZE)]
    TreeTooLarge { size: u64 },
    /// An inclusion proof asked or checked for a leaf the tree does not have.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A consistency proof between an older tree larger than the newer one.
    #[error("an old tree of size {old_size} cannot be a prefix of a new tree of size {new_size}")]
    SizesOutOfOrder { old_size: u64, new_size: u64 },
    /// The map given to build a proof lacks a stored hash the proof needs.
    #[error("stored hash {index} is needed for the proof but was not given")]
    MissingHash { index: u64 },
    /// The inclusion proof does not lead from the leaf to the root.
    #[error("inclusion proof for leaf {index} in a tree of size {size} does not verify")]
    InclusionProofInvalid { index: u64, size: u64 },
    /// The consistency proof does not lead from the old root to the new one.
    #[error(
        "consistency proof from size {old_size} to size {new_size} does not verify: \
         the newer tree does not extend the older one"
    )]
    ConsistencyProofInvalid { old_size: u64, new_size: u64 },
    /// A key name that signed notes cannot carry: empty, or with a space or `+`.
    #[error("invalid key name {0:?}: it must be non-empty without spaces or '+'")]
    InvalidKeyName(String),
    /// A checkpoint origin that is empty or has a control character.
    #[error("invalid checkpoint origin {0:?}: it must be non-empty without control characters")]
    InvalidOrigin(String),
    /// A private key text that is not `PRIVATE+KEY+<name>+<id>+<key>` for an
    /// Ed25519 key whose id matches (the text itself is never shown).
    #[error("malformed signing key: {0}")]
    MalformedSigningKey(&'static str),
    /// A verifier key that is not `<name>+<id>+<key>` for an Ed25519 key.
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(String),
    /// A text that is not a signed note (text, blank line, signature lines).
    #[error("malformed signed note: {0}")]
    MalformedNote(String),
    /// The note carries a signature by the expected key that does not verify:
    /// the text was altered after signing.
    #[error("the signature by key {key} does not verify: the note was altered or forged")]
    SignatureInvalid { key: String },
    /// The note carries no signature by the expected key.
    #[error("the note is not signed by key {key}")]
    NotSignedByKey { key: String },
    /// A signed note whose text is not a checkpoint as Vox writes them.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
}
