//! The spend feedback: what the policies learn of the money, read from the engine.

use crate::engine::Engine;
use crate::money::Money;
use crate::store::{SpendCaps, SpendSummary};
use crate::{Clock as _, Result, Timestamp};

/// What the runtime tells the policies of the money
/// ([`AbusePolicy::on_spend`](crate::policy::AbusePolicy::on_spend)): the caps, what was spent
/// in the day and month of `at`, and what one SMS lesson costs from the real segment count of
/// the lessons the engine's numbers send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpendUpdate {
    /// When the spend was read (the engine clock's now).
    pub at: Timestamp,
    /// The engine's caps.
    pub caps: SpendCaps,
    /// The ledger's spend of the day and month of `at`.
    pub spent: SpendSummary,
    /// The segments of the longest SMS lesson among the engine's numbers (their own lessons,
    /// else the catalogue's for their locale), at least 1.
    pub lesson_segments: u32,
    /// The price of one segment ([`EngineConfig::price_per_segment`](crate::engine::EngineConfig::price_per_segment)).
    pub price_per_segment: Money,
}

impl SpendUpdate {
    /// An update from its parts (for policies' own tests and embedders without an engine).
    pub fn new(
        at: Timestamp,
        caps: SpendCaps,
        spent: SpendSummary,
        lesson_segments: u32,
        price_per_segment: Money,
    ) -> Self {
        SpendUpdate {
            at,
            caps,
            spent,
            lesson_segments: lesson_segments.max(1),
            price_per_segment,
        }
    }

    /// What one lesson costs: its segments × the price of a segment.
    pub fn lesson_cost(&self) -> Money {
        self.price_per_segment * self.lesson_segments
    }

    /// The budget left: the smaller of the day's and the month's remainders (`None`: no cap).
    pub fn budget_left(&self) -> Option<Money> {
        [
            self.caps
                .daily
                .map(|c| c.saturating_sub_floor(self.spent.day)),
            self.caps
                .monthly
                .map(|c| c.saturating_sub_floor(self.spent.month)),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// The segments of the longest SMS lesson among `engine`'s numbers, at least 1. Read when
/// called, so that a number added or changed while the engine runs counts from the next update.
pub fn lesson_segments(engine: &Engine) -> u32 {
    let catalogue = engine.numbers().catalogue();
    engine
        .numbers()
        .list()
        .iter()
        .filter_map(|n| n.lessons.as_ref().or_else(|| catalogue.lookup(&n.locale)))
        .map(|l| l.sms_plan().segments)
        .max()
        .unwrap_or(1)
        .max(1)
}

/// Read the spend from `engine`'s ledger at its clock's now and build the update.
pub async fn read_spend(engine: &Engine) -> Result<SpendUpdate> {
    let at = engine.clock().now();
    let spent = engine.store().spend(at).await?;
    Ok(SpendUpdate::new(
        at,
        engine.config().caps,
        spent,
        lesson_segments(engine),
        engine.config().price_per_segment,
    ))
}

/// [`read_spend`] and hand it to the engine's policy
/// ([`AbusePolicy::on_spend`](crate::policy::AbusePolicy::on_spend)). On a ledger error the
/// policy is not called (it keeps its last figures) and the error is returned.
pub async fn feed_spend(engine: &Engine) -> Result<SpendUpdate> {
    let update = read_spend(engine).await?;
    engine.inner().policy.on_spend(&update);
    Ok(update)
}
