//! Phone numbers, validated with libphonenumber's metadata (the `phonenumber` crate): never parsed
//! by hand.
//!
//! * [`PhoneNumber`]: a valid number in canonical E.164, with its country, its [`NumberKind`], the
//!   forms each provider wants and a compact integer [`PhoneNumber::key`] for hot paths.
//! * [`Caller`]: who is on the other end of an inbound contact: a number, a withheld caller ID, or
//!   a sender that is not a dialable number (short code, alphanumeric sender ID).

use std::fmt;
use std::str::FromStr;

use phonenumber::metadata::DATABASE;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

mod mask_text;
mod plan;

pub use mask_text::{MIN_MASKED_DIGITS, mask_numbers};

/// What kind of line a number is, from libphonenumber metadata.
///
/// Origin rules use it: by default only [`NumberKind::Mobile`] senders get an SMS lesson, never
/// premium-rate, shared-cost or short codes (replies to them pump money to their owners).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NumberKind {
    /// A mobile line.
    Mobile,
    /// A fixed (landline) line.
    FixedLine,
    /// The numbering plan cannot tell fixed from mobile (the USA and Canada).
    FixedLineOrMobile,
    /// A premium-rate line: the caller pays extra to the owner.
    PremiumRate,
    /// A shared-cost line.
    SharedCost,
    /// A toll-free line.
    TollFree,
    /// A voice-over-IP number (French 09 numbers, for instance).
    Voip,
    /// A personal, pager, UAN or voicemail-access number.
    Other,
    /// A short code (a few digits, not a full number).
    ShortCode,
    /// A valid number that fits no known pattern.
    Unknown,
}

impl NumberKind {
    /// A stable lowercase label (`"mobile"`, `"premium_rate"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            NumberKind::Mobile => "mobile",
            NumberKind::FixedLine => "fixed_line",
            NumberKind::FixedLineOrMobile => "fixed_line_or_mobile",
            NumberKind::PremiumRate => "premium_rate",
            NumberKind::SharedCost => "shared_cost",
            NumberKind::TollFree => "toll_free",
            NumberKind::Voip => "voip",
            NumberKind::Other => "other",
            NumberKind::ShortCode => "short_code",
            NumberKind::Unknown => "unknown",
        }
    }

    fn from_lib(t: phonenumber::Type) -> Self {
        use phonenumber::Type as T;
        match t {
            T::Mobile => NumberKind::Mobile,
            T::FixedLine => NumberKind::FixedLine,
            T::FixedLineOrMobile => NumberKind::FixedLineOrMobile,
            T::PremiumRate => NumberKind::PremiumRate,
            T::SharedCost => NumberKind::SharedCost,
            T::TollFree => NumberKind::TollFree,
            T::Voip => NumberKind::Voip,
            T::ShortCode => NumberKind::ShortCode,
            T::PersonalNumber | T::Pager | T::Uan | T::Voicemail | T::StandardRate => {
                NumberKind::Other
            }
            _ => NumberKind::Unknown,
        }
    }
}

/// An ISO 3166-1 alpha-2 region code such as `FR` or `BE`, two ASCII capitals, `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region([u8; 2]);

impl Region {
    /// Parse a two-letter region code, case-insensitively.
    ///
    /// ```
    /// use antirelou_core::phone::Region;
    /// assert_eq!(Region::new("fr").unwrap().as_str(), "FR");
    /// assert!(Region::new("France").is_err());
    /// ```
    pub fn new(code: &str) -> Result<Self> {
        let b = code.as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic) {
            Ok(Region([
                b[0].to_ascii_uppercase(),
                b[1].to_ascii_uppercase(),
            ]))
        } else {
            Err(Error::Config(format!(
                "{code:?} is not a two-letter region code"
            )))
        }
    }

    /// The code, e.g. `"FR"`.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    fn to_lib(self) -> Option<phonenumber::country::Id> {
        phonenumber::country::Id::from_str(self.as_str()).ok()
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Region {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Region::new(&s).map_err(serde::de::Error::custom)
    }
}

/// A valid phone number in canonical E.164 form.
///
/// Built only through libphonenumber metadata; an invalid number is an
/// [`Error::InvalidPhoneNumber`] that says what was wrong.
///
/// ```
/// use antirelou_core::{PhoneNumber, NumberKind};
/// let n = PhoneNumber::parse("+33 6 12 34 56 78").unwrap();
/// assert_eq!(n.e164(), "+33612345678");
/// assert_eq!(n.region().unwrap().as_str(), "FR");
/// assert_eq!(n.kind(), NumberKind::Mobile);
/// assert_eq!(n.key(), 33_612_345_678);
/// assert_eq!(n.masked(), "…5678");
///
/// let err = PhoneNumber::parse("call me maybe").unwrap_err();
/// assert!(err.to_string().contains("no digits"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    e164: String,
    key: u64,
    calling_code: u16,
    region: Option<Region>,
    kind: NumberKind,
}

