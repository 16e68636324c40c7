//! Certificate Transparency: the RFC 6962 reference tree of the
//! certificate-transparency project's merkle_tree_test, and a real CT log's
//! proofs (Go's testdata/argon2020).

use crate::helpers::{from_hex, hash_b64, hash_hex, MemoryLog};
use auditlog::{
    check_consistency, check_inclusion, consistency_proof, consistency_proof_indexes, inclusion_proof,
    inclusion_proof_indexes, Error, Hash,
};
use base64::prelude::*;

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// The tree hash for sizes 0 to 8.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn reference_log() -> MemoryLog {
    let mut log = MemoryLog::new();
    for leaf in LEAVES {
        log.append(&from_hex(leaf));
    }
    log
}

fn hashes(hex: &[&str]) -> Vec<Hash> {
    hex.iter().map(|h| hash_hex(h)).collect()
}

#[test]
fn the_roots_are_the_rfc6962_reference_roots() {
    let log = reference_log();
    for (size, want) in ROOTS.iter().enumerate() {
        assert_eq!(log.roots[size], hash_hex(want), "size {size}");
    }
    assert_eq!(auditlog::leaf_hash(b""), hash_hex(ROOTS[1]));
}

#[test]
fn the_proofs_are_the_reference_proofs() {
    let log = reference_log();
    let inclusion = [
        (
            0,
            8,
            hashes(&[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]),
        ),
        (
            5,
            8,
            hashes(&[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]),
        ),
    ];
    for (index, size, want) in inclusion {
        let needed = inclusion_proof_indexes(index, size).expect("in range");
        let proof = inclusion_proof(index, size, &log.fetch(&needed)).expect("hashes given");
        assert_eq!(proof, want, "inclusion of {index} in {size}");
        let leaf = from_hex(LEAVES[index as usize]);
        check_inclusion(&proof, size, log.roots[size as usize], index, &leaf).expect("verifies");
    }
    let consistency = [
        (
            2,
            8,
            hashes(&[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]),
        ),
        (
            6,
            8,
            hashes(&[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]),
        ),
    ];
    for (old, new, want) in consistency {
        let needed = consistency_proof_indexes(old, new).expect("in order");
        let proof = consistency_proof(old, new, &log.fetch(&needed)).expect("hashes given");
        assert_eq!(proof, want, "consistency {old} to {new}");
        check_consistency(&proof, new, log.roots[new as usize], old, log.roots[old as usize]).expect("verifies");
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("JSON")
}

fn json_hashes(value: &serde_json::Value) -> Vec<Hash> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|h| hash_b64(h.as_str().expect("string")))
        .collect()
}

#[test]
fn a_real_ct_logs_proofs_verify_and_altered_ones_do_not() {
    let sth = json(include_str!("../../testdata/argon2020/sth.json"));
    let size = sth["tree_size"].as_u64().expect("size");
    let root = hash_b64(sth["sha256_root_hash"].as_str().expect("root"));
    let entries = json(include_str!("../../testdata/argon2020/entries.json"));
    let leaf = BASE64_STANDARD
        .decode(entries["entries"][0]["leaf_input"].as_str().expect("leaf"))
        .expect("base64");
    let audit = json(include_str!("../../testdata/argon2020/proof.json"));
    let mut proof = json_hashes(&audit["audit_path"]);

    check_inclusion(&proof, size, root, 10_000, &leaf).expect("Argon 2020 leaf 10000");
    let invalid = Err(Error::InclusionProofInvalid { index: 10_000, size });
    assert_eq!(
        check_inclusion(&proof, size, root, 10_001, &leaf),
        Err(Error::InclusionProofInvalid { index: 10_001, size })
    );
    let mut altered = leaf.clone();
    altered[40] ^= 1;
    assert_eq!(check_inclusion(&proof, size, root, 10_000, &altered), invalid);
    proof[7].0[3] ^= 0x10;
    assert_eq!(check_inclusion(&proof, size, root, 10_000, &leaf), invalid);

    let consistency = json(include_str!("../../testdata/argon2020/consistency.json"));
    let mut proof = json_hashes(&consistency["consistency"]);
    let old_root = hash_b64("AuIZ5V6sDUj1vn3Y1K85oOaQ7y+FJJKtyRTl1edIKBQ=");
    check_consistency(&proof, size, root, 3_654_490, old_root).expect("Argon 2020 consistency");
    let invalid = Err(Error::ConsistencyProofInvalid {
        old_size: 3_654_490,
        new_size: size,
    });
    assert_eq!(check_consistency(&proof, size, root, 3_654_490, root), invalid);
    proof[0].0[0] ^= 1;
    assert_eq!(check_consistency(&proof, size, root, 3_654_490, old_root), invalid);
}
