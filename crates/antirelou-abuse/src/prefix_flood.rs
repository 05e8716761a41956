//! [`PrefixFloodGuard`]: many distinct senders from one number block in a short time block that
//! block, the way Twilio's Fraud Guard does (12 hours, renewed while the attack goes on).
//!
//! A *block* is every number sharing all digits but the last `block_digits` (4 by default: a
//! block of 10,000 consecutive numbers, the typical shape of a SIM farm or a pumping range).
//!
//! Memory is fixed: a table of `2 × sets` entries (two-way set associative, one cache line per
//! set). Each entry holds the block, a window epoch, and two 64-bit *linear counting* bitmaps
//! (distinct senders in the current and the previous window) from which a sliding-window
//! estimate of distinct senders is taken: `current + previous × (1 − elapsed fraction)`. A
//! sender repeating itself sets the same bit and is not counted twice.
//!
//! # Against what a block is judged
//! A fixed count is not enough: when spoofed senders are spread over every range, ordinary
//! ranges pass any fixed count by chance, and blocking them blocks the innocent men of those
//! ranges. So the guard also keeps the *normal rate of blocks*: the mean number of distinct
//! senders per block active in the window (per-thread counters, read only when a block is a
//! candidate). A block is denied [`Reason::PrefixFlood`] when its estimate reaches both the
//! fixed `threshold` and `normal_factor ×` that mean (at most 100): a pumped range stands out
//! from the others, a range that is as busy as every other one does not. It stays blocked until
//! `at + block_for`, and every contact that keeps the estimate above the limit pushes that end
//! further, except during a **global flood** (`normal_factor ×` the mean above `threshold`: the
//! whole number space is sending at once), when blocks run out `block_for` after they began.
//! [`PrefixFloodGuard::normal_rate`], [`PrefixFloodGuard::spared`] and
//! [`PrefixFloodGuard::unrenewed`] show what it decided.
//!
//! What it cannot tell: a pumping of many ranges at once, with no ordinary traffic beside it,
//! raises the normal rate itself; those ranges are then judged as a global flood (the flood
//! detector and the budget still bound the spend).
//!
//! When both entries of a set are busy blocking, a third block mapping there is not tracked
//! (allowed): blocked entries are never evicted by other traffic.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use antirelou_core::clock::Timestamp;
use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason, TextFingerprint};
use serde::{Deserialize, Serialize};

use crate::AbuseError;
use crate::chain::Prefetch;
use crate::util::{FastDiv, POW10, Padded, STRIPES, mix, seed_or_random, stripe};

const TAG_BITS: u32 = 40;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
const EPOCH_MASK: u64 = (1 << (64 - TAG_BITS)) - 1;
const SEED_SALT: u64 = 0x9e_f1a0d;
/// The highest count a block must reach, whatever the normal rate: a 64-bit linear counter
/// still estimates 100 within about 15 %.
const MAX_LIMIT: f32 = 100.0;

#[derive(Debug, Default)]
struct Way {
    /// `block + 1` in the low 40 bits, the window epoch (mod 2^24) above.
    tag: AtomicU64,
    cur: AtomicU64,
    prev: AtomicU64,
    blocked_until: AtomicI64,
}

#[derive(Debug, Default)]
#[repr(align(64))]
struct Set([Way; 2]);

