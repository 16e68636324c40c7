//! Tenant rule sets: the rule language (a TOML document), its checks and
//! limits, the compiled form the processor applies to every item, and the
//! built-in tags (NPS category, CSAT and CES bands). Pure: no I/O.
//!
//! A rule set compiles once per (tenant, version): every phrase of every
//! rule goes into one Aho-Corasick automaton, every regular expression into
//! one `RegexSet`, so matching an item costs one pass over its text
//! whatever the rule count. A rule whose condition needs a phrase or a
//! regular expression is evaluated only for items where one matched; rules
//! on metrics, metadata, channel, language or collection alone are evaluated
//! for every item.

mod document;
mod matcher;

use std::collections::BTreeSet;
use std::fmt;

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use schemas::{Channel, CollectionId, FeedbackItem, MetricKind};

pub use matcher::normalize;
pub use redact::Kind as Detector;

use document::{Document, When};
use matcher::{Phrase, Phrases};

/// At most this many rules in one rule set.
pub const MAX_RULES: usize = 500;
/// At most this many bytes in one rule set document.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// The compiled size limit of each regular expression (`text_matches` and
/// custom redaction patterns), in bytes.
pub const MAX_REGEX_BYTES: usize = 256 * 1024;
/// The compiled size limit of all of a rule set's `text_matches` together.
pub const MAX_REGEX_SET_BYTES: usize = 8 << 20;
/// At most this many custom redaction patterns.
pub const MAX_CUSTOM_PATTERNS: usize = 32;
/// At most this many tags added by one rule.
pub const MAX_TAGS_PER_RULE: usize = 16;
/// Conditions nest at most this deep.
pub const MAX_DEPTH: usize = 8;
/// Longest rule id.
pub const MAX_ID_CHARS: usize = 64;
/// Longest tag name and value (as in the batch contract).
pub use schemas::{MAX_TAG_NAME_CHARS, MAX_TAG_VALUE_CHARS};

/// One thing wrong with a rule set: the rule (its id, or `rule #N` when it
/// has none; None for the document as a whole) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub rule: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Some(rule) => write!(f, "{rule}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a rule set is refused: every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Invalid {
    pub problems: Vec<Problem>,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "the rule set is invalid ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

/// A tag a rule added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTag {
    pub name: String,
    pub value: String,
    /// The rule's id (`builtin.nps_category` and so on for built-in tags).
    pub rule_id: String,
}

/// What redaction replaced in one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// `text` or `metadata.<key>`.
    pub field: String,
    /// A detector's name (`email`, `phone`, …), or `custom`.
    pub kind: String,
    pub count: u32,
    /// `builtin.redact.<kind>` for a built-in detector, else the custom
    /// pattern's id.
    pub rule_id: String,
}

/// What a rule set did to one item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub tags: Vec<RuleTag>,
    pub redactions: Vec<Redaction>,
}

#[derive(Debug)]
struct CompiledRule {
    id: String,
    tags: Vec<document::Tag>,
    when: Cond,
}

/// A compiled condition; phrase and regex conditions are "atoms", numbered,
/// decided for all rules at once per item.
#[derive(Debug)]
enum Cond {
    Atom(usize),
    Metadata { key: String, test: MetaTest },
    Metric { kind: MetricKind, min: f64, max: f64 },
    Channel(Vec<Channel>),
    Language(Vec<String>),
    Collection(Vec<String>),
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
}

#[derive(Debug)]
enum MetaTest {
    Equals(String),
    OneOf(Vec<String>),
    Exists(bool),
}

/// A compiled rule set, ready to apply. Immutable; share it in an `Arc`.
#[derive(Debug)]
pub struct RuleSet {
    version: i32,
    builtin: document::Builtin,
    rules: Vec<CompiledRule>,
    atoms: usize,
    phrases: Phrases,
    regexes: Option<RegexSet>,
    /// Per regex of the set: its atom.
    regex_atoms: Vec<usize>,
    /// Per atom: the rules it can make true.
    triggered: Vec<Vec<usize>>,
    /// Rules evaluated for every item.
    always: Vec<usize>,
    detectors: redact::Detectors,
    /// Per custom pattern: its id.
    custom_ids: Vec<String>,
    enabled_detectors: Vec<Detector>,
}

