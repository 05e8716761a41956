//! Time: a compact [`Timestamp`], the [`Clock`] trait, the [`SystemClock`] and a [`ManualClock`]
//! for tests and simulation.
//!
//! The engine never reads the wall clock directly: it asks its `Clock`. Tests move a
//! [`ManualClock`] forward to check that a lesson leaves at +1 h and never before; the simulator
//! runs a week in seconds the same way.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since the Unix epoch, UTC.
///
/// Eight bytes, `Copy`, totally ordered, stored as an integer by every backend.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// From milliseconds since the Unix epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// From seconds since the Unix epoch.
    pub const fn from_secs(s: i64) -> Self {
        Timestamp(s.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch.
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This instant plus `d` (saturating).
    #[allow(clippy::should_implement_trait)] // saturating, takes a `Duration`: not `ops::Add`
    pub fn add(self, d: Duration) -> Self {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// This instant minus `d` (saturating).
    #[allow(clippy::should_implement_trait)] // saturating, takes a `Duration`: not `ops::Sub`
    pub fn sub(self, d: Duration) -> Self {
        Timestamp(
            self.0
                .saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// The time from `earlier` to `self`, or zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    /// As a `chrono` date-time (UTC).
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0).unwrap_or_default()
    }

    /// From a `chrono` date-time.
    pub fn from_datetime(dt: DateTime<Utc>) -> Self {
        Timestamp(dt.timestamp_millis())
    }

    /// The UTC day this instant falls in, as `yyyymmdd` (for example `20171030`): the key of
    /// daily spend caps.
    pub fn day_key(self) -> u32 {
        let d = self.to_datetime();
        (d.year() as u32) * 10_000 + d.month() * 100 + d.day()
    }

    /// The UTC month this instant falls in, as `yyyymm`: the key of monthly spend caps.
    pub fn month_key(self) -> u32 {
        let d = self.to_datetime();
        (d.year() as u32) * 100 + d.month()
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_datetime().format("%Y-%m-%dT%H:%M:%S%.3fZ"))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A source of the current time.
///
/// # Contract
/// * `now` is cheap (no I/O, no allocation) and never goes backwards for one clock.
/// * Implementations are shared between tasks: `Send + Sync`.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

/// The real UTC wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(Utc::now())
    }
}

/// A clock that moves only when told to: for tests and the simulator.
///
/// Clones share the same time.
///
/// ```
/// use antirelou_core::{Clock, ManualClock, Timestamp};
/// use std::time::Duration;
/// let clock = ManualClock::new(Timestamp::from_secs(1_000));
/// clock.advance(Duration::from_secs(3600));
/// assert_eq!(clock.now(), Timestamp::from_secs(4_600));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    ms: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            ms: Arc::new(AtomicI64::new(start.as_millis())),
        }
    }

    /// Move the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let add = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.ms.fetch_add(add, Ordering::SeqCst);
    }

    /// Set the clock to `t`. Moving it backwards is allowed for tests but breaks the [`Clock`]
    /// contract for anyone else reading it.
    pub fn set(&self, t: Timestamp) {
        self.ms.store(t.as_millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.ms.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_and_month_keys() {
        // 2017-10-30T12:00:00Z
        let t = Timestamp::from_secs(1_509_364_800);
        assert_eq!(t.day_key(), 20171030);
        assert_eq!(t.month_key(), 201710);
        assert_eq!(format!("{t}"), "2017-10-30T12:00:00.000Z");
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_millis(5);
        assert_eq!(t.since(Timestamp::from_millis(10)), Duration::ZERO);
        assert_eq!(t.add(Duration::from_millis(5)).as_millis(), 10);
    }
}
