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
//! Rendered by the adapter kit's one TwiML-like renderer, [`render_voice_xml`], in the
//! [`DIALECT`] below: text and attribute values are escaped, characters XML 1.0 forbids are
//! removed.
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

use antirelou_core::kit::{VoiceTable, XmlDialect, render_voice_xml};
use antirelou_core::voice::VoiceScript;

/// The `Content-Type` of a TeXML response.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// The longest `<Pause>` Telnyx accepts, in seconds.
pub const MAX_PAUSE: u32 = 180;

/// The voice `<Say>` uses for a language the table lacks: Telnyx's premium voice, which takes
/// a `language`.
pub const FALLBACK_VOICE: &str = "alice";

/// TeXML as the kit's renderer writes it: TwiML's names, pauses clamped to [`MAX_PAUSE`],
/// [`FALLBACK_VOICE`] for a language the table lacks.
pub const DIALECT: XmlDialect = XmlDialect::TWIML
    .with_max_pause(MAX_PAUSE)
    .with_fallback_voice(FALLBACK_VOICE);

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
    render_voice_xml(script, &DIALECT, voices)
}

/// An empty document: answer a request without instructions.
pub fn empty_response() -> String {
    DIALECT.empty_response()
}