impl RuleSet {
    /// Checks and compiles a rule set document as `version` (0 for the
    /// defaults, published versions from 1).
    pub fn compile(document: &str, version: i32) -> Result<RuleSet, Invalid> {
        Compiler::default().compile(document, version)
    }

    /// The rule set of a tenant that has published none: the built-in tags
    /// and every redaction detector on, no rules. Version 0.
    pub fn defaults() -> RuleSet {
        RuleSet::compile("", 0).expect("the empty rule set compiles (tested)")
    }

    pub fn version(&self) -> i32 {
        self.version
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The built-in detectors this rule set runs.
    pub fn detectors(&self) -> &[Detector] {
        &self.enabled_detectors
    }

    /// Applies the rule set to an item of `collection`: the tags its rules
    /// add (matched on the item as the client sent it), then redaction of
    /// the item's text and metadata values in place.
    pub fn apply(&self, collection: &str, item: &mut FeedbackItem) -> Outcome {
        let mut outcome = Outcome::default();
        self.tag(collection, item, &mut outcome.tags);
        self.redact(item, &mut outcome.redactions);
        outcome
    }

    fn tag(&self, collection: &str, item: &FeedbackItem, out: &mut Vec<RuleTag>) {
        builtin_tags(&self.builtin, item, out);
        if self.rules.is_empty() {
            return;
        }
        let mut fired = vec![false; self.atoms];
        if let Some(text) = &item.text {
            self.phrases.scan(&normalize(text), &mut fired);
            if let Some(set) = &self.regexes {
                for i in set.matches(text).iter() {
                    fired[self.regex_atoms[i]] = true;
                }
            }
        }
        let mut candidates: Vec<usize> = self.always.clone();
        for (atom, _) in fired.iter().enumerate().filter(|(_, f)| **f) {
            candidates.extend_from_slice(&self.triggered[atom]);
        }
        candidates.sort_unstable();
        candidates.dedup();
        let context = Context {
            collection,
            item,
            fired: &fired,
        };
        for i in candidates {
            let rule = &self.rules[i];
            if context.eval(&rule.when) {
                for t in &rule.tags {
                    let seen = out.iter().any(|o| o.name == t.name && o.value == t.value)
                        || item.tags.iter().any(|o| o.name == t.name && o.value == t.value);
                    if !seen {
                        out.push(RuleTag {
                            name: t.name.clone(),
                            value: t.value.clone(),
                            rule_id: rule.id.clone(),
                        });
                    }
                }
            }
        }
    }

    fn redact(&self, item: &mut FeedbackItem, out: &mut Vec<Redaction>) {
        let mut record = |field: String, counts: Vec<(redact::Source, usize)>| {
            for (source, count) in counts {
                let (kind, rule_id) = match source {
                    redact::Source::Builtin(kind) => {
                        (kind.name().to_owned(), format!("builtin.redact.{}", kind.name()))
                    }
                    redact::Source::Custom(i) => ("custom".to_owned(), self.custom_ids[i].clone()),
                };
                out.push(Redaction {
                    field: field.clone(),
                    kind,
                    count: u32::try_from(count).unwrap_or(u32::MAX),
                    rule_id,
                });
            }
        };
        if let Some(text) = &mut item.text {
            if let Some(r) = self.detectors.redact(text) {
                *text = r.text;
                record("text".to_owned(), r.counts);
            }
        }
        for (key, value) in &mut item.metadata {
            if let Some(r) = self.detectors.redact(value) {
                *value = r.text;
                record(format!("metadata.{key}"), r.counts);
            }
        }
    }
}

/// The built-in tags: `nps` = promoter (9–10) / passive (7–8) / detractor
/// (0–6); `csat` = satisfied (4–5) / neutral (3) / dissatisfied (1–2);
/// `ces` = low_effort (5–7) / neutral (4) / high_effort (1–3).
fn builtin_tags(builtin: &document::Builtin, item: &FeedbackItem, out: &mut Vec<RuleTag>) {
    for m in &item.metrics {
        let (on, name, value, rule) = match m.kind {
            MetricKind::Nps => (
                builtin.nps_category,
                "nps",
                band(m.value, 6.0, 9.0, ["detractor", "passive", "promoter"]),
                "builtin.nps_category",
            ),
            MetricKind::Csat => (
                builtin.csat_bands,
                "csat",
                band(m.value, 2.0, 4.0, ["dissatisfied", "neutral", "satisfied"]),
                "builtin.csat_bands",
            ),
            MetricKind::Ces => (
                builtin.ces_bands,
                "ces",
                band(m.value, 3.0, 5.0, ["high_effort", "neutral", "low_effort"]),
                "builtin.ces_bands",
            ),
            MetricKind::Rating | MetricKind::Custom => continue,
        };
        let sent = item.tags.iter().any(|t| t.name == name && t.value == value);
        if on && !sent && !out.iter().any(|t| t.name == name) {
            out.push(RuleTag {
                name: name.to_owned(),
                value: value.to_owned(),
                rule_id: rule.to_owned(),
            });
        }
    }
}

/// `low` and below, up to `high` (exclusive), `high` and above.
fn band(value: f64, low: f64, high: f64, names: [&'static str; 3]) -> &'static str {
    if value <= low {
        names[0]
    } else if value < high {
        names[1]
    } else {
        names[2]
    }
}

struct Context<'a> {
    collection: &'a str,
    item: &'a FeedbackItem,
    fired: &'a [bool],
}

impl Context<'_> {
    fn eval(&self, c: &Cond) -> bool {
        match c {
            Cond::Atom(a) => self.fired[*a],
            Cond::Metadata { key, test } => {
                let value = self.item.metadata.get(key);
                match test {
                    MetaTest::Equals(v) => value == Some(v),
                    MetaTest::OneOf(vs) => value.is_some_and(|v| vs.contains(v)),
                    MetaTest::Exists(e) => value.is_some() == *e,
                }
            }
            Cond::Metric { kind, min, max } => self
                .item
                .metrics
                .iter()
                .any(|m| m.kind == *kind && m.value >= *min && m.value <= *max),
            Cond::Channel(list) => list.contains(&self.item.channel),
            Cond::Language(list) => self.item.language.as_deref().is_some_and(|l| {
                let l = l.to_ascii_lowercase();
                let primary = l.split('-').next().unwrap_or("");
                list.iter()
                    .any(|want| *want == l || (!want.contains('-') && want == primary))
            }),
            Cond::Collection(list) => list.iter().any(|c| c == self.collection),
            Cond::All(cs) => cs.iter().all(|c| self.eval(c)),
            Cond::Any(cs) => cs.iter().any(|c| self.eval(c)),
            Cond::Not(c) => !self.eval(c),
        }
    }
}

/// Collects problems while compiling.
#[derive(Default)]
struct Compiler {
    problems: Vec<Problem>,
    atoms: usize,
    phrases: Vec<(usize, Vec<Phrase>)>,
    regexes: Vec<(usize, String)>,
}

impl Compiler {
    fn problem(&mut self, rule: Option<&str>, message: impl Into<String>) {
        self.problems.push(Problem {
            rule: rule.map(str::to_owned),
            message: message.into(),
        });
    }

