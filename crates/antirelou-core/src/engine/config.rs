//! [`EngineConfig`]: the engine-wide timings, caps and prices.

use std::time::Duration;

use crate::currency::CurrencyRates;
use crate::error::{Error, Result};
use crate::money::Money;
use crate::store::SpendCaps;

/// Engine-wide settings. Per-number settings live in [`NumberConfig`](super::NumberConfig).
///
/// ```
/// use antirelou_core::engine::EngineConfig;
/// use std::time::Duration;
/// let c = EngineConfig::default();
/// assert_eq!(c.reply_delay, Duration::from_secs(3600));
/// assert_eq!(c.reply_deadline, Duration::from_secs(24 * 3600));
/// assert_eq!(c.price_per_segment.micros(), 76_270);
/// assert!(c.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// How long after an inbound text the lesson leaves (default one hour: the woman has left).
    pub reply_delay: Duration,
    /// A random extra delay in `[0, reply_jitter]` added to each lesson (default none), so that
    /// replies do not leave in lockstep with the texts that caused them.
    pub reply_jitter: Duration,
    /// One lesson per sender within this window (default 30 days).
    pub lesson_window: Duration,
    /// A reply not sent within this long after its due time expires instead of arriving days late
    /// (default 24 hours). A lesson's deadline is the later of this and
    /// [`defer_horizon`](Self::defer_horizon) after its text, since any lesson may be deferred
    /// at send time.
    pub reply_deadline: Duration,
    /// How long a worker holds a claimed reply before another worker may take it over (default
    /// 60 s). It must cover one send, pacing included. It is also how long after a crash the
    /// replies the dead process held are sent, including the duplicate of a send that was in
    /// flight (see [`workers`](Self::workers)).
    pub lease: Duration,
    /// Daily and monthly spend caps, enforced atomically by the store's ledger (default none).
    pub caps: SpendCaps,
    /// The price of one outbound segment, used to reserve spend before a send (default
    /// €0.07627, the French price of 2017).
    pub price_per_segment: Money,
    /// The ledger's currency (the caps', `price_per_segment`'s) and the fixed rate of every
    /// other currency a provider bills in (default: the euro, no other). Every provider price
    /// is converted with it before it reaches the ledger; a price in a currency without a rate
    /// is not counted 1:1 but dropped, counted `price.unknown_currency`, and the reserved
    /// estimate kept.
    pub currency: CurrencyRates,
    /// First retry delay after a transient error (default 30 s); it doubles with each attempt.
    pub backoff_base: Duration,
    /// Longest retry delay (default 30 min).
    pub backoff_max: Duration,
    /// Fraction of a backoff delay that is random, in `[0, 1]` (default 0.2): the delay is drawn
    /// from `[d × (1 − jitter), d]`. Zero makes retries exactly predictable (tests).
    pub backoff_jitter: f64,
    /// How many due replies a worker claims at once (default 16).
    pub claim_batch: usize,
    /// Concurrent workers in [`Dispatcher::run`](super::Dispatcher::run) (default 4). Each has
    /// at most one send in flight, so a crash can send at most this many replies twice per
    /// process (none when the provider answers
    /// [`SmsTransport::find_accepted`](crate::SmsTransport::find_accepted)): fewer workers, fewer
    /// possible duplicates, less throughput.
    pub workers: usize,
    /// How long an idle worker sleeps before looking for due replies again (default 1 s).
    pub poll_interval: Duration,
    /// How long a reply for a paused number is held before it is looked at again (default
    /// 5 min). It still expires at its deadline.
    pub paused_hold: Duration,
    /// How long after its text a deferred lesson may still go out (default 72 hours). Any lesson
    /// may be deferred at send time (flood, pace, spend cap), so a lesson's deadline is the later
    /// of this and `reply_delay` + `reply_deadline`; one that cannot go out before it is
    /// dropped, counted `drop.deferred_too_long`, and its sender's slot given back.
    pub defer_horizon: Duration,
    /// At most this many lessons held deferred by this process (default 50,000; the count is
    /// per process, in memory). When it is full, a lesson of a strictly better rank takes the
    /// place of the worst-ranked one held (counted `deferred.displaced`; the displaced lesson is
    /// cancelled at its next release if it must wait again); any other lesson that should be
    /// deferred is refused, counted `drop.defer_limit`.
    pub max_deferred: usize,
    /// How soon a lesson deferred by the abuse policy (a flood, the pace) is looked at again
    /// (default 5 min); the step doubles with each claim of the lesson, up to 16 times this.
    /// Deferred lessons are due again on multiples of the step, so lessons released at one
    /// instant go out in rank order.
    pub defer_retry: Duration,
    /// Above this fraction of a spend cap already spent in its period, lessons go out in the
    /// catalogue's one-segment short form when the number's locale has one (default 0.5; 1.0
    /// only when the full form does not fit). Counted `lesson.short_form`.
    pub short_form_above: f64,
    /// A text within this long after its sender called the number ranks first among deferred
    /// lessons (rank 0, as a caller's own lesson), whatever the policy ranks it: "a sender who
    /// also called" (default 24 hours; zero: never). The calls are remembered in memory, per
    /// process, in a fixed table (see the `callers` module); a text that ranks so is counted
    /// `lessons.caller_first`.
    pub caller_first_for: Duration,
    /// Seed for the engine's random draws (reply jitter, backoff jitter). `None` (the default)
    /// seeds from the operating system; a fixed seed makes a run reproducible (the simulator).
    pub rng_seed: Option<u64>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            reply_delay: Duration::from_secs(3600),
            reply_jitter: Duration::ZERO,
            lesson_window: Duration::from_secs(30 * 24 * 3600),
            reply_deadline: Duration::from_secs(24 * 3600),
            lease: Duration::from_secs(60),
            caps: SpendCaps::default(),
            price_per_segment: Money::from_micros(76_270),
            currency: CurrencyRates::default(),
            backoff_base: Duration::from_secs(30),
            backoff_max: Duration::from_secs(30 * 60),
            backoff_jitter: 0.2,
            claim_batch: 16,
            workers: 4,
            poll_interval: Duration::from_secs(1),
            paused_hold: Duration::from_secs(5 * 60),
            defer_horizon: Duration::from_secs(72 * 3600),
            max_deferred: 50_000,
            defer_retry: Duration::from_secs(5 * 60),
            short_form_above: 0.5,
            caller_first_for: Duration::from_secs(24 * 3600),
            rng_seed: None,
        }
    }
}

