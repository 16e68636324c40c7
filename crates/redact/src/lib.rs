//! Personal-data detectors and redaction.
//!
//! Survey respondents type free text (English, Finnish, Swedish, German) and sometimes put personal
//! data in it: an e-mail address, a phone number, a payment card or bank account number, a Finnish or
//! Swedish personal identity number, an IP address. [`Detectors`] finds such spans and [`Detectors::redact`]
//! replaces each one with a marker such as `[email]`.
//!
//! # Detectors
//!
//! Each built-in detector is a [`Kind`]; its doc comment states exactly what it matches and what it
//! validates. In short:
//!
//! | kind | marker | matches | validated |
//! |---|---|---|---|
//! | `email` | `[email]` | `local@domain.tld` | final label ≥ 2 letters |
//! | `phone` | `[phone]` | `+CC …` (7–15 digits) or FI/SE/DE national `0X…` (8–12 digits) | not a date, boundaries |
//! | `card` | `[card]` | 13–19 digits, optionally grouped | Luhn |
//! | `iban` | `[iban]` | `CCkk` + 11–30 alphanumerics, optionally in groups of 4 | ISO 13616 mod-97 |
//! | `fi_hetu` | `[hetu]` | `DDMMYY`, century sign, `NNN`, check character | calendar date, check character |
//! | `se_personnummer` | `[personnummer]` | `(YY)YYMMDD[-+]NNNC`, 10 or 12 digits | month/day, Luhn |
//! | `ip` | `[ip]` | IPv4 dotted quad, IPv6 | `std::net` parsing |
//!
//! All detectors except e-mail require their match to stand alone: the character before it and the
//! character after it must not be a letter or a digit (any script), and the match must not be directly
//! followed by `+` or `(` and a digit (the start of another number). Digits are ASCII digits `0`–`9`.
//!
//! # Priority
//!
//! [`Detectors::find`] returns non-overlapping spans. Where spans of different sources overlap, the
//! earlier source in this order wins (the later span is dropped entirely):
//!
//! 1. custom patterns, in the order given to [`Detectors::new`];
//! 2. [`Kind::Email`], [`Kind::Iban`], [`Kind::Card`], [`Kind::FiHetu`], [`Kind::SePersonnummer`], [`Kind::Ip`],
//!    [`Kind::Phone`].
//!
//! # Redaction
//!
//! [`Detectors::redact`] replaces every span with its marker and then runs the detectors again on its own
//! output, because removing a span can expose its neighbour (a phone number glued to an e-mail address
//! becomes standalone once the address is a marker). It stops when nothing more is found, or after
//! [`MAX_PASSES`] passes. The built-in markers contain no digit, `@` or `:`, so every pass removes
//! material the built-in detectors need and exposes at most the neighbours of what it replaced: ordinary
//! text needs one pass, text with numbers glued together two or three. Only when the bound is reached (a
//! contrived chain of numbers each exposed by the previous one, or a custom marker that its own or
//! another pattern matches) can the output still contain something [`Detectors::find`] detects; otherwise
//! the output contains nothing it detects and redacting twice equals redacting once.
//!
//! # Cost
//!
//! Every pattern is compiled once, in [`Detectors::new`] (only those of the enabled kinds), with a
//! 256 KiB limit on the compiled program and on the search cache. Before searching, one pass over the
//! bytes counts digits, `@`, `+`, `:` and `.`, the longest digit run, the most digits in a run of digit
//! groups joined by short separators, and whether two letters are followed by two digits; a detector is
//! skipped when the text cannot contain what it finds (the e-mail pattern without `@`, the card detector
//! without 13 digits in one run of groups, the national phone detector without 8, IPv6 without two `:`,
//! IBAN without `LLdd`, …). Text without personal data costs that pass plus the searches that could not
//! be skipped, and [`Detectors::redact`] then returns `None` without allocating (apart from a small
//! temporary buffer when a run of digit groups long enough for a card or phone number is examined).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use regex::{Regex, RegexBuilder};

/// How many times [`Detectors::redact`] runs the detectors at most (see the crate documentation).
pub const MAX_PASSES: usize = 8;

