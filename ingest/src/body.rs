//! Content decoding: `Content-Encoding: gzip` or `zstd`, decompressed as a
//! stream with a hard cap, so a compression bomb is refused after at most
//! `max_decompressed_bytes + 1` bytes of output, never buffered whole.

use std::borrow::Cow;
use std::io::Read;

use crate::error::ApiError;
use crate::validate::{split_sized, Format, Limits};

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

/// The body as the client meant it, at most `max` bytes.
pub fn decode(encoding: Encoding, raw: &[u8], max: usize) -> Result<Cow<'_, [u8]>, ApiError> {
    let (name, reader): (&'static str, Box<dyn Read + '_>) = match encoding {
        Encoding::Identity => return Ok(Cow::Borrowed(raw)),
        Encoding::Gzip => ("gzip", Box::new(flate2::read::MultiGzDecoder::new(raw))),
        Encoding::Zstd => {
            let decoder =
                ruzstd::decoding::StreamingDecoder::new(raw).map_err(|e| ApiError::InvalidContentEncoding {
                    encoding: "zstd",
                    detail: e.to_string(),
                })?;
            ("zstd", Box::new(decoder))
        }
    };
    let mut out = Vec::new();
    reader
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::InvalidContentEncoding {
            encoding: name,
            detail: e.to_string(),
        })?;
    if out.len() > max {
        return Err(ApiError::DecompressedTooLarge { limit: max });
    }
    Ok(Cow::Owned(out))
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
}
