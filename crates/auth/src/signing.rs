//! The signed request schemes, `VOX2-HMAC-SHA256` (current) and
//! `VOX1-HMAC-SHA256` (deprecated: still accepted, see README).
//!
//! ```text
//! Authorization: VOX2-HMAC-SHA256 Credential=<client id>, Timestamp=<unix seconds>, Nonce=<nonce>, Signature=<hex>
//! ```
//!
//! The signature is HMAC-SHA256, keyed with the client secret, over the
//! string to sign: these lines joined by `\n` (no trailing newline):
//!
//! ```text
//! VOX2-HMAC-SHA256
//! <timestamp>            the same decimal Unix time as in the header
//! <nonce>                16 to 64 characters of A-Z a-z 0-9 - _
//! <METHOD>               upper case, e.g. POST
//! <host>                 the Host header as sent, lower case, e.g. ingest.example.com:8443
//! <path>                 e.g. /v1/feedback/batch
//! <query>                the raw query string without `?`, empty if none
//! <content-type>         the Content-Type header as sent (trimmed), empty if none
//! <content-encoding>     the Content-Encoding header as sent (trimmed), empty if none
//! <body SHA-256>         lower-case hex of the SHA-256 of the body bytes as sent
//! ```
//!
//! `VOX1-HMAC-SHA256` signs the same lines without host, content-type and
//! content-encoding.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The deprecated scheme (no host or content headers signed).
pub const SCHEME_V1: &str = "VOX1-HMAC-SHA256";
/// The current scheme.
pub const SCHEME: &str = "VOX2-HMAC-SHA256";
/// The longest `Authorization` header accepted, in bytes.
pub const MAX_HEADER_LEN: usize = 512;
/// The longest `Credential` accepted (client ids are 23 characters).
pub const MAX_CREDENTIAL_LEN: usize = 64;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the Authorization header is not `{SCHEME} Credential=…, Timestamp=…, Nonce=…, Signature=…`: {0}")]
    Malformed(&'static str),
}

/// Which scheme a request was signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    V1,
    V2,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::V1 => SCHEME_V1,
            Scheme::V2 => SCHEME,
        }
    }
}

/// The parts of a parsed `Authorization` header. Every part is bounded in
/// length and charset, so it is safe to log or count (never to trust: the
/// credential is only a claim until the signature verifies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationHeader {
    pub scheme: Scheme,
    pub client_id: String,
    pub timestamp: i64,
    pub nonce: String,
    pub signature: Vec<u8>,
}

impl AuthorizationHeader {
    pub fn parse(value: &str) -> Result<AuthorizationHeader, SignatureError> {
        if value.len() > MAX_HEADER_LEN {
            return Err(SignatureError::Malformed("the header is longer than 512 bytes"));
        }
        let (scheme, rest) = if let Some(rest) = value.strip_prefix(SCHEME) {
            (Scheme::V2, rest)
        } else if let Some(rest) = value.strip_prefix(SCHEME_V1) {
            (Scheme::V1, rest)
        } else {
            return Err(SignatureError::Malformed("unknown scheme"));
        };
        let rest = rest
            .strip_prefix(' ')
            .ok_or(SignatureError::Malformed("unknown scheme"))?;
        let (mut client_id, mut timestamp, mut nonce, mut signature) = (None, None, None, None);
        for part in rest.split(',') {
            let (key, value) = part
                .trim()
                .split_once('=')
                .ok_or(SignatureError::Malformed("a part is not key=value"))?;
            let slot = match key {
                "Credential" => &mut client_id,
                "Timestamp" => &mut timestamp,
                "Nonce" => &mut nonce,
                "Signature" => &mut signature,
                _ => return Err(SignatureError::Malformed("unknown part")),
            };
            if slot.replace(value.to_owned()).is_some() {
                return Err(SignatureError::Malformed("a part appears twice"));
            }
        }
        let client_id = client_id.ok_or(SignatureError::Malformed("no Credential"))?;
        if client_id.is_empty() || client_id.len() > MAX_CREDENTIAL_LEN || !token_chars(&client_id) {
            return Err(SignatureError::Malformed(
                "Credential must be a client id such as vox_ci_0123456789abcdef",
            ));
        }
        let timestamp = timestamp.ok_or(SignatureError::Malformed("no Timestamp"))?;
        if timestamp.is_empty() || timestamp.len() > 12 || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SignatureError::Malformed("Timestamp is not Unix seconds"));
        }
        let timestamp = timestamp
            .parse::<i64>()
            .map_err(|_| SignatureError::Malformed("Timestamp is not Unix seconds"))?;
        let nonce = nonce.ok_or(SignatureError::Malformed("no Nonce"))?;
        if !(16..=64).contains(&nonce.len()) || !token_chars(&nonce) {
            return Err(SignatureError::Malformed(
                "Nonce must be 16 to 64 characters of A-Z a-z 0-9 - _",
            ));
        }
        let signature = signature.ok_or(SignatureError::Malformed("no Signature"))?;
        if signature.len() != 64 {
            return Err(SignatureError::Malformed("Signature must be 64 hex digits"));
        }
        let signature = hex::decode(signature).map_err(|_| SignatureError::Malformed("Signature is not hex"))?;
        Ok(AuthorizationHeader {
            scheme,
            client_id,
            timestamp,
            nonce,
            signature,
        })
    }
}

