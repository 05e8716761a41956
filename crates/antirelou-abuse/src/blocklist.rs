//! [`Blocklist`]: numbers and prefixes the operator (or an automatic rule) has blocked, with an
//! expiry and a hit counter each.
//!
//! A pattern is a digit prefix of the E.164 key: a whole number is the prefix of itself. A sender
//! matching a live entry is denied ([`Reason::Blocklisted`]) on every channel: a blocked caller is
//! rejected for free. Reads are lock-free (a fixed open-addressed table of atomics); adding and
//! removing take a mutex, which only the operator console does. The table has a fixed capacity,
//! so memory is bounded whatever is added.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use antirelou_core::clock::Timestamp;
use antirelou_core::phone::PhoneNumber;
use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason};
use parking_lot::Mutex;

use crate::AbuseError;
use crate::util::{MAX_KEY, POW10, digit_count, key_prefix, mix, seed_or_random};

const EMPTY: u64 = 0;
const TOMBSTONE: u64 = u64::MAX;
const NEVER: i64 = i64::MAX;
const SEED_SALT: u64 = 0xb10c_1157;

/// A blocked number or number prefix: the first `len` digits of the E.164 form.
///
/// ```
/// use antirelou_abuse::BlockPattern;
/// let p = BlockPattern::parse("+33 6 12").unwrap();
/// assert!(p.matches(33_612_345_678));
/// assert!(!p.matches(33_712_345_678));
/// assert_eq!(p.to_string(), "+33612");
/// assert!(BlockPattern::parse("+33 6 12 abc").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockPattern {
    digits: u64,
    len: u8,
}

impl BlockPattern {
    /// Parse a prefix or a whole number in international form: `+3361`, `003361`, `3361`. Spaces,
    /// dots and dashes are ignored. The first digit cannot be 0 (after a `00` prefix).
    pub fn parse(input: &str) -> Result<Self, AbuseError> {
        let bad = |why: &'static str| AbuseError::InvalidPattern {
            input: crate::mask(input),
            reason: why,
        };
        let t = input.trim();
        let t = t
            .strip_prefix('+')
            .or_else(|| t.strip_prefix("00"))
            .unwrap_or(t);
        let mut digits: u64 = 0;
        let mut len: u8 = 0;
        for b in t.bytes() {
            match b {
                b'0'..=b'9' => {
                    if len == 0 && b == b'0' {
                        return Err(bad("a country code cannot start with 0"));
                    }
                    if len >= 15 {
                        return Err(bad("longer than 15 digits"));
                    }
                    digits = digits * 10 + u64::from(b - b'0');
                    len += 1;
                }
                b' ' | b'.' | b'-' => {}
                _ => return Err(bad("only digits, spaces, dots and dashes are allowed")),
            }
        }
        if len == 0 {
            return Err(bad("no digits"));
        }
        Ok(BlockPattern { digits, len })
    }

    /// A whole number.
    pub fn number(number: &PhoneNumber) -> Self {
        Self::from_key(number.key())
    }

    /// A whole number, from its key.
    pub fn from_key(key: u64) -> Self {
        let key = key.min(MAX_KEY);
        BlockPattern {
            digits: key,
            len: digit_count(key) as u8,
        }
    }

    /// The prefix digits as an integer.
    pub fn digits(&self) -> u64 {
        self.digits
    }

    /// How many digits the prefix has.
    pub fn len(&self) -> u32 {
        u32::from(self.len)
    }

    /// Always false: a pattern has at least one digit.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the sender key starts with this prefix.
    pub fn matches(&self, key: u64) -> bool {
        key_prefix(key, u32::from(self.len)) == Some(self.digits)
    }

    /// A log-safe form: a pattern of 8 digits or more (a number or nearly) shows only its
    /// first digits.
    pub fn masked(&self) -> String {
        let s = self.digits.to_string();
        if self.len >= 8 {
            format!("+{}…", &s[..s.len().min(4)])
        } else {
            format!("+{s}")
        }
    }

    fn tag(&self) -> u64 {
        (u64::from(self.len) << 50) | self.digits
    }

    fn from_tag(tag: u64) -> Self {
        BlockPattern {
            digits: tag & ((1 << 50) - 1),
            len: (tag >> 50) as u8,
        }
    }
}

impl fmt::Display for BlockPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.digits)
    }
}

