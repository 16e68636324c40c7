-- The rowid (`feedback.seq`) of each tag's item, so that a query that starts
-- from the items carrying a grant's tags (an aggregate's or a window's
-- candidates) looks each item up by its rowid, one descent of the table's
-- B-tree (an aggregate's in rowid order), instead of a descent of the event
-- id's index and then one of the table; and so that a scan tests tags
-- against lists of integers rather than of event ids. An item keeps its
-- `seq` when a new version replaces it (the projector's upsert updates the
-- row in place). Every tag index ends with it, so that the lists and
-- streams read the index alone.
ALTER TABLE feedback_tags ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE feedback_tags SET seq = COALESCE(
    (SELECT f.seq FROM feedback f WHERE f.event_id = feedback_tags.event_id), 0);

DROP INDEX feedback_tags_by_time;
CREATE INDEX feedback_tags_by_time
    ON feedback_tags (tenant_id, name, value, occurred_at DESC, event_id DESC, seq);
DROP INDEX feedback_tags_by_collection_time;
CREATE INDEX feedback_tags_by_collection_time
    ON feedback_tags (tenant_id, collection, name, value, occurred_at DESC, event_id DESC, seq);
DROP INDEX feedback_tags_by_name_time;
CREATE INDEX feedback_tags_by_name_time
    ON feedback_tags (tenant_id, name, occurred_at DESC, event_id DESC, collection, seq);
