//! Render the core's [`VoiceScript`] as TwiML.
//!
//! Rendered by the adapter kit's one TwiML-like renderer, [`render_voice_xml`], in the
//! [`DIALECT`] below; its escaping is proven in the kit (and by the kit's voice conformance
//! suite, which this crate's tests run).
//!
//! | Step | TwiML |
//! |---|---|
//! | `Reject` (first) | `<Reject reason="busy"/>` or `reason="rejected"` **alone**: Twilio does not answer and does not bill |
//! | `Ring { seconds }` | a leading `<Pause length="N"/>`: Twilio waits before picking up |
//! | `Say` | `<Say voice="…" language="…">text</Say>`, the voice chosen by a [`VoiceMap`] |
//! | `Play` | `<Play>url</Play>` |
//! | `Pause` | `<Pause length="N"/>` |
//! | `Hangup` | `<Hangup/>` |
//!
//! ```
//! use antirelou_core::voice::{VoiceHint, VoiceScript};
//! use antirelou_twilio::twiml::{render, VoiceMap};
//! let script = VoiceScript::builder().ring(5).say("Tom & Jerry", "fr-FR", VoiceHint::Female).hangup().build();
//! assert_eq!(
//!     render(&script, &VoiceMap::default()),
//!     "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Pause length=\"5\"/>\
//!      <Say voice=\"Polly.Lea-Neural\" language=\"fr-FR\">Tom &amp; Jerry</Say><Hangup/></Response>"
//! );
//! ```

use antirelou_core::kit::{VoiceTable, XmlDialect, render_voice_xml};
use antirelou_core::voice::{VoiceHint, VoiceScript};

pub use antirelou_core::kit::normalize_language;
pub use antirelou_core::kit::xml::{XML_DECLARATION, escape_attr, escape_text};

/// TwiML as the kit's renderer writes it: TwiML's names, no pause limit, no fallback voice (a
/// language the map lacks is spoken by Twilio's default voice).
pub const DIALECT: XmlDialect = XmlDialect::TWIML;

/// The `Content-Type` of a TwiML response.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// Which Twilio text-to-speech voice speaks each language, female and male: a kit
/// [`VoiceTable`] of Twilio voice names.
///
/// The default map holds voices Twilio accepts for the project's languages (from the `SayVoice`
/// type of twilio-node and Twilio's text-to-speech table):
///
/// | Language | Female | Male |
/// |---|---|---|
/// | `fr-FR` | `Polly.Lea-Neural` | `Polly.Remi-Neural` |
/// | `nl-BE` | `Polly.Lisa-Neural` | `Google.nl-BE-Wavenet-B` (Polly has no male nl-BE voice) |
/// | `en-US` | `Polly.Joanna-Neural` | `Polly.Matthew-Neural` |
///
/// A language missing from the map is rendered with its `language` attribute and no `voice`:
/// Twilio then uses its default voice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoiceMap(pub VoiceTable);

impl Default for VoiceMap {
    fn default() -> Self {
        VoiceMap::empty()
            .with("fr-FR", "Polly.Lea-Neural", "Polly.Remi-Neural")
            .with("nl-BE", "Polly.Lisa-Neural", "Google.nl-BE-Wavenet-B")
            .with("en-US", "Polly.Joanna-Neural", "Polly.Matthew-Neural")
    }
}

impl VoiceMap {
    /// A map with no language.
    pub fn empty() -> Self {
        VoiceMap(VoiceTable::new())
    }

    /// Set (or replace) the female and male voices of `language`.
    pub fn with(self, language: &str, female: impl Into<String>, male: impl Into<String>) -> Self {
        VoiceMap(self.0.with(language, female.into(), male.into()))
    }

    /// The voice for `language` (any case, `_` or `-`) and `hint`, when the map has one.
    ///
    /// ```
    /// use antirelou_core::voice::VoiceHint;
    /// let m = antirelou_twilio::twiml::VoiceMap::default();
    /// assert_eq!(m.voice("nl_be", VoiceHint::Female), Some("Polly.Lisa-Neural"));
    /// assert_eq!(m.voice("de-DE", VoiceHint::Female), None);
    /// ```
    pub fn voice(&self, language: &str, hint: VoiceHint) -> Option<&str> {
        self.0.voice(language, hint).map(String::as_str)
    }
}

/// The empty response: acknowledge an SMS or a status callback without replying.
///
/// ```
/// assert_eq!(antirelou_twilio::twiml::empty_response(), r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#);
/// ```
pub fn empty_response() -> String {
    DIALECT.empty_response()
}

/// Render a voice script as a TwiML document (the kit's [`render_voice_xml`] in [`DIALECT`]).
///
/// A script that starts with `Reject` renders as that `<Reject>` alone. A `Reject` later in a
/// script (only possible with a deserialized script) cannot be unbilled any more: it renders as
/// `<Hangup/>` and ends the document. A `Ring` of zero seconds renders nothing.
pub fn render(script: &VoiceScript, voices: &VoiceMap) -> String {
    render_voice_xml(script, &DIALECT, &voices.0)
}
