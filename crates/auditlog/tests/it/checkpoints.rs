//! Signing keys and signed checkpoints: round trips, and every altered or
//! foreign note refused with its reason.

use auditlog::{leaf_hash, open_checkpoint, Checkpoint, Error, SigningKey};
use signed_note::{Note, StandardSigner, StandardVerifier};

const ORIGIN: &str = "vox.example/audit/tenant-1";

fn key() -> SigningKey {
    SigningKey::generate("vox.example/audit").expect("valid name")
}

fn key_label(key: &SigningKey) -> String {
    format!("{}+{:08x}", key.name(), key.key_id())
}

#[test]
fn a_generated_key_round_trips_and_signs_checkpoints_that_open() {
    let key = key();
    let text = key.to_file_text();
    assert!(text.expose().starts_with("PRIVATE+KEY+vox.example/audit+"));
    let again = SigningKey::from_file_text(&format!("{}\n", text.expose())).expect("round trip");
    assert_eq!(again.verifier_key(), key.verifier_key());
    // signed_note (a port of Go's note) reads both forms too.
    StandardSigner::new(text.expose()).expect("signed_note reads the private key");
    StandardVerifier::new(&key.verifier_key()).expect("signed_note reads the verifier key");

    let root = leaf_hash(b"record 0");
    let note = key.sign_checkpoint(ORIGIN, 1, root).expect("valid origin");
    let want = Checkpoint {
        origin: ORIGIN.to_owned(),
        size: 1,
        root,
    };
    assert_eq!(open_checkpoint(&note, &key.verifier_key()), Ok(want.clone()));
    assert_eq!(open_checkpoint(&note, &format!("{}\n", key.verifier_key())), Ok(want));
    assert_ne!(
        key.verifier_key(),
        SigningKey::generate("vox.example/audit").expect("valid").verifier_key()
    );
}

#[test]
fn an_altered_checkpoint_is_refused() {
    let key = key();
    let note = key
        .sign_checkpoint(ORIGIN, 21, leaf_hash(b"root"))
        .expect("valid origin");
    let invalid = Err(Error::SignatureInvalid { key: key_label(&key) });
    let altered = [
        note.replacen("\n21\n", "\n22\n", 1),
        note.replacen("tenant-1", "tenant-2", 1),
        note.replacen(&leaf_hash(b"root").to_string(), &leaf_hash(b"other").to_string(), 1),
    ];
    for altered in altered {
        assert_ne!(altered, note);
        assert_eq!(open_checkpoint(&altered, &key.verifier_key()), invalid, "{altered}");
    }
    // One bit of the signature itself.
    let (body, signature) = note.rsplit_once(' ').expect("a signature line");
    let mut signature = signature.as_bytes().to_vec();
    signature[20] = if signature[20] == b'A' { b'B' } else { b'A' };
    let altered = format!("{body} {}", String::from_utf8(signature).expect("ASCII"));
    assert_eq!(open_checkpoint(&altered, &key.verifier_key()), invalid);
}

#[test]
fn a_checkpoint_signed_by_another_key_is_refused() {
    let key = key();
    let note = key
        .sign_checkpoint(ORIGIN, 3, leaf_hash(b"root"))
        .expect("valid origin");
    for other in [
        SigningKey::generate("vox.example/audit").expect("same name, other key"),
        SigningKey::generate("other.example/log").expect("other name"),
    ] {
        assert_eq!(
            open_checkpoint(&note, &other.verifier_key()),
            Err(Error::NotSignedByKey { key: key_label(&other) })
        );
    }
}

#[test]
fn cosignatures_by_other_keys_are_ignored() {
    let key = key();
    let witness = SigningKey::generate("witness.example").expect("valid name");
    let note = key
        .sign_checkpoint(ORIGIN, 3, leaf_hash(b"root"))
        .expect("valid origin");
    let mut cosigned = Note::from_bytes(note.as_bytes()).expect("a note");
    let signer = StandardSigner::new(witness.to_file_text().expose()).expect("a key");
    cosigned.add_sigs(&[&signer]).expect("signed");
    let cosigned = String::from_utf8(cosigned.to_bytes()).expect("UTF-8");
    assert_eq!(cosigned.matches("\n— ").count(), 2);
    assert_eq!(
        open_checkpoint(&cosigned, &key.verifier_key()),
        open_checkpoint(&note, &key.verifier_key())
    );
    assert_eq!(
        open_checkpoint(&cosigned, &witness.verifier_key()).map(|c| c.size),
        Ok(3)
    );
}

