//! The body decoder and validator on arbitrary input: any bytes must give
//! items or a clean client error, never a panic, a hang or unbounded memory.
//!
//! cd ingest/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run decode_batch -- -max_total_time=60
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let encoding = [None, Some("gzip"), Some("zstd"), Some("identity")][usize::from(selector & 3)];
    let content_type = if selector & 4 == 0 { "application/json" } else { "application/x-ndjson" };
    let limits = ingest::Limits { max_decompressed_bytes: 1 << 20, ..ingest::Limits::default() };
    match ingest::body::decode_batch(encoding, content_type, body, &limits) {
        Ok(items) => {
            let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
            for (item, size) in &items {
                let _ = ingest::validate::validate_sized(item, *size, &limits, now);
            }
        }
        Err(e) => assert!(e.status().is_client_error(), "{e}"),
    }
});
