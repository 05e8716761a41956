//! Small helpers shared by the policies: hashing, digit arithmetic on E.164 keys, per-thread
//! stripes and cache-line padding.

use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Powers of ten up to 10^19.
pub(crate) const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// The largest E.164 key: 15 digits.
pub(crate) const MAX_KEY: u64 = 999_999_999_999_999;

/// Number of decimal digits of `key` (1 for 0).
#[inline]
pub(crate) fn digit_count(key: u64) -> u32 {
    key.checked_ilog10().map_or(1, |l| l + 1)
}

/// The first `len` digits of `key`, or `None` when `key` has fewer digits.
#[inline]
pub(crate) fn key_prefix(key: u64, len: u32) -> Option<u64> {
    let n = digit_count(key);
    if len == 0 || len > n {
        return None;
    }
    Some(key / POW10[(n - len) as usize])
}

/// Division by a divisor fixed at construction, by a multiplication instead of a `div`
/// instruction (a `div` costs tens of cycles, and a core's two hardware threads share one
/// divider: the hot paths divide by the same few constants on every decision).
///
/// With `m = ⌊(2^64 − 1) / d⌋ + 1`, `⌊n·m / 2^64⌋` is `⌊n / d⌋` or one more, for every `n`;
/// one multiplication and a compare correct it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastDiv {
    d: u64,
    /// 0 when `d` is 1.
    m: u64,
}

impl FastDiv {
    /// A divider by `d`, at least 1.
    pub(crate) const fn new(d: u64) -> FastDiv {
        let d = if d == 0 { 1 } else { d };
        FastDiv {
            d,
            m: if d == 1 { 0 } else { u64::MAX / d + 1 },
        }
    }

    /// `n / d`.
    #[inline]
    pub(crate) fn div(self, n: u64) -> u64 {
        if self.m == 0 {
            return n;
        }
        let q = ((u128::from(n) * u128::from(self.m)) >> 64) as u64;
        let (product, overflow) = q.overflowing_mul(self.d);
        if overflow || product > n { q - 1 } else { q }
    }

    /// `(n / d, n % d)`.
    #[inline]
    pub(crate) fn div_rem(self, n: u64) -> (u64, u64) {
        let q = self.div(n);
        (q, n - q * self.d)
    }

    /// The divisor.
    #[cfg(test)]
    pub(crate) const fn divisor(self) -> u64 {
        self.d
    }
}

/// A fast 64-bit finaliser (MurmurHash3's fmix64): every input bit affects every output bit.
#[inline]
pub(crate) fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

/// A random per-instance seed, so that table positions cannot be predicted from outside.
pub(crate) fn random_seed() -> u64 {
    RandomState::new().hash_one(0x5eed_u64) | 1
}

/// The seed of one policy's hashes: derived from `hash_seed` and the policy's own `salt` when
/// one is given (reproducible runs: the simulator, tests), else [`random_seed`].
pub(crate) fn seed_or_random(hash_seed: Option<u64>, salt: u64) -> u64 {
    match hash_seed {
        Some(s) => mix(s ^ mix(salt)) | 1,
        None => random_seed(),
    }
}

/// Number of per-thread stripes of striped counters (a power of two).
pub(crate) const STRIPES: usize = 16;

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's stripe: threads get stripes round-robin, so that two busy threads never write
/// the same cache line of a striped counter.
#[inline]
pub(crate) fn stripe() -> usize {
    STRIPE.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
        s.set(v);
        v
    })
}

/// A value alone on its cache line(s), to avoid false sharing.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

/// The tests' deterministic generator (xorshift64*), the same sequence on every run.
#[cfg(test)]
pub(crate) struct TestRng(pub(crate) u64);

#[cfg(test)]
impl TestRng {
    /// The next value.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn digits_and_prefixes() {
        assert_eq!(digit_count(0), 1);
        assert_eq!(digit_count(9), 1);
        assert_eq!(digit_count(33_612_345_678), 11);
        assert_eq!(digit_count(MAX_KEY), 15);
        assert_eq!(key_prefix(33_612_345_678, 4), Some(3361));
        assert_eq!(key_prefix(33_612_345_678, 11), Some(33_612_345_678));
        assert_eq!(key_prefix(33_612_345_678, 12), None);
        assert_eq!(key_prefix(33_612_345_678, 0), None);
        const { assert!(MAX_KEY < 1 << 50) };
    }

    #[test]
    fn fast_division_is_exact() {
        let mut rng = TestRng(0x9e37_79b9_7f4a_7c15);
        let mut next = || rng.next();
        let mut divisors: Vec<u64> = (0..20).map(|i| POW10[i]).collect();
        divisors.extend([
            1,
            2,
            3,
            7,
            60_000,
            600_000,
            3_600_000,
            2_592_000_000,
            u64::MAX,
            u64::MAX - 1,
            (1 << 63) + 1,
        ]);
        for _ in 0..64 {
            divisors.push(next() >> (next() % 64));
        }
        for &d in divisors.iter().filter(|d| **d > 0) {
            let f = FastDiv::new(d);
            assert_eq!(f.divisor(), d);
            let mut ns = vec![0, 1, d - 1, d, d.saturating_add(1), u64::MAX, u64::MAX - 1];
            ns.extend((1..8).map(|k| d.saturating_mul(k)));
            ns.extend((1..8).map(|k| d.saturating_mul(k).saturating_sub(1)));
            for _ in 0..256 {
                ns.push(next());
                ns.push(next() >> (next() % 64));
            }
            for n in ns {
                assert_eq!(f.div(n), n / d, "{n} / {d}");
                assert_eq!(f.div_rem(n), (n / d, n % d), "{n} % {d}");
            }
        }
    }

    #[test]
    fn stripes_are_stable_per_thread() {
        let a = stripe();
        assert_eq!(a, stripe());
        let b = std::thread::spawn(stripe).join().unwrap();
        assert!(a < STRIPES && b < STRIPES);
    }
}
