//! [`RecentSenders`]: the in-memory accelerator of "one lesson per sender per window".
//!
//! The durable store's [`SenderHistory::try_begin_lesson`] is the source of truth. This table
//! only short-cuts repeats it is **sure** of, so that a flood of repeats never reaches the
//! database:
//!
//! * It stores full sender keys (never fingerprints), so a hit is never a false positive: a
//!   sender is denied [`Reason::AlreadyTaught`] only if this very key began a lesson within the
//!   window. Anything it does not know (never seen, evicted, after a restart) is allowed and goes
//!   to the durable check.
//! * Memory is fixed at construction: 8 bytes a slot (plus one of summary), in buckets of 8 slots on one cache line
//!   (one memory miss per lookup). When a bucket is full the oldest entry is evicted: under a
//!   flood of millions of distinct senders memory stays flat and evicted senders simply fall
//!   back to the durable check.
//!
//! * Two filters in front of the buckets tell at once that a sender is certainly absent, which
//!   is the common case of a flood of new senders, without touching the large table: a small
//!   Bloom filter (one bit per two slots, 256 KiB for the default 4 Mi slots, which stays in the
//!   L2 cache) in two generations of one window each (a generation is cleared when the one after
//!   the next begins: everything it held is older than the window by then), and a *summary* of
//!   one tag byte per slot (4 MiB). The bucket is read only when both say "maybe"; a hit is
//!   always confirmed on the full key. A filter that misses a key (a race with an insertion, a
//!   generation being cleared) only sends that sender to the durable check.
//!
//! A slot packs the 50-bit key (15 E.164 digits fit in 50 bits) with a 14-bit time stamp in
//! units of `window / 720` (an hour for 30 days) counted from a base instant. When the stamps
//! would overflow (after about 22 windows), the table clears itself once and starts a new base.
//! A denial is only given when the elapsed time, rounded up to whole units, is within the window.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use antirelou_core::clock::Timestamp;
use antirelou_core::event::Channel;
use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason};
use antirelou_core::privacy::SenderHash;
use antirelou_core::store::SenderHistory;

use crate::chain::{ChainObserver, Prefetch};
use crate::util::{MAX_KEY, mix, seed_or_random};

const KEY_BITS: u32 = 50;
const KEY_MASK: u64 = (1 << KEY_BITS) - 1;
const TIME_MAX: u64 = (1 << (64 - KEY_BITS)) - 1;
const UNSET: i64 = i64::MIN;
const REBASING: i64 = i64::MIN + 1;
const CLEARING: i64 = i64::MIN + 2;
const WAYS: usize = 8;
const SEED_SALT: u64 = 0x2ece_0717;

#[derive(Debug, Default)]
#[repr(align(64))]
struct Bucket([AtomicU64; WAYS]);

/// A fixed-capacity table of senders who began a lesson recently.
///
/// In a [`PolicyChain`](crate::PolicyChain) it is both a policy (denies repeats it is sure of)
/// and an observer (remembers every sender the whole chain allowed by SMS: the engine is about
/// to take their lesson slot in the durable store).
///
/// ```
/// use antirelou_abuse::RecentSenders;
/// use antirelou_core::Timestamp;
/// use std::time::Duration;
/// let recent = RecentSenders::new(1 << 10, Duration::from_secs(30 * 86_400));
/// let t = Timestamp::from_secs(1_000_000);
/// assert!(!recent.contains(33_612_345_678, t));
/// recent.mark_taught(33_612_345_678, t);
/// assert!(recent.contains(33_612_345_678, t.add(Duration::from_secs(29 * 86_400))));
/// assert!(!recent.contains(33_612_345_678, t.add(Duration::from_secs(30 * 86_400))));
/// ```
#[derive(Debug)]
pub struct RecentSenders {
    buckets: Box<[Bucket]>,
    /// One tag byte per slot of each bucket (0: empty).
    summary: Box<[AtomicU64]>,
    /// Bloom bits of the two generations, interleaved: word `2w + half`.
    bloom: Box<[AtomicU64]>,
    /// The generation (window index) each half holds, or `CLEARING`.
    bloom_gen: [AtomicI64; 2],
    /// The start (ms) of the generation each half holds; `i64::MAX` when it holds none.
    bloom_start: [AtomicI64; 2],
    bloom_mask: u64,
    window_ms: i64,
    mask: usize,
    unit_ms: i64,
    window_units: u64,
    window: Duration,
    base_ms: AtomicI64,
    seed: u64,
}