/// The numbers parsed last, so that the same input is not parsed twice in a row:
/// libphonenumber's parse, validation and line-type lookup run dozens of regular expressions
/// (tens of microseconds), and every webhook parses our own number (its `To`) again, as well as
/// the sender of a repeat text (a troll sending thousands).
///
/// A direct-mapped table of [`SLOTS`](parse_cache::SLOTS) entries, indexed by a randomly
/// seeded hash of the input, so memory is fixed whatever the inputs; a slot busy in another
/// thread is skipped, never waited for. Only valid numbers are kept (an invalid input costs
/// its parse every time, as before).
mod parse_cache {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::{LazyLock, Mutex};

    use super::{PhoneNumber, Region};

    /// Entries in the table.
    pub(super) const SLOTS: usize = 256;

    struct Entry {
        input: Box<str>,
        region: Option<Region>,
        number: PhoneNumber,
    }

    struct Cache {
        seed: RandomState,
        slots: Box<[Mutex<Option<Entry>>]>,
    }

    static CACHE: LazyLock<Cache> = LazyLock::new(|| Cache {
        seed: RandomState::new(),
        slots: (0..SLOTS).map(|_| Mutex::new(None)).collect(),
    });

    fn slot(input: &str) -> &'static Mutex<Option<Entry>> {
        let c = &*CACHE;
        &c.slots[(c.seed.hash_one(input) as usize) % SLOTS]
    }

    pub(super) fn get(input: &str, region: Option<Region>) -> Option<PhoneNumber> {
        let guard = slot(input).try_lock().ok()?;
        guard
            .as_ref()
            .filter(|e| e.region == region && &*e.input == input)
            .map(|e| e.number.clone())
    }

    pub(super) fn put(input: &str, region: Option<Region>, number: &PhoneNumber) {
        if let Ok(mut guard) = slot(input).try_lock() {
            *guard = Some(Entry {
                input: input.into(),
                region,
                number: number.clone(),
            });
        }
    }
}

impl PhoneNumber {
    /// Parse a number in international form: `+33612345678`, `0033 6 12 34 56 78`, or bare
    /// international digits without `+` (`33612345678`, as some providers send them; Vonage, for
    /// example).
    pub fn parse(input: &str) -> Result<Self> {
        Self::parse_inner(input, None)
    }

    /// Parse a number that may be in the national form of `region` (`06 12 34 56 78` in `FR`).
    /// International forms are accepted too.
    pub fn parse_with_region(input: &str, region: Region) -> Result<Self> {
        Self::parse_inner(input, Some(region))
    }

    fn parse_inner(input: &str, region: Option<Region>) -> Result<Self> {
        if let Some(hit) = parse_cache::get(input, region) {
            return Ok(hit);
        }
        let parsed = Self::parse_uncached(input, region)?;
        parse_cache::put(input, region, &parsed);
        Ok(parsed)
    }

