//! [`OriginRules`]: which countries and which kinds of line may get an SMS lesson.
//!
//! Replies to premium-rate, shared-cost or short-code senders pump money to their owners, and
//! replies abroad cost more: an SMS lesson only goes to senders whose country and line type are
//! allowed. The kinds come from libphonenumber metadata (through
//! [`PhoneNumber`](antirelou_core::PhoneNumber)), never from a hand-written prefix list.

use antirelou_core::NumberKind;
use antirelou_core::event::Channel;
use antirelou_core::phone::Region;
use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason};

use crate::AbuseError;

/// Kinds that are never allowed, whatever the configuration: an SMS to them can pump money to
/// their owner, or cannot be delivered at all.
pub const FORBIDDEN_KINDS: [NumberKind; 4] = [
    NumberKind::PremiumRate,
    NumberKind::SharedCost,
    NumberKind::ShortCode,
    NumberKind::Unknown,
];

/// Regions of the North American Numbering Plan whose metadata cannot tell mobile from fixed
/// lines: there, [`NumberKind::FixedLineOrMobile`] is allowed by default.
const NANP_REGIONS: [&str; 25] = [
    "US", "CA", "AG", "AI", "AS", "BB", "BM", "BS", "DM", "DO", "GD", "GU", "JM", "KN", "KY", "LC",
    "MP", "MS", "PR", "SX", "TC", "TT", "VC", "VG", "VI",
];

/// Which countries a sender may be from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedCountries {
    /// Only the country of the number that was texted (the default): a French number teaches
    /// French senders. When the contact does not say the number's country, the region given to
    /// [`OriginRules::for_region`] is used.
    OwnRegion,
    /// An explicit list.
    List(Vec<Region>),
    /// Any country (not recommended: replies abroad cost more and invite pumping).
    Any,
}

/// Allowed countries and line types for SMS lessons.
///
/// By default it checks only texts (a call costs its caller, not us); [`OriginRules::with_voice`]
/// extends it to calls, which are then rejected.
///
/// ```
/// use antirelou_abuse::OriginRules;
/// use antirelou_core::phone::Region;
/// use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason};
/// use antirelou_core::{NumberKind, Timestamp, event::Channel};
///
/// let fr = Region::new("FR").unwrap();
/// let rules = OriginRules::for_region(Some(fr));
/// let mut c = Contact {
///     sender_key: 33_612_345_678, sender_calling_code: 33, sender_region: Some(fr),
///     sender_kind: NumberKind::Mobile, number_key: 33_937_000_000, number_region: Some(fr),
///     channel: Channel::Sms, at: Timestamp::from_secs(0),
/// };
/// assert_eq!(rules.check(&c), Decision::Allow);
/// c.sender_kind = NumberKind::PremiumRate;
/// assert_eq!(rules.check(&c), Decision::Deny(Reason::OriginKind));
/// ```
#[derive(Clone, Debug)]
pub struct OriginRules {
    countries: AllowedCountries,
    /// Bit `i` set: the kind of index `i` in [`kind_index`] is allowed.
    kinds: u16,
    voice: bool,
    region: Option<Region>,
}

fn kind_index(k: NumberKind) -> u32 {
    match k {
        NumberKind::Mobile => 0,
        NumberKind::FixedLine => 1,
        NumberKind::FixedLineOrMobile => 2,
        NumberKind::PremiumRate => 3,
        NumberKind::SharedCost => 4,
        NumberKind::TollFree => 5,
        NumberKind::Voip => 6,
        NumberKind::Other => 7,
        NumberKind::ShortCode => 8,
        // Unknown and any kind added later.
        _ => 9,
    }
}

fn kind_bit(k: NumberKind) -> u16 {
    1 << kind_index(k)
}

impl OriginRules {
    /// The default rules for a number of `region`: senders of the number's own country only,
    /// mobile lines only (plus "fixed line or mobile" in the North American plan, where the
    /// metadata cannot tell them apart).
    pub fn for_region(region: Option<Region>) -> Self {
        let mut kinds = kind_bit(NumberKind::Mobile);
        if region.is_some_and(|r| NANP_REGIONS.contains(&r.as_str())) {
            kinds |= kind_bit(NumberKind::FixedLineOrMobile);
        }
        OriginRules {
            countries: AllowedCountries::OwnRegion,
            kinds,
            voice: false,
            region,
        }
    }

    /// Replace the allowed countries.
    pub fn with_countries(mut self, countries: AllowedCountries) -> Self {
        self.countries = countries;
        self
    }

    /// Replace the allowed kinds. Fails with [`AbuseError::ForbiddenKind`] if the list holds one
    /// of [`FORBIDDEN_KINDS`].
    pub fn with_kinds(mut self, kinds: &[NumberKind]) -> Result<Self, AbuseError> {
        let mut bits = 0;
        for &k in kinds {
            if FORBIDDEN_KINDS.contains(&k) || kind_index(k) == 9 {
                return Err(AbuseError::ForbiddenKind(k.as_str()));
            }
            bits |= kind_bit(k);
        }
        self.kinds = bits;
        Ok(self)
    }

    /// Apply the rules to calls too (a call from a disallowed origin is rejected).
    pub fn with_voice(mut self, voice: bool) -> Self {
        self.voice = voice;
        self
    }

    /// Whether `kind` is allowed.
    pub fn allows_kind(&self, kind: NumberKind) -> bool {
        self.kinds & kind_bit(kind) != 0
    }

    #[inline]
    fn decide(&self, c: &Contact) -> Decision {
        if c.channel == Channel::Voice && !self.voice {
            return Decision::Allow;
        }
        let country_ok = match &self.countries {
            AllowedCountries::OwnRegion => {
                c.sender_region.is_some() && c.sender_region == c.number_region.or(self.region)
            }
            AllowedCountries::List(list) => c.sender_region.is_some_and(|r| list.contains(&r)),
            AllowedCountries::Any => true,
        };
        if !country_ok {
            return Decision::Deny(Reason::OriginCountry);
        }
        if self.kinds & kind_bit(c.sender_kind) == 0 {
            return Decision::Deny(Reason::OriginKind);
        }
        Decision::Allow
    }
}

impl AbusePolicy for OriginRules {
    fn check(&self, contact: &Contact) -> Decision {
        self.decide(contact)
    }

    fn recheck(&self, contact: &Contact) -> Decision {
        self.decide(contact)
    }
}