/// A built-in detector.
///
/// "Digit" means an ASCII digit `0`–`9`. "Standalone" means: the character before the match and the
/// character after it are not letters or digits (any script), and the match is not directly followed by
/// `+` or `(` and a digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// E-mail address `local@domain.tld`: the local part is one or more letters (any script, with
    /// combining marks), digits or `._%+-`; the domain is one or more labels of letters, digits or
    /// hyphens, each followed by a dot, then a final label of at least 2 letters. Matches are as long as
    /// possible; no other validation (a trailing sentence dot is not part of the match).
    Email,
    /// Phone number, standalone, in one of two forms.
    ///
    /// International: `+`, then digit groups; the first digit is not `0` (country code); groups are
    /// separated by a single space, hyphen or dot, and one group may be in parentheses (optionally with a
    /// space or separator around it: `+1 (555) 123-4567`, `+49 (0)30 1234567`); 7–15 digits in total (the
    /// E.164 bound; a trunk `(0)` is not counted).
    ///
    /// National (Finland, Sweden, Germany): starts with a single `0` followed by a non-zero digit, or with
    /// such an area code of 2–5 digits in parentheses (`(030) 1234 5678`); digit groups separated by a
    /// single space, hyphen or slash (never a dot); 8–12 digits in total; at least one group has 3 or more
    /// digits (so time ranges like `08-12 13-17` are not phones); and it does not start with a date
    /// `DD?MM?YYYY` (`01/02/2024`, `05-01-2024`: two 2-digit groups and a year 1900–2099 with the same
    /// separator twice).
    ///
    /// Where digit groups run on (joined by single separators) beyond the bound, the longest leading
    /// part that ends before a space is taken. A number only starts at the start of such a run of
    /// groups, right after another number in it (`040 123 4567 050 765 4321` is two), or right after a
    /// leading date (`01/02/2024 040 123 4567`); so the groups of a longer number, such as
    /// `0532 0130 00` in `DE88 3704 0044 0532 0130 00`, are not a phone number.
    Phone,
    /// Payment card number, standalone: 13–19 digits, either in one run or in groups separated by a
    /// single space or hyphen, where every group but the last has 3–6 digits and the last 1–6
    /// (`4111 1111 1111 1111`, `3782 822463 10005`). Validated with the Luhn checksum. Where groups run
    /// on beyond 19 digits, the longest valid leading part ending before a space is taken, and the search
    /// continues after it; a card number never starts in the middle of a run of groups otherwise.
    Card,
    /// IBAN (ISO 13616), standalone, case-insensitive: two letters (country), two check digits
    /// (`02`–`98`), then 11–30 letters or digits, either in one run or in groups of 4 separated by single
    /// spaces (the last group 1–4), e.g. `FI21 1234 5600 0007 85`. Validated with mod-97: the first four
    /// characters moved to the end, letters replaced by 10–35, the number mod 97 must be 1. When the
    /// grouped form runs on into following words, the longest valid prefix of whole groups is taken.
    Iban,
    /// Finnish personal identity code (henkilötunnus), standalone, e.g. `131052-308T`: `DDMMYY`, a
    /// century sign (`+` 1800s; `-`, `Y`, `X`, `W`, `V`, `U` 1900s; `A`, `B`, `C`, `D`, `E`, `F` 2000s),
    /// an individual number `NNN` of 002–999, and a check character. Validated: `DDMMYY` is a real
    /// calendar date in the century of the sign (29 February only in leap years), and the check character
    /// is `0123456789ABCDEFHJKLMNPRSTUVWXY[DDMMYYNNN mod 31]`. Letters may be lower case.
    FiHetu,
    /// Swedish personal identity number (personnummer) or co-ordination number (samordningsnummer),
    /// standalone: `YYMMDD-NNNC`, `YYMMDD+NNNC`, `YYYYMMDD-NNNC`, `YYYYMMDDNNNC` (12 digits) or
    /// `YYMMDDNNNC` (10 digits). Validated: a 4-digit year starts with 18, 19 or 20; month 01–12; day
    /// 01–31, or 61–91 for a co-ordination number; `C` is the Luhn check digit over the 10 digits
    /// `YYMMDDNNNC`.
    SePersonnummer,
    /// IP address, standalone.
    ///
    /// IPv4: a dotted quad that `std::net::Ipv4Addr` parses (each octet 0–255, no leading zeros), and
    /// exactly four numbers: not part of a longer dotted number sequence such as `1.2.3.4.5`, nor a version
    /// like `2.4.1`.
    ///
    /// IPv6: a run of hex digits, `:` and `.` that `std::net::Ipv6Addr` parses (any standard form, `::`
    /// compression, embedded IPv4), with at least two `:` and at least one decimal digit (so times like
    /// `12:30` or `12:30:45`, and words like `dead::beef`, are not addresses). Punctuation around it is not
    /// part of it: a leading single `:` (`IP:fe80::1`), leading and trailing dots, and, where that makes it
    /// valid, one trailing `:` or a trailing `.` followed by something other than a number.
    ///
    /// Where an IPv6 address contains an IPv4 one, the IPv6 match is taken.
    Ip,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 7] = [
        Kind::Email,
        Kind::Phone,
        Kind::Card,
        Kind::Iban,
        Kind::FiHetu,
        Kind::SePersonnummer,
        Kind::Ip,
    ];

    /// The name used in rule files, metrics and the processed event: `email`, `phone`, `card`, `iban`,
    /// `fi_hetu`, `se_personnummer`, `ip`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Card => "card",
            Kind::Iban => "iban",
            Kind::FiHetu => "fi_hetu",
            Kind::SePersonnummer => "se_personnummer",
            Kind::Ip => "ip",
        }
    }

    /// The kind whose [`Kind::name`] is `name` (exact, case-sensitive).
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The replacement: `[email]`, `[phone]`, `[card]`, `[iban]`, `[hetu]`, `[personnummer]`, `[ip]`.
    pub fn marker(self) -> &'static str {
        match self {
            Kind::Email => "[email]",
            Kind::Phone => "[phone]",
            Kind::Card => "[card]",
            Kind::Iban => "[iban]",
            Kind::FiHetu => "[hetu]",
            Kind::SePersonnummer => "[personnummer]",
            Kind::Ip => "[ip]",
        }
    }
}

