use std::collections::BTreeMap;

use proptest::prelude::*;
use schemas::{Channel, FeedbackItem, Metric, MetricKind};

use super::*;

fn item(text: &str, language: &str) -> FeedbackItem {
    FeedbackItem {
        occurred_at: 0,
        channel: Channel::Survey,
        text: Some(text.to_owned()),
        language: Some(language.to_owned()),
        metrics: Vec::new(),
        respondent: None,
        metadata: BTreeMap::new(),
        tags: Vec::new(),
    }
}

fn nps(value: f64) -> Metric {
    Metric {
        kind: MetricKind::Nps,
        value,
        scale_min: 0.0,
        scale_max: 10.0,
    }
}

/// The tags (`name=value ← rule`) a rule set gives an item.
fn tags(rules: &RuleSet, collection: &str, mut item: FeedbackItem) -> Vec<String> {
    rules
        .apply(collection, &mut item)
        .tags
        .into_iter()
        .map(|t| format!("{}={} <- {}", t.name, t.value, t.rule_id))
        .collect()
}

const DELIVERY: &str = r#"
[builtin]
nps_category = false
csat_bands = false
ces_bands = false

[[rule]]
id = "delivery"
description = "Delivery and shipping, in four languages"
when.text_contains = ["delivery", "shipping", "toimitus*", "leverans*", "liefer*"]
tags = [{ name = "topic", value = "delivery" }]

[[rule]]
id = "angry-about-billing"
when.all = [
  { any = [{ text_contains = ["invoice", "lasku*", "faktura*", "rechnung*"] }, { metadata = { key = "area", equals = "billing" } }] },
  { metric = { kind = "nps", max = 6 } },
]
tags = [{ name = "escalate", value = "billing" }]

[[rule]]
id = "finnish-or-swedish-email"
when.all = [{ language = ["fi", "sv"] }, { channel = ["email"] }, { not = { collection = ["internal"] } }]
tags = [{ name = "route", value = "nordics" }]

[[rule]]
id = "refund-code"
when.text_matches = '(?i)\bRF-\d{4}\b'
tags = [{ name = "refund", value = "yes" }]
"#;

#[test]
fn phrases_match_in_four_languages() {
    let rules = RuleSet::compile(DELIVERY, 3).expect("valid");
    assert_eq!(rules.version(), 3);
    for (text, lang) in [
        ("The DELIVERY was late", "en"),
        ("Toimitusaika oli liian pitkä", "fi"),
        ("Leveransen kom i tid", "sv"),
        ("Die Lieferzeit war zu lang", "de"),
    ] {
        assert_eq!(
            tags(&rules, "nps", item(text, lang)),
            ["topic=delivery <- delivery"],
            "{text}"
        );
    }
    assert!(tags(&rules, "nps", item("Auslieferung? Nein, Abholung.", "de")).is_empty());
    assert!(
        tags(&rules, "nps", item("nothing to see", "en")).is_empty(),
        "no rule matches"
    );
}

#[test]
fn combinators_metadata_metrics_channel_language_collection() {
    let rules = RuleSet::compile(DELIVERY, 1).expect("valid");
    let mut angry = item("Laskussa oli virhe", "fi");
    angry.metrics.push(nps(3.0));
    assert_eq!(
        tags(&rules, "nps", angry.clone()),
        ["escalate=billing <- angry-about-billing"]
    );
    angry.metrics[0] = nps(8.0);
    assert!(tags(&rules, "nps", angry).is_empty(), "a passive is not escalated");

    let mut by_metadata = item("no words about money", "en");
    by_metadata.metrics.push(nps(0.0));
    by_metadata.metadata.insert("area".into(), "billing".into());
    assert_eq!(
        tags(&rules, "nps", by_metadata),
        ["escalate=billing <- angry-about-billing"]
    );

    let mut mail = item("hej", "sv-FI");
    mail.channel = Channel::Email;
    assert_eq!(
        tags(&rules, "support", mail.clone()),
        ["route=nordics <- finnish-or-swedish-email"]
    );
    assert!(tags(&rules, "internal", mail.clone()).is_empty(), "not");
    mail.language = Some("de".into());
    assert!(tags(&rules, "support", mail).is_empty());

    assert_eq!(
        tags(&rules, "nps", item("see rf-1234 please", "en")),
        ["refund=yes <- refund-code"]
    );
}

