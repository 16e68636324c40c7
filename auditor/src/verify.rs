//! What compliance teams run over a log: [`replay`], [`verify`], [`export`]
//! and proofs. Each reads the store only.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use auditlog::{leaf_hash, open_checkpoint, stored_hash_index, Frontier, Hash};
use base64::Engine;
use schemas::AuditRecord;
use store::{AuditRange, AuditRecordRow, Store, StoreError};

use crate::origin;

/// Records read from the store at a time.
const CHUNK: usize = 20_480;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Where a log and what it should be part ways: the first place found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Divergence {
    /// The record at `index` (missing, altered, out of place).
    Record { index: u64, what: String },
    /// A stored checkpoint (its signature, its origin, or its root against
    /// the records).
    Checkpoint { size: u64, what: String },
    /// The checkpoint saved earlier and given to `verify`.
    Saved { what: String },
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Divergence::Record { index, what } => write!(f, "record {index}: {what}"),
            Divergence::Checkpoint { size, what } => write!(f, "checkpoint of size {size}: {what}"),
            Divergence::Saved { what } => write!(f, "saved checkpoint: {what}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The log does not verify.
    #[error("the audit log does not verify: {0}")]
    Diverges(Divergence),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The verifier key or another input is not usable.
    #[error("{0}")]
    Input(String),
    #[error("writing the export failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What a successful [`verify`] checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub origin: String,
    /// Records in the log, and the root of all of them.
    pub size: u64,
    pub root: Hash,
    /// Stored checkpoints checked (signature, origin, root at their size).
    pub checkpoints: usize,
    /// The newest checkpoint's size (records after it are not signed yet).
    pub latest_checkpoint: Option<u64>,
    /// The saved checkpoint's size, when one was given.
    pub saved: Option<u64>,
}

fn diverges(d: Divergence) -> VerifyError {
    VerifyError::Diverges(d)
}

/// The key name of a verifier key `<name>+<id>+<key>`.
fn key_name(verifier_key: &str) -> Result<&str, VerifyError> {
    match verifier_key.split_once('+') {
        Some((name, _)) if !name.is_empty() => Ok(name),
        _ => Err(VerifyError::Input(format!(
            "the verifier key {verifier_key:?} is not of the form <name>+<id>+<key> (what `vox audit keygen` prints)"
        ))),
    }
}

fn b64(hash: &Hash) -> String {
    B64.encode(hash.0)
}

/// Recomputes the log `log_id` from its records and checks it: the records
/// are numbered 0, 1, 2, … without a gap; each hashes to the tree's stored
/// leaf and the stored inner nodes are the ones the records give; every
/// stored checkpoint is signed by `verifier_key`, names this log's origin
/// and has the root the first `size` records give; the log's stored size
/// is the number of records; and `saved` (a checkpoint the customer kept),
/// if given, is signed by the same key and is a prefix of the log (same
/// root at its size: a fork or a rewrite of history fails). Returns the
/// first divergence found.
pub async fn verify(
    store: &Store,
    log_id: &str,
    verifier_key: &str,
    saved: Option<&str>,
) -> Result<Verified, VerifyError> {
    let origin = origin(key_name(verifier_key)?, log_id);
    // Every root a prefix of the log must have: (size, root, who says so).
    let mut targets: Vec<(u64, Hash, Option<u64>)> = Vec::new();
    let stored = store.audit_checkpoints(log_id).await?;
    for c in &stored {
        let checkpoint = open_checkpoint(&c.note, verifier_key).map_err(|e| {
            diverges(Divergence::Checkpoint {
                size: c.size,
                what: e.to_string(),
            })
        })?;
        if checkpoint.origin != origin {
            return Err(diverges(Divergence::Checkpoint {
                size: c.size,
                what: format!("its origin is {:?}, not this log's {origin:?}", checkpoint.origin),
            }));
        }
        if checkpoint.size != c.size || checkpoint.root.0 != c.root {
            return Err(diverges(Divergence::Checkpoint {
                size: c.size,
                what: "the stored size or root differs from what the note signs".to_owned(),
            }));
        }
        targets.push((checkpoint.size, checkpoint.root, Some(c.size)));
    }
    let saved_size = match saved {
        None => None,
        Some(note) => {
            let checkpoint =
                open_checkpoint(note, verifier_key).map_err(|e| diverges(Divergence::Saved { what: e.to_string() }))?;
            if checkpoint.origin != origin {
                return Err(diverges(Divergence::Saved {
                    what: format!("its origin is {:?}, not this log's {origin:?}", checkpoint.origin),
                }));
            }
            targets.push((checkpoint.size, checkpoint.root, None));
            Some(checkpoint.size)
        }
    };
    targets.sort_by_key(|t| t.0);

    let mut frontier = Frontier::empty();
    let mut next_target = 0;
    // The largest size whose root a checkpoint confirmed (records before it
    // are as signed).
    let mut confirmed = 0;
    let check_targets = |frontier: &Frontier, next_target: &mut usize, confirmed: &mut u64| {
        while let Some((size, root, checkpoint)) = targets.get(*next_target) {
            if *size != frontier.size() {
                break;
            }
            if frontier.root() != *root {
                let what = format!(
                    "it signs root {} but records 0..{} give {}: a record between index {} and {} differs from \
                     what was signed",
                    b64(root),
                    size,
                    b64(&frontier.root()),
                    confirmed,
                    size.saturating_sub(1)
                );
                return Err(diverges(match checkpoint {
                    Some(size) => Divergence::Checkpoint { size: *size, what },
                    None => Divergence::Saved {
                        what: format!("a fork: {what}"),
                    },
                }));
            }
            *confirmed = *size;
            *next_target += 1;
        }
        Ok(())
    };
    check_targets(&frontier, &mut next_target, &mut confirmed)?;
    // The store is read a chunk ahead, records and hashes at once, while
    // the chunk before is hashed.
    let (chunks, mut next_chunk) = tokio::sync::mpsc::channel(2);
    let reader = tokio::spawn(read_chunks(store.clone(), log_id.to_owned(), chunks));
    let checked = async {
        while let Some(chunk) = next_chunk.recv().await {
            let Chunk {
                from,
                records,
                short,
                first_id,
                hashes,
            } = chunk?;
            for (i, data) in records.iter().enumerate() {
                let index = frontier.size();
                if from + i as u64 != index {
                    return Err(diverges(Divergence::Record {
                        index,
                        what: "missing".to_owned(),
                    }));
                }
                let leaf = leaf_hash(data);
                for (id, hash) in frontier.append_leaf_hash(leaf) {
                    let stored = id
                        .checked_sub(first_id)
                        .and_then(|i| hashes.get(usize::try_from(i).ok()?))
                        .copied()
                        .flatten();
                    if stored != Some(hash.0) {
                        let what = if id == stored_hash_index(0, index) {
                            "its data does not hash to the tree's leaf (altered or out of place)".to_owned()
                        } else {
                            format!("the tree's stored hash {id} is not the one the records give")
                        };
                        return Err(diverges(Divergence::Record { index, what }));
                    }
                }
                check_targets(&frontier, &mut next_target, &mut confirmed)?;
            }
            if short.is_some() {
                break;
            }
        }
        Ok(())
    };
    let checked = checked.await;
    reader.abort();
    checked?;
    let size = frontier.size();
    if let Some((target, _, checkpoint)) = targets.get(next_target) {
        let what = format!("the log ends at {size} records (truncated?)");
        return Err(diverges(match checkpoint {
            Some(_) => Divergence::Record { index: size, what },
            None => Divergence::Saved {
                what: format!("it is of size {target} but {what}"),
            },
        }));
    }
    let stored_size = store.audit_log_size(log_id).await?;
    if stored_size != size {
        return Err(diverges(Divergence::Record {
            index: size.min(stored_size),
            what: format!("the log says it has {stored_size} records but {size} are stored"),
        }));
    }
    let indexed = store.audit_index_len(log_id).await?;
    if indexed != size {
        return Err(diverges(Divergence::Record {
            index: size.min(indexed),
            what: format!("replay's index lists {indexed} records, the log has {size}"),
        }));
    }
    Ok(Verified {
        origin,
        size,
        root: frontier.root(),
        checkpoints: stored.len(),
        latest_checkpoint: stored.last().map(|c| c.size),
        saved: saved_size,
    })
}

/// Records `from` onwards (whole bundles: at most [`CHUNK`]) with the
/// stored hashes their appends made, dense from `first_id` (`None` where
/// one is missing).
struct Chunk {
    /// The index of the first record, and the records.
    from: u64,
    records: Vec<Vec<u8>>,
    /// The first bundle that is missing or not full, if any: the log's
    /// records end there, or one is missing.
    short: Option<u64>,
    first_id: u64,
    hashes: Vec<Option<[u8; 32]>>,
}

/// Reads a log in chunks of bundles, each chunk's records and hashes at
/// once (two connections), until a bundle is missing or not full, or the
/// receiver is gone.
async fn read_chunks(store: Store, log_id: String, chunks: tokio::sync::mpsc::Sender<Result<Chunk, VerifyError>>) {
    let bundles = CHUNK as u64 / store::BUNDLE;
    let mut first_bundle = 0u64;
    loop {
        let from = first_bundle * store::BUNDLE;
        let last_index = from + bundles * store::BUNDLE - 1;
        let first_id = stored_hash_index(0, from);
        let last_id = stored_hash_index(0, last_index) + u64::from(last_index.trailing_ones());
        let (read, hashes) = tokio::join!(
            store.audit_bundles(&log_id, first_bundle, first_bundle + bundles - 1),
            store.audit_hash_range(&log_id, first_id, last_id)
        );
        let chunk = match (read, hashes) {
            (Ok(read), Ok(stored)) => {
                let mut hashes = vec![None; usize::try_from(last_id - first_id + 1).unwrap_or_default()];
                for (id, hash) in stored {
                    if let Some(slot) = usize::try_from(id - first_id).ok().and_then(|i| hashes.get_mut(i)) {
                        *slot = Some(hash);
                    }
                }
                let mut records = Vec::with_capacity(CHUNK);
                let mut short = None;
                let mut expected = first_bundle;
                for (number, bytes) in &read {
                    let entries = store::bundle_entries(bytes);
                    match entries {
                        Some(entries) if *number == expected => {
                            let full = entries.len() as u64 == store::BUNDLE;
                            records.extend(entries.into_iter().map(<[u8]>::to_vec));
                            if !full {
                                short = Some(*number);
                                break;
                            }
                        }
                        _ => {
                            short = Some(expected);
                            break;
                        }
                    }
                    expected += 1;
                }
                if read.len() as u64 != bundles && short.is_none() {
                    short = Some(expected);
                }
                Ok(Chunk {
                    from,
                    records,
                    short,
                    first_id,
                    hashes,
                })
            }
            (Err(e), _) | (_, Err(e)) => Err(VerifyError::Store(e)),
        };
        let done = !matches!(&chunk, Ok(c) if c.short.is_none());
        if chunks.send(chunk).await.is_err() || done {
            return;
        }
        first_bundle += bundles;
    }
}

/// One record as `replay` and `export` show it: its index, and the record
/// (or `"unreadable"` with nothing else for bytes that are not one).
fn record_json(log_id: &str, row: &AuditRecordRow) -> serde_json::Value {
    let record = schemas::decode::<AuditRecord>(&row.data)
        .ok()
        .and_then(|r| serde_json::to_value(r).ok());
    serde_json::json!({
        "log": log_id,
        "index": row.index,
        "record": record,
    })
}

/// The next chunk of records in `range` (empty at its end), moving
/// `range` past them.
async fn next_records(store: &Store, log_id: &str, range: &mut AuditRange) -> Result<Vec<AuditRecordRow>, VerifyError> {
    let rows = store.audit_records(log_id, range, CHUNK).await?;
    if let Some(last) = rows.last() {
        range.from = last.index + 1;
    }
    Ok(rows)
}

/// Writes the records of `log_id` in `range` as NDJSON (one
/// `{"log", "index", "record"}` per line), by index. Returns how many.
pub async fn replay(store: &Store, log_id: &str, range: &AuditRange, out: &mut impl Write) -> Result<u64, VerifyError> {
    let mut range = range.clone();
    let mut written = 0;
    loop {
        let rows = next_records(store, log_id, &mut range).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            writeln!(out, "{}", record_json(log_id, row))?;
            written += 1;
        }
    }
    Ok(written)
}

