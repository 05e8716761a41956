//! The adapter kit (feature `adapter-kit`): what every provider adapter needs and would
//! otherwise write again, one piece per file.
//!
//! | Piece | What it gives an adapter |
//! |---|---|
//! | [`request`] | [`WebhookRequest`]: a webhook as received (method, the URL as the provider called it, headers, raw body) over `http::Request<Bytes>`, and [`PublicBaseUrl`] |
//! | [`params`] | [`Params`]: flat webhook parameters, unique by name, from a query string, a form or a flat JSON body ([`ParamsError`] is always `400`) |
//! | [`response`] | [`Rejection`]: the **one** mapping of webhook outcomes to HTTP statuses (bad or missing signature 403, malformed 400, handler failure 5xx, duplicate 200) |
//! | [`retry_after`] | [`parse_retry_after`]: `Retry-After` as delta-seconds or an HTTP-date (the dispatcher clamps it, once) |
//! | [`client`] | the client boilerplate: [`http_client`] (timeouts, user agent), [`api_endpoint`] (a path under a checked API base), [`client::send`] (one request read whole: status, `Retry-After`, body; [`Unfinished`] when it does not complete), [`client::log_send`], [`client::REDACTED`] for `Debug` |
//! | [`caller`] | [`webhook_caller`]: a webhook's sender or caller field as a [`Caller`](crate::Caller), digits libphonenumber does not validate kept as not dialable |
//! | [`classify`] | HTTP and transport failures as the core's transient/permanent errors ([`classify_status`], [`transport_error`], [`accepted_without_id`]) |
//! | [`xml`] | [`XmlWriter`]: a small XML writer with proven escaping, for TwiML-like dialects |
//! | [`voices`] | [`VoiceTable`]: which voice speaks each locale |
//! | [`voice_xml`] | [`render_voice_xml`]: the one renderer of a voice script as TwiML-like XML, for a dialect described by an [`XmlDialect`] |
//! | [`config`] | reading an adapter's configuration section: secrets from the file or the environment, placeholders refused, URLs, paces, currencies, errors naming the dotted key ([`config::KeyError`]) |
//!
//! Phone numbers in provider texts are masked by one rule, [`crate::phone::mask_numbers`],
//! which the kit's helpers apply and which the engine applies too.
//!
//! With `adapter-kit-testing`, the test half: `fake_provider` (a scripted loopback provider
//! server that records every request), `recording` (a recording
//! [`InboundHandler`](crate::InboundHandler)), `log_capture` and the `conformance` suites
//! (transport, webhooks, voice) every adapter runs from its tests.

pub mod caller;
pub mod classify;
pub mod client;
pub mod config;
pub mod params;
pub mod request;
pub mod response;
pub mod retry_after;
pub mod voice_xml;
pub mod voices;
pub mod xml;

#[cfg(feature = "adapter-kit-testing")]
pub mod conformance;
#[cfg(feature = "adapter-kit-testing")]
pub mod fake_provider;
#[cfg(feature = "adapter-kit-testing")]
pub mod log_capture;
#[cfg(feature = "adapter-kit-testing")]
pub mod recording;

pub use caller::webhook_caller;
pub use classify::{accepted_without_id, classify_status, transport_error};
pub use client::{ApiAnswer, ClientError, Unfinished, api_endpoint, http_client};
pub use params::{Params, ParamsError};
pub use request::{PublicBaseUrl, WebhookRequest};
pub use response::{Rejection, handler_failed, ok, reject};
pub use retry_after::{parse_retry_after, retry_after_header};
pub use voice_xml::{XmlDialect, render_voice_xml};
pub use voices::{VoiceTable, normalize_language};
pub use xml::XmlWriter;
