//! The analyst API: feedback filtered by the caller's grants (README,
//! "Who sees what"). The tenant and the grants always come from the
//! session (never from the request): the directory turns them into an
//! [`access::Access`], the store compiles it and the filter into SQL (and,
//! on PostgreSQL, row-level security checks the tenant again). Every list,
//! read, aggregate, tag listing and export is audited with the filter and
//! how many items it returned, never their content.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use access::{Access, GroupBy, Position};
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use directory::Permission;
use schemas::{AuditAction, EventId, Outcome};
use store::{AggregateRow, FeedbackRow};

use crate::me::with_caller;
use crate::query::{self, decode_cursor, encode_cursor, Binding, Endpoint, Format};
use crate::session::{rfc3339, Accept, Caller, Ctx};
use crate::{telemetry, ApiError, AppState};

/// The longest a list, read, aggregate or tag listing may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// The most groups an aggregate returns, and tags a listing returns.
pub const MAX_GROUPS: usize = 10_000;
/// Exports one node runs at once.
pub const MAX_EXPORTS: usize = 4;
/// Queries (not exports) one node runs at once; more wait.
pub const MAX_QUERIES: usize = 16;
/// The size a chunk of an export grows to before it is sent.
const CHUNK_BYTES: usize = 64 * 1024;

fn ok(body: serde_json::Value) -> Result<Response, ApiError> {
    Ok(axum::Json(body).into_response())
}

/// The caller's effective grants, now.
fn access_of(state: &AppState, caller: &Caller) -> Access {
    let now = crate::session::now();
    state
        .directory
        .read(|d| d.access(&caller.tenant, caller.user.id.as_str(), now))
}

fn read_model(e: store::StoreError) -> ApiError {
    tracing::error!(error = %e, "a read-model query failed");
    ApiError::Unavailable {
        what: "the read models",
        retry_after_secs: 2,
    }
}

/// Runs one query under the node's query limit and the time limit.
async fn bounded<T>(
    state: &AppState,
    query: impl std::future::Future<Output = Result<T, store::StoreError>>,
) -> Result<T, ApiError> {
    let _permit = state.queries.acquire().await.map_err(|_| ApiError::Internal)?;
    match tokio::time::timeout(QUERY_TIMEOUT, query).await {
        Ok(result) => result.map_err(read_model),
        Err(_) => Err(ApiError::Unavailable {
            what: "the read models in time (the query took longer than 30 s; narrow it: a collection, a time range)",
            retry_after_secs: 5,
        }),
    }
}

fn details(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.chars().take(2_000).collect()))
        .collect()
}

fn counted(endpoint: &'static str) {
    metrics::counter!(telemetry::FEEDBACK_REQUESTS, "endpoint" => endpoint).increment(1);
}

/// The value of the first metric of `kind` in the stored metrics JSON.
fn metric(row: &FeedbackRow, kind: &str) -> Option<serde_json::Value> {
    row.metrics
        .as_array()?
        .iter()
        .find(|m| m["kind"] == kind)
        .map(|m| m["value"].clone())
}

/// An item as the API shows it.
pub(crate) fn item_json(row: &FeedbackRow) -> serde_json::Value {
    serde_json::json!({
        "event_id": row.event_id,
        "collection": row.collection,
        "external_id": row.external_id,
        "channel": row.channel,
        "occurred_at": rfc3339(row.occurred_at),
        "language": row.language,
        "text": row.text,
        "metrics": row.metrics,
        "respondent": row.respondent,
        "metadata": row.metadata,
        "tags": row.tags,
        "received_at": rfc3339(row.received_at),
        "processed_region": row.processed_region,
    })
}

/// `GET /v1/feedback`: a page of the visible items, newest first.
pub(crate) async fn list(State(state): State<Arc<AppState>>, ctx: Ctx, RawQuery(raw): RawQuery) -> Response {
    const PATH: &str = "/v1/feedback";
    with_caller(state, ctx, PATH, Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ReadFeedback, PATH).await?;
        counted("list");
        let q = query::parse(raw.as_deref(), Endpoint::List)?;
        let actor = caller.actor();
        let binding = Binding {
            key: &state.cursor_key,
            tenant: &caller.tenant,
            user: &actor,
            canonical: &q.canonical,
        };
        let after = q.cursor.as_deref().map(|c| decode_cursor(&binding, c)).transpose()?;
        let access = access_of(&state, &caller);
        let mut rows = bounded(
            &state,
            state
                .store
                .list_feedback(&access, &q.filter, after.as_ref(), q.limit + 1),
        )
        .await?;
        let next = (rows.len() > q.limit).then(|| {
            rows.truncate(q.limit);
            let last = rows.last().expect("a full page");
            encode_cursor(
                &binding,
                &Position {
                    occurred_at: last.occurred_at,
                    event_id: last.event_id.clone(),
                },
            )
        });
        caller
            .audit(
                &state,
                AuditAction::FeedbackListed,
                Some(PATH),
                details(&[
                    ("filter", q.canonical.clone()),
                    ("page", if after.is_some() { "next" } else { "first" }.to_owned()),
                    ("returned", rows.len().to_string()),
                ]),
            )
            .await?;
        ok(serde_json::json!({
            "items": rows.iter().map(item_json).collect::<Vec<_>>(),
            "next_cursor": next,
        }))
    })
    .await
}

