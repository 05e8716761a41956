//! Feeding the money to the policies: the [`FloodDetector`](crate::FloodDetector) needs the
//! budget left to tell a viral day (many new senders, budget left) from a flood of one-text
//! SIMs (the same shape, beyond the budget), and the [`GlobalPace`](crate::GlobalPace) is sized
//! from the daily cap so that it never drops lessons the budget can pay.
//!
//! The engine's policy learns the spend through
//! [`AbusePolicy::on_spend`](antirelou_core::policy::AbusePolicy::on_spend), which the core
//! [runtime](antirelou_core::runtime) calls every few seconds with the caps, the ledger's spend
//! and the real segment count of the numbers' lessons; the [`PolicyChain`](crate::PolicyChain)
//! of [`DefaultPolicies::chain`] hands it to [`DefaultPolicies::on_spend`].
//!
//! ```
//! use antirelou_abuse::{AbuseConfig, DefaultPolicies};
//! use antirelou_core::runtime::SpendUpdate;
//! use antirelou_core::store::{SpendCaps, SpendSummary};
//! use antirelou_core::{Money, Timestamp};
//!
//! let config = AbuseConfig { recent_capacity: 1 << 12, ..AbuseConfig::default() };
//! let policies = DefaultPolicies::new(None, &config).unwrap();
//! // €120 a day, a 2-segment lesson at €0.05 a segment.
//! let caps = SpendCaps { daily: Some(Money::from_units_f64(120.0)), monthly: None };
//! let update = SpendUpdate::new(
//!     Timestamp::from_secs(1_700_000_000), caps, SpendSummary::default(), 2, Money::from_units_f64(0.05),
//! );
//! policies.on_spend(&update);
//! // 1,200 lessons left over the one-hour horizon: 20 new senders a minute.
//! assert_eq!(policies.flood.affordable_per_bucket(), Some(20));
//! // Pace: the whole cap in no less than two hours, i.e. 10 a minute, below the floor of 60.
//! assert_eq!(policies.pace.per_minute(), 60);
//! ```

use antirelou_core::Money;
use antirelou_core::policy::AbusePolicy as _;
use antirelou_core::runtime::SpendUpdate;
use antirelou_core::store::{SpendCaps, SpendSummary};

use crate::DefaultPolicies;

/// Days of a month, to size the pace from a monthly cap alone.
const DAYS_PER_MONTH: i64 = 30;

impl DefaultPolicies {
    /// Learn the money from `spend` (the runtime's feed): the flood detector gets the budget
    /// left and the real cost of a lesson, the pace is sized from the caps
    /// ([`refresh_budget`](Self::refresh_budget)).
    pub fn on_spend(&self, spend: &SpendUpdate) {
        self.flood.on_spend(spend);
        self.size_pace(&spend.caps, spend.lesson_cost());
    }

    /// Tell the policies the caps, what was `spent` (the ledger's
    /// spend) and what one lesson costs (its segments × the price of a
    /// segment):
    /// * the flood detector gets the budget left, the smaller of the day's and the month's
    ///   (no cap: no budget limit);
    /// * the global pace is raised, above its configured floor, to the rate that spends the
    ///   daily cap (or a thirtieth of the monthly cap) in
    ///   [`AbuseConfig::pace_cap_span`](crate::AbuseConfig::pace_cap_span).
    ///
    /// ```
    /// use antirelou_abuse::{AbuseConfig, DefaultPolicies};
    /// use antirelou_core::Money;
    /// use antirelou_core::store::{SpendCaps, SpendSummary};
    ///
    /// let policies = DefaultPolicies::new(None, &AbuseConfig { recent_capacity: 1 << 12, ..AbuseConfig::default() }).unwrap();
    /// let caps = SpendCaps { daily: Some(Money::from_units_f64(960.0)), monthly: None };
    /// let spent = SpendSummary { day: Money::from_units_f64(360.0), month: Money::from_units_f64(360.0) };
    /// policies.refresh_budget(&caps, spent, Money::from_units_f64(0.08));
    /// // €600 left: 7,500 lessons over an hour, 125 a minute.
    /// assert_eq!(policies.flood.affordable_per_bucket(), Some(125));
    /// // €960 a day, spent in no less than two hours: 100 lessons a minute.
    /// assert_eq!(policies.pace.per_minute(), 100);
    /// ```
    pub fn refresh_budget(&self, caps: &SpendCaps, spent: SpendSummary, lesson_cost: Money) {
        let left = [
            caps.daily.map(|c| c.saturating_sub_floor(spent.day)),
            caps.monthly.map(|c| c.saturating_sub_floor(spent.month)),
        ]
        .into_iter()
        .flatten()
        .min();
        match left {
            Some(left) => self.flood.update_budget(left, lesson_cost),
            None => self.flood.set_affordable_per_bucket(None),
        }
        self.size_pace(caps, lesson_cost);
    }

    /// Raise the pace, above its floor, to the rate that spends the daily cap (or a thirtieth
    /// of the monthly cap) in `pace_cap_span`.
    fn size_pace(&self, caps: &SpendCaps, lesson_cost: Money) {
        let per_day = caps.daily.or_else(|| {
            caps.monthly
                .map(|m| Money::from_micros(m.micros() / DAYS_PER_MONTH))
        });
        let minutes = (self.pace_cap_span.as_secs() / 60).max(1);
        let rate = match per_day {
            Some(cap) if lesson_cost.micros() > 0 && !self.pace_cap_span.is_zero() => {
                let lessons = cap.micros().max(0) as u64 / lesson_cost.micros() as u64;
                Some(u32::try_from(lessons / minutes).unwrap_or(u32::MAX))
            }
            _ => None,
        };
        self.pace.set_budget_rate(rate);
    }
}
