//! Signed checkpoints: the C2SP `tlog-checkpoint` body in a C2SP signed note
//! with an Ed25519 key, and the key's text forms as Go's `note` package
//! writes them.
//!
//! A checkpoint as Vox writes and reads it is exactly three lines, then the
//! blank line and one signature line per key:
//!
//! ```text
//! vox.example/audit/tenant-1
//! 21
//! JKNLd/wVSonaeLUC+xcGzLsg5bk00IyafjPamxfY/VY=
//!
//! — vox.example/audit bQldOcXIPLL7odNX9S+tEstPdUIBUTzQeroWtW7lJnQhoEzsBi3QEhAl54UG0rv7H4V+fqWJv1zwRCl7sac3TUvSdAI=
//! ```
//!
//! (the signature line is the key name, then base64 of the 4-byte key id
//! and the 64-byte Ed25519 signature of the three lines above the blank one).
//!
//! Go's `note.Open` and `tlog.ParseTree` (which reads the same three lines)
//! accept it; so does any C2SP signed-note implementation.

use crate::Error;
use base64::prelude::*;
use ed25519_dalek::Signer as _;
use rand::RngCore as _;
use signed_note::{
    is_key_name_valid, key_id, new_ed25519_verifier_key, Note, NoteError, Signature, StandardVerifier, VerifierError,
    VerifierList,
};
use std::fmt;
use tlog_tiles::{Hash, HASH_SIZE};
use zeroize::Zeroizing;

/// The signed-note algorithm byte of Ed25519 keys.
const ALG_ED25519: u8 = 1;
/// The length of an Ed25519 seed (the private key as Go's `note` writes it).
const SEED_LEN: usize = 32;
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// A tree head read from a signed checkpoint whose signature checked out.
/// The caller compares `origin` with the log it expects.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The log's name, the first line.
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The RFC 6962 tree hash.
    pub root: Hash,
}

/// An Ed25519 signing key with its signed-note key name. `Debug` shows the
/// name and key id only; the key is wiped from memory when dropped.
pub struct SigningKey {
    name: String,
    id: u32,
    key: ed25519_dalek::SigningKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.id))
            .finish_non_exhaustive()
    }
}

/// `0x01 ‖ public key`, the encoded key a key id is computed over.
fn encoded_public_key(key: &ed25519_dalek::VerifyingKey) -> Vec<u8> {
    [&[ALG_ED25519][..], key.as_bytes()].concat()
}

impl SigningKey {
    /// A new random key named `name` (a signed-note key name: non-empty,
    /// without spaces or `+`; by convention the log's URL without scheme).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKeyName`].
    pub fn generate(name: &str) -> Result<SigningKey, Error> {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        rand::rng().fill_bytes(seed.as_mut_slice());
        SigningKey::from_seed(name, &seed)
    }