/// `GET /v1/feedback/{event_id}`: one item, or 404 whether it is absent
/// or not visible to the caller.
pub(crate) async fn one(State(state): State<Arc<AppState>>, Path(id): Path<String>, ctx: Ctx) -> Response {
    const PATH: &str = "/v1/feedback/{event_id}";
    with_caller(state, ctx, PATH, Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ReadFeedback, PATH).await?;
        counted("read");
        let id = EventId::parse(&id).map_err(|e| ApiError::InvalidRequest(format!("event_id: {e}")))?;
        let access = access_of(&state, &caller);
        let row = bounded(&state, state.store.get_feedback(&access, id.as_str())).await?;
        caller
            .audit(
                &state,
                AuditAction::FeedbackRead,
                Some(id.as_str()),
                details(&[("returned", usize::from(row.is_some()).to_string())]),
            )
            .await?;
        match row {
            Some(row) => ok(item_json(&row)),
            None => Err(ApiError::NotFound(format!(
                "no feedback item {id} that you may see; check the id, or ask an admin for a grant"
            ))),
        }
    })
    .await
}

fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| (1000.0 * part as f64 / whole as f64).round() / 10.0)
}

fn rounded(v: Option<f64>) -> Option<f64> {
    v.map(|v| (v * 100.0).round() / 100.0)
}

fn group_json(row: &AggregateRow) -> serde_json::Value {
    let nps = (row.nps_responses > 0).then(|| {
        let n = row.nps_responses as f64;
        ((row.promoters as f64 - row.detractors as f64) * 1000.0 / n).round() / 10.0
    });
    serde_json::json!({
        "key": row.key,
        "items": row.items,
        "nps": {
            "score": nps,
            "responses": row.nps_responses,
            "promoters": row.promoters,
            "passives": row.nps_responses - row.promoters - row.detractors,
            "detractors": row.detractors,
        },
        "csat": {
            "mean": rounded(row.csat_mean),
            "responses": row.csat_responses,
            "satisfied": row.csat_satisfied,
            "satisfied_percent": percent(row.csat_satisfied, row.csat_responses),
        },
        "ces": {
            "mean": rounded(row.ces_mean),
            "responses": row.ces_responses,
        },
    })
}

fn group_name(group: &GroupBy) -> String {
    match group {
        GroupBy::Nothing => "nothing".into(),
        GroupBy::Collection => "collection".into(),
        GroupBy::Tag(name) => format!("tag:{name}"),
        GroupBy::Day => "day".into(),
        GroupBy::Week => "week".into(),
        GroupBy::Month => "month".into(),
    }
}

/// `GET /v1/aggregates`: counts and scores of the visible items, grouped.
pub(crate) async fn aggregates(State(state): State<Arc<AppState>>, ctx: Ctx, RawQuery(raw): RawQuery) -> Response {
    const PATH: &str = "/v1/aggregates";
    with_caller(state, ctx, PATH, Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ReadFeedback, PATH).await?;
        counted("aggregates");
        let q = query::parse(raw.as_deref(), Endpoint::Aggregates)?;
        let access = access_of(&state, &caller);
        let mut rows = bounded(&state, state.store.aggregate_feedback(&access, &q.filter, &q.group_by)).await?;
        let truncated = rows.len() > MAX_GROUPS;
        rows.truncate(MAX_GROUPS);
        let items: u64 = rows.iter().map(|r| r.items).sum();
        caller
            .audit(
                &state,
                AuditAction::FeedbackAggregated,
                Some(PATH),
                details(&[
                    ("filter", q.canonical.clone()),
                    ("group_by", group_name(&q.group_by)),
                    ("groups", rows.len().to_string()),
                    ("returned", items.to_string()),
                ]),
            )
            .await?;
        ok(serde_json::json!({
            "group_by": group_name(&q.group_by),
            "groups": rows.iter().map(group_json).collect::<Vec<_>>(),
            "truncated": truncated,
        }))
    })
    .await
}

