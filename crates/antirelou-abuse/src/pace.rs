//! [`GlobalPace`]: a global cap on SMS lessons per minute, with the generic cell rate algorithm
//! (GCRA) on one lock-free atomic.
//!
//! The state is one "theoretical arrival time" (TAT) in microseconds. A lesson is allowed when
//! `max(TAT, now) - now <= tolerance` and then pushes the TAT one emission interval further.
//! Calls are not paced (they do not cost an SMS).
//!
//! # Denials without the shared line
//! Under a flood nearly every contact that reaches the pace is denied, and each allowed one
//! rewrites the TAT: reading it on every decision moved its cache line from core to core (on
//! `abuse_scaling`'s workload, in interleaved pairs, the default chain scaled 1.15 times on two
//! threads and 1.64 times with the pace left out; the pace alone 1.14 times, and 1.47 times
//! with what follows). The TAT never goes back, so a value read once is a
//! lower bound of it for ever after: each thread keeps the last TAT it read in a slot of its
//! own (a per-thread stripe, alone on its cache line) and denies on that bound alone while it
//! suffices (`bound - now > tolerance` implies `TAT - now > tolerance`, whatever other threads
//! did since and whatever the tolerance became). Only a contact the bound cannot deny reads the
//! shared TAT, about once per emission interval per thread. The decisions are the GCRA's own.
//!
//! # A backstop, sized from the budget
//! A paced-out sender is not refused: the pace answers
//! [`Decision::Defer`]`(`[`Reason::GlobalPace`]`)`, the engine stores his lesson as deferred
//! (bounded by its `max_deferred`) and the spend caps, enforced at send time by the store's
//! ledger, decide when it goes out. Still, the pace must not be the thing that limits a
//! legitimate surge: the spend caps and the [`FloodDetector`](crate::FloodDetector) (which knows
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
use crate::util::{Padded, STRIPES, stripe};

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
/// assert_eq!(pace.check(&at(10_000)), Decision::Defer(Reason::GlobalPace));
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
    /// The TAT, alone on its cache line: every allowed lesson writes it.
    tat_us: Padded<AtomicU64>,
    /// Per-thread lower bounds of the TAT: the last value each stripe's thread read or wrote
    /// (0: none). Any value the TAT ever had is a bound, so two threads that share a stripe
    /// (more threads than stripes) overwrite each other's harmlessly.
    seen_us: [Padded<AtomicU64>; STRIPES],
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
            tat_us: Padded(AtomicU64::new(0)),
            seen_us: std::array::from_fn(|_| Padded(AtomicU64::new(0))),
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
        // This thread's bound first: `TAT >= seen`, so `seen - now > tolerance` is a denial.
        let seen = &self.seen_us[stripe()].0;
        if seen.load(Ordering::Relaxed).saturating_sub(now) > tolerance {
            return Decision::Defer(Reason::GlobalPace);
        }
        let tat_us = &self.tat_us.0;
        let mut tat = tat_us.load(Ordering::Relaxed);
        loop {
            let start = tat.max(now);
            if start - now > tolerance {
                seen.store(tat, Ordering::Relaxed);
                return Decision::Defer(Reason::GlobalPace);
            }
            let interval = self.interval_us.load(Ordering::Relaxed);
            match tat_us.compare_exchange_weak(
                tat,
                start + interval,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    seen.store(start + interval, Ordering::Relaxed);
                    return Decision::Allow;
                }
                Err(t) => tat = t,
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use antirelou_core::{NumberKind, Timestamp};

    fn sms(ms: i64) -> Contact {
        Contact {
            sender_key: 33_612_345_678,
            sender_calling_code: 33,
            sender_region: None,
            sender_kind: NumberKind::Mobile,
            number_key: 1,
            number_region: None,
            channel: Channel::Sms,
            at: Timestamp::from_millis(ms),
        }
    }

    /// The GCRA written plainly, one TAT and nothing else: what the pace must decide.
    struct Reference {
        tat: u64,
        interval: u64,
        tolerance: u64,
    }

    impl Reference {
        fn check(&mut self, ms: i64) -> bool {
            let now = u64::try_from(ms).unwrap() * 1000;
            let start = self.tat.max(now);
            if start - now > self.tolerance {
                return false;
            }
            self.tat = start + self.interval;
            true
        }
    }

    #[test]
    fn decides_as_the_plain_gcra_whatever_the_order_of_times_and_rates() {
        // Times that mostly advance, sometimes go back (contacts from several webhooks), with
        // the budget rate raised and lowered on the way: every decision is the plain GCRA's,
        // the bound included (it must not deny what the GCRA allows after a rate change).
        let pace = GlobalPace::new(60, 3).unwrap();
        let (interval, tolerance) = gcra(60, 3);
        let mut reference = Reference {
            tat: 0,
            interval,
            tolerance,
        };
        let mut rng = crate::util::TestRng(0x9e37_79b9_7f4a_7c15);
        let mut t: i64 = 1_700_000_000_000;
        let (mut allowed, mut denied) = (0, 0);
        for i in 0..200_000u32 {
            let r = rng.next();
            t += match r % 16 {
                0 => -(((r >> 8) % 5_000) as i64),
                1 => ((r >> 8) % 60_000) as i64,
                _ => ((r >> 8) % 400) as i64,
            };
            if i % 20_000 == 0 {
                let rate = [None, Some(600), Some(6_000), Some(30), None][(r >> 40) as usize % 5];
                pace.set_budget_rate(rate);
                let per_minute = pace.per_minute();
                let burst = if per_minute > 60 { per_minute } else { 3 };
                (reference.interval, reference.tolerance) = gcra(per_minute, burst);
            }
            let ours = pace.check(&sms(t)).is_allow();
            assert_eq!(ours, reference.check(t), "contact {i} at {t}");
            if ours { allowed += 1 } else { denied += 1 }
        }
        assert!(allowed > 10_000 && denied > 10_000, "{allowed} / {denied}");
    }

    /// Lessons `pace` allows to four threads deciding `each` contacts at `ms` each.
    fn allowed_by_four_threads(pace: &GlobalPace, each: usize, ms: i64) -> usize {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..each)
                            .filter(|_| pace.check(&sms(ms)).is_allow())
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        })
    }

    #[test]
    fn threads_together_get_the_burst_exactly() {
        // Four threads deciding on contacts of the same instant: the burst, not one more,
        // whatever each thread's bound says.
        let pace = GlobalPace::new(60, 25).unwrap();
        assert_eq!(
            allowed_by_four_threads(&pace, 20_000, 1_700_000_000_000),
            25
        );
        // A second later, one more emission interval: exactly one more lesson for all.
        assert_eq!(allowed_by_four_threads(&pace, 1_000, 1_700_000_001_000), 1);
    }
}
