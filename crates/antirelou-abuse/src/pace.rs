//! [`GlobalPace`]: a global cap on SMS lessons per minute, with the generic cell rate algorithm
//! (GCRA) on one lock-free atomic.
//!
//! The state is one "theoretical arrival time" (TAT) in microseconds. A lesson is allowed when
//! `max(TAT, now) - now <= tolerance` and then pushes the TAT one emission interval further. A
//! denial writes nothing, so under a flood (when nearly everything is denied) every core only
//! reads the shared cache line. Calls are not paced (they do not cost an SMS).

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
/// ```
#[derive(Debug)]
pub struct GlobalPace {
    tat_us: AtomicU64,
    interval_us: u64,
    tolerance_us: u64,
}

impl GlobalPace {
    /// A pace of `per_minute` lessons a minute, allowing bursts of `burst` (at least 1).
    pub fn new(per_minute: u32, burst: u32) -> Result<Self, AbuseError> {
        if per_minute == 0 {
            return Err(AbuseError::InvalidConfig(
                "global pace: lessons per minute must be at least 1",
            ));
        }
        let interval_us = 60_000_000 / u64::from(per_minute);
        Ok(GlobalPace {
            tat_us: AtomicU64::new(0),
            interval_us: interval_us.max(1),
            tolerance_us: interval_us.max(1) * u64::from(burst.max(1) - 1),
        })
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
        let mut tat = self.tat_us.load(Ordering::Relaxed);
        loop {
            let start = tat.max(now);
            if start - now > self.tolerance_us {
                return Decision::Deny(Reason::GlobalPace);
            }
            match self.tat_us.compare_exchange_weak(
                tat,
                start + self.interval_us,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Decision::Allow,
                Err(t) => tat = t,
            }
        }
    }
}
