//! Render the core's [`VoiceScript`] as TwiML.
//!
//! A small, correct XML writer: text is escaped (`&`, `<`, `>`), attribute values too (plus `"`
//! and whitespace control characters as character references), and characters that XML 1.0
//! forbids (U+0000–U+0008, U+000B, U+000C, U+000E–U+001F, U+FFFE, U+FFFF) are removed.
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

use antirelou_core::voice::{RejectReason, VoiceHint, VoiceScript, VoiceStep};

/// The XML declaration every TwiML document starts with.
pub const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// The `Content-Type` of a TwiML response.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// Which Twilio text-to-speech voice speaks each language, female and male.
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
pub struct VoiceMap {
    entries: Vec<VoiceEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct VoiceEntry {
    language: String,
    female: String,
    male: String,
}

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
        VoiceMap {
            entries: Vec::new(),
        }
    }

    /// Set (or replace) the female and male voices of `language`.
    pub fn with(
        mut self,
        language: &str,
        female: impl Into<String>,
        male: impl Into<String>,
    ) -> Self {
        let language = normalize_language(language);
        self.entries.retain(|e| e.language != language);
        self.entries.push(VoiceEntry {
            language,
            female: female.into(),
            male: male.into(),
        });
        self
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
        let language = normalize_language(language);
        self.entries
            .iter()
            .find(|e| e.language == language)
            .map(|e| match hint {
                VoiceHint::Female => e.female.as_str(),
                VoiceHint::Male => e.male.as_str(),
            })
    }
}

/// Normalise a language tag as twilio-python does: `EN_us` → `en-US`.
///
/// ```
/// assert_eq!(antirelou_twilio::twiml::normalize_language("EN_us"), "en-US");
/// assert_eq!(antirelou_twilio::twiml::normalize_language("fr"), "fr");
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

/// The empty response: acknowledge an SMS or a status callback without replying.
///
/// ```
/// assert_eq!(antirelou_twilio::twiml::empty_response(), r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#);
/// ```
pub fn empty_response() -> String {
    format!("{XML_DECLARATION}<Response/>")
}

/// Render a voice script as a TwiML document.
///
/// A script that starts with `Reject` renders as that `<Reject>` alone. A `Reject` later in a
/// script (only possible with a deserialized script) cannot be unbilled any more: it renders as
/// `<Hangup/>` and ends the document. A `Ring` of zero seconds renders nothing.
pub fn render(script: &VoiceScript, voices: &VoiceMap) -> String {
    let mut w = XmlWriter::new();
    w.open("Response", &[]);
    for (i, step) in script.steps().iter().enumerate() {
        match step {
            VoiceStep::Reject { reason } => {
                if i == 0 {
                    let reason = match reason {
                        RejectReason::Busy => "busy",
                        RejectReason::Rejected => "rejected",
                    };
                    w.empty("Reject", &[("reason", reason)]);
                } else {
                    w.empty("Hangup", &[]);
                }
                break;
            }
            VoiceStep::Ring { seconds } | VoiceStep::Pause { seconds } => {
                if *seconds > 0 {
                    w.empty("Pause", &[("length", &seconds.to_string())]);
                }
            }
            VoiceStep::Say {
                text,
                language,
                voice,
            } => {
                let language = normalize_language(language);
                let mut attrs: Vec<(&str, &str)> = Vec::with_capacity(2);
                if let Some(v) = voices.voice(&language, *voice) {
                    attrs.push(("voice", v));
                }
                if !language.is_empty() {
                    attrs.push(("language", &language));
                }
                w.element("Say", &attrs, text);
            }
            VoiceStep::Play { url } => w.element("Play", &[], url),
            VoiceStep::Hangup => w.empty("Hangup", &[]),
        }
    }
    w.close("Response");
    w.finish()
}

/// Whether `c` may appear in an XML 1.0 document.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Escape text content: `&`, `<`, `>`; illegal characters removed.
///
/// ```
/// assert_eq!(antirelou_twilio::twiml::escape_text("a<b & \"c\"\u{1}"), "a&lt;b &amp; \"c\"");
/// ```
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| is_xml_char(*c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Escape a double-quoted attribute value: `&`, `<`, `>`, `"`, and tab, newline and carriage
/// return as character references (so attribute-value normalisation keeps them); illegal
/// characters removed.
///
/// ```
/// assert_eq!(antirelou_twilio::twiml::escape_attr("a&b=\"c\"\n"), "a&amp;b=&quot;c&quot;&#10;");
/// ```
pub fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| is_xml_char(*c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// A minimal XML writer for TwiML. Element and attribute names are fixed strings of this module.
struct XmlWriter {
    out: String,
}

impl XmlWriter {
    fn new() -> Self {
        XmlWriter {
            out: String::from(XML_DECLARATION),
        }
    }

    fn start(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            self.out.push_str(&escape_attr(v));
            self.out.push('"');
        }
    }

    fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start(name, attrs);
        self.out.push('>');
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start(name, attrs);
        self.out.push_str("/>");
    }

    fn element(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        let text = escape_text(text);
        if text.is_empty() {
            self.empty(name, attrs);
        } else {
            self.open(name, attrs);
            self.out.push_str(&text);
            self.close(name);
        }
    }

    fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    fn finish(self) -> String {
        self.out
    }
}
