//! Which characters every store can hold. PostgreSQL refuses U+0000 in
//! `text` and `jsonb`; the other control characters (C0 except tab, line
//! feed and carriage return, DEL, and C1) are refused too, because they
//! corrupt terminals, CSV exports and log lines. Ingest refuses them per
//! item; the processor and the projector re-check records that reached the
//! log some other way.

/// Whether `c` may appear in stored text.
pub fn storable_char(c: char) -> bool {
    !c.is_control() || matches!(c, '\t' | '\n' | '\r')
}

/// The first character of `s` that no store may hold, with its character
/// index.
pub fn first_unstorable(s: &str) -> Option<(usize, char)> {
    s.chars().enumerate().find(|(_, c)| !storable_char(*c))
}

/// `s` with every character no store may hold replaced by U+FFFD, for
/// naming a refused record in a dead letter.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if storable_char(c) {
                c
            } else {
                char::REPLACEMENT_CHARACTER
            }
        })
        .collect()
}

/// Describes the character for an error message, e.g. `U+0000`.
pub fn describe(c: char) -> String {
    format!("U+{:04X}", c as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tab_and_line_breaks_among_controls() {
        assert_eq!(first_unstorable("ok\tfine\r\nyes"), None);
        assert_eq!(first_unstorable("a\u{0}b"), Some((1, '\u{0}')));
        assert_eq!(first_unstorable("\u{1b}[31m"), Some((0, '\u{1b}')));
        assert_eq!(first_unstorable("x\u{7f}"), Some((1, '\u{7f}')));
        assert_eq!(first_unstorable("\u{85}"), Some((0, '\u{85}')));
        assert_eq!(first_unstorable("Kundtjänsten 👍"), None);
        assert_eq!(sanitize("a\u{0}b"), "a\u{fffd}b");
        assert_eq!(describe('\u{0}'), "U+0000");
    }
}
