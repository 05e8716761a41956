//! [`Money`]: exact amounts in millionths of a currency (the ledger's, unless a
//! [`Price`](crate::Price) names another).

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul, Sub};

use serde::{Deserialize, Serialize};

/// An amount of money in **millionths** of a currency: the ledger's (euros by default, see
/// [`CurrencyRates`](crate::CurrencyRates)) for caps, reservations and spend; a provider's in a
/// [`Price`](crate::Price).
///
/// Integer arithmetic keeps spend caps exact: €0.07627 is `Money::from_micros(76_270)`, and
/// adding it 10,000 times gives exactly €762.70. Prices from providers ("0.03330000") are parsed
/// with [`Money::parse_decimal`], never through a float.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(i64);

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(0);

    /// From millionths of the currency unit.
    pub const fn from_micros(micros: i64) -> Self {
        Money(micros)
    }

    /// Millionths of the currency unit.
    pub const fn micros(self) -> i64 {
        self.0
    }

    /// From a float amount of the currency unit, rounded to the nearest millionth. Meant for
    /// configuration values such as `daily_cap_eur = 20.0`.
    ///
    /// ```
    /// use antirelou_core::Money;
    /// assert_eq!(Money::from_units_f64(0.07627).micros(), 76_270);
    /// ```
    pub fn from_units_f64(units: f64) -> Self {
        Money((units * 1_000_000.0).round() as i64)
    }

    /// As a float of the currency unit, for display and charts.
    pub fn as_units_f64(self) -> f64 {
        self.0 as f64 / 1_000_000.0
    }

    /// Parse a decimal string such as `"0.03330000"`, `"-0.0075"` or `"2"`. Digits beyond the
    /// sixth decimal are truncated. Returns `None` for anything that is not a plain decimal.
    ///
    /// ```
    /// use antirelou_core::Money;
    /// assert_eq!(Money::parse_decimal("0.03330000"), Some(Money::from_micros(33_300)));
    /// assert_eq!(Money::parse_decimal("-0.0075"), Some(Money::from_micros(-7_500)));
    /// assert_eq!(Money::parse_decimal("abc"), None);
    /// ```
    pub fn parse_decimal(s: &str) -> Option<Self> {
        let s = s.trim();
        let (neg, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let int_v: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut frac_v: i64 = 0;
        for (i, b) in frac.bytes().take(6).enumerate() {
            frac_v += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
        }
        let v = int_v.checked_mul(1_000_000)?.checked_add(frac_v)?;
        Some(Money(if neg { -v } else { v }))
    }

    /// The absolute value.
    pub fn abs(self) -> Self {
        Money(self.0.abs())
    }

    /// Saturating subtraction that never goes below zero.
    pub fn saturating_sub_floor(self, other: Money) -> Self {
        Money(self.0.saturating_sub(other.0).max(0))
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Money {
    /// Four decimals, enough for SMS prices: `0.0763`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:06}", a / 1_000_000, a % 1_000_000)
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        self.0 = self.0.saturating_add(rhs.0);
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0.saturating_sub(rhs.0))
    }
}

impl Mul<u32> for Money {
    type Output = Money;
    fn mul(self, rhs: u32) -> Money {
        Money(self.0.saturating_mul(i64::from(rhs)))
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, |a, b| a + b)
    }
}
