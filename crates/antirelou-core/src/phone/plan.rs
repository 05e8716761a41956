//! The line type and region of a parsed number, from libphonenumber's metadata, with the
//! metadata's patterns compiled once per region.
//!
//! `phonenumber` answers the same questions (`PhoneNumber::number_type`, `country().id()`), but
//! each of its pattern matches goes through one cache shared by the whole process: a `Mutex`,
//! a SipHash of the pattern's text (often hundreds of bytes) and an LRU update, up to a dozen
//! times per number. With several threads validating senders at once that lock is contended.
//! Here each region's patterns are compiled on first use into plain regular expressions
//! (`regex-automata`'s, which keep per-thread search state) and kept for the life of the process: at most one set per
//! region of the metadata, a few hundred in all.
//!
//! The decisions are libphonenumber's own, step for step (`validator::source_for` and
//! `validator::number_type` of `phonenumber` 0.3): the same patterns with the same options
//! (`ignore_whitespace`), the same "a match that starts at the first digit" test (an anchored
//! search here, which stops at the first match instead of finding its bounds), the same
//! possible-length filter, the same order of types. The tests compare both on the example
//! numbers of every region and type of the metadata and on variants of them.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};

use phonenumber::Type;
use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex_automata::meta::Regex;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input};

/// One pattern of the metadata, compiled, with the lengths it allows (empty: any length).
struct Pattern {
    regex: Regex,
    lengths: Vec<u16>,
}

impl Pattern {
    fn compile(source: &str) -> Option<Regex> {
        Regex::builder()
            .syntax(syntax::Config::new().ignore_whitespace(true))
            .build(source)
            .ok()
    }

    /// Whether `regex` has a match starting at the first byte of `text`: what libphonenumber's
    /// `find(text)` then `start() == 0` decides (a leftmost match starts there exactly when
    /// some match does), as one anchored pass that stops at the first match.
    fn starts(regex: &Regex, text: &str) -> bool {
        regex.is_match(Input::new(text).anchored(Anchored::Yes))
    }

    fn of(d: &Descriptor) -> Option<Pattern> {
        Some(Pattern {
            regex: Self::compile(d.national_number().as_str())?,
            lengths: d.possible_length().to_vec(),
        })
    }

    /// `Descriptor::is_match`: a possible length, and a match starting at the first digit.
    fn is_match(&self, national: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16)))
            && Self::starts(&self.regex, national)
    }
}

/// Every pattern `number_type` and `source_for` use for one region.
struct Compiled {
    general: Pattern,
    /// Checked in this order; the first that matches is the type.
    special: Vec<(Type, Pattern)>,
    fixed_line: Option<Pattern>,
    mobile: Option<Pattern>,
    /// The fixed-line and mobile patterns are the same text.
    fixed_is_mobile: bool,
    leading_digits: Option<Regex>,
}

impl Compiled {
    /// `None` when a pattern does not compile (the caller then asks libphonenumber).
    fn of(meta: &Metadata) -> Option<Compiled> {
        let d = meta.descriptors();
        let optional = |x: Option<&Descriptor>| match x {
            Some(d) => Pattern::of(d).map(Some),
            None => Some(None),
        };
        let mut special = Vec::new();
        for (kind, desc) in [
            (Type::PremiumRate, d.premium_rate()),
            (Type::TollFree, d.toll_free()),
            (Type::SharedCost, d.shared_cost()),
            (Type::Voip, d.voip()),
            (Type::PersonalNumber, d.personal_number()),
            (Type::Pager, d.pager()),
            (Type::Uan, d.uan()),
            (Type::Voicemail, d.voicemail()),
        ] {
            if let Some(p) = optional(desc)? {
                special.push((kind, p));
            }
        }
        let leading_digits = match meta.leading_digits() {
            Some(r) => Some(Pattern::compile(r.as_str())?),
            None => None,
        };
        Some(Compiled {
            general: Pattern::of(d.general())?,
            special,
            fixed_line: optional(d.fixed_line())?,
            mobile: optional(d.mobile())?,
            fixed_is_mobile: d.fixed_line().map(|f| f.national_number().as_str())
                == d.mobile().map(|m| m.national_number().as_str()),
            leading_digits,
        })
    }

