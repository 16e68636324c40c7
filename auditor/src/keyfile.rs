//! The checkpoint signing key's file: Go's `note` private key text
//! (`PRIVATE+KEY+<name>+<id>+<key>`), mode 0600, refused when others can
//! read it.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use auditlog::SigningKey;

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read the audit signing key {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot write the audit signing key {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("{path} exists: the audit signing key is not replaced (choose another --out, or remove it if it was never used)")]
    Exists { path: String },
    #[error("the audit signing key {path} can be read by other users (mode {mode:o}): run `chmod 600 {path}`")]
    Permissions { path: String, mode: u32 },
    #[error("the audit signing key {path} is not a key `vox audit keygen` writes: {reason}")]
    Malformed { path: String, reason: String },
}

/// Reads a key file, refusing one that others can read.
pub fn load(path: &Path) -> Result<SigningKey, KeyFileError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| KeyFileError::Read {
        path: shown.clone(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions { path: shown, mode });
    }
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
        path: shown.clone(),
        source,
    })?;
    SigningKey::from_file_text(text.trim()).map_err(|e| KeyFileError::Malformed {
        path: shown,
        reason: e.to_string(),
    })
}

/// Writes `key` to a new file (mode 0600; its directory made 0700 if
/// missing); never replaces a file.
pub fn write_new(path: &Path, key: &SigningKey) -> Result<(), KeyFileError> {
    let shown = path.display().to_string();
    let err = |source| KeyFileError::Write {
        path: shown.clone(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(err)?;
    }
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(KeyFileError::Exists { path: shown }),
        Err(e) => return Err(err(e)),
    };
    let text = key.to_file_text();
    file.write_all(text.expose().as_bytes()).map_err(err)?;
    file.write_all(b"\n").map_err(err)?;
    file.sync_all().map_err(err)
}

/// Reads the key file, creating it with a new key named `name` if absent
/// (the embedded default keeps its key in the data directory).
pub fn load_or_create(path: &Path, name: &str) -> Result<SigningKey, KeyFileError> {
    if path.exists() {
        return load(path);
    }
    let key = SigningKey::generate(name).map_err(|e| KeyFileError::Malformed {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    match write_new(path, &key) {
        Ok(()) => Ok(key),
        // Another process created it first: use theirs.
        Err(KeyFileError::Exists { .. }) => load(path),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_written_private_read_back_and_never_replaced() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("keys/audit.key");
        let key = SigningKey::generate("audit.example.com").expect("key");
        write_new(&path, &key).expect("written");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load(&path).expect("read back").verifier_key(), key.verifier_key());
        let other = SigningKey::generate("audit.example.com").expect("key");
        assert!(matches!(write_new(&path, &other), Err(KeyFileError::Exists { .. })));
        assert_eq!(load(&path).expect("unchanged").verifier_key(), key.verifier_key());
        assert_eq!(
            load_or_create(&path, "other").expect("the existing key").verifier_key(),
            key.verifier_key()
        );
    }

    #[test]
    fn a_key_others_can_read_or_that_is_not_a_key_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.key");
        write_new(&path, &SigningKey::generate("vox").expect("key")).expect("written");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let refused = load(&path);
        assert!(
            matches!(refused, Err(KeyFileError::Permissions { mode: 0o644, .. })),
            "{refused:?}"
        );
        assert!(refused
            .map(|_| ())
            .expect_err("refused")
            .to_string()
            .contains("chmod 600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::fs::write(&path, "PRIVATE+KEY+vox+0badc0de+s3cr3t-material").expect("write");
        let refused = load(&path);
        assert!(matches!(refused, Err(KeyFileError::Malformed { .. })), "{refused:?}");
        assert!(
            !refused.map(|_| ()).expect_err("refused").to_string().contains("s3cr3t"),
            "the text is never shown"
        );
    }
}
