//! Our numbers: each with its locale, provider, lessons and switches, in a registry that can be
//! changed while the engine runs.
//!
//! [`Numbers`] is a cheap-to-clone handle on a lock-protected map. Adding a number, retiring it
//! or pausing it takes effect on the next webhook and the next dispatcher claim, with no restart.
//! The dispatcher looks the number up again at send time, so a reply scheduled before its number
//! was retired or paused is cancelled or held, never sent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use super::keywords::KeywordSet;
use crate::catalogue::{Catalogue, LessonSet, Locale};
use crate::error::{Error, Result};
use crate::phone::PhoneNumber;
use crate::policy::Reason;
use crate::provider::ProviderId;

/// Whether a number is in service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberStatus {
    /// Answers calls and texts.
    #[default]
    Active,
    /// The operator's kill switch: schedules nothing, sends nothing (replies already scheduled
    /// are held until it is active again or they expire), rejects calls for free.
    Paused,
    /// Out of service for good: calls hear "this number is no longer in service", texts are
    /// dropped and pending replies are cancelled.
    Retired,
}

impl NumberStatus {
    /// Why a number in this status takes no new work (`None` when active): the gate the inbound
    /// path and the dispatcher share. What each does with a refusal is its own (drop a text,
    /// reject a call, hold or cancel a reply).
    pub(crate) fn refusal(self) -> Option<Reason> {
        match self {
            NumberStatus::Active => None,
            NumberStatus::Paused => Some(Reason::NumberPaused),
            NumberStatus::Retired => Some(Reason::NumberRetired),
        }
    }

    /// A stable lowercase label.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberStatus::Active => "active",
            NumberStatus::Paused => "paused",
            NumberStatus::Retired => "retired",
        }
    }
}

/// Decoy mode: a caller never seen before hears the phone ring, then a neutral voicemail
/// greeting, so a man who checks the number on the spot, while the woman is still there, hears
/// nothing suspicious. The lesson reaches him later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecoyConfig {
    /// On by default.
    pub enabled: bool,
    /// Seconds of ringing before the greeting (default 20).
    pub ring_seconds: u32,
    /// How long after a caller's first contact they still count as new (default 10 min).
    #[serde(with = "humantime_serde_compat")]
    pub window: Duration,
}

impl Default for DecoyConfig {
    fn default() -> Self {
        DecoyConfig {
            enabled: true,
            ring_seconds: 20,
            window: Duration::from_secs(600),
        }
    }
}

/// `Duration` as a humantime string ("10m") in serde.
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// One of our numbers.
///
/// ```
/// use antirelou_core::{PhoneNumber, catalogue::Locale, ProviderId};
/// use antirelou_core::engine::{NumberConfig, NumberStatus};
/// let n = NumberConfig::new(
///     PhoneNumber::parse("+33937000000").unwrap(),
///     Locale::new("fr-FR").unwrap(),
///     ProviderId::from_static("acme"),
/// );
/// assert_eq!(n.status, NumberStatus::Active);
/// assert!(n.decoy.enabled);
/// assert!(!n.neutral_first_reply);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberConfig {
    /// The number.
    pub number: PhoneNumber,
    /// The language it speaks and texts in.
    pub locale: Locale,
    /// The provider that carries it (and sends its replies).
    pub provider: ProviderId,
    /// In service, paused or retired.
    pub status: NumberStatus,
    /// Decoy mode for first calls.
    pub decoy: DecoyConfig,
    /// Send a neutral first reply ("Hey, who is this?") at once to a first-time texter, as the
    /// people who ran such numbers by hand did; the lesson still comes after the delay. Off by
    /// default: it doubles the cost of a contact.
    pub neutral_first_reply: bool,
    /// Text the lesson, after the delay, to callers who heard the decoy greeting. Off by
    /// default: they did not text us, and it costs money.
    pub sms_to_callers: bool,
    /// This number's own texts, replacing the catalogue's entry for its locale.
    pub lessons: Option<LessonSet>,
}

impl NumberConfig {
    /// An active number with the default switches and the catalogue's lessons for `locale`.
    pub fn new(number: PhoneNumber, locale: Locale, provider: ProviderId) -> Self {
        NumberConfig {
            number,
            locale,
            provider,
            status: NumberStatus::Active,
            decoy: DecoyConfig::default(),
            neutral_first_reply: false,
            sms_to_callers: false,
            lessons: None,
        }
    }
}

