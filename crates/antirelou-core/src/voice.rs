//! Provider-neutral voice scripts.
//!
//! The engine answers a call with a [`VoiceScript`]; each provider adapter renders it in its own
//! dialect (an XML document, a JSON list of actions…). The core writes no dialect; the adapter
//! kit (feature `adapter-kit`) holds an XML writer and the voice conformance suite.

use serde::{Deserialize, Serialize};

/// How to refuse a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The caller hears a busy tone.
    Busy,
    /// The call is rejected (the caller hears the network's message).
    Rejected,
}

/// A hint for the text-to-speech voice; adapters map it to a voice their provider accepts for the
/// language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoiceHint {
    /// A female voice (the default: the lessons speak for a woman).
    #[default]
    Female,
    /// A male voice.
    Male,
}

/// One step of a voice script.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum VoiceStep {
    /// Let the phone ring for this many seconds before answering, where the provider can delay
    /// pick-up (a dialect that cannot leaves it out).
    Ring {
        /// Seconds of ringing.
        seconds: u32,
    },
    /// Speak a text.
    Say {
        /// What to say.
        text: String,
        /// BCP-47 language, e.g. `fr-FR`.
        language: String,
        /// Voice preference.
        voice: VoiceHint,
    },
    /// Play an audio file.
    Play {
        /// The audio URL.
        url: String,
    },
    /// Silence.
    Pause {
        /// Seconds of silence.
        seconds: u32,
    },
    /// Refuse the call without answering, so that it is not billed where the provider allows it.
    /// Only valid as the first step, and then the only one.
    Reject {
        /// Busy or rejected.
        reason: RejectReason,
    },
    /// End the call.
    Hangup,
}

/// An ordered list of [`VoiceStep`]s, built so that it is always valid: a reject is the only
/// step of a rejecting script, and ringing comes first.
///
/// ```
/// use antirelou_core::voice::{VoiceScript, VoiceStep, VoiceHint, RejectReason};
/// let s = VoiceScript::builder()
///     .ring(20)
///     .say("Bonjour", "fr-FR", VoiceHint::Female)
///     .pause(1)
///     .hangup()
///     .build();
/// assert_eq!(s.steps().len(), 4);
/// assert!(VoiceScript::reject(RejectReason::Busy).is_reject());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceScript {
    steps: Vec<VoiceStep>,
}

impl VoiceScript {
    /// A script that refuses the call, unbilled where the provider allows it.
    pub fn reject(reason: RejectReason) -> Self {
        VoiceScript {
            steps: vec![VoiceStep::Reject { reason }],
        }
    }

    /// Start building an answering script.
    pub fn builder() -> VoiceScriptBuilder {
        VoiceScriptBuilder {
            ring: None,
            steps: Vec::new(),
        }
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[VoiceStep] {
        &self.steps
    }

    /// Whether this script refuses the call.
    pub fn is_reject(&self) -> bool {
        matches!(self.steps.first(), Some(VoiceStep::Reject { .. }))
    }

    /// The seconds of ringing before pick-up (zero when the script answers at once).
    pub fn ring_seconds(&self) -> u32 {
        match self.steps.first() {
            Some(VoiceStep::Ring { seconds }) => *seconds,
            _ => 0,
        }
    }
}

/// Builds an answering [`VoiceScript`].
#[derive(Debug, Clone)]
pub struct VoiceScriptBuilder {
    ring: Option<u32>,
    steps: Vec<VoiceStep>,
}

impl VoiceScriptBuilder {
    /// Ring for `seconds` before answering. Wherever it is called, ringing comes first.
    pub fn ring(mut self, seconds: u32) -> Self {
        self.ring = (seconds > 0).then_some(seconds);
        self
    }

    /// Speak `text` in `language`.
    pub fn say(
        mut self,
        text: impl Into<String>,
        language: impl Into<String>,
        voice: VoiceHint,
    ) -> Self {
        self.steps.push(VoiceStep::Say {
            text: text.into(),
            language: language.into(),
            voice,
        });
        self
    }

    /// Play the audio at `url`.
    pub fn play(mut self, url: impl Into<String>) -> Self {
        self.steps.push(VoiceStep::Play { url: url.into() });
        self
    }

    /// Stay silent for `seconds` (at least one).
    pub fn pause(mut self, seconds: u32) -> Self {
        self.steps.push(VoiceStep::Pause {
            seconds: seconds.max(1),
        });
        self
    }

    /// Hang up.
    pub fn hangup(mut self) -> Self {
        self.steps.push(VoiceStep::Hangup);
        self
    }

    /// The finished script.
    pub fn build(self) -> VoiceScript {
        let mut steps = Vec::with_capacity(self.steps.len() + 1);
        if let Some(seconds) = self.ring {
            steps.push(VoiceStep::Ring { seconds });
        }
        steps.extend(self.steps);
        VoiceScript { steps }
    }
}
