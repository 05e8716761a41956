//! [`BurstGuard`]: many distinct senders each sending a burst of texts at once is a raid by
//! many numbers (a forum crowd, a few raiders with friends' phones), recognised from what the
//! senders do together.
//!
//! One lesson per sender already answers a number that repeats itself: its repeats cost
//! nothing. What it cannot answer is a raid that spreads its texts over thousands of numbers,
//! a few each: every number still gets its one lesson. This guard looks at two things.
//!
//! 1. **A burst, sender by sender**: `texts` texts (3 by default) from one sender within
//!    `within` (ten minutes) of his first. A man who insists sends a second text, often a
//!    third one later; three in ten minutes to a number that never answered is rarer.
//! 2. **A raid, all senders together**: the bursts of the last `window` (an hour; a sliding
//!    estimate of the current and previous windows, as the
//!    [`PrefixFloodGuard`](crate::PrefixFloodGuard) counts senders) reach both `min_bursts`
//!    and `normal_factor ×` the *normal* number of bursts per window (an exponentially
//!    weighted mean of the past windows that were not raids).
//!
//! Only a sender who bursts while a raid is on (from `within + window` before its first burst
//! over the limit to `window` after its last) is refused, [`Reason::BurstRaid`]: at once for
//! his texts from the burst on, and at send time ([`recheck`](AbusePolicy::recheck), an hour
//! later) for the lesson his first text scheduled, so that the first bursts of a raid, before
//! the count reached its limit, are caught too. A refused sender stays refused for `mark_for`
//! (24 hours) after his last text. One man's burst on an ordinary day is never refused: he gets
//! his one lesson.
//!
//! Memory is fixed: an eight-way set-associative table of `capacity` senders (8 bytes each:
//! 32 bits of a keyed hash of the number, a time and a count; one cache line a set); a new
//! sender takes a free entry of his set, else, of two entries picked by his hash, the one that
//! is not a live refusal, else the older (two, not all eight: scanning the line for the oldest
//! cost the chain about 5 % in `abuse_filter`). A sender
//! evicted before his burst is complete, or before his lesson's send-time check, is not judged
//! (allowed); under a flood of tens of thousands of new senders an hour entries live minutes,
//! and the guard sees little. Two senders of one set with the same tag (32 bits of the hash,
//! the lowest forced to 1) are taken for one: one chance in about 270 million per lookup.
//!
//! What it does not catch, honestly: raid numbers that send fewer than `texts` texts, or
//! spread them over more than `within`; a raid of fewer than `min_bursts` bursting numbers an
//! hour (the budget and the other policies bound it); a raid slow enough to raise the normal
//! rate it is judged against. What it may refuse: a man who sends `texts` texts within
//! `within` while a raid is on (the [`bursts`](BurstGuard::bursts) and
//! [`refused`](BurstGuard::refused) counters show how many senders that is); and, on a number
//! whose ordinary traffic has `min_bursts` bursts an hour or more from its first hour on, the
//! bursting men of that traffic: the normal rate learns only from hours that were not raids, so
//! it never learns that one (raise `min_bursts` above such a number's ordinary bursts).

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use antirelou_core::Timestamp;
use antirelou_core::event::Channel;
use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason};
use serde::{Deserialize, Serialize};

use crate::AbuseError;
use crate::chain::Prefetch;
use crate::util::{FastDiv, mix, seed_or_random};

const SEED_SALT: u64 = 0xb0a5_7ed5;
/// Weight of a closed window in the normal rate.
const NORMAL_WEIGHT: f32 = 0.125;

/// Settings of the [`BurstGuard`]. In a file (see [`PolicySettings`](crate::PolicySettings))
/// every key is optional and durations are humantime strings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BurstConfig {
    /// Texts from one sender within `within` of his first that make a burst (default 3;
    /// between 2 and 100).
    pub texts: u32,
    /// How soon after a sender's first text his burst must be complete (default ten minutes).
    #[serde(with = "crate::settings::humantime_duration")]
    pub within: Duration,
    /// Sliding window of the count of bursts (default one hour).
    #[serde(with = "crate::settings::humantime_duration")]
    pub window: Duration,
    /// Bursts within the window below which it is never a raid (default 10; at least 2).
    pub min_bursts: u32,
    /// A raid also needs this many times the normal number of bursts per window (default 4;
    /// between 1 and 100).
    pub normal_factor: f32,
    /// How long a refused sender stays refused after his last text (default 24 hours).
    #[serde(with = "crate::settings::humantime_duration")]
    pub mark_for: Duration,
    /// Senders tracked at once (default 8,192: 64 KiB, 8 bytes each; a small table stays in
    /// the cache beside the repeat filter's).
    pub capacity: usize,
}

