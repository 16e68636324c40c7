use auditlog::{Frontier, Hash};
use base64::prelude::*;
use std::collections::HashMap;

pub fn from_hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

pub fn hash_hex(s: &str) -> Hash {
    Hash(from_hex(s).try_into().expect("32 bytes"))
}

pub fn hash_b64(s: &str) -> Hash {
    Hash(BASE64_STANDARD.decode(s).expect("base64").try_into().expect("32 bytes"))
}

/// A log held in memory: the frontier and every stored hash by index, as
/// the auditor's store keeps them.
#[derive(Default)]
pub struct MemoryLog {
    pub frontier: Frontier,
    pub stored: HashMap<u64, Hash>,
    pub roots: Vec<Hash>,
}

impl MemoryLog {
    pub fn new() -> MemoryLog {
        MemoryLog {
            roots: vec![Frontier::empty().root()],
            ..MemoryLog::default()
        }
    }

    pub fn append(&mut self, data: &[u8]) {
        for (index, hash) in self.frontier.append(data) {
            assert!(self.stored.insert(index, hash).is_none(), "index {index} written twice");
        }
        self.roots.push(self.frontier.root());
    }

    /// Only the stored hashes in `indexes`, as a store query would return.
    pub fn fetch(&self, indexes: &[u64]) -> HashMap<u64, Hash> {
        indexes.iter().map(|i| (*i, self.stored[i])).collect()
    }
}
