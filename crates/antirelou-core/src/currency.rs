//! Currencies: [`Currency`] (an ISO 4217 code), [`Price`] (an amount in a named currency, as a
//! provider bills it) and [`CurrencyRates`] (the ledger's currency and a fixed rate for each
//! other currency a provider may bill in).
//!
//! The ledger counts in one currency. A provider's price in another is converted with the
//! operator's fixed rate before it touches the ledger, and a price in a currency without a rate is
//! never taken 1:1: the engine counts it (`price.unknown_currency`) and keeps its estimate.
//!
//! Conversion is integer arithmetic: a [`Rate`] is kept in billionths (9 decimals), an amount in
//! millionths ([`Money`]), the product in 128 bits, and the result **rounded up in magnitude** to
//! the next millionth, so that a converted cost is never counted below what was spent.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::money::Money;

/// Why a currency code or a rate is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CurrencyError {
    /// Not three ASCII letters.
    #[error("{0:?} is not an ISO 4217 currency code (three letters, such as \"EUR\")")]
    InvalidCode(String),
    /// Not a positive decimal number of plausible size.
    #[error("{0:?} is not a usable rate (a positive decimal number, such as 0.92)")]
    InvalidRate(String),
    /// A rate given for the ledger's own currency.
    #[error("{0} is the ledger's currency: it takes no rate")]
    LedgerRate(Currency),
}

/// An ISO 4217 currency code: three ASCII letters, kept upper-case.
///
/// ```
/// use antirelou_core::currency::Currency;
/// assert_eq!("usd".parse::<Currency>().unwrap(), Currency::USD);
/// assert_eq!(Currency::EUR.as_str(), "EUR");
/// assert!("euro".parse::<Currency>().is_err());
/// assert!("E1R".parse::<Currency>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// The euro.
    pub const EUR: Currency = Currency(*b"EUR");
    /// The US dollar.
    pub const USD: Currency = Currency(*b"USD");
    /// The pound sterling.
    pub const GBP: Currency = Currency(*b"GBP");

    /// Parse a code, trimming spaces and upper-casing it.
    pub fn parse(code: &str) -> Result<Self, CurrencyError> {
        let trimmed = code.trim();
        match trimmed.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_alphabetic()) => Ok(Currency([
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
                c.to_ascii_uppercase(),
            ])),
            _ => Err(CurrencyError::InvalidCode(code.to_owned())),
        }
    }

    /// The code, upper-case.
    pub fn as_str(&self) -> &str {
        // Always three ASCII letters (checked by `parse` and the constants).
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An amount in a named currency: what a provider bills for a message.
///
/// ```
/// use antirelou_core::currency::{Currency, Price};
/// use antirelou_core::Money;
/// let p = Price::new(Money::from_micros(7_500), Currency::USD);
/// assert_eq!(p.to_string(), "0.007500 USD");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Price {
    /// The amount, in millionths of `currency`.
    pub amount: Money,
    /// The currency it is billed in.
    pub currency: Currency,
}

impl Price {
    /// `amount` of `currency`.
    pub const fn new(amount: Money, currency: Currency) -> Self {
        Price { amount, currency }
    }

    /// A provider's price as it writes it: a decimal amount (see [`Money::parse_decimal`]) and
    /// a currency code. `None` when either is unusable: a price without a currency is no price.
    ///
    /// ```
    /// use antirelou_core::currency::{Currency, Price};
    /// use antirelou_core::Money;
    /// assert_eq!(Price::parse("-0.0075", "usd"), Some(Price::new(Money::from_micros(-7_500), Currency::USD)));
    /// assert_eq!(Price::parse("0.0075", ""), None);
    /// ```
    pub fn parse(amount: &str, currency: &str) -> Option<Self> {
        Some(Price {
            amount: Money::parse_decimal(amount)?,
            currency: Currency::parse(currency).ok()?,
        })
    }