impl Default for BurstConfig {
    fn default() -> Self {
        BurstConfig {
            texts: 3,
            within: Duration::from_secs(600),
            window: Duration::from_secs(3600),
            min_bursts: 10,
            normal_factor: 4.0,
            mark_for: Duration::from_secs(24 * 3600),
            capacity: 1 << 13,
        }
    }
}

/// The low 24 bits of a second count: an entry's time, compared modulo 2^24 s (194 days).
const TIME_MASK: u32 = 0x00FF_FFFF;

/// One tracked sender, packed in one word (0: a free entry): 32 bits of his key's hash (the
/// tag), the second of his first text in the current episode (or of his last text once
/// refused) in 24 bits, his texts in the episode in 7, and whether he is refused.
#[derive(Clone, Copy, Debug)]
struct Entry {
    tag: u32,
    time: u32,
    texts: u8,
    refused: bool,
}

impl Entry {
    fn unpack(v: u64) -> Entry {
        Entry {
            tag: (v >> 32) as u32,
            time: ((v >> 8) as u32) & TIME_MASK,
            texts: ((v >> 1) & 0x7f) as u8,
            refused: v & 1 != 0,
        }
    }
    fn pack(self) -> u64 {
        (u64::from(self.tag) << 32)
            | (u64::from(self.time & TIME_MASK) << 8)
            | (u64::from(self.texts.min(0x7f)) << 1)
            | u64::from(self.refused)
    }
}

/// Seconds from `then` to `now`, both 24-bit times.
#[inline]
fn age(now: u32, then: u32) -> u32 {
    now.wrapping_sub(then) & TIME_MASK
}

/// Eight entries on one cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Set([AtomicU64; 8]);

/// Recognises raids of many bursting numbers; see the [module documentation](self).
#[derive(Debug)]
pub struct BurstGuard {
    sets: Box<[Set]>,
    mask: usize,
    texts: u8,
    within_s: u32,
    mark_s: u32,
    window: FastDiv,
    window_ms: i64,
    inv_window: f32,
    min_bursts: f32,
    normal_factor: f32,
    /// The epoch of `cur`, and the bursts of the current and previous windows.
    epoch: AtomicU64,
    cur: AtomicU32,
    prev: AtomicU32,
    /// The normal bursts per window (`f32` bits).
    normal: AtomicU32,
    /// The raid interval, in milliseconds (`raid_until < raid_from`: no raid yet).
    raid_from: AtomicI64,
    raid_until: AtomicI64,
    bursts: AtomicU64,
    raids: AtomicU64,
    refused: AtomicU64,
    seed: u64,
}

impl BurstGuard {
    /// A guard with these settings.
    pub fn new(config: BurstConfig) -> Result<Self, AbuseError> {
        Self::with_seed(config, None)
    }

