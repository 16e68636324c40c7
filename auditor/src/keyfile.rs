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