/// A number with everything resolved that the hot paths need.
#[derive(Debug)]
pub(crate) struct NumberEntry {
    pub(crate) config: NumberConfig,
    pub(crate) lessons: Arc<LessonSet>,
    pub(crate) keywords: KeywordSet,
    /// The language its voice scripts are spoken in.
    pub(crate) voice_language: Locale,
}

/// The registry of our numbers: a cheap-to-clone handle (all clones see the same numbers).
///
/// ```
/// use antirelou_core::{PhoneNumber, catalogue::{Catalogue, LessonSet, Locale}, ProviderId};
/// use antirelou_core::engine::{NumberConfig, Numbers, NumberStatus};
/// let fr = Locale::new("fr-FR").unwrap();
/// let mut catalogue = Catalogue::default();
/// catalogue.insert(LessonSet {
///     locale: fr.clone(),
///     sms: "Leçon".into(), sms_short: None, voice: "Leçon".into(), neutral_reply: "Qui est-ce ?".into(),
///     voicemail_greeting: "Laissez un message".into(), out_of_service: "Hors service".into(),
///     facts_as_of: "2024-01-01".into(), stop_keywords: vec![], start_keywords: vec![],
/// });
/// let numbers = Numbers::new(catalogue);
/// let n = PhoneNumber::parse("+33937000000").unwrap();
/// numbers.add(NumberConfig::new(n.clone(), fr, ProviderId::from_static("acme"))).unwrap();
/// numbers.set_status(&n, NumberStatus::Retired).unwrap();
/// assert_eq!(numbers.get(&n).unwrap().status, NumberStatus::Retired);
/// assert_eq!(numbers.list().len(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct Numbers {
    map: Arc<RwLock<HashMap<u64, Arc<NumberEntry>>>>,
    catalogue: Arc<Catalogue>,
}

impl Numbers {
    /// An empty registry whose numbers take their lessons from `catalogue` unless they bring
    /// their own.
    pub fn new(catalogue: Catalogue) -> Self {
        Numbers {
            map: Arc::default(),
            catalogue: Arc::new(catalogue),
        }
    }

    /// The catalogue numbers take their lessons from.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Add a number, or replace the configuration of a number already there. Fails with
    /// [`Error::Config`] when there are no lessons for it (neither its own nor the catalogue's
    /// entry for its locale) or when a text it needs is empty.
    pub fn add(&self, config: NumberConfig) -> Result<()> {
        let entry = self.resolve(config)?;
        tracing::info!(number = %entry.config.number.masked(), locale = %entry.config.locale,
            provider = entry.config.provider.as_str(), status = entry.config.status.as_str(), "number configured");
        self.map
            .write()
            .insert(entry.config.number.key(), Arc::new(entry));
        Ok(())
    }

    fn resolve(&self, config: NumberConfig) -> Result<NumberEntry> {
        let (lessons, voice_language) = match &config.lessons {
            Some(own) => (own.clone(), config.locale.clone()),
            None => {
                // The locale's own lessons, else those of the same language (fr-CA → fr-FR).
                let set = self.catalogue.lookup(&config.locale).cloned().ok_or_else(|| {
                    Error::Config(format!(
                        "number {}: the catalogue has no lessons for locale {} nor its language; add them or set NumberConfig::lessons",
                        config.number.masked(),
                        config.locale
                    ))
                })?;
                // Speak in the voice language the catalogue sets for those lessons, if any,
                // else in the number's own locale.
                let v = self.catalogue.voice_language(&set.locale);
                let voice = if *v == set.locale {
                    config.locale.clone()
                } else {
                    v.clone()
                };
                (set, voice)
            }
        };
        for (what, text) in [
            ("sms", &lessons.sms),
            ("voice", &lessons.voice),
            ("neutral_reply", &lessons.neutral_reply),
            ("voicemail_greeting", &lessons.voicemail_greeting),
            ("out_of_service", &lessons.out_of_service),
        ] {
            if text.trim().is_empty() {
                return Err(Error::Config(format!(
                    "number {}: lesson text {what} for {} is empty",
                    config.number.masked(),
                    lessons.locale
                )));
            }
        }
        let keywords = KeywordSet::new(&lessons.stop_keywords, &lessons.start_keywords);
        Ok(NumberEntry {
            config,
            lessons: Arc::new(lessons),
            keywords,
            voice_language,
        })
    }