/// `GET /v1/tags`: the tag names and values on items the caller sees.
pub(crate) async fn tags(State(state): State<Arc<AppState>>, ctx: Ctx, RawQuery(raw): RawQuery) -> Response {
    const PATH: &str = "/v1/tags";
    with_caller(state, ctx, PATH, Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::ReadFeedback, PATH).await?;
        counted("tags");
        query::parse(raw.as_deref(), Endpoint::Tags)?;
        let access = access_of(&state, &caller);
        let mut tags = bounded(&state, state.store.visible_tags(&access, MAX_GROUPS + 1)).await?;
        let truncated = tags.len() > MAX_GROUPS;
        tags.truncate(MAX_GROUPS);
        caller
            .audit(
                &state,
                AuditAction::TagsListed,
                Some(PATH),
                details(&[("returned", tags.len().to_string())]),
            )
            .await?;
        let tags: Vec<serde_json::Value> = tags
            .iter()
            .map(|(name, value, items)| serde_json::json!({"name": name, "value": value, "items": items}))
            .collect();
        ok(serde_json::json!({"tags": tags, "truncated": truncated}))
    })
    .await
}

/// The columns of a CSV export.
pub const CSV_COLUMNS: [&str; 13] = [
    "event_id",
    "collection",
    "external_id",
    "channel",
    "occurred_at",
    "language",
    "text",
    "nps",
    "csat",
    "ces",
    "tags",
    "respondent",
    "received_at",
];

/// One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or
/// LF, quotes doubled; text that a spreadsheet would run as a formula
/// (starting with `=`, `+`, `-`, `@`, tab or CR) gets a leading `'`.
fn csv_text(out: &mut Vec<u8>, value: &str) {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || value.contains([',', '"', '\r', '\n']);
    if quote {
        out.push(b'"');
    }
    if formula {
        out.push(b'\'');
    }
    for b in value.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    if quote {
        out.push(b'"');
    }
}