impl RecentSenders {
    /// A table of about `capacity` senders (rounded up to a power of two, at least 8; 9 bytes
    /// each) for a lesson window of `window`.
    pub fn new(capacity: usize, window: Duration) -> Self {
        Self::with_seed(capacity, window, None)
    }

    /// Like [`new`](Self::new), with the table's hashes seeded from `hash_seed` (`None`:
    /// random; `Some`: reproducible placement and evictions).
    pub fn with_seed(capacity: usize, window: Duration, hash_seed: Option<u64>) -> Self {
        let buckets = (capacity.max(WAYS) / WAYS).next_power_of_two();
        let window_ms = i64::try_from(window.as_millis())
            .unwrap_or(i64::MAX / 4)
            .max(1);
        let unit_ms = (window_ms / 720).max(1);
        RecentSenders {
            buckets: (0..buckets).map(|_| Bucket::default()).collect(),
            summary: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
            // `buckets * 4` bits per generation (one per two slots), 2 generations.
            bloom: (0..(buckets * 4 / 64).max(1) * 2)
                .map(|_| AtomicU64::new(0))
                .collect(),
            bloom_gen: [AtomicI64::new(UNSET), AtomicI64::new(UNSET)],
            bloom_start: [AtomicI64::new(i64::MAX), AtomicI64::new(i64::MAX)],
            bloom_mask: ((buckets * 4).max(64) - 1) as u64,
            window_ms,
            mask: buckets - 1,
            unit_ms,
            window_units: u64::try_from(window_ms / unit_ms)
                .unwrap_or(0)
                .min(TIME_MAX / 2),
            window,
            base_ms: AtomicI64::new(UNSET),
            seed: seed_or_random(hash_seed, SEED_SALT),
        }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.buckets.len() * WAYS
    }