/// Settings of the [`PrefixFloodGuard`]. In a file (see [`PolicySettings`](crate::PolicySettings))
/// every key is optional and durations are humantime strings (`"10m"`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrefixFloodConfig {
    /// A block is every number sharing all digits but the last `block_digits` (default 4).
    pub block_digits: u32,
    /// Sliding window of the distinct-sender count (default 10 minutes).
    #[serde(with = "crate::settings::humantime_duration")]
    pub window: Duration,
    /// Distinct senders of one block within the window that trigger a block (default 16;
    /// between 2 and 100, the range where a 64-bit linear counter is accurate). It is a floor:
    /// see `normal_factor`.
    pub threshold: u32,
    /// A block is judged against the normal rate of blocks: it is blocked only when its
    /// distinct senders reach `normal_factor ×` the mean number of distinct senders per active
    /// block in the window (and at least `threshold`; at most 100). When that mean times the
    /// factor passes `threshold`, the whole number space is sending at once (a spoofed flood
    /// spread over every range): a *global flood*, during which blocks are not renewed.
    /// The mean is taken over the *other* active blocks, and only when there are at least
    /// `normal_min_blocks` of them: one range or a few pumped on a quiet number are judged by
    /// `threshold` alone. Default 4; `0` keeps the fixed threshold alone (the behaviour
    /// before).
    pub normal_factor: f64,
    /// Active blocks (besides the one judged) below which the normal rate is not used
    /// (default 32).
    pub normal_min_blocks: u32,
    /// Whether blocks are renewed during a global flood (default false: a block started then
    /// ends `block_for` after it started, so that ranges that only looked busy because
    /// everything was busy are not kept blocked for the evening).
    pub renew_in_global_flood: bool,
    /// How long a block lasts after the last contact that kept the count above the threshold
    /// (default 12 hours).
    #[serde(with = "crate::settings::humantime_duration")]
    pub block_for: Duration,
    /// Number of blocks tracked at once (default 262,144: 8 MiB).
    ///
    /// Most first contacts write their block's entry, so two threads deciding at once move
    /// entries between their caches. A table small enough for a core's cache (the earlier
    /// default, 16,384 entries in 512 KiB) keeps each entry in the cache of the core that wrote
    /// it last, and the other core must fetch it from there: on a virtual machine whose cores
    /// are far apart that is slower than a memory read. In a table larger than the caches an
    /// entry has usually left the writer's cache before the other core asks for it, and the
    /// chain's prefetch overlaps that read with the sender table's. The `abuse_scaling` binary of
    /// `antirelou-benches` measures the two-thread scaling of both sizes (figures in
    /// `docs/PERFORMANCE.md`).
    pub capacity: usize,
}

impl Default for PrefixFloodConfig {
    fn default() -> Self {
        PrefixFloodConfig {
            block_digits: 4,
            window: Duration::from_secs(600),
            threshold: 16,
            normal_factor: 4.0,
            normal_min_blocks: 32,
            renew_in_global_flood: false,
            block_for: Duration::from_secs(12 * 3600),
            capacity: 1 << 18,
        }
    }
}

/// Blocks number blocks that send from many distinct senders at once.
#[derive(Debug)]
pub struct PrefixFloodGuard {
    sets: Box<[Set]>,
    mask: usize,
    /// Divides by 10^block_digits.
    block: FastDiv,
    /// Divides by the window in ms.
    window: FastDiv,
    inv_window: f32,
    block_ms: i64,
    threshold: f32,
    /// `normal_factor` (0: the fixed threshold alone).
    normal_factor: f32,
    normal_min_blocks: f32,
    renew_in_global_flood: bool,
    /// The normal rate of blocks: distinct senders and active blocks per window, per thread.
    normal: Box<[Padded<WindowCounts>]>,
    /// Blocks that a global flood kept from being renewed.
    unrenewed: AtomicU64,
    /// Blocks that reached the fixed threshold but not the normal rate's.
    spared: AtomicU64,
    /// Linear-counting estimate for each number of zero bits.
    estimate: [f32; 65],
    seed: u64,
}

/// One thread's count of the current and the previous window: new distinct senders (a bit
/// set in a block's bitmap) and blocks active in the window (an entry claimed or rolled into
/// it). Each thread writes its own stripe, so plain loads and stores suffice (a stripe shared
/// by two threads may lose a count: these are statistics).
#[derive(Debug, Default)]
struct WindowCounts {
    epoch: AtomicU64,
    senders: AtomicU64,
    blocks: AtomicU64,
    prev_senders: AtomicU64,
    prev_blocks: AtomicU64,
}

impl WindowCounts {
    #[inline]
    fn add(&self, epoch: u64, senders: u64, blocks: u64) {
        let mine = self.epoch.load(Ordering::Relaxed);
        if epoch > mine {
            let consecutive = epoch == mine + 1;
            let s = self.senders.swap(0, Ordering::Relaxed);
            let b = self.blocks.swap(0, Ordering::Relaxed);
            self.prev_senders
                .store(if consecutive { s } else { 0 }, Ordering::Relaxed);
            self.prev_blocks
                .store(if consecutive { b } else { 0 }, Ordering::Relaxed);
            self.epoch.store(epoch, Ordering::Relaxed);
        }
        if senders > 0 {
            let v = self.senders.load(Ordering::Relaxed);
            self.senders.store(v + senders, Ordering::Relaxed);
        }
        if blocks > 0 {
            let v = self.blocks.load(Ordering::Relaxed);
            self.blocks.store(v + blocks, Ordering::Relaxed);
        }
    }
}

impl PrefixFloodGuard {
    /// A guard with these settings.
    pub fn new(config: PrefixFloodConfig) -> Result<Self, AbuseError> {
        Self::with_seed(config, None)
    }

