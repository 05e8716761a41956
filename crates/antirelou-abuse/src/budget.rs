//! Feeding the money to the policies: the [`FloodDetector`](crate::FloodDetector) needs the
//! budget left to tell a viral day (many new senders, budget left) from a flood of one-text
//! SIMs (the same shape, beyond the budget), and the [`GlobalPace`](crate::GlobalPace) is sized
//! from the daily cap so that it never drops lessons the budget can pay.
//!
//! Whoever runs the engine calls [`DefaultPolicies::refresh_budget_for`] (everything read from
//! the engine, the lesson's cost from its numbers' real segment counts: [`lesson_cost`]) every
//! few seconds, or spawns [`engine_budget_refresher`], which does it in a loop (the reference
//! server does). Without an engine at hand, [`DefaultPolicies::refresh_budget_from`] and
//! [`budget_refresher`] take the ledger, caps and lesson cost separately:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use antirelou_abuse::{AbuseConfig, DefaultPolicies, budget_refresher};
//! use antirelou_core::memory::InMemoryStore;
//! use antirelou_core::store::{SpendCaps, SpendLedger};
//! use antirelou_core::{Clock, ManualClock, Money, Timestamp};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> antirelou_core::Result<()> {
//! let config = AbuseConfig { recent_capacity: 1 << 12, ..AbuseConfig::default() };
//! let policies = DefaultPolicies::new(None, &config)?;
//! let store = Arc::new(InMemoryStore::new());
//! let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(Timestamp::from_secs(1_700_000_000)));
//! // €120 a day, €0.10 a lesson (the lesson's segments × the price of a segment).
//! let caps = SpendCaps { daily: Some(Money::from_units_f64(120.0)), monthly: None };
//! let lesson_cost = Money::from_units_f64(0.10);
//!
//! // One refresh, e.g. on each dispatcher tick:
//! policies.refresh_budget_from(&*store, &caps, lesson_cost, clock.now()).await?;
//! // 1,200 lessons left over the one-hour horizon: 20 new senders a minute.
//! assert_eq!(policies.flood.affordable_per_bucket(), Some(20));
//! // Pace: the whole cap in no less than two hours, i.e. 10 a minute, below the floor of 60.
//! assert_eq!(policies.pace.per_minute(), 60);
//!
//! // Or in the background, every 5 seconds (a server spawns it next to the dispatcher):
//! let ledger: Arc<dyn SpendLedger> = store;
//! let task = tokio::spawn(budget_refresher(
//!     policies.clone(), ledger, clock, caps, lesson_cost, Duration::from_secs(5),
//! ));
//! task.abort();
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use antirelou_core::engine::Engine;
use antirelou_core::store::{SpendCaps, SpendLedger, SpendSummary};
use antirelou_core::{Clock, Money, Timestamp};

use crate::DefaultPolicies;

/// Days of a month, to size the pace from a monthly cap alone.
const DAYS_PER_MONTH: i64 = 30;

impl DefaultPolicies {
    /// Tell the policies the caps, what was `spent` (the ledger's
    /// [`spend`](SpendLedger::spend)) and what one lesson costs (its segments × the price of a
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

    /// Read the spend of the day and month of `now` from `ledger` and
    /// [`refresh_budget`](Self::refresh_budget). On an error nothing changes (the policies keep
    /// the last figures) and the error is returned.
    pub async fn refresh_budget_from(
        &self,
        ledger: &dyn SpendLedger,
        caps: &SpendCaps,
        lesson_cost: Money,
        now: Timestamp,
    ) -> antirelou_core::Result<()> {
        let spent = ledger.spend(now).await?;
        self.refresh_budget(caps, spent, lesson_cost);
        Ok(())
    }
}