    /// The same price, its amount made positive (providers write money spent as negative).
    pub fn abs(self) -> Self {
        Price {
            amount: self.amount.abs(),
            currency: self.currency,
        }
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

impl fmt::Debug for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Billionths per unit.
const NANOS: u64 = 1_000_000_000;
/// The largest rate accepted, in units (a rate beyond it is a typing mistake).
const MAX_RATE_UNITS: u64 = 1_000_000_000;

/// How many units of the ledger's currency one unit of another currency is worth, kept exactly
/// to 9 decimals (a longer decimal is rounded to the nearest billionth, half up).
///
/// ```
/// use antirelou_core::currency::Rate;
/// use antirelou_core::Money;
/// let r = Rate::parse_decimal("0.92").unwrap();
/// assert_eq!(r.billionths(), 920_000_000);
/// // 0.0075 USD at 0.92 is 0.0069 EUR, exactly.
/// assert_eq!(r.convert(Money::from_micros(7_500)), Money::from_micros(6_900));
/// // Rounded up to the next millionth: 0.000001 × 0.5 is counted 0.000001.
/// assert_eq!(Rate::parse_decimal("0.5").unwrap().convert(Money::from_micros(1)), Money::from_micros(1));
/// assert!(Rate::parse_decimal("0").is_none());
/// assert!(Rate::parse_decimal("-1").is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Rate(u64);

impl Rate {
    /// From billionths of a unit; `None` for zero or above a billion units.
    pub fn from_billionths(billionths: u64) -> Option<Self> {
        (billionths > 0 && billionths <= MAX_RATE_UNITS * NANOS).then_some(Rate(billionths))
    }

    /// The rate in billionths of a unit.
    pub const fn billionths(self) -> u64 {
        self.0
    }

    /// Parse a plain positive decimal (`"0.92"`, `"1"`, `"1.0869565217"`); digits beyond the
    /// ninth decimal round the ninth (half up). `None` for anything else, zero included.
    pub fn parse_decimal(s: &str) -> Option<Self> {
        let s = s.trim();
        let s = s.strip_prefix('+').unwrap_or(s);
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let int_v: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
        if int_v > MAX_RATE_UNITS {
            return None;
        }
        let mut frac_v: u64 = 0;
        for (i, b) in frac.bytes().take(9).enumerate() {
            frac_v += u64::from(b - b'0') * 10u64.pow(8 - i as u32);
        }
        if frac.as_bytes().get(9).is_some_and(|b| *b >= b'5') {
            frac_v += 1;
        }
        Rate::from_billionths(int_v * NANOS + frac_v)
    }

    /// From a float as written in a configuration file (`USD = 0.92`): its shortest decimal
    /// form, parsed exactly by [`Rate::parse_decimal`], so `0.92` is 0.920000000, not the
    /// binary float's 0.9200000000000000177….
    pub fn from_config_f64(v: f64) -> Option<Self> {
        if !v.is_finite() || v <= 0.0 {
            return None;
        }
        // `Display` of an f64 is its shortest round-trip decimal, never in exponent form.
        Rate::parse_decimal(&v.to_string())
    }

    /// `amount` (of the rate's currency) in the ledger's currency, rounded up in magnitude to
    /// the next millionth (saturating at the bounds of [`Money`]).
    pub fn convert(self, amount: Money) -> Money {
        let product = i128::from(amount.micros()) * i128::from(self.0);
        let nanos = i128::from(NANOS);
        let (q, r) = (product / nanos, product % nanos);
        let rounded = if r == 0 { q } else { q + product.signum() };
        Money::from_micros(i64::try_from(rounded).unwrap_or(if rounded < 0 {
            i64::MIN
        } else {
            i64::MAX
        }))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frac = format!("{:09}", self.0 % NANOS);
        let frac = frac.trim_end_matches('0');
        let frac = if frac.is_empty() { "0" } else { frac };
        write!(f, "{}.{frac}", self.0 / NANOS)
    }
}

/// The ledger's currency and a fixed rate for each other currency a provider bills in, given to
/// the engine in [`EngineConfig::currency`](crate::engine::EngineConfig::currency).
///
/// ```
/// use antirelou_core::currency::{Currency, CurrencyRates, Price, Rate};
/// use antirelou_core::Money;
/// let rates = CurrencyRates::new(Currency::EUR)
///     .with_rate(Currency::USD, Rate::parse_decimal("0.92").unwrap())
///     .unwrap();
/// let usd = Price::new(Money::from_micros(10_000), Currency::USD);
/// assert_eq!(rates.to_ledger(usd), Some(Money::from_micros(9_200)));
/// let eur = Price::new(Money::from_micros(10_000), Currency::EUR);
/// assert_eq!(rates.to_ledger(eur), Some(Money::from_micros(10_000)));
/// // No rate, no conversion: never 1:1.
/// assert_eq!(rates.to_ledger(Price::new(Money::from_micros(1), Currency::GBP)), None);
/// assert_eq!(rates.missing([Currency::USD, Currency::GBP, Currency::EUR]), vec![Currency::GBP]);
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CurrencyRates {
    ledger: Currency,
    rates: BTreeMap<Currency, Rate>,
}

impl Default for CurrencyRates {
    /// The euro as the ledger's currency, no other currency.
    fn default() -> Self {
        CurrencyRates::new(Currency::EUR)
    }
}

impl CurrencyRates {
    /// A ledger in `ledger`, with no rate yet.
    pub fn new(ledger: Currency) -> Self {
        CurrencyRates {
            ledger,
            rates: BTreeMap::new(),
        }
    }

    /// Add (or replace) the rate of `currency`: one unit of it is `rate` units of the ledger's.
    pub fn with_rate(mut self, currency: Currency, rate: Rate) -> Result<Self, CurrencyError> {
        if currency == self.ledger {
            return Err(CurrencyError::LedgerRate(currency));
        }
        self.rates.insert(currency, rate);
        Ok(self)
    }

    /// The ledger's currency.
    pub fn ledger(&self) -> Currency {
        self.ledger
    }

    /// The rate of `currency`, if it has one (the ledger's own has none: it is 1).
    pub fn rate(&self, currency: Currency) -> Option<Rate> {
        self.rates.get(&currency).copied()
    }

    /// Every currency with a rate, with it.
    pub fn rates(&self) -> impl Iterator<Item = (Currency, Rate)> + '_ {
        self.rates.iter().map(|(c, r)| (*c, *r))
    }

    /// Whether a price in `currency` can be converted.
    pub fn converts(&self, currency: Currency) -> bool {
        currency == self.ledger || self.rates.contains_key(&currency)
    }

    /// `price` in the ledger's currency, or `None` when its currency has no rate (never 1:1).
    pub fn to_ledger(&self, price: Price) -> Option<Money> {
        if price.currency == self.ledger {
            return Some(price.amount);
        }
        self.rate(price.currency).map(|r| r.convert(price.amount))
    }

    /// The currencies of `billed` that cannot be converted, sorted, each once.
    pub fn missing(&self, billed: impl IntoIterator<Item = Currency>) -> Vec<Currency> {
        let mut out: Vec<Currency> = billed.into_iter().filter(|c| !self.converts(*c)).collect();
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_three_letters_upper_cased() {
        assert_eq!(Currency::parse(" gbp ").ok(), Some(Currency::GBP));
        for bad in ["", "EU", "EURO", "E R", "€UR", "12A", "EU1"] {
            assert!(Currency::parse(bad).is_err(), "{bad:?}");
        }
        let json = serde_json::to_string(&Currency::USD).unwrap_or_default();
        assert_eq!(json, "\"USD\"");
        assert!(serde_json::from_str::<Currency>("\"usdd\"").is_err());
    }

    #[test]
    fn rates_parse_exactly_and_round_the_tenth_decimal() {
        let r = |s: &str| Rate::parse_decimal(s).map(Rate::billionths);
        assert_eq!(r("0.92"), Some(920_000_000));
        assert_eq!(r("1"), Some(1_000_000_000));
        assert_eq!(r(".5"), Some(500_000_000));
        assert_eq!(r("1.0869565217"), Some(1_086_956_522));
        assert_eq!(r("1.0869565214"), Some(1_086_956_521));
        assert_eq!(r("0.0000000004"), None, "rounds to zero");
        for bad in ["", ".", "-0.9", "abc", "1e3", "0", "1000000001", "0.9.2"] {
            assert_eq!(r(bad), None, "{bad:?}");
        }
        assert_eq!(
            Rate::from_config_f64(0.92).map(Rate::billionths),
            Some(920_000_000)
        );
        assert_eq!(
            Rate::from_config_f64(1.1).map(|r| r.to_string()),
            Some("1.1".into())
        );
        assert!(Rate::from_config_f64(f64::NAN).is_none());
        assert!(Rate::from_config_f64(-0.5).is_none());
        assert!(Rate::from_config_f64(1e-12).is_none());
    }

    #[test]
    fn conversion_rounds_up_in_magnitude_and_saturates() {
        let third = Rate::parse_decimal("0.333333333").unwrap_or(Rate(1));
        // 0.000003 × 0.333333333 = 0.000000999999999: one millionth, not zero.
        assert_eq!(third.convert(Money::from_micros(3)), Money::from_micros(1));
        assert_eq!(
            third.convert(Money::from_micros(-3)),
            Money::from_micros(-1)
        );
        assert_eq!(third.convert(Money::ZERO), Money::ZERO);
        let exact = Rate::parse_decimal("0.92").unwrap_or(Rate(1));
        assert_eq!(
            exact.convert(Money::from_micros(76_270)),
            Money::from_micros(70_169)
        ); // 70_168.4 rounded up
        let big = Rate::from_billionths(MAX_RATE_UNITS * NANOS).unwrap_or(Rate(1));
        assert_eq!(big.convert(Money::from_micros(i64::MAX)).micros(), i64::MAX);
    }

    #[test]
    fn the_ledger_takes_no_rate_and_unknown_currencies_are_not_converted() {
        let one = Rate::parse_decimal("1").unwrap_or(Rate(1));
        assert_eq!(
            CurrencyRates::new(Currency::EUR).with_rate(Currency::EUR, one),
            Err(CurrencyError::LedgerRate(Currency::EUR))
        );
        let rates = CurrencyRates::default();
        assert_eq!(rates.ledger(), Currency::EUR);
        assert_eq!(
            rates.to_ledger(Price::new(Money::from_micros(5), Currency::USD)),
            None
        );
        assert!(rates.missing([Currency::EUR]).is_empty());
        assert_eq!(
            rates.missing([Currency::USD, Currency::USD]),
            vec![Currency::USD]
        );
    }
}