    /// Like [`new`](Self::new), with the hashes seeded from `hash_seed` (`None`: random;
    /// `Some`: the same decisions for the same contacts, run after run).
    pub fn with_seed(
        config: PrefixFloodConfig,
        hash_seed: Option<u64>,
    ) -> Result<Self, AbuseError> {
        if !(1..=12).contains(&config.block_digits) {
            return Err(AbuseError::InvalidConfig(
                "prefix flood: block_digits must be within 1..=12",
            ));
        }
        if !(2..=100).contains(&config.threshold) {
            return Err(AbuseError::InvalidConfig(
                "prefix flood: threshold must be within 2..=100",
            ));
        }
        if !(config.normal_factor.is_finite() && config.normal_factor >= 0.0) {
            return Err(AbuseError::InvalidConfig(
                "prefix flood: normal_factor must be a finite number, at least 0",
            ));
        }
        let window_ms = i64::try_from(config.window.as_millis()).unwrap_or(i64::MAX);
        if window_ms < 1000 {
            return Err(AbuseError::InvalidConfig(
                "prefix flood: window must be at least a second",
            ));
        }
        let sets = (config.capacity.max(2) / 2).next_power_of_two();
        let mut estimate = [0f32; 65];
        for (z, e) in estimate.iter_mut().enumerate() {
            // n ≈ m·ln(m / zeros), m = 64 bits; a full bitmap counts as one zero bit.
            *e = (64.0 * (64.0 / (z.max(1) as f64)).ln()) as f32;
        }
        Ok(PrefixFloodGuard {
            sets: (0..sets).map(|_| Set::default()).collect(),
            mask: sets - 1,
            block: FastDiv::new(POW10[config.block_digits as usize]),
            window: FastDiv::new(window_ms as u64),
            inv_window: 1.0 / window_ms as f32,
            block_ms: i64::try_from(config.block_for.as_millis()).unwrap_or(i64::MAX / 4),
            threshold: config.threshold as f32,
            normal_factor: config.normal_factor as f32,
            normal_min_blocks: config.normal_min_blocks as f32,
            renew_in_global_flood: config.renew_in_global_flood,
            normal: (0..STRIPES).map(|_| Padded::default()).collect(),
            unrenewed: AtomicU64::new(0),
            spared: AtomicU64::new(0),
            estimate,
            seed: seed_or_random(hash_seed, SEED_SALT),
        })
    }

