//! Phrase matching: one Aho-Corasick automaton over every phrase of a rule
//! set, on text normalised with Unicode NFKC and full case folding, with
//! whole-word or prefix boundaries checked at each match.

use std::borrow::Cow;
use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};
use caseless::Caseless;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// NFKC, full case folding, NFKC again (the case-insensitive form Unicode
/// recommends for identifiers, "NFKC_Casefold" less the ignorable
/// removal). ASCII text takes a fast path; other text skips a
/// normalization pass whenever the quick check says the text is in NFKC
/// already (most text is), with the same result as the plain three passes (tested).
pub fn normalize(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Cow::Owned(text.to_ascii_lowercase());
        }
        return Cow::Borrowed(text);
    }
    let nfkc: Cow<'_, str> = if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfkc().collect())
    };
    let mut folded = String::with_capacity(nfkc.len());
    for c in nfkc.chars() {
        if c.is_ascii() {
            folded.push(c.to_ascii_lowercase());
        } else {
            folded.extend(std::iter::once(c).default_case_fold());
        }
    }
    if is_nfkc_quick(folded.chars()) == IsNormalized::Yes {
        Cow::Owned(folded)
    } else {
        Cow::Owned(folded.nfkc().collect())
    }
}

/// What [`normalize`] computes, the plain way (the reference its tests
/// compare it with).
#[cfg(test)]
fn normalize_slowly(text: &str) -> String {
    text.chars().nfkc().default_case_fold().nfkc().collect()
}

/// A phrase of a `text_contains` condition, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Phrase {
    pub text: String,
    /// `word*`: matches words that start with it.
    pub prefix: bool,
}

impl Phrase {
    /// Parses a phrase as written in a rule; `Err` says what is wrong.
    pub fn parse(written: &str) -> Result<Phrase, String> {
        let (body, prefix) = match written.strip_suffix('*') {
            Some(body) => (body, true),
            None => (written, false),
        };
        if body.contains('*') {
            return Err(format!(
                "phrase {written:?}: '*' is allowed only at the end (a prefix match)"
            ));
        }
        let text = normalize(body.trim()).into_owned();
        if text.is_empty() {
            return Err(format!("phrase {written:?} is empty"));
        }
        if text.chars().count() > MAX_PHRASE_CHARS {
            return Err(format!(
                "phrase {written:?} is longer than {MAX_PHRASE_CHARS} characters"
            ));
        }
        Ok(Phrase { text, prefix })
    }
}

/// The longest phrase.
pub const MAX_PHRASE_CHARS: usize = 200;

/// Every phrase of a rule set in one automaton; each phrase knows the
/// conditions ("atoms") it satisfies.
#[derive(Debug)]
pub(crate) struct Phrases {
    automaton: Option<AhoCorasick>,
    /// Per automaton pattern: (atom, prefix) pairs it satisfies.
    atoms: Vec<Vec<(usize, bool)>>,
}

impl Phrases {
    /// `phrases`: per atom, its phrases.
    pub fn build(phrases: &[(usize, Vec<Phrase>)]) -> Result<Phrases, String> {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut patterns: Vec<&str> = Vec::new();
        let mut atoms: Vec<Vec<(usize, bool)>> = Vec::new();
        for (atom, list) in phrases {
            for p in list {
                let id = *index.entry(p.text.as_str()).or_insert_with(|| {
                    patterns.push(p.text.as_str());
                    atoms.push(Vec::new());
                    patterns.len() - 1
                });
                if !atoms[id].contains(&(*atom, p.prefix)) {
                    atoms[id].push((*atom, p.prefix));
                }
            }
        }
        let automaton = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(&patterns)
                    .map_err(|e| format!("the phrases do not fit in one automaton: {e}"))?,
            )
        };
        Ok(Phrases { automaton, atoms })
    }

    /// Marks in `fired` every atom with a phrase in `normalized` text (as
    /// whole words, or word prefixes for `word*`).
    pub fn scan(&self, normalized: &str, fired: &mut [bool]) {
        let Some(automaton) = &self.automaton else { return };
        for m in automaton.find_overlapping_iter(normalized) {
            let starts_word = starts_word(normalized, m.start());
            let ends_word = ends_word(normalized, m.end());
            for &(atom, prefix) in &self.atoms[m.pattern().as_usize()] {
                if starts_word && (prefix || ends_word) {
                    fired[atom] = true;
                }
            }
        }
    }
}

/// Whether a match starting at `at` starts a word: no letter or digit
/// right before it, or the phrase itself does not start with one.
fn starts_word(text: &str, at: usize) -> bool {
    let before = text[..at].chars().next_back();
    let first = text[at..].chars().next();
    !(before.is_some_and(char::is_alphanumeric) && first.is_some_and(char::is_alphanumeric))
}

fn ends_word(text: &str, at: usize) -> bool {
    let last = text[..at].chars().next_back();
    let after = text[at..].chars().next();
    !(after.is_some_and(char::is_alphanumeric) && last.is_some_and(char::is_alphanumeric))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(phrases: &[&str], text: &str) -> bool {
        let list = phrases.iter().map(|p| Phrase::parse(p).expect("phrase")).collect();
        let set = Phrases::build(&[(0, list)]).expect("build");
        let mut fired = [false];
        set.scan(&normalize(text), &mut fired);
        fired[0]
    }

    #[test]
    fn case_and_compatibility_forms_match_alike() {
        for text in [
            "Toimitus kesti",
            "TOIMITUS kesti",
            "toimitus kesti",
            "ＴＯＩＭＩＴＵＳ kesti",
        ] {
            assert!(fired(&["toimitus"], text), "{text}");
        }
        assert!(fired(&["STRASSE"], "Die Straße war gesperrt"), "ß folds to ss");
        assert!(fired(&["straße"], "DIE STRASSE"), "and back");
    }

    #[test]
    fn whole_words_unless_a_prefix_is_asked_for() {
        assert!(!fired(&["toimitus"], "toimitusaika oli pitkä"));
        assert!(fired(&["toimitus*"], "Toimitusaika oli pitkä"));
        assert!(fired(&["liefer*"], "Die Lieferzeit war zu lang"));
        assert!(!fired(&["liefer*"], "Auslieferung"), "a prefix still starts a word");
        assert!(fired(&["delivery time"], "the delivery time, again"));
        assert!(!fired(&["app"], "happy"));
        assert!(fired(&["app"], "the app."));
    }

    proptest::proptest! {
        #[test]
        fn the_fast_normalization_equals_the_plain_one(text in "\\PC{0,60}") {
            proptest::prop_assert_eq!(normalize(&text).into_owned(), normalize_slowly(&text));
        }

        #[test]
        fn the_fast_normalization_equals_the_plain_one_on_letters_that_fold_or_compose(
            text in "[a-zA-ZäöåÄÖÅßẞüÜéÉǅﬁＴｏ①Ω\u{0301}\u{0308}İı ]{0,40}"
        ) {
            proptest::prop_assert_eq!(normalize(&text).into_owned(), normalize_slowly(&text));
        }
    }

    #[test]
    fn phrases_are_checked() {
        assert!(Phrase::parse("").is_err());
        assert!(Phrase::parse("*").is_err());
        assert!(Phrase::parse("a*b").is_err());
        assert_eq!(
            Phrase::parse("Liefer*").expect("ok"),
            Phrase {
                text: "liefer".into(),
                prefix: true
            }
        );
    }
}