    fn parse_uncached(input: &str, region: Option<Region>) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidPhoneNumber {
            input: input.chars().take(64).collect(),
            reason: reason.to_owned(),
        };
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(bad("empty input"));
        }
        if trimmed.len() > 64 {
            return Err(bad("longer than any phone number"));
        }
        if !trimmed.bytes().any(|b| b.is_ascii_digit()) {
            return Err(bad("no digits"));
        }
        if let Some(c) = trimmed
            .chars()
            .find(|c| !(c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')' | '/')))
        {
            return Err(bad(&format!("unexpected character {c:?}")));
        }
        // Normalise: a leading 00 is the international prefix; bare digits without a region are
        // international digits (the form some providers send).
        let digits_only: String = trimmed.chars().filter(char::is_ascii_digit).collect();
        let candidate = if trimmed.starts_with('+') {
            format!("+{digits_only}")
        } else if let Some(rest) = digits_only.strip_prefix("00") {
            format!("+{rest}")
        } else if region.is_none() {
            format!("+{digits_only}")
        } else {
            digits_only.clone()
        };
        let lib_region = match region {
            Some(r) => Some(
                r.to_lib()
                    .ok_or_else(|| bad(&format!("unknown region {r}")))?,
            ),
            None => None,
        };
        let parsed = phonenumber::parse(lib_region, &candidate).map_err(|e| bad(&e.to_string()))?;
        // The type and region from our compiled copy of the metadata's patterns (see `plan`),
        // or from libphonenumber for what that table does not list.
        let significant = parsed.national().value().to_string();
        let (line_type, region_id) = match plan::classify(parsed.code().value(), &significant) {
            Some(c) => (
                c.kind,
                c.region_id
                    .and_then(|id| id.parse::<phonenumber::country::Id>().ok()),
            ),
            None => (parsed.number_type(&DATABASE), parsed.country().id()),
        };
        // `is_valid` is `number_type != Unknown` computed on the national number written with
        // its leading zeros, `number_type` on it without them: with no leading zero (every plan
        // but a few, such as Italy's fixed lines) they are the same regular-expression work,
        // done once here.
        let valid = if parsed.national().zeros() == 0 {
            line_type != phonenumber::Type::Unknown
        } else {
            parsed.is_valid()
        };
        if !valid {
            return Err(bad(&format!(
                "not a valid number in the numbering plan of +{} (wrong length or unassigned range)",
                parsed.code().value()
            )));
        }
        // libphonenumber's E.164 form, written directly: its formatter also picks a national
        // format (more regular expressions) that the E.164 form does not use.
        let e164 = format!("+{}{}", parsed.code().value(), parsed.national());
        let key: u64 = e164
            .trim_start_matches('+')
            .parse()
            .map_err(|_| bad("E.164 form is not numeric"))?;
        let region = region_id.and_then(|id| Region::new(id.as_ref()).ok());
        let kind = NumberKind::from_lib(line_type);
        Ok(PhoneNumber {
            e164,
            key,
            calling_code: parsed.code().value(),
            region,
            kind,
        })
    }

    /// Canonical E.164 with the leading `+`: `+33612345678`.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// A compact integer key: the E.164 digits as a number (at most 15 digits, so it always fits).
    /// Equal numbers have equal keys and different numbers different keys. Use it on hot paths;
    /// it is **not** a privacy measure (see [`crate::privacy`]).
    pub fn key(&self) -> u64 {
        self.key
    }

    /// The country calling code (`33` for France, `1` for NANP).
    pub fn calling_code(&self) -> u16 {
        self.calling_code
    }

    /// The region the number belongs to, when the metadata can tell (`None` for
    /// non-geographic numbers).
    pub fn region(&self) -> Option<Region> {
        self.region
    }

    /// The kind of line.
    pub fn kind(&self) -> NumberKind {
        self.kind
    }

    /// The last four digits behind an ellipsis (`…5678`): the only form logs may show.
    pub fn masked(&self) -> String {
        mask_digits(&self.e164)
    }
}

/// Mask any number-like string down to its last four characters: `…5678`.
pub fn mask_digits(s: &str) -> String {
    let n = s.chars().count();
    let tail: String = s.chars().skip(n.saturating_sub(4)).collect();
    format!("…{tail}")
}

impl fmt::Debug for PhoneNumber {
    /// Masked: a `Debug` print of a number must not leak it into logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl FromStr for PhoneNumber {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        PhoneNumber::parse(s)
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.e164)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PhoneNumber::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Who is on the other end of an inbound call or text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Caller {
    /// A valid, dialable number.
    Number(PhoneNumber),
    /// The caller withheld their number (`anonymous`, `restricted`, `private`, `unknown`, or an
    /// empty caller ID). Nothing can be sent back; calls still get the lesson.
    Withheld,
    /// A sender that is not a dialable number: a short code or an alphanumeric sender ID. Never
    /// answered by SMS. Holds the masked form only.
    NotDialable(String),
}