    /// Bytes of the table.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.sets)
    }

    /// The block of a sender key (its digits but the last `block_digits`).
    pub fn block_of(&self, sender_key: u64) -> u64 {
        self.block.div(sender_key)
    }

    #[inline]
    fn set(&self, block: u64) -> &Set {
        &self.sets[(mix(block ^ self.seed) as usize) & self.mask]
    }

    /// Whether the block of `sender_key` is blocked at `at` (counts nothing).
    pub fn is_blocked(&self, sender_key: u64, at: Timestamp) -> bool {
        let block = self.block_of(sender_key);
        let t = (block + 1) & TAG_MASK;
        self.set(block).0.iter().any(|w| {
            w.tag.load(Ordering::Acquire) & TAG_MASK == t
                && w.blocked_until.load(Ordering::Relaxed) > at.as_millis()
        })
    }

    /// Blocks currently blocked at `now`, with the end of each block (for the operator console).
    pub fn blocked(&self, now: Timestamp) -> Vec<(u64, Timestamp)> {
        let mut out = Vec::new();
        for set in self.sets.iter() {
            for w in &set.0 {
                let until = w.blocked_until.load(Ordering::Relaxed);
                let tag = w.tag.load(Ordering::Acquire) & TAG_MASK;
                if tag != 0 && until > now.as_millis() {
                    out.push((tag - 1, Timestamp::from_millis(until)));
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// The distinct senders (weighted as a block's count is: the current window, plus the
    /// previous one weighted by `1 − frac`) and the blocks active in the busier of the two
    /// windows (a block active in both is one block), over every block, in the sliding window
    /// ending in `epoch` at `frac` of it.
    fn normal_at(&self, epoch: u64, frac: f32) -> (f32, f32) {
        let (mut s_cur, mut s_prev, mut b_cur, mut b_prev) = (0u64, 0u64, 0u64, 0u64);
        for w in self.normal.iter() {
            let w = &w.0;
            let e = w.epoch.load(Ordering::Relaxed);
            let (s, b) = (
                w.senders.load(Ordering::Relaxed),
                w.blocks.load(Ordering::Relaxed),
            );
            if e == epoch {
                s_cur += s;
                b_cur += b;
                s_prev += w.prev_senders.load(Ordering::Relaxed);
                b_prev += w.prev_blocks.load(Ordering::Relaxed);
            } else if e + 1 == epoch {
                s_prev += s;
                b_prev += b;
            }
        }
        (
            s_cur as f32 + s_prev as f32 * (1.0 - frac),
            b_cur.max(b_prev) as f32,
        )
    }

    /// The count that blocks a block whose own count is `own` now, and whether the number
    /// space is in a global flood: the mean of the *other* blocks, when there are enough.
    #[inline]
    fn limit(&self, epoch: u64, frac: f32, own: f32) -> (f32, bool) {
        if self.normal_factor <= 0.0 {
            return (self.threshold, false);
        }
        let (senders, blocks) = self.normal_at(epoch, frac);
        let others = blocks - 1.0;
        if others < self.normal_min_blocks.max(1.0) {
            return (self.threshold, false);
        }
        let mean = (senders - own).max(0.0) / others;
        let relative = self.normal_factor * mean;
        (
            relative.clamp(self.threshold, MAX_LIMIT),
            relative > self.threshold,
        )
    }

    /// The mean number of distinct senders per active block in the window at `at` (the normal
    /// rate a block is judged against), and whether that is a global flood (`normal_factor ×`
    /// the mean passes `threshold`, over at least `normal_min_blocks` blocks): for the operator
    /// console.
    pub fn normal_rate(&self, at: Timestamp) -> (f64, bool) {
        let (epoch, into) = self.window.div_rem(at.as_millis().max(0) as u64);
        let frac = into as f32 * self.inv_window;
        let (senders, blocks) = self.normal_at(epoch, frac);
        let mean = if blocks < 1.0 { 0.0 } else { senders / blocks };
        (f64::from(mean), self.limit(epoch, frac, mean).1)
    }

    /// How many times a blocked block met its count during a global flood and was not renewed.
    pub fn unrenewed(&self) -> u64 {
        self.unrenewed.load(Ordering::Relaxed)
    }

    /// How many contacts reached the fixed threshold but not `normal_factor ×` the normal
    /// rate, and were allowed.
    pub fn spared(&self) -> u64 {
        self.spared.load(Ordering::Relaxed)
    }

    #[inline]
    fn count(&self, c: &Contact) -> Decision {
        let at = c.at.as_millis();
        let block = self.block_of(c.sender_key);
        let t = (block + 1) & TAG_MASK;
        let at_pos = at.max(0);
        let (epoch_index, into_window) = self.window.div_rem(at_pos as u64);
        let epoch = epoch_index & EPOCH_MASK;
        let set = self.set(block);
        let tag0 = set.0[0].tag.load(Ordering::Acquire);
        let tag1 = set.0[1].tag.load(Ordering::Acquire);
        let (way, tag) = if tag0 & TAG_MASK == t {
            (&set.0[0], tag0)
        } else if tag1 & TAG_MASK == t {
            (&set.0[1], tag1)
        } else {
            // Claim an entry that is not blocking: the one that counted fewer senders (so that
            // one-off senders of other blocks cannot push out a block under attack), else the
            // one with the older epoch.
            let free0 = set.0[0].blocked_until.load(Ordering::Relaxed) <= at;
            let free1 = set.0[1].blocked_until.load(Ordering::Relaxed) <= at;
            let weight = |w: &Way, tag: u64| {
                let fresh = (epoch.wrapping_sub(tag >> TAG_BITS) & EPOCH_MASK) <= 1;
                let n = w.cur.load(Ordering::Relaxed).count_ones()
                    + w.prev.load(Ordering::Relaxed).count_ones();
                (if fresh { n } else { 0 }, tag >> TAG_BITS)
            };
            let (way, old) = match (free0, free1) {
                (true, true) if weight(&set.0[0], tag0) <= weight(&set.0[1], tag1) => {
                    (&set.0[0], tag0)
                }
                (true, true) | (false, true) => (&set.0[1], tag1),
                (true, false) => (&set.0[0], tag0),
                (false, false) => return Decision::Allow,
            };
            let new = (epoch << TAG_BITS) | t;
            if way
                .tag
                .compare_exchange(old, new, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                // Someone else claimed it first: not tracked this time.
                return Decision::Allow;
            }
            way.cur.store(0, Ordering::Relaxed);
            way.prev.store(0, Ordering::Relaxed);
            way.blocked_until.store(0, Ordering::Relaxed);
            self.normal[stripe()].0.add(epoch_index, 0, 1);
            (way, new)
        };
        // Roll the window when this contact is in a later epoch.
        let way_epoch = tag >> TAG_BITS;
        if epoch != way_epoch && epoch.wrapping_sub(way_epoch) & EPOCH_MASK < EPOCH_MASK / 2 {
            let new = (epoch << TAG_BITS) | t;
            if way
                .tag
                .compare_exchange(tag, new, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                let cur = way.cur.swap(0, Ordering::Relaxed);
                let consecutive = epoch.wrapping_sub(way_epoch) & EPOCH_MASK == 1;
                way.prev
                    .store(if consecutive { cur } else { 0 }, Ordering::Relaxed);
                self.normal[stripe()].0.add(epoch_index, 0, 1);
            }
        }
        let bit = 1u64 << (mix(c.sender_key ^ self.seed.rotate_left(17)) & 63);
        let mut cur = way.cur.load(Ordering::Relaxed);
        if cur & bit == 0 {
            let before = way.cur.fetch_or(bit, Ordering::Relaxed);
            if before & bit == 0 {
                self.normal[stripe()].0.add(epoch_index, 1, 0);
            }
            cur = before | bit;
        }
        let prev = way.prev.load(Ordering::Relaxed);
        let frac = into_window as f32 * self.inv_window;
        let n = self.estimate[cur.count_zeros() as usize]
            + self.estimate[prev.count_zeros() as usize] * (1.0 - frac);
        if n >= self.threshold {
            // Only a candidate pays for reading the normal rate (a sum over the stripes).
            let (limit, global) = self.limit(epoch_index, frac, n);
            if n >= limit {
                let blocked = way.blocked_until.load(Ordering::Relaxed) > at;
                if blocked && global && !self.renew_in_global_flood {
                    self.unrenewed.fetch_add(1, Ordering::Relaxed);
                } else {
                    let until = at.saturating_add(self.block_ms);
                    way.blocked_until.fetch_max(until, Ordering::Relaxed);
                }
                return Decision::Deny(Reason::PrefixFlood);
            }
            self.spared.fetch_add(1, Ordering::Relaxed);
        }
        if way.blocked_until.load(Ordering::Relaxed) > at {
            return Decision::Deny(Reason::PrefixFlood);
        }
        Decision::Allow
    }
}

impl AbusePolicy for PrefixFloodGuard {
    #[inline]
    fn check(&self, contact: &Contact) -> Decision {
        self.count(contact)
    }

    fn recheck(&self, contact: &Contact) -> Decision {
        if self.is_blocked(contact.sender_key, contact.at) {
            Decision::Deny(Reason::PrefixFlood)
        } else {
            Decision::Allow
        }
    }

    /// 1 for a sender whose block is not behaving like an ordinary one (blocked at some point
    /// while tracked, or half-way to the threshold now), else 0: among deferred lessons, a
    /// number from a range with a normal history goes first.
    fn defer_rank(&self, contact: &Contact, _: Option<TextFingerprint>) -> u8 {
        u8::from(self.unusual(contact.sender_key, contact.at))
    }
}

impl PrefixFloodGuard {
    /// Whether the block of `sender_key` was blocked while tracked or has at least half the
    /// threshold of distinct senders in the window at `at` (counts nothing).
    fn unusual(&self, sender_key: u64, at: Timestamp) -> bool {
        let block = self.block_of(sender_key);
        let t = (block + 1) & TAG_MASK;
        let (epoch_index, _) = self.window.div_rem(at.as_millis().max(0) as u64);
        let epoch = epoch_index & EPOCH_MASK;
        self.set(block).0.iter().any(|w| {
            let tag = w.tag.load(Ordering::Acquire);
            if tag & TAG_MASK != t {
                return false;
            }
            if w.blocked_until.load(Ordering::Relaxed) != 0 {
                return true;
            }
            let fresh = epoch.wrapping_sub(tag >> TAG_BITS) & EPOCH_MASK <= 1;
            let n = self.estimate[w.cur.load(Ordering::Relaxed).count_zeros() as usize]
                + self.estimate[w.prev.load(Ordering::Relaxed).count_zeros() as usize];
            fresh && n >= self.threshold * 0.5
        })
    }
}

impl Prefetch for PrefixFloodGuard {
    #[inline]
    fn prefetch(&self, c: &Contact) -> u64 {
        self.set(self.block_of(c.sender_key)).0[0]
            .tag
            .load(Ordering::Relaxed)
    }
}
