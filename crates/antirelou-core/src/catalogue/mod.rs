//! The consent-message catalogue: lessons per locale, for SMS and voice, with the date of the
//! legal facts each states, plus the neutral texts decoy mode needs and the opt-out / opt-in
//! keywords of each locale.
//!
//! [`Catalogue::builtin`] ships `fr-FR` (the 2017 French lesson), `fr-BE` and `nl-BE` (with the
//! Brussels fine for street harassment) and `en-US`. Every built-in SMS is GSM-7 and at most two
//! segments: the 2017 number paid two segments for each of ~16,000 troll texts, and the same
//! lesson typeset with `’` and `î` would have cost five.
//!
//! Operators change or add lessons in TOML, one table per locale under `[lessons]`. A table for a
//! built-in locale overrides only the fields it gives; a table for a new locale must give every
//! text. Everything is validated when loaded ([`Catalogue::validate`]): locale syntax, non-empty
//! texts, a real `facts_as_of` date, the SMS segment budget ([`CatalogueLimits`]), and the error
//! names the faulty entry.
//!
//! ```
//! use antirelou_core::catalogue::{Catalogue, CatalogueLimits, Locale};
//!
//! let toml = r#"
//! [lessons.fr-FR]
//! neutral_reply = "Salut, c'est qui ?"
//!
//! [lessons.de-BE]
//! sms = "Hallo! Wenn du diese Nachricht liest, hast du einer Frau ein ungutes Gefuehl gegeben."
//! voice = "Hallo. Wenn du diese Nachricht hörst, hast du einer Frau ein ungutes Gefühl gegeben."
//! neutral_reply = "Hallo, wer ist da?"
//! voicemail_greeting = "Hallo, hier ist meine Mailbox. Hinterlass mir eine Nachricht."
//! out_of_service = "Kein Anschluss unter dieser Nummer."
//! facts_as_of = "2024-01-01"
//! stop_keywords = ["STOP", "STOPP"]
//! "#;
//! let limits = CatalogueLimits::default();
//! let catalogue = Catalogue::builtin().merge_toml(toml, &limits)?;
//! let fr = catalogue.get(&Locale::new("fr-FR")?).unwrap();
//! assert_eq!(fr.neutral_reply, "Salut, c'est qui ?");
//! assert!(fr.sms.starts_with("Oh, bonjour !")); // the rest of fr-FR is unchanged
//! assert!(catalogue.get(&Locale::new("de-BE")?).is_some());
//!
//! // A lesson that would cost 3 segments is refused, naming the entry.
//! let err = Catalogue::builtin()
//!     .merge_toml(&format!("[lessons.en-US]\nsms = \"{}\"", "blah ".repeat(70)), &limits)
//!     .unwrap_err();
//! assert!(err.to_string().starts_with("catalogue entry \"en-US.sms\": 3 segments"));
//! # Ok::<(), antirelou_core::Error>(())
//! ```

mod builtin;

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use self::builtin::{SEED_FR_2017, UNIVERSAL_START_KEYWORDS, UNIVERSAL_STOP_KEYWORDS};
use crate::encoding::{self, Encoding, SmsPlan};
use crate::error::{Error, Result};

/// The longest spoken text accepted, in characters, so that every adapter can speak it: some
/// providers' speech actions stop there (Vonage's `talk`, for example, reference-providers
/// §2.1), and a lesson that long is no longer heard anyway.
pub const MAX_VOICE_CHARS: usize = 1500;

/// A BCP-47 locale such as `fr-FR`, `fr-BE`, `nl-BE`, `en-US`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Locale(String);

impl Locale {
    /// Parse `ll-RR` (language, region), normalising case: `FR_fr` → `fr-FR`.
    ///
    /// ```
    /// use antirelou_core::catalogue::Locale;
    /// assert_eq!(Locale::new("NL_be")?.as_str(), "nl-BE");
    /// assert!(Locale::new("french").is_err());
    /// # Ok::<(), antirelou_core::Error>(())
    /// ```
    pub fn new(s: &str) -> Result<Self> {
        let t = s.trim().replace('_', "-");
        let bad = || Error::Catalogue {
            entry: s.to_owned(),
            reason: format!("{s:?} is not a locale; a locale is language-REGION, e.g. fr-FR"),
        };
        let (lang, region) = t.split_once('-').ok_or_else(bad)?;
        let ok = (2..=3).contains(&lang.len())
            && lang.bytes().all(|b| b.is_ascii_alphabetic())
            && region.len() == 2
            && region.bytes().all(|b| b.is_ascii_alphabetic());
        if !ok {
            return Err(bad());
        }
        Ok(Locale(format!(
            "{}-{}",
            lang.to_ascii_lowercase(),
            region.to_ascii_uppercase()
        )))
    }