impl Caller {
    /// Classify a provider's caller field. Withheld markers are recognised case-insensitively;
    /// short codes (3 to 8 digits), alphanumeric sender IDs and SIP callers (`sip:`/`sips:`
    /// URIs) become [`Caller::NotDialable`]; anything else must be a valid number, or this is an
    /// [`Error::InvalidPhoneNumber`].
    ///
    /// ```
    /// use antirelou_core::Caller;
    /// assert_eq!(Caller::parse("anonymous").unwrap(), Caller::Withheld);
    /// assert!(matches!(Caller::parse("36665").unwrap(), Caller::NotDialable(_)));
    /// assert!(matches!(Caller::parse("sip:alice@example.com").unwrap(), Caller::NotDialable(_)));
    /// assert!(matches!(Caller::parse("+32470123456").unwrap(), Caller::Number(_)));
    /// assert!(Caller::parse("+33 1").is_err());
    /// ```
    pub fn parse(input: &str) -> Result<Self> {
        let t = input.trim();
        let lower = t.to_ascii_lowercase();
        if t.is_empty()
            || matches!(
                lower.as_str(),
                "anonymous" | "restricted" | "private" | "unknown" | "unavailable" | "withheld"
            )
            || lower.starts_with("client:")
        {
            return Ok(Caller::Withheld);
        }
        if lower.starts_with("sip:") || lower.starts_with("sips:") {
            return Ok(Caller::NotDialable(mask_digits(t)));
        }
        let digits = t.bytes().filter(u8::is_ascii_digit).count();
        let all_digits = t.bytes().all(|b| b.is_ascii_digit());
        if all_digits && (3..=8).contains(&digits) {
            return Ok(Caller::NotDialable(mask_digits(t)));
        }
        if t.len() <= 11
            && t.bytes().any(|b| b.is_ascii_alphabetic())
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
        {
            return Ok(Caller::NotDialable(mask_digits(t)));
        }
        PhoneNumber::parse(t).map(Caller::Number)
    }

    /// The number, when there is one.
    pub fn number(&self) -> Option<&PhoneNumber> {
        match self {
            Caller::Number(n) => Some(n),
            _ => None,
        }
    }