impl fmt::Debug for BlockPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockPattern({})", self.masked())
    }
}

/// One entry of the blocklist, as [`Blocklist::list`] shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockEntry {
    /// What is blocked.
    pub pattern: BlockPattern,
    /// When it was added.
    pub added_at: Timestamp,
    /// When the block ends (`None`: never).
    pub expires_at: Option<Timestamp>,
    /// How many contacts it denied.
    pub hits: u64,
}

#[derive(Debug, Default)]
struct Slot {
    tag: AtomicU64,
    expires: AtomicI64,
    added: AtomicI64,
    hits: AtomicU64,
}

/// A bounded blocklist of numbers and prefixes with expiry and hit counters.
///
/// ```
/// use antirelou_abuse::{Blocklist, BlockPattern};
/// use antirelou_core::Timestamp;
/// let list = Blocklist::with_capacity(64);
/// let now = Timestamp::from_secs(1_000);
/// list.add(BlockPattern::parse("+3361234").unwrap(), Some(Timestamp::from_secs(2_000)), now).unwrap();
/// assert!(list.is_blocked(33_612_345_678, now));
/// assert!(!list.is_blocked(33_612_345_678, Timestamp::from_secs(2_000)));
/// assert_eq!(list.list().len(), 1);
/// ```
#[derive(Debug)]
pub struct Blocklist {
    slots: Box<[Slot]>,
    mask: usize,
    /// Bit `l` set: some entry has `l` digits.
    lengths: AtomicU32,
    live: AtomicUsize,
    writer: Mutex<()>,
    seed: u64,
}

impl Default for Blocklist {
    fn default() -> Self {
        Self::with_capacity(2048)
    }
}

impl Blocklist {
    /// A blocklist holding up to `entries` patterns (memory: about 64 bytes per entry).
    pub fn with_capacity(entries: usize) -> Self {
        Self::with_capacity_and_seed(entries, None)
    }

    /// Like [`with_capacity`](Self::with_capacity), with the table's hash seeded from
    /// `hash_seed` (`None`: a random seed, so that positions cannot be predicted from outside;
    /// `Some`: reproducible runs).
    pub fn with_capacity_and_seed(entries: usize, hash_seed: Option<u64>) -> Self {
        let n = (entries.max(4) * 2).next_power_of_two();
        Blocklist {
            slots: (0..n).map(|_| Slot::default()).collect(),
            mask: n - 1,
            lengths: AtomicU32::new(0),
            live: AtomicUsize::new(0),
            writer: Mutex::new(()),
            seed: seed_or_random(hash_seed, SEED_SALT),
        }
    }

    /// How many patterns it can hold.
    pub fn capacity(&self) -> usize {
        self.slots.len() / 2
    }

