//! The rule file as people write it (TOML), before it is checked and
//! compiled. Unknown keys are refused by name at every level.

use serde::Deserialize;

/// A whole rule set file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Document {
    #[serde(default)]
    pub builtin: Builtin,
    #[serde(default)]
    pub redaction: Redaction,
    /// Kept as TOML values so that each rule is decoded on its own and its
    /// errors can name it.
    #[serde(default)]
    pub rule: Vec<toml::Value>,
}

/// The built-in tags, each on unless turned off.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Builtin {
    #[serde(default = "yes")]
    pub nps_category: bool,
    #[serde(default = "yes")]
    pub csat_bands: bool,
    #[serde(default = "yes")]
    pub ces_bands: bool,
}

impl Default for Builtin {
    fn default() -> Builtin {
        Builtin {
            nps_category: true,
            csat_bands: true,
            ces_bands: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// Redaction: every built-in detector is on unless listed in `disable`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Redaction {
    #[serde(default)]
    pub disable: Vec<String>,
    #[serde(default)]
    pub custom: Vec<CustomPattern>,
}

/// A tenant's own redaction pattern.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomPattern {
    pub id: String,
    pub pattern: String,
    /// Defaults to `[redacted]`.
    pub marker: Option<String>,
}

/// One tagging rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rule {
    pub id: String,
    #[serde(default)]
    #[allow(dead_code)] // read by people reviewing the file, not by the matcher
    pub description: Option<String>,
    pub when: When,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tag {
    pub name: String,
    pub value: String,
}

/// A condition. Each is a table with exactly one key.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum When {
    TextContains(Vec<String>),
    TextMatches(String),
    Metadata(MetadataTest),
    Metric(MetricRange),
    Channel(Vec<String>),
    Language(Vec<String>),
    Collection(Vec<String>),
    All(Vec<When>),
    Any(Vec<When>),
    Not(Box<When>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetadataTest {
    pub key: String,
    pub equals: Option<String>,
    pub one_of: Option<Vec<String>>,
    pub exists: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricRange {
    pub kind: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
}