/// The order in which built-in detectors claim text (after the custom patterns).
const PRIORITY: [Kind; 7] = [
    Kind::Email,
    Kind::Iban,
    Kind::Card,
    Kind::FiHetu,
    Kind::SePersonnummer,
    Kind::Ip,
    Kind::Phone,
];

/// A tenant's own pattern (already compiled by the caller, which enforces size limits).
#[derive(Debug, Clone)]
pub struct Custom {
    /// Every non-empty, non-overlapping match (leftmost-first) is a span.
    pub regex: Regex,
    /// What replaces each match.
    pub marker: String,
}

/// Which detector found something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// A built-in detector.
    Builtin(Kind),
    /// A custom pattern: the index into the customs given to [`Detectors::new`].
    Custom(usize),
}

/// One detected span (byte range into the text, on char boundaries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Byte range of the span; never empty.
    pub range: Range<usize>,
    /// What found it.
    pub source: Source,
}

/// The redacted text and how many spans each source replaced (sorted by source, counts > 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The text with every span replaced by its marker.
    pub text: String,
    /// Spans replaced per source, over all passes; sorted by source, every count > 0.
    pub counts: Vec<(Source, usize)>,
}

// ---------------------------------------------------------------------------------------------------
// Patterns. All character classes are explicit ASCII where digits are meant (`\d` would be Unicode).

/// E-mail: local part, `@`, labels each followed by a dot, final label of ≥ 2 letters.
const EMAIL: &str = r"[\p{L}\p{M}\p{Nd}._%+\-]+@(?:[\p{L}\p{M}\p{Nd}\-]+\.)+\p{L}{2,}";
/// IBAN: compact (11–30) or grouped by 4 with an optional short last group.
const IBAN: &str = r"[A-Za-z]{2}[0-9]{2}(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,4})?)";
/// Card: a maximal chain of digit groups joined by a single space or hyphen.
const CARD: &str = r"[0-9]+(?:[ \-][0-9]+)*";
/// Henkilötunnus: `DDMMYY`, century sign, `NNN`, check character.
const HETU: &str = r"[0-9]{6}[\-+A-FU-Ya-fu-y][0-9]{3}[0-9A-Za-z]";
/// Personnummer: 6 or 8 date digits, optional `-`/`+`, 4 digits (the form is checked in code).
const PERSONNUMMER: &str = r"[0-9]{6,8}[\-+]?[0-9]{4}";
/// IPv4: a maximal dotted number sequence (exactly four parts is checked in code).
const IPV4: &str = r"[0-9]+(?:\.[0-9]+)+";
/// IPv6: a maximal run of hex digits, colons and dots containing a colon.
const IPV6: &str = r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*";
/// International phone: `+`, digit groups, one parenthesised group allowed anywhere.
const PHONE_INTL: &str = r"\+[1-9][0-9]*(?:[ .\-]?\([0-9]{1,4}\)[ .\-]?[0-9]+|[ .\-][0-9]+)*";
/// National phone: optional `(area)`, then a maximal chain of digit groups joined by space, hyphen, slash.
const PHONE_NATIONAL: &str = r"(?:\([0-9]{2,5}\) ?)?[0-9]+(?:[ /\-][0-9]+)*";

/// Compiled-program limit per pattern. The e-mail pattern, with its Unicode classes, is the largest and
/// needs more than 128 KiB; the others need far less.
const REGEX_SIZE_LIMIT: usize = 1 << 18;
/// Lazy-DFA cache limit per pattern (per thread using it).
const DFA_SIZE_LIMIT: usize = 1 << 18;

fn compile(pattern: &str) -> Regex {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .build()
        .expect("built-in patterns are valid and fit the size limit (checked by the crate's tests)")
}

/// Shortest digit counts, used to skip detectors cheaply.
const CARD_MIN_DIGITS: usize = 13;
const CARD_MAX_DIGITS: usize = 19;
const NATIONAL_MIN_DIGITS: usize = 8;
const NATIONAL_MAX_DIGITS: usize = 12;
const INTL_MIN_DIGITS: usize = 7;
const INTL_MAX_DIGITS: usize = 15;
const HETU_MIN_DIGITS: usize = 9;
const PERSONNUMMER_MIN_DIGITS: usize = 10;
const IBAN_MIN_LEN: usize = 15;

