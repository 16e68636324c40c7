//! Bounded in-flight work and per-client rate limits.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::ApiError;

/// Items accepted but not yet acknowledged by the log. Past the high
/// watermark the node refuses new batches (503) and reports unready until
/// the count drains below the low watermark.
pub(crate) struct InFlight {
    items: AtomicUsize,
    overloaded: AtomicBool,
    high: usize,
    low: usize,
}

impl InFlight {
    pub(crate) fn new(high: usize, low: usize) -> InFlight {
        InFlight {
            items: AtomicUsize::new(0),
            overloaded: AtomicBool::new(false),
            high,
            low: low.min(high),
        }
    }

    pub(crate) fn admit(&self) -> Result<(), ApiError> {
        if self.overloaded.load(Ordering::Acquire) {
            return Err(ApiError::Overloaded {
                in_flight: self.items.load(Ordering::Relaxed),
                retry_after_secs: 1,
            });
        }
        Ok(())
    }

    /// Counts `n` items until the guard is dropped.
    pub(crate) fn start(&self, n: usize) -> InFlightGuard<'_> {
        let now = self.items.fetch_add(n, Ordering::AcqRel) + n;
        if now > self.high {
            self.overloaded.store(true, Ordering::Release);
        }
        metrics::gauge!(crate::telemetry::IN_FLIGHT).set(now as f64);
        InFlightGuard { in_flight: self, n }
    }

    pub(crate) fn ready(&self) -> bool {
        !self.overloaded.load(Ordering::Acquire)
    }

    pub(crate) fn items(&self) -> usize {
        self.items.load(Ordering::Relaxed)
    }
}

pub(crate) struct InFlightGuard<'a> {
    in_flight: &'a InFlight,
    n: usize,
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        let now = self.in_flight.items.fetch_sub(self.n, Ordering::AcqRel) - self.n;
        if now <= self.in_flight.low {
            self.in_flight.overloaded.store(false, Ordering::Release);
        }
        metrics::gauge!(crate::telemetry::IN_FLIGHT).set(now as f64);
    }
}

/// GCRA rate limits per client id (governor).
pub(crate) struct RateLimits {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl RateLimits {
    pub(crate) fn new(per_second: u32, burst: u32) -> RateLimits {
        let rate = NonZeroU32::new(per_second.max(1)).expect("at least 1");
        let burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
        RateLimits {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    pub(crate) fn check(&self, client: &str) -> Result<(), ApiError> {
        self.limiter.check_key(&client.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            metrics::counter!(crate::telemetry::RATE_LIMITED, "client" => client.to_owned()).increment(1);
            ApiError::RateLimited {
                client: client.to_owned(),
                retry_after_secs: wait.max(Duration::from_secs(1)).as_secs(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermarks_have_hysteresis() {
        let f = InFlight::new(10, 4);
        let a = f.start(6);
        assert!(f.admit().is_ok() && f.ready());
        let b = f.start(6);
        assert!(f.admit().is_err() && !f.ready(), "past the high watermark");
        drop(a);
        assert!(!f.ready(), "6 in flight is still above the low watermark");
        drop(b);
        assert!(f.admit().is_ok() && f.ready(), "drained below the low watermark");
        assert_eq!(f.items(), 0);
    }

    #[test]
    fn rate_limits_are_per_client() {
        let r = RateLimits::new(1, 2);
        assert!(r.check("a").is_ok() && r.check("a").is_ok());
        let refused = r.check("a").expect_err("third within a second");
        assert_eq!(refused.code(), "rate_limited");
        assert!(refused.retry_after().is_some_and(|s| s >= 1));
        assert!(r.check("b").is_ok(), "another client has its own budget");
    }
}
