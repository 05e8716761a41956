//! [`FloodDetector`]: a surge of new senders on one number puts it in a degraded mode (new SMS
//! lessons deferred or thinned, calls unchanged) that ends by itself when the surge ends.
//!
//! # What it measures, per number and per time bucket (one minute by default)
//! * `senders`: distinct senders not known to be taught yet (the ones a lesson would cost
//!   money for), estimated with a 64-register HyperLogLog (one cache line, ~13 % error, fixed
//!   memory whatever the flood);
//! * `messages`: every text to the number that reached the detector, plus every text the chain
//!   denied as [`Reason::AlreadyTaught`] or [`Reason::BurstRaid`] (repeats of senders the
//!   detector may have counted; seen as a [`ChainObserver`]);
//! * a `baseline`: an exponentially weighted moving average of `senders` per bucket.
//!
//! # When is it a flood?
//! A bucket is a **surge** when `senders ≥ max(min_surge, surge_factor × baseline)`. A surge is a
//! **flood** when either
//! 1. the senders write a lot each: `messages / senders ≥ flood_messages_per_sender` (3 by
//!    default). The 2017 attack was forum users sending texts "by the thousand" each; a viral
//!    day is many people writing once or twice; or
//! 2. the budget does not allow it: more new senders per bucket than the remaining budget can
//!    pay lessons for over `budget_horizon` (see [`FloodDetector::update_budget`]). A flood of
//!    one-text SIMs looks exactly like a viral day, so the only sound way to tell them apart is
//!    money: while the budget lasts, many new people are welcome.
//!
//! So a legitimate viral day (many senders, few messages each, budget left) is a surge but not a
//! flood: the number stays normal and the baseline follows the new level.
//!
//! # Degraded mode
//! New SMS senders are deferred, [`Decision::Defer`]`(`[`Reason::FloodDegraded`]`)`: not refused,
//! their lessons wait until the number is normal again (the engine holds them up to its defer
//! horizon, then drops them counted). With `degraded_keep_one_in = k`, one sender in `k`, chosen
//! by a hash of the number, is still taught at once. At send time
//! ([`recheck`](AbusePolicy::recheck)) a lesson to a number still degraded is deferred again. Calls are allowed. The
//! baseline is frozen. After `calm_buckets` buckets in a row that are not floods (buckets with no
//! traffic count as calm), the number is normal again. A bucket is judged when the next one
//! starts, and also while it fills (every 64 messages a thread), so a flood trips within seconds.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use antirelou_core::Money;
use antirelou_core::event::Channel;
use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason, TextFingerprint};
use antirelou_core::runtime::SpendUpdate;
use serde::{Deserialize, Serialize};

use crate::AbuseError;
use crate::chain::ChainObserver;
use crate::util::{Padded, STRIPES, mix, seed_or_random, stripe};

const REGISTERS: usize = 64;
const HLL_STRIPES: usize = 4;
const UNSET: i64 = i64::MIN;
const NO_LIMIT: u64 = u64::MAX;
const SEED_SALT: u64 = 0xf100_d5ee;

/// `2^-v` for every register value.
const INV_POW2: [f64; 64] = {
    let mut t = [1.0f64; 64];
    let mut i = 1;
    while i < 64 {
        t[i] = t[i - 1] / 2.0;
        i += 1;
    }
    t
};