    /// A log-safe form.
    pub fn masked(&self) -> String {
        match self {
            Caller::Number(n) => n.masked(),
            Caller::Withheld => "withheld".to_owned(),
            Caller::NotDialable(m) => m.clone(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {

    #[test]
    fn valid_exactly_when_libphonenumber_says_so() {
        // Generated numbers of plans with one and with several regions per calling code, and
        // Italy's, whose fixed lines keep a leading zero in the national number.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut checked = (0, 0);
        for code in ["33", "32", "39", "44", "1", "49", "7", "352"] {
            for len in [8u32, 9, 10, 11] {
                for _ in 0..60 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let national = format!("{:0w$}", x % 10u64.pow(len), w = len as usize);
                    let input = format!("+{code}{national}");
                    let lib = phonenumber::parse(None, &input).is_ok_and(|p| p.is_valid());
                    assert_eq!(PhoneNumber::parse(&input).is_ok(), lib, "{input}");
                    if lib { checked.0 += 1 } else { checked.1 += 1 }
                }
            }
        }
        for input in [
            "+390669812345",
            "+39 06 4423 4567",
            "+3902 1234 5678",
            "+393123456789",
        ] {
            let lib = phonenumber::parse(None, input).is_ok_and(|p| p.is_valid());
            assert_eq!(PhoneNumber::parse(input).is_ok(), lib, "{input}");
        }
        assert!(
            PhoneNumber::parse("+390669812345").is_ok(),
            "an Italian fixed line, leading zero kept"
        );
        assert!(checked.0 > 100 && checked.1 > 100, "{checked:?}");
    }

    #[test]
    fn the_compiled_plan_classifies_as_libphonenumber() {
        // Every example number of every region and type of the metadata, and variants of each
        // (last digit changed, a digit more, a digit less): our type, region and E.164 form
        // are libphonenumber's.
        use phonenumber::metadata::Descriptor;
        let mut inputs = Vec::new();
        for meta in DATABASE.iter() {
            let d = meta.descriptors();
            let descriptors: [Option<&Descriptor>; 13] = [
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.personal_number(),
                d.voip(),
                d.pager(),
                d.uan(),
                d.voicemail(),
                d.emergency(),
                d.short_code(),
            ];
            for example in descriptors
                .into_iter()
                .flatten()
                .filter_map(|d| d.example())
            {
                let code = meta.country_code();
                let mut changed: Vec<u8> = example.bytes().collect();
                if let Some(last) = changed.last_mut() {
                    *last = b'0' + (*last - b'0' + 1) % 10;
                }
                let changed = String::from_utf8(changed).unwrap();
                inputs.push(format!("+{code}{example}"));
                inputs.push(format!("+{code}{changed}"));
                inputs.push(format!("+{code}{example}7"));
                inputs.push(format!("+{code}{}", &example[..example.len() - 1]));
            }
        }
        let (mut compared, mut kinds) = (0, std::collections::HashSet::new());
        for input in &inputs {
            let Ok(lib) = phonenumber::parse(None, input) else {
                continue;
            };
            let significant = lib.national().value().to_string();
            let ours = plan::classify(lib.code().value(), &significant)
                .unwrap_or_else(|| panic!("no plan for {input}"));
            let lib_kind = lib.number_type(&DATABASE);
            assert_eq!(ours.kind, lib_kind, "type of {input}");
            assert_eq!(
                ours.region_id
                    .and_then(|id| id.parse::<phonenumber::country::Id>().ok()),
                lib.country().id(),
                "region of {input}"
            );
            if let Ok(n) = PhoneNumber::parse(input) {
                assert_eq!(
                    n.e164(),
                    lib.format().mode(phonenumber::Mode::E164).to_string(),
                    "E.164 of {input}"
                );
                assert_eq!(n.kind(), NumberKind::from_lib(lib_kind), "kind of {input}");
            }
            kinds.insert(format!("{lib_kind:?}"));
            compared += 1;
        }
        assert!(compared > 4_000, "only {compared} numbers compared");
        assert!(kinds.len() >= 10, "types seen: {kinds:?}");
    }

    #[test]
    fn a_repeated_parse_answers_what_the_first_did() {
        let fr = Region::new("FR").unwrap();
        let be = Region::new("BE").unwrap();
        for _ in 0..3 {
            let a = PhoneNumber::parse_with_region("0470 12 34 56", be).unwrap();
            assert_eq!(a.e164(), "+32470123456");
            assert_eq!(a.kind(), NumberKind::Mobile);
            // The same input with another region is another number (or none): the region is
            // part of what is remembered.
            assert_eq!(
                PhoneNumber::parse_with_region("0470 12 34 56", fr)
                    .unwrap()
                    .e164(),
                "+33470123456"
            );
            assert!(PhoneNumber::parse("0470 12 34 56").is_err());
            let b = PhoneNumber::parse_with_region("06 12 34 56 78", fr).unwrap();
            assert_eq!(b.e164(), "+33612345678");
            assert_eq!(
                PhoneNumber::parse("+33612345678").unwrap(),
                b,
                "another spelling of the same number"
            );
            assert!(
                PhoneNumber::parse("+3361234567").is_err(),
                "too short, every time"
            );
        }
        // More distinct inputs than the table holds: each still parses to itself.
        for i in 0..(2 * parse_cache::SLOTS as u64) {
            let input = format!("+336{:08}", 12_000_000 + i * 7);
            assert_eq!(PhoneNumber::parse(&input).unwrap().e164(), input);
        }
    }

    use super::*;

    #[test]
    fn kinds_of_real_numbers() {
        let cases = [
            ("+33612345678", "FR", NumberKind::Mobile),
            ("+33142685300", "FR", NumberKind::FixedLine),
            ("+32470123456", "BE", NumberKind::Mobile),
            ("+447400123456", "GB", NumberKind::Mobile),
            ("+33937000000", "FR", NumberKind::Voip),
            ("+33899123456", "FR", NumberKind::PremiumRate),
            ("+33800123456", "FR", NumberKind::TollFree),
        ];
        for (input, region, kind) in cases {
            let n = PhoneNumber::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                n.region().map(|r| r.as_str().to_owned()).as_deref(),
                Some(region),
                "{input}"
            );
            assert_eq!(n.kind(), kind, "{input}");
        }
    }

    #[test]
    fn national_form_needs_region() {
        let fr = Region::new("FR").unwrap();
        let n = PhoneNumber::parse_with_region("06 12 34 56 78", fr).unwrap();
        assert_eq!(n.e164(), "+33612345678");
        assert_eq!(PhoneNumber::parse("0033612345678").unwrap(), n);
        assert_eq!(PhoneNumber::parse("33612345678").unwrap(), n);
    }

    #[test]
    fn garbage_gives_clear_errors() {
        let msg = |s: &str| PhoneNumber::parse(s).unwrap_err().to_string();
        assert!(msg("").contains("empty input"), "{}", msg(""));
        assert!(msg("hello").contains("no digits"));
        assert!(msg("+33 6 12 <script>").contains("unexpected character '<'"));
        assert!(
            msg("+33 1").contains("+33") || msg("+33 1").contains("short"),
            "{}",
            msg("+33 1")
        );
        assert!(msg(&"9".repeat(80)).contains("longer"));
    }

    #[test]
    fn withheld_is_not_an_error() {
        for s in ["anonymous", "Restricted", "", "  ", "client:alice"] {
            assert_eq!(Caller::parse(s).unwrap(), Caller::Withheld, "{s:?}");
        }
    }

    #[test]
    fn debug_is_masked() {
        let n = PhoneNumber::parse("+33612345678").unwrap();
        assert_eq!(format!("{n:?}"), "PhoneNumber(…5678)");
    }
}