    /// The locale as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The language part (`fr`).
    pub fn language(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }

    /// The region part (`BE`).
    pub fn region(&self) -> &str {
        self.0.split_once('-').map_or("", |(_, r)| r)
    }
}

impl TryFrom<String> for Locale {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Locale::new(&s)
    }
}

impl From<Locale> for String {
    fn from(l: Locale) -> String {
        l.0
    }
}

impl std::str::FromStr for Locale {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Locale::new(s)
    }
}

impl std::fmt::Display for Locale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything a number says in one locale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LessonSet {
    /// The locale.
    pub locale: Locale,
    /// The SMS lesson. Paid per segment on every reply: keep it GSM-7 and short.
    pub sms: String,
    /// The lesson's short form: exactly one GSM-7 segment (checked), sent instead of
    /// [`sms`](Self::sms) under budget pressure (see
    /// [`EngineConfig::short_form_above`](crate::engine::EngineConfig::short_form_above)). Every
    /// built-in locale has one; optional in a custom catalogue (without it the full form is
    /// deferred when it does not fit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_short: Option<String>,
    /// The spoken lesson (any character; at most [`MAX_VOICE_CHARS`]).
    pub voice: String,
    /// The neutral first reply ("Hey, who is this?"); one segment at most.
    pub neutral_reply: String,
    /// A plausible voicemail greeting for decoy mode (spoken).
    pub voicemail_greeting: String,
    /// "This number is no longer in service", for retired numbers (spoken, or sent as SMS).
    pub out_of_service: String,
    /// The date (ISO `yyyy-mm-dd`) of the legal facts the lessons state.
    pub facts_as_of: String,
    /// Opt-out keywords of this locale, upper case (`ARRET`, `STOP`…). The engine also honours
    /// the universal English ones ([`UNIVERSAL_STOP_KEYWORDS`]).
    #[serde(default)]
    pub stop_keywords: Vec<String>,
    /// Opt-in keywords of this locale, upper case (`START`…).
    #[serde(default)]
    pub start_keywords: Vec<String>,
}

impl LessonSet {
    /// [`LessonSet::facts_as_of`] as a date, if it is one.
    pub fn facts_date(&self) -> Option<NaiveDate> {
        parse_date(&self.facts_as_of)
    }

    /// The encoding plan of the SMS lesson.
    pub fn sms_plan(&self) -> SmsPlan {
        encoding::plan(&self.sms)
    }

    /// Whether `word` (any case, surrounding spaces ignored) is one of this locale's opt-out
    /// keywords.
    pub fn is_stop_keyword(&self, word: &str) -> bool {
        matches_keyword(&self.stop_keywords, word)
    }

    /// Whether `word` (any case, surrounding spaces ignored) is one of this locale's opt-in
    /// keywords.
    pub fn is_start_keyword(&self, word: &str) -> bool {
        matches_keyword(&self.start_keywords, word)
    }