    fn compile(mut self, text: &str, version: i32) -> Result<RuleSet, Invalid> {
        if text.len() > MAX_DOCUMENT_BYTES {
            self.problem(
                None,
                format!(
                    "the document is {} bytes; a rule set holds at most {MAX_DOCUMENT_BYTES} bytes (256 KiB)",
                    text.len()
                ),
            );
            return Err(Invalid {
                problems: self.problems,
            });
        }
        let doc: Document = match toml::from_str(text) {
            Ok(d) => d,
            Err(e) => {
                self.problem(None, format!("not a valid rule set file: {}", e.to_string().trim_end()));
                return Err(Invalid {
                    problems: self.problems,
                });
            }
        };
        if doc.rule.len() > MAX_RULES {
            self.problem(
                None,
                format!("{} rules; a rule set holds at most {MAX_RULES}", doc.rule.len()),
            );
        }
        // Redaction.
        let mut enabled: Vec<Detector> = Detector::ALL.to_vec();
        for name in &doc.redaction.disable {
            match Detector::from_name(name) {
                Some(k) => enabled.retain(|e| *e != k),
                None => {
                    let known: Vec<&str> = Detector::ALL.iter().map(|k| k.name()).collect();
                    self.problem(
                        Some("redaction"),
                        format!(
                            "unknown detector {name:?} in disable; the detectors are {}",
                            known.join(", ")
                        ),
                    );
                }
            }
        }
        if doc.redaction.custom.len() > MAX_CUSTOM_PATTERNS {
            self.problem(
                Some("redaction"),
                format!(
                    "{} custom patterns; at most {MAX_CUSTOM_PATTERNS}",
                    doc.redaction.custom.len()
                ),
            );
        }
        let mut ids = BTreeSet::new();
        let mut customs = Vec::new();
        let mut custom_ids = Vec::new();
        for c in &doc.redaction.custom {
            let name = format!("redaction pattern `{}`", c.id);
            self.check_id(&name, &c.id, &mut ids);
            let marker = c.marker.clone().unwrap_or_else(|| "[redacted]".to_owned());
            if marker.is_empty() || marker.chars().count() > 32 {
                self.problem(Some(&name), "marker must be 1 to 32 characters");
            }
            match RegexBuilder::new(&c.pattern).size_limit(MAX_REGEX_BYTES).build() {
                Ok(regex) if regex.is_match("") => {
                    self.problem(Some(&name), format!("pattern {:?} matches empty text", c.pattern))
                }
                Ok(regex) if redact_marker_matches(&regex, &marker) => self.problem(
                    Some(&name),
                    format!("pattern {:?} matches its own marker {marker:?}", c.pattern),
                ),
                Ok(regex) => {
                    customs.push(redact::Custom { regex, marker });
                    custom_ids.push(c.id.clone());
                }
                Err(e) => self.problem(Some(&name), regex_problem(&c.pattern, &e)),
            }
        }
        // Rules.
        let mut rules = Vec::new();
        for (i, value) in doc.rule.into_iter().enumerate() {
            let value_id = value.get("id").and_then(toml::Value::as_str).map(str::to_owned);
            let label = match &value_id {
                Some(id) => format!("rule `{id}`"),
                None => format!("rule #{}", i + 1),
            };
            let rule: document::Rule = match value.try_into() {
                Ok(r) => r,
                Err(e) => {
                    self.problem(Some(&label), e.to_string().trim_end().to_owned());
                    if let Some(id) = value_id {
                        // A later rule with the same id is still a duplicate.
                        ids.insert(id);
                    }
                    continue;
                }
            };
            self.check_id(&label, &rule.id, &mut ids);
            if rule.tags.is_empty() {
                self.problem(Some(&label), "tags is empty; a rule adds at least one tag");
            }
            if rule.tags.len() > MAX_TAGS_PER_RULE {
                self.problem(Some(&label), format!("at most {MAX_TAGS_PER_RULE} tags per rule"));
            }
            for t in &rule.tags {
                self.check_tag(&label, t);
            }
            if let Some(when) = self.cond(&label, &rule.when, 1) {
                rules.push(CompiledRule {
                    id: rule.id,
                    tags: rule.tags,
                    when,
                });
            }
        }
        let phrases = match Phrases::build(&self.phrases) {
            Ok(p) => Some(p),
            Err(e) => {
                self.problem(None, e);
                None
            }
        };
        let regexes = if self.regexes.is_empty() {
            None
        } else {
            match RegexSetBuilder::new(self.regexes.iter().map(|(_, r)| r))
                .size_limit(MAX_REGEX_SET_BYTES)
                .build()
            {
                Ok(set) => Some(set),
                Err(e) => {
                    self.problem(
                        None,
                        format!("the text_matches expressions together are too large: {e}; use fewer or simpler ones"),
                    );
                    None
                }
            }
        };
        if !self.problems.is_empty() {
            return Err(Invalid {
                problems: self.problems,
            });
        }
        let phrases = phrases.expect("no problems, so the automaton was built");
        let mut triggered = vec![Vec::new(); self.atoms];
        let mut always = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            match triggers(&rule.when) {
                Some(atoms) => atoms.into_iter().for_each(|a| triggered[a].push(i)),
                None => always.push(i),
            }
        }
        Ok(RuleSet {
            version,
            builtin: doc.builtin,
            rules,
            atoms: self.atoms,
            phrases,
            regexes,
            regex_atoms: self.regexes.iter().map(|(a, _)| *a).collect(),
            triggered,
            always,
            detectors: redact::Detectors::new(&enabled, customs),
            custom_ids,
            enabled_detectors: enabled,
        })
    }

