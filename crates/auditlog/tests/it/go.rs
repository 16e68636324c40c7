//! Values computed by Go's golang.org/x/mod/sumdb/tlog and note
//! (testdata/gocompat, written to testdata/go_vectors.json): this crate
//! must produce the same bytes and read what Go writes.

use crate::helpers::{hash_b64, MemoryLog};
use auditlog::{
    check_consistency, check_inclusion, consistency_proof, consistency_proof_indexes, inclusion_proof,
    inclusion_proof_indexes, open_checkpoint, Checkpoint, Hash, SigningKey,
};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("../../testdata/go_vectors.json")).expect("JSON")
}

fn hashes(value: &Value) -> Vec<Hash> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|h| hash_b64(h.as_str().expect("string")))
        .collect()
}

fn text(value: &Value) -> &str {
    value.as_str().expect("string")
}

fn go_log(v: &Value) -> MemoryLog {
    let mut log = MemoryLog::new();
    for leaf in v["leaves"].as_array().expect("leaves") {
        log.append(text(leaf).as_bytes());
    }
    log
}

#[test]
fn stored_hashes_and_roots_are_gos() {
    let v = vectors();
    let log = go_log(&v);
    let go_stored = hashes(&v["stored_hashes"]);
    assert_eq!(log.stored.len(), go_stored.len());
    for (index, want) in go_stored.iter().enumerate() {
        assert_eq!(log.stored[&(index as u64)], *want, "stored hash {index}");
    }
    assert_eq!(log.roots, hashes(&v["roots"]));
}

#[test]
fn proofs_are_gos() {
    let v = vectors();
    let log = go_log(&v);
    let leaves = v["leaves"].as_array().expect("leaves");
    for case in v["inclusion"].as_array().expect("inclusion") {
        let (index, size) = (
            case["index"].as_u64().expect("index"),
            case["size"].as_u64().expect("size"),
        );
        let needed = inclusion_proof_indexes(index, size).expect("in range");
        let proof = inclusion_proof(index, size, &log.fetch(&needed)).expect("hashes given");
        assert_eq!(proof, hashes(&case["proof"]), "inclusion of {index} in {size}");
        let leaf = text(&leaves[index as usize]).as_bytes();
        check_inclusion(&proof, size, log.roots[size as usize], index, leaf).expect("verifies");
    }
    for case in v["consistency"].as_array().expect("consistency") {
        let (old, new) = (case["old"].as_u64().expect("old"), case["new"].as_u64().expect("new"));
        let needed = consistency_proof_indexes(old, new).expect("in order");
        let proof = consistency_proof(old, new, &log.fetch(&needed)).expect("hashes given");
        assert_eq!(proof, hashes(&case["proof"]), "consistency {old} to {new}");
        let roots = &log.roots;
        check_consistency(&proof, new, roots[new as usize], old, roots[old as usize]).expect("verifies");
    }
}

#[test]
fn keys_are_written_and_read_as_go_does() {
    let v = vectors();
    let key = SigningKey::from_file_text(text(&v["private_key"])).expect("Go's key text");
    assert_eq!(key.to_file_text().expose(), text(&v["private_key"]));
    assert_eq!(key.verifier_key(), text(&v["verifier_key"]));
}

#[test]
fn checkpoints_are_signed_byte_for_byte_as_go_signs_them_and_gos_open() {
    let v = vectors();
    let log = go_log(&v);
    let key = SigningKey::from_file_text(text(&v["private_key"])).expect("Go's key text");
    let size = log.frontier.size();
    let origin = text(&v["origin"]);
    // Ed25519 signatures are deterministic: the same key and text give Go's bytes.
    let signed = key
        .sign_checkpoint(origin, size, log.frontier.root())
        .expect("valid origin");
    assert_eq!(signed, text(&v["checkpoint"]));
    assert_eq!(
        open_checkpoint(text(&v["checkpoint"]), text(&v["verifier_key"])),
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root: log.frontier.root(),
        })
    );
}