    fn from_seed(name: &str, seed: &[u8; SEED_LEN]) -> Result<SigningKey, Error> {
        if !is_key_name_valid(name) {
            return Err(Error::InvalidKeyName(name.to_owned()));
        }
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        let id = key_id(name, &encoded_public_key(&key.verifying_key()));
        Ok(SigningKey {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// The key name, which signature lines carry.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id: the first 4 bytes of `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)`.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The verifier key, `<name>+<8 hex digits key id>+<base64(0x01 ‖
    /// public key)>`, which Go's `note.NewVerifier` and the CLI read.
    pub fn verifier_key(&self) -> String {
        new_ed25519_verifier_key(&self.name, &self.key.verifying_key())
    }

    /// The private key in Go's `note` form,
    /// `PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ 32-byte seed)>`, without a
    /// final newline: Go's `note.NewSigner` reads it as is.
    pub fn to_file_text(&self) -> auth::Secret {
        let mut private = Zeroizing::new([0u8; 1 + SEED_LEN]);
        private[0] = ALG_ED25519;
        private[1..].copy_from_slice(Zeroizing::new(self.key.to_bytes()).as_slice());
        let header = format!("{PRIVATE_KEY_PREFIX}{}+{:08x}+", self.name, self.id);
        // Sized up front so that the secret is never copied by a reallocation.
        let mut text = String::with_capacity(header.len() + 4 * private.len().div_ceil(3));
        text.push_str(&header);
        BASE64_STANDARD.encode_string(private.as_slice(), &mut text);
        auth::Secret::new(text)
    }

    /// Reads [`SigningKey::to_file_text`] or a key Go's `note.GenerateKey`
    /// wrote; surrounding whitespace (a final newline) is ignored.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedSigningKey`] saying what is wrong (never showing
    /// the key).
    pub fn from_file_text(text: &str) -> Result<SigningKey, Error> {
        let malformed = Error::MalformedSigningKey;
        let rest = text
            .trim()
            .strip_prefix(PRIVATE_KEY_PREFIX)
            .ok_or(malformed("it does not start with PRIVATE+KEY+"))?;
        let (name, rest) = rest
            .split_once('+')
            .ok_or(malformed("expected PRIVATE+KEY+<name>+<key id>+<key>"))?;
        let (id, key) = rest
            .split_once('+')
            .ok_or(malformed("expected PRIVATE+KEY+<name>+<key id>+<key>"))?;
        if !is_key_name_valid(name) {
            return Err(malformed("the key name is empty or has a space"));
        }
        if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed("the key id is not 8 hex digits"));
        }
        let id = u32::from_str_radix(id, 16).map_err(|_| malformed("the key id is not hex"))?;
        let key = Zeroizing::new(
            BASE64_STANDARD
                .decode(key)
                .map_err(|_| malformed("the key is not base64"))?,
        );
        let seed: &[u8; SEED_LEN] = match key.split_first() {
            Some((&ALG_ED25519, seed)) => seed
                .try_into()
                .map_err(|_| malformed("an Ed25519 key must be 32 bytes"))?,
            Some(_) => return Err(malformed("not an Ed25519 key (algorithm byte is not 1)")),
            None => return Err(malformed("the key is empty")),
        };
        let key = SigningKey::from_seed(name, seed)?;
        if key.id != id {
            return Err(malformed(
                "the key id does not match the name and key (altered or truncated?)",
            ));
        }
        Ok(key)
    }

    /// The signed checkpoint note for the tree of `size` leaves with root
    /// `root` of the log `origin`: the three-line C2SP `tlog-checkpoint`
    /// body, a blank line and this key's signature line.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOrigin`] for an empty origin or one with a control
    /// character (a newline would forge the other lines).
    pub fn sign_checkpoint(&self, origin: &str, size: u64, root: Hash) -> Result<String, Error> {
        if origin.is_empty() || origin.chars().any(char::is_control) {
            return Err(Error::InvalidOrigin(origin.to_owned()));
        }
        self.sign_note(&checkpoint_body(origin, size, root))
    }

    /// Signs `text` (non-empty lines, each ending in a newline) as a C2SP
    /// signed note with this key alone.
    fn sign_note(&self, text: &str) -> Result<String, Error> {
        let signature = self.key.sign(text.as_bytes()).to_bytes().to_vec();
        let signature = Signature::new(self.name.clone(), self.id, signature)
            .map_err(|err| Error::MalformedNote(err.to_string()))?;
        let note = Note::new(text.as_bytes(), &[signature]).map_err(|err| Error::MalformedNote(err.to_string()))?;
        String::from_utf8(note.to_bytes()).map_err(|err| Error::MalformedNote(err.to_string()))
    }
}

/// `origin\nsize\nbase64(root)\n`, the body of a C2SP tlog-checkpoint
/// without extension lines.
fn checkpoint_body(origin: &str, size: u64, root: Hash) -> String {
    format!("{origin}\n{size}\n{}\n", BASE64_STANDARD.encode(root.0))
}

/// Checks the signature on the checkpoint `note` with `verifier_key`
/// (`<name>+<key id>+<key>`, surrounding whitespace ignored) and reads its
/// body strictly: exactly three lines (origin; size in decimal without
/// leading zeros; base64 of a 32-byte root), no extension lines. Signature
/// lines by other keys (cosigners) are ignored.
///
/// # Errors
///
/// [`Error::MalformedVerifierKey`], [`Error::MalformedNote`],
/// [`Error::NotSignedByKey`] when no signature line is by this key,
/// [`Error::SignatureInvalid`] when one is but does not verify, and
/// [`Error::MalformedCheckpoint`] saying what is wrong with the body.
pub fn open_checkpoint(note: &str, verifier_key: &str) -> Result<Checkpoint, Error> {
    let verifier = StandardVerifier::new(verifier_key.trim()).map_err(|err| {
        Error::MalformedVerifierKey(
            match err {
                VerifierError::Format => "expected <name>+<8 hex digits key id>+<base64 key>",
                VerifierError::Alg => "not an Ed25519 key (algorithm byte is not 1)",
                VerifierError::Id => "the key id does not match the name and key",
            }
            .to_owned(),
        )
    })?;
    let key = {
        use signed_note::Verifier as _;
        format!("{}+{:08x}", verifier.name(), verifier.key_id())
    };
    let note = Note::from_bytes(note.as_bytes()).map_err(|_| {
        Error::MalformedNote(
            "expected UTF-8 text without control characters, a blank line, \
             then lines '— <key name> <base64 signature>'"
                .to_owned(),
        )
    })?;
    match note.verify(&VerifierList::new(vec![Box::new(verifier)])) {
        Ok(_) => {}
        Err(NoteError::InvalidSignature { .. }) => return Err(Error::SignatureInvalid { key }),
        Err(NoteError::UnverifiedNote) => return Err(Error::NotSignedByKey { key }),
        Err(err) => return Err(Error::MalformedNote(err.to_string())),
    }
    parse_checkpoint_body(note.text())
}

fn parse_checkpoint_body(text: &[u8]) -> Result<Checkpoint, Error> {
    let malformed = Error::MalformedCheckpoint;
    // A note's text is UTF-8 ending in a newline; checked again all the same.
    let text = std::str::from_utf8(text).map_err(|_| malformed("not UTF-8"))?;
    let text = text
        .strip_suffix('\n')
        .ok_or(malformed("the last line does not end in a newline"))?;
    let mut lines = text.split('\n');
    let (Some(origin), Some(size), Some(root_line)) = (lines.next(), lines.next(), lines.next()) else {
        return Err(malformed("fewer than three lines (origin, size, root)"));
    };
    if lines.next().is_some() {
        return Err(malformed("more than three lines (extension lines are not accepted)"));
    }
    if origin.is_empty() || origin.chars().any(char::is_control) {
        return Err(malformed("the origin is empty or has a control character"));
    }
    if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("the size is not a decimal number"));
    }
    if size.len() > 1 && size.starts_with('0') {
        return Err(malformed("the size has a leading zero"));
    }
    let size = size
        .parse::<u64>()
        .map_err(|_| malformed("the size does not fit in 64 bits"))?;
    let decoded = BASE64_STANDARD
        .decode(root_line)
        .map_err(|_| malformed("the root is not base64"))?;
    let root = <[u8; HASH_SIZE]>::try_from(decoded.as_slice())
        .map(Hash)
        .map_err(|_| malformed("the root is not 32 bytes"))?;
    if BASE64_STANDARD.encode(root.0) != root_line {
        return Err(malformed("the root is not in canonical base64"));
    }
    Ok(Checkpoint {
        origin: origin.to_owned(),
        size,
        root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Go's golang.org/x/mod/sumdb/note example_test.go (ExampleSign, ExampleOpen).
    const GO_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const GO_SIGNED: &str = "If you think cryptography is the answer to your problem,\n\
        then you don't know what your problem is.\n\
        \n\
        — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn reads_gos_private_key_and_signs_as_go_does() {
        let key = SigningKey::from_file_text(GO_SKEY).expect("Go's example key");
        assert_eq!(key.name(), "PeterNeumann");
        assert_eq!(key.key_id(), 0xc74f20a3);
        assert_eq!(key.verifier_key(), GO_VKEY);
        assert_eq!(key.to_file_text().expose(), GO_SKEY);
        assert_eq!(key.sign_note(GO_TEXT).expect("valid text"), GO_SIGNED);
    }

    #[test]
    fn debug_shows_the_name_and_id_but_never_the_key() {
        let key = SigningKey::from_file_text(GO_SKEY).expect("Go's example key");
        let debug = format!("{key:?}");
        assert_eq!(debug, r#"SigningKey { name: "PeterNeumann", key_id: c74f20a3, .. }"#);
        assert_eq!(format!("{:?}", key.to_file_text()), "Secret(***)");
    }

    #[test]
    fn the_body_is_what_gos_format_tree_writes() {
        // Go's tlog note_test.go TestFormatTree: the origin there is fixed
        // to "go.sum database tree"; the rest of the format is C2SP's.
        let root = tlog_tiles::record_hash(b"hello world");
        assert_eq!(
            checkpoint_body("go.sum database tree", 123456789012, root),
            "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"
        );
        let tlog = tlog_tiles::Checkpoint::new("vox.example/audit/t1", 7, root, "").expect("valid checkpoint");
        assert_eq!(
            checkpoint_body("vox.example/audit/t1", 7, root).as_bytes(),
            tlog.to_bytes()
        );
        assert_eq!(
            parse_checkpoint_body(&tlog.to_bytes()),
            Ok(Checkpoint {
                origin: "vox.example/audit/t1".to_owned(),
                size: 7,
                root
            })
        );
    }

    #[test]
    fn bad_bodies_are_refused_with_the_reason() {
        let root = "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=";
        let cases = [
            ("o\n1\n", "fewer than three lines (origin, size, root)"),
            (
                &*format!("o\n1\n{root}\next\n"),
                "more than three lines (extension lines are not accepted)",
            ),
            (
                &*format!("\n1\n{root}\n"),
                "the origin is empty or has a control character",
            ),
            (&*format!("o\n\n{root}\n"), "the size is not a decimal number"),
            (&*format!("o\n+1\n{root}\n"), "the size is not a decimal number"),
            (&*format!("o\n0x1\n{root}\n"), "the size is not a decimal number"),
            (&*format!("o\n-1\n{root}\n"), "the size is not a decimal number"),
            (&*format!("o\n 1\n{root}\n"), "the size is not a decimal number"),
            (&*format!("o\n01\n{root}\n"), "the size has a leading zero"),
            (
                &*format!("o\n18446744073709551616\n{root}\n"),
                "the size does not fit in 64 bits",
            ),
            ("o\n1\nnot base64!\n", "the root is not base64"),
            ("o\n1\nAAAA\n", "the root is not 32 bytes"),
            (
                "o\n1\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0\n",
                "the root is not base64",
            ),
            (&*format!("o\n1\n{root}"), "the last line does not end in a newline"),
        ];
        for (body, reason) in cases {
            assert_eq!(
                parse_checkpoint_body(body.as_bytes()),
                Err(Error::MalformedCheckpoint(reason)),
                "{body:?}"
            );
        }
        let zero = parse_checkpoint_body(format!("o\n0\n{root}\n").as_bytes()).expect("size 0");
        assert_eq!(zero.size, 0);
    }
}