    /// Like [`new`](Self::new), with the table's hashes seeded from `hash_seed` (`None`:
    /// random).
    pub fn with_seed(config: BurstConfig, hash_seed: Option<u64>) -> Result<Self, AbuseError> {
        if !(2..=100).contains(&config.texts) {
            return Err(AbuseError::InvalidConfig(
                "burst: texts must be within 2..=100",
            ));
        }
        if config.within < Duration::from_secs(1) {
            return Err(AbuseError::InvalidConfig(
                "burst: within must be at least a second",
            ));
        }
        if config.window < Duration::from_secs(1) {
            return Err(AbuseError::InvalidConfig(
                "burst: window must be at least a second",
            ));
        }
        if config.min_bursts < 2 {
            return Err(AbuseError::InvalidConfig(
                "burst: min_bursts must be at least 2",
            ));
        }
        if !(1.0..=100.0).contains(&config.normal_factor) {
            return Err(AbuseError::InvalidConfig(
                "burst: normal_factor must be within 1..=100",
            ));
        }
        if config.within.as_secs() >= 1 << 23 || config.mark_for.as_secs() >= 1 << 23 {
            return Err(AbuseError::InvalidConfig(
                "burst: within and mark_for must be under 97 days",
            ));
        }
        let secs = |d: Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
        let window_ms = u64::try_from(config.window.as_millis()).unwrap_or(u64::MAX / 4);
        let sets = (config.capacity.max(8) / 8).next_power_of_two();
        Ok(BurstGuard {
            sets: (0..sets).map(|_| Set::default()).collect(),
            mask: sets - 1,
            texts: config.texts as u8,
            within_s: secs(config.within),
            mark_s: secs(config.mark_for),
            window: FastDiv::new(window_ms),
            window_ms: i64::try_from(window_ms).unwrap_or(i64::MAX / 4),
            inv_window: 1.0 / window_ms as f32,
            min_bursts: config.min_bursts as f32,
            normal_factor: config.normal_factor,
            epoch: AtomicU64::new(0),
            cur: AtomicU32::new(0),
            prev: AtomicU32::new(0),
            normal: AtomicU32::new(0f32.to_bits()),
            raid_from: AtomicI64::new(0),
            raid_until: AtomicI64::new(-1),
            bursts: AtomicU64::new(0),
            raids: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            seed: seed_or_random(hash_seed, SEED_SALT),
        })
    }

