//! Rendering the core's [`VoiceScript`] as a Vonage NCCO (a JSON array of actions).
//!
//! | Step | NCCO |
//! |---|---|
//! | `Say` | `{"action":"talk","text":…,"language":…,"style":…,"premium":false,"loop":1,"level":0}` |
//! | `Play` | `{"action":"stream","streamUrl":[url]}` |
//! | `Pause` | `{"action":"wait","timeout":seconds}` (the NCCO `wait` action, 0.1–7200 s) |
//! | `Ring` | **nothing** (see below) |
//! | `Reject` | the empty NCCO `[]` (see below) |
//! | `Hangup` | the end of the NCCO: "when all the actions in the NCCO are complete, the call ends"; any later step is dropped |
//!
//! Limitations, from Vonage's documentation:
//!
//! * **No ringing before pick-up.** Vonage fetches the answer URL once it has answered the call,
//!   so it cannot be made to ring longer; a silent `wait` instead would be billed and would sound
//!   like a dead line. A `Ring` step is therefore left out.
//! * **No unbilled reject.** The NCCO has no equivalent of TwiML's `<Reject>`; no documented
//!   action refuses a call without answering it. The cheapest documented behaviour is an NCCO
//!   that completes at once, so that the call ends immediately: the empty array `[]`.
//! * Plain `text` needs no escaping (it is a JSON string); this module never emits SSML.
//! * Vonage's documentation does not say which `style` is which voice; [`NccoOptions`] lets the
//!   operator choose the style of each language and voice hint (a kit `VoiceTable`, default `0`).
//!
//! ```
//! use antirelou_core::voice::{VoiceHint, VoiceScript};
//! use antirelou_vonage::ncco::{render, NccoOptions};
//! let script = VoiceScript::builder().say("Bonjour.", "fr-FR", VoiceHint::Female).pause(1).hangup().build();
//! let ncco = render(&script, &NccoOptions::default());
//! assert_eq!(ncco[0]["action"], "talk");
//! assert_eq!(ncco[0]["language"], "fr-FR");
//! assert_eq!(ncco[1], serde_json::json!({"action": "wait", "timeout": 1}));
//! ```

use antirelou_core::kit::{VoiceTable, normalize_language};
use antirelou_core::voice::{VoiceHint, VoiceScript, VoiceStep};
use serde_json::{Value, json};

/// The longest wait the NCCO `wait` action accepts, in seconds.
pub const MAX_WAIT_SECS: u32 = 7200;

/// The longest `talk` text Vonage accepts, in characters.
pub const MAX_TALK_CHARS: usize = 1500;

/// Options for rendering.
#[derive(Clone, Debug)]
pub struct NccoOptions {
    /// `style` per Vonage language, female and male: a kit [`VoiceTable`]. Missing languages
    /// use `default_style`.
    pub styles: VoiceTable<u32>,
    /// The style when no entry matches.
    pub default_style: u32,
    /// `premium` (AI voices, billed extra). Default `false`.
    pub premium: bool,
    /// `level`, the volume from -1 to 1. Default `0`.
    pub level: f32,
}

impl Default for NccoOptions {
    fn default() -> Self {
        NccoOptions {
            styles: VoiceTable::new(),
            default_style: 0,
            premium: false,
            level: 0.0,
        }
    }
}

impl NccoOptions {
    /// Use `style` for `language` (as given to [`vonage_language`]) and `hint`; the other hint
    /// of that language keeps its style (`default_style` when it had none).
    pub fn with_style(mut self, language: &str, hint: VoiceHint, style: u32) -> Self {
        let language = vonage_language(language);
        let (female, male) = match hint {
            VoiceHint::Male => (self.style(&language, VoiceHint::Female), style),
            VoiceHint::Female => (style, self.style(&language, VoiceHint::Male)),
        };
        self.styles = self.styles.with(&language, female, male);
        self
    }

    fn style(&self, language: &str, hint: VoiceHint) -> u32 {
        self.styles
            .voice(language, hint)
            .copied()
            .unwrap_or(self.default_style)
    }
}

