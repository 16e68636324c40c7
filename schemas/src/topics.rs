//! Topic names live here and nowhere else.

/// The topics of the log and what each carries (see `ARCHITECTURE.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `FeedbackReceived`, written by ingest.
    FeedbackRaw,
    /// `FeedbackProcessed`, written by the processor.
    FeedbackProcessed,
    /// `FeedbackRejected` (dead letters), written by the processor.
    FeedbackRejected,
    /// Tenant configuration events, written by the admin CLI/API.
    Config,
    /// Raw audit records, written by every component.
    Audit,
}

impl Topic {
    pub const ALL: [Topic; 5] = [
        Topic::FeedbackRaw,
        Topic::FeedbackProcessed,
        Topic::FeedbackRejected,
        Topic::Config,
        Topic::Audit,
    ];

    /// The topic's name without a namespace prefix.
    pub fn base_name(self) -> &'static str {
        match self {
            Topic::FeedbackRaw => "vox.feedback.raw",
            Topic::FeedbackProcessed => "vox.feedback.processed",
            Topic::FeedbackRejected => "vox.feedback.rejected",
            Topic::Config => "vox.config",
            Topic::Audit => "vox.audit",
        }
    }

    /// The topic's name under `namespace` (empty in production; tests use a
    /// unique namespace so that they never share topics).
    pub fn name(self, namespace: &str) -> String {
        format!("{namespace}{}", self.base_name())
    }
}
