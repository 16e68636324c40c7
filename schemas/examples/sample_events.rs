//! Writes one encoded sample of every event to a directory, as
//! `<stem>.bin`, for the cross-library check in `schemas/interop/`.
//!
//! `cargo run -p schemas --example sample_events -- DIR`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: sample_events DIR")?;
    std::fs::create_dir_all(&dir)?;
    for (stem, bytes) in schemas::samples::encoded()? {
        std::fs::write(format!("{dir}/{stem}.bin"), bytes)?;
    }
    Ok(())
}
