//! Secrets sealed at rest. HMAC needs the secret itself on the server, so it
//! cannot be hashed; it is encrypted with ChaCha20-Poly1305 under a
//! key-encryption key (KEK) that stays out of the log. The associated data
//! binds each sealed secret to its tenant, client and version, so a sealed
//! value copied onto another credential does not open.

use std::fmt;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::Secret;

const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot read the key-encryption key {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write the key-encryption key {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("the key-encryption key {0} is not 64 hex digits (32 bytes)")]
    Format(String),
    #[error("the key-encryption key file {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")]
    Permissions { path: PathBuf, mode: u32 },
    #[error("a sealed secret did not open: wrong key-encryption key, or the sealed value was altered or moved")]
    Open,
}

/// The key-encryption key. Never printed, never logged.
#[derive(Clone)]
pub struct Kek([u8; 32]);

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kek(id={})", self.id())
    }
}

impl Kek {
    pub fn generate() -> Kek {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Kek(key)
    }

    /// From 64 hex digits (e.g. the `VOX_KEK` environment variable).
    pub fn from_hex(text: &str, origin: &str) -> Result<Kek, SealError> {
        let bytes = hex::decode(text.trim()).map_err(|_| SealError::Format(origin.to_owned()))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SealError::Format(origin.to_owned()))?;
        Ok(Kek(key))
    }

    /// Reads a key file (64 hex digits), refusing one that others can read.
    pub fn from_file(path: &Path) -> Result<Kek, SealError> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|source| SealError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SealError::Permissions {
                path: path.to_owned(),
                mode,
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| SealError::Read {
            path: path.to_owned(),
            source,
        })?;
        Kek::from_hex(&text, &path.display().to_string())
    }

    /// Reads the key file, creating it (mode 0600) with a new key if absent:
    /// the embedded default keeps its KEK in the data directory.
    pub fn load_or_create(path: &Path) -> Result<Kek, SealError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        if path.exists() {
            return Kek::from_file(path);
        }
        if let Some(dir) = path.parent() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| SealError::Write {
                    path: dir.to_owned(),
                    source,
                })?;
        }
        let kek = Kek::generate();
        let err = |source| SealError::Write {
            path: path.to_owned(),
            source,
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut f) => {
                f.write_all(hex::encode(kek.0).as_bytes()).map_err(err)?;
                f.sync_all().map_err(err)?;
                Ok(kek)
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Kek::from_file(path),
            Err(e) => Err(err(e)),
        }
    }

    /// A short public identifier of the key (for rotation bookkeeping), not
    /// the key: the first 8 bytes of its SHA-256, in hex.
    pub fn id(&self) -> String {
        hex::encode(&Sha256::digest(self.0)[..8])
    }

    /// The hex form, for writing the key somewhere safe.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Seals `secret` for one credential version.
    pub fn seal(&self, tenant: &str, client: &str, version: i32, secret: &str) -> Vec<u8> {
        self.seal_bytes(
            "client-secret",
            &[tenant, client, &version.to_string()],
            secret.as_bytes(),
        )
    }

    /// Opens a sealed secret; fails if the key, the credential or the bytes
    /// differ from when it was sealed.
    pub fn open(&self, tenant: &str, client: &str, version: i32, sealed: &[u8]) -> Result<Secret, SealError> {
        let plain = self.open_bytes("client-secret", &[tenant, client, &version.to_string()], sealed)?;
        std::str::from_utf8(&plain)
            .map(Secret::new)
            .map_err(|_| SealError::Open)
    }

    /// Seals any credential (a password hash, a TOTP seed) for one
    /// `purpose` and the values it belongs to (`binding`: tenant, user, …):
    /// the associated data is `vox-<purpose>-v1`, then each binding value,
    /// NUL-separated, so a sealed value moved to another user or purpose
    /// does not open. Output: the 12-byte random nonce, then the ciphertext.
    pub fn seal_bytes(&self, purpose: &str, binding: &[&str], plain: &[u8]) -> Vec<u8> {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = associated_data(purpose, binding);
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad: &aad })
            .expect("ChaCha20-Poly1305 encryption of a short message cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`Kek::seal_bytes`] sealed with the same purpose and
    /// binding; the plaintext is wiped when dropped.
    pub fn open_bytes(
        &self,
        purpose: &str,
        binding: &[&str],
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() <= NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        let aad = associated_data(purpose, binding);
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(zeroize::Zeroizing::new)
            .map_err(|_| SealError::Open)
    }
}

fn associated_data(purpose: &str, binding: &[&str]) -> Vec<u8> {
    let mut aad = format!("vox-{purpose}-v1").into_bytes();
    for value in binding {
        aad.push(0);
        aad.extend_from_slice(value.as_bytes());
    }
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_credential() {
        let kek = Kek::generate();
        let sealed = kek.seal("acme", "vox_ci_1", 1, "vox_sk_secret");
        assert_eq!(
            kek.open("acme", "vox_ci_1", 1, &sealed).expect("opens").expose(),
            "vox_sk_secret"
        );
        assert!(kek.open("acme", "vox_ci_1", 2, &sealed).is_err(), "other version");
        assert!(kek.open("globex", "vox_ci_1", 1, &sealed).is_err(), "other tenant");
        assert!(
            Kek::generate().open("acme", "vox_ci_1", 1, &sealed).is_err(),
            "other key"
        );
        let mut altered = sealed.clone();
        altered[20] ^= 1;
        assert!(kek.open("acme", "vox_ci_1", 1, &altered).is_err(), "altered bytes");
        assert!(!String::from_utf8_lossy(&sealed).contains("secret"));
        let hash = kek.seal_bytes("password", &["acme", "usr_1"], b"$2b$12$x");
        assert_eq!(
            &kek.open_bytes("password", &["acme", "usr_1"], &hash).expect("opens")[..],
            b"$2b$12$x"
        );
        assert!(
            kek.open_bytes("password", &["acme", "usr_2"], &hash).is_err(),
            "other user"
        );
        assert!(
            kek.open_bytes("totp-seed", &["acme", "usr_1"], &hash).is_err(),
            "other purpose"
        );
    }

    #[test]
    fn key_files_are_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("secrets/kek");
        let a = Kek::load_or_create(&path).expect("create");
        let b = Kek::load_or_create(&path).expect("load");
        assert_eq!(a.id(), b.id());
        assert_eq!(
            std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(Kek::from_file(&path), Err(SealError::Permissions { .. })));
        assert!(!format!("{a:?}").contains(&a.to_hex()));
    }
}