/// Compiled detectors: a set of enabled kinds plus custom patterns. `Send + Sync`, cheap to share in an
/// `Arc` (and cheap to clone: compiled patterns are reference-counted).
#[derive(Debug, Clone)]
pub struct Detectors {
    customs: Vec<Custom>,
    email: Option<Regex>,
    iban: Option<Regex>,
    card: Option<Regex>,
    hetu: Option<Regex>,
    personnummer: Option<Regex>,
    /// IPv4, IPv6.
    ip: Option<(Regex, Regex)>,
    /// International, national.
    phone: Option<(Regex, Regex)>,
}

impl Detectors {
    /// Compiles the patterns of the `enabled` kinds (duplicates are harmless) and takes the custom
    /// patterns; [`Source::Custom`] indexes into `customs`.
    pub fn new(enabled: &[Kind], customs: Vec<Custom>) -> Detectors {
        let on = |k: Kind| enabled.contains(&k);
        Detectors {
            customs,
            email: on(Kind::Email).then(|| compile(EMAIL)),
            iban: on(Kind::Iban).then(|| compile(IBAN)),
            card: on(Kind::Card).then(|| compile(CARD)),
            hetu: on(Kind::FiHetu).then(|| compile(HETU)),
            personnummer: on(Kind::SePersonnummer).then(|| compile(PERSONNUMMER)),
            ip: on(Kind::Ip).then(|| (compile(IPV4), compile(IPV6))),
            phone: on(Kind::Phone).then(|| (compile(PHONE_INTL), compile(PHONE_NATIONAL))),
        }
    }

    /// Every built-in kind, no customs.
    pub fn all() -> Detectors {
        Detectors::new(&Kind::ALL, Vec::new())
    }

    /// Non-overlapping spans, sorted by start. Where spans of different sources overlap, the earlier
    /// source in this priority wins: customs first (in order), then Email, Iban, Card, FiHetu,
    /// SePersonnummer, Ip, Phone. When nothing is found the result is an empty `Vec` (no allocation; a
    /// run of digit groups long enough to be examined as a card or phone number uses a small temporary
    /// buffer).
    pub fn find(&self, text: &str) -> Vec<Found> {
        let mut spans = Spans(Vec::new());
        for (i, custom) in self.customs.iter().enumerate() {
            for m in custom.regex.find_iter(text) {
                if !m.is_empty() {
                    spans.add(m.range(), Source::Custom(i));
                }
            }
        }
        let stats = Stats::of(text);
        for kind in PRIORITY {
            let mut out = Out {
                spans: &mut spans,
                source: Source::Builtin(kind),
            };
            match kind {
                Kind::Email => {
                    if let (Some(re), true) = (&self.email, stats.at) {
                        for m in re.find_iter(text) {
                            out.add(m.range());
                        }
                    }
                }
                Kind::Iban => {
                    if let (Some(re), true) = (&self.iban, stats.iban_head && text.len() >= IBAN_MIN_LEN) {
                        find_ibans(re, text, &mut out);
                    }
                }
                Kind::Card => {
                    if let (Some(re), true) = (&self.card, stats.max_chain >= CARD_MIN_DIGITS) {
                        find_cards(re, text, &mut out);
                    }
                }
                Kind::FiHetu => {
                    if let (Some(re), true) = (&self.hetu, stats.max_run >= 6 && stats.digits >= HETU_MIN_DIGITS) {
                        find_validated(re, text, &mut out, hetu_valid);
                    }
                }
                Kind::SePersonnummer => {
                    if let (Some(re), true) = (&self.personnummer, stats.max_chain >= PERSONNUMMER_MIN_DIGITS) {
                        find_validated(re, text, &mut out, personnummer_valid);
                    }
                }
                Kind::Ip => {
                    if let Some((v4, v6)) = &self.ip {
                        if stats.colons >= 2 && stats.digits >= 1 {
                            find_ipv6(v6, text, &mut out);
                        }
                        if stats.dots >= 3 && stats.max_chain >= 4 {
                            find_ipv4(v4, text, &mut out);
                        }
                    }
                }
                Kind::Phone => {
                    if let Some((intl, national)) = &self.phone {
                        if stats.plus && stats.max_chain >= INTL_MIN_DIGITS {
                            find_intl_phones(intl, text, &mut out);
                        }
                        if stats.max_chain >= NATIONAL_MIN_DIGITS {
                            find_national_phones(national, text, &mut out);
                        }
                    }
                }
            }
        }
        spans.0
    }