/// Settings of the [`FloodDetector`]. In a file (see [`PolicySettings`](crate::PolicySettings))
/// every key is optional and durations are humantime strings (`"1m"`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FloodConfig {
    /// Length of a time bucket (default one minute).
    #[serde(with = "crate::settings::humantime_duration")]
    pub bucket: Duration,
    /// The baseline of new senders per bucket before any traffic (default 2).
    pub initial_baseline: f64,
    /// Weight of each bucket in the baseline's moving average (default 0.05: about 20 buckets
    /// of memory).
    pub baseline_alpha: f64,
    /// A surge is this many times the baseline (default 5).
    pub surge_factor: f64,
    /// ... and at least this many new senders in a bucket (default 20).
    pub min_surge: u32,
    /// Messages per new sender in a surge bucket from which it is a flood (default 3).
    pub flood_messages_per_sender: f64,
    /// Horizon over which the remaining budget must be able to pay for the current rate of new
    /// senders (default one hour).
    #[serde(with = "crate::settings::humantime_duration")]
    pub budget_horizon: Duration,
    /// Calm buckets in a row that end degraded mode (default 5).
    pub calm_buckets: u32,
    /// In degraded mode, still teach one new sender in this many at once (default 0: defer every
    /// new SMS lesson).
    pub degraded_keep_one_in: u32,
    /// Numbers tracked separately (rounded up to a power of two, at most 4,096); more share one
    /// state (default 64).
    pub max_numbers: usize,
}

impl Default for FloodConfig {
    fn default() -> Self {
        FloodConfig {
            bucket: Duration::from_secs(60),
            initial_baseline: 2.0,
            baseline_alpha: 0.05,
            surge_factor: 5.0,
            min_surge: 20,
            flood_messages_per_sender: 3.0,
            budget_horizon: Duration::from_secs(3600),
            calm_buckets: 5,
            degraded_keep_one_in: 0,
            max_numbers: 64,
        }
    }
}

/// The state of one number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FloodStatus {
    /// Whether the number is in degraded mode.
    pub degraded: bool,
    /// The baseline of new senders per bucket.
    pub baseline: f64,
    /// How many times the number went into degraded mode.
    pub trips: u64,
}

#[derive(Debug)]
struct NumberState {
    bucket: AtomicI64,
    /// Where the current bucket ends, in ms (so that the hot path compares instead of divides).
    bucket_end: AtomicI64,
    /// Per-thread copies of the HyperLogLog registers (merged by maximum when read), so that
    /// two busy threads do not bounce one cache line.
    registers: [Padded<[AtomicU8; REGISTERS]>; HLL_STRIPES],
    messages: [Padded<AtomicU64>; STRIPES],
    degraded: AtomicBool,
    last_flood_bucket: AtomicI64,
    baseline: AtomicU64,
    calm: AtomicU32,
    trips: AtomicU64,
}

impl NumberState {
    fn new(baseline: f64) -> Self {
        NumberState {
            bucket: AtomicI64::new(UNSET),
            bucket_end: AtomicI64::new(i64::MIN),
            registers: std::array::from_fn(|_| Padded(std::array::from_fn(|_| AtomicU8::new(0)))),
            messages: std::array::from_fn(|_| Padded(AtomicU64::new(0))),
            degraded: AtomicBool::new(false),
            last_flood_bucket: AtomicI64::new(UNSET),
            baseline: AtomicU64::new(baseline.to_bits()),
            calm: AtomicU32::new(0),
            trips: AtomicU64::new(0),
        }
    }

    /// HyperLogLog estimate of distinct senders in the current bucket.
    fn senders(&self) -> f64 {
        let m = REGISTERS as f64;
        let mut sum = 0.0;
        let mut zeros = 0;
        for i in 0..REGISTERS {
            let v = self
                .registers
                .iter()
                .map(|s| s.0[i].load(Ordering::Relaxed))
                .max()
                .unwrap_or(0);
            if v == 0 {
                zeros += 1;
            }
            sum += INV_POW2[usize::from(v & 63)];
        }
        let e = 0.709 * m * m / sum;
        if e <= 2.5 * m && zeros > 0 {
            m * (m / f64::from(zeros)).ln()
        } else {
            e
        }
    }

    fn messages(&self) -> u64 {
        self.messages
            .iter()
            .map(|m| m.0.load(Ordering::Relaxed))
            .sum()
    }
}