    /// Change a number's status (pause, resume, retire). Fails with [`Error::NotFound`] for a
    /// number that is not configured.
    pub fn set_status(&self, number: &PhoneNumber, status: NumberStatus) -> Result<()> {
        let mut map = self.map.write();
        let entry = map
            .get(&number.key())
            .ok_or_else(|| Error::NotFound(format!("number {}", number.masked())))?;
        let mut config = entry.config.clone();
        config.status = status;
        let updated = NumberEntry {
            config,
            lessons: Arc::clone(&entry.lessons),
            keywords: entry.keywords.clone(),
            voice_language: entry.voice_language.clone(),
        };
        map.insert(number.key(), Arc::new(updated));
        tracing::info!(number = %number.masked(), status = status.as_str(), "number status changed");
        Ok(())
    }

    /// Remove a number altogether: its pending replies are cancelled at send time. Returns
    /// whether it was there. Prefer [`NumberStatus::Retired`], which still answers calls.
    pub fn remove(&self, number: &PhoneNumber) -> bool {
        self.map.write().remove(&number.key()).is_some()
    }

    /// A number's configuration.
    pub fn get(&self, number: &PhoneNumber) -> Option<NumberConfig> {
        self.entry(number).map(|e| e.config.clone())
    }

    pub(crate) fn entry(&self, number: &PhoneNumber) -> Option<Arc<NumberEntry>> {
        self.map.read().get(&number.key()).cloned()
    }

    /// Every number, sorted by E.164.
    pub fn list(&self) -> Vec<NumberConfig> {
        let mut v: Vec<NumberConfig> = self.map.read().values().map(|e| e.config.clone()).collect();
        v.sort_by(|a, b| a.number.e164().cmp(b.number.e164()));
        v
    }

    /// How many numbers there are.
    pub fn len(&self) -> usize {
        self.map.read().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.read().is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn set(locale: &str, sms: &str) -> LessonSet {
        LessonSet {
            locale: Locale::new(locale).unwrap(),
            sms: sms.into(),
            sms_short: None,
            voice: "voice".into(),
            neutral_reply: "who?".into(),
            voicemail_greeting: "leave a message".into(),
            out_of_service: "no longer in service".into(),
            facts_as_of: "2024-01-01".into(),
            stop_keywords: vec!["HALT".into()],
            start_keywords: vec![],
        }
    }

    #[test]
    fn lessons_come_from_the_number_or_the_catalogue() {
        let mut cat = Catalogue::default();
        cat.insert(set("fr-FR", "catalogue"));
        let numbers = Numbers::new(cat);
        let a = PhoneNumber::parse("+33937000000").unwrap();
        numbers
            .add(NumberConfig::new(
                a.clone(),
                Locale::new("fr-FR").unwrap(),
                ProviderId::from_static("acme"),
            ))
            .unwrap();
        assert_eq!(numbers.entry(&a).unwrap().lessons.sms, "catalogue");
        assert_eq!(
            numbers.entry(&a).unwrap().keywords.classify("halt"),
            Some(super::super::keywords::Keyword::Stop)
        );

        let b = PhoneNumber::parse("+32470123456").unwrap();
        let err = numbers
            .add(NumberConfig::new(
                b.clone(),
                Locale::new("nl-BE").unwrap(),
                ProviderId::from_static("other"),
            ))
            .unwrap_err();
        assert!(
            matches!(&err, Error::Config(m) if m.contains("nl-BE")),
            "{err}"
        );
        let mut own = NumberConfig::new(
            b.clone(),
            Locale::new("nl-BE").unwrap(),
            ProviderId::from_static("other"),
        );
        own.lessons = Some(set("nl-BE", "eigen"));
        numbers.add(own).unwrap();
        assert_eq!(numbers.entry(&b).unwrap().lessons.sms, "eigen");
        assert_eq!(
            numbers
                .list()
                .iter()
                .map(|c| c.number.e164().to_owned())
                .collect::<Vec<_>>(),
            ["+32470123456", "+33937000000"]
        );
    }

    #[test]
    fn empty_texts_and_unknown_numbers_are_errors() {
        let mut cat = Catalogue::default();
        cat.insert(set("fr-FR", "  "));
        let numbers = Numbers::new(cat);
        let a = PhoneNumber::parse("+33937000000").unwrap();
        assert!(
            numbers
                .add(NumberConfig::new(
                    a.clone(),
                    Locale::new("fr-FR").unwrap(),
                    ProviderId::from_static("acme")
                ))
                .is_err()
        );
        assert!(matches!(
            numbers.set_status(&a, NumberStatus::Paused),
            Err(Error::NotFound(_))
        ));
        assert!(numbers.is_empty());
    }
}
