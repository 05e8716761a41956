//! Twilio's three webhooks as plain async functions over `http::Request<Bytes>`, usable from
//! any web framework (the `axum` feature wires them into [`crate::router`]).
//!
//! Every request is verified first (`403` on a bad signature), then parsed (`400` with a
//! plain-text message on a missing or invalid parameter). When the handler fails, the answer is
//! a `5xx` so that Twilio retries; the handler's idempotency makes that safe, except when it
//! refuses the event because the number is not Twilio's
//! ([`Error::WrongProvider`](antirelou_core::Error::WrongProvider)): `403`. These statuses are
//! the adapter kit's one mapping ([`antirelou_core::kit::Rejection`]); rejections are logged
//! there, numbers masked.

use std::sync::Arc;

use antirelou_core::InboundHandler;
use antirelou_core::kit::{self, WebhookRequest};
use bytes::Bytes;
use http::Response;

use crate::error::TwilioError;
use crate::twiml::{self, VoiceMap};
use crate::webhook::WebhookConfig;

/// The three webhooks: the engine (or any handler), the webhook verification settings and the
/// voices to render scripts with.
#[derive(Clone)]
pub struct TwilioWebhookState {
    /// Receives the verified events.
    pub handler: Arc<dyn InboundHandler>,
    /// Signature validation and public base URL.
    pub config: WebhookConfig,
    /// Text-to-speech voices per language.
    pub voices: VoiceMap,
}

impl std::fmt::Debug for TwilioWebhookState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioWebhookState")
            .field("config", &self.config)
            .field("voices", &self.voices)
            .finish_non_exhaustive()
    }
}

fn xml(body: String) -> Response<Bytes> {
    kit::ok(Some(twiml::CONTENT_TYPE), body)
}

fn reject(webhook: &str, e: &TwilioError) -> Response<Bytes> {
    kit::reject("twilio", webhook, e.rejection(), e)
}

impl TwilioWebhookState {
    /// The voice webhook: the TwiML of the handler's script.
    pub async fn voice<B: AsRef<[u8]>>(&self, req: &http::Request<B>) -> Response<Bytes> {
        let call = match self.config.parse_voice(&WebhookRequest::from_http(req)) {
            Ok(c) => c,
            Err(e) => return reject("voice", &e),
        };
        let from = call.from.masked();
        match self.handler.handle_call(call).await {
            Ok(script) => {
                tracing::info!(from = %from, reject = script.is_reject(), "answered Twilio call");
                xml(twiml::render(&script, &self.voices))
            }
            Err(e) => kit::handler_failed("twilio", "voice", &e),
        }
    }

    /// The SMS webhook: an empty `<Response/>` once the handler has durably handled the text
    /// (a duplicate delivery too).
    pub async fn sms<B: AsRef<[u8]>>(&self, req: &http::Request<B>) -> Response<Bytes> {
        let sms = match self.config.parse_sms(&WebhookRequest::from_http(req)) {
            Ok(s) => s,
            Err(e) => return reject("sms", &e),
        };
        let from = sms.from.masked();
        match self.handler.handle_sms(sms).await {
            Ok(outcome) => {
                tracing::info!(from = %from, outcome = ?outcome, "handled Twilio SMS");
                xml(twiml::empty_response())
            }
            Err(e) => kit::handler_failed("twilio", "sms", &e),
        }
    }

    /// The status callback: an empty `<Response/>` once the handler has recorded the report.
    pub async fn status<B: AsRef<[u8]>>(&self, req: &http::Request<B>) -> Response<Bytes> {
        match self.config.parse_status(&WebhookRequest::from_http(req)) {
            Ok(report) => match self.handler.handle_delivery(report).await {
                Ok(()) => xml(twiml::empty_response()),
                Err(e) => kit::handler_failed("twilio", "status", &e),
            },
            Err(e) => reject("status", &e),
        }
    }
}
