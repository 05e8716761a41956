//! The voice suite: every [`VoiceStep`] rendered by the adapter, read back with a real parser
//! and compared with what the script says.

use crate::kit::voice_xml::XmlDialect;
use crate::kit::voices::normalize_language;
use crate::kit::xml::{HOSTILE_STRINGS, is_xml_char};
use crate::voice::{RejectReason, VoiceHint, VoiceScript, VoiceStep};

/// A step as read back from a rendered document, in provider-neutral terms.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeardStep {
    /// Speech.
    Say {
        /// The text, as the provider will read it.
        text: String,
        /// The language, normalised (`fr-FR`).
        language: String,
    },
    /// An audio file.
    Play {
        /// Its URL.
        url: String,
    },
    /// Silence (or ringing, where the dialect renders ringing as a leading pause).
    Pause {
        /// Seconds.
        seconds: u32,
    },
    /// The call is refused without being answered.
    Reject {
        /// Busy (`true`) or rejected.
        busy: bool,
    },
    /// The call ends.
    Hangup,
}

/// How a dialect renders [`VoiceStep::Ring`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingRendering {
    /// As a leading pause before pick-up (TwiML's leading `<Pause>`).
    LeadingPause,
    /// Not at all (the provider answers before fetching the document).
    Omitted,
}

/// How a dialect renders a leading [`VoiceStep::Reject`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectRendering {
    /// As a reject element, alone.
    Element,
    /// As an empty document (the provider has no reject: the call ends at once).
    EmptyDocument,
}

/// How a dialect renders [`VoiceStep::Hangup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HangupRendering {
    /// As a hang-up element.
    Element,
    /// As the end of the document.
    EndOfDocument,
}

/// What a dialect can express; the suite's expectations follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoiceCapabilities {
    /// Ringing.
    pub ring: RingRendering,
    /// Rejecting.
    pub reject: RejectRendering,
    /// Hanging up.
    pub hangup: HangupRendering,
}

impl VoiceCapabilities {
    /// What the TwiML-like dialects of [`render_voice_xml`](crate::kit::voice_xml::render_voice_xml)
    /// express: ringing as a leading pause, a reject element, a hangup element (TwiML, TeXML).
    pub const XML_ELEMENTS: VoiceCapabilities = VoiceCapabilities {
        ring: RingRendering::LeadingPause,
        reject: RejectRendering::Element,
        hangup: HangupRendering::Element,
    };
}

/// What the voice suite needs to know of an adapter.
pub trait VoiceHarness {
    /// Render `script` as the adapter answers a call with it.
    fn render(&self, script: &VoiceScript) -> Vec<u8>;

    /// Parse a rendered document back with a real parser (for XML dialects, [`read_back_xml`]);
    /// an element or action the dialect does not produce is an error.
    fn read_back(&self, rendered: &[u8]) -> Result<Vec<HeardStep>, String>;

    /// What the dialect can express.
    fn capabilities(&self) -> VoiceCapabilities;
}

/// Parse a TwiML-like document with a real XML parser into [`HeardStep`]s. Anything else
/// than the dialect's elements, as children of its root, is an error.
pub fn read_back_xml(rendered: &[u8], d: &XmlDialect) -> Result<Vec<HeardStep>, String> {
    let text = std::str::from_utf8(rendered).map_err(|e| format!("not UTF-8: {e}"))?;
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != d.root {
        return Err(format!(
            "root <{}>, not <{}>",
            root.tag_name().name(),
            d.root
        ));
    }
    let mut steps = Vec::new();
    for n in root.children() {
        if n.is_text() && n.text().is_some_and(|t| t.trim().is_empty()) {
            continue;
        }
        if !n.is_element() {
            return Err(format!("unexpected node {n:?} in <{}>", d.root));
        }
        if n.children().any(|c| c.is_element()) {
            return Err(format!("<{}> has child elements", n.tag_name().name()));
        }
        let name = n.tag_name().name();
        let attr = |a: &str| n.attribute(a).unwrap_or_default().to_owned();
        let step = if name == d.say {
            HeardStep::Say {
                text: n.text().unwrap_or_default().to_owned(),
                language: normalize_language(&attr(d.language_attr)),
            }
        } else if name == d.play {
            HeardStep::Play {
                url: n.text().unwrap_or_default().to_owned(),
            }
        } else if name == d.pause {
            let seconds = attr(d.pause_length_attr)
                .parse()
                .map_err(|_| format!("<{name}> without a valid {}", d.pause_length_attr))?;
            HeardStep::Pause { seconds }
        } else if name == d.hangup {
            HeardStep::Hangup
        } else if name == d.reject {
            match attr(d.reject_reason_attr).as_str() {
                r if r == d.reject_reasons.0 => HeardStep::Reject { busy: true },
                r if r == d.reject_reasons.1 => HeardStep::Reject { busy: false },
                other => return Err(format!("<{name}> with reason {other:?}")),
            }
        } else {
            return Err(format!("unexpected element <{name}>"));
        };
        steps.push(step);
    }
    Ok(steps)
}