    /// Bytes of the table.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.sets)
    }

    /// Bursts seen (a sender reaching `texts` texts within `within`), raids or not.
    pub fn bursts(&self) -> u64 {
        self.bursts.load(Ordering::Relaxed)
    }

    /// Raids begun (the count of bursts reaching its limit after a time without a raid).
    pub fn raids(&self) -> u64 {
        self.raids.load(Ordering::Relaxed)
    }

    /// Senders refused as part of a raid (each counted once, when first refused).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// The normal number of bursts per window (the mean of past windows that were not raids).
    pub fn normal_rate(&self) -> f32 {
        f32::from_bits(self.normal.load(Ordering::Relaxed))
    }

    /// Whether a raid is on at `at`, for the operator console.
    pub fn raid_on(&self, at: Timestamp) -> bool {
        let at = at.as_millis();
        self.raid_from.load(Ordering::Relaxed) <= at
            && at <= self.raid_until.load(Ordering::Relaxed)
    }

    /// The bursts a raid needs within the window now.
    fn limit(&self) -> f32 {
        self.min_bursts.max(self.normal_factor * self.normal_rate())
    }

    /// The set and the tag of `sender_key`.
    #[inline]
    fn place(&self, sender_key: u64) -> (&Set, u32) {
        let h = mix(sender_key ^ self.seed);
        (&self.sets[(h as usize) & self.mask], (h >> 32) as u32 | 1)
    }

    /// The position of `tag` in `set`, and the entry a new sender would take: a free one, else
    /// of two entries picked by the tag, the one that is not a live refusal, else the older.
    #[inline]
    fn scan(&self, set: &Set, tag: u32, now: u32) -> (Option<usize>, usize) {
        let words: [u64; 8] = std::array::from_fn(|i| set.0[i].load(Ordering::Acquire));
        let (mut hits, mut free) = (0u32, 0u32);
        for (i, v) in words.iter().enumerate() {
            hits |= u32::from((v >> 32) as u32 == tag) << i;
            free |= u32::from(*v == 0) << i;
        }
        if hits != 0 {
            return (Some(hits.trailing_zeros() as usize), 0);
        }
        if free != 0 {
            return (None, free.trailing_zeros() as usize);
        }
        let score = |i: usize| {
            let e = Entry::unpack(words[i]);
            let span = age(now, e.time);
            (u64::from(!(e.refused & (span <= self.mark_s))) << 32) | u64::from(span)
        };
        let (a, b) = ((tag >> 8) as usize & 7, (tag >> 11) as usize & 7);
        (None, if score(b) > score(a) { b } else { a })
    }

    /// The entry of `sender_key` and its value, if tracked.
    #[inline]
    fn find(&self, sender_key: u64) -> Option<(&AtomicU64, Entry)> {
        let (set, tag) = self.place(sender_key);
        let w = &set.0[self.scan(set, tag, 0).0?];
        Some((w, Entry::unpack(w.load(Ordering::Acquire))))
    }

    /// The entry of `sender_key` and its value, or the entry claimed for him and `None` (see
    /// [`scan`](Self::scan) for which).
    #[inline]
    fn find_or_claim(&self, sender_key: u64, now: u32) -> (&AtomicU64, Option<Entry>) {
        let (set, tag) = self.place(sender_key);
        let (hit, victim) = self.scan(set, tag, now);
        if let Some(i) = hit {
            let w = &set.0[i];
            return (w, Some(Entry::unpack(w.load(Ordering::Acquire))));
        }
        let victim = &set.0[victim];
        // A plain store (no locked instruction on the path of every new sender): two senders
        // claiming one entry at once leave one of them tracked, with a fresh episode.
        victim.store(
            Entry {
                tag,
                time: now,
                texts: 1,
                refused: false,
            }
            .pack(),
            Ordering::Release,
        );
        (victim, None)
    }

    /// Count one burst at `at` and say whether the bursts of the sliding window are a raid.
    fn count_burst(&self, at: i64) -> bool {
        self.bursts.fetch_add(1, Ordering::Relaxed);
        let (epoch, into) = self.window.div_rem(at.max(0) as u64);
        let seen = self.epoch.load(Ordering::Acquire);
        if epoch > seen
            && self
                .epoch
                .compare_exchange(seen, epoch, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            let closed = self.cur.swap(0, Ordering::Relaxed);
            let consecutive = epoch == seen + 1;
            self.prev
                .store(if consecutive { closed } else { 0 }, Ordering::Relaxed);
            // The normal rate learns from the windows that were not raids (empty windows in
            // between count as zero bursts, at most eight of them).
            if seen > 0 && (closed as f32) < self.limit() {
                let mut normal = self.normal_rate();
                normal += NORMAL_WEIGHT * (closed as f32 - normal);
                for _ in 1..(epoch - seen).min(8) {
                    normal -= NORMAL_WEIGHT * normal;
                }
                self.normal.store(normal.to_bits(), Ordering::Relaxed);
            }
        }
        let cur = self.cur.fetch_add(1, Ordering::Relaxed) + 1;
        let prev = self.prev.load(Ordering::Relaxed);
        let frac = into as f32 * self.inv_window;
        let estimate = cur as f32 + prev as f32 * (1.0 - frac);
        if estimate < self.limit() {
            return false;
        }
        let until = at.saturating_add(self.window_ms);
        let before = self.raid_until.fetch_max(until, Ordering::AcqRel);
        if before < at {
            // A new raid: the bursts that brought the count to its limit began up to a window
            // (plus the time a burst takes) ago.
            let from = at
                .saturating_sub(self.window_ms)
                .saturating_sub(i64::from(self.within_s) * 1000);
            self.raid_from.store(from, Ordering::Release);
            self.raids.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// Whether the burst of an episode that began at `first_ms` falls in the raid interval.
    fn in_raid(&self, first_ms: i64) -> bool {
        self.raid_from.load(Ordering::Acquire) <= first_ms
            && first_ms <= self.raid_until.load(Ordering::Acquire)
    }

    /// Mark the sender of `slot` refused (its time now the last text's) and count him once.
    fn refuse(&self, slot: &AtomicU64, now: u32, e: Entry) -> Decision {
        slot.store(
            Entry {
                time: now,
                refused: true,
                ..e
            }
            .pack(),
            Ordering::Release,
        );
        if !e.refused {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        Decision::Deny(Reason::BurstRaid)
    }

    #[inline]
    fn judge(&self, c: &Contact) -> Decision {
        if c.channel != Channel::Sms {
            return Decision::Allow;
        }
        let at = c.at.as_millis();
        let now = seconds(at);
        let (slot, found) = self.find_or_claim(c.sender_key, now);
        let Some(e) = found else {
            return Decision::Allow;
        };
        let since = age(now, e.time);
        if e.refused {
            if since <= self.mark_s {
                return self.refuse(slot, now, e);
            }
        } else if since <= self.within_s {
            let texts = e.texts.saturating_add(1);
            let e = Entry { texts, ..e };
            slot.store(e.pack(), Ordering::Release);
            let raid = if texts == self.texts {
                self.count_burst(at)
            } else {
                texts > self.texts && self.in_raid(at - i64::from(since) * 1000)
            };
            return if raid {
                self.refuse(slot, now, e)
            } else {
                Decision::Allow
            };
        }
        // A new episode: this text is the first of it.
        slot.store(
            Entry {
                time: now,
                texts: 1,
                refused: false,
                ..e
            }
            .pack(),
            Ordering::Release,
        );
        Decision::Allow
    }

    /// At send time: refuse a sender already refused, or whose burst falls in a raid found
    /// since (no text is counted; a sender refused here for the first time is counted in
    /// [`refused`](Self::refused)).
    fn judge_again(&self, c: &Contact) -> Decision {
        if c.channel != Channel::Sms {
            return Decision::Allow;
        }
        let Some((slot, e)) = self.find(c.sender_key) else {
            return Decision::Allow;
        };
        let at = c.at.as_millis();
        let now = seconds(at);
        let since = age(now, e.time);
        if e.refused && since <= self.mark_s {
            return Decision::Deny(Reason::BurstRaid);
        }
        if !e.refused && e.texts >= self.texts && self.in_raid(at - i64::from(since) * 1000) {
            return self.refuse(slot, now, e);
        }
        Decision::Allow
    }
}

/// The low 24 bits of the second of `at_ms`.
#[inline]
fn seconds(at_ms: i64) -> u32 {
    ((at_ms.max(0) / 1000) as u64 as u32) & TIME_MASK
}

impl AbusePolicy for BurstGuard {
    #[inline]
    fn check(&self, contact: &Contact) -> Decision {
        self.judge(contact)
    }

    fn recheck(&self, contact: &Contact) -> Decision {
        self.judge_again(contact)
    }
}

impl Prefetch for BurstGuard {
    #[inline]
    fn prefetch(&self, contact: &Contact) -> u64 {
        self.place(contact.sender_key).0.0[0].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use antirelou_core::NumberKind;

    fn guard() -> BurstGuard {
        BurstGuard::with_seed(BurstConfig::default(), Some(7)).unwrap()
    }

    fn text(sender: u64, at_s: i64) -> Contact {
        Contact {
            sender_key: 33_600_000_000 + sender,
            sender_calling_code: 33,
            sender_region: None,
            sender_kind: NumberKind::Mobile,
            number_key: 33_939_990_042,
            number_region: None,
            channel: Channel::Sms,
            at: Timestamp::from_secs(1_700_000_000 + at_s),
        }
    }

    #[test]
    fn one_mans_burst_on_an_ordinary_day_is_allowed() {
        let g = guard();
        for i in 0..5 {
            assert_eq!(g.check(&text(1, i * 20)), Decision::Allow, "text {i}");
        }
        assert_eq!(g.recheck(&text(1, 3600)), Decision::Allow);
        assert_eq!(g.bursts(), 1);
        assert_eq!(g.raids(), 0);
    }

    #[test]
    fn many_senders_bursting_at_once_are_refused_the_first_ones_at_send_time() {
        let g = guard();
        let mut denied_at_once = 0;
        for s in 0..30u64 {
            let t0 = s as i64 * 60;
            for k in 0..4 {
                if g.check(&text(s, t0 + k * 10)).is_deny() {
                    denied_at_once += 1;
                }
            }
        }
        assert_eq!(g.raids(), 1);
        // The first nine bursts were below the limit: allowed on the spot…
        assert!(denied_at_once > 0 && denied_at_once < 30 * 4);
        // …and refused at send time, an hour later, as every other burster.
        for s in 0..30u64 {
            let at = s as i64 * 60 + 3600;
            assert_eq!(
                g.recheck(&text(s, at)),
                Decision::Deny(Reason::BurstRaid),
                "sender {s}"
            );
        }
        assert_eq!(g.refused(), 30);
        // A man who wrote once during the raid is untouched.
        assert!(g.check(&text(1000, 900)).is_allow());
        assert!(g.recheck(&text(1000, 4500)).is_allow());
    }

    #[test]
    fn bursts_spread_over_more_than_within_are_not_bursts() {
        let g = guard();
        for s in 0..40u64 {
            for k in 0..4 {
                assert!(g.check(&text(s, s as i64 * 30 + k * 700)).is_allow());
            }
        }
        assert_eq!(g.bursts(), 0);
    }

    #[test]
    fn a_refused_sender_is_forgotten_after_mark_for() {
        let g = guard();
        for s in 0..12u64 {
            for k in 0..3 {
                let _ = g.check(&text(s, s as i64 + k));
            }
        }
        assert_eq!(g.check(&text(11, 100)), Decision::Deny(Reason::BurstRaid));
        assert!(g.check(&text(11, 100 + 24 * 3600 + 10)).is_allow());
    }

    #[test]
    fn the_limit_follows_the_normal_rate() {
        let g = guard();
        // Twelve hours with 8 bursts an hour, evenly spread: below the floor of 10, never a
        // raid, and the normal rate learns them.
        for h in 0..12u64 {
            for s in 0..8u64 {
                let id = h * 100 + s;
                for k in 0..3 {
                    let _ = g.check(&text(id, (h * 3600 + s * 450) as i64 + k));
                }
            }
        }
        assert_eq!(g.raids(), 0);
        let normal = g.normal_rate();
        assert!((4.0..=8.0).contains(&normal), "normal {normal}");
        assert_eq!(g.limit(), 10f32.max(4.0 * normal));
        // Hence 20 bursts in an hour, a raid against the floor alone, are not one now.
        for s in 0..20u64 {
            for k in 0..3 {
                let _ = g.check(&text(5000 + s, (12 * 3600 + s * 180) as i64 + k));
            }
        }
        assert_eq!(g.raids(), 0);
        // 40 are.
        for s in 0..40u64 {
            for k in 0..3 {
                let _ = g.check(&text(6000 + s, (13 * 3600 + s * 60) as i64 + k));
            }
        }
        assert_eq!(g.raids(), 1);
    }

    #[test]
    fn calls_and_evicted_senders_are_allowed() {
        let g = BurstGuard::with_seed(
            BurstConfig {
                capacity: 4,
                ..BurstConfig::default()
            },
            Some(1),
        )
        .unwrap();
        let mut call = text(1, 0);
        call.channel = Channel::Voice;
        assert!(g.check(&call).is_allow());
        assert!(g.recheck(&call).is_allow());
        // One set of eight entries.
        assert_eq!(g.memory_bytes(), 64);
        // Eight senders burst: a raid (the floor is 2 here), all refused and tracked.
        let g = BurstGuard::with_seed(
            BurstConfig {
                capacity: 8,
                min_bursts: 2,
                ..BurstConfig::default()
            },
            Some(1),
        )
        .unwrap();
        for s in 0..8u64 {
            for k in 0..3 {
                let _ = g.check(&text(s, s as i64 * 10 + k));
            }
        }
        assert!((0..8u64).all(|s| g.recheck(&text(s, 3600)).is_deny()));
        // Twenty new senders write once: the full set makes room, and a refused sender whose
        // entry went is no longer known, so his lesson is allowed at send time.
        for s in 100..120u64 {
            assert!(g.check(&text(s, 200 + s as i64)).is_allow());
        }
        let forgotten = (0..8u64)
            .filter(|s| g.recheck(&text(*s, 3700)).is_allow())
            .count();
        assert!(forgotten >= 1, "no refused entry was evicted");
    }

    #[test]
    fn settings_out_of_range_are_refused() {
        for bad in [
            BurstConfig {
                texts: 1,
                ..BurstConfig::default()
            },
            BurstConfig {
                within: Duration::ZERO,
                ..BurstConfig::default()
            },
            BurstConfig {
                window: Duration::ZERO,
                ..BurstConfig::default()
            },
            BurstConfig {
                min_bursts: 1,
                ..BurstConfig::default()
            },
            BurstConfig {
                normal_factor: 0.5,
                ..BurstConfig::default()
            },
        ] {
            assert!(BurstGuard::new(bad).is_err(), "{bad:?}");
        }
    }
}
