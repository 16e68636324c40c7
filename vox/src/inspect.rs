//! `vox inspect`: prints read models as NDJSON (an operator tool).

use store::Store;

fn rfc3339(micros: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| micros.to_string())
}

/// Every feedback row of `tenant`, one JSON object per line.
pub async fn feedback(store: &Store, tenant: &str, out: &mut impl std::io::Write) -> anyhow::Result<usize> {
    let rows = store.feedback(tenant).await?;
    for row in &rows {
        let mut v = serde_json::to_value(row)?;
        for key in ["occurred_at", "received_at", "processed_at"] {
            if let Some(micros) = v[key].as_i64() {
                v[key] = serde_json::Value::String(rfc3339(micros));
            }
        }
        writeln!(out, "{v}")?;
    }
    Ok(rows.len())
}

/// Every dead letter of `tenant`, one JSON object per line.
pub async fn rejected(store: &Store, tenant: &str, out: &mut impl std::io::Write) -> anyhow::Result<usize> {
    let rows = store.rejections(tenant).await?;
    for row in &rows {
        let mut v = serde_json::to_value(row)?;
        if let Some(micros) = v["rejected_at"].as_i64() {
            v["rejected_at"] = serde_json::Value::String(rfc3339(micros));
        }
        writeln!(out, "{v}")?;
    }
    Ok(rows.len())
}
