//! The analyst's full-text query for SQLite's FTS5, with the syntax of
//! PostgreSQL's `websearch_to_tsquery`: words (all must occur),
//! `"a phrase"` (the words in this order), `-word` or `-"a phrase"` (must
//! not occur), and `or` between words (either side; `or` splits the query
//! into alternatives, as in PostgreSQL: `a b or c` is `(a AND b) OR c`).
//!
//! Every word and phrase reaches FTS5 as a quoted string token (`"..."`,
//! an inner `"` doubled), so nothing the user types is FTS5 syntax: `NEAR(`,
//! `*`, `AND`, `^` or a lone `"` are words, and a query never fails to
//! parse. A word with no letter or digit (`--`, `*`) is left out, as
//! PostgreSQL leaves out what has no lexeme.

/// A query compiled for FTS5: `matching` (rows whose text matches it) OR
/// NOT `excluding` (rows whose text does not match it). An alternative of
/// only exclusions (`-spam`) cannot be an FTS5 expression on its own; the
/// alternatives of that kind combine into `excluding` (NOT a OR NOT b is
/// NOT (a AND b)). Both `None`: the query has no searchable word and
/// matches nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fts5Query {
    pub matching: Option<String>,
    pub excluding: Option<String>,
}

#[derive(Debug)]
enum Token {
    Term { phrase: String, negated: bool },
    Or,
}

fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut negated = false;
        if c == '-' {
            chars.next();
            match chars.peek() {
                Some(&n) if !n.is_whitespace() => negated = true,
                _ => continue,
            }
        }
        let mut phrase = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                phrase.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '"' {
                    break;
                }
                phrase.push(c);
                chars.next();
            }
            if !negated && phrase.eq_ignore_ascii_case("or") {
                out.push(Token::Or);
                continue;
            }
        }
        out.push(Token::Term { phrase, negated });
    }
    out
}

/// `"phrase"` as an FTS5 string token.
fn quoted(phrase: &str) -> String {
    format!("\"{}\"", phrase.replace('"', "\"\""))
}

/// Whether the unicode61 tokenizer finds a token in `phrase` (letters and
/// digits are token characters; everything else separates tokens).
fn searchable(phrase: &str) -> bool {
    phrase.chars().any(char::is_alphanumeric)
}

pub(crate) fn fts5_query(text: &str) -> Fts5Query {
    // Alternatives (split at `or`), each a list of (phrase, negated).
    let mut alternatives: Vec<Vec<(String, bool)>> = vec![Vec::new()];
    for token in tokens(text) {
        match token {
            Token::Or => alternatives.push(Vec::new()),
            Token::Term { phrase, negated } => {
                if searchable(&phrase) {
                    alternatives.last_mut().expect("never empty").push((phrase, negated));
                }
            }
        }
    }
    let mut matching = Vec::new();
    let mut excluding = Vec::new();
    for alternative in alternatives.into_iter().filter(|a| !a.is_empty()) {
        let (positive, negative): (Vec<_>, Vec<_>) = alternative.into_iter().partition(|(_, negated)| !negated);
        let join =
            |terms: Vec<(String, bool)>, op: &str| terms.iter().map(|(p, _)| quoted(p)).collect::<Vec<_>>().join(op);
        let excluded = (!negative.is_empty()).then(|| join(negative, " OR "));
        if positive.is_empty() {
            excluding.push(format!("({})", excluded.expect("a non-empty alternative")));
        } else {
            let all = join(positive, " AND ");
            matching.push(match excluded {
                Some(excluded) => format!("(({all}) NOT ({excluded}))"),
                None => format!("({all})"),
            });
        }
    }
    Fts5Query {
        matching: (!matching.is_empty()).then(|| matching.join(" OR ")),
        excluding: (!excluding.is_empty()).then(|| excluding.join(" AND ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(matching: Option<&str>, excluding: Option<&str>) -> Fts5Query {
        Fts5Query {
            matching: matching.map(str::to_owned),
            excluding: excluding.map(str::to_owned),
        }
    }

    #[test]
    fn websearch_syntax_becomes_quoted_fts5() {
        let cases = [
            ("coffee", q(Some("(\"coffee\")"), None)),
            ("good coffee", q(Some("(\"good\" AND \"coffee\")"), None)),
            (
                "\"good coffee\" -tea",
                q(Some("((\"good coffee\") NOT (\"tea\"))"), None),
            ),
            (
                "fat rats or cats",
                q(Some("(\"fat\" AND \"rats\") OR (\"cats\")"), None),
            ),
            ("a OR b", q(Some("(\"a\") OR (\"b\")"), None)),
            ("-spam", q(None, Some("(\"spam\")"))),
            ("-spam or -junk", q(None, Some("(\"spam\") AND (\"junk\")"))),
            ("ok or -spam", q(Some("(\"ok\")"), Some("(\"spam\")"))),
            ("e-mail", q(Some("(\"e-mail\")"), None)),
            ("- x", q(Some("(\"x\")"), None)),
            ("NEAR( \" * AND", q(Some("(\"NEAR(\" AND \" * AND\")"), None)),
            ("a\"b", q(Some("(\"a\" AND \"b\")"), None)),
            ("\"unterminated phrase", q(Some("(\"unterminated phrase\")"), None)),
            ("-- ; ' *", q(None, None)),
            ("", q(None, None)),
            ("or", q(None, None)),
        ];
        for (text, expected) in cases {
            assert_eq!(fts5_query(text), expected, "{text:?}");
        }
    }

    #[test]
    fn quotes_inside_a_term_are_doubled() {
        assert_eq!(quoted("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
