//! The prices the providers actually bill, learned from their receipts, so that the spend cap
//! holds against the real bill and not only against the configured price.
//!
//! Before each send the dispatcher reserves `segments × price` in the ledger, and the ledger
//! refuses a reservation that would take committed spend over a cap. With the configured price
//! alone, a provider billing more than configured (€0.20 a segment against €0.07627) takes the
//! bill past the cap: each send's settlement corrects the ledger, but the next reservation is
//! again too small. So each real price, from a send's receipt or a later delivery report, is
//! kept per destination calling code, per segment, and the next reservations to that calling
//! code use it, never less than the configured price
//! ([`EngineConfig::price_per_segment`](super::EngineConfig::price_per_segment)).
//!
//! What is left, the documented bound: a send reserved before its destination's real price was
//! known can take spend past the cap by `segments × (real − reserved)`. With the price in the
//! send's response (as Vonage gives it, for example), that is the sends in flight when the first receipt at a new price
//! comes back (at most one per worker); with the price only in a later delivery report, every
//! send reserved before that report; with no price at all (a delivery
//! report without one, such as a Twilio status callback without `Price`), the ledger only knows the configured price. The table lives in the engine's memory:
//! after a restart each calling code starts again from the configured price.

use std::collections::HashMap;

use parking_lot::Mutex;

use crate::money::Money;

/// A send settled at our estimate because its receipt had no price: kept by the
/// [`PriceMemo`](super::PriceMemo) until a delivery report brings the real price.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Estimate {
    /// What the ledger was settled at.
    pub(crate) amount: Money,
    /// The recipient's calling code.
    pub(crate) calling_code: u16,
    /// Segments of the message.
    pub(crate) segments: u32,
}

/// The last real price per segment seen for each destination calling code.
#[derive(Debug, Default)]
pub(crate) struct ObservedPrices {
    per_code: Mutex<HashMap<u16, Money>>,
}

impl ObservedPrices {
    /// The price of one segment to reserve for a message to `calling_code`: the last real
    /// price seen for it, or `configured` when none was seen or it was lower.
    pub(crate) fn per_segment(&self, calling_code: u16, configured: Money) -> Money {
        match self.per_code.lock().get(&calling_code) {
            Some(&seen) if seen > configured => seen,
            _ => configured,
        }
    }

    /// A message of `segments` segments to `calling_code` was billed `total`. A price that is
    /// not positive (a free message, a provider that reports none) teaches nothing.
    pub(crate) fn observe(&self, calling_code: u16, total: Money, segments: u32) {
        if total <= Money::ZERO {
            return;
        }
        let segments = i64::from(segments.max(1));
        // Rounded up: a reservation never falls short by a rounding micro.
        let per_segment = Money::from_micros((total.micros() + segments - 1) / segments);
        let previous = self.per_code.lock().insert(calling_code, per_segment);
        if previous != Some(per_segment) {
            tracing::info!(
                calling_code,
                per_segment_micros = per_segment.micros(),
                "observed a new price per segment: next reservations use it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIGURED: Money = Money::from_micros(76_270);

    #[test]
    fn reservations_follow_the_observed_price_per_calling_code_never_below_the_configured_one() {
        let p = ObservedPrices::default();
        assert_eq!(p.per_segment(33, CONFIGURED), CONFIGURED);
        // Two segments billed €0.40: €0.20 a segment, for France only.
        p.observe(33, Money::from_micros(400_000), 2);
        assert_eq!(p.per_segment(33, CONFIGURED), Money::from_micros(200_000));
        assert_eq!(p.per_segment(44, CONFIGURED), CONFIGURED);
        // The last price wins, but never below the configured one.
        p.observe(33, Money::from_micros(10_000), 1);
        assert_eq!(p.per_segment(33, CONFIGURED), CONFIGURED);
        p.observe(33, Money::from_micros(100_000), 3);
        assert_eq!(p.per_segment(33, Money::ZERO), Money::from_micros(33_334));
        // Nothing is learned from a missing or zero price.
        p.observe(44, Money::ZERO, 1);
        assert_eq!(p.per_segment(44, CONFIGURED), CONFIGURED);
    }
}
