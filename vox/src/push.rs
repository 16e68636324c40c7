//! `vox push`: sends a JSON-array or NDJSON file to an ingest node in
//! batches and reports every item's result.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::io::Write;

use serde_json::Value;
use wire::BatchResponse;

use auth::Secret;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid JSON/NDJSON: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("cannot use the CA certificate {path}: {detail}")]
    Ca { path: PathBuf, detail: String },
    #[error("cannot reach {url}: {detail}; {hint}")]
    Connect { url: String, detail: String, hint: String },
    #[error("the node refused the batch ({status}, {code}): {message}")]
    Refused { status: u16, code: String, message: String },
    #[error("the node answered {status} with a body that is not a batch result: {body}")]
    Unexpected { status: u16, body: String },
}

/// Where and as whom to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Base URL of an ingest node, e.g. `https://127.0.0.1:8443`.
    pub url: String,
    /// CA certificate to trust in addition to the system's.
    pub ca_cert: Option<PathBuf>,
    pub client_id: String,
    pub client_secret: Secret,
    /// Items per request.
    pub batch_size: usize,
    /// Send bodies gzip-compressed.
    pub gzip: bool,
    /// All-or-nothing batches (`atomic=true`).
    pub atomic: bool,
}

/// Totals over every batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushSummary {
    pub batches: usize,
    pub accepted: usize,
    pub rejected: usize,
}

/// Reads a JSON array (first non-blank character `[`) or NDJSON.
pub fn read_items(path: &Path) -> Result<Vec<Value>, PushError> {
    let bytes = std::fs::read(path).map_err(|source| PushError::Read {
        path: path.to_owned(),
        source,
    })?;
    let parse_err = |detail: String| PushError::Parse {
        path: path.to_owned(),
        detail,
    };
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return serde_json::from_slice(&bytes).map_err(|e| parse_err(e.to_string()));
    }
    let mut items = Vec::new();
    for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        items.push(serde_json::from_slice(line).map_err(|e| parse_err(format!("line {}: {e}", n + 1)))?);
    }
    Ok(items)
}

pub fn client(ca_cert: Option<&Path>) -> Result<reqwest::Client, PushError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(Duration::from_secs(60));
    if let Some(path) = ca_cert {
        let ca_err = |detail: String| PushError::Ca {
            path: path.to_owned(),
            detail,
        };
        let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| ca_err(e.to_string()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| PushError::Ca {
        path: ca_cert.map(Path::to_owned).unwrap_or_default(),
        detail: e.to_string(),
    })
}

/// The request body of a batch: NDJSON, gzip-compressed if asked.
pub fn batch_body(items: &[Value], gzip: bool) -> Vec<u8> {
    let mut body = Vec::new();
    for item in items {
        serde_json::to_writer(&mut body, item).expect("a serde_json::Value always serializes");
        body.push(b'\n');
    }
    if !gzip {
        return body;
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&body).expect("writing to memory cannot fail");
    encoder.finish().expect("writing to memory cannot fail")
}

/// What went wrong talking to the node, with every cause (reqwest's own
/// message hides TLS causes such as an unknown issuer), and a hint that
/// fits it.
fn connect_error(url: &str, ca_cert: Option<&Path>, e: &reqwest::Error) -> PushError {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    let tls = [
        "certificate",
        "Certificate",
        "UnknownIssuer",
        "tls",
        "TLS",
        "Signature",
        "NotValidForName",
    ]
    .iter()
    .any(|w| detail.contains(w));
    let hint = match (tls, ca_cert) {
        (true, Some(ca)) => format!(
            "the TLS handshake failed while trusting the CA certificate {} (and the system's): \
             pass the CA that signed the node's certificate with --ca-cert, and a URL whose host name \
             or IP address the certificate names",
            ca.display()
        ),
        (true, None) => "the TLS handshake failed trusting only the system's CAs: pass the CA that signed the \
                         node's certificate with --ca-cert (for `vox serve`: <data-dir>/tls/ca.pem)"
            .to_owned(),
        (false, _) => "is the node running, and is --url right?".to_owned(),
    };
    PushError::Connect {
        url: url.to_owned(),
        detail,
        hint,
    }
}

/// The `Host` header reqwest sends for `url` (`host[:port]`, the port only
/// when it is not the scheme's default), which `VOX2` signs.
pub fn host_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => String::new(),
        },
        Err(_) => String::new(),
    }
}

