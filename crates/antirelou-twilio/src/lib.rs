//! # antirelou-twilio
//!
//! The Twilio adapter of **antirelou**:
//!
//! * [`signature`]: `X-Twilio-Signature` validation exactly as Twilio's official SDKs do it
//!   (the configured public URL used as written, query string kept, sorted parameters with
//!   repeats and empty values, both port variants, host case and `'`/`%27` spellings,
//!   `bodySHA256`, constant-time comparison, optional HMAC-SHA256 shared keys). Every official
//!   SDK test vector is a test of this crate, through the signature functions and through the
//!   real routes.
//! * [`webhook`]: framework-agnostic verification and parsing of the voice, SMS and
//!   status-callback webhooks (form `POST` and `GET`) into the core's events.
//! * [`twiml`]: rendering of the core's [`VoiceScript`](antirelou_core::voice::VoiceScript) as
//!   TwiML with a real XML escaper; a leading `<Reject>` so refused calls are not billed.
//! * [`client`]: [`TwilioTransport`], the core's [`SmsTransport`](antirelou_core::SmsTransport) over the
//!   Messages API, with Twilio's error codes mapped to transient or permanent errors.
//! * [`service`]: [`TwilioWebhookState`], the three webhooks as plain functions over
//!   `http::Request<Bytes>`, answered with the adapter kit's status mapping.
//! * [`router`] (feature `axum`, default): a ready router for the three webhooks, thin wiring
//!   over [`service`]. Any caller
//!   ID gets the voice lesson (withheld, `sip:`, unknown ranges); only a valid number is ever a
//!   [`Caller::Number`](antirelou_core::Caller::Number).
//!
//! Robustness: nothing panics on any input. `tests/no_panic.rs` throws random requests at the
//! parsers on stable Rust (CI); `fuzz/` holds a cargo-fuzz target for the same parsers
//! (`cd crates/antirelou-twilio/fuzz && cargo +nightly fuzz run webhook`), a package of its own
//! outside the workspace.
//!
//! The `twilio` crate is deliberately not used: it drops the query string and port from signed
//! URLs, does no XML escaping and discards REST error bodies.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod error;
#[cfg(feature = "axum")]
pub mod router;
pub mod section;
pub mod service;
pub mod signature;
pub mod twiml;
pub mod webhook;

/// Twilio's provider identity, `"twilio"`: the `{provider}` part of the idempotency keys of its
/// webhooks. It never changes (existing databases hold keys made with it).
pub const PROVIDER: antirelou_core::ProviderId = antirelou_core::ProviderId::from_static("twilio");

pub use client::{Auth, SendFrom, TwilioConfig, TwilioTransport};
pub use error::TwilioError;
pub use service::TwilioWebhookState;
pub use signature::SignatureValidator;
pub use webhook::{WebhookConfig, WebhookRequest};