    /// Check this entry against `limits`; the first problem found. See [`Catalogue::validate`].
    pub fn validate(&self, limits: &CatalogueLimits) -> Result<()> {
        match self.problems(limits).into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every problem of this entry, in field order (empty when valid).
    pub fn problems(&self, limits: &CatalogueLimits) -> Vec<Error> {
        let mut out = Vec::new();
        let loc = self.locale.as_str();
        let err = |field: &str, reason: String| Error::Catalogue {
            entry: format!("{loc}.{field}"),
            reason,
        };
        let texts: [(&str, &str); 5] = [
            ("sms", &self.sms),
            ("voice", &self.voice),
            ("neutral_reply", &self.neutral_reply),
            ("voicemail_greeting", &self.voicemail_greeting),
            ("out_of_service", &self.out_of_service),
        ];
        for (field, text) in texts {
            if text.trim().is_empty() {
                out.push(err(
                    field,
                    "empty; every text of a locale must be written".into(),
                ));
            } else if let Some(c) = text
                .chars()
                .find(|&c| c.is_control() && c != '\n' && c != '\r')
            {
                out.push(err(
                    field,
                    format!(
                        "contains the control character U+{:04X}; remove it",
                        u32::from(c)
                    ),
                ));
            }
        }
        // SMS budgets.
        let sms_like: [(&str, &str, u32); 3] = [
            ("sms", &self.sms, limits.max_sms_segments),
            ("neutral_reply", &self.neutral_reply, 1),
            (
                "out_of_service",
                &self.out_of_service,
                limits.max_sms_segments,
            ),
        ];
        for (field, text, max) in sms_like {
            if text.trim().is_empty() {
                continue;
            }
            let plan = encoding::plan(text);
            if plan.segments > max {
                let what = match plan.encoding {
                    Encoding::Gsm7 => format!("GSM-7, {} septets", plan.units),
                    Encoding::Ucs2 => {
                        format!("UCS-2 because of {}", encoding::quote_chars(&plan.non_gsm))
                    }
                };
                let fix = if plan.encoding == Encoding::Ucs2 {
                    "transliterate or shorten it"
                } else {
                    "shorten it"
                };
                let budget = if field == "neutral_reply" {
                    "but a neutral reply must fit in one segment".to_owned()
                } else {
                    format!("more than the maximum of {max}")
                };
                out.push(err(
                    field,
                    format!("{} segments ({what}), {budget}; {fix}", plan.segments),
                ));
            } else if limits.require_gsm7 && plan.encoding == Encoding::Ucs2 {
                out.push(err(
                    field,
                    format!(
                        "UCS-2 because of {} while require_gsm7 is set; transliterate it \
                         (antirelou_core::encoding::transliterate) or replace those characters",
                        encoding::quote_chars(&plan.non_gsm)
                    ),
                ));
            }
        }
        if let Some(short) = &self.sms_short {
            let plan = encoding::plan(short);
            if short.trim().is_empty() {
                out.push(err(
                    "sms_short",
                    "empty; leave it out or write a one-segment lesson".into(),
                ));
            } else if plan.encoding == Encoding::Ucs2 {
                out.push(err(
                    "sms_short",
                    format!(
                        "UCS-2 because of {}, but a short form must be one GSM-7 segment; transliterate it",
                        encoding::quote_chars(&plan.non_gsm)
                    ),
                ));
            } else if plan.segments != 1 {
                out.push(err(
                    "sms_short",
                    format!(
                        "{} segments (GSM-7, {} septets), but a short form must be exactly one; shorten it",
                        plan.segments, plan.units
                    ),
                ));
            }
        }
        let voice_chars = self.voice.chars().count();
        if voice_chars > MAX_VOICE_CHARS {
            out.push(err(
                "voice",
                format!(
                    "{voice_chars} characters, more than the {MAX_VOICE_CHARS} a text-to-speech \
                     request accepts; shorten it"
                ),
            ));
        }
        if self.facts_date().is_none() {
            out.push(err(
                "facts_as_of",
                format!(
                    "{:?} is not a date; write the date of the legal facts as yyyy-mm-dd, e.g. 2017-10-31",
                    self.facts_as_of
                ),
            ));
        }
        for (field, list) in [
            ("stop_keywords", &self.stop_keywords),
            ("start_keywords", &self.start_keywords),
        ] {
            for k in list {
                if k.trim().is_empty() || k.trim().chars().any(char::is_whitespace) {
                    out.push(err(field, format!("{k:?} is not a single word")));
                }
            }
        }
        if let Some(k) = self.stop_keywords.iter().find(|k| self.is_start_keyword(k)) {
            out.push(err(
                "start_keywords",
                format!("{k:?} is also a stop keyword"),
            ));
        }
        out
    }

    /// Trim texts and upper-case keywords, as loading from TOML does.
    fn normalise(&mut self) {
        for text in [
            &mut self.sms,
            &mut self.voice,
            &mut self.neutral_reply,
            &mut self.voicemail_greeting,
            &mut self.out_of_service,
            &mut self.facts_as_of,
        ] {
            let trimmed = text.trim();
            if trimmed.len() != text.len() {
                *text = trimmed.to_owned();
            }
        }
        if let Some(short) = &mut self.sms_short {
            let trimmed = short.trim();
            if trimmed.len() != short.len() {
                *short = trimmed.to_owned();
            }
        }
        for list in [&mut self.stop_keywords, &mut self.start_keywords] {
            for k in list.iter_mut() {
                *k = k.trim().to_uppercase();
            }
            let mut seen = BTreeSet::new();
            list.retain(|k| seen.insert(k.clone()));
        }
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    // `%Y` would also accept "17-10-31" or "+2017-10-31"; insist on yyyy-mm-dd.
    if s.len() != 10
        || !s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
    {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn matches_keyword(list: &[String], word: &str) -> bool {
    let w = word.trim();
    !w.is_empty()
        && list
            .iter()
            .any(|k| k.trim().to_uppercase() == w.to_uppercase())
}

/// What a catalogue must respect to be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogueLimits {
    /// The most segments an SMS lesson may cost (default 2). The neutral reply is always held to
    /// one segment.
    pub max_sms_segments: u32,
    /// Refuse any SMS text that is not GSM-7 (default `false`: UCS-2 is allowed as long as it
    /// fits the segment budget).
    pub require_gsm7: bool,
}

impl Default for CatalogueLimits {
    fn default() -> Self {
        CatalogueLimits {
            max_sms_segments: 2,
            require_gsm7: false,
        }
    }
}

impl CatalogueLimits {
    fn check(&self) -> Result<()> {
        if self.max_sms_segments == 0 {
            return Err(Error::Config("max_sms_segments must be at least 1".into()));
        }
        Ok(())
    }
}

/// Changes to one locale, as written in TOML: every field is optional. For a built-in (or
/// already loaded) locale the given fields replace the existing ones; a new locale must give
/// `sms`, `voice`, `neutral_reply`, `voicemail_greeting`, `out_of_service` and `facts_as_of`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LessonPatch {
    /// See [`LessonSet::sms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
    /// See [`LessonSet::sms_short`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_short: Option<String>,
    /// See [`LessonSet::voice`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// See [`LessonSet::neutral_reply`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neutral_reply: Option<String>,
    /// See [`LessonSet::voicemail_greeting`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voicemail_greeting: Option<String>,
    /// See [`LessonSet::out_of_service`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_service: Option<String>,
    /// See [`LessonSet::facts_as_of`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts_as_of: Option<String>,
    /// See [`LessonSet::stop_keywords`] (replaces the whole list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_keywords: Option<Vec<String>>,
    /// See [`LessonSet::start_keywords`] (replaces the whole list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_keywords: Option<Vec<String>>,
    /// The text-to-speech language when it differs from the locale (for instance `fr-FR` voices
    /// for a `fr-CH` lesson). See [`Catalogue::voice_language`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_language: Option<String>,
}

impl LessonPatch {
    fn from_set(set: &LessonSet, voice_language: Option<&Locale>) -> Self {
        LessonPatch {
            sms: Some(set.sms.clone()),
            sms_short: set.sms_short.clone(),
            voice: Some(set.voice.clone()),
            neutral_reply: Some(set.neutral_reply.clone()),
            voicemail_greeting: Some(set.voicemail_greeting.clone()),
            out_of_service: Some(set.out_of_service.clone()),
            facts_as_of: Some(set.facts_as_of.clone()),
            stop_keywords: Some(set.stop_keywords.clone()),
            start_keywords: Some(set.start_keywords.clone()),
            voice_language: voice_language.map(|l| l.to_string()),
        }
    }

    /// The patched entry, and the voice language it sets, if any.
    fn apply(
        self,
        locale: &Locale,
        existing: Option<LessonSet>,
    ) -> Result<(LessonSet, Option<Locale>)> {
        let voice_language = match self.voice_language {
            Some(v) => Some(Locale::new(&v).map_err(|_| Error::Catalogue {
                entry: format!("{locale}.voice_language"),
                reason: format!("{v:?} is not a locale; a locale is language-REGION, e.g. fr-FR"),
            })?),
            None => None,
        };
        let mut set = match existing {
            Some(mut set) => {
                let fields = [
                    (&mut set.sms, self.sms),
                    (&mut set.voice, self.voice),
                    (&mut set.neutral_reply, self.neutral_reply),
                    (&mut set.voicemail_greeting, self.voicemail_greeting),
                    (&mut set.out_of_service, self.out_of_service),
                    (&mut set.facts_as_of, self.facts_as_of),
                ];
                for (slot, value) in fields {
                    if let Some(v) = value {
                        *slot = v;
                    }
                }
                if let Some(v) = self.sms_short {
                    set.sms_short = Some(v);
                }
                if let Some(v) = self.stop_keywords {
                    set.stop_keywords = v;
                }
                if let Some(v) = self.start_keywords {
                    set.start_keywords = v;
                }
                set
            }
            None => {
                let need = |field: &str, v: Option<String>| {
                    v.ok_or_else(|| Error::Catalogue {
                        entry: format!("{locale}.{field}"),
                        reason: "missing; a new locale must give sms, voice, neutral_reply, \
                                 voicemail_greeting, out_of_service and facts_as_of"
                            .into(),
                    })
                };
                LessonSet {
                    locale: locale.clone(),
                    sms: need("sms", self.sms)?,
                    sms_short: self.sms_short,
                    voice: need("voice", self.voice)?,
                    neutral_reply: need("neutral_reply", self.neutral_reply)?,
                    voicemail_greeting: need("voicemail_greeting", self.voicemail_greeting)?,
                    out_of_service: need("out_of_service", self.out_of_service)?,
                    facts_as_of: need("facts_as_of", self.facts_as_of)?,
                    stop_keywords: self.stop_keywords.unwrap_or_default(),
                    start_keywords: self.start_keywords.unwrap_or_default(),
                }
            }
        };
        set.normalise();
        Ok((set, voice_language))
    }
}

/// Catalogue changes as written in TOML: `[lessons.<locale>]` tables of [`LessonPatch`]. Embed it
/// in a larger configuration with serde, or parse it with [`CatalogueOverrides::from_toml`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueOverrides {
    /// Changes by locale (the key is a locale such as `fr-FR`; `fr_fr` is accepted).
    #[serde(default)]
    pub lessons: BTreeMap<String, LessonPatch>,
}

impl CatalogueOverrides {
    /// Parse TOML. A syntax or type error is an [`Error::Catalogue`] whose reason carries the
    /// TOML parser's line and column.
    pub fn from_toml(toml_text: &str) -> Result<Self> {
        toml::from_str(toml_text).map_err(|e| Error::Catalogue {
            entry: "TOML".into(),
            reason: e.to_string(),
        })
    }
}

/// Lessons by locale.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalogue {
    entries: BTreeMap<Locale, LessonSet>,
    voice_languages: BTreeMap<Locale, Locale>,
}