/// Detects floods of new senders per number; see the [module documentation](self).
#[derive(Debug)]
pub struct FloodDetector {
    keys: Box<[AtomicU64]>,
    states: Box<[NumberState]>,
    config: FloodConfig,
    bucket_ms: i64,
    affordable: AtomicU64,
    seed: u64,
}

impl FloodDetector {
    /// A detector with these settings.
    pub fn new(config: FloodConfig) -> Result<Self, AbuseError> {
        Self::with_seed(config, None)
    }

    /// Like [`new`](Self::new), with the hashes (sender estimate, number table, thinning)
    /// seeded from `hash_seed` (`None`: random; `Some`: reproducible decisions).
    pub fn with_seed(config: FloodConfig, hash_seed: Option<u64>) -> Result<Self, AbuseError> {
        let bucket_ms = i64::try_from(config.bucket.as_millis()).unwrap_or(i64::MAX);
        if bucket_ms < 1000 {
            return Err(AbuseError::InvalidConfig(
                "flood detector: bucket must be at least a second",
            ));
        }
        if !(config.baseline_alpha > 0.0 && config.baseline_alpha <= 1.0) {
            return Err(AbuseError::InvalidConfig(
                "flood detector: baseline_alpha must be within (0, 1]",
            ));
        }
        if !(config.surge_factor >= 1.0
            && config.flood_messages_per_sender >= 1.0
            && config.initial_baseline >= 0.0)
        {
            return Err(AbuseError::InvalidConfig(
                "flood detector: surge_factor and flood_messages_per_sender must be at least 1",
            ));
        }
        let n = config.max_numbers.clamp(1, 4096).next_power_of_two();
        Ok(FloodDetector {
            keys: (0..n).map(|_| AtomicU64::new(0)).collect(),
            // One more state, shared by the numbers beyond `max_numbers`.
            states: (0..=n)
                .map(|_| NumberState::new(config.initial_baseline))
                .collect(),
            config,
            bucket_ms,
            affordable: AtomicU64::new(NO_LIMIT),
            seed: seed_or_random(hash_seed, SEED_SALT),
        })
    }

    /// Set how many new senders per bucket the budget can pay for (`None`: no budget limit).
    pub fn set_affordable_per_bucket(&self, senders: Option<u64>) {
        self.affordable
            .store(senders.unwrap_or(NO_LIMIT), Ordering::Relaxed);
    }

    /// Tell the detector how much budget is left (the smaller of the daily and monthly
    /// remainders) and what a lesson costs: a rate of new senders that would spend it within
    /// `budget_horizon` is a flood. The engine calls this after each reservation or so.
    ///
    /// ```
    /// use antirelou_abuse::{FloodConfig, FloodDetector};
    /// use antirelou_core::Money;
    /// let d = FloodDetector::new(FloodConfig::default()).unwrap();
    /// // €60 left, €0.10 a lesson: 600 lessons over one hour, 10 a minute.
    /// d.update_budget(Money::from_units_f64(60.0), Money::from_units_f64(0.10));
    /// assert_eq!(d.affordable_per_bucket(), Some(10));
    /// ```
    pub fn update_budget(&self, remaining: Money, lesson_cost: Money) {
        if lesson_cost.micros() <= 0 {
            self.set_affordable_per_bucket(None);
            return;
        }
        let lessons = remaining.micros().max(0) as u128 / lesson_cost.micros() as u128;
        let horizon = self.config.budget_horizon.as_millis().max(1);
        let per_bucket = lessons * self.bucket_ms as u128 / horizon;
        self.set_affordable_per_bucket(Some(u64::try_from(per_bucket).unwrap_or(u64::MAX - 1)));
    }

    /// The current budget limit in new senders per bucket.
    pub fn affordable_per_bucket(&self) -> Option<u64> {
        let a = self.affordable.load(Ordering::Relaxed);
        (a != NO_LIMIT).then_some(a)
    }

