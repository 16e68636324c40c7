//! The batch API's wire types: what `POST /v1/feedback/batch` answers (see
//! README, "The batch API"), and the error body of every refusal. A client
//! (`vox push`) depends on this crate alone, not on the server.

use serde::{Deserialize, Serialize};

/// The answer to a batch: one result per item, in input order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse {
    pub batch_id: String,
    /// Whether the batch was sent with `atomic=true` (all or nothing).
    pub atomic: bool,
    pub accepted: usize,
    pub rejected: usize,
    pub results: Vec<ItemResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// `accepted` or `rejected`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The body of every refused request: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable code (README lists them).
    pub code: String,
    /// What was wrong and what to do about it.
    pub message: String,
}
