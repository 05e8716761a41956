//! Pacing: a send rate per provider account, so that a burst queues instead of failing with
//! "too many requests".
//!
//! A [`Pacer`] hands out evenly spaced send slots (a GCRA without burst). It runs on tokio's
//! clock, not on the engine's [`Clock`](crate::Clock): it throttles real requests to a real API.
//! Under `#[tokio::test(start_paused = true)]` its waits take no wall time.

use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::error::{Error, Result};

/// A send rate, in messages per second (fractions allowed: `0.5` is one message every two
/// seconds).
///
/// ```
/// use antirelou_core::engine::RatePerSecond;
/// use std::time::Duration;
/// assert_eq!(RatePerSecond::new(4.0).unwrap().interval(), Duration::from_millis(250));
/// assert!(RatePerSecond::new(0.0).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RatePerSecond(f64);

impl RatePerSecond {
    /// A rate of `per_second` messages per second; it must be finite and above zero (at most
    /// one million).
    pub fn new(per_second: f64) -> Result<Self> {
        if per_second.is_finite() && per_second > 0.0 && per_second <= 1_000_000.0 {
            Ok(RatePerSecond(per_second))
        } else {
            Err(Error::Config(format!(
                "a send rate must be above zero and finite, not {per_second}"
            )))
        }
    }

    /// Messages per second.
    pub fn per_second(self) -> f64 {
        self.0
    }

    /// The time between two sends.
    pub fn interval(self) -> Duration {
        Duration::from_secs_f64(1.0 / self.0)
    }
}

/// Evenly spaced send slots for one provider account, shared by all workers.
#[derive(Debug)]
pub(crate) struct Pacer {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    pub(crate) fn new(rate: RatePerSecond) -> Self {
        Pacer {
            interval: rate.interval(),
            next: Mutex::new(None),
        }
    }

    /// Take the next slot if it comes within `max_wait`: `Ok(wait)` (sleep that long, then send).
    /// Otherwise nothing is taken and `Err(wait)` says how far the next slot is.
    pub(crate) fn reserve(&self, max_wait: Duration) -> std::result::Result<Duration, Duration> {
        let now = Instant::now();
        let mut next = self.next.lock();
        let slot = next.map_or(now, |n| n.max(now));
        let wait = slot.saturating_duration_since(now);
        if wait > max_wait {
            return Err(wait);
        }
        *next = Some(slot + self.interval);
        Ok(wait)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_evenly_spaced_and_bounded() {
        let p = Pacer::new(RatePerSecond::new(2.0).unwrap());
        assert_eq!(p.reserve(Duration::from_secs(10)), Ok(Duration::ZERO));
        assert_eq!(
            p.reserve(Duration::from_secs(10)),
            Ok(Duration::from_millis(500))
        );
        assert_eq!(
            p.reserve(Duration::from_secs(10)),
            Ok(Duration::from_millis(1000))
        );
        // Too far: nothing reserved.
        assert_eq!(
            p.reserve(Duration::from_millis(100)),
            Err(Duration::from_millis(1500))
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(p.reserve(Duration::ZERO), Ok(Duration::ZERO));
    }

    #[test]
    fn rates_must_be_positive() {
        for r in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(RatePerSecond::new(r).is_err(), "{r}");
        }
    }
}
