//! Language tags (BCP-47), as items carry them and rules name them.

/// Whether `tag` is a well-formed BCP-47 tag (RFC 5646, section 2.1): a
/// language tag, a private-use tag (`x-…`) or a grandfathered one
/// (`i-klingon`). Case-insensitive; registration is not checked.
pub fn is_language_tag(tag: &str) -> bool {
    const IRREGULAR: [&str; 17] = [
        "en-gb-oed",
        "i-ami",
        "i-bnn",
        "i-default",
        "i-enochian",
        "i-hak",
        "i-klingon",
        "i-lux",
        "i-mingo",
        "i-navajo",
        "i-pwn",
        "i-tao",
        "i-tay",
        "i-tsu",
        "sgn-be-fr",
        "sgn-be-nl",
        "sgn-ch-de",
    ];
    let lower = tag.to_ascii_lowercase();
    if IRREGULAR.contains(&lower.as_str()) {
        return true;
    }
    let subtags: Vec<&str> = lower.split('-').collect();
    let alpha =
        |s: &str, n: std::ops::RangeInclusive<usize>| n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase());
    let alnum = |s: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
    };
    let private_use = |rest: &[&str]| !rest.is_empty() && rest.iter().all(|s| alnum(s, 1..=8));
    if subtags[0] == "x" {
        return private_use(&subtags[1..]);
    }
    let mut i;
    // language, with up to three extlang subtags after a 2-3 letter one
    if alpha(subtags[0], 2..=3) {
        i = 1;
        while i < subtags.len() && i <= 3 && alpha(subtags[i], 3..=3) {
            i += 1;
        }
    } else if alpha(subtags[0], 4..=8) {
        i = 1;
    } else {
        return false;
    }
    if i < subtags.len() && alpha(subtags[i], 4..=4) {
        i += 1; // script
    }
    if i < subtags.len()
        && (alpha(subtags[i], 2..=2) || (subtags[i].len() == 3 && subtags[i].bytes().all(|b| b.is_ascii_digit())))
    {
        i += 1; // region
    }
    while i < subtags.len()
        && (alnum(subtags[i], 5..=8)
            || (subtags[i].len() == 4 && subtags[i].as_bytes()[0].is_ascii_digit() && alnum(subtags[i], 4..=4)))
    {
        i += 1; // variants
    }
    while i < subtags.len() && subtags[i].len() == 1 && subtags[i] != "x" && alnum(subtags[i], 1..=1) {
        // an extension: a singleton and at least one 2-8 character subtag
        let start = i + 1;
        i = start;
        while i < subtags.len() && alnum(subtags[i], 2..=8) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if i < subtags.len() && subtags[i] == "x" {
        return private_use(&subtags[i + 1..]);
    }
    i == subtags.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_well_formed_bcp47_tag_is_a_language() {
        for tag in [
            "en",
            "fi",
            "sv-FI",
            "zh-Hant-TW",
            "es-419",
            "de-CH-1901",
            "sl-rozaj-biske",
            "en-US-u-ca-gregory",
            "x-private",
            "en-x-internal",
            "i-klingon",
            "EN-gb-OED",
            "zh-yue-HK",
            "tlh",
        ] {
            assert!(is_language_tag(tag), "{tag} is well-formed");
        }
        for tag in [
            "",
            "e",
            "english please",
            "en--us",
            "en-",
            "x",
            "en-a",
            "123",
            "en-x-toolongsubtag",
            "i-unknown",
        ] {
            assert!(!is_language_tag(tag), "{tag} is not well-formed");
        }
    }
}
