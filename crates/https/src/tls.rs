//! TLS for the public listener: rustls (TLS 1.2 and 1.3, ring provider),
//! loading a certificate chain and key from PEM files, or generating a local
//! CA and a server certificate for the embedded default.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}; pass a PEM file with --tls-cert/--tls-key")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} holds no usable PEM {what}: {detail}")]
    Pem {
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
    #[error("the certificate and key do not form a valid TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("generating the local certificate failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Files of a generated local certificate authority and server certificate.
#[derive(Debug, Clone)]
pub struct LocalCertificate {
    /// The CA certificate clients should trust.
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// How long a generated server certificate is valid.
pub const SERVER_CERT_DAYS: i64 = 825;
/// A generated certificate this close to its end is made anew on start.
pub const RENEW_BEFORE_DAYS: i64 = 30;

/// Uses the certificate in `dir`, generating one on first start (and anew
/// when it is within [`RENEW_BEFORE_DAYS`] of its end): a local CA (whose
/// key is discarded after signing) and a server certificate for
/// `localhost`, `127.0.0.1` and `::1`.
pub fn ensure_local_certificate(dir: &Path) -> Result<LocalCertificate, TlsError> {
    let files = LocalCertificate {
        ca_cert: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
    };
    if files.ca_cert.exists() && files.server_cert.exists() && files.server_key.exists() {
        let age = std::fs::metadata(&files.server_cert)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .unwrap_or_default();
        let renew_after = std::time::Duration::from_secs(((SERVER_CERT_DAYS - RENEW_BEFORE_DAYS) * 86_400) as u64);
        if age < renew_after {
            return Ok(files);
        }
        tracing::warn!(
            dir = %dir.display(),
            "the local certificate ends within {RENEW_BEFORE_DAYS} days; making a new CA and certificate (clients must trust the new ca.pem)"
        );
    }
    create_certificate(dir, &["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()])
}

/// Makes a CA (its key discarded after signing) and a server certificate
/// for `names` (host names or IP addresses) in `dir`: `ca.pem`,
/// `server.pem`, `server.key` (0600).
pub fn create_certificate(dir: &Path, names: &[String]) -> Result<LocalCertificate, TlsError> {
    let files = LocalCertificate {
        ca_cert: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
    };
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| TlsError::Write {
                path: dir.to_owned(),
                source,
            })?;
    }
    let now = time::OffsetDateTime::now_utc();

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::CommonName, "Vox local CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now - time::Duration::days(1);
    ca.not_after = now + time::Duration::days(3650);
    let ca_cert = ca.self_signed(&ca_key)?;

    let key = KeyPair::generate()?;
    let mut server = CertificateParams::new(names.to_vec())?;
    server.distinguished_name.push(DnType::CommonName, "vox (local CA)");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.not_before = now - time::Duration::days(1);
    server.not_after = now + time::Duration::days(SERVER_CERT_DAYS);
    let server_cert = server.signed_by(&key, &ca_cert, &ca_key)?;

    write(&files.ca_cert, ca_cert.pem().as_bytes(), 0o644)?;
    write(&files.server_cert, server_cert.pem().as_bytes(), 0o644)?;
    write(&files.server_key, key.serialize_pem().as_bytes(), 0o600)?;
    Ok(files)
}

fn write(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| TlsError::Write {
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    f.write_all(contents).map_err(err)?;
    f.sync_all().map_err(err)
}

/// A rustls server configuration (TLS 1.2+, HTTP/1.1) from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let certs = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: cert.to_owned(),
            what: "certificate",
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: cert.to_owned(),
            what: "certificate",
            detail: "no CERTIFICATE block".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|e| TlsError::Pem {
        path: key.to_owned(),
        what: "private key",
        detail: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_near_its_end_is_made_anew() {
        let dir = std::env::temp_dir().join(format!("vox-tls-test-{}", uuid::Uuid::new_v4().simple()));
        let first = ensure_local_certificate(&dir).expect("made");
        let ca = std::fs::read(&first.ca_cert).expect("ca");
        let again = ensure_local_certificate(&dir).expect("kept");
        assert_eq!(
            std::fs::read(&again.ca_cert).expect("ca"),
            ca,
            "a fresh certificate is kept"
        );
        // Make the server certificate look 800 days old (825-day validity).
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(800 * 86_400);
        std::fs::File::options()
            .write(true)
            .open(&first.server_cert)
            .and_then(|f| f.set_modified(old))
            .expect("set mtime");
        let renewed = ensure_local_certificate(&dir).expect("renewed");
        assert_ne!(
            std::fs::read(&renewed.ca_cert).expect("ca"),
            ca,
            "a new CA and certificate"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
