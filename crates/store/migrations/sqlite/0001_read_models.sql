-- Read model of processed feedback. One row per (tenant, collection, external id).
CREATE TABLE feedback (
    tenant_id        TEXT NOT NULL,
    collection       TEXT NOT NULL,
    external_id      TEXT NOT NULL,
    event_id         TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    batch_id         TEXT NOT NULL,
    channel          TEXT NOT NULL,
    occurred_at      INTEGER NOT NULL,
    text             TEXT,
    language         TEXT,
    metrics          TEXT NOT NULL,
    respondent       TEXT,
    metadata         TEXT NOT NULL,
    tags             TEXT NOT NULL,
    received_region  TEXT NOT NULL,
    processed_region TEXT NOT NULL,
    received_at      INTEGER NOT NULL,
    processed_at     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, collection, external_id)
);

-- Dead letters, one row per rejected input record.
CREATE TABLE rejections (
    source_topic     TEXT NOT NULL,
    source_partition INTEGER NOT NULL,
    source_offset    INTEGER NOT NULL,
    tenant_id        TEXT,
    collection       TEXT,
    external_id      TEXT,
    event_id         TEXT,
    reason_code      TEXT NOT NULL,
    reason           TEXT NOT NULL,
    processed_region TEXT NOT NULL,
    rejected_at      INTEGER NOT NULL,
    PRIMARY KEY (source_topic, source_partition, source_offset)
);
CREATE INDEX rejections_by_tenant ON rejections (tenant_id);

-- Next log offset to read, per projector and partition; moved in the same
-- transaction as the rows it produced.
CREATE TABLE projector_offsets (
    projector     TEXT NOT NULL,
    topic         TEXT NOT NULL,
    log_partition INTEGER NOT NULL,
    next_offset   INTEGER NOT NULL,
    PRIMARY KEY (projector, topic, log_partition)
);