#[test]
fn builtin_tags_are_on_by_default_and_can_be_turned_off() {
    let defaults = RuleSet::defaults();
    assert_eq!(defaults.version(), 0);
    for (value, category) in [
        (0.0, "detractor"),
        (6.0, "detractor"),
        (7.0, "passive"),
        (8.0, "passive"),
        (9.0, "promoter"),
        (10.0, "promoter"),
    ] {
        let mut i = item("", "en");
        i.metrics.push(nps(value));
        assert_eq!(
            tags(&defaults, "nps", i),
            [format!("nps={category} <- builtin.nps_category")],
            "{value}"
        );
    }
    let mut csat = item("", "en");
    csat.metrics.push(Metric {
        kind: MetricKind::Csat,
        value: 2.0,
        scale_min: 1.0,
        scale_max: 5.0,
    });
    csat.metrics.push(Metric {
        kind: MetricKind::Ces,
        value: 6.0,
        scale_min: 1.0,
        scale_max: 7.0,
    });
    assert_eq!(
        tags(&defaults, "nps", csat.clone()),
        [
            "csat=dissatisfied <- builtin.csat_bands",
            "ces=low_effort <- builtin.ces_bands"
        ]
    );
    let off = RuleSet::compile(DELIVERY, 1).expect("valid");
    assert!(tags(&off, "nps", csat).is_empty());
}

#[test]
fn a_tag_the_client_already_sent_is_not_added_again() {
    let rules = RuleSet::compile(DELIVERY, 1).expect("valid");
    let mut i = item("delivery delivery shipping", "en");
    i.tags.push(schemas::SourceTag {
        name: "topic".into(),
        value: "delivery".into(),
    });
    assert!(tags(&rules, "nps", i).is_empty());
}

#[test]
fn redaction_is_on_by_default_and_recorded_without_the_original() {
    let defaults = RuleSet::defaults();
    let mut i = item("Mail me at anna.virtanen@example.fi or call +358 40 123 4567", "en");
    i.metadata.insert("contact".into(), "anna@example.com".into());
    i.metadata.insert("plan".into(), "business".into());
    let outcome = defaults.apply("nps", &mut i);
    assert_eq!(i.text.as_deref(), Some("Mail me at [email] or call [phone]"));
    assert_eq!(i.metadata["contact"], "[email]");
    assert_eq!(i.metadata["plan"], "business");
    let got: Vec<(String, String, u32, String)> = outcome
        .redactions
        .into_iter()
        .map(|r| (r.field, r.kind, r.count, r.rule_id))
        .collect();
    assert_eq!(
        got,
        [
            ("text".into(), "email".into(), 1, "builtin.redact.email".into()),
            ("text".into(), "phone".into(), 1, "builtin.redact.phone".into()),
            (
                "metadata.contact".into(),
                "email".into(),
                1,
                "builtin.redact.email".into()
            ),
        ]
    );
}

#[test]
fn detectors_can_be_turned_off_and_custom_patterns_added() {
    let rules = RuleSet::compile(
        r#"
[redaction]
disable = ["phone"]
[[redaction.custom]]
id = "order-number"
pattern = 'ORD-\d{6}'
marker = "[order]"
"#,
        1,
    )
    .expect("valid");
    let mut i = item("Order ORD-123456, call 040 123 4567", "en");
    let outcome = rules.apply("nps", &mut i);
    assert_eq!(i.text.as_deref(), Some("Order [order], call 040 123 4567"));
    assert_eq!(outcome.redactions.len(), 1);
    assert_eq!(
        (
            outcome.redactions[0].kind.as_str(),
            outcome.redactions[0].rule_id.as_str()
        ),
        ("custom", "order-number")
    );
}