    /// Bytes of the table.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets)
            + std::mem::size_of_val(&*self.summary)
            + std::mem::size_of_val(&*self.bloom)
    }

    /// The lesson window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The bucket index and the tag of a key.
    #[inline]
    fn place(&self, key: u64) -> (usize, u8) {
        let h = mix(key ^ self.seed);
        ((h as usize) & self.mask, ((h >> 56) as u8).max(1))
    }

    /// The Bloom word (of generation half 0) and bit of a key.
    #[inline]
    fn bloom_place(&self, key: u64) -> (usize, u64) {
        let bit = mix(key ^ self.seed).rotate_right(24) & self.bloom_mask;
        ((bit / 64) as usize * 2, 1 << (bit % 64))
    }

    #[inline]
    fn generation(&self, at: Timestamp) -> i64 {
        at.as_millis().div_euclid(self.window_ms)
    }

    /// Whether the Bloom filter may hold `key` at `at`: a half counts if it holds the generation
    /// of `at` or the one before, that is if `at` is within two windows of its start.
    #[inline]
    fn bloom_maybe(&self, key: u64, at: Timestamp) -> bool {
        let (w, bit) = self.bloom_place(key);
        let at = at.as_millis();
        (0..2).any(|half| {
            let start = self.bloom_start[half].load(Ordering::Acquire);
            at >= start
                && at.saturating_sub(start) < self.window_ms.saturating_mul(2)
                && self.bloom[w + half].load(Ordering::Relaxed) & bit != 0
        })
    }

    /// Set `key`'s Bloom bit in the generation of `at`, clearing that half first when it holds
    /// a generation older than the window.
    fn bloom_insert(&self, key: u64, at: Timestamp) {
        let g = self.generation(at);
        let half = g.rem_euclid(2) as usize;
        let hg = self.bloom_gen[half].load(Ordering::Acquire);
        if hg != g {
            if hg == CLEARING || hg > g {
                return;
            }
            if self.bloom_gen[half]
                .compare_exchange(hg, CLEARING, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return;
            }
            self.bloom_start[half].store(i64::MAX, Ordering::Release);
            for w in self.bloom.iter().skip(half).step_by(2) {
                w.store(0, Ordering::Relaxed);
            }
            self.bloom_start[half].store(g.saturating_mul(self.window_ms), Ordering::Release);
            self.bloom_gen[half].store(g, Ordering::Release);
        }
        let (w, bit) = self.bloom_place(key);
        self.bloom[w + half].fetch_or(bit, Ordering::Relaxed);
    }

    #[inline]
    fn bucket(&self, key: u64) -> &Bucket {
        &self.buckets[self.place(key).0]
    }

    /// Whether some slot of bucket `b` may hold a key with tag `tag`.
    #[inline]
    fn maybe(&self, b: usize, tag: u8) -> bool {
        const ONES: u64 = 0x0101_0101_0101_0101;
        let x = self.summary[b].load(Ordering::Relaxed) ^ (u64::from(tag) * ONES);
        x.wrapping_sub(ONES) & !x & (ONES << 7) != 0
    }

    fn set_tag(&self, b: usize, slot: usize, tag: u8) {
        let shift = slot * 8;
        let word = &self.summary[b];
        let mut old = word.load(Ordering::Relaxed);
        loop {
            let new = (old & !(0xff << shift)) | (u64::from(tag) << shift);
            if new == old {
                return;
            }
            match word.compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(o) => old = o,
            }
        }
    }

    /// `at` in units since `base`, `None` when the base is not usable.
    #[inline]
    fn units(&self, base: i64, at: Timestamp) -> Option<u64> {
        if base == UNSET || base == REBASING {
            return None;
        }
        Some(u64::try_from(at.as_millis().saturating_sub(base) / self.unit_ms).unwrap_or(0))
    }

    /// Whether `key` surely began a lesson within the window before `at`.
    #[inline]
    pub fn contains(&self, key: u64, at: Timestamp) -> bool {
        if key == 0 || key > MAX_KEY {
            return false;
        }
        if !self.bloom_maybe(key, at) {
            return false;
        }
        let (b, tag) = self.place(key);
        if !self.maybe(b, tag) {
            return false;
        }
        let bucket = &self.buckets[b];
        let Some(now) = self.units(self.base_ms.load(Ordering::Acquire), at) else {
            return false;
        };
        if now > TIME_MAX {
            return false;
        }
        for slot in &bucket.0 {
            let v = slot.load(Ordering::Relaxed);
            if v & KEY_MASK == key {
                let age = now.saturating_sub(v >> KEY_BITS);
                return age < self.window_units;
            }
        }
        false
    }

    /// Remember that `key` began a lesson at `at` (the engine calls this when the durable store
    /// says the sender was already taught, to warm the table after a restart).
    pub fn mark_taught(&self, key: u64, at: Timestamp) {
        if key == 0 || key > MAX_KEY {
            return;
        }
        let mut base = self.base_ms.load(Ordering::Acquire);
        if base == UNSET {
            base = match self.base_ms.compare_exchange(
                UNSET,
                at.as_millis(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => at.as_millis(),
                Err(b) => b,
            };
        }
        let Some(now) = self.units(base, at) else {
            return;
        };
        if now > TIME_MAX {
            self.rebase(base, at);
            return;
        }
        let packed = (now << KEY_BITS) | key;
        let (b, tag) = self.place(key);
        let bucket = &self.buckets[b];
        // Same key: refresh. Else an empty slot. Else evict the oldest.
        let mut victim = 0;
        let mut oldest = u64::MAX;
        let mut chosen = None;
        for (i, slot) in bucket.0.iter().enumerate() {
            let v = slot.load(Ordering::Relaxed);
            if v & KEY_MASK == key {
                if (v >> KEY_BITS) < now {
                    let _ = slot.compare_exchange(v, packed, Ordering::Relaxed, Ordering::Relaxed);
                }
                self.set_tag(b, i, tag);
                self.bloom_insert(key, at);
                return;
            }
            if v == 0 {
                if chosen.is_none() {
                    chosen = Some((i, 0));
                }
                continue;
            }
            let t = v >> KEY_BITS;
            if t < oldest {
                oldest = t;
                victim = i;
            }
        }
        let (i, old) = chosen.unwrap_or_else(|| {
            // Ties (same stamp) are broken by the key's hash so that eviction spreads.
            let i = if oldest == now {
                (mix(key) as usize) % WAYS
            } else {
                victim
            };
            (i, bucket.0[i].load(Ordering::Relaxed))
        });
        // Losing a race only means this sender is not remembered: the durable store decides.
        if bucket.0[i]
            .compare_exchange(old, packed, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.set_tag(b, i, tag);
            self.bloom_insert(key, at);
        }
        if self.base_ms.load(Ordering::Acquire) != base {
            // A rebase happened meanwhile: the stamp is relative to the old base, take it back.
            let _ = bucket.0[i].compare_exchange(packed, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// Forget `key` (the engine calls this when the durable check failed, so that a sender is
    /// never remembered without a lesson slot).
    pub fn forget(&self, key: u64) {
        for slot in &self.bucket(key).0 {
            let v = slot.load(Ordering::Relaxed);
            if v != 0 && v & KEY_MASK == key {
                let _ = slot.compare_exchange(v, 0, Ordering::Relaxed, Ordering::Relaxed);
            }
        }
    }

    /// Clear the table and restart the stamps from `at`. Runs once every ~22 windows.
    #[cold]
    fn rebase(&self, base: i64, at: Timestamp) {
        if self
            .base_ms
            .compare_exchange(base, REBASING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        for b in self.buckets.iter() {
            for s in &b.0 {
                s.store(0, Ordering::Relaxed);
            }
        }
        for w in self.summary.iter() {
            w.store(0, Ordering::Relaxed);
        }
        self.base_ms.store(at.as_millis(), Ordering::Release);
    }

    /// The durable step, for an SMS contact the chain allowed: take the sender's lesson slot in
    /// `history` (the source of truth) and keep this table in line with the answer. Returns
    /// whether a lesson may be scheduled.
    ///
    /// On an error the sender is forgotten here (the chain had remembered them), so that the
    /// retry is decided by the store again.
    pub async fn begin_lesson(
        &self,
        history: &dyn SenderHistory,
        sender: &SenderHash,
        contact: &Contact,
    ) -> antirelou_core::Result<bool> {
        match history
            .try_begin_lesson(sender, self.window, contact.at)
            .await
        {
            Ok(taken) => {
                self.mark_taught(contact.sender_key, contact.at);
                Ok(taken)
            }
            Err(e) => {
                self.forget(contact.sender_key);
                Err(e)
            }
        }
    }
}

impl AbusePolicy for RecentSenders {
    #[inline]
    fn check(&self, c: &Contact) -> Decision {
        if c.channel == Channel::Sms && self.contains(c.sender_key, c.at) {
            Decision::Deny(Reason::AlreadyTaught)
        } else {
            Decision::Allow
        }
    }
    // `recheck` allows: at send time the sender is in the table because of this very lesson.
}

impl ChainObserver for RecentSenders {
    #[inline]
    fn observe(&self, c: &Contact, decision: Decision) {
        // A deferred lesson takes the sender's slot like an allowed one.
        if !decision.is_deny() && c.channel == Channel::Sms {
            self.mark_taught(c.sender_key, c.at);
        }
    }
}

impl Prefetch for RecentSenders {
    #[inline]
    fn prefetch(&self, c: &Contact) -> u64 {
        self.bloom[self.bloom_place(c.sender_key).0].load(Ordering::Relaxed)
    }
}
