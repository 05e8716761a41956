//! Which voice speaks each locale: a small table adapters fill with their provider's voices
//! (Twilio's `Polly.*` names, a style number…), looked up by a [`VoiceHint`].
//!
//! ```
//! use antirelou_core::kit::VoiceTable;
//! use antirelou_core::voice::VoiceHint;
//! let t = VoiceTable::new().with("fr-FR", "Polly.Lea-Neural", "Polly.Remi-Neural");
//! assert_eq!(t.voice("fr_fr", VoiceHint::Male), Some(&"Polly.Remi-Neural"));
//! assert_eq!(t.voice("de-DE", VoiceHint::Female), None);
//! ```

use crate::voice::VoiceHint;

/// A female and a male voice per locale (BCP-47 tag, normalised by [`normalize_language`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoiceTable<V = String> {
    entries: Vec<(String, V, V)>,
}

impl<V> Default for VoiceTable<V> {
    fn default() -> Self {
        VoiceTable {
            entries: Vec::new(),
        }
    }
}

impl<V> VoiceTable<V> {
    /// A table with no locale.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set (or replace) the female and male voices of `language`.
    pub fn with(mut self, language: &str, female: impl Into<V>, male: impl Into<V>) -> Self {
        let language = normalize_language(language);
        self.entries.retain(|(l, _, _)| *l != language);
        self.entries.push((language, female.into(), male.into()));
        self
    }

    /// The voice for `language` (any case, `_` or `-`) and `hint`, when the table has one.
    pub fn voice(&self, language: &str, hint: VoiceHint) -> Option<&V> {
        let language = normalize_language(language);
        self.entries
            .iter()
            .find(|(l, _, _)| *l == language)
            .map(|(_, female, male)| match hint {
                VoiceHint::Female => female,
                VoiceHint::Male => male,
            })
    }

    /// The locales in the table, normalised.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(l, _, _)| l.as_str())
    }
}

/// Normalise a language tag: `EN_us` → `en-US`, `FR` → `fr`.
///
/// ```
/// assert_eq!(antirelou_core::kit::normalize_language("EN_us"), "en-US");
/// assert_eq!(antirelou_core::kit::normalize_language(" fr "), "fr");
/// ```
pub fn normalize_language(language: &str) -> String {
    let language = language.trim().replace('_', "-");
    match language.split_once('-') {
        Some((lang, region)) => format!(
            "{}-{}",
            lang.to_ascii_lowercase(),
            region.to_ascii_uppercase()
        ),
        None => language.to_ascii_lowercase(),
    }
}
