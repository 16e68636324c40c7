-- The time of each tag's item, so that a page of the analyst list can walk
-- the items carrying a grant's tags newest first (`feedback_tags_by_time`)
-- instead of every item of the tenant.
ALTER TABLE feedback_tags ADD COLUMN occurred_at BIGINT NOT NULL DEFAULT 0;
UPDATE feedback_tags t SET occurred_at = f.occurred_at FROM feedback f WHERE f.event_id = t.event_id;
ALTER TABLE feedback_tags ALTER COLUMN occurred_at DROP DEFAULT;
CREATE INDEX feedback_tags_by_time ON feedback_tags (tenant_id, name, value, occurred_at DESC, event_id DESC);
