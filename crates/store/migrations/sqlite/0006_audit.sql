-- The tamper-evident audit logs the auditor builds from `vox.audit` (ARCHITECTURE.md, "auditor"):
-- one RFC 6962 Merkle tree per tenant, and one for installation-level records (log_id '-').
-- Not a read model: Store::reset leaves these tables (and the auditor's offsets) alone.

-- Each log's size and frontier (the roots of its complete subtrees: what appending needs),
-- moved with the auditor's input offsets in one transaction.
CREATE TABLE audit_logs (
    log_id   TEXT NOT NULL PRIMARY KEY,
    size     BIGINT NOT NULL CHECK (size >= 0),
    frontier BLOB NOT NULL
);

-- The records, as the leaves' data: the exact bytes of the record on `vox.audit` (the Avro
-- single-object encoding of an AuditRecord), numbered from 0 in each log. `occurred_at` and
-- `action` are copied out of the record for replay's filters.
CREATE TABLE audit_records (
    log_id      TEXT NOT NULL,
    idx         BIGINT NOT NULL CHECK (idx >= 0),
    occurred_at BIGINT NOT NULL,
    action      TEXT NOT NULL,
    data        BLOB NOT NULL,
    PRIMARY KEY (log_id, idx)
);
CREATE INDEX audit_records_by_time ON audit_records (log_id, occurred_at, idx);

-- The tree's stored hashes, numbered as Go's golang.org/x/mod/sumdb/tlog numbers them
-- (StoredHashIndex(level, n)): every leaf hash and every complete subtree's root, so that an
-- inclusion or consistency proof reads O(log n) rows.
CREATE TABLE audit_hashes (
    log_id TEXT NOT NULL,
    id     BIGINT NOT NULL CHECK (id >= 0),
    hash   BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (log_id, id)
);

-- Every signed checkpoint (a C2SP tlog-checkpoint in a signed note), kept.
CREATE TABLE audit_checkpoints (
    log_id    TEXT NOT NULL,
    size      BIGINT NOT NULL CHECK (size >= 0),
    root      BLOB NOT NULL CHECK (length(root) = 32),
    note      TEXT NOT NULL,
    signed_at BIGINT NOT NULL,
    PRIMARY KEY (log_id, size)
);