    /// `validator::number_type`.
    fn number_type(&self, national: &str) -> Type {
        if !self.general.is_match(national) {
            return Type::Unknown;
        }
        if let Some((kind, _)) = self.special.iter().find(|(_, p)| p.is_match(national)) {
            return *kind;
        }
        if self
            .fixed_line
            .as_ref()
            .is_some_and(|p| p.is_match(national))
        {
            if self.fixed_is_mobile || self.mobile.as_ref().is_some_and(|p| p.is_match(national)) {
                return Type::FixedLineOrMobile;
            }
            return Type::FixedLine;
        }
        if self.mobile.as_ref().is_some_and(|p| p.is_match(national)) {
            return Type::Mobile;
        }
        Type::Unknown
    }
}

/// One region of a calling code, its patterns compiled on first use.
struct Region {
    meta: &'static Metadata,
    compiled: OnceLock<Option<Compiled>>,
}

impl Region {
    fn compiled(&self) -> Option<&Compiled> {
        self.compiled
            .get_or_init(|| Compiled::of(self.meta))
            .as_ref()
    }
}

/// The regions of each calling code, in the metadata's order (the order `source_for` tries
/// them in).
static PLANS: LazyLock<HashMap<u16, Vec<Region>>> = LazyLock::new(|| {
    let mut plans: HashMap<u16, Vec<Region>> = HashMap::new();
    for meta in DATABASE.iter() {
        let code = meta.country_code();
        if plans.contains_key(&code) {
            continue;
        }
        let ids = DATABASE.region(&code).unwrap_or_default();
        if let [only] = ids.as_slice()
            && *only != "001"
            && only.parse::<phonenumber::country::Id>().is_err()
        {
            // `source_for` finds no metadata for such a code; leave it to libphonenumber.
            continue;
        }
        let metas: Vec<&'static Metadata> = if ids.len() == 1 && ids[0] == "001" {
            // A non-geographic code: `source_for` answers the code, whose first metadata is used.
            DATABASE
                .by_code(&code)
                .and_then(|m| m.into_iter().next())
                .into_iter()
                .collect()
        } else {
            ids.iter().filter_map(|id| DATABASE.by_id(*id)).collect()
        };
        if metas.len() == ids.len() {
            plans.insert(
                code,
                metas
                    .into_iter()
                    .map(|meta| Region {
                        meta,
                        compiled: OnceLock::new(),
                    })
                    .collect(),
            );
        }
    }
    plans
});

/// What libphonenumber says of a number: its line type and the id of the region whose
/// metadata describes it (`None` when no region does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Classified {
    pub kind: Type,
    pub region_id: Option<&'static str>,
}

/// The type and region of the national significant number `national` (digits, without the
/// leading zeros libphonenumber keeps apart) under calling code `code`, as
/// `PhoneNumber::number_type` and `country().id()` compute them. `None` when this table
/// cannot answer (a code it does not list, a pattern that did not compile): ask
/// libphonenumber then.
pub(super) fn classify(code: u16, national: &str) -> Option<Classified> {
    let regions = PLANS.get(&code)?;
    let chosen = if let [only] = regions.as_slice() {
        Some(only)
    } else {
        let mut chosen = None;
        for r in regions {
            let c = r.compiled()?;
            let hit = match &c.leading_digits {
                Some(leading) => Pattern::starts(leading, national),
                None => c.number_type(national) != Type::Unknown,
            };
            if hit {
                chosen = Some(r);
                break;
            }
        }
        chosen
    };
    let Some(region) = chosen else {
        return Some(Classified {
            kind: Type::Unknown,
            region_id: None,
        });
    };
    let kind = region.compiled()?.number_type(national);
    Some(Classified {
        kind,
        region_id: Some(region.meta.id()),
    })
}
