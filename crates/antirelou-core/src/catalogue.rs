//! The consent-message catalogue: lessons per locale, for SMS and voice, with the date of the
//! legal facts each states, plus the neutral texts decoy mode needs.
//!
//! (Skeleton: the full built-in catalogue, TOML loading and validation land with issue #2.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A BCP-47 locale such as `fr-FR`, `fr-BE`, `nl-BE`, `en-US`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Locale(String);

impl Locale {
    /// Parse `ll-RR` (language, region), normalising case: `FR_fr` → `fr-FR`.
    pub fn new(s: &str) -> Result<Self> {
        let t = s.trim().replace('_', "-");
        let (lang, region) = t.split_once('-').ok_or_else(|| Error::Catalogue {
            entry: s.to_owned(),
            reason: "a locale is language-REGION, e.g. fr-FR".into(),
        })?;
        let ok = (2..=3).contains(&lang.len())
            && lang.bytes().all(|b| b.is_ascii_alphabetic())
            && region.len() == 2
            && region.bytes().all(|b| b.is_ascii_alphabetic());
        if !ok {
            return Err(Error::Catalogue {
                entry: s.to_owned(),
                reason: "a locale is language-REGION, e.g. fr-FR".into(),
            });
        }
        Ok(Locale(format!("{}-{}", lang.to_ascii_lowercase(), region.to_ascii_uppercase())))
    }

    /// The locale as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The language part (`fr`).
    pub fn language(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
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

impl std::fmt::Display for Locale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything a number says in one locale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LessonSet {
    /// The locale.
    pub locale: Locale,
    /// The SMS lesson.
    pub sms: String,
    /// The spoken lesson.
    pub voice: String,
    /// The neutral first reply ("Hey, who is this?").
    pub neutral_reply: String,
    /// A plausible voicemail greeting for decoy mode.
    pub voicemail_greeting: String,
    /// "This number is no longer in service", for retired numbers.
    pub out_of_service: String,
    /// The date (ISO `yyyy-mm-dd`) of the legal facts the lessons state.
    pub facts_as_of: String,
    /// Extra opt-out keywords of this locale (the universal ones are built in).
    #[serde(default)]
    pub stop_keywords: Vec<String>,
    /// Extra opt-in keywords of this locale.
    #[serde(default)]
    pub start_keywords: Vec<String>,
}

/// Lessons by locale.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalogue {
    entries: BTreeMap<Locale, LessonSet>,
}

impl Catalogue {
    /// The lessons for `locale`, if any.
    pub fn get(&self, locale: &Locale) -> Option<&LessonSet> {
        self.entries.get(locale)
    }

    /// Add or replace an entry.
    pub fn insert(&mut self, set: LessonSet) {
        self.entries.insert(set.locale.clone(), set);
    }

    /// All entries.
    pub fn iter(&self) -> impl Iterator<Item = &LessonSet> {
        self.entries.values()
    }
}
