-- The collection of each tag's item, so that a grant of one collection
-- narrowed by tags walks exactly its items newest first
-- (`feedback_tags_by_collection_time`), and a grant naming a tag without a
-- value walks the items carrying any value of it (`feedback_tags_by_name_time`,
-- with the collection for grants of one collection).
ALTER TABLE feedback_tags ADD COLUMN collection TEXT NOT NULL DEFAULT '';
UPDATE feedback_tags SET collection = COALESCE(
    (SELECT f.collection FROM feedback f WHERE f.event_id = feedback_tags.event_id), '');
CREATE INDEX feedback_tags_by_collection_time
    ON feedback_tags (tenant_id, collection, name, value, occurred_at DESC, event_id DESC);
CREATE INDEX feedback_tags_by_name_time ON feedback_tags (tenant_id, name, occurred_at DESC, event_id DESC, collection);
-- Every lookup of a tag's items by name (and value) is served by the two
-- indexes above and `feedback_tags_by_time`; the old one only costs writes.
DROP INDEX feedback_tags_by_tag;