    /// `None` when nothing is found. Otherwise every span replaced by its marker (a custom pattern's span
    /// by the custom marker), repeated on the output until nothing more is found or [`MAX_PASSES`] passes
    /// have run; `counts` sums all passes.
    pub fn redact(&self, text: &str) -> Option<Redacted> {
        let spans = self.find(text);
        if spans.is_empty() {
            return None;
        }
        let mut counts = Vec::new();
        let mut out = self.replace(text, &spans, &mut counts);
        for _ in 1..MAX_PASSES {
            let spans = self.find(&out);
            if spans.is_empty() {
                break;
            }
            out = self.replace(&out, &spans, &mut counts);
        }
        counts.sort_unstable();
        Some(Redacted { text: out, counts })
    }

    fn marker(&self, source: Source) -> &str {
        match source {
            Source::Builtin(kind) => kind.marker(),
            Source::Custom(i) => self.customs.get(i).map_or("", |c| c.marker.as_str()),
        }
    }

    fn replace(&self, text: &str, spans: &[Found], counts: &mut Vec<(Source, usize)>) -> String {
        let mut out = String::with_capacity(text.len() + 8 * spans.len());
        let mut last = 0;
        for found in spans {
            out.push_str(&text[last..found.range.start]);
            out.push_str(self.marker(found.source));
            last = found.range.end;
            match counts.iter_mut().find(|(s, _)| *s == found.source) {
                Some((_, n)) => *n += 1,
                None => counts.push((found.source, 1)),
            }
        }
        out.push_str(&text[last..]);
        out
    }
}

// ---------------------------------------------------------------------------------------------------
// Span bookkeeping.

/// Accepted spans, non-overlapping, sorted by start. A span that overlaps an accepted one is dropped,
/// so adding in priority order implements the priority.
struct Spans(Vec<Found>);

impl Spans {
    fn add(&mut self, range: Range<usize>, source: Source) {
        if range.is_empty() {
            return;
        }
        let i = self.0.partition_point(|f| f.range.start < range.start);
        if i > 0 && self.0[i - 1].range.end > range.start {
            return;
        }
        if self.0.get(i).is_some_and(|f| f.range.start < range.end) {
            return;
        }
        self.0.insert(i, Found { range, source });
    }
}

/// Spans of one source.
struct Out<'a> {
    spans: &'a mut Spans,
    source: Source,
}

impl Out<'_> {
    fn add(&mut self, range: Range<usize>) {
        self.spans.add(range, self.source);
    }
}

/// Cheap facts about the text, from one pass over its bytes, to skip detectors that cannot match.
#[derive(Default)]
struct Stats {
    digits: usize,
    colons: usize,
    dots: usize,
    at: bool,
    plus: bool,
    /// Longest run of consecutive digits.
    max_run: usize,
    /// Most digits in a "chain": digit runs joined by at most two characters from ` -/.()+`. Every
    /// digit-based detector's match lies within one chain.
    max_chain: usize,
    /// Two ASCII letters directly followed by two digits occur (the start of an IBAN).
    iban_head: bool,
}