impl EngineConfig {
    /// Check that the settings can work together; [`EngineBuilder::build`](super::EngineBuilder::build)
    /// calls it.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.to_owned()));
        if self.lease.is_zero() {
            return bad("lease must be longer than zero");
        }
        if self.reply_deadline.is_zero() {
            return bad("reply_deadline must be longer than zero");
        }
        if self.claim_batch == 0 {
            return bad("claim_batch must be at least 1");
        }
        if self.workers == 0 {
            return bad("workers must be at least 1");
        }
        if self.poll_interval.is_zero() {
            return bad("poll_interval must be longer than zero");
        }
        if self.backoff_base.is_zero() || self.backoff_max < self.backoff_base {
            return bad("backoff_base must be above zero and backoff_max at least backoff_base");
        }
        if !(0.0..=1.0).contains(&self.backoff_jitter) {
            return bad("backoff_jitter must be between 0 and 1");
        }
        if self.price_per_segment < Money::ZERO {
            return bad("price_per_segment must not be negative");
        }
        if self.paused_hold.is_zero() {
            return bad("paused_hold must be longer than zero");
        }
        if self.defer_horizon.is_zero() {
            return bad("defer_horizon must be longer than zero");
        }
        if self.defer_retry.is_zero() {
            return bad("defer_retry must be longer than zero");
        }
        if !(0.0..=1.0).contains(&self.short_form_above) {
            return bad("short_form_above must be between 0 and 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unworkable_settings() {
        let mut c = EngineConfig {
            claim_batch: 0,
            ..EngineConfig::default()
        };
        assert!(matches!(c.validate(), Err(Error::Config(m)) if m.contains("claim_batch")));
        c = EngineConfig {
            backoff_jitter: 1.5,
            ..EngineConfig::default()
        };
        assert!(c.validate().is_err());
        c = EngineConfig {
            backoff_max: Duration::from_secs(1),
            ..EngineConfig::default()
        };
        assert!(c.validate().is_err());
        c = EngineConfig {
            short_form_above: 1.5,
            ..EngineConfig::default()
        };
        assert!(c.validate().is_err());
        c = EngineConfig {
            defer_horizon: Duration::ZERO,
            ..EngineConfig::default()
        };
        assert!(c.validate().is_err());
        c = EngineConfig {
            lease: Duration::ZERO,
            ..EngineConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
