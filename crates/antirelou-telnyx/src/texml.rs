//! Render the core's [`VoiceScript`] as TeXML, Telnyx's TwiML-compatible call markup.
//!
//! | Step | TeXML |
//! |---|---|
//! | `Reject` (first) | `<Reject reason="busy"/>` or `reason="rejected"` **alone**: Telnyx does not answer and does not bill |
//! | `Reject` (later) | `<Hangup/>`, which ends the document (a late reject can no longer be unbilled) |
//! | `Ring { seconds }` | a leading `<Pause length="N"/>` (whether Telnyx delays pick-up for it is not documented: see `PROTOCOL.md`) |
//! | `Say` | `<Say voice="…" language="…">text</Say>`, the voice from a [`VoiceTable`] |
//! | `Play` | `<Play>url</Play>` |
//! | `Pause` | `<Pause length="N"/>`, N clamped to Telnyx's 1–180 |
//! | `Hangup` | `<Hangup/>` |
//!
//! Text and attribute values are escaped; characters XML 1.0 forbids are removed.
//!
//! ```
//! use antirelou_core::voice::{VoiceHint, VoiceScript};
//! use antirelou_telnyx::texml::{render, VoiceTable};
//! let script = VoiceScript::builder().say("Tom & <Jerry>", "fr-FR", VoiceHint::Female).hangup().build();
//! assert_eq!(
//!     render(&script, &VoiceTable::default()),
//!     "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
//!      <Say voice=\"Polly.Lea-Neural\" language=\"fr-FR\">Tom &amp; &lt;Jerry&gt;</Say><Hangup/></Response>"
//! );
//! ```

use antirelou_core::voice::{RejectReason, VoiceHint, VoiceScript, VoiceStep};

/// The XML declaration every TeXML document starts with.
pub const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// The `Content-Type` of a TeXML response.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// The longest `<Pause>` Telnyx accepts, in seconds.
pub const MAX_PAUSE: u32 = 180;

/// Which text-to-speech voice speaks each language, female and male.
///
/// Telnyx's `<Say>` takes `Polly.VoiceId-Neural` voices (Amazon Polly) or `alice` with a
/// `language`. The default table:
///
/// | Language | Female | Male |
/// |---|---|---|
/// | `fr-FR` | `Polly.Lea-Neural` | `Polly.Remi-Neural` |
/// | `nl-BE` | `Polly.Lisa-Neural` | `alice` (Polly has no male Belgian Dutch voice) |
/// | `en-US` | `Polly.Joanna-Neural` | `Polly.Matthew-Neural` |
///
/// A language missing from the table is rendered as `voice="alice"` with its `language`.
// TODO(kit): becomes the kit's per-locale voice table type once h-kit is merged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoiceTable {
    entries: Vec<(String, String, String)>,
}

impl Default for VoiceTable {
    fn default() -> Self {
        VoiceTable::empty()
            .with("fr-FR", "Polly.Lea-Neural", "Polly.Remi-Neural")
            .with("nl-BE", "Polly.Lisa-Neural", "alice")
            .with("en-US", "Polly.Joanna-Neural", "Polly.Matthew-Neural")
    }
}

impl VoiceTable {
    /// A table with no language (every `Say` uses `alice`).
    pub fn empty() -> Self {
        VoiceTable {
            entries: Vec::new(),
        }
    }

    /// Set (or replace) the voices of `language`.
    pub fn with(mut self, language: &str, female: &str, male: &str) -> Self {
        let language = normalize_language(language);
        self.entries.retain(|(l, _, _)| *l != language);
        self.entries
            .push((language, female.to_owned(), male.to_owned()));
        self
    }

    /// The voice for `language` and `hint`: the table's, or `alice`.
    pub fn voice(&self, language: &str, hint: VoiceHint) -> &str {
        let language = normalize_language(language);
        self.entries
            .iter()
            .find(|(l, _, _)| *l == language)
            .map_or("alice", |(_, f, m)| match hint {
                VoiceHint::Female => f.as_str(),
                VoiceHint::Male => m.as_str(),
            })
    }
}

/// `EN_us` → `en-US`.
fn normalize_language(language: &str) -> String {
    let language = language.trim().replace('_', "-");
    match language.split_once('-') {
        Some((l, r)) => format!("{}-{}", l.to_ascii_lowercase(), r.to_ascii_uppercase()),
        None => language.to_ascii_lowercase(),
    }
}

/// Render a voice script as a TeXML document (see the module table).
pub fn render(script: &VoiceScript, voices: &VoiceTable) -> String {
    let mut out = String::from(XML_DECLARATION);
    out.push_str("<Response>");
    for (i, step) in script.steps().iter().enumerate() {
        match step {
            VoiceStep::Reject { reason } => {
                if i == 0 {
                    let reason = match reason {
                        RejectReason::Busy => "busy",
                        RejectReason::Rejected => "rejected",
                    };
                    empty(&mut out, "Reject", &[("reason", reason)]);
                } else {
                    empty(&mut out, "Hangup", &[]);
                }
                break;
            }
            VoiceStep::Ring { seconds } | VoiceStep::Pause { seconds } => {
                if *seconds > 0 {
                    let length = seconds.min(&MAX_PAUSE).to_string();
                    empty(&mut out, "Pause", &[("length", &length)]);
                }
            }
            VoiceStep::Say {
                text,
                language,
                voice,
            } => {
                let language = normalize_language(language);
                let mut attrs = vec![("voice", voices.voice(&language, *voice))];
                if !language.is_empty() {
                    attrs.push(("language", language.as_str()));
                }
                element(&mut out, "Say", &attrs, text);
            }
            VoiceStep::Play { url } => element(&mut out, "Play", &[], url),
            VoiceStep::Hangup => empty(&mut out, "Hangup", &[]),
        }
    }
    out.push_str("</Response>");
    out
}

/// An empty document: answer a request without instructions.
pub fn empty_response() -> String {
    format!("{XML_DECLARATION}<Response/>")
}

// TODO(kit): the tag writing and escaping below become the kit's XML writer once h-kit is merged.
fn open_tag(out: &mut String, name: &str, attrs: &[(&str, &str)]) {
    out.push('<');
    out.push_str(name);
    for (k, v) in attrs {
        out.push(' ');
        out.push_str(k);
        out.push_str("=\"");
        out.push_str(&escape(v, true));
        out.push('"');
    }
}

fn empty(out: &mut String, name: &str, attrs: &[(&str, &str)]) {
    open_tag(out, name, attrs);
    out.push_str("/>");
}

fn element(out: &mut String, name: &str, attrs: &[(&str, &str)], text: &str) {
    open_tag(out, name, attrs);
    out.push('>');
    out.push_str(&escape(text, false));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Whether `c` may appear in an XML 1.0 document.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Escape `&`, `<`, `>` (and in attributes `"`, `'` and whitespace controls, which attribute
/// normalisation would otherwise turn into spaces); drop characters XML forbids.
///
/// ```
/// use antirelou_telnyx::texml::escape;
/// assert_eq!(escape("a<b & \"c\"\u{1}", false), "a&lt;b &amp; \"c\"");
/// assert_eq!(escape("\"x'\ty", true), "&quot;x&apos;&#9;y");
/// ```
pub fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| is_xml_char(*c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}
