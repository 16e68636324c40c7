//! The live shared copy of the directory that a long-running role (ingest,
//! the people API) reads on every request and refreshes from the log.

use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use eventlog::LogError;

use crate::{ConfigFollower, Directory};

/// The tenant configuration as this node knows it, refreshed from the log.
pub struct SharedDirectory {
    current: RwLock<Directory>,
    /// The follower, and when its last catch-up started.
    follower: tokio::sync::Mutex<(ConfigFollower, Option<Instant>)>,
    /// When the last catch-up succeeded.
    last_ok: Mutex<Instant>,
}

impl SharedDirectory {
    /// A shared copy of what `follower` has read (just now).
    pub fn new(follower: ConfigFollower) -> SharedDirectory {
        SharedDirectory {
            current: RwLock::new(follower.directory().clone()),
            follower: (follower, None).into(),
            last_ok: Instant::now().into(),
        }
    }

    /// Runs `f` on the current copy (a short read lock: no I/O in `f`).
    pub fn read<T>(&self, f: impl FnOnce(&Directory) -> T) -> T {
        f(&self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Reads `vox.config` to its end and publishes the new state.
    pub async fn refresh(&self) -> Result<(), LogError> {
        self.refresh_after(Duration::ZERO).await
    }

    /// Makes sure a catch-up starts after this call was made, sharing one
    /// with concurrent callers, and starting catch-ups at most once per
    /// `min_interval` (later callers wait for their turn, none is skipped).
    pub async fn refresh_after(&self, min_interval: Duration) -> Result<(), LogError> {
        let asked = Instant::now();
        let mut guard = self.follower.lock().await;
        let (follower, last_started) = &mut *guard;
        if last_started.is_some_and(|started| started >= asked) {
            return Ok(());
        }
        if let Some(next) = last_started.map(|started| started + min_interval) {
            tokio::time::sleep_until(next.into()).await;
        }
        let started = Instant::now();
        *last_started = Some(started);
        if follower.catch_up().await? {
            let next = follower.directory().clone();
            *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = next;
        }
        *self.last_ok.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = started;
        Ok(())
    }

    /// How long ago the configuration was last read to its end.
    pub fn age(&self) -> Duration {
        self.last_ok
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .elapsed()
    }

    /// `Err(age)` when the copy is older than `max`: serving on it could
    /// accept credentials revoked since.
    pub fn fresh(&self, max: Duration) -> Result<(), Duration> {
        let age = self.age();
        if age > max {
            return Err(age);
        }
        Ok(())
    }
}
