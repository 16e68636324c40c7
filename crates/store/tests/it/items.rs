//! Feedback items and accesses for the analyst query tests.

use access::{Access, Grant, TagRef};
use store::{FeedbackRow, Projection, Store};

/// An item with no text, language, metrics or tags, on channel `web`.
pub fn item(tenant: &str, collection: &str, external_id: &str, occurred_at: i64) -> FeedbackRow {
    FeedbackRow {
        tenant_id: tenant.into(),
        collection: collection.into(),
        external_id: external_id.into(),
        event_id: format!("ev-{tenant}-{collection}-{external_id}"),
        client_id: "vox_ci_1".into(),
        batch_id: "b1".into(),
        channel: "web".into(),
        occurred_at,
        text: None,
        language: None,
        metrics: serde_json::json!([]),
        respondent: None,
        metadata: serde_json::json!({}),
        tags: serde_json::json!([]),
        received_region: "eu".into(),
        processed_region: "eu".into(),
        received_at: occurred_at + 1,
        processed_at: occurred_at + 2,
    }
}

/// Builder methods on an item.
pub trait With: Sized {
    fn tags(self, tags: &[(&str, &str)]) -> Self;
    fn text(self, language: Option<&str>, text: &str) -> Self;
    fn language(self, language: &str) -> Self;
    fn channel(self, channel: &str) -> Self;
    /// Adds a metric (kind, value, scale).
    fn metric(self, kind: &str, value: f64, scale: (f64, f64)) -> Self;
}

impl With for FeedbackRow {
    fn tags(mut self, tags: &[(&str, &str)]) -> Self {
        self.tags = tags
            .iter()
            .map(|(n, v)| serde_json::json!({"name": n, "value": v, "source": "client", "rule_id": null, "rule_version": null}))
            .collect();
        self
    }

    fn text(mut self, language: Option<&str>, text: &str) -> Self {
        self.language = language.map(str::to_owned);
        self.text = Some(text.into());
        self
    }

    fn language(mut self, language: &str) -> Self {
        self.language = Some(language.into());
        self
    }

    fn channel(mut self, channel: &str) -> Self {
        self.channel = channel.into();
        self
    }

    fn metric(mut self, kind: &str, value: f64, scale: (f64, f64)) -> Self {
        let list = self.metrics.as_array_mut().expect("metrics are a list");
        list.push(serde_json::json!({"kind": kind, "value": value, "scale": [scale.0, scale.1]}));
        self
    }
}

/// Writes `rows` in one projection step that moves no offset.
pub async fn insert(store: &Store, rows: Vec<FeedbackRow>) {
    store
        .apply(
            "analyst-tests",
            &Projection {
                feedback: rows,
                ..Projection::default()
            },
        )
        .await
        .expect("apply");
}

/// Every collection of `tenant`, no tag filter, nothing restricted.
pub fn everything(tenant: &str) -> Access {
    Access {
        tenant: tenant.into(),
        grants: vec![grant(None, &[], true)],
        restricted: vec![],
    }
}

pub fn grant(collection: Option<&str>, tags: &[&str], export: bool) -> Grant {
    Grant {
        collection: collection.map(str::to_owned),
        export,
        tags: tags.iter().map(|t| tag(t)).collect(),
    }
}

pub fn tag(text: &str) -> TagRef {
    TagRef::parse(text).expect("a tag reference")
}

/// The external ids of `rows`, in order.
pub fn ids(rows: &[FeedbackRow]) -> Vec<String> {
    rows.iter().map(|r| r.external_id.clone()).collect()
}
