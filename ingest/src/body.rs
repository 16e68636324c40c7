//! Content decoding: `Content-Encoding: gzip` or `zstd`, decompressed as a
//! stream with a hard cap, so a compression bomb is refused after at most
//! `max_decompressed_bytes + 1` bytes of output, never buffered whole.

use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::split::{split_sized, Format, Limits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Zstd,
}

impl Encoding {
    /// From a `Content-Encoding` header value (absent means identity).
    pub fn from_header(value: Option<&str>) -> Result<Encoding, ApiError> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("identity") => Ok(Encoding::Identity),
            Some("gzip") | Some("x-gzip") => Ok(Encoding::Gzip),
            Some("zstd") => Ok(Encoding::Zstd),
            Some(other) => Err(ApiError::UnsupportedContentEncoding(other.to_owned())),
        }
    }
}

/// The body as the client meant it, at most `max` bytes. Every frame or
/// member of a compressed body is decoded (gzip members, zstd frames, zstd
/// skippable frames); anything after the last one that is not another
/// frame is refused, never silently dropped.
pub fn decode(encoding: Encoding, raw: &[u8], max: usize) -> Result<Cow<'_, [u8]>, ApiError> {
    let invalid = |encoding: &'static str| {
        move |e: &dyn std::fmt::Display| ApiError::InvalidContentEncoding {
            encoding,
            detail: e.to_string(),
        }
    };
    let mut out = Vec::new();
    match encoding {
        Encoding::Identity => return Ok(Cow::Borrowed(raw)),
        Encoding::Gzip => {
            flate2::read::MultiGzDecoder::new(raw)
                .take(max as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| invalid("gzip")(&e))?;
        }
        Encoding::Zstd => {
            let mut input: &[u8] = raw;
            loop {
                use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
                let decoder = match ruzstd::decoding::StreamingDecoder::new(&mut input) {
                    Ok(decoder) => decoder,
                    // A skippable frame: its header is read, skip its content.
                    Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                        length, ..
                    })) => {
                        let length = length as usize;
                        if length > input.len() {
                            return Err(invalid("zstd")(&"a skippable frame is cut short"));
                        }
                        input = &input[length..];
                        if input.is_empty() {
                            break;
                        }
                        continue;
                    }
                    Err(e) => return Err(invalid("zstd")(&e)),
                };
                let room = (max + 1).saturating_sub(out.len()) as u64;
                decoder
                    .take(room)
                    .read_to_end(&mut out)
                    .map_err(|e| invalid("zstd")(&e))?;
                if input.is_empty() || out.len() > max {
                    break;
                }
            }
        }
    }
    if out.len() > max {
        return Err(ApiError::DecompressedTooLarge { limit: max });
    }
    Ok(Cow::Owned(out))
}

/// The node's memory for request bodies being read, in KiB permits: a
/// request holds its share until it is answered, and one that finds none
/// left is refused (503 `overloaded`) instead of being buffered.
pub struct BodyMemory {
    kib: Arc<Semaphore>,
}

/// A request's share of [`BodyMemory`], returned when dropped.
pub struct BodyPermit {
    permits: Vec<OwnedSemaphorePermit>,
    bytes: usize,
}

impl BodyMemory {
    pub fn new(bytes: usize) -> BodyMemory {
        BodyMemory {
            kib: Arc::new(Semaphore::new(bytes.div_ceil(1024).min(Semaphore::MAX_PERMITS))),
        }
    }

    /// Adds room for `bytes` more to `permit`, or refuses at once.
    fn grow(&self, permit: &mut BodyPermit, bytes: usize) -> Result<(), ApiError> {
        let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        let more = self
            .kib
            .clone()
            .try_acquire_many_owned(kib)
            .map_err(|_| ApiError::BodyMemoryFull { retry_after_secs: 1 })?;
        permit.permits.push(more);
        permit.bytes += kib as usize * 1024;
        Ok(())
    }

    /// Free body memory now, in bytes (for tests and metrics).
    pub fn available(&self) -> usize {
        self.kib.available_permits() * 1024
    }
}

