//! Inclusion and consistency proofs (RFC 6962 §2.1.1 and §2.1.2), built from
//! stored hashes in two steps so that the store stays async:
//!
//! 1. [`inclusion_proof_indexes`] / [`consistency_proof_indexes`] name the
//!    stored hashes (Go's `StoredHashIndex` numbering) the proof needs;
//! 2. the caller reads those from its store and passes them as a map to
//!    [`inclusion_proof`] / [`consistency_proof`].
//!
//! Both steps run `tlog_tiles`' port of Go's `ProveRecord` / `ProveTree`:
//! the first with a reader that only records what is asked, so the indexes
//! are exactly those the second step reads. The proofs are ordered as in
//! RFC 6962 and Go's `tlog` (the hash next to the leaf first).

use crate::tree::{leaf_hash, MAX_TREE_SIZE};
use crate::Error;
use std::cell::RefCell;
use std::collections::HashMap;
use tlog_tiles::{check_record, check_tree, prove_record, prove_tree, Hash, HashReader};
use tlog_tiles::{Error as TlogError, EMPTY_HASH};

/// Answers every read with a dummy hash and remembers the indexes asked.
#[derive(Default)]
struct RecordingReader {
    asked: RefCell<Vec<u64>>,
}

impl HashReader for RecordingReader {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        self.asked.borrow_mut().extend_from_slice(indexes);
        Ok(vec![Hash::default(); indexes.len()])
    }
}

/// Reads from a map the caller filled; every index was checked present.
struct MapReader<'a>(&'a HashMap<u64, Hash>);

impl HashReader for MapReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        indexes
            .iter()
            .map(|index| self.0.get(index).copied().ok_or(TlogError::IndexesNotInTree))
            .collect()
    }
}

fn check_size(size: u64) -> Result<(), Error> {
    if size > MAX_TREE_SIZE {
        return Err(Error::TreeTooLarge { size });
    }
    Ok(())
}

fn check_leaf(index: u64, size: u64) -> Result<(), Error> {
    check_size(size)?;
    if index >= size {
        return Err(Error::IndexOutOfRange { index, size });
    }
    Ok(())
}

fn check_sizes(old_size: u64, new_size: u64) -> Result<(), Error> {
    check_size(new_size)?;
    if old_size > new_size {
        return Err(Error::SizesOutOfOrder { old_size, new_size });
    }
    Ok(())
}

/// Fails with the first index the map lacks.
fn check_present(needed: &[u64], hashes: &HashMap<u64, Hash>) -> Result<(), Error> {
    match needed.iter().find(|index| !hashes.contains_key(index)) {
        Some(&index) => Err(Error::MissingHash { index }),
        None => Ok(()),
    }
}

/// Why building a proof cannot fail once the sizes are checked: the
/// recording reader always answers, and every index the map reader is
/// asked for was checked present.
const READERS_ANSWER: &str = "sizes are checked and the readers answer every index";

/// No proof in a tree of at most 2^62 leaves is longer: an inclusion proof
/// has one hash per level, a consistency proof at most two. Longer proofs
/// are refused before `tlog_tiles` copies them once per level.
const MAX_INCLUSION_PROOF: usize = 64;
const MAX_CONSISTENCY_PROOF: usize = 128;

/// The stored hash indexes an inclusion proof of leaf `index` in the tree
/// of `size` leaves reads, in increasing order (empty for a tree of one).
///
/// # Errors
///
/// [`Error::IndexOutOfRange`] unless `index < size`; [`Error::TreeTooLarge`].
pub fn inclusion_proof_indexes(index: u64, size: u64) -> Result<Vec<u64>, Error> {
    check_leaf(index, size)?;
    let reader = RecordingReader::default();
    prove_record(size, index, &reader).expect(READERS_ANSWER);
    Ok(reader.asked.into_inner())
}

