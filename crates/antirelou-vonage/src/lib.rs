//! # antirelou-vonage
//!
//! The [Vonage](https://developer.vonage.com) adapter of **antirelou**: it turns Vonage's
//! webhooks into the core's events and sends the lessons through Vonage's SMS API.
//!
//! * [`signature`]: the `sig` of signed SMS webhooks and requests (md5hash and HMAC-MD5, -SHA1,
//!   -SHA256, -SHA512), checked against every official SDK vector;
//! * [`jwt`]: the HS256 JWT of signed voice webhooks (`iss`, short `iat` lifetime,
//!   `payload_hash` of the exact body);
//! * [`replay`]: the `jti` cache that makes each voice token usable once, on one route;
//! * [`webhook`]: parsing inbound SMS (multipart messages make one message), delivery receipts
//!   and the voice answer and event webhooks, from GET queries, forms or JSON;
//! * [`ncco`]: rendering the core's voice scripts as NCCO JSON;
//! * [`client`]: [`VonageTransport`], the [`SmsTransport`](antirelou_core::SmsTransport) for
//!   `POST /sms/json`, with the per-message status table;
//! * [`service`]: [`VonageWebhooks`], the endpoints over plain [`http`] types;
//! * [`router`] (feature `axum`, default): a ready `axum` router.
//!
//! Numbers always go out in Vonage's digit-only form (`33612345678`) and are only logged masked.
//!
//! # Known limits of Vonage (documented where they apply)
//!
//! * Voice JWTs carry no audience and do not sign a GET answer's query string on their own:
//!   what a token binds and what it cannot (the route, an uncovered query, a capture before a
//!   restart) is spelled out in [`service`]. A caller number the token does not cover gets the
//!   lesson and is never texted.
//! * Voice: no ringing before pick-up and no unbilled reject in an NCCO ([`ncco`]).
//! * Delivery receipts come **one per segment**, each with its segment's `messageId` and price;
//!   [`SendReceipt::provider_id`](antirelou_core::SendReceipt::provider_id) is the first
//!   segment's id, so the receipts of the other segments name ids the engine never saw.
//! * A multipart inbound SMS arrives part by part; every part carries the same
//!   [`InboundSms::message_id`](antirelou_core::event::InboundSms::message_id) ([`webhook`]).
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod error;
pub mod jwt;
pub mod ncco;
pub mod replay;
#[cfg(feature = "axum")]
pub mod router;
pub mod section;
pub mod service;
pub mod signature;
pub mod webhook;

/// Vonage's provider identity, `"vonage"`: the `{provider}` part of the idempotency keys of its
/// webhooks. It never changes (existing databases hold keys made with it).
pub const PROVIDER: antirelou_core::ProviderId = antirelou_core::ProviderId::from_static("vonage");

/// The form Vonage's SMS and Voice APIs want a number in: E.164 digits, no `+`, never `00`.
/// ```
/// let n = antirelou_core::PhoneNumber::parse("+33 6 12 34 56 78").unwrap();
/// assert_eq!(antirelou_vonage::wire_number(&n), "33612345678");
/// ```
pub fn wire_number(n: &antirelou_core::PhoneNumber) -> &str {
    let e164 = n.e164();
    e164.strip_prefix('+').unwrap_or(e164)
}

pub use client::{VonageAuth, VonageConfig, VonageTransport};
pub use error::VonageError;
pub use service::{VonageWebhooks, VonageWebhooksBuilder};
pub use signature::{SignatureMethod, SmsSigner};