/// The language code Vonage accepts for a BCP-47 tag. The project's languages map exactly:
/// `fr-FR`, `nl-BE` and `en-US` (all in Vonage's `TTSLanguages`); bare `fr`, `nl` and `en` map
/// to `fr-FR`, `nl-NL` and `en-US`; case is normalised (`fr-fr` → `fr-FR`). Another well-formed
/// tag is passed through; anything else falls back to Vonage's default, `en-US`.
///
/// ```
/// use antirelou_vonage::ncco::vonage_language;
/// assert_eq!(vonage_language("fr-FR"), "fr-FR");
/// assert_eq!(vonage_language("nl-be"), "nl-BE");
/// assert_eq!(vonage_language("en"), "en-US");
/// assert_eq!(vonage_language("<script>"), "en-US");
/// ```
pub fn vonage_language(tag: &str) -> std::borrow::Cow<'static, str> {
    use std::borrow::Cow;
    let t = normalize_language(tag);
    let (lang, region) = match t.split_once('-') {
        Some((l, r)) => (l, Some(r)),
        None => (t.as_str(), None),
    };
    match (lang, region) {
        ("fr", None | Some("FR")) => Cow::Borrowed("fr-FR"),
        ("nl", Some("BE")) => Cow::Borrowed("nl-BE"),
        ("nl", None | Some("NL")) => Cow::Borrowed("nl-NL"),
        ("en", None | Some("US")) => Cow::Borrowed("en-US"),
        _ => {
            let well_formed = (2..=3).contains(&lang.len())
                && lang.bytes().all(|b| b.is_ascii_lowercase())
                && region.is_none_or(|r| {
                    (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
                });
            if !well_formed {
                return Cow::Borrowed("en-US");
            }
            Cow::Owned(t)
        }
    }
}

/// Render `script` as an NCCO.
pub fn render(script: &VoiceScript, options: &NccoOptions) -> Value {
    let mut actions = Vec::new();
    for step in script.steps() {
        match step {
            VoiceStep::Reject { .. } => return Value::Array(Vec::new()),
            VoiceStep::Hangup => break,
            VoiceStep::Ring { .. } => {}
            VoiceStep::Say {
                text,
                language,
                voice,
            } => {
                let language = vonage_language(language);
                let text: String = text.chars().take(MAX_TALK_CHARS).collect();
                actions.push(json!({
                    "action": "talk",
                    "text": text,
                    "language": language,
                    "style": options.style(&language, *voice),
                    "premium": options.premium,
                    "loop": 1,
                    "level": options.level.clamp(-1.0, 1.0),
                }));
            }
            VoiceStep::Play { url } => {
                actions.push(json!({ "action": "stream", "streamUrl": [url] }));
            }
            VoiceStep::Pause { seconds } => {
                actions.push(
                    json!({ "action": "wait", "timeout": (*seconds).clamp(1, MAX_WAIT_SECS) }),
                );
            }
            // `VoiceStep` may grow; an unknown step renders as nothing.
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }
    Value::Array(actions)
}

/// Render `script` as the bytes of an NCCO response body.
pub fn render_bytes(script: &VoiceScript, options: &NccoOptions) -> Vec<u8> {
    render(script, options).to_string().into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use antirelou_core::voice::RejectReason;

    #[test]
    fn full_script() {
        let script = VoiceScript::builder()
            .ring(15)
            .say("Oh, bonjour !", "fr-FR", VoiceHint::Female)
            .play("https://example.org/a.mp3")
            .pause(2)
            .say("Dag.", "nl-BE", VoiceHint::Male)
            .say("Hi.", "en-US", VoiceHint::Female)
            .hangup()
            .say("never said", "en-US", VoiceHint::Female)
            .build();
        let opts = NccoOptions::default().with_style("nl-BE", VoiceHint::Male, 1);
        let v = render(&script, &opts);
        let expected = json!([
            {"action":"talk","text":"Oh, bonjour !","language":"fr-FR","style":0,"premium":false,"loop":1,"level":0.0},
            {"action":"stream","streamUrl":["https://example.org/a.mp3"]},
            {"action":"wait","timeout":2},
            {"action":"talk","text":"Dag.","language":"nl-BE","style":1,"premium":false,"loop":1,"level":0.0},
            {"action":"talk","text":"Hi.","language":"en-US","style":0,"premium":false,"loop":1,"level":0.0},
        ]);
        assert_eq!(v, expected);
    }

    #[test]
    fn reject_is_empty_ncco() {
        for r in [RejectReason::Busy, RejectReason::Rejected] {
            assert_eq!(
                render(&VoiceScript::reject(r), &NccoOptions::default()),
                json!([])
            );
        }
    }

    #[test]
    fn text_is_not_escaped_but_json_quoted() {
        let script = VoiceScript::builder()
            .say("a < b & \"c\"", "fr-FR", VoiceHint::Female)
            .build();
        let bytes = render_bytes(&script, &NccoOptions::default());
        let back: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back[0]["text"], "a < b & \"c\"");
    }
}
