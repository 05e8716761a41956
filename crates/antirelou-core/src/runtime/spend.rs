//! The spend feedback: what the policies learn of the money, read from the engine.

use crate::engine::Engine;
pub use crate::spend::SpendUpdate;
use crate::{Clock as _, Result};

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
