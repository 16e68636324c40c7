//! The one clock: event times are microseconds since the Unix epoch, UTC.

/// Now, in microseconds since the Unix epoch (0 if the system clock is
/// before 1970; saturating far in the future).
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_2026() {
        assert!(super::now_micros() > 1_767_225_600_000_000);
    }
}