/// The stored hash indexes a consistency proof from the tree of `old_size`
/// leaves to the tree of `new_size` leaves reads (empty when the sizes are
/// equal or `old_size` is 0).
///
/// # Errors
///
/// [`Error::SizesOutOfOrder`] if `old_size > new_size`; [`Error::TreeTooLarge`].
pub fn consistency_proof_indexes(old_size: u64, new_size: u64) -> Result<Vec<u64>, Error> {
    check_sizes(old_size, new_size)?;
    if old_size == 0 {
        return Ok(Vec::new());
    }
    let reader = RecordingReader::default();
    prove_tree(new_size, old_size, &reader).expect(READERS_ANSWER);
    Ok(reader.asked.into_inner())
}

/// The inclusion proof (RFC 6962 audit path) of leaf `index` in the tree of
/// `size` leaves, from the stored hashes [`inclusion_proof_indexes`] names
/// (`hashes` may hold more).
///
/// # Errors
///
/// As [`inclusion_proof_indexes`], and [`Error::MissingHash`] naming the
/// first needed index `hashes` lacks.
pub fn inclusion_proof(index: u64, size: u64, hashes: &HashMap<u64, Hash>) -> Result<Vec<Hash>, Error> {
    check_present(&inclusion_proof_indexes(index, size)?, hashes)?;
    Ok(prove_record(size, index, &MapReader(hashes)).expect(READERS_ANSWER))
}

/// The consistency proof from the tree of `old_size` leaves to the tree of
/// `new_size` leaves, from the stored hashes [`consistency_proof_indexes`]
/// names. Empty when the sizes are equal or `old_size` is 0.
///
/// # Errors
///
/// As [`consistency_proof_indexes`], and [`Error::MissingHash`].
pub fn consistency_proof(old_size: u64, new_size: u64, hashes: &HashMap<u64, Hash>) -> Result<Vec<Hash>, Error> {
    check_present(&consistency_proof_indexes(old_size, new_size)?, hashes)?;
    if old_size == 0 {
        return Ok(Vec::new());
    }
    Ok(prove_tree(new_size, old_size, &MapReader(hashes)).expect(READERS_ANSWER))
}

/// Checks that `proof` shows the record `leaf_data` is leaf `index` of the
/// tree of `size` leaves whose root is `root` (Go's `tlog.CheckRecord` with
/// the leaf hash of `leaf_data`).
///
/// # Errors
///
/// [`Error::InclusionProofInvalid`] if it does not; [`Error::IndexOutOfRange`]
/// unless `index < size`.
pub fn check_inclusion(proof: &[Hash], size: u64, root: Hash, index: u64, leaf_data: &[u8]) -> Result<(), Error> {
    check_leaf(index, size)?;
    if proof.len() > MAX_INCLUSION_PROOF {
        return Err(Error::InclusionProofInvalid { index, size });
    }
    check_record(&proof.to_vec(), size, root, index, leaf_hash(leaf_data))
        .map_err(|_| Error::InclusionProofInvalid { index, size })
}

/// Checks that `proof` shows the tree of `old_size` leaves with root
/// `old_root` is a prefix of the tree of `new_size` leaves with root
/// `new_root` (Go's `tlog.CheckTree`). From size 0 the proof must be empty
/// and `old_root` the empty tree's hash; between equal sizes it must be
/// empty and the roots equal.
///
/// # Errors
///
/// [`Error::ConsistencyProofInvalid`] if it does not;
/// [`Error::SizesOutOfOrder`] if `old_size > new_size`.
pub fn check_consistency(
    proof: &[Hash],
    new_size: u64,
    new_root: Hash,
    old_size: u64,
    old_root: Hash,
) -> Result<(), Error> {
    check_sizes(old_size, new_size)?;
    let invalid = Error::ConsistencyProofInvalid { old_size, new_size };
    if old_size == 0 {
        return if proof.is_empty() && old_root == EMPTY_HASH {
            Ok(())
        } else {
            Err(invalid)
        };
    }
    if proof.len() > MAX_CONSISTENCY_PROOF {
        return Err(invalid);
    }
    check_tree(&proof.to_vec(), new_size, new_root, old_size, old_root).map_err(|_| invalid)
}
