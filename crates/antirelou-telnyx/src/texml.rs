//! Render the core's [`VoiceScript`] as TeXML, Telnyx's TwiML-compatible call markup.
//!
//! | Step | TeXML |
//! |---|---|
//! | `Reject` (first) | `<Reject reason="busy"/>` or `reason="rejected"` **alone**: Telnyx does not answer and does not bill |
//! | `Reject` (later) | `<Hangup/>`, which ends the document (a late reject can no longer be unbilled) |
//! | `Ring { seconds }` | a leading `<Pause length="N"/>` (whether Telnyx delays pick-up for it is not documented: see `PROTOCOL.md`) |
//! | `Say` | `<Say voice="…" language="…">text</Say>`, the voice from a [`VoiceTable`] ([`default_voices`]), `alice` for a language it lacks |
//! | `Play` | `<Play>url</Play>` |
//! | `Pause` | `<Pause length="N"/>`, N clamped to Telnyx's 1–180 |
//! | `Hangup` | `<Hangup/>` |
//!
//! Written with the kit's [`XmlWriter`]: text and attribute values are escaped, characters XML
//! 1.0 forbids are removed.
//!
//! ```
//! use antirelou_core::voice::{VoiceHint, VoiceScript};
//! use antirelou_telnyx::texml::{default_voices, render};
//! let script = VoiceScript::builder().say("Tom & <Jerry>", "fr-FR", VoiceHint::Female).hangup().build();
//! assert_eq!(
//!     render(&script, &default_voices()),
//!     "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
//!      <Say voice=\"Polly.Lea-Neural\" language=\"fr-FR\">Tom &amp; &lt;Jerry&gt;</Say><Hangup/></Response>"
//! );
//! ```

use antirelou_core::kit::{VoiceTable, XmlWriter, normalize_language};
use antirelou_core::voice::{RejectReason, VoiceScript, VoiceStep};

/// The `Content-Type` of a TeXML response.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// The longest `<Pause>` Telnyx accepts, in seconds.
pub const MAX_PAUSE: u32 = 180;

/// The voice `<Say>` uses for a language the table lacks: Telnyx's premium voice, which takes
/// a `language`.
pub const FALLBACK_VOICE: &str = "alice";

/// Telnyx's `<Say>` takes `Polly.VoiceId-Neural` voices (Amazon Polly) or `alice` with a
/// `language`. The default table:
///
/// | Language | Female | Male |
/// |---|---|---|
/// | `fr-FR` | `Polly.Lea-Neural` | `Polly.Remi-Neural` |
/// | `nl-BE` | `Polly.Lisa-Neural` | `alice` (Polly has no male Belgian Dutch voice) |
/// | `en-US` | `Polly.Joanna-Neural` | `Polly.Matthew-Neural` |
pub fn default_voices() -> VoiceTable {
    VoiceTable::new()
        .with("fr-FR", "Polly.Lea-Neural", "Polly.Remi-Neural")
        .with("nl-BE", "Polly.Lisa-Neural", FALLBACK_VOICE)
        .with("en-US", "Polly.Joanna-Neural", "Polly.Matthew-Neural")
}

/// Render a voice script as a TeXML document (see the module table).
pub fn render(script: &VoiceScript, voices: &VoiceTable) -> String {
    let mut w = XmlWriter::document();
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
                    let length = (*seconds).min(MAX_PAUSE).to_string();
                    w.empty("Pause", &[("length", &length)]);
                }
            }
            VoiceStep::Say {
                text,
                language,
                voice,
            } => {
                let language = normalize_language(language);
                let name = voices
                    .voice(&language, *voice)
                    .map_or(FALLBACK_VOICE, String::as_str);
                let mut attrs = vec![("voice", name)];
                if !language.is_empty() {
                    attrs.push(("language", language.as_str()));
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

/// An empty document: answer a request without instructions.
pub fn empty_response() -> String {
    let mut w = XmlWriter::document();
    w.empty("Response", &[]);
    w.finish()
}
