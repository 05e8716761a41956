//! # antirelou-telnyx
//!
//! The [Telnyx](https://developers.telnyx.com) adapter of **antirelou**, built on the public
//! core API only: it turns Telnyx's webhooks into the core's events and sends the lessons
//! through the Messaging API v2.
//!
//! * [`signature`]: Ed25519 verification of `telnyx-signature-ed25519` over
//!   `{telnyx-timestamp}|{raw body}`, ±300 s on the injected clock;
//! * [`webhook`]: `message.received`, `message.sent`/`message.finalized` (status, errors, cost
//!   with its currency) and TeXML call requests;
//! * [`codes`]: Telnyx error codes classified once (opted out, invalid recipient, transient,
//!   permanent), for sends and delivery events alike;
//! * [`client`]: [`TelnyxTransport`], the [`SmsTransport`](antirelou_core::SmsTransport) for
//!   `POST /v2/messages`;
//! * [`texml`]: the core's voice scripts as TeXML;
//! * [`config`]: [`TelnyxConfig`], validated (API key, public key, API base);
//! * [`service`]: [`TelnyxWebhooks`], the endpoints over plain [`http`] types;
//! * [`router`] (feature `axum`, default): `POST /telnyx/sms` and `POST /telnyx/voice`.
//!
//! What the adapter relies on, with sources, is in `PROTOCOL.md` beside this crate's manifest.
//!
//! # Known limits (documented where they apply)
//!
//! * [`SmsTransport::find_accepted`](antirelou_core::SmsTransport::find_accepted) keeps the default
//!   answer (`Unknown`): the Messaging API reads a message by id only, and has no search by
//!   sender, recipient and time to find a send whose answer was lost.
//! * TeXML voice requests are verified like messaging webhooks (Ed25519 over the raw form body);
//!   that Telnyx signs the voice URL's request that way is not confirmed by its documentation
//!   (`PROTOCOL.md`). A request without the headers is refused (`403`), never trusted.
//! * Telnyx's costs come with their currency and are reported so ([`antirelou_core::Price`]); the
//!   engine converts them to the ledger's currency with the operator's fixed rate, and never
//!   counts one without a rate. [`TelnyxConfig::billing_currency`] (US dollars by default) is
//!   what the account is declared to bill in, for a server to check at start that it has a rate.
#![deny(missing_docs)]

pub mod client;
pub mod codes;
pub mod config;
pub mod error;
#[cfg(feature = "axum")]
pub mod router;
pub mod service;
pub mod signature;
pub mod texml;
pub mod webhook;

pub use client::TelnyxTransport;
pub use config::TelnyxConfig;
pub use error::TelnyxError;
pub use service::{TelnyxWebhooks, TelnyxWebhooksBuilder};
pub use signature::WebhookVerifier;

/// Telnyx's provider identity, `"telnyx"`: the `{provider}` part of the idempotency keys of its
/// webhooks. It never changes (databases hold keys made with it).
pub const PROVIDER: antirelou_core::ProviderId = antirelou_core::ProviderId::from_static("telnyx");
