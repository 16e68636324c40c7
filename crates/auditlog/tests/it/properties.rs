//! Properties over random trees: the frontier computes exactly Go's stored
//! hashes and tree hash (as ported by tlog_tiles, over a full in-memory
//! store), and proofs built from the named hashes alone verify, while
//! altered ones do not.

use crate::helpers::MemoryLog;
use auditlog::{
    check_consistency, check_inclusion, consistency_proof, consistency_proof_indexes, inclusion_proof,
    inclusion_proof_indexes, Error, Frontier, Hash,
};
use proptest::collection::vec;
use proptest::prelude::*;
use tlog_tiles::{
    prove_record, prove_tree, stored_hash_count, stored_hash_index, stored_hashes, tree_hash, HashReader,
};

/// Every stored hash in order: the reference store tlog_tiles reads.
struct FullStore(Vec<Hash>);

impl HashReader for FullStore {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        Ok(indexes.iter().map(|&i| self.0[i as usize]).collect())
    }
}

fn record(salt: u64, index: u64) -> Vec<u8> {
    format!("{salt}/{index}").into_bytes()
}

/// Appends `size` records with both the frontier and tlog_tiles, comparing
/// every step.
fn check_against_tlog(records: impl Iterator<Item = Vec<u8>>) -> Result<(), TestCaseError> {
    let mut frontier = Frontier::empty();
    let mut store = FullStore(Vec::new());
    prop_assert_eq!(frontier.root(), tree_hash(0, &store).expect("empty tree"));
    for (n, data) in records.enumerate() {
        let n = n as u64;
        let want = stored_hashes(n, &data, &store).expect("reads from memory");
        let got = frontier.append(&data);
        prop_assert_eq!(got.len(), want.len());
        for (level, ((index, hash), want)) in got.iter().zip(&want).enumerate() {
            prop_assert_eq!(*index, store.0.len() as u64 + level as u64);
            prop_assert_eq!(*index, stored_hash_index(level as u8, n >> level));
            prop_assert_eq!(hash, want);
        }
        store.0.extend(want);
        prop_assert_eq!(store.0.len() as u64, stored_hash_count(n + 1));
        prop_assert_eq!(frontier.size(), n + 1);
        prop_assert_eq!(frontier.root(), tree_hash(n + 1, &store).expect("in memory"));
        let bytes = frontier.to_bytes();
        prop_assert_eq!(bytes.len(), 9 + 32 * (n + 1).count_ones() as usize);
        prop_assert_eq!(Frontier::from_bytes(&bytes), Ok(frontier.clone()));
    }
    Ok(())
}

fn log_of(size: u64, salt: u64) -> MemoryLog {
    let mut log = MemoryLog::new();
    for i in 0..size {
        log.append(&record(salt, i));
    }
    log
}

