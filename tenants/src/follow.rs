//! Reads `vox.config` from the log into a [`Directory`].

use eventlog::{Log, LogError, Positions, Reader};
use schemas::ConfigEvent;

use crate::Directory;

/// Follows `vox.config` and folds it into a [`Directory`].
pub struct ConfigFollower {
    reader: Reader,
    directory: Directory,
}

impl ConfigFollower {
    pub async fn new(log: &Log, config_topic: &str) -> Result<ConfigFollower, LogError> {
        let reader = log.reader(&[config_topic.to_owned()], &Positions::new()).await?;
        let mut follower = ConfigFollower {
            reader,
            directory: Directory::default(),
        };
        follower.catch_up().await?;
        Ok(follower)
    }

    /// Applies every configuration event that is in the log now; returns
    /// whether there was any.
    pub async fn catch_up(&mut self) -> Result<bool, LogError> {
        let mut records = Vec::new();
        self.reader.read_to_end(&mut records).await?;
        let changed = !records.is_empty();
        for r in records {
            match ConfigEvent::decode(&r.payload) {
                Ok(event) => {
                    if let Err(e) = self.directory.apply(&event) {
                        tracing::warn!(offset = r.offset, error = %e, "ignoring an invalid configuration event");
                    }
                }
                Err(e) => tracing::error!(offset = r.offset, error = %e, "ignoring an undecodable configuration event"),
            }
        }
        Ok(changed)
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }
}