#[test]
fn bad_rule_sets_are_refused_naming_the_rule_and_the_problem() {
    let many: String = (0..=MAX_RULES)
        .map(|i| {
            format!("[[rule]]\nid = \"r{i}\"\nwhen.channel = [\"email\"]\ntags = [{{ name = \"a\", value = \"b\" }}]\n")
        })
        .collect();
    let large = format!("# {}\n", "x".repeat(MAX_DOCUMENT_BYTES));
    let rule = |body: &str| format!("[[rule]]\nid = \"r1\"\ntags = [{{ name = \"t\", value = \"v\" }}]\n{body}\n");
    let cases: Vec<(&str, String, Option<&str>, &str)> = vec![
        (
            "invalid regex",
            rule("when.text_matches = '(unclosed'"),
            Some("rule `r1`"),
            "is invalid",
        ),
        (
            "huge regex",
            rule(r#"when.text_matches = '\w{1000}\w{1000}'"#),
            Some("rule `r1`"),
            "larger than the limit",
        ),
        (
            "unknown key in a rule",
            rule("when.channel = [\"email\"]\ncolour = \"red\""),
            Some("rule `r1`"),
            "unknown field `colour`",
        ),
        (
            "unknown condition",
            rule("when.text_contain = [\"x\"]"),
            Some("rule `r1`"),
            "unknown variant `text_contain`",
        ),
        (
            "unknown top-level key",
            "[rules]\nx = 1".into(),
            None,
            "unknown field `rules`",
        ),
        (
            "unknown metric kind",
            rule("when.metric = { kind = \"nsp\", max = 6 }"),
            Some("rule `r1`"),
            "unknown metric kind \"nsp\"",
        ),
        (
            "range outside the scale",
            rule("when.metric = { kind = \"nps\", min = 0, max = 11 }"),
            Some("rule `r1`"),
            "not within its scale (0–10)",
        ),
        (
            "min above max",
            rule("when.metric = { kind = \"csat\", min = 4, max = 2 }"),
            Some("rule `r1`"),
            "min > max",
        ),
        (
            "unknown channel",
            rule("when.channel = [\"fax\"]"),
            Some("rule `r1`"),
            "unknown channel \"fax\"",
        ),
        (
            "two metadata tests",
            rule("when.metadata = { key = \"a\", equals = \"b\", exists = true }"),
            Some("rule `r1`"),
            "exactly one of",
        ),
        (
            "bad phrase",
            rule("when.text_contains = [\"a*b\"]"),
            Some("rule `r1`"),
            "only at the end",
        ),
        (
            "bad collection id",
            rule("when.collection = [\"Sales Team\"]"),
            Some("rule `r1`"),
            "collection",
        ),
        (
            "no tags",
            "[[rule]]\nid = \"r1\"\nwhen.channel = [\"email\"]\ntags = []".into(),
            Some("rule `r1`"),
            "at least one tag",
        ),
        (
            "missing id",
            "[[rule]]\nwhen.channel = [\"email\"]\ntags = [{ name = \"a\", value = \"b\" }]".into(),
            Some("rule #1"),
            "missing field `id`",
        ),
        (
            "bad id",
            "[[rule]]\nid = \"Bad Id\"\nwhen.channel = [\"email\"]\ntags = [{ name = \"a\", value = \"b\" }]".into(),
            Some("rule `Bad Id`"),
            "is not valid",
        ),
        (
            "duplicate ids",
            format!(
                "{}{}",
                rule("when.channel = [\"email\"]"),
                rule("when.channel = [\"chat\"]")
            ),
            Some("rule `r1`"),
            "duplicate id \"r1\"",
        ),
        ("too many rules", many, None, "at most 500"),
        ("too large", large, None, "at most 262144 bytes"),
        (
            "unknown detector",
            "[redaction]\ndisable = [\"ssn\"]".into(),
            Some("redaction"),
            "unknown detector \"ssn\"",
        ),
        (
            "custom pattern matching empty text",
            "[[redaction.custom]]\nid = \"x\"\npattern = 'a*'".into(),
            Some("redaction pattern `x`"),
            "matches empty text",
        ),
        ("not TOML", "[[rule]\nid=".into(), None, "not a valid rule set file"),
        (
            "nested too deep",
            rule(&format!(
                "when = {}{{ channel = [\"email\"] }}{}",
                "{ not = ".repeat(9),
                " }".repeat(9)
            )),
            Some("rule `r1`"),
            "deeper than 8",
        ),
    ];
    for (name, doc, rule, message) in cases {
        let err = RuleSet::compile(&doc, 1).expect_err(name);
        assert!(
            err.problems
                .iter()
                .any(|p| p.rule.as_deref() == rule && p.message.contains(message)),
            "{name}: want {rule:?} / {message:?}, got {err}"
        );
    }
}

#[test]
fn the_shipped_example_compiles() {
    let example = include_str!("../../../examples/rules.toml");
    let rules = RuleSet::compile(example, 1).expect("examples/rules.toml is valid");
    assert!(rules.rule_count() >= 4);
}

proptest! {
    #[test]
    fn applying_never_panics_and_leaves_nothing_detectable(text in "\\PC{0,200}") {
        let rules = RuleSet::compile(DELIVERY, 1).expect("valid");
        let mut i = item(&text, "en");
        rules.apply("nps", &mut i);
        let again = redact::Detectors::all().find(i.text.as_deref().unwrap_or(""));
        prop_assert!(again.is_empty());
    }

    #[test]
    fn compiling_arbitrary_text_never_panics(doc in "[\\[\\]a-z_=\"{}, .*\\n0-9]{0,300}") {
        let _ = RuleSet::compile(&doc, 1);
    }
}