    /// Number of entries (live or expired but not purged).
    pub fn len(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn find(&self, tag: u64) -> Option<&Slot> {
        let mut i = (mix(tag ^ self.seed) as usize) & self.mask;
        for _ in 0..self.slots.len() {
            let s = &self.slots[i];
            let t = s.tag.load(Ordering::Acquire);
            if t == tag {
                return Some(s);
            }
            if t == EMPTY {
                return None;
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// The live entry matching `key` at `at`, if any.
    #[inline]
    fn lookup(&self, key: u64, at: Timestamp) -> Option<&Slot> {
        if self.live.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let n = digit_count(key);
        let mut lengths = self.lengths.load(Ordering::Acquire);
        while lengths != 0 {
            let l = lengths.trailing_zeros();
            lengths &= lengths - 1;
            if l > n {
                break;
            }
            let p = BlockPattern {
                digits: key / POW10[(n - l) as usize],
                len: l as u8,
            };
            if let Some(s) = self.find(p.tag())
                && s.expires.load(Ordering::Relaxed) > at.as_millis()
            {
                return Some(s);
            }
        }
        None
    }

    /// Whether `key` is blocked at `at` (does not count a hit).
    pub fn is_blocked(&self, key: u64, at: Timestamp) -> bool {
        self.lookup(key, at).is_some()
    }

    /// Block `pattern` until `expires_at` (`None`: until removed). Adding a pattern that is
    /// already there replaces its expiry and keeps its hits. Fails with
    /// [`AbuseError::BlocklistFull`] when the table is full of live entries.
    pub fn add(
        &self,
        pattern: BlockPattern,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), AbuseError> {
        let _guard = self.writer.lock();
        let tag = pattern.tag();
        let exp = expires_at.map_or(NEVER, Timestamp::as_millis);
        if let Some(s) = self.find(tag) {
            s.expires.store(exp, Ordering::Release);
            return Ok(());
        }
        if self.live.load(Ordering::Relaxed) >= self.capacity() {
            self.purge_locked(now);
            if self.live.load(Ordering::Relaxed) >= self.capacity() {
                return Err(AbuseError::BlocklistFull {
                    capacity: self.capacity(),
                });
            }
        }
        let mut i = (mix(tag ^ self.seed) as usize) & self.mask;
        loop {
            let s = &self.slots[i];
            let t = s.tag.load(Ordering::Relaxed);
            if t == EMPTY || t == TOMBSTONE {
                s.expires.store(exp, Ordering::Relaxed);
                s.added.store(now.as_millis(), Ordering::Relaxed);
                s.hits.store(0, Ordering::Relaxed);
                s.tag.store(tag, Ordering::Release);
                break;
            }
            i = (i + 1) & self.mask;
        }
        self.live.fetch_add(1, Ordering::Relaxed);
        self.lengths.fetch_or(1 << pattern.len(), Ordering::Release);
        Ok(())
    }

    /// Remove `pattern`; returns whether it was there.
    pub fn remove(&self, pattern: BlockPattern) -> bool {
        let _guard = self.writer.lock();
        match self.find(pattern.tag()) {
            Some(s) => {
                s.tag.store(TOMBSTONE, Ordering::Release);
                self.live.fetch_sub(1, Ordering::Relaxed);
                self.recompute_lengths();
                true
            }
            None => false,
        }
    }

    /// Remove every entry expired at `now`; returns how many.
    pub fn purge_expired(&self, now: Timestamp) -> usize {
        let _guard = self.writer.lock();
        self.purge_locked(now)
    }

    fn purge_locked(&self, now: Timestamp) -> usize {
        let mut n = 0;
        for s in self.slots.iter() {
            let t = s.tag.load(Ordering::Relaxed);
            if t != EMPTY && t != TOMBSTONE && s.expires.load(Ordering::Relaxed) <= now.as_millis()
            {
                s.tag.store(TOMBSTONE, Ordering::Release);
                n += 1;
            }
        }
        self.live.fetch_sub(n, Ordering::Relaxed);
        self.recompute_lengths();
        n
    }

    fn recompute_lengths(&self) {
        let mut bits = 0u32;
        for s in self.slots.iter() {
            let t = s.tag.load(Ordering::Relaxed);
            if t != EMPTY && t != TOMBSTONE {
                bits |= 1 << BlockPattern::from_tag(t).len();
            }
        }
        self.lengths.store(bits, Ordering::Release);
    }

    /// Every entry (expired ones included until purged), shortest pattern first.
    pub fn list(&self) -> Vec<BlockEntry> {
        let mut out: Vec<BlockEntry> = self
            .slots
            .iter()
            .filter_map(|s| {
                let t = s.tag.load(Ordering::Acquire);
                if t == EMPTY || t == TOMBSTONE {
                    return None;
                }
                let exp = s.expires.load(Ordering::Relaxed);
                Some(BlockEntry {
                    pattern: BlockPattern::from_tag(t),
                    added_at: Timestamp::from_millis(s.added.load(Ordering::Relaxed)),
                    expires_at: (exp != NEVER).then(|| Timestamp::from_millis(exp)),
                    hits: s.hits.load(Ordering::Relaxed),
                })
            })
            .collect();
        out.sort_by_key(|e| (e.pattern.len(), e.pattern.digits()));
        out
    }
}

impl AbusePolicy for Blocklist {
    #[inline]
    fn check(&self, contact: &Contact) -> Decision {
        match self.lookup(contact.sender_key, contact.at) {
            Some(s) => {
                s.hits.fetch_add(1, Ordering::Relaxed);
                Decision::Deny(Reason::Blocklisted)
            }
            None => Decision::Allow,
        }
    }

    fn recheck(&self, contact: &Contact) -> Decision {
        if self.is_blocked(contact.sender_key, contact.at) {
            Decision::Deny(Reason::Blocklisted)
        } else {
            Decision::Allow
        }
    }
}