fn full_store(log: &MemoryLog) -> FullStore {
    FullStore((0..log.stored.len() as u64).map(|i| log.stored[&i]).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_frontier_is_gos_stored_hashes_and_tree_hash(
        records in vec(vec(any::<u8>(), 0..48), 0..300)
    ) {
        check_against_tlog(records.into_iter())?;
    }

    #[test]
    fn the_frontier_is_gos_for_larger_trees(size in 300u64..2100, salt in any::<u64>()) {
        check_against_tlog((0..size).map(|i| record(salt, i)))?;
    }

    #[test]
    fn inclusion_proofs_from_the_named_hashes_verify(
        size in 1u64..700,
        index in any::<u64>(),
        salt in any::<u64>(),
        flip in any::<(usize, u8)>(),
    ) {
        let log = log_of(size, salt);
        let index = index % size;
        let needed = inclusion_proof_indexes(index, size).expect("in range");
        prop_assert!(needed.windows(2).all(|w| w[0] < w[1]), "increasing: {:?}", needed);
        prop_assert!(needed.iter().all(|&i| i < stored_hash_count(size)));
        let proof = inclusion_proof(index, size, &log.fetch(&needed)).expect("given");
        prop_assert_eq!(&proof, &prove_record(size, index, &full_store(&log)).expect("ok"));
        let root = log.roots[size as usize];
        let data = record(salt, index);
        prop_assert_eq!(check_inclusion(&proof, size, root, index, &data), Ok(()));

        let invalid = |index| Err(Error::InclusionProofInvalid { index, size });
        if size > 1 {
            let other = (index + 1) % size;
            prop_assert_eq!(check_inclusion(&proof, size, root, other, &data), invalid(other));
            prop_assert_eq!(check_inclusion(&proof, size, root, index, b"other"), invalid(index));
            let mut flipped = proof.clone();
            let at = flip.0 % flipped.len();
            flipped[at].0[usize::from(flip.1) % 32] ^= 1 << (flip.1 % 8);
            prop_assert_eq!(check_inclusion(&flipped, size, root, index, &data), invalid(index));
            prop_assert_eq!(check_inclusion(&proof[1..], size, root, index, &data), invalid(index));
            let missing = needed[flip.0 % needed.len()];
            let mut fetched = log.fetch(&needed);
            fetched.remove(&missing);
            prop_assert_eq!(
                inclusion_proof(index, size, &fetched),
                Err(Error::MissingHash { index: missing })
            );
        }
        let longer = [proof.as_slice(), &[root]].concat();
        prop_assert_eq!(check_inclusion(&longer, size, root, index, &data), invalid(index));
        prop_assert_eq!(
            check_inclusion(&proof, size, root, size, &data),
            Err(Error::IndexOutOfRange { index: size, size })
        );
    }

    #[test]
    fn consistency_proofs_from_the_named_hashes_verify(
        new in 0u64..700,
        old in any::<u64>(),
        salt in any::<u64>(),
        flip in any::<(usize, u8)>(),
    ) {
        let log = log_of(new, salt);
        let old = old % (new + 1);
        let needed = consistency_proof_indexes(old, new).expect("in order");
        prop_assert!(needed.windows(2).all(|w| w[0] < w[1]), "increasing: {:?}", needed);
        prop_assert!(needed.iter().all(|&i| i < stored_hash_count(new)));
        let proof = consistency_proof(old, new, &log.fetch(&needed)).expect("given");
        if old > 0 {
            prop_assert_eq!(&proof, &prove_tree(new, old, &full_store(&log)).expect("ok"));
        } else {
            prop_assert!(proof.is_empty());
        }
        let (old_root, new_root) = (log.roots[old as usize], log.roots[new as usize]);
        prop_assert_eq!(check_consistency(&proof, new, new_root, old, old_root), Ok(()));

        let invalid = Err(Error::ConsistencyProofInvalid { old_size: old, new_size: new });
        let forged = auditlog::leaf_hash(b"forged");
        prop_assert_eq!(check_consistency(&proof, new, new_root, old, forged), invalid.clone());
        if old > 0 {
            // Every tree extends the empty one, whatever its root.
            prop_assert_eq!(check_consistency(&proof, new, forged, old, old_root), invalid.clone());
        }
        if !proof.is_empty() {
            let mut flipped = proof.clone();
            let at = flip.0 % flipped.len();
            flipped[at].0[usize::from(flip.1) % 32] ^= 1 << (flip.1 % 8);
            prop_assert_eq!(check_consistency(&flipped, new, new_root, old, old_root), invalid.clone());
            prop_assert_eq!(check_consistency(&proof[1..], new, new_root, old, old_root), invalid.clone());
        }
        let longer = [proof.as_slice(), &[new_root]].concat();
        prop_assert_eq!(check_consistency(&longer, new, new_root, old, old_root), invalid);
        prop_assert_eq!(
            consistency_proof_indexes(new + 1, new),
            Err(Error::SizesOutOfOrder { old_size: new + 1, new_size: new })
        );
    }
}