    fn check_id(&mut self, label: &str, id: &str, seen: &mut BTreeSet<String>) {
        let ok = !id.is_empty()
            && id.chars().count() <= MAX_ID_CHARS
            && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !ok {
            self.problem(
                Some(label),
                format!(
                    "id {id:?} is not valid: 1 to {MAX_ID_CHARS} of a-z, 0-9, '-' and '_', starting with a letter or digit"
                ),
            );
        } else if !seen.insert(id.to_owned()) {
            self.problem(
                Some(label),
                format!("duplicate id {id:?}; ids must be unique in a rule set"),
            );
        }
    }

    fn check_tag(&mut self, label: &str, t: &document::Tag) {
        for (what, s, max) in [
            ("tag name", &t.name, MAX_TAG_NAME_CHARS),
            ("tag value", &t.value, MAX_TAG_VALUE_CHARS),
        ] {
            if s.is_empty() || s.chars().count() > max {
                self.problem(Some(label), format!("{what} {s:?} must be 1 to {max} characters"));
            } else if let Some((at, c)) = schemas::text::first_unstorable(s) {
                self.problem(
                    Some(label),
                    format!("{what} {s:?} contains {} at character {at}", schemas::text::describe(c)),
                );
            }
        }
    }

    fn atom(&mut self) -> usize {
        self.atoms += 1;
        self.atoms - 1
    }

