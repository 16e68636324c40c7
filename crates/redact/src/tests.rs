//! Unit tests of the checksums, dates and chain helpers.

use super::*;

#[test]
fn luhn_known_values() {
    assert!(luhn(b"4111111111111111"));
    assert!(luhn(b"4111 1111 1111 1111"));
    assert!(luhn(b"378282246310005"));
    assert!(luhn(b"8112189876"));
    assert!(!luhn(b"4111111111111112"));
    assert!(!luhn(b"8112189875"));
}

#[test]
fn mod97_known_values() {
    assert!(iban_mod97(b"FI21 1234 5600 0007 85"));
    assert!(iban_mod97(b"FI2112345600000785"));
    assert!(iban_mod97(b"fi2112345600000785"));
    assert!(iban_mod97(b"GB82 WEST 1234 5698 7654 32"));
    assert!(iban_mod97(b"DE89370400440532013000"));
    assert!(!iban_mod97(b"FI21 1234 5600 0007 86"));
    assert!(!iban_mod97(b"DE88370400440532013000"));
}

#[test]
fn calendar() {
    assert!(is_leap(2000) && is_leap(2024) && !is_leap(1900) && !is_leap(1800) && !is_leap(2023));
    assert_eq!(days_in_month(2024, 2), 29);
    assert_eq!(days_in_month(1900, 2), 28);
    assert_eq!(days_in_month(2023, 4), 30);
    assert_eq!(days_in_month(2023, 13), 0);
    assert_eq!(days_in_month(2023, 0), 0);
}

#[test]
fn hetu_rules() {
    for valid in [
        "131052-308T",
        "131052-308t",
        "010101A123N",
        "290200A002C",
        "010190Y123M",
        "290204B4562",
        "150875+900H",
    ] {
        assert!(hetu_valid(valid.as_bytes()), "{valid}");
    }
    for invalid in [
        "131052-308U", // wrong check character
        "131052A308T", // same digits, other century: still the same check, but ...
        "290201A002C", // 2001 is not a leap year
        "290200-002C", // 1900 is not a leap year
        "320152-308T", // day 32
        "131352-308T", // month 13
        "131052-001T", // individual number below 002
        "131052Z308T", // not a century sign
    ] {
        // "131052A308T" has a valid check character (the sign is not part of it) and a real date (2052),
        // so it is valid; every other one is not.
        assert_eq!(hetu_valid(invalid.as_bytes()), invalid == "131052A308T", "{invalid}");
    }
}

#[test]
fn personnummer_rules() {
    for valid in [
        "811218-9876",
        "811218+9876",
        "19811218-9876",
        "198112189876",
        "8112189876",
        "811278-9873",
    ] {
        assert!(personnummer_valid(valid.as_bytes()), "{valid}");
    }
    for invalid in [
        "811218-9875",   // Luhn
        "19811218+9876", // '+' only with a 6-digit date
        "17811218-9876", // century
        "811318-9876",   // month 13
        "811200-9876",   // day 00
        "811232-9876",   // day 32 (not a co-ordination day either)
        "81121898765",   // 11 digits
    ] {
        assert!(!personnummer_valid(invalid.as_bytes()), "{invalid}");
    }
}

#[test]
fn chains_split_into_groups() {
    let text = "x +1 (555) 123-4567";
    let g = groups(text, 2..text.len());
    let digits: Vec<&str> = g.iter().map(|g| &text[g.digits.clone()]).collect();
    assert_eq!(digits, ["1", "555", "123", "4567"]);
    assert!(g[1].paren && !g[0].paren);
    assert_eq!(&text[g[1].start..g[1].end], "(555)");
}

#[test]
fn spans_keep_the_first_claim() {
    let mut s = Spans(Vec::new());
    s.add(5..10, Source::Custom(0));
    s.add(0..6, Source::Builtin(Kind::Email)); // overlaps the start
    s.add(9..12, Source::Builtin(Kind::Email)); // overlaps the end
    s.add(6..8, Source::Builtin(Kind::Email)); // inside
    s.add(10..12, Source::Builtin(Kind::Ip)); // touching is fine
    s.add(0..5, Source::Builtin(Kind::Ip));
    s.add(3..3, Source::Builtin(Kind::Ip)); // empty: ignored
    let ranges: Vec<_> = s.0.iter().map(|f| f.range.clone()).collect();
    assert_eq!(ranges, [0..5, 5..10, 10..12]);
}

#[test]
fn builtin_patterns_compile_within_the_limits() {
    for p in [
        EMAIL,
        IBAN,
        CARD,
        HETU,
        PERSONNUMMER,
        IPV4,
        IPV6,
        PHONE_INTL,
        PHONE_NATIONAL,
    ] {
        let built = RegexBuilder::new(p)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(DFA_SIZE_LIMIT)
            .build();
        assert!(built.is_ok(), "{p}: {built:?}");
    }
}

#[test]
fn stats_for_prefilters() {
    let s = Stats::of("Soita +358 (0)40 123-4567, 1.2.3.4 tai a@b.fi FI21 12:30 1234567");
    assert!(s.at && s.plus && s.iban_head);
    assert_eq!(s.max_run, 7);
    assert_eq!(s.max_chain, 13); // 358 0 40 123 4567 (", " breaks the chain)
    assert_eq!((s.colons, s.dots), (1, 4));
    let s = Stats::of("05.01.2024 um 14:00, 1 299,00 €");
    assert_eq!((s.max_run, s.max_chain, s.iban_head), (4, 8, false));
    let s = Stats::of("");
    assert_eq!((s.digits, s.max_chain, s.at), (0, 0, false));
}