impl Catalogue {
    /// The built-in lessons: `fr-FR`, `fr-BE`, `nl-BE`, `en-US`, every SMS GSM-7 in at most
    /// two segments.
    ///
    /// ```
    /// use antirelou_core::catalogue::{Catalogue, CatalogueLimits, Locale};
    /// use antirelou_core::encoding::Encoding;
    /// let c = Catalogue::builtin();
    /// c.validate(&CatalogueLimits { max_sms_segments: 2, require_gsm7: true })?;
    /// let fr = c.get(&Locale::new("fr-FR")?).unwrap();
    /// let plan = fr.sms_plan();
    /// assert_eq!((plan.encoding, plan.units, plan.segments), (Encoding::Gsm7, 300, 2));
    /// # Ok::<(), antirelou_core::Error>(())
    /// ```
    pub fn builtin() -> Self {
        let mut c = Catalogue::default();
        for set in builtin::lessons() {
            c.insert(set);
        }
        c
    }

    /// A catalogue made only of the lessons in `toml_text` (each locale must be complete),
    /// validated against `limits`.
    pub fn from_toml(toml_text: &str, limits: &CatalogueLimits) -> Result<Self> {
        Catalogue::default().merge_toml(toml_text, limits)
    }

    /// This catalogue with the changes in `toml_text` applied, validated against `limits`.
    pub fn merge_toml(self, toml_text: &str, limits: &CatalogueLimits) -> Result<Self> {
        self.with_overrides(CatalogueOverrides::from_toml(toml_text)?, limits)
    }