/// What a body is first given before its length is known (chunked
/// transfer): more is taken as it arrives.
const FIRST_SHARE: usize = 64 * 1024;

/// Reads a request body of at most `max` bytes within `timeout`, holding a
/// share of `memory` for it. A declared `Content-Length` over `max` is
/// refused before anything is read; so is a body for which the node has no
/// memory left.
pub async fn read(
    body: &mut Option<Body>,
    headers: &HeaderMap,
    max: usize,
    memory: &BodyMemory,
    timeout: Duration,
) -> Result<(Vec<u8>, BodyPermit), ApiError> {
    let declared = match headers.get(header::CONTENT_LENGTH) {
        None => None,
        Some(v) => Some(v.to_str().ok().and_then(|v| v.trim().parse::<usize>().ok()).ok_or(
            ApiError::MalformedBody {
                format: "request",
                detail: "Content-Length is not a number of bytes".into(),
            },
        )?),
    };
    if declared.is_some_and(|d| d > max) {
        return Err(ApiError::BodyTooLarge { limit: max });
    }
    let mut permit = BodyPermit {
        permits: Vec::new(),
        bytes: 0,
    };
    memory.grow(&mut permit, declared.unwrap_or(FIRST_SHARE).max(1))?;
    let mut buf = Vec::with_capacity(declared.unwrap_or(0));
    // From here the body is read (and a refusal does not discard it again).
    let Some(body) = body.take() else {
        return Err(ApiError::Internal);
    };
    let collect = async {
        let mut body = body;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| ApiError::BodyIncomplete)?;
            let Ok(data) = frame.into_data() else { continue };
            let len = buf.len() + data.len();
            if len > max {
                return Err(ApiError::BodyTooLarge { limit: max });
            }
            if len > permit.bytes {
                let more = (len - permit.bytes).max(FIRST_SHARE);
                memory.grow(&mut permit, more)?;
            }
            buf.extend_from_slice(&data);
        }
        Ok(())
    };
    tokio::time::timeout(timeout, collect)
        .await
        .map_err(|_| ApiError::BodyTimeout {
            secs: timeout.as_secs(),
        })??;
    Ok((buf, permit))
}