/// The `Authorization` header (`VOX2-HMAC-SHA256`) of an NDJSON batch
/// POSTed to `url` (path and query included) with `nonce`, signed now. The
/// `Host` it signs is [`host_of`]`(url)`, what reqwest sends.
pub fn authorization(
    client_id: &str,
    secret: &str,
    url: &str,
    nonce: &str,
    body: &[u8],
    content_encoding: &str,
) -> String {
    let parsed = reqwest::Url::parse(url).ok();
    let path = parsed.as_ref().map_or("/", |u| u.path());
    let query = parsed.as_ref().and_then(|u| u.query()).unwrap_or("");
    let request = auth::signing::RequestToSign {
        timestamp: time::OffsetDateTime::now_utc().unix_timestamp(),
        nonce,
        method: "POST",
        path,
        query,
        body,
    };
    let host = host_of(url);
    let headers = auth::SignedHeaders {
        host: &host,
        content_type: "application/x-ndjson",
        content_encoding,
    };
    auth::signing::authorization_v2(client_id, secret, &request, &headers)
}

/// Sends one batch (as NDJSON), signed (`VOX2-HMAC-SHA256`, see the README).
/// A 503 or 429 is retried a few times, honouring `Retry-After`, with a
/// fresh timestamp and nonce; retrying is safe because item ids are
/// deterministic. A 422 (an atomic batch that failed) is a result, not an
/// error.
pub async fn send_batch(
    client: &reqwest::Client,
    options: &PushOptions,
    items: &[Value],
) -> Result<BatchResponse, PushError> {
    let path = "/v1/feedback/batch";
    let query = if options.atomic { "atomic=true" } else { "" };
    let url = format!(
        "{}{path}{}{query}",
        options.url.trim_end_matches('/'),
        if query.is_empty() { "" } else { "?" }
    );
    let body = batch_body(items, options.gzip);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let host = host_of(&url);
        let authorization = authorization(
            &options.client_id,
            options.client_secret.expose(),
            &url,
            &auth::signing::new_nonce(),
            &body,
            if options.gzip { "gzip" } else { "" },
        );
        let mut request = client
            .post(&url)
            .header("host", &host)
            .header("authorization", authorization)
            .header("content-type", "application/x-ndjson")
            .body(body.clone());
        if options.gzip {
            request = request.header("content-encoding", "gzip");
        }
        let response = request
            .send()
            .await
            .map_err(|e| connect_error(&url, options.ca_cert.as_deref(), &e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let text = response
            .text()
            .await
            .map_err(|e| connect_error(&url, options.ca_cert.as_deref(), &e))?;
        if status == 200 || status == 422 {
            if let Ok(parsed) = serde_json::from_str(&text) {
                return Ok(parsed);
            }
        }
        if (status == 503 || status == 429) && attempt < 5 {
            tokio::time::sleep(Duration::from_secs(retry_after.unwrap_or(1).min(30))).await;
            continue;
        }
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|v| v["error"][name].as_str())
                .map(str::to_owned)
        };
        return match (field("code"), field("message")) {
            (Some(code), Some(message)) => Err(PushError::Refused { status, code, message }),
            _ => Err(PushError::Unexpected { status, body: text }),
        };
    }
}

/// Pushes every item, writing one line per item result to `out`.
pub async fn push(
    options: &PushOptions,
    items: &[Value],
    out: &mut impl std::io::Write,
) -> Result<PushSummary, PushError> {
    let client = client(options.ca_cert.as_deref())?;
    let mut summary = PushSummary::default();
    for (chunk_index, chunk) in items.chunks(options.batch_size.max(1)).enumerate() {
        let response = send_batch(&client, options, chunk).await?;
        summary.batches += 1;
        summary.accepted += response.accepted;
        summary.rejected += response.rejected;
        for r in &response.results {
            let line = chunk_index * options.batch_size + r.index + 1;
            let id = r.external_id.as_deref().unwrap_or("-");
            let _ = match r.status.as_str() {
                "accepted" => writeln!(
                    out,
                    "accepted  item {line:<5} {id}  event {}",
                    r.event_id.as_deref().unwrap_or("")
                ),
                _ => writeln!(
                    out,
                    "rejected  item {line:<5} {id}  {} {}: {}",
                    r.code.as_deref().unwrap_or(""),
                    r.field.as_deref().unwrap_or(""),
                    r.message.as_deref().unwrap_or("")
                ),
            };
        }
    }
    Ok(summary)
}