    /// This catalogue with `overrides` applied, validated against `limits`: every entry, not only
    /// the changed ones.
    pub fn with_overrides(
        mut self,
        overrides: CatalogueOverrides,
        limits: &CatalogueLimits,
    ) -> Result<Self> {
        limits.check()?;
        let mut keys: BTreeMap<Locale, String> = BTreeMap::new();
        for (key, patch) in overrides.lessons {
            let locale = Locale::new(&key)?;
            if let Some(first) = keys.insert(locale.clone(), key.clone()) {
                return Err(Error::Catalogue {
                    entry: key,
                    reason: format!("same locale as {first:?} ({locale}); give each locale once"),
                });
            }
            let existing = self.entries.remove(&locale);
            let (set, voice_language) = patch.apply(&locale, existing)?;
            self.insert(set);
            if voice_language.is_some() {
                self.set_voice_language(&locale, voice_language);
            }
        }
        self.validate(limits)?;
        Ok(self)
    }

    /// The catalogue as TOML, in the shape [`Catalogue::from_toml`] reads: a starting point for
    /// operators who want to rewrite the built-in lessons.
    pub fn to_toml(&self) -> Result<String> {
        let overrides = CatalogueOverrides {
            lessons: self
                .entries
                .iter()
                .map(|(l, s)| {
                    (
                        l.to_string(),
                        LessonPatch::from_set(s, self.voice_languages.get(l)),
                    )
                })
                .collect(),
        };
        toml::to_string(&overrides).map_err(|e| Error::Catalogue {
            entry: "TOML".into(),
            reason: e.to_string(),
        })
    }

