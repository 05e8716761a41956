//! The abuse benchmarks' shared workload: a deterministic stream of inbound texts over `N`
//! distinct senders, and the structures run on it (the default chain, `governor`'s keyed
//! limiter, the one-miss floor, and the no-share ceiling), used by the criterion bench
//! `abuse_filter` and by the `abuse_scaling` binary.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use antirelou_abuse::{AbuseConfig, PolicyChain, default_chain};
use antirelou_core::event::Channel;
use antirelou_core::phone::Region;
use antirelou_core::policy::{AbusePolicy, Contact, TextFingerprint};
use antirelou_core::{NumberKind, Timestamp};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Items in the pre-generated stream (16 MiB of indices).
pub const STREAM: usize = 1 << 21;
const FRESH_SHARE: f64 = 0.70;
const START_MS: i64 = 1_700_000_000_000;
const STEP_MS: i64 = 10;
const NUMBER_KEY: u64 = 33_937_000_000;

/// A tiny deterministic generator (xorshift64*), so the stream is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Sender indices (relative to the pass) and how many fresh senders one pass introduces.
#[derive(Debug)]
pub struct Stream {
    idx: Vec<u64>,
    fresh_per_pass: u64,
}

/// The stream: about 70 % first contacts, the rest repeats of a recent sender (a Zipf-like
/// distance), the same on every run.
pub fn stream() -> Stream {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut idx = Vec::with_capacity(STREAM);
    let mut fresh = 0u64;
    for _ in 0..STREAM {
        if fresh == 0 || rng.unit() < FRESH_SHARE {
            idx.push(fresh);
            fresh += 1;
        } else {
            // Zipf-like distance back to a recent sender: P(d) ~ 1/d over 1..=10,000.
            let max = fresh.min(10_000) as f64;
            let d = max.powf(rng.unit()).floor() as u64;
            idx.push(fresh - d.clamp(1, fresh));
        }
    }
    Stream {
        idx,
        fresh_per_pass: fresh,
    }
}

/// The sender key of index `i` among `N` senders: a French mobile number.
#[inline(always)]
pub fn key<const N: u64>(i: u64) -> u64 {
    33_600_000_000 + ((i % N).wrapping_mul(1_234_567_891) % 200_000_000)
}

#[inline(always)]
/// The sender key and the time (ms) of the `g`-th contact of the stream over `N` senders (a
/// pass over the stream shifts the sender indices, so that passes visit all `N`).
pub fn item<const N: u64>(s: &Stream, g: u64) -> (u64, i64) {
    let pass = g / STREAM as u64;
    let i = s.idx[(g % STREAM as u64) as usize] + pass * s.fresh_per_pass;
    (key::<N>(i), START_MS + g as i64 * STEP_MS)
}

#[inline(always)]
/// A text from `sender_key` to our French number at `at` (ms).
pub fn contact(fr: Region, sender_key: u64, at: i64) -> Contact {
    Contact {
        sender_key,
        sender_calling_code: 33,
        sender_region: Some(fr),
        sender_kind: NumberKind::Mobile,
        number_key: NUMBER_KEY,
        number_region: Some(fr),
        channel: Channel::Sms,
        at: Timestamp::from_millis(at),
    }
}

/// The fingerprint of the `g`-th text: every text its own (as the engine hands the chain a
/// fingerprint of each body, the copy-paste guard judges every text).
#[inline(always)]
pub fn text(g: u64) -> TextFingerprint {
    TextFingerprint {
        hash: g.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5bd1_e995,
        letters: 40,
    }
}

/// France.
pub fn fr() -> Region {
    Region::new("FR").unwrap()
}

/// The default chain for a French number.
pub fn new_chain() -> PolicyChain {
    default_chain(Some(fr()), &AbuseConfig::default()).unwrap()
}

/// `governor`'s keyed GCRA limiter with the one rule of the comparison: one per sender per
/// 30 days.
pub fn new_governor() -> DefaultKeyedRateLimiter<u64> {
    RateLimiter::keyed(
        Quota::with_period(Duration::from_secs(30 * 86_400))
            .unwrap()
            .allow_burst(NonZeroU32::MIN),
    )
}

/// Decide on the stream items `from, from + stride, …` (`count` of them), each a text with its
/// own fingerprint ([`text`]), through `check_text` as the engine calls it.
#[inline(never)]
pub fn run_chain<const N: u64>(
    chain: &PolicyChain,
    s: &Stream,
    from: u64,
    stride: u64,
    count: u64,
) {
    let fr = fr();
    let mut g = from;
    for _ in 0..count {
        let (k, at) = item::<N>(s, g);
        black_box(chain.check_text(&contact(fr, k, at), Some(text(g))));
        g += stride;
    }
}

#[inline(never)]
/// `governor`'s decisions on the stream items `from, from + stride, …` (`count` of them).
pub fn run_governor<const N: u64>(
    lim: &DefaultKeyedRateLimiter<u64>,
    s: &Stream,
    from: u64,
    stride: u64,
    count: u64,
) {
    let mut g = from;
    for _ in 0..count {
        let (k, _) = item::<N>(s, g);
        black_box(lim.check_key(&k).is_ok());
        g += stride;
    }
}

/// The one-miss floor: one random read-modify-write per contact in a table of `N` `u32`s
/// (rounded up to a power of two).
pub fn new_one_miss<const N: u64>() -> Vec<std::sync::atomic::AtomicU32> {
    let len = (N as usize).next_power_of_two();
    (0..len)
        .map(|_| std::sync::atomic::AtomicU32::new(0))
        .collect()
}

/// The one-miss floor's work on the stream items `from, from + stride, …` (`count` of them).
#[inline(never)]
pub fn run_one_miss<const N: u64>(
    table: &[std::sync::atomic::AtomicU32],
    s: &Stream,
    from: u64,
    stride: u64,
    count: u64,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mask = table.len() as u64 - 1;
    let mut g = from;
    for _ in 0..count {
        let (k, _) = item::<N>(s, g);
        let mut h = k ^ (k >> 33);
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        let slot = &table[(h & mask) as usize];
        let v = slot.load(Relaxed);
        slot.store(v.wrapping_add(1), Relaxed);
        black_box(v);
        g += stride;
    }
}

/// The host's ceiling: the same stream items, each hashed a few rounds into a register, with
/// nothing written to memory at all. Two threads running it share only the read-only stream,
/// so its two-thread scaling is what this machine gives two threads that share nothing.
#[inline(never)]
pub fn run_no_share<const N: u64>(s: &Stream, from: u64, stride: u64, count: u64) {
    let mut acc = 0u64;
    let mut g = from;
    for _ in 0..count {
        let (k, _) = item::<N>(s, g);
        let mut h = k ^ acc;
        for _ in 0..8 {
            h ^= h >> 33;
            h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        }
        acc = acc.wrapping_add(h);
        g += stride;
    }
    black_box(acc);
}

/// Warm-up decisions: enough for the stream to visit every one of the N senders.
pub fn warm_up_items<const N: u64>(s: &Stream) -> u64 {
    let passes = N.div_ceil(s.fresh_per_pass);
    passes * STREAM as u64
}
