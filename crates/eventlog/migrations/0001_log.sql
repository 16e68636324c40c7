-- The embedded log: every topic is one partition (partition 0) in one table.
CREATE TABLE IF NOT EXISTS log_topics (
    topic       TEXT PRIMARY KEY NOT NULL,
    next_offset INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS log_records (
    topic       TEXT NOT NULL,
    "offset"    INTEGER NOT NULL,
    key         BLOB NOT NULL,
    payload     BLOB NOT NULL,
    appended_at INTEGER NOT NULL,
    PRIMARY KEY (topic, "offset")
) WITHOUT ROWID;

-- Committed positions of consumer groups: the next offset to read.
CREATE TABLE IF NOT EXISTS log_group_offsets (
    group_id    TEXT NOT NULL,
    topic       TEXT NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic)
) WITHOUT ROWID;