    /// Check every entry against `limits`: locale syntax (by construction), non-empty texts
    /// without control characters, `facts_as_of` a real `yyyy-mm-dd` date, the SMS lesson and
    /// the out-of-service text within `max_sms_segments`, the neutral reply in one segment,
    /// GSM-7 when `require_gsm7`, the spoken lesson within [`MAX_VOICE_CHARS`], single-word
    /// keywords. Returns the first problem, naming its entry (`fr-FR.sms`); see
    /// [`Catalogue::problems`] for all of them.
    ///
    /// ```
    /// use antirelou_core::catalogue::{Catalogue, CatalogueLimits, LessonSet, Locale, SEED_FR_2017};
    /// let mut c = Catalogue::builtin();
    /// let mut fr = c.get(&Locale::new("fr-FR")?).unwrap().clone();
    /// fr.sms = SEED_FR_2017.to_owned();
    /// c.insert(fr);
    /// let err = c.validate(&CatalogueLimits::default()).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "catalogue entry \"fr-FR.sms\": 5 segments (UCS-2 because of '’', 'î'), \
    ///      more than the maximum of 2; transliterate or shorten it"
    /// );
    /// # Ok::<(), antirelou_core::Error>(())
    /// ```
    pub fn validate(&self, limits: &CatalogueLimits) -> Result<()> {
        limits.check()?;
        match self.problems(limits).into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every problem of every entry, by locale then field (empty when valid). An empty
    /// catalogue is a problem.
    pub fn problems(&self, limits: &CatalogueLimits) -> Vec<Error> {
        if self.entries.is_empty() {
            return vec![Error::Catalogue {
                entry: "catalogue".into(),
                reason: "no lesson; give at least one [lessons.<locale>] table".into(),
            }];
        }
        self.entries
            .values()
            .flat_map(|s| s.problems(limits))
            .collect()
    }

    /// The lessons for `locale`, if any.
    pub fn get(&self, locale: &Locale) -> Option<&LessonSet> {
        self.entries.get(locale)
    }

    /// The lessons for `locale`, else for the same language (preferring its home region, e.g.
    /// `fr-FR` for `fr-CA`, else the first by name), else `None`.
    ///
    /// ```
    /// use antirelou_core::catalogue::{Catalogue, Locale};
    /// let c = Catalogue::builtin();
    /// assert_eq!(c.lookup(&Locale::new("fr-CA")?).unwrap().locale.as_str(), "fr-FR");
    /// assert_eq!(c.lookup(&Locale::new("nl-NL")?).unwrap().locale.as_str(), "nl-BE");
    /// assert!(c.lookup(&Locale::new("de-DE")?).is_none());
    /// # Ok::<(), antirelou_core::Error>(())
    /// ```
    pub fn lookup(&self, locale: &Locale) -> Option<&LessonSet> {
        if let Some(s) = self.entries.get(locale) {
            return Some(s);
        }
        let lang = locale.language();
        let same: Vec<&LessonSet> = self
            .entries
            .values()
            .filter(|s| s.locale.language() == lang)
            .collect();
        same.iter()
            .find(|s| s.locale.region().eq_ignore_ascii_case(lang))
            .or_else(|| same.first())
            .copied()
    }

    /// Add or replace an entry (not validated: call [`Catalogue::validate`]).
    pub fn insert(&mut self, set: LessonSet) {
        self.entries.insert(set.locale.clone(), set);
    }

    /// Remove an entry (and its voice language).
    pub fn remove(&mut self, locale: &Locale) -> Option<LessonSet> {
        self.voice_languages.remove(locale);
        self.entries.remove(locale)
    }

    /// The language to speak the lessons of `locale` in: the `voice_language` set for it, else
    /// `locale` itself.
    ///
    /// ```
    /// use antirelou_core::catalogue::{Catalogue, CatalogueLimits, Locale};
    /// let c = Catalogue::builtin()
    ///     .merge_toml("[lessons.fr-BE]\nvoice_language = \"fr-FR\"\n", &CatalogueLimits::default())?;
    /// assert_eq!(c.voice_language(&Locale::new("fr-BE")?).as_str(), "fr-FR");
    /// assert_eq!(c.voice_language(&Locale::new("nl-BE")?).as_str(), "nl-BE");
    /// # Ok::<(), antirelou_core::Error>(())
    /// ```
    pub fn voice_language<'a>(&'a self, locale: &'a Locale) -> &'a Locale {
        self.voice_languages.get(locale).unwrap_or(locale)
    }

    /// Set (or with `None`, clear) the text-to-speech language of `locale`.
    pub fn set_voice_language(&mut self, locale: &Locale, voice_language: Option<Locale>) {
        match voice_language {
            Some(v) if &v != locale => {
                self.voice_languages.insert(locale.clone(), v);
            }
            _ => {
                self.voice_languages.remove(locale);
            }
        }
    }

    /// All entries, by locale.
    pub fn iter(&self) -> impl Iterator<Item = &LessonSet> {
        self.entries.values()
    }

    /// The locales present, in order.
    pub fn locales(&self) -> impl Iterator<Item = &Locale> {
        self.entries.keys()
    }

    /// Number of locales.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no locale.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every opt-out keyword of every locale plus [`UNIVERSAL_STOP_KEYWORDS`], upper case, sorted,
    /// without duplicates: what the engine should honour on a number that serves several
    /// locales.
    pub fn stop_keywords(&self) -> BTreeSet<String> {
        union_keywords(
            UNIVERSAL_STOP_KEYWORDS,
            self.iter().map(|s| &s.stop_keywords),
        )
    }

    /// Every opt-in keyword of every locale plus [`UNIVERSAL_START_KEYWORDS`], upper case, sorted,
    /// without duplicates.
    pub fn start_keywords(&self) -> BTreeSet<String> {
        union_keywords(
            UNIVERSAL_START_KEYWORDS,
            self.iter().map(|s| &s.start_keywords),
        )
    }
}

fn union_keywords<'a>(
    universal: &[&str],
    lists: impl Iterator<Item = &'a Vec<String>>,
) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = universal.iter().map(|k| (*k).to_owned()).collect();
    for list in lists {
        out.extend(
            list.iter()
                .map(|k| k.trim().to_uppercase())
                .filter(|k| !k.is_empty()),
        );
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
