-- The time of each tag's item, so that a page of the analyst list can walk
-- the items carrying a grant's tags newest first (`feedback_tags_by_time`)
-- instead of every item of the tenant.
ALTER TABLE feedback_tags ADD COLUMN occurred_at INTEGER NOT NULL DEFAULT 0;
UPDATE feedback_tags SET occurred_at = COALESCE(
    (SELECT f.occurred_at FROM feedback f WHERE f.event_id = feedback_tags.event_id), 0);
CREATE INDEX feedback_tags_by_time ON feedback_tags (tenant_id, name, value, occurred_at DESC, event_id DESC);