fn csv_row(out: &mut Vec<u8>, row: &FeedbackRow) {
    let number = |v: Option<serde_json::Value>| v.map(|v| v.to_string()).unwrap_or_default();
    let tags: Vec<String> = row
        .tags
        .as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| {
                    format!(
                        "{}:{}",
                        t["name"].as_str().unwrap_or(""),
                        t["value"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let fields: [String; 13] = [
        row.event_id.clone(),
        row.collection.clone(),
        row.external_id.clone(),
        row.channel.clone(),
        rfc3339(row.occurred_at),
        row.language.clone().unwrap_or_default(),
        row.text.clone().unwrap_or_default(),
        number(metric(row, "nps")),
        number(metric(row, "csat")),
        number(metric(row, "ces")),
        serde_json::to_string(&tags).unwrap_or_default(),
        row.respondent.clone().unwrap_or_default(),
        rfc3339(row.received_at),
    ];
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_text(out, field);
    }
    out.extend_from_slice(b"\r\n");
}

/// The state of one export's body: rows from the store's query, the
/// count, and whether its closing audit record is written.
struct Export {
    rows: tokio::sync::mpsc::Receiver<FeedbackRow>,
    query: Option<tokio::task::JoinHandle<Result<u64, store::StoreError>>>,
    state: Arc<AppState>,
    caller: Arc<Caller>,
    format: Format,
    filter: String,
    header: bool,
    sent: u64,
    finished: bool,
}

impl Export {
    fn record(&self, complete: bool) -> schemas::AuditRecord {
        let outcome = if complete { Outcome::Success } else { Outcome::Failure };
        self.caller.record(
            &self.state,
            AuditAction::FeedbackExported,
            outcome,
            Some("/v1/export"),
            details(&[
                ("stage", "finished".to_owned()),
                ("filter", self.filter.clone()),
                ("returned", self.sent.to_string()),
                ("complete", complete.to_string()),
            ]),
        )
    }

    fn encode(&mut self, row: &FeedbackRow, out: &mut Vec<u8>) {
        match self.format {
            Format::Csv => csv_row(out, row),
            Format::Ndjson => {
                serde_json::to_writer(&mut *out, &item_json(row)).expect("JSON of a value");
                out.push(b'\n');
            }
        }
        self.sent += 1;
    }

    /// The next chunk of the body; `None` at the end.
    async fn next(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        if self.finished {
            return None;
        }
        let mut out = Vec::with_capacity(CHUNK_BYTES + 4096);
        if !self.header {
            self.header = true;
            if self.format == Format::Csv {
                out.extend_from_slice(CSV_COLUMNS.join(",").as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        if let Some(row) = self.rows.recv().await {
            self.encode(&row, &mut out);
            while out.len() < CHUNK_BYTES {
                match self.rows.try_recv() {
                    Ok(row) => self.encode(&row, &mut out),
                    Err(_) => break,
                }
            }
            return Some(Ok(Bytes::from(out)));
        }
        // The query ended: completely, or with an error.
        self.finished = true;
        let query = self.query.take().expect("taken once");
        let complete = matches!(query.await, Ok(Ok(_)));
        metrics::counter!(telemetry::EXPORT_ROWS).increment(self.sent);
        let recorded = self.state.audit.durable(&[self.record(complete)]).await;
        if let Err(e) = &recorded {
            tracing::error!(error = %e, "the record of a finished export could not be made durable");
        }
        if !complete || recorded.is_err() {
            // Ends the response without its last chunk: the client sees a
            // broken transfer, never a silently short export.
            return Some(Err(std::io::Error::other("the export failed")));
        }
        (!out.is_empty()).then(|| Ok(Bytes::from(out)))
    }
}

impl Drop for Export {
    /// A client that went away mid-export: on record as incomplete.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        metrics::counter!(telemetry::EXPORT_ROWS).increment(self.sent);
        let record = self.record(false);
        self.state.audit.record(record);
    }
}

/// `GET /v1/export?format=csv|ndjson`: every visible item the filter
/// selects, streamed (constant memory), newest first; needs the export
/// permission and a grant of level `export` (only such grants' items).
pub(crate) async fn export(State(state): State<Arc<AppState>>, ctx: Ctx, RawQuery(raw): RawQuery) -> Response {
    const PATH: &str = "/v1/export";
    with_caller(state, ctx, PATH, Accept::Any, |state, caller| async move {
        caller.require(&state, Permission::Export, PATH).await?;
        counted("export");
        let q = query::parse(raw.as_deref(), Endpoint::Export)?;
        let access = access_of(&state, &caller);
        if !access.may_export() {
            let refused = ApiError::PermissionDenied(
                "none of your grants allows export; ask an admin for a grant of level export".into(),
            );
            let record = caller.record(
                &state,
                AuditAction::AccessDenied,
                Outcome::Denied,
                Some(PATH),
                details(&[("code", refused.code().as_str().to_owned())]),
            );
            state.audit.record(record);
            return Err(refused);
        }
        let permit = state
            .exports
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Unavailable {
                what: "an export slot (this node runs at most 4 exports at once)",
                retry_after_secs: 10,
            })?;
        caller
            .audit(
                &state,
                AuditAction::FeedbackExported,
                Some(PATH),
                details(&[
                    ("stage", "started".to_owned()),
                    ("filter", q.canonical.clone()),
                    (
                        "format",
                        if q.format == Format::Csv { "csv" } else { "ndjson" }.to_owned(),
                    ),
                ]),
            )
            .await?;
        let (sender, rows) = tokio::sync::mpsc::channel(512);
        let query = tokio::spawn({
            let store = state.store.clone();
            let filter = q.filter.clone();
            let access = access.for_export();
            async move {
                let _permit = permit;
                store.export_feedback(&access, &filter, sender).await
            }
        });
        let export = Export {
            rows,
            query: Some(query),
            state: state.clone(),
            caller: Arc::new(caller),
            format: q.format,
            filter: q.canonical,
            header: false,
            sent: 0,
            finished: false,
        };
        let stream = futures_util::stream::unfold(export, |mut export| async move {
            let chunk = export.next().await?;
            Some((chunk, export))
        });
        let (content_type, name) = match q.format {
            Format::Csv => ("text/csv; charset=utf-8", "feedback.csv"),
            Format::Ndjson => ("application/x-ndjson", "feedback.ndjson"),
        };
        let mut response = (StatusCode::OK, Body::from_stream(stream)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).expect("ASCII"),
        );
        Ok(response)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        let field = |v: &str| {
            let mut out = Vec::new();
            csv_text(&mut out, v);
            String::from_utf8(out).expect("the test made it so")
        };
        assert_eq!(field("plain text"), "plain text");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("-1"), "\"'-1\"");
        assert_eq!(field("@sum"), "\"'@sum\"");
        assert_eq!(field(""), "");
    }

    #[test]
    fn nps_is_rounded_to_a_tenth_and_passives_derived() {
        let row = AggregateRow {
            key: Some("2026-01".into()),
            items: 10,
            nps_responses: 3,
            promoters: 2,
            detractors: 0,
            csat_responses: 3,
            csat_mean: Some(4.333_333),
            csat_satisfied: 2,
            ces_responses: 0,
            ces_mean: None,
        };
        let json = group_json(&row);
        assert_eq!(json["nps"]["score"], 66.7);
        assert_eq!(json["nps"]["passives"], 1);
        assert_eq!(json["csat"]["mean"], 4.33);
        assert_eq!(json["csat"]["satisfied_percent"], 66.7);
        assert!(json["ces"]["mean"].is_null());
    }
}