/// Reads and drops a body without keeping it, up to `max` bytes and for at
/// most `time`.
pub async fn discard(body: Body, max: usize, time: Duration) {
    let drain = async {
        let mut body = body;
        let mut seen = 0;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > max {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(time, drain).await;
}

/// Bodies up to this size, uncompressed, are split on the async worker;
/// larger or compressed ones on the blocking pool.
const INLINE_DECODE: usize = 256 * 1024;

/// [`decode_batch`] off the async workers for large or compressed bodies,
/// at most `slots` at a time (each costs up to the decompressed limit).
pub async fn decode_off_runtime(
    slots: &Semaphore,
    content_encoding: Option<String>,
    content_type: String,
    raw: Vec<u8>,
    limits: Limits,
) -> Result<Vec<(serde_json::Value, usize)>, ApiError> {
    let identity = matches!(Encoding::from_header(content_encoding.as_deref())?, Encoding::Identity);
    if identity && raw.len() <= INLINE_DECODE {
        return decode_batch(content_encoding.as_deref(), &content_type, &raw, &limits);
    }
    let _slot = slots.acquire().await.map_err(|_| ApiError::Internal)?;
    tokio::task::spawn_blocking(move || decode_batch(content_encoding.as_deref(), &content_type, &raw, &limits))
        .await
        .map_err(|_| ApiError::Internal)?
}

/// Content-Encoding and Content-Type as sent, raw body in, items (with their
/// sizes) out: the
/// whole decoding path of a request body (also the fuzz target's entry).
pub fn decode_batch(
    content_encoding: Option<&str>,
    content_type: &str,
    raw: &[u8],
    limits: &Limits,
) -> Result<Vec<(serde_json::Value, usize)>, ApiError> {
    let format = Format::from_content_type(content_type)?;
    let encoding = Encoding::from_header(content_encoding)?;
    let body = decode(encoding, raw, limits.max_decompressed_bytes)?;
    split_sized(format, &body, limits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("write");
        e.finish().expect("finish")
    }

    #[test]
    fn gzip_round_trips_and_is_capped() {
        let data = b"{\"a\":1}\n".repeat(100);
        assert_eq!(
            decode(Encoding::Gzip, &gzip(&data), 1 << 20).expect("decodes").as_ref(),
            data.as_slice()
        );
        let bomb = gzip(&vec![b' '; 30 << 20]);
        assert!(bomb.len() < 100 << 10, "a bomb is small on the wire");
        assert_eq!(
            decode(Encoding::Gzip, &bomb, 20 << 20).map_err(|e| e.code()).err(),
            Some("decompressed_too_large")
        );
        let full = gzip(&data);
        let truncated = &full[..full.len() / 2];
        assert_eq!(
            decode(Encoding::Gzip, truncated, 1 << 20).map_err(|e| e.code()).err(),
            Some("invalid_content_encoding")
        );
        assert_eq!(
            decode(Encoding::Gzip, b"not gzip at all", 1 << 20)
                .map_err(|e| e.code())
                .err(),
            Some("invalid_content_encoding")
        );
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    #[test]
    fn every_zstd_frame_is_decoded_and_trailing_garbage_refused() {
        let (a, b, c) = (b"{\"a\":1}\n", b"{\"b\":2}\n", b"{\"c\":3}\n");
        let mut body = zstd(a);
        body.extend(zstd(b));
        // A skippable frame (magic 0x184D2A50, length 3) between data frames.
        body.extend([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
        body.extend(zstd(c));
        let decoded = decode(Encoding::Zstd, &body, 1 << 20).expect("three frames decode");
        assert_eq!(decoded.as_ref(), [&a[..], &b[..], &c[..]].concat().as_slice());
        let mut garbage = zstd(a);
        garbage.extend(b"trailing garbage");
        assert_eq!(
            decode(Encoding::Zstd, &garbage, 1 << 20).map_err(|e| e.code()).err(),
            Some("invalid_content_encoding")
        );
        // The cap holds across frames.
        let big = zstd(&vec![b' '; 600]);
        let two = [big.clone(), big].concat();
        assert_eq!(
            decode(Encoding::Zstd, &two, 1000).map_err(|e| e.code()).err(),
            Some("decompressed_too_large")
        );
    }

    #[test]
    fn zstd_is_refused_when_invalid() {
        assert_eq!(
            decode(Encoding::Zstd, b"not zstd at all", 1 << 20)
                .map_err(|e| e.code())
                .err(),
            Some("invalid_content_encoding")
        );
    }

    #[test]
    fn encodings_by_header() {
        assert_eq!(Encoding::from_header(None).ok(), Some(Encoding::Identity));
        assert_eq!(Encoding::from_header(Some("GZIP")).ok(), Some(Encoding::Gzip));
        assert_eq!(Encoding::from_header(Some("zstd")).ok(), Some(Encoding::Zstd));
        assert_eq!(
            Encoding::from_header(Some("br")).map_err(|e| e.code()).err(),
            Some("unsupported_content_encoding")
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_bytes_give_items_or_a_clean_error(body in proptest::collection::vec(any::<u8>(), 0..2048), kind in 0u8..6) {
                let (encoding, content_type) = match kind {
                    0 => (None, "application/json"),
                    1 => (None, "application/x-ndjson"),
                    2 => (Some("gzip"), "application/json"),
                    3 => (Some("zstd"), "application/x-ndjson"),
                    4 => (Some("br"), "application/json"),
                    _ => (None, "text/plain"),
                };
                match decode_batch(encoding, content_type, &body, &Limits::default()) {
                    Ok(items) => {
                        for (item, size) in &items {
                            let _ = crate::validate::validate_sized(item, *size, &Limits::default(), time::OffsetDateTime::now_utc());
                        }
                    }
                    Err(e) => prop_assert!(e.status().is_client_error(), "{e}"),
                }
            }
        }
    }
}