const SUITE: &str = "kit::conformance::voice";

fn neutral(text: &str) -> String {
    text.chars().filter(|c| is_xml_char(*c)).collect()
}

/// What `script` must read back as, in a dialect with `caps`.
fn expected(script: &VoiceScript, caps: VoiceCapabilities) -> Vec<HeardStep> {
    let mut out = Vec::new();
    for step in script.steps() {
        match step {
            VoiceStep::Ring { seconds } => {
                if caps.ring == RingRendering::LeadingPause && *seconds > 0 {
                    out.push(HeardStep::Pause { seconds: *seconds });
                }
            }
            VoiceStep::Say { text, language, .. } => out.push(HeardStep::Say {
                text: neutral(text),
                language: normalize_language(language),
            }),
            VoiceStep::Play { url } => out.push(HeardStep::Play { url: url.clone() }),
            VoiceStep::Pause { seconds } => out.push(HeardStep::Pause { seconds: *seconds }),
            VoiceStep::Reject { reason } => {
                return match caps.reject {
                    RejectRendering::Element => vec![HeardStep::Reject {
                        busy: *reason == RejectReason::Busy,
                    }],
                    RejectRendering::EmptyDocument => Vec::new(),
                };
            }
            VoiceStep::Hangup => match caps.hangup {
                HangupRendering::Element => out.push(HeardStep::Hangup),
                HangupRendering::EndOfDocument => break,
            },
        }
    }
    out
}

fn check<H: VoiceHarness>(harness: &H, what: &str, script: &VoiceScript) {
    let rendered = harness.render(script);
    let shown = String::from_utf8_lossy(&rendered);
    let heard = harness.read_back(&rendered).unwrap_or_else(|e| {
        panic!("{SUITE}: {what}: the rendered document does not read back: {e}\n{shown}")
    });
    let heard: Vec<HeardStep> = heard
        .into_iter()
        .map(|s| match s {
            HeardStep::Say { text, language } => HeardStep::Say {
                text: neutral(&text),
                language: normalize_language(&language),
            },
            other => other,
        })
        .collect();
    let want = expected(script, harness.capabilities());
    assert_eq!(
        heard, want,
        "{SUITE}: {what}: the document says something else than the script\n{shown}"
    );
}

/// Run every voice rule against the adapter described by `harness`:
///
/// 1. a script with every answering step (ring, speech in two languages and both voice hints,
///    audio whose URL holds `&` and quotes, silence, hang-up) reads back step for step;
/// 2. a rejecting script (busy, rejected) reads back as the reject alone (or an empty document
///    where the provider has no reject);
/// 3. every [hostile string](crate::kit::xml::HOSTILE_STRINGS) spoken reads back as the same
///    text (minus characters XML forbids) and nothing else: no injected element.
///
/// # Panics
/// On the first broken rule, naming it and showing the document.
pub fn run_voice_suite<H: VoiceHarness>(harness: &H) {
    let full = VoiceScript::builder()
        .ring(3)
        .say("Bonjour, écoutez bien.", "fr-FR", VoiceHint::Female)
        .play("https://example.org/lesson.mp3?a=1&b=\"2\"")
        .pause(2)
        .say("Dag.", "nl-BE", VoiceHint::Male)
        .say("Hi.", "en-US", VoiceHint::Female)
        .hangup()
        .build();
    check(harness, "every step", &full);
    for reason in [RejectReason::Busy, RejectReason::Rejected] {
        check(
            harness,
            &format!("reject {reason:?}"),
            &VoiceScript::reject(reason),
        );
    }
    for s in HOSTILE_STRINGS {
        let script = VoiceScript::builder()
            .say(*s, "fr-FR", VoiceHint::Female)
            .hangup()
            .build();
        check(harness, &format!("hostile text {s:?}"), &script);
    }
}
