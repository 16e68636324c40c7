//! Comparison of secrets in time that does not depend on where they differ.

/// `a == b` without an early exit: the time depends on the lengths only
/// (which are public: codes and tokens have a fixed length), never on the
/// position of the first difference.
pub fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // `black_box` keeps the optimiser from turning the fold back into an
    // early-exit comparison.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::eq;

    #[test]
    fn compares_whole_slices() {
        assert!(eq(b"123456", b"123456"));
        assert!(eq(b"", b""));
        assert!(!eq(b"123456", b"123457"));
        assert!(!eq(b"023456", b"123456"));
        assert!(!eq(b"12345", b"123456"));
    }
}
