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
//! sender repeating itself sets the same bit and is not counted twice. When the estimate reaches
//! the threshold, the block is denied [`Reason::PrefixFlood`] until `at + block_for`, and every
//! contact that keeps the estimate above the threshold pushes that end further.
//!
//! When both entries of a set are busy blocking, a third block mapping there is not tracked
//! (allowed): blocked entries are never evicted by other traffic.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use antirelou_core::clock::Timestamp;
use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason};

use crate::AbuseError;
use crate::chain::Prefetch;
use crate::util::{FastDiv, POW10, mix, seed_or_random};

const TAG_BITS: u32 = 40;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
const EPOCH_MASK: u64 = (1 << (64 - TAG_BITS)) - 1;
const SEED_SALT: u64 = 0x9e_f1a0d;

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

/// Settings of the [`PrefixFloodGuard`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PrefixFloodConfig {
    /// A block is every number sharing all digits but the last `block_digits` (default 4).
    pub block_digits: u32,
    /// Sliding window of the distinct-sender count (default 10 minutes).
    pub window: Duration,
    /// Distinct senders of one block within the window that trigger a block (default 16;
    /// between 2 and 100, the range where a 64-bit linear counter is accurate).
    pub threshold: u32,
    /// How long a block lasts after the last contact that kept the count above the threshold
    /// (default 12 hours).
    pub block_for: Duration,
    /// Number of blocks tracked at once (default 262,144: 8 MiB).
    ///
    /// Most first contacts write their block's entry, so two threads deciding at once move
    /// entries between their caches. A table small enough for a core's cache (the earlier
    /// default, 16,384 entries in 512 KiB) keeps each entry in the cache of the core that wrote
    /// it last, and the other core must fetch it from there: on a virtual machine whose cores
    /// are far apart that is slower than a memory read. In a table larger than the caches an
    /// entry has usually left the writer's cache before the other core asks for it, and the
    /// chain's prefetch overlaps that read with the sender table's. Measured with
    /// `abuse_scaling` (interleaved pairs, five alternated runs, medians at 1 and 10 million
    /// senders): two-thread scaling of the default chain 1.71–1.84 with 262,144 entries against
    /// 1.14–1.81 with 16,384; one thread about 3 % slower at 10 million senders. In the host's
    /// slow phases (when governor's own scaling falls to 1.0–1.4) the chain's falls too.
    pub capacity: usize,
}

impl Default for PrefixFloodConfig {
    fn default() -> Self {
        PrefixFloodConfig {
            block_digits: 4,
            window: Duration::from_secs(600),
            threshold: 16,
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
    /// Linear-counting estimate for each number of zero bits.
    estimate: [f32; 65],
    seed: u64,
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
            }
        }
        let bit = 1u64 << (mix(c.sender_key ^ self.seed.rotate_left(17)) & 63);
        let mut cur = way.cur.load(Ordering::Relaxed);
        if cur & bit == 0 {
            cur = way.cur.fetch_or(bit, Ordering::Relaxed) | bit;
        }
        let prev = way.prev.load(Ordering::Relaxed);
        let frac = into_window as f32 * self.inv_window;
        let n = self.estimate[cur.count_zeros() as usize]
            + self.estimate[prev.count_zeros() as usize] * (1.0 - frac);
        if n >= self.threshold {
            let until = at.saturating_add(self.block_ms);
            way.blocked_until.fetch_max(until, Ordering::Relaxed);
            return Decision::Deny(Reason::PrefixFlood);
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
}

impl Prefetch for PrefixFloodGuard {
    #[inline]
    fn prefetch(&self, c: &Contact) -> u64 {
        self.set(self.block_of(c.sender_key)).0[0]
            .tag
            .load(Ordering::Relaxed)
    }
}
