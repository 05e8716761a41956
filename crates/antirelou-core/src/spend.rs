//! Spend figures shared by the ledger, the policies and the runtime: the caps, what was spent,
//! and the update the policies are told ([`SpendUpdate`]). A leaf module (money and time only),
//! so that the policy, the store and the runtime can all name these types without a circle.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::money::Money;

/// Daily and monthly caps, in money.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendCaps {
    /// Cap per UTC day.
    pub daily: Option<Money>,
    /// Cap per UTC month.
    pub monthly: Option<Money>,
}

/// Spend so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendSummary {
    /// Spent and reserved today.
    pub day: Money,
    /// Spent and reserved this month.
    pub month: Money,
}

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
