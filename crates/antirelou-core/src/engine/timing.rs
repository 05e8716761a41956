//! Small time computations of the dispatcher: retry backoff and the start of the next spend
//! period.

use std::time::Duration;

use chrono::{Datelike, NaiveDate, TimeZone, Utc};

use crate::clock::Timestamp;

/// The retry delay after `attempt` failed attempts (1 for the first): `base × 2^(attempt−1)`,
/// capped at `max`, then shortened by a random fraction of at most `jitter` (`unit` is that
/// random draw, in `[0, 1)`).
///
/// ```
/// use antirelou_core::engine::backoff;
/// use std::time::Duration;
/// let s = Duration::from_secs;
/// assert_eq!(backoff(1, s(30), s(1800), 0.0, 0.5), s(30));
/// assert_eq!(backoff(3, s(30), s(1800), 0.0, 0.5), s(120));
/// assert_eq!(backoff(30, s(30), s(1800), 0.0, 0.5), s(1800));
/// assert_eq!(backoff(1, s(30), s(1800), 0.5, 1.0), s(15));
/// ```
pub fn backoff(attempt: u32, base: Duration, max: Duration, jitter: f64, unit: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let full = base.saturating_mul(1u32 << exp).min(max);
    let cut = (jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0)).clamp(0.0, 1.0);
    full.mul_f64(1.0 - cut)
}

/// The first instant of the UTC day after the one `now` falls in (`daily`), or of the next UTC
/// month (any other period): when a spend cap opens again.
pub(crate) fn next_period_start(now: Timestamp, period: &str) -> Timestamp {
    let d = now.to_datetime().date_naive();
    let next = if period == "daily" {
        d.succ_opt()
    } else {
        let (y, m) = if d.month() == 12 {
            (d.year() + 1, 1)
        } else {
            (d.year(), d.month() + 1)
        };
        NaiveDate::from_ymd_opt(y, m, 1)
    };
    next.and_then(|n| n.and_hms_opt(0, 0, 0))
        .map(|dt| Timestamp::from_datetime(Utc.from_utc_datetime(&dt)))
        .unwrap_or_else(|| now.add(Duration::from_secs(24 * 3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_day_and_month() {
        // 2017-12-31T18:30:00Z
        let t = Timestamp::from_secs(1_514_745_000);
        assert_eq!(
            format!("{}", next_period_start(t, "daily")),
            "2018-01-01T00:00:00.000Z"
        );
        assert_eq!(
            format!("{}", next_period_start(t, "monthly")),
            "2018-01-01T00:00:00.000Z"
        );
        // 2017-10-30T12:00:00Z
        let t = Timestamp::from_secs(1_509_364_800);
        assert_eq!(
            format!("{}", next_period_start(t, "daily")),
            "2017-10-31T00:00:00.000Z"
        );
        assert_eq!(
            format!("{}", next_period_start(t, "monthly")),
            "2017-11-01T00:00:00.000Z"
        );
    }

    #[test]
    fn jitter_only_shortens() {
        let s = Duration::from_secs;
        for u in [0.0, 0.3, 0.99] {
            let d = backoff(2, s(30), s(1800), 0.2, u);
            assert!(d <= s(60) && d >= s(48), "{d:?}");
        }
    }
}
