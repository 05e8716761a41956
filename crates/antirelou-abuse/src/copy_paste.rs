//! [`CopyPasteGuard`]: the same text from many distinct senders at once is a copy-paste raid
//! (a forum thread posting the number and a message to send), recognised from keyed
//! fingerprints of the normalised texts
//! ([`TextFingerprint`], made by the engine from each inbound body with the operator's
//! secret). The texts themselves are never seen nor kept.
//!
//! Memory is fixed: a two-way set-associative table of `capacity` fingerprints. Each entry
//! counts the distinct senders of its text in a sliding window with two 64-bit linear-counting
//! bitmaps (the current and the previous window, as the
//! [`PrefixFloodGuard`](crate::PrefixFloodGuard) does for number ranges). When the estimate
//! reaches `threshold`, the text is *marked* for `mark_for`: every sender of it is denied
//! [`Reason::CopyPaste`] until then, and each further copy pushes the end further. A marked
//! entry is never evicted by other texts.
//!
//! What it does not catch, honestly: the first senders of a raid text (up to `threshold − 1`
//! within the window) are allowed, as are texts varied by the raiders word by word, and texts
//! shorter than `min_letters` letters ("salut", "t'es où ?": many men write them without
//! copying anything). It only sees texts, never calls.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use antirelou_core::event::Channel;
use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason, TextFingerprint};
use serde::{Deserialize, Serialize};

use crate::AbuseError;
use crate::util::{FastDiv, mix, seed_or_random};

const SEED_SALT: u64 = 0xc097_9a57;

/// Settings of the [`CopyPasteGuard`]. In a file (see [`PolicySettings`](crate::PolicySettings))
/// every key is optional and durations are humantime strings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CopyPasteConfig {
    /// Sliding window of the distinct-sender count of one text (default one hour).
    #[serde(with = "crate::settings::humantime_duration")]
    pub window: Duration,
    /// Distinct senders of one text within the window that mark it as a raid text (default
    /// 5; between 2 and 100).
    pub threshold: u32,
    /// Texts with fewer letters than this are never judged (default 20: greetings and short
    /// questions are written alike by many men who copied nothing).
    pub min_letters: u32,
    /// How long a raid text stays marked after its last copy (default 24 hours).
    #[serde(with = "crate::settings::humantime_duration")]
    pub mark_for: Duration,
    /// Texts tracked at once (default 32,768: 2 MiB, 128 bytes per pair of entries).
    pub capacity: usize,
}

impl Default for CopyPasteConfig {
    fn default() -> Self {
        CopyPasteConfig {
            window: Duration::from_secs(3600),
            threshold: 5,
            min_letters: 20,
            mark_for: Duration::from_secs(24 * 3600),
            capacity: 1 << 15,
        }
    }
}

#[derive(Debug, Default)]
struct Way {
    /// The fingerprint (never 0: 0 marks a free entry).
    tag: AtomicU64,
    /// The window epoch of `cur`.
    epoch: AtomicU64,
    cur: AtomicU64,
    prev: AtomicU64,
    marked_until: AtomicI64,
}

#[derive(Debug, Default)]
#[repr(align(64))]
struct Set([Way; 2]);

/// Recognises copy-paste raids; see the [module documentation](self).
#[derive(Debug)]
pub struct CopyPasteGuard {
    sets: Box<[Set]>,
    mask: usize,
    window: FastDiv,
    inv_window: f32,
    threshold: f32,
    min_letters: u32,
    mark_ms: i64,
    /// Linear-counting estimate for each number of zero bits.
    estimate: [f32; 65],
    marked: AtomicU64,
    seed: u64,
}

impl CopyPasteGuard {
    /// A guard with these settings.
    pub fn new(config: CopyPasteConfig) -> Result<Self, AbuseError> {
        Self::with_seed(config, None)
    }

    /// Like [`new`](Self::new), with the table's hashes seeded from `hash_seed` (`None`:
    /// random).
    pub fn with_seed(config: CopyPasteConfig, hash_seed: Option<u64>) -> Result<Self, AbuseError> {
        if !(2..=100).contains(&config.threshold) {
            return Err(AbuseError::InvalidConfig(
                "copy-paste: threshold must be within 2..=100",
            ));
        }
        let window_ms = u64::try_from(config.window.as_millis()).unwrap_or(u64::MAX);
        if window_ms < 1000 {
            return Err(AbuseError::InvalidConfig(
                "copy-paste: window must be at least a second",
            ));
        }
        let sets = (config.capacity.max(2) / 2).next_power_of_two();
        let mut estimate = [0f32; 65];
        for (z, e) in estimate.iter_mut().enumerate() {
            *e = (64.0 * (64.0 / (z.max(1) as f64)).ln()) as f32;
        }
        Ok(CopyPasteGuard {
            sets: (0..sets).map(|_| Set::default()).collect(),
            mask: sets - 1,
            window: FastDiv::new(window_ms),
            inv_window: 1.0 / window_ms as f32,
            threshold: config.threshold as f32,
            min_letters: config.min_letters,
            mark_ms: i64::try_from(config.mark_for.as_millis()).unwrap_or(i64::MAX / 4),
            estimate,
            marked: AtomicU64::new(0),
            seed: seed_or_random(hash_seed, SEED_SALT),
        })
    }