    /// The state of one of our numbers.
    pub fn status(&self, number_key: u64) -> FloodStatus {
        let s = self.state(number_key, false);
        FloodStatus {
            degraded: s.degraded.load(Ordering::Relaxed),
            baseline: f64::from_bits(s.baseline.load(Ordering::Relaxed)),
            trips: s.trips.load(Ordering::Relaxed),
        }
    }

    #[inline]
    fn state(&self, number_key: u64, insert: bool) -> &NumberState {
        let tag = number_key.wrapping_add(1).max(1);
        let n = self.keys.len();
        let mut i = (mix(number_key ^ self.seed) as usize) & (n - 1);
        for _ in 0..n {
            let k = self.keys[i].load(Ordering::Acquire);
            if k == tag {
                return &self.states[i];
            }
            if k == 0 {
                if !insert {
                    break;
                }
                match self.keys[i].compare_exchange(0, tag, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return &self.states[i],
                    Err(k) if k == tag => return &self.states[i],
                    Err(_) => {}
                }
            }
            i = (i + 1) & (n - 1);
        }
        &self.states[n]
    }

    /// Start a new bucket when `at` is past the current one, judging the finished one.
    #[inline]
    fn roll(&self, s: &NumberState, at: i64) {
        if at < s.bucket_end.load(Ordering::Acquire) {
            return;
        }
        self.roll_slow(s, at);
    }

