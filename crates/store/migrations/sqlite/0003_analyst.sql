-- The analyst API's read model (crates/store/src/query.rs compiles its queries).
--
-- The feedback table is made anew with an explicit rowid (seq INTEGER PRIMARY KEY): the full-text
-- index refers to rows by rowid, and VACUUM may renumber the implicit rowid of a table without
-- one. The old primary key stays as a UNIQUE constraint.
--
-- Columns derived from the JSON at projection time (the store computes them in Rust when it
-- writes a row; the copy below fills them for the rows written before with the same rule):
--   nps, csat, ces   the value of the item's first metric of that kind (NULL: none)
--   csat_satisfied   1 when the first CSAT value is in the top quarter of its scale
--                    (access::csat_satisfied), else 0; NULL without CSAT or scale
--   language_key     the language in ASCII lower case (NULL: none)
CREATE TABLE feedback_v3 (
    seq              INTEGER PRIMARY KEY,
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
    nps              REAL,
    csat             REAL,
    csat_satisfied   INTEGER,
    ces              REAL,
    language_key     TEXT,
    UNIQUE (tenant_id, collection, external_id)
);

INSERT INTO feedback_v3 (tenant_id, collection, external_id, event_id, client_id, batch_id, channel, occurred_at,
                         text, language, metrics, respondent, metadata, tags, received_region, processed_region,
                         received_at, processed_at, nps, csat, csat_satisfied, ces, language_key)
SELECT f.tenant_id, f.collection, f.external_id, f.event_id, f.client_id, f.batch_id, f.channel, f.occurred_at,
       f.text, f.language, f.metrics, f.respondent, f.metadata, f.tags, f.received_region, f.processed_region,
       f.received_at, f.processed_at,
       (SELECT json_extract(f.metrics, e.fullkey || '.value') * 1.0
        FROM json_each(CASE json_type(f.metrics) WHEN 'array' THEN f.metrics ELSE '[]' END) AS e
        WHERE json_extract(f.metrics, e.fullkey || '.kind') = 'nps'
          AND json_type(f.metrics, e.fullkey || '.value') IN ('integer', 'real')
        ORDER BY e.key LIMIT 1),
       (SELECT json_extract(f.metrics, e.fullkey || '.value') * 1.0
        FROM json_each(CASE json_type(f.metrics) WHEN 'array' THEN f.metrics ELSE '[]' END) AS e
        WHERE json_extract(f.metrics, e.fullkey || '.kind') = 'csat'
          AND json_type(f.metrics, e.fullkey || '.value') IN ('integer', 'real')
        ORDER BY e.key LIMIT 1),
       (SELECT CASE WHEN json_type(f.metrics, e.fullkey || '.scale[0]') IN ('integer', 'real')
                     AND json_type(f.metrics, e.fullkey || '.scale[1]') IN ('integer', 'real')
                    THEN json_extract(f.metrics, e.fullkey || '.value') * 1.0 >= json_extract(f.metrics, e.fullkey || '.scale[1]') * 1.0
                         - (json_extract(f.metrics, e.fullkey || '.scale[1]') * 1.0 - json_extract(f.metrics, e.fullkey || '.scale[0]') * 1.0) / 4.0
               END
        FROM json_each(CASE json_type(f.metrics) WHEN 'array' THEN f.metrics ELSE '[]' END) AS e
        WHERE json_extract(f.metrics, e.fullkey || '.kind') = 'csat'
          AND json_type(f.metrics, e.fullkey || '.value') IN ('integer', 'real')
        ORDER BY e.key LIMIT 1),
       (SELECT json_extract(f.metrics, e.fullkey || '.value') * 1.0
        FROM json_each(CASE json_type(f.metrics) WHEN 'array' THEN f.metrics ELSE '[]' END) AS e
        WHERE json_extract(f.metrics, e.fullkey || '.kind') = 'ces'
          AND json_type(f.metrics, e.fullkey || '.value') IN ('integer', 'real')
        ORDER BY e.key LIMIT 1),
       lower(f.language)
FROM feedback f
ORDER BY f.rowid;

DROP TABLE feedback;
ALTER TABLE feedback_v3 RENAME TO feedback;

-- The list's keyset order (newest first), per tenant and per tenant and collection.
CREATE INDEX feedback_by_time ON feedback (tenant_id, occurred_at DESC, event_id DESC);
CREATE INDEX feedback_by_collection_time ON feedback (tenant_id, collection, occurred_at DESC, event_id DESC);
-- The metric filters (nps:0..6): only the items that have the metric.
CREATE INDEX feedback_by_nps ON feedback (tenant_id, nps) WHERE nps IS NOT NULL;
CREATE INDEX feedback_by_csat ON feedback (tenant_id, csat) WHERE csat IS NOT NULL;
CREATE INDEX feedback_by_ces ON feedback (tenant_id, ces) WHERE ces IS NOT NULL;

-- The tags of each item, one row per (name, value): what grants' tag filters, the tag filter and
-- grouping by tag look up. Written with the item's row in the same projection step (the final
-- version's tags replace the item's earlier ones); Store::reset empties it.
CREATE TABLE feedback_tags (
    tenant_id TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    name      TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (event_id, name, value)
) WITHOUT ROWID;
CREATE INDEX feedback_tags_by_tag ON feedback_tags (tenant_id, name, value, event_id);

INSERT OR IGNORE INTO feedback_tags (tenant_id, event_id, name, value)
SELECT f.tenant_id, f.event_id, json_extract(f.tags, e.fullkey || '.name'), json_extract(f.tags, e.fullkey || '.value')
FROM feedback f, json_each(CASE json_type(f.tags) WHEN 'array' THEN f.tags ELSE '[]' END) AS e
WHERE json_type(f.tags, e.fullkey || '.name') = 'text' AND json_type(f.tags, e.fullkey || '.value') = 'text';

-- Full-text search over feedback.text: an external-content FTS5 table (it stores only the
-- index; the text stays in feedback), kept in step by triggers as the SQLite documentation
-- shows. Porter stemming (English) over unicode61 tokens, diacritics removed.
CREATE VIRTUAL TABLE feedback_fts USING fts5(
    text,
    content = 'feedback',
    content_rowid = 'seq',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER feedback_fts_insert AFTER INSERT ON feedback BEGIN
    INSERT INTO feedback_fts (rowid, text) VALUES (new.seq, new.text);
END;
CREATE TRIGGER feedback_fts_delete AFTER DELETE ON feedback BEGIN
    INSERT INTO feedback_fts (feedback_fts, rowid, text) VALUES ('delete', old.seq, old.text);
END;
CREATE TRIGGER feedback_fts_update AFTER UPDATE OF text ON feedback BEGIN
    INSERT INTO feedback_fts (feedback_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    INSERT INTO feedback_fts (rowid, text) VALUES (new.seq, new.text);
END;
INSERT INTO feedback_fts (feedback_fts) VALUES ('rebuild');