    /// Bytes of the table.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.sets)
    }

    /// How many times a text was marked as a raid text.
    pub fn marked(&self) -> u64 {
        self.marked.load(Ordering::Relaxed)
    }

    /// Texts marked at `at`, for the operator console.
    pub fn marked_now(&self, at: antirelou_core::Timestamp) -> usize {
        self.sets
            .iter()
            .flat_map(|s| s.0.iter())
            .filter(|w| w.marked_until.load(Ordering::Relaxed) > at.as_millis())
            .count()
    }

    #[inline]
    fn judge(&self, c: &Contact, text: TextFingerprint) -> Decision {
        if c.channel != Channel::Sms || text.letters < self.min_letters {
            return Decision::Allow;
        }
        let tag = text.hash | 1;
        let at = c.at.as_millis();
        let (epoch, into) = self.window.div_rem(at.max(0) as u64);
        let set = &self.sets[(mix(tag ^ self.seed) as usize) & self.mask];
        let way = if set.0[0].tag.load(Ordering::Acquire) == tag {
            &set.0[0]
        } else if set.0[1].tag.load(Ordering::Acquire) == tag {
            &set.0[1]
        } else {
            // Claim an entry that is not marked: the one with fewer senders counted.
            let free = |w: &Way| w.marked_until.load(Ordering::Relaxed) <= at;
            let weight = |w: &Way| {
                let fresh = epoch.saturating_sub(w.epoch.load(Ordering::Relaxed)) <= 1;
                if fresh {
                    w.cur.load(Ordering::Relaxed).count_ones()
                        + w.prev.load(Ordering::Relaxed).count_ones()
                } else {
                    0
                }
            };
            let (a, b) = (&set.0[0], &set.0[1]);
            let way = match (free(a), free(b)) {
                (true, true) if weight(a) <= weight(b) => a,
                (true, true) | (false, true) => b,
                (true, false) => a,
                (false, false) => return Decision::Allow,
            };
            let old = way.tag.load(Ordering::Acquire);
            if way
                .tag
                .compare_exchange(old, tag, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                return Decision::Allow;
            }
            way.cur.store(0, Ordering::Relaxed);
            way.prev.store(0, Ordering::Relaxed);
            way.marked_until.store(0, Ordering::Relaxed);
            way.epoch.store(epoch, Ordering::Relaxed);
            way
        };
        let way_epoch = way.epoch.load(Ordering::Relaxed);
        if epoch > way_epoch
            && way
                .epoch
                .compare_exchange(way_epoch, epoch, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            let cur = way.cur.swap(0, Ordering::Relaxed);
            way.prev.store(
                if epoch == way_epoch + 1 { cur } else { 0 },
                Ordering::Relaxed,
            );
        }
        let bit = 1u64 << (mix(c.sender_key ^ self.seed.rotate_left(23)) & 63);
        let cur = way.cur.fetch_or(bit, Ordering::Relaxed) | bit;
        let prev = way.prev.load(Ordering::Relaxed);
        let frac = into as f32 * self.inv_window;
        let n = self.estimate[cur.count_zeros() as usize]
            + self.estimate[prev.count_zeros() as usize] * (1.0 - frac);
        if n >= self.threshold {
            let until = at.saturating_add(self.mark_ms);
            if way.marked_until.fetch_max(until, Ordering::Relaxed) <= at {
                self.marked.fetch_add(1, Ordering::Relaxed);
            }
            return Decision::Deny(Reason::CopyPaste);
        }
        if way.marked_until.load(Ordering::Relaxed) > at {
            return Decision::Deny(Reason::CopyPaste);
        }
        Decision::Allow
    }
}

impl AbusePolicy for CopyPasteGuard {
    /// Without a text there is nothing to judge.
    fn check(&self, _: &Contact) -> Decision {
        Decision::Allow
    }

    #[inline]
    fn check_text(&self, contact: &Contact, text: Option<TextFingerprint>) -> Decision {
        match text {
            Some(t) => self.judge(contact, t),
            None => Decision::Allow,
        }
    }

    /// 2 for a text another sender sent too within the window (or one marked as a raid text
    /// since it was tracked), else 0: among deferred lessons, an individual text goes before a
    /// copy.
    fn defer_rank(&self, contact: &Contact, text: Option<TextFingerprint>) -> u8 {
        match text {
            Some(t) if self.shared(contact, t) => 2,
            _ => 0,
        }
    }
}

impl CopyPasteGuard {
    /// Whether another sender than `c`'s sent `text` in the window at `c.at` (counts nothing).
    fn shared(&self, c: &Contact, text: TextFingerprint) -> bool {
        if c.channel != Channel::Sms || text.letters < self.min_letters {
            return false;
        }
        let tag = text.hash | 1;
        let (epoch, _) = self.window.div_rem(c.at.as_millis().max(0) as u64);
        let set = &self.sets[(mix(tag ^ self.seed) as usize) & self.mask];
        let mine = 1u64 << (mix(c.sender_key ^ self.seed.rotate_left(23)) & 63);
        set.0.iter().any(|w| {
            if w.tag.load(Ordering::Acquire) != tag {
                return false;
            }
            if w.marked_until.load(Ordering::Relaxed) != 0 {
                return true;
            }
            let fresh = epoch.saturating_sub(w.epoch.load(Ordering::Relaxed)) <= 1;
            let seen = w.cur.load(Ordering::Relaxed) | w.prev.load(Ordering::Relaxed);
            fresh && seen & !mine != 0
        })
    }
}
