//! Reads `vox.config` from the log into a [`Directory`].

use eventlog::{Log, LogError, Positions, Reader};
use schemas::ConfigEvent;

use crate::Directory;

/// Follows `vox.config` and folds it into a [`Directory`].
pub struct ConfigFollower {
    log: Log,
    topic: String,
    reader: Reader,
    directory: Directory,
    /// Where the follower stands: the offset after the last record applied,
    /// per partition (for compare-and-set writes).
    seen: Positions,
    /// A catch-up failed part-way: the reader may have moved past records
    /// that were never applied, so the next one starts over from offset 0.
    restart: bool,
}

impl ConfigFollower {
    pub async fn new(log: &Log, config_topic: &str) -> Result<ConfigFollower, LogError> {
        let reader = log.reader(&[config_topic.to_owned()], &Positions::new()).await?;
        let mut follower = ConfigFollower {
            log: log.clone(),
            topic: config_topic.to_owned(),
            reader,
            directory: Directory::default(),
            seen: Positions::new(),
            restart: false,
        };
        follower.catch_up().await?;
        Ok(follower)
    }

    /// Applies every configuration event that is in the log now; returns
    /// whether the state may have changed. On an error nothing is lost: the
    /// state stays as it was and the next call reads the topic again from
    /// the beginning.
    pub async fn catch_up(&mut self) -> Result<bool, LogError> {
        if self.restart {
            let mut reader = self
                .log
                .reader(std::slice::from_ref(&self.topic), &Positions::new())
                .await?;
            let mut records = Vec::new();
            reader.read_to_end(&mut records).await?;
            let mut directory = Directory::default();
            let mut seen = Positions::new();
            apply_all(&mut directory, &mut seen, records);
            (self.reader, self.directory, self.seen, self.restart) = (reader, directory, seen, false);
            return Ok(true);
        }
        let mut records = Vec::new();
        if let Err(e) = self.reader.read_to_end(&mut records).await {
            self.restart = true;
            return Err(e);
        }
        let changed = !records.is_empty();
        apply_all(&mut self.directory, &mut self.seen, records);
        Ok(changed)
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The positions the directory was folded to (see
    /// [`eventlog::Log::append_if_unchanged`]).
    pub fn positions(&self) -> &Positions {
        &self.seen
    }
}

fn apply_all(directory: &mut Directory, seen: &mut Positions, records: Vec<eventlog::Record>) {
    for r in records {
        seen.insert((r.topic.clone(), r.partition), r.offset + 1);
        match ConfigEvent::decode(&r.payload) {
            Ok(event) => {
                if let Err(e) = directory.apply(&event) {
                    tracing::warn!(offset = r.offset, error = %e, "ignoring an invalid configuration event");
                }
            }
            Err(e) => tracing::error!(offset = r.offset, error = %e, "ignoring an undecodable configuration event"),
        }
    }
}