/// What one SMS lesson costs on `engine`: its price of a segment times the segments of the
/// longest SMS lesson among its numbers (their own lessons, else the catalogue's for their
/// locale), at least one segment. Read when called, so that a number added or changed while
/// the engine runs counts from the next refresh.
///
/// ```
/// use std::sync::Arc;
/// use antirelou_abuse::lesson_cost;
/// use antirelou_core::catalogue::Locale;
/// use antirelou_core::engine::{Engine, EngineConfig, NumberConfig};
/// use antirelou_core::ProviderId;
/// use antirelou_core::memory::InMemoryStore;
/// use antirelou_core::privacy::NumberHasher;
/// use antirelou_core::{Money, PhoneNumber};
///
/// let mut number = NumberConfig::new(
///     PhoneNumber::parse("+33937000000").unwrap(), Locale::new("fr-FR").unwrap(), ProviderId::from_static("twilio"));
/// let mut lessons = antirelou_core::catalogue::Catalogue::builtin()
///     .lookup(&number.locale).unwrap().clone();
/// lessons.sms = "x".repeat(160 * 2 + 1); // GSM-7, three segments (153 septets each)
/// number.lessons = Some(lessons);
/// let engine = Engine::builder(Arc::new(InMemoryStore::new()), NumberHasher::new(b"sixteen bytes at least").unwrap())
///     .config(EngineConfig { price_per_segment: Money::from_units_f64(0.05), ..EngineConfig::default() })
///     .number(number)
///     .build()
///     .unwrap();
/// assert_eq!(lesson_cost(&engine), Money::from_units_f64(0.15));
/// ```
pub fn lesson_cost(engine: &Engine) -> Money {
    let catalogue = engine.numbers().catalogue();
    let segments = engine
        .numbers()
        .list()
        .iter()
        .filter_map(|n| n.lessons.as_ref().or_else(|| catalogue.lookup(&n.locale)))
        .map(|l| l.sms_plan().segments)
        .max()
        .unwrap_or(1)
        .max(1);
    engine.config().price_per_segment * segments
}

impl DefaultPolicies {
    /// [`refresh_budget_from`](Self::refresh_budget_from) with everything taken from `engine`:
    /// its ledger, its caps, its clock, and the real [`lesson_cost`] of its numbers. The
    /// simulator and the reference server both feed the policies this way.
    pub async fn refresh_budget_for(&self, engine: &Engine) -> antirelou_core::Result<()> {
        self.refresh_budget_from(
            &**engine.store(),
            &engine.config().caps,
            lesson_cost(engine),
            engine.clock().now(),
        )
        .await
    }
}

/// A future that [refreshes](DefaultPolicies::refresh_budget_for) the policies' budget from
/// `engine` at once, then every `interval` (at least 100 ms), forever: spawn it next to the
/// dispatcher and abort it at shutdown. A ledger error is logged and the last figures are kept
/// until the next refresh. Unlike [`budget_refresher`], the lesson's cost is read from the
/// engine's numbers at each refresh.
pub fn engine_budget_refresher(
    policies: DefaultPolicies,
    engine: Engine,
    interval: Duration,
) -> impl Future<Output = ()> + Send + 'static {
    let interval = interval.max(Duration::from_millis(100));
    async move {
        loop {
            if let Err(e) = policies.refresh_budget_for(&engine).await {
                tracing::warn!(error = %e, "could not read the spend: the abuse policies keep the last budget figures");
            }
            tokio::time::sleep(interval).await;
        }
    }
}

/// A future that [refreshes](DefaultPolicies::refresh_budget_from) the policies' budget from
/// `ledger` at once, then every `interval` (at least 100 ms), forever: spawn it next to the
/// dispatcher and abort it (or drop it) at shutdown. A ledger error is logged and the last
/// figures are kept until the next refresh. See the [module documentation](self).
pub fn budget_refresher(
    policies: DefaultPolicies,
    ledger: Arc<dyn SpendLedger>,
    clock: Arc<dyn Clock>,
    caps: SpendCaps,
    lesson_cost: Money,
    interval: Duration,
) -> impl Future<Output = ()> + Send + 'static {
    let interval = interval.max(Duration::from_millis(100));
    async move {
        loop {
            if let Err(e) = policies
                .refresh_budget_from(&*ledger, &caps, lesson_cost, clock.now())
                .await
            {
                tracing::warn!(error = %e, "could not read the spend: the abuse policies keep the last budget figures");
            }
            tokio::time::sleep(interval).await;
        }
    }
}