/// The inclusion proof of record `index` in the log's tree of `size`
/// records, from the stored hashes.
pub async fn inclusion_proof(store: &Store, log_id: &str, index: u64, size: u64) -> Result<Vec<Hash>, VerifyError> {
    let have = store.audit_log_size(log_id).await?;
    if index >= size || size > have {
        return Err(VerifyError::Input(format!(
            "no record {index} in a tree of {size} records: the log has {have} (ask for an index below the size, \
             and a size at most the log's)"
        )));
    }
    let ids = auditlog::inclusion_proof_indexes(index, size).map_err(|e| VerifyError::Input(e.to_string()))?;
    let hashes = stored(store, log_id, &ids).await?;
    auditlog::inclusion_proof(index, size, &hashes).map_err(|e| VerifyError::Input(e.to_string()))
}

/// The consistency proof from the log's tree of `old` records to that of
/// `new`, from the stored hashes.
pub async fn consistency_proof(store: &Store, log_id: &str, old: u64, new: u64) -> Result<Vec<Hash>, VerifyError> {
    let have = store.audit_log_size(log_id).await?;
    if old > new || new > have {
        return Err(VerifyError::Input(format!(
            "no consistency proof from {old} to {new} records: the log has {have} (ask for old ≤ new ≤ the log's size)"
        )));
    }
    let ids = auditlog::consistency_proof_indexes(old, new).map_err(|e| VerifyError::Input(e.to_string()))?;
    let hashes = stored(store, log_id, &ids).await?;
    auditlog::consistency_proof(old, new, &hashes).map_err(|e| VerifyError::Input(e.to_string()))
}

