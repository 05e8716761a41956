//! [`GlobalPace`]: a global cap on SMS lessons per minute, with the generic cell rate algorithm
//! (GCRA) on one lock-free atomic.
//!
//! The state is one "theoretical arrival time" (TAT) in microseconds. A lesson is allowed when
//! `max(TAT, now) - now <= tolerance` and then pushes the TAT one emission interval further. A
//! denial writes nothing, so under a flood (when nearly everything is denied) every core only
//! reads the shared cache line. Calls are not paced (they do not cost an SMS).
//!
//! # A backstop, sized from the budget
//! A paced-out sender gets no lesson at all (a policy denies, it cannot postpone), so the pace
//! must never be the thing that limits a legitimate surge: the spend caps (enforced by the
//! store's ledger, which postpones) and the [`FloodDetector`](crate::FloodDetector) (which knows
//! the budget) are. The pace only bounds how fast money can go if everything else missed an
//! attack. Its configured rate is a floor; when the daily cap is known,
//! [`set_budget_rate`](GlobalPace::set_budget_rate) raises it to the rate that would spend the
//! whole cap in a few hours (see
//! [`DefaultPolicies::refresh_budget`](crate::DefaultPolicies::refresh_budget)), with a burst
//! of one minute's worth.

use std::sync::atomic::{AtomicU64, Ordering};

use antirelou_core::event::Channel;
use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason};

use crate::AbuseError;

/// At most `per_minute` SMS lessons a minute, with bursts of up to `burst`.
///
/// ```
/// use antirelou_abuse::GlobalPace;
/// use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason};
/// use antirelou_core::{NumberKind, Timestamp, event::Channel};
///
/// let pace = GlobalPace::new(60, 2).unwrap(); // one a second, bursts of two
/// let at = |ms| Contact {
///     sender_key: 33_612_345_678, sender_calling_code: 33, sender_region: None,
///     sender_kind: NumberKind::Mobile, number_key: 1, number_region: None,
///     channel: Channel::Sms, at: Timestamp::from_millis(ms),
/// };
/// assert!(pace.check(&at(10_000)).is_allow());
/// assert!(pace.check(&at(10_000)).is_allow());
/// assert_eq!(pace.check(&at(10_000)), Decision::Deny(Reason::GlobalPace));
/// assert!(pace.check(&at(11_000)).is_allow());
///
/// // The budget allows 600 a minute: the floor is raised, with a minute's worth of burst.
/// pace.set_budget_rate(Some(600));
/// assert_eq!(pace.per_minute(), 600);
/// assert!((0..600).all(|_| pace.check(&at(20_000)).is_allow()));
/// pace.set_budget_rate(None);
/// assert_eq!(pace.per_minute(), 60);
/// ```
#[derive(Debug)]
pub struct GlobalPace {
    tat_us: AtomicU64,
    interval_us: AtomicU64,
    tolerance_us: AtomicU64,
    floor_per_minute: u32,
    floor_burst: u32,
    per_minute: AtomicU64,
}

/// `(interval, tolerance)` in microseconds of a pace.
fn gcra(per_minute: u32, burst: u32) -> (u64, u64) {
    let interval_us = (60_000_000 / u64::from(per_minute.max(1))).max(1);
    (interval_us, interval_us * u64::from(burst.max(1) - 1))
}

impl GlobalPace {
    /// A pace of `per_minute` lessons a minute, allowing bursts of `burst` (at least 1). This is
    /// the floor: [`set_budget_rate`](Self::set_budget_rate) may raise it, never lower it.
    pub fn new(per_minute: u32, burst: u32) -> Result<Self, AbuseError> {
        if per_minute == 0 {
            return Err(AbuseError::InvalidConfig(
                "global pace: lessons per minute must be at least 1",
            ));
        }
        let (interval_us, tolerance_us) = gcra(per_minute, burst);
        Ok(GlobalPace {
            tat_us: AtomicU64::new(0),
            interval_us: AtomicU64::new(interval_us),
            tolerance_us: AtomicU64::new(tolerance_us),
            floor_per_minute: per_minute,
            floor_burst: burst.max(1),
            per_minute: AtomicU64::new(u64::from(per_minute)),
        })
    }

    /// Raise the pace to `per_minute` lessons a minute (with a burst of one minute's worth) when
    /// that is above the configured floor; `None` goes back to the floor.
    pub fn set_budget_rate(&self, per_minute: Option<u32>) {
        let (rate, burst) = match per_minute {
            Some(r) if r > self.floor_per_minute => (r, self.floor_burst.max(r)),
            _ => (self.floor_per_minute, self.floor_burst),
        };
        if u64::from(rate) == self.per_minute.load(Ordering::Relaxed) {
            return;
        }
        let (interval_us, tolerance_us) = gcra(rate, burst);
        self.interval_us.store(interval_us, Ordering::Relaxed);
        self.tolerance_us.store(tolerance_us, Ordering::Relaxed);
        self.per_minute.store(u64::from(rate), Ordering::Relaxed);
    }

    /// The pace now, in lessons per minute.
    pub fn per_minute(&self) -> u32 {
        u32::try_from(self.per_minute.load(Ordering::Relaxed)).unwrap_or(u32::MAX)
    }
}

impl AbusePolicy for GlobalPace {
    #[inline]
    fn check(&self, c: &Contact) -> Decision {
        if c.channel == Channel::Voice {
            return Decision::Allow;
        }
        let now = u64::try_from(c.at.as_millis())
            .unwrap_or(0)
            .saturating_mul(1000);
        let tolerance = self.tolerance_us.load(Ordering::Relaxed);
        let mut tat = self.tat_us.load(Ordering::Relaxed);
        loop {
            let start = tat.max(now);
            if start - now > tolerance {
                return Decision::Deny(Reason::GlobalPace);
            }
            let interval = self.interval_us.load(Ordering::Relaxed);
            match self.tat_us.compare_exchange_weak(
                tat,
                start + interval,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Decision::Allow,
                Err(t) => tat = t,
            }
        }
    }
}
