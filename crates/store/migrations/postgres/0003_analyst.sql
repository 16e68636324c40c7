-- The analyst API's read model (crates/store/src/query.rs compiles its queries).
--
-- Columns derived from the JSON at projection time (the store computes them in Rust when it
-- writes a row; this migration backfills the rows written before it with the same rule):
--   nps, csat, ces   the value of the item's first metric of that kind (NULL: none)
--   csat_satisfied   the first CSAT value is in the top quarter of its scale (access::csat_satisfied)
--   language_key     the language in ASCII lower case (NULL: none)
--   text_config      the text search configuration of the item's language: english, finnish,
--                    swedish or german for the primary language subtags en/eng, fi/fin, sv/swe,
--                    de/deu/ger; simple otherwise
--   search           the text's tsvector in that configuration (generated)
ALTER TABLE feedback
    ADD COLUMN nps            DOUBLE PRECISION,
    ADD COLUMN csat           DOUBLE PRECISION,
    ADD COLUMN csat_satisfied BOOLEAN,
    ADD COLUMN ces            DOUBLE PRECISION,
    ADD COLUMN language_key   TEXT,
    ADD COLUMN text_config    TEXT NOT NULL DEFAULT 'simple';

UPDATE feedback f SET
    language_key = translate(f.language, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'),
    text_config = CASE split_part(replace(translate(coalesce(f.language, ''),
                                                    'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'),
                                          '_', '-'), '-', 1)
                      WHEN 'en' THEN 'english' WHEN 'eng' THEN 'english'
                      WHEN 'fi' THEN 'finnish' WHEN 'fin' THEN 'finnish'
                      WHEN 'sv' THEN 'swedish' WHEN 'swe' THEN 'swedish'
                      WHEN 'de' THEN 'german' WHEN 'deu' THEN 'german' WHEN 'ger' THEN 'german'
                      ELSE 'simple' END,
    nps = (SELECT (e.m ->> 'value')::float8
           FROM jsonb_array_elements(CASE jsonb_typeof(f.metrics) WHEN 'array' THEN f.metrics ELSE '[]' END)
                WITH ORDINALITY AS e(m, i)
           WHERE e.m ->> 'kind' = 'nps' AND jsonb_typeof(e.m -> 'value') = 'number'
           ORDER BY e.i LIMIT 1),
    csat = (SELECT (e.m ->> 'value')::float8
            FROM jsonb_array_elements(CASE jsonb_typeof(f.metrics) WHEN 'array' THEN f.metrics ELSE '[]' END)
                 WITH ORDINALITY AS e(m, i)
            WHERE e.m ->> 'kind' = 'csat' AND jsonb_typeof(e.m -> 'value') = 'number'
            ORDER BY e.i LIMIT 1),
    csat_satisfied = (SELECT CASE WHEN jsonb_typeof(e.m -> 'scale' -> 0) = 'number'
                                   AND jsonb_typeof(e.m -> 'scale' -> 1) = 'number'
                              THEN (e.m ->> 'value')::float8 >= (e.m -> 'scale' ->> 1)::float8
                                   - ((e.m -> 'scale' ->> 1)::float8 - (e.m -> 'scale' ->> 0)::float8) / 4.0
                              END
                      FROM jsonb_array_elements(CASE jsonb_typeof(f.metrics) WHEN 'array' THEN f.metrics ELSE '[]' END)
                           WITH ORDINALITY AS e(m, i)
                      WHERE e.m ->> 'kind' = 'csat' AND jsonb_typeof(e.m -> 'value') = 'number'
                      ORDER BY e.i LIMIT 1),
    ces = (SELECT (e.m ->> 'value')::float8
           FROM jsonb_array_elements(CASE jsonb_typeof(f.metrics) WHEN 'array' THEN f.metrics ELSE '[]' END)
                WITH ORDINALITY AS e(m, i)
           WHERE e.m ->> 'kind' = 'ces' AND jsonb_typeof(e.m -> 'value') = 'number'
           ORDER BY e.i LIMIT 1);

-- Full-text search: the query side matches each item in its own configuration
-- (text_config = 'finnish' AND search @@ websearch_to_tsquery('finnish', $q), OR-ed over the five).
ALTER TABLE feedback ADD COLUMN search TSVECTOR GENERATED ALWAYS AS (
    to_tsvector(CASE text_config
                    WHEN 'english' THEN 'english'::regconfig
                    WHEN 'finnish' THEN 'finnish'::regconfig
                    WHEN 'swedish' THEN 'swedish'::regconfig
                    WHEN 'german' THEN 'german'::regconfig
                    ELSE 'simple'::regconfig END,
                coalesce(text, ''))) STORED;
CREATE INDEX feedback_search ON feedback USING gin (search);

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
);
CREATE INDEX feedback_tags_by_tag ON feedback_tags (tenant_id, name, value, event_id);

INSERT INTO feedback_tags (tenant_id, event_id, name, value)
SELECT f.tenant_id, f.event_id, e.t ->> 'name', e.t ->> 'value'
FROM feedback f,
     jsonb_array_elements(CASE jsonb_typeof(f.tags) WHEN 'array' THEN f.tags ELSE '[]' END) AS e(t)
WHERE jsonb_typeof(e.t -> 'name') = 'string' AND jsonb_typeof(e.t -> 'value') = 'string'
ON CONFLICT DO NOTHING;
