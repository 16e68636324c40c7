//! The RFC 6962 tree of one log, as much of it as appending needs.

use crate::Error;
use tlog_tiles::{node_hash, record_hash, stored_hash_index, Hash, EMPTY_HASH, HASH_SIZE};

/// The largest tree a [`Frontier`] holds. Beyond it the stored hash indexes
/// (about twice the size) would not fit in a `u64`; no store comes close.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// The version byte of [`Frontier::to_bytes`].
const FRONTIER_V1: u8 = 1;

/// The leaf hash of a record: `SHA-256(0x00 ‖ data)` (RFC 6962 §2.1).
pub fn leaf_hash(data: &[u8]) -> Hash {
    record_hash(data)
}

/// The state of a tree of `size` leaves that appending needs: the root of
/// each complete subtree, one per 1 bit of `size`, largest (leftmost) first.
/// At most 64 hashes; the leaves and inner nodes live in the store as the
/// stored hashes [`Frontier::append`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Frontier {
    size: u64,
    /// `roots[i]` is the root of the subtree for the i-th highest 1 bit of
    /// `size`; `roots.len() == size.count_ones()`.
    roots: Vec<Hash>,
}

impl Default for Frontier {
    fn default() -> Self {
        Frontier::empty()
    }
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn empty() -> Frontier {
        Frontier {
            size: 0,
            roots: Vec::new(),
        }
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 tree hash (Go's `tlog.TreeHash`): for size 0 the hash
    /// of the empty string, [`EMPTY_HASH`].
    pub fn root(&self) -> Hash {
        let mut subtrees = self.roots.iter().rev();
        let Some(&last) = subtrees.next() else {
            return EMPTY_HASH;
        };
        subtrees.fold(last, |right, &left| node_hash(left, right))
    }

    /// Appends the leaf `data` as leaf number [`Frontier::size`] and returns
    /// the stored hashes this adds, as `(stored hash index, hash)`: the leaf
    /// hash first, then one inner node per subtree the leaf completes. These
    /// are exactly Go's `tlog.StoredHashes(size, data, …)` at indexes
    /// `StoredHashIndex(0, size)` onwards, computed without reading anything.
    ///
    /// # Panics
    ///
    /// If the tree already has [`MAX_TREE_SIZE`] leaves (`2^62`: no store
    /// holds that many, and [`Frontier::from_bytes`] refuses larger sizes).
    pub fn append(&mut self, data: &[u8]) -> Vec<(u64, Hash)> {
        self.append_leaf_hash(leaf_hash(data))
    }

    /// [`Frontier::append`] for a leaf whose hash is already computed.
    ///
    /// # Panics
    ///
    /// As [`Frontier::append`].
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> Vec<(u64, Hash)> {
        let n = self.size;
        assert!(n < MAX_TREE_SIZE, "a tree of 2^62 leaves is beyond any store");
        let completed = n.trailing_ones();
        let mut stored = Vec::with_capacity(1 + completed as usize);
        // Go stores the leaf and the nodes it completes one after another.
        let first = stored_hash_index(0, n);
        let mut hash = leaf;
        stored.push((first, hash));
        for level in 1..=u64::from(completed) {
            let left = self
                .roots
                .pop()
                .expect("each trailing 1 bit of the size has a subtree root");
            hash = node_hash(left, hash);
            stored.push((first + level, hash));
        }
        self.roots.push(hash);
        self.size = n + 1;
        stored
    }

    /// The bytes to store: a version byte (1), the size as 8 bytes big
    /// endian, then the subtree roots, 32 bytes each.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 8 + self.roots.len() * HASH_SIZE);
        out.push(FRONTIER_V1);
        out.extend_from_slice(&self.size.to_be_bytes());
        for root in &self.roots {
            out.extend_from_slice(&root.0);
        }
        out
    }

    /// Reads [`Frontier::to_bytes`].
    ///
    /// # Errors
    ///
    /// [`Error::MalformedFrontier`] for another version or a length that
    /// does not match the size; [`Error::TreeTooLarge`] beyond
    /// [`MAX_TREE_SIZE`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Frontier, Error> {
        let (&version, rest) = bytes.split_first().ok_or(Error::MalformedFrontier("empty"))?;
        if version != FRONTIER_V1 {
            return Err(Error::MalformedFrontier("unknown version"));
        }
        let (size, hashes) = rest
            .split_first_chunk::<8>()
            .ok_or(Error::MalformedFrontier("shorter than a size"))?;
        let size = u64::from_be_bytes(*size);
        if size > MAX_TREE_SIZE {
            return Err(Error::TreeTooLarge { size });
        }
        if hashes.len() != size.count_ones() as usize * HASH_SIZE {
            return Err(Error::MalformedFrontier("the number of hashes does not match the size"));
        }
        let roots = hashes
            .chunks_exact(HASH_SIZE)
            .map(|chunk| Hash(chunk.try_into().expect("chunks_exact gives HASH_SIZE bytes")))
            .collect();
        Ok(Frontier { size, roots })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_tree_has_the_hash_of_the_empty_string() {
        let frontier = Frontier::empty();
        assert_eq!(frontier.size(), 0);
        assert_eq!(frontier.root(), EMPTY_HASH);
        assert_eq!(frontier.to_bytes(), [1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Frontier::from_bytes(&frontier.to_bytes()), Ok(frontier));
    }

    #[test]
    fn malformed_bytes_are_refused_with_the_reason() {
        let mut three = Frontier::empty();
        for i in 0..3u8 {
            three.append(&[i]);
        }
        let good = three.to_bytes();
        assert_eq!(good.len(), 9 + 2 * 32);
        let cases: Vec<(Vec<u8>, Error)> = vec![
            (vec![], Error::MalformedFrontier("empty")),
            (vec![2; 9], Error::MalformedFrontier("unknown version")),
            (vec![1, 0, 0], Error::MalformedFrontier("shorter than a size")),
            (
                good[..good.len() - 1].to_vec(),
                Error::MalformedFrontier("the number of hashes does not match the size"),
            ),
            (
                [good.as_slice(), &[0; 32]].concat(),
                Error::MalformedFrontier("the number of hashes does not match the size"),
            ),
            (
                [&[1u8][..], &(MAX_TREE_SIZE + 1).to_be_bytes(), &[0; 64]].concat(),
                Error::TreeTooLarge {
                    size: MAX_TREE_SIZE + 1,
                },
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(Frontier::from_bytes(&bytes), Err(want), "{bytes:?}");
        }
        assert_eq!(Frontier::from_bytes(&good), Ok(three));
    }
}
