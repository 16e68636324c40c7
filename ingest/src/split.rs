//! Splitting a decoded body into its items, sized as sent: a JSON array or
//! NDJSON, within the request's limits. An item over the per-item limit is
//! not parsed.

use serde_json::Value;

use crate::error::ApiError;

/// Limits of one request.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest body accepted, in bytes as sent (compressed or not).
    pub max_body_bytes: usize,
    /// Largest body after decompression, in bytes.
    pub max_decompressed_bytes: usize,
    /// Most items in one batch.
    pub max_items: usize,
    /// Largest single item, in bytes of JSON.
    pub max_item_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 5 * 1024 * 1024,
            max_decompressed_bytes: 20 * 1024 * 1024,
            max_items: 1000,
            max_item_bytes: 64 * 1024,
        }
    }
}

/// How the body lists its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`: one JSON array.
    JsonArray,
    /// `application/x-ndjson`: one JSON object per line.
    Ndjson,
}

impl Format {
    /// From a `Content-Type` header value (parameters such as `charset=utf-8`
    /// are ignored).
    pub fn from_content_type(value: &str) -> Result<Format, ApiError> {
        let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Ok(Format::JsonArray),
            "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Ok(Format::Ndjson),
            _ => Err(ApiError::UnsupportedMediaType(value.to_owned())),
        }
    }
}

/// Splits a body into its items. A body that is not valid JSON (or NDJSON),
/// or has too many items, is refused whole.
pub fn split_items(format: Format, body: &[u8], limits: &Limits) -> Result<Vec<Value>, ApiError> {
    Ok(split_sized(format, body, limits)?
        .into_iter()
        .map(|(value, _)| value)
        .collect())
}

/// [`split_items`], with each item's size in bytes of JSON as sent (for the
/// per-item limit, without serializing the item again).
pub fn split_sized(format: Format, body: &[u8], limits: &Limits) -> Result<Vec<(Value, usize)>, ApiError> {
    let malformed = |format: &'static str, detail: String| ApiError::MalformedBody { format, detail };
    let parse = |raw: &[u8], format: &'static str, line: Option<usize>| {
        serde_json::from_slice::<Value>(raw).map_err(|e| match line {
            Some(n) => malformed(format, format!("line {n}: {e}")),
            None => malformed(format, e.to_string()),
        })
    };
    let too_many = |count| ApiError::TooManyItems {
        count,
        limit: limits.max_items,
    };
    let mut items = Vec::new();
    match format {
        Format::JsonArray => {
            if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
                // Parse anyway for the precise error of a broken body.
                parse(body, "JSON", None)?;
                return Err(malformed(
                    "JSON",
                    "expected an array of items; send one item per line as application/x-ndjson instead".into(),
                ));
            }
            let raw: Vec<&serde_json::value::RawValue> =
                serde_json::from_slice(body).map_err(|e| malformed("JSON", e.to_string()))?;
            if raw.len() > limits.max_items {
                return Err(too_many(raw.len()));
            }
            for r in raw {
                items.push((
                    parse_sized(r.get().as_bytes(), limits, |raw| parse(raw, "JSON", None))?,
                    r.get().len(),
                ));
            }
        }
        Format::Ndjson => {
            for (n, line) in body.split(|b| *b == b'\n').enumerate() {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if items.len() >= limits.max_items {
                    // Stop parsing early; the count is reported as "more than".
                    return Err(too_many(limits.max_items + 1));
                }
                items.push((
                    parse_sized(line, limits, |raw| parse(raw, "NDJSON", Some(n + 1)))?,
                    line.len(),
                ));
            }
        }
    }
    if items.is_empty() {
        return Err(malformed("batch", "the batch has no items".into()));
    }
    Ok(items)
}

/// Parses one item unless it is larger than the per-item limit: an oversized
/// item is never parsed (a 20 MiB line would cost hundreds of MiB as a
/// `Value`); it stays `null` and is refused as `item_too_large` by
/// [`validate_sized`], which checks the size first.
fn parse_sized(
    raw: &[u8],
    limits: &Limits,
    parse: impl Fn(&[u8]) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    if raw.len() > limits.max_item_bytes {
        return Ok(Value::Null);
    }
    parse(raw)
}
