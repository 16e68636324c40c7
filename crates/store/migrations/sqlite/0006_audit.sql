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

-- The records, numbered from 0 in each log: `occurred_at` and `action` copied out of each record
-- for replay's filters; the records themselves are in audit_bundles.
CREATE TABLE audit_records (
    log_id      TEXT NOT NULL,
    idx         BIGINT NOT NULL CHECK (idx >= 0),
    occurred_at BIGINT NOT NULL,
    action      TEXT NOT NULL,
    PRIMARY KEY (log_id, idx)
);
CREATE INDEX audit_records_by_time ON audit_records (log_id, occurred_at, idx);

-- The leaves' data, 256 records to a bundle (bundle b holds records 256·b to 256·b + 255): each
-- the exact bytes of the record on `vox.audit` (the Avro single-object encoding of an
-- AuditRecord) after its length as 4 bytes, big-endian. A verification of the whole log reads
-- one row per 256 records. Only the last bundle of a log grows, and only at its end (a trigger
-- refuses any other change).
CREATE TABLE audit_bundles (
    log_id  TEXT NOT NULL,
    bundle  BIGINT NOT NULL CHECK (bundle >= 0),
    entries BLOB NOT NULL CHECK (length(entries) > 0),
    PRIMARY KEY (log_id, bundle)
);
CREATE TRIGGER audit_bundles_only_grow BEFORE UPDATE ON audit_bundles
    WHEN NEW.log_id <> OLD.log_id OR NEW.bundle <> OLD.bundle OR length(NEW.entries) < length(OLD.entries)
         OR substr(NEW.entries, 1, length(OLD.entries)) <> OLD.entries
BEGIN
    SELECT RAISE(ABORT, 'audit_bundles: a bundle may only grow at its end');
END;

-- The tree's stored hashes, numbered as Go's golang.org/x/mod/sumdb/tlog numbers them
-- (StoredHashIndex(level, n): every leaf hash and every complete subtree's root, in the order
-- appending makes them), kept in blocks of 256 (block b holds hashes 256·b to 256·b + 255, 32
-- bytes each, 8 KiB when full): a proof reads O(log n) blocks, a verification of the whole log
-- one row per 256 hashes. Only the last block of a log grows, and only at its end (a trigger
-- refuses any other change).
CREATE TABLE audit_hashes (
    log_id TEXT NOT NULL,
    block  BIGINT NOT NULL CHECK (block >= 0),
    hashes BLOB NOT NULL CHECK (length(hashes) % 32 = 0 AND length(hashes) BETWEEN 32 AND 8192),
    PRIMARY KEY (log_id, block)
);
CREATE TRIGGER audit_hashes_only_grow BEFORE UPDATE ON audit_hashes
    WHEN NEW.log_id <> OLD.log_id OR NEW.block <> OLD.block OR length(NEW.hashes) < length(OLD.hashes)
         OR substr(NEW.hashes, 1, length(OLD.hashes)) <> OLD.hashes
BEGIN
    SELECT RAISE(ABORT, 'audit_hashes: a block may only grow at its end');
END;

-- Every signed checkpoint (a C2SP tlog-checkpoint in a signed note), kept.
CREATE TABLE audit_checkpoints (
    log_id    TEXT NOT NULL,
    size      BIGINT NOT NULL CHECK (size >= 0),
    root      BLOB NOT NULL CHECK (length(root) = 32),
    note      TEXT NOT NULL,
    signed_at BIGINT NOT NULL,
    PRIMARY KEY (log_id, size)
);