fn token_chars(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The headers `VOX2` signs besides the request line (each as sent; empty
/// when absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct SignedHeaders<'a> {
    pub host: &'a str,
    pub content_type: &'a str,
    pub content_encoding: &'a str,
}

/// The `VOX1` string to sign (see the module documentation).
pub fn string_to_sign(timestamp: i64, nonce: &str, method: &str, path: &str, query: &str, body: &[u8]) -> String {
    let body_hash = hex::encode(Sha256::digest(body));
    format!(
        "{SCHEME_V1}\n{timestamp}\n{nonce}\n{}\n{path}\n{query}\n{body_hash}",
        method.to_ascii_uppercase()
    )
}

/// The `VOX2` string to sign (see the module documentation).
pub fn string_to_sign_v2(request: &RequestToSign<'_>, headers: &SignedHeaders<'_>) -> String {
    let body_hash = hex::encode(Sha256::digest(request.body));
    format!(
        "{SCHEME}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{body_hash}",
        request.timestamp,
        request.nonce,
        request.method.to_ascii_uppercase(),
        headers.host.trim().to_ascii_lowercase(),
        request.path,
        request.query,
        headers.content_type.trim(),
        headers.content_encoding.trim(),
    )
}

/// HMAC-SHA256 of `string_to_sign` keyed with `secret`.
pub fn sign(secret: &str, string_to_sign: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Constant-time check of `signature` (hmac's `verify_slice`).
pub fn verify(secret: &str, string_to_sign: &str, signature: &[u8]) -> bool {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(signature).is_ok()
}

/// A fresh random nonce (32 hex characters).
pub fn new_nonce() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct RequestToSign<'a> {
    pub timestamp: i64,
    pub nonce: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub body: &'a [u8],
}

impl RequestToSign<'_> {
    /// The `VOX1` string to sign.
    pub fn string_to_sign(&self) -> String {
        string_to_sign(
            self.timestamp,
            self.nonce,
            self.method,
            self.path,
            self.query,
            self.body,
        )
    }
}

/// A deprecated `VOX1` `Authorization` header value.
pub fn authorization(client_id: &str, secret: &str, request: &RequestToSign<'_>) -> String {
    let signature = sign(secret, &request.string_to_sign());
    format!(
        "{SCHEME_V1} Credential={client_id}, Timestamp={}, Nonce={}, Signature={}",
        request.timestamp,
        request.nonce,
        hex::encode(signature)
    )
}

/// The `VOX2` `Authorization` header value for a request (what `vox push`
/// sends).
///
/// ```
/// use auth::signing::{authorization_v2, string_to_sign_v2, verify, AuthorizationHeader, RequestToSign};
/// use auth::SignedHeaders;
///
/// let body = br#"{"external_id":"nps-1"}"#;
/// let request = RequestToSign {
///     timestamp: 1_764_400_000,
///     nonce: "0123456789abcdef",
///     method: "POST",
///     path: "/v1/feedback/batch",
///     query: "",
///     body,
/// };
/// let headers = SignedHeaders { host: "127.0.0.1:8443", content_type: "application/x-ndjson", content_encoding: "" };
/// let value = authorization_v2("vox_ci_0123456789abcdef", "vox_sk_example", &request, &headers);
/// assert!(value.starts_with("VOX2-HMAC-SHA256 Credential=vox_ci_0123456789abcdef, Timestamp=1764400000, "));
/// // What the node does: parse the header, rebuild the string, check the HMAC.
/// let parsed = AuthorizationHeader::parse(&value).unwrap();
/// assert!(verify("vox_sk_example", &string_to_sign_v2(&request, &headers), &parsed.signature));
/// ```
pub fn authorization_v2(
    client_id: &str,
    secret: &str,
    request: &RequestToSign<'_>,
    headers: &SignedHeaders<'_>,
) -> String {
    let signature = sign(secret, &string_to_sign_v2(request, headers));
    format!(
        "{SCHEME} Credential={client_id}, Timestamp={}, Nonce={}, Signature={}",
        request.timestamp,
        request.nonce,
        hex::encode(signature)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_known_vector() {
        // Recomputable with: printf '%s' "$STRING" | openssl dgst -sha256 -hmac "$SECRET"
        let s = string_to_sign(
            1_764_400_000,
            "0123456789abcdef",
            "post",
            "/v1/feedback/batch",
            "",
            b"[]",
        );
        assert_eq!(
            s,
            "VOX1-HMAC-SHA256\n1764400000\n0123456789abcdef\nPOST\n/v1/feedback/batch\n\n\
             4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
        );
        // Computed independently with openssl (see the README's curl example).
        assert_eq!(
            hex::encode(sign("vox_sk_test", &s)),
            "049a2bb5299c69f10fcf20de9498107758416f2342ead97403ee69c7ed99eca4"
        );
    }

    #[test]
    fn a_known_v2_vector() {
        let request = RequestToSign {
            timestamp: 1_764_400_000,
            nonce: "0123456789abcdef",
            method: "post",
            path: "/v1/feedback/batch",
            query: "",
            body: b"[]",
        };
        let headers = SignedHeaders {
            host: "Ingest.Example.com:8443",
            content_type: "application/json",
            content_encoding: "",
        };
        assert_eq!(
            string_to_sign_v2(&request, &headers),
            "VOX2-HMAC-SHA256\n1764400000\n0123456789abcdef\nPOST\ningest.example.com:8443\n/v1/feedback/batch\n\n\
             application/json\n\n4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
        );
        let h = authorization_v2("vox_ci_0123456789abcdef", "vox_sk_test", &request, &headers);
        let parsed = AuthorizationHeader::parse(&h).expect("parses");
        assert_eq!(parsed.scheme, Scheme::V2);
        assert!(verify(
            "vox_sk_test",
            &string_to_sign_v2(&request, &headers),
            &parsed.signature
        ));
        let other = SignedHeaders {
            content_type: "application/x-ndjson",
            ..headers
        };
        assert!(
            !verify("vox_sk_test", &string_to_sign_v2(&request, &other), &parsed.signature),
            "the content type is signed"
        );
    }

    #[test]
    fn header_parts_are_bounded() {
        let sig = "00".repeat(32);
        let long_id = "a".repeat(400_000);
        for bad in [
            format!("VOX2-HMAC-SHA256 Credential={long_id}, Timestamp=1, Nonce=0123456789abcdef, Signature={sig}"),
            format!(
                "VOX2-HMAC-SHA256 Credential={}, Timestamp=1, Nonce=0123456789abcdef, Signature={sig}",
                "a".repeat(65)
            ),
            format!("VOX2-HMAC-SHA256 Credential=<script>, Timestamp=1, Nonce=0123456789abcdef, Signature={sig}"),
            format!("VOX2-HMAC-SHA256 Credential=c, Timestamp=-1, Nonce=0123456789abcdef, Signature={sig}"),
            format!("VOX2-HMAC-SHA256 Credential=c, Timestamp=1, Nonce=0123456789abcdef, Signature={sig}00"),
        ] {
            let err = AuthorizationHeader::parse(&bad).expect_err("refused");
            assert!(err.to_string().len() < 200, "the error never echoes the value: {err}");
        }
    }

    #[test]
    fn headers_parse_and_refuse_malformed_ones() {
        let request = RequestToSign {
            timestamp: 17,
            nonce: "nonce-0123456789ab",
            method: "POST",
            path: "/p",
            query: "atomic=true",
            body: b"{}",
        };
        let h = authorization("vox_ci_1", "s", &request);
        let parsed = AuthorizationHeader::parse(&h).expect("parses");
        assert_eq!(parsed.scheme, Scheme::V1);
        assert_eq!(
            (parsed.client_id.as_str(), parsed.timestamp, parsed.nonce.as_str()),
            ("vox_ci_1", 17, "nonce-0123456789ab")
        );
        for bad in [
            "Basic dm94OnNlY3JldA==",
            "VOX1-HMAC-SHA256 Credential=c, Timestamp=1, Nonce=short, Signature=00",
            "VOX1-HMAC-SHA256 Credential=c, Timestamp=yesterday, Nonce=0123456789abcdef, Signature=00",
            "VOX1-HMAC-SHA256 Credential=c, Timestamp=1, Nonce=0123456789abcdef, Signature=zz",
            "VOX1-HMAC-SHA256 Credential=c, Timestamp=1, Nonce=0123456789abcdef",
            "VOX1-HMAC-SHA256 Credential=c, Credential=d, Timestamp=1, Nonce=0123456789abcdef, Signature=00",
        ] {
            assert!(AuthorizationHeader::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_change_to_a_signed_part_breaks_the_signature(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            flip in any::<prop::sample::Index>(),
            ts in 0i64..4_000_000_000,
        ) {
            let s = string_to_sign(ts, "0123456789abcdef", "POST", "/v1/feedback/batch", "", &body);
            let sig = sign("vox_sk_k", &s);
            prop_assert!(verify("vox_sk_k", &s, &sig));
            prop_assert!(!verify("vox_sk_other", &s, &sig));
            let mut altered = body.clone();
            if altered.is_empty() { altered.push(0) } else { let i = flip.index(altered.len()); altered[i] ^= 0x01; }
            let s2 = string_to_sign(ts, "0123456789abcdef", "POST", "/v1/feedback/batch", "", &altered);
            prop_assert!(!verify("vox_sk_k", &s2, &sig));
            let s3 = string_to_sign(ts + 1, "0123456789abcdef", "POST", "/v1/feedback/batch", "", &body);
            prop_assert!(!verify("vox_sk_k", &s3, &sig));
        }
    }
}