    #[cold]
    fn roll_slow(&self, s: &NumberState, at: i64) {
        let b = at.div_euclid(self.bucket_ms);
        let cur = s.bucket.load(Ordering::Acquire);
        if cur != UNSET && b <= cur {
            return;
        }
        if s.bucket
            .compare_exchange(cur, b, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        s.bucket_end.store(
            b.saturating_add(1).saturating_mul(self.bucket_ms),
            Ordering::Release,
        );
        let senders = s.senders();
        let messages: u64 = s
            .messages
            .iter()
            .map(|m| m.0.swap(0, Ordering::Relaxed))
            .sum();
        for r in s.registers.iter().flat_map(|s| s.0.iter()) {
            r.store(0, Ordering::Relaxed);
        }
        if cur == UNSET {
            return;
        }
        self.judge(s, cur, senders, messages, true);
        // Buckets without traffic are calm.
        let empty = (b - cur - 1).clamp(0, 100_000);
        if empty > 0 {
            let calm = s.calm.fetch_add(empty as u32, Ordering::Relaxed) + empty as u32;
            if s.degraded.load(Ordering::Relaxed) {
                if calm >= self.config.calm_buckets {
                    s.degraded.store(false, Ordering::Relaxed);
                    s.calm.store(0, Ordering::Relaxed);
                }
            } else {
                let base = f64::from_bits(s.baseline.load(Ordering::Relaxed));
                let decayed = base * (1.0 - self.config.baseline_alpha).powi(empty as i32);
                s.baseline.store(decayed.to_bits(), Ordering::Relaxed);
            }
        }
    }

    /// Judge a bucket's figures; `complete` when the bucket is over (otherwise only a trip can
    /// happen).
    fn judge(&self, s: &NumberState, bucket: i64, senders: f64, messages: u64, complete: bool) {
        let baseline = f64::from_bits(s.baseline.load(Ordering::Relaxed));
        let threshold = (self.config.surge_factor * baseline).max(f64::from(self.config.min_surge));
        let surge = senders >= threshold;
        let per_sender = messages as f64 / senders.max(1.0);
        let affordable = self.affordable.load(Ordering::Relaxed);
        let over_budget = affordable != NO_LIMIT && senders > affordable as f64;
        let flood = surge && (per_sender >= self.config.flood_messages_per_sender || over_budget);
        if flood {
            s.calm.store(0, Ordering::Relaxed);
            s.last_flood_bucket.fetch_max(bucket, Ordering::Relaxed);
            if !s.degraded.swap(true, Ordering::Relaxed) {
                s.trips.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        if !complete {
            return;
        }
        if s.degraded.load(Ordering::Relaxed) {
            let calm = s.calm.fetch_add(1, Ordering::Relaxed) + 1;
            if calm >= self.config.calm_buckets {
                s.degraded.store(false, Ordering::Relaxed);
                s.calm.store(0, Ordering::Relaxed);
            }
        } else {
            let next = baseline + self.config.baseline_alpha * (senders - baseline);
            s.baseline.store(next.to_bits(), Ordering::Relaxed);
        }
    }

    #[inline]
    fn thinned(&self, sender_key: u64) -> Decision {
        let k = self.config.degraded_keep_one_in;
        if k > 0 && mix(sender_key ^ self.seed).is_multiple_of(u64::from(k)) {
            Decision::Allow
        } else {
            Decision::Defer(Reason::FloodDegraded)
        }
    }

    #[inline]
    fn count_message(&self, s: &NumberState, c: &Contact, stripe: usize) {
        let m = s.messages[stripe].0.fetch_add(1, Ordering::Relaxed) + 1;
        if m.is_multiple_of(64) {
            self.judge(
                s,
                c.at.as_millis().div_euclid(self.bucket_ms),
                s.senders(),
                s.messages(),
                false,
            );
        }
    }
}

impl AbusePolicy for FloodDetector {
    /// The budget left and the real cost of a lesson ([`update_budget`](Self::update_budget));
    /// no cap: no budget limit.
    fn on_spend(&self, spend: &SpendUpdate) {
        match spend.budget_left() {
            Some(left) => self.update_budget(left, spend.lesson_cost()),
            None => self.set_affordable_per_bucket(None),
        }
    }

    #[inline]
    fn check(&self, c: &Contact) -> Decision {
        if c.channel == Channel::Voice {
            return Decision::Allow;
        }
        let s = self.state(c.number_key, true);
        self.roll(s, c.at.as_millis());
        let h = mix(c.sender_key ^ self.seed.rotate_left(29));
        let idx = (h as usize) & (REGISTERS - 1);
        let rho = ((h >> 6).trailing_zeros() + 1).min(58) as u8;
        let stripe = stripe();
        let reg = &s.registers[stripe % HLL_STRIPES].0[idx];
        if reg.load(Ordering::Relaxed) < rho {
            reg.fetch_max(rho, Ordering::Relaxed);
        }
        self.count_message(s, c, stripe);
        if s.degraded.load(Ordering::Relaxed) {
            self.thinned(c.sender_key)
        } else {
            Decision::Allow
        }
    }

    /// 1 for a text to a number in degraded mode (a new sender during a flood), else 0: among
    /// deferred lessons, those of senders who came in ordinary times go first, so the backlog of
    /// a flood does not take the budget from the men who text after it.
    fn defer_rank(&self, c: &Contact, _: Option<TextFingerprint>) -> u8 {
        u8::from(c.channel == Channel::Sms && self.status(c.number_key).degraded)
    }

    fn recheck(&self, c: &Contact) -> Decision {
        if c.channel == Channel::Voice {
            return Decision::Allow;
        }
        let s = self.state(c.number_key, false);
        let b = c.at.as_millis().div_euclid(self.bucket_ms);
        let last = s.last_flood_bucket.load(Ordering::Relaxed);
        // Degraded, and not stale: a flood was seen within the calm period.
        if s.degraded.load(Ordering::Relaxed)
            && last != UNSET
            && b - last <= i64::from(self.config.calm_buckets)
        {
            self.thinned(c.sender_key)
        } else {
            Decision::Allow
        }
    }
}

impl ChainObserver for FloodDetector {
    #[inline]
    fn observe(&self, c: &Contact, decision: Decision) {
        if c.channel == Channel::Sms
            && matches!(
                decision,
                Decision::Deny(Reason::AlreadyTaught | Reason::BurstRaid)
            )
        {
            let s = self.state(c.number_key, true);
            self.roll(s, c.at.as_millis());
            self.count_message(s, c, stripe());
        }
    }
}