    fn cond(&mut self, label: &str, when: &When, depth: usize) -> Option<Cond> {
        if depth > MAX_DEPTH {
            self.problem(Some(label), format!("conditions nest deeper than {MAX_DEPTH} levels"));
            return None;
        }
        let list = |this: &mut Compiler, what: &str, list: &[String]| {
            if list.is_empty() {
                this.problem(Some(label), format!("{what} is an empty list"));
                return false;
            }
            true
        };
        Some(match when {
            When::TextContains(phrases) => {
                if !list(self, "text_contains", phrases) {
                    return None;
                }
                let mut parsed = Vec::new();
                for p in phrases {
                    match Phrase::parse(p) {
                        Ok(p) => parsed.push(p),
                        Err(e) => self.problem(Some(label), e),
                    }
                }
                let atom = self.atom();
                self.phrases.push((atom, parsed));
                Cond::Atom(atom)
            }
            When::TextMatches(pattern) => {
                match RegexBuilder::new(pattern).size_limit(MAX_REGEX_BYTES).build() {
                    Ok(_) => {}
                    Err(e) => {
                        self.problem(Some(label), regex_problem(pattern, &e));
                        return None;
                    }
                }
                let atom = self.atom();
                self.regexes.push((atom, pattern.clone()));
                Cond::Atom(atom)
            }
            When::Metadata(m) => {
                let tests = [m.equals.is_some(), m.one_of.is_some(), m.exists.is_some()];
                if tests.iter().filter(|t| **t).count() != 1 {
                    self.problem(
                        Some(label),
                        format!("metadata {:?}: give exactly one of equals, one_of or exists", m.key),
                    );
                    return None;
                }
                let test = if let Some(v) = &m.equals {
                    MetaTest::Equals(v.clone())
                } else if let Some(vs) = &m.one_of {
                    if !list(self, "metadata one_of", vs) {
                        return None;
                    }
                    MetaTest::OneOf(vs.clone())
                } else {
                    MetaTest::Exists(m.exists.unwrap_or(true))
                };
                Cond::Metadata {
                    key: m.key.clone(),
                    test,
                }
            }
            When::Metric(r) => {
                let Some(kind) = MetricKind::ALL.iter().copied().find(|k| k.as_str() == r.kind) else {
                    self.problem(
                        Some(label),
                        format!("unknown metric kind {:?}; use nps, csat, ces, rating or custom", r.kind),
                    );
                    return None;
                };
                let (lo, hi) = kind.fixed_scale().unwrap_or((f64::MIN, f64::MAX));
                let (min, max) = (r.min.unwrap_or(lo), r.max.unwrap_or(hi));
                if !min.is_finite() || !max.is_finite() || min > max || min < lo || max > hi {
                    let scale = kind
                        .fixed_scale()
                        .map_or("any finite numbers".to_owned(), |(a, b)| format!("{a}–{b}"));
                    self.problem(
                        Some(label),
                        format!(
                            "metric {} range {min}–{max} is not within its scale ({scale}) or min > max",
                            r.kind
                        ),
                    );
                    return None;
                }
                Cond::Metric { kind, min, max }
            }
            When::Channel(names) => {
                if !list(self, "channel", names) {
                    return None;
                }
                let mut out = Vec::new();
                for n in names {
                    match Channel::ALL.iter().find(|c| c.as_str() == n) {
                        Some(c) => out.push(*c),
                        None => {
                            let known: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
                            self.problem(
                                Some(label),
                                format!("unknown channel {n:?}; the channels are {}", known.join(", ")),
                            );
                        }
                    }
                }
                Cond::Channel(out)
            }
            When::Language(tags) => {
                if !list(self, "language", tags) {
                    return None;
                }
                for t in tags {
                    if !schemas::language::is_language_tag(t) {
                        self.problem(
                            Some(label),
                            format!("language {t:?} is not a BCP-47 tag such as \"fi\" or \"sv-FI\""),
                        );
                    }
                }
                Cond::Language(tags.iter().map(|t| t.to_ascii_lowercase()).collect())
            }
            When::Collection(ids) => {
                if !list(self, "collection", ids) {
                    return None;
                }
                for id in ids {
                    if let Err(e) = CollectionId::parse(id) {
                        self.problem(Some(label), e.to_string());
                    }
                }
                Cond::Collection(ids.clone())
            }
            When::All(cs) | When::Any(cs) => {
                if cs.is_empty() {
                    self.problem(Some(label), "all/any needs at least one condition");
                    return None;
                }
                let mut out = Vec::new();
                for c in cs {
                    out.push(self.cond(label, c, depth + 1)?);
                }
                if matches!(when, When::All(_)) {
                    Cond::All(out)
                } else {
                    Cond::Any(out)
                }
            }
            When::Not(c) => Cond::Not(Box::new(self.cond(label, c, depth + 1)?)),
        })
    }
}

/// Whether redacting with `regex` would find its own marker again.
fn redact_marker_matches(regex: &Regex, marker: &str) -> bool {
    regex.is_match(marker)
}

fn regex_problem(pattern: &str, e: &regex::Error) -> String {
    match e {
        regex::Error::CompiledTooBig(limit) => format!(
            "regular expression {pattern:?} compiles larger than the limit of {limit} bytes; simplify it (fewer repetitions or alternatives)"
        ),
        other => format!("regular expression {pattern:?} is invalid: {other}"),
    }
}

/// The atoms of which at least one must have fired for `c` to hold; None
/// when `c` can hold without any (then its rule is evaluated for every
/// item).
fn triggers(c: &Cond) -> Option<Vec<usize>> {
    match c {
        Cond::Atom(a) => Some(vec![*a]),
        Cond::All(cs) => cs.iter().filter_map(triggers).min_by_key(Vec::len),
        Cond::Any(cs) => {
            let mut all = Vec::new();
            for c in cs {
                all.extend(triggers(c)?);
            }
            Some(all)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