async fn stored(store: &Store, log_id: &str, ids: &[u64]) -> Result<HashMap<u64, Hash>, VerifyError> {
    Ok(store
        .audit_hashes(log_id, ids)
        .await?
        .into_iter()
        .map(|(id, h)| (id, Hash(h)))
        .collect())
}

/// What [`export`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    pub records: u64,
    pub checkpoint_size: u64,
}

/// Writes the log `log_id` into `dir` (created; it must not exist or be
/// empty) in the layout README documents: `verifier.key`, `checkpoint`
/// (the newest), `records.ndjson` (`{"log", "index", "data", "record"}`,
/// `data` the leaf's bytes in standard base64) and `proofs.ndjson` (the
/// inclusion proof of every record the checkpoint covers).
pub async fn export(store: &Store, log_id: &str, verifier_key: &str, dir: &Path) -> Result<ExportSummary, VerifyError> {
    key_name(verifier_key)?;
    let Some(checkpoint) = store.audit_checkpoints(log_id).await?.pop() else {
        return Err(VerifyError::Input(format!(
            "the audit log '{log_id}' has no checkpoint yet: the auditor signs one within its checkpoint interval \
             (10 s by default) of a log's first record; try again then"
        )));
    };
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(VerifyError::Input(format!(
            "{} is not empty: export into a new directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("verifier.key"), format!("{verifier_key}\n"))?;
    std::fs::write(dir.join("checkpoint"), &checkpoint.note)?;
    let mut records = std::io::BufWriter::new(std::fs::File::create(dir.join("records.ndjson"))?);
    let mut proofs = std::io::BufWriter::new(std::fs::File::create(dir.join("proofs.ndjson"))?);
    let mut range = AuditRange::default();
    let mut written = 0;
    loop {
        let rows = next_records(store, log_id, &mut range).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let mut line = record_json(log_id, row);
            line["data"] = serde_json::Value::String(B64.encode(&row.data));
            writeln!(records, "{line}")?;
            written += 1;
        }
        // The proofs of this chunk's records the checkpoint covers, from
        // one read of the hashes they need.
        let covered: Vec<u64> = rows.iter().map(|r| r.index).filter(|i| *i < checkpoint.size).collect();
        for part in covered.chunks(1000) {
            let mut ids: Vec<u64> = Vec::new();
            for &index in part {
                ids.extend(
                    auditlog::inclusion_proof_indexes(index, checkpoint.size)
                        .map_err(|e| VerifyError::Input(e.to_string()))?,
                );
            }
            ids.sort_unstable();
            ids.dedup();
            let hashes = stored(store, log_id, &ids).await?;
            for &index in part {
                let proof = auditlog::inclusion_proof(index, checkpoint.size, &hashes)
                    .map_err(|e| VerifyError::Input(e.to_string()))?;
                let line = serde_json::json!({
                    "index": index,
                    "tree_size": checkpoint.size,
                    "proof": proof.iter().map(b64).collect::<Vec<_>>(),
                });
                writeln!(proofs, "{line}")?;
            }
        }
    }
    records.flush()?;
    proofs.flush()?;
    Ok(ExportSummary {
        records: written,
        checkpoint_size: checkpoint.size,
    })
}
