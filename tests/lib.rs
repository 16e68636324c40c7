//! The end-to-end tests live in `it/` (one test binary, `cargo test -p tests`).
