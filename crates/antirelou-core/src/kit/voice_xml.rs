//! The one renderer of a [`VoiceScript`] as a TwiML-like XML document (TwiML, TeXML…): an
//! adapter describes its dialect in an [`XmlDialect`] (element and attribute names, the longest
//! pause, the voice for a locale its table lacks) and calls [`render_voice_xml`].
//!
//! | Step | Document (names from the dialect; TwiML's shown) |
//! |---|---|
//! | `Reject` (first) | `<Reject reason="busy"/>` or `reason="rejected"` **alone**: the call is refused unanswered |
//! | `Reject` (later) | `<Hangup/>`, which ends the document (a late reject can no longer be unbilled) |
//! | `Ring { seconds }` | a leading `<Pause length="N"/>`; nothing for zero seconds |
//! | `Say` | `<Say voice="…" language="…">text</Say>`: the voice from the [`VoiceTable`] (or the dialect's fallback; no `voice` when neither has one), `language` normalised, left out when empty |
//! | `Play` | `<Play>url</Play>` |
//! | `Pause` | `<Pause length="N"/>`, N clamped to the dialect's longest pause |
//! | `Hangup` | `<Hangup/>` |
//!
//! Written with the kit's [`XmlWriter`]: text and attribute values are escaped, characters XML
//! 1.0 forbids are removed.
//!
//! ```
//! use antirelou_core::kit::{VoiceTable, XmlDialect, render_voice_xml};
//! use antirelou_core::voice::{VoiceHint, VoiceScript};
//! let voices = VoiceTable::new().with("fr-FR", "Polly.Lea-Neural", "Polly.Remi-Neural");
//! let script = VoiceScript::builder().ring(5).say("Tom & Jerry", "fr_fr", VoiceHint::Female).hangup().build();
//! assert_eq!(
//!     render_voice_xml(&script, &XmlDialect::TWIML, &voices),
//!     "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Pause length=\"5\"/>\
//!      <Say voice=\"Polly.Lea-Neural\" language=\"fr-FR\">Tom &amp; Jerry</Say><Hangup/></Response>"
//! );
//! ```

use crate::kit::voices::{VoiceTable, normalize_language};
use crate::kit::xml::XmlWriter;
use crate::voice::{RejectReason, VoiceScript, VoiceStep};

/// The names and limits of a TwiML-like dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct XmlDialect {
    /// The root element (`Response`).
    pub root: &'static str,
    /// Speech (`Say`).
    pub say: &'static str,
    /// The voice attribute of speech (`voice`).
    pub voice_attr: &'static str,
    /// The language attribute of speech (`language`).
    pub language_attr: &'static str,
    /// Audio (`Play`), its URL as text.
    pub play: &'static str,
    /// Silence (`Pause`).
    pub pause: &'static str,
    /// The length attribute of silence, in seconds (`length`).
    pub pause_length_attr: &'static str,
    /// The longest silence the provider accepts, in seconds (`None`: no limit).
    pub max_pause: Option<u32>,
    /// Hang up (`Hangup`).
    pub hangup: &'static str,
    /// Refuse the call unanswered (`Reject`).
    pub reject: &'static str,
    /// The reason attribute of a refusal (`reason`).
    pub reject_reason_attr: &'static str,
    /// The reason values for busy and rejected (`busy`, `rejected`).
    pub reject_reasons: (&'static str, &'static str),
    /// The voice for a language the table lacks (`None`: no `voice` attribute, the provider's
    /// default speaks).
    pub fallback_voice: Option<&'static str>,
}

impl XmlDialect {
    /// TwiML's names, no pause limit, no fallback voice. TeXML uses the same names.
    pub const TWIML: XmlDialect = XmlDialect {
        root: "Response",
        say: "Say",
        voice_attr: "voice",
        language_attr: "language",
        play: "Play",
        pause: "Pause",
        pause_length_attr: "length",
        max_pause: None,
        hangup: "Hangup",
        reject: "Reject",
        reject_reason_attr: "reason",
        reject_reasons: ("busy", "rejected"),
        fallback_voice: None,
    };

    /// This dialect with its longest pause set (builder style, as the struct is non-exhaustive).
    pub const fn with_max_pause(mut self, seconds: u32) -> Self {
        self.max_pause = Some(seconds);
        self
    }

    /// This dialect with the voice for a language the table lacks.
    pub const fn with_fallback_voice(mut self, voice: &'static str) -> Self {
        self.fallback_voice = Some(voice);
        self
    }

    /// The document that answers without instructions: `<Response/>`.
    pub fn empty_response(&self) -> String {
        let mut w = XmlWriter::document();
        w.empty(self.root, &[]);
        w.finish()
    }
}

/// Render `script` in dialect `d`, each `Say` spoken by the voice `voices` gives its language
/// and hint (see the module table).
pub fn render_voice_xml(script: &VoiceScript, d: &XmlDialect, voices: &VoiceTable) -> String {
    let mut w = XmlWriter::document();
    w.open(d.root, &[]);
    let pause = |w: &mut XmlWriter, seconds: u32| {
        if seconds > 0 {
            let length = d.max_pause.map_or(seconds, |m| seconds.min(m)).to_string();
            w.empty(d.pause, &[(d.pause_length_attr, &length)]);
        }
    };
    for (i, step) in script.steps().iter().enumerate() {
        match step {
            VoiceStep::Reject { reason } if i == 0 => {
                let reason = match reason {
                    RejectReason::Busy => d.reject_reasons.0,
                    RejectReason::Rejected => d.reject_reasons.1,
                };
                w.empty(d.reject, &[(d.reject_reason_attr, reason)]);
                break;
            }
            VoiceStep::Reject { .. } => {
                w.empty(d.hangup, &[]);
                break;
            }
            VoiceStep::Ring { seconds } | VoiceStep::Pause { seconds } => pause(&mut w, *seconds),
            VoiceStep::Say {
                text,
                language,
                voice,
            } => {
                let language = normalize_language(language);
                let name = voices.voice(&language, *voice).map(String::as_str);
                let mut attrs = Vec::with_capacity(2);
                if let Some(v) = name.or(d.fallback_voice) {
                    attrs.push((d.voice_attr, v));
                }
                if !language.is_empty() {
                    attrs.push((d.language_attr, language.as_str()));
                }
                w.element(d.say, &attrs, text);
            }
            VoiceStep::Play { url } => w.element(d.play, &[], url),
            VoiceStep::Hangup => w.empty(d.hangup, &[]),
        }
    }
    w.close(d.root);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voice::VoiceHint;

    #[test]
    fn a_dialect_sets_the_limit_and_the_fallback_voice() {
        let d = XmlDialect::TWIML
            .with_max_pause(180)
            .with_fallback_voice("alice");
        let script = VoiceScript::builder()
            .ring(500)
            .say("x", "de-DE", VoiceHint::Female)
            .build();
        assert_eq!(
            render_voice_xml(&script, &d, &VoiceTable::new()),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Pause length=\"180\"/>\
             <Say voice=\"alice\" language=\"de-DE\">x</Say></Response>"
        );
        assert_eq!(
            render_voice_xml(&script, &XmlDialect::TWIML, &VoiceTable::new()),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Pause length=\"500\"/>\
             <Say language=\"de-DE\">x</Say></Response>"
        );
        assert_eq!(
            d.empty_response(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"
        );
    }
}