impl Stats {
    fn of(text: &str) -> Stats {
        let mut s = Stats::default();
        let (mut run, mut chain, mut gap) = (0, 0, 3u8);
        let mut prev = [0u8; 3];
        for &b in text.as_bytes() {
            if b.is_ascii_digit() {
                s.digits += 1;
                run += 1;
                chain = if gap <= 2 { chain + 1 } else { 1 };
                gap = 0;
                s.max_run = s.max_run.max(run);
                s.max_chain = s.max_chain.max(chain);
                s.iban_head |=
                    prev[0].is_ascii_alphabetic() && prev[1].is_ascii_alphabetic() && prev[2].is_ascii_digit();
            } else {
                run = 0;
                gap = match b {
                    b' ' | b'-' | b'/' | b'.' | b'(' | b')' | b'+' => gap.saturating_add(1).min(3),
                    _ => 3,
                };
                match b {
                    b':' => s.colons += 1,
                    b'.' => s.dots += 1,
                    b'@' => s.at = true,
                    b'+' => s.plus = true,
                    _ => {}
                }
            }
            prev = [prev[1], prev[2], b];
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------------
// Boundaries.

/// The character before `start` is not a letter or digit.
fn left_ok(text: &str, start: usize) -> bool {
    text[..start].chars().next_back().is_none_or(|c| !c.is_alphanumeric())
}

/// The character at `end` is not a letter or digit, nor `+`/`(` followed by a digit.
fn right_ok(text: &str, end: usize) -> bool {
    let mut rest = text[end..].chars();
    match rest.next() {
        None => true,
        Some(c) if c.is_alphanumeric() => false,
        Some('+' | '(') => !rest.next().is_some_and(|d| d.is_ascii_digit()),
        Some(_) => true,
    }
}

/// `left_ok` and `right_ok`.
fn standalone(text: &str, range: &Range<usize>) -> bool {
    left_ok(text, range.start) && right_ok(text, range.end)
}

// ---------------------------------------------------------------------------------------------------
// Checksums and dates.

/// Luhn over ASCII digits (other bytes are skipped); the last digit is the check digit.
fn luhn(bytes: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in bytes
        .iter()
        .rev()
        .filter(|b| b.is_ascii_digit())
        .map(|b| u32::from(b - b'0'))
        .enumerate()
    {
        sum += if i % 2 == 1 {
            let x = d * 2;
            if x > 9 {
                x - 9
            } else {
                x
            }
        } else {
            d
        };
    }
    sum % 10 == 0
}

/// The value of a run of ASCII digits (at most 9 of them).
fn number(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |n, d| n * 10 + u32::from(d.wrapping_sub(b'0')))
}

fn is_leap(year: u32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// ISO 13616 mod-97 over an IBAN written without or with spaces (spaces are skipped).
fn iban_mod97(iban: &[u8]) -> bool {
    let body = iban.iter().skip(4).chain(iban.iter().take(4)).filter(|b| **b != b' ');
    let mut rem = 0u32;
    for &c in body {
        rem = match c {
            b'0'..=b'9' => (rem * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => (rem * 100 + u32::from(c - b'A') + 10) % 97,
            b'a'..=b'z' => (rem * 100 + u32::from(c - b'a') + 10) % 97,
            _ => return false,
        };
    }
    rem == 1
}

/// Henkilötunnus check characters, indexed by `DDMMYYNNN mod 31`.
const HETU_CHECK: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";

/// A regex match of [`HETU`] (11 ASCII bytes): real date for the century sign, `NNN` ≥ 002, check character.
fn hetu_valid(s: &[u8]) -> bool {
    if s.len() != 11 {
        return false;
    }
    let century = match s[6].to_ascii_uppercase() {
        b'+' => 1800,
        b'-' | b'U'..=b'Y' => 1900,
        b'A'..=b'F' => 2000,
        _ => return false,
    };
    let (day, month, year) = (number(&s[0..2]), number(&s[2..4]), century + number(&s[4..6]));
    if day == 0 || day > days_in_month(year, month) {
        return false;
    }
    let individual = number(&s[7..10]);
    if individual < 2 {
        return false;
    }
    let n = number(&s[0..6]) * 1000 + individual;
    HETU_CHECK[(n % 31) as usize] == s[10].to_ascii_uppercase()
}

/// A regex match of [`PERSONNUMMER`]: one of the five forms, month/day, Luhn over `YYMMDDNNNC`.
fn personnummer_valid(s: &[u8]) -> bool {
    let (date, serial) = match s.iter().position(|&b| b == b'-' || b == b'+') {
        Some(p) => {
            let ok = match p {
                6 => true,
                8 => s[p] == b'-',
                _ => false,
            };
            if !ok || s.len() != p + 5 {
                return false;
            }
            (&s[..p], &s[p + 1..])
        }
        None => match s.len() {
            10 => s.split_at(6),
            12 => s.split_at(8),
            _ => return false,
        },
    };
    let date = if date.len() == 8 {
        if !matches!(&date[..2], b"18" | b"19" | b"20") {
            return false;
        }
        &date[2..]
    } else {
        date
    };
    let (month, day) = (number(&date[2..4]), number(&date[4..6]));
    if !(1..=12).contains(&month) || !((1..=31).contains(&day) || (61..=91).contains(&day)) {
        return false;
    }
    let mut ten = [0u8; 10];
    ten[..6].copy_from_slice(date);
    ten[6..].copy_from_slice(serial);
    luhn(&ten)
}

// ---------------------------------------------------------------------------------------------------
// Detectors.

/// Every match of `re` that is standalone and passes `valid` (which sees the matched bytes).
fn find_validated(re: &Regex, text: &str, out: &mut Out<'_>, valid: fn(&[u8]) -> bool) {
    for m in re.find_iter(text) {
        if standalone(text, &m.range()) && valid(m.as_str().as_bytes()) {
            out.add(m.range());
        }
    }
}

fn find_ibans(re: &Regex, text: &str, out: &mut Out<'_>) {
    for m in re.find_iter(text) {
        if !left_ok(text, m.start()) {
            continue;
        }
        let s = m.as_str().as_bytes();
        if matches!(&s[2..4], b"00" | b"01" | b"99") {
            continue;
        }
        // Compact: the whole match. Grouped: the longest prefix of whole groups that is valid.
        let grouped = s.get(4) == Some(&b' ');
        for end in (5..=s.len()).rev() {
            if end < s.len() && !(grouped && s[end] == b' ') {
                continue;
            }
            let body = &s[..end];
            let bban = body[4..].iter().filter(|b| **b != b' ').count();
            if (11..=30).contains(&bban) && right_ok(text, m.start() + end) && iban_mod97(body) {
                out.add(m.start()..m.start() + end);
                break;
            }
        }
    }
}

/// One group of digits of a chain; byte offsets into the text.
#[derive(Debug, Clone)]
struct Group {
    /// Span of the group, including parentheses.
    start: usize,
    end: usize,
    /// The digits.
    digits: Range<usize>,
    paren: bool,
}

impl Group {
    fn len(&self) -> usize {
        self.digits.len()
    }
}

/// Splits a matched chain (ASCII: digits, separators, parentheses) into its digit groups.
fn groups(text: &str, range: Range<usize>) -> Vec<Group> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut p = range.start;
    while p < range.end {
        if !(b[p].is_ascii_digit() || b[p] == b'(') {
            p += 1;
            continue;
        }
        let paren = b[p] == b'(';
        let ds = if paren { p + 1 } else { p };
        let mut de = ds;
        while de < range.end && b[de].is_ascii_digit() {
            de += 1;
        }
        let end = if paren && de < range.end && b[de] == b')' {
            de + 1
        } else {
            de
        };
        if de > ds {
            out.push(Group {
                start: p,
                end,
                digits: ds..de,
                paren,
            });
        }
        p = end.max(p + 1);
    }
    out
}

/// Finds numbers in a chain of `n` digit groups. From start group `i` (initially 0) takes the longest `j`
/// for which `check(i, j)` is `Valid` (`Stop` ends the search from `i`), emits `(i, j)` and continues at
/// `j + 1`. When nothing starts at `i`, continues at `resume(i)` if that is given, else stops: a number
/// never starts in the middle of a chain of groups (where it would be part of a longer number) except
/// right after another number or where `resume` says so.
fn longest_runs(
    n: usize,
    mut check: impl FnMut(usize, usize) -> Step,
    resume: impl Fn(usize) -> Option<usize>,
    mut emit: impl FnMut(usize, usize),
) {
    let mut i = 0;
    while i < n {
        let mut best = None;
        for j in i..n {
            match check(i, j) {
                Step::Stop => break,
                Step::Valid => best = Some(j),
                Step::Invalid => {}
            }
        }
        match best {
            Some(j) => {
                emit(i, j);
                i = j + 1;
            }
            None => match resume(i) {
                Some(k) if k > i => i = k,
                _ => break,
            },
        }
    }
}

enum Step {
    Valid,
    Invalid,
    Stop,
}

/// Group `i` may start a sub-chain: the chain's first group with a clean left side, or a later group after
/// a single space.
fn chain_start_ok(text: &str, g: &[Group], i: usize) -> bool {
    if i == 0 {
        left_ok(text, g[0].start)
    } else {
        !g[i].paren && text.as_bytes()[g[i].start - 1] == b' ' && g[i - 1].end + 1 == g[i].start
    }
}

/// Group `j` may end a sub-chain: the chain's last group with a clean right side, or a group followed by
/// a space.
fn chain_end_ok(text: &str, g: &[Group], j: usize) -> bool {
    if j + 1 == g.len() {
        right_ok(text, g[j].end)
    } else {
        text.as_bytes()[g[j].end] == b' '
    }
}

fn find_cards(re: &Regex, text: &str, out: &mut Out<'_>) {
    for m in re.find_iter(text) {
        if m.as_str().bytes().filter(u8::is_ascii_digit).count() < CARD_MIN_DIGITS {
            continue;
        }
        let g = groups(text, m.range());
        longest_runs(
            g.len(),
            |i, j| {
                if !chain_start_ok(text, &g, i) {
                    return Step::Stop;
                }
                let run = &g[i..=j];
                let digits: usize = run.iter().map(Group::len).sum();
                if digits > CARD_MAX_DIGITS {
                    return Step::Stop;
                }
                let sizes = run.len() == 1
                    || (run[..run.len() - 1].iter().all(|g| (3..=6).contains(&g.len())) && g[j].len() <= 6);
                if digits >= CARD_MIN_DIGITS
                    && sizes
                    && chain_end_ok(text, &g, j)
                    && luhn(&text.as_bytes()[g[i].start..g[j].end])
                {
                    Step::Valid
                } else {
                    Step::Invalid
                }
            },
            |_| None,
            |i, j| out.add(g[i].start..g[j].end),
        );
    }
}

fn find_intl_phones(re: &Regex, text: &str, out: &mut Out<'_>) {
    for m in re.find_iter(text) {
        if !left_ok(text, m.start()) {
            continue;
        }
        let g = groups(text, m.range());
        let mut digits = 0;
        let mut best = None;
        for j in 0..g.len() {
            let trunk = g[j].paren && &text[g[j].digits.clone()] == "0";
            if !trunk {
                digits += g[j].len();
            }
            if digits > INTL_MAX_DIGITS {
                break;
            }
            if digits >= INTL_MIN_DIGITS && chain_end_ok(text, &g, j) {
                best = Some(g[j].end);
            }
        }
        if let Some(end) = best {
            out.add(m.start()..end);
        }
    }
}

fn find_national_phones(re: &Regex, text: &str, out: &mut Out<'_>) {
    let b = text.as_bytes();
    for m in re.find_iter(text) {
        if m.as_str().bytes().filter(u8::is_ascii_digit).count() < NATIONAL_MIN_DIGITS {
            continue;
        }
        let g = groups(text, m.range());
        longest_runs(
            g.len(),
            |i, j| {
                let first = &g[i];
                let prefix = b[first.digits.start] == b'0'
                    && b.get(first.digits.start + 1).is_some_and(|d| (b'1'..=b'9').contains(d))
                    && (!first.paren || (2..=5).contains(&first.len()));
                if !prefix || !chain_start_ok(text, &g, i) || starts_with_date(text, &g[i..]) {
                    return Step::Stop;
                }
                let run = &g[i..=j];
                let digits: usize = run.iter().map(Group::len).sum();
                if digits > NATIONAL_MAX_DIGITS {
                    return Step::Stop;
                }
                if digits >= NATIONAL_MIN_DIGITS && run.iter().any(|g| g.len() >= 3) && chain_end_ok(text, &g, j) {
                    Step::Valid
                } else {
                    Step::Invalid
                }
            },
            |i| starts_with_date(text, &g[i..]).then_some(i + 3),
            |i, j| out.add(g[i].start..g[j].end),
        );
    }
}

/// The groups start with a date `DD?MM?YYYY` or `MM?DD?YYYY`: 2, 2 and 4 digits, the same one-character
/// separator twice, a plausible day and month, a year 1900–2099.
fn starts_with_date(text: &str, g: &[Group]) -> bool {
    let [a, b, y, ..] = g else {
        return false;
    };
    if a.paren || b.paren || y.paren || a.len() != 2 || b.len() != 2 || y.len() != 4 {
        return false;
    }
    let (s1, s2) = (&text[a.end..b.start], &text[b.end..y.start]);
    if s1.len() != 1 || s1 != s2 {
        return false;
    }
    let bytes = text.as_bytes();
    let (x, z, year) = (
        number(&bytes[a.digits.clone()]),
        number(&bytes[b.digits.clone()]),
        number(&bytes[y.digits.clone()]),
    );
    let day = 1..=31;
    let month = 1..=12;
    (1900..=2099).contains(&year)
        && ((day.contains(&x) && month.contains(&z)) || (month.contains(&x) && day.contains(&z)))
}

fn find_ipv4(re: &Regex, text: &str, out: &mut Out<'_>) {
    for m in re.find_iter(text) {
        let s = m.as_str();
        if s.bytes().filter(|&b| b == b'.').count() == 3
            && s.parse::<Ipv4Addr>().is_ok()
            && standalone(text, &m.range())
        {
            out.add(m.range());
        }
    }
}

fn find_ipv6(re: &Regex, text: &str, out: &mut Out<'_>) {
    let b = text.as_bytes();
    for m in re.find_iter(text) {
        let (mut s, mut e) = (m.start(), m.end());
        while s < e && b[s] == b'.' {
            s += 1;
        }
        while e > s && b[e - 1] == b'.' {
            e -= 1;
        }
        // A single leading ':' (as in "IP:fe80::1") or the third of ":::" is punctuation.
        if b[s..e].starts_with(b":") && !b[s..e].starts_with(b"::") || b[s..e].starts_with(b":::") {
            s += 1;
        }
        let valid = |c: &str| {
            c.bytes().filter(|&b| b == b':').count() >= 2
                && c.bytes().any(|b| b.is_ascii_digit())
                && c.parse::<Ipv6Addr>().is_ok()
        };
        // Punctuation glued to the end: one trailing ':' ("fe80::1: it failed"), or a dot and what follows
        // it when that is not a number ("fe80::1.Next").
        let mut ok = false;
        for _ in 0..3 {
            if valid(&text[s..e]) {
                ok = true;
                break;
            }
            let tail = &b[s..e];
            if (tail.ends_with(b":") && !tail.ends_with(b"::")) || tail.ends_with(b":::") {
                e -= 1;
            } else if let Some(dot) = tail.iter().rposition(|&c| c == b'.') {
                if tail[dot + 1..].iter().all(u8::is_ascii_digit) {
                    break;
                }
                e = s + dot;
                while e > s && b[e - 1] == b'.' {
                    e -= 1;
                }
            } else {
                break;
            }
        }
        if !ok {
            continue;
        }
        if standalone(text, &(s..e)) {
            out.add(s..e);
        }
    }
}

#[cfg(test)]
mod tests;
