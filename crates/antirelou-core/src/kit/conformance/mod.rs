//! The adapter conformance suites (feature `adapter-kit-testing`): the [`SmsTransport`] and
//! [`InboundHandler`] contracts and the voice rendering rules as executable tests that every
//! provider adapter runs from its own tests, against the kit's [`FakeProvider`].
//!
//! Each suite is one entry point taking a small harness: how to build the adapter's client
//! against the fake server, how the provider answers each scenario on the wire, how to sign
//! its webhooks, how to read its voice documents back. The suites decide the scenarios and
//! judge the results, so an adapter cannot grade itself. They panic, naming the suite, the
//! scenario and the broken rule.
//!
//! | Suite | Entry point | Harness |
//! |---|---|---|
//! | sender | [`run_transport_suite`] | [`TransportHarness`] |
//! | webhooks | [`run_webhook_suite`] | [`WebhookHarness`] |
//! | voice | [`run_voice_suite`] | [`VoiceHarness`] |
//!
//! `crates/antirelou-core/tests/kit_conformance_catches_bugs.rs` shows each suite failing on
//! deliberately broken adapters.
//!
//! [`SmsTransport`]: crate::SmsTransport
//! [`InboundHandler`]: crate::InboundHandler
//! [`FakeProvider`]: super::fake_provider::FakeProvider

mod transport;
mod voice;
mod webhook;

pub use crate::kit::voice_xml::XmlDialect;
pub use transport::{ExpectedAuth, Scenario, TransportHarness, run_transport_suite};
pub use voice::{
    HangupRendering, HeardStep, RejectRendering, RingRendering, VoiceCapabilities, VoiceHarness,
    read_back_xml, run_voice_suite,
};
pub use webhook::{
    SampleInbound, WebhookHarness, WebhookKind, run_webhook_suite, sample as sample_inbound,
};

/// The digits of a number, for checks that a text does not carry it in any spelling.
pub(crate) fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}