#[test]
fn a_signed_note_that_is_not_a_strict_checkpoint_is_refused() {
    let key = key();
    let signer = StandardSigner::new(key.to_file_text().expose()).expect("a key");
    let root = leaf_hash(b"root").to_string();
    let cases = [
        (
            format!("{ORIGIN}\n5\n{root}\nextension\n"),
            "more than three lines (extension lines are not accepted)",
        ),
        (format!("{ORIGIN}\n05\n{root}\n"), "the size has a leading zero"),
        (format!("{ORIGIN}\nfive\n{root}\n"), "the size is not a decimal number"),
        (format!("{ORIGIN}\n5\n"), "fewer than three lines (origin, size, root)"),
        (format!("{ORIGIN}\n5\nAAAA\n"), "the root is not 32 bytes"),
    ];
    for (text, reason) in cases {
        let mut note = Note::new(text.as_bytes(), &[]).expect("a note text");
        note.add_sigs(&[&signer]).expect("signed");
        let note = String::from_utf8(note.to_bytes()).expect("UTF-8");
        assert_eq!(
            open_checkpoint(&note, &key.verifier_key()),
            Err(Error::MalformedCheckpoint(reason)),
            "{text:?}"
        );
    }
}

#[test]
fn malformed_notes_and_keys_are_refused_with_the_reason() {
    let key = key();
    let vkey = key.verifier_key();
    let note = key
        .sign_checkpoint(ORIGIN, 3, leaf_hash(b"root"))
        .expect("valid origin");
    for bad in [
        String::new(),
        note.replacen("\n\n", "\n", 1),
        note.replacen("—", "-", 1),
        note.replacen(ORIGIN, "vox\u{7}", 1),
        note.trim_end().to_owned(),
    ] {
        assert!(
            matches!(open_checkpoint(&bad, &vkey), Err(Error::MalformedNote(_))),
            "{bad:?}"
        );
    }

    let (name, rest) = vkey.split_once('+').expect("name+id+key");
    let (id, encoded) = rest.split_once('+').expect("id+key");
    for (bad, reason) in [
        ("", "expected <name>+<8 hex digits key id>+<base64 key>"),
        (name, "expected <name>+<8 hex digits key id>+<base64 key>"),
        (
            &*format!("{name}+{id}+!!"),
            "expected <name>+<8 hex digits key id>+<base64 key>",
        ),
        (
            &*format!("{name}+00000000+{encoded}"),
            "the key id does not match the name and key",
        ),
        (
            &*format!("other+{id}+{encoded}"),
            "the key id does not match the name and key",
        ),
    ] {
        assert_eq!(
            open_checkpoint(&note, bad),
            Err(Error::MalformedVerifierKey(reason.to_owned())),
            "{bad:?}"
        );
    }

    let private = key.to_file_text();
    let private = private.expose();
    // The base64 key may itself hold a '+': split from the left.
    let rest = private.strip_prefix("PRIVATE+KEY+").expect("the prefix");
    let (name, rest) = rest.split_once('+').expect("name+…");
    let (id, seed) = rest.split_once('+').expect("id+key");
    assert!(seed.starts_with('A'), "0x01 encodes as A…: {seed}");
    for (bad, reason) in [
        ("", "it does not start with PRIVATE+KEY+"),
        (vkey.as_str(), "it does not start with PRIVATE+KEY+"),
        ("PRIVATE+KEY+name", "expected PRIVATE+KEY+<name>+<key id>+<key>"),
        (
            "PRIVATE+KEY+name+1234abcd",
            "expected PRIVATE+KEY+<name>+<key id>+<key>",
        ),
        ("PRIVATE+KEY++1234abcd+AQ==", "the key name is empty or has a space"),
        ("PRIVATE+KEY+name+1234+AQ==", "the key id is not 8 hex digits"),
        ("PRIVATE+KEY+name+1234abcg+AQ==", "the key id is not 8 hex digits"),
        ("PRIVATE+KEY+name+1234abcd+!!", "the key is not base64"),
        ("PRIVATE+KEY+name+1234abcd+", "the key is empty"),
        ("PRIVATE+KEY+name+1234abcd+AQ==", "an Ed25519 key must be 32 bytes"),
        (
            &*format!("PRIVATE+KEY+{name}+{id}+B{}", &seed[1..]),
            "not an Ed25519 key (algorithm byte is not 1)",
        ),
        (
            &*format!("PRIVATE+KEY+{name}+00000000+{seed}"),
            "the key id does not match the name and key (altered or truncated?)",
        ),
        (
            &*format!("PRIVATE+KEY+other+{id}+{seed}"),
            "the key id does not match the name and key (altered or truncated?)",
        ),
    ] {
        let err = SigningKey::from_file_text(bad).expect_err(bad);
        assert_eq!(err, Error::MalformedSigningKey(reason), "{bad:?}");
        assert!(!err.to_string().contains(seed), "the error shows the key");
    }

    for name in ["", "has space", "has+plus", "tab\there"] {
        assert_eq!(
            SigningKey::generate(name).map(|_| ()),
            Err(Error::InvalidKeyName(name.to_owned()))
        );
    }
    for origin in ["", "two\nlines", "bell\u{7}", "del\u{7f}"] {
        assert_eq!(
            key.sign_checkpoint(origin, 1, leaf_hash(b"")),
            Err(Error::InvalidOrigin(origin.to_owned()))
        );
    }
}
