//! Framework-agnostic webhook endpoints over [`http`] types.
//!
//! [`TelnyxWebhooks`] verifies each webhook's Ed25519 signature over its raw body, parses it,
//! hands it to an [`InboundHandler`] and answers:
//!
//! | Endpoint | Telnyx webhook | Answer |
//! |---|---|---|
//! | [`TelnyxWebhooks::sms`] | messaging events (JSON): `message.received`, `message.sent`, `message.finalized`, others ignored | `200` |
//! | [`TelnyxWebhooks::voice`] | TeXML application's voice URL (POST form) | `200` + TeXML |
//!
//! Outcomes follow the kit's one table ([`antirelou_core::kit::response`]): a missing, wrong,
//! stale or future signature is `403` and nothing reaches the handler; malformed input is `400`;
//! a method other than POST is `405`; a failure of the handler is `503` when transient and `500`
//! otherwise, so that Telnyx retries (the engine's idempotency on message ids makes the retry
//! safe); a duplicate delivery is `200`. Error bodies and logs never carry a phone number.

use std::fmt;
use std::sync::Arc;

use antirelou_core::kit::{self, Rejection, WebhookRequest};
use antirelou_core::{Clock, InboundHandler};
use bytes::Bytes;
use http::Response;

use crate::config::TelnyxConfig;
use crate::error::TelnyxError;
use crate::signature::WebhookVerifier;
use crate::texml;
use crate::webhook::{self, TelnyxEvent};
use antirelou_core::kit::VoiceTable;

/// The two webhook endpoints, with the verifier and the engine behind them.
#[derive(Clone)]
pub struct TelnyxWebhooks {
    handler: Arc<dyn InboundHandler>,
    verifier: WebhookVerifier,
    voices: VoiceTable,
}

impl fmt::Debug for TelnyxWebhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelnyxWebhooks")
            .field("verifier", &self.verifier)
            .field("voices", &self.voices)
            .finish_non_exhaustive()
    }
}

/// Builds [`TelnyxWebhooks`].
#[derive(Debug)]
pub struct TelnyxWebhooksBuilder {
    hooks: TelnyxWebhooks,
}

impl TelnyxWebhooksBuilder {
    /// Render `Say` steps with `voices`.
    pub fn voices(mut self, voices: VoiceTable) -> Self {
        self.hooks.voices = voices;
        self
    }

    /// Judge signature freshness on `clock` (the engine's clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.hooks.verifier = self.hooks.verifier.with_clock(clock);
        self
    }

    /// Replace the verifier (another key, another tolerance).
    pub fn verifier(mut self, verifier: WebhookVerifier) -> Self {
        self.hooks.verifier = verifier;
        self
    }

    /// The endpoints.
    pub fn build(self) -> TelnyxWebhooks {
        self.hooks
    }
}

/// The provider's name in the kit's logs.
const PROVIDER_NAME: &str = "telnyx";

/// The response for an error, through the kit's one mapping (the message is masked and logged
/// once there; a `5xx` body only asks for a retry).
pub fn error_response(webhook: &str, e: &TelnyxError) -> Response<Bytes> {
    match e {
        TelnyxError::Handler(core) => kit::handler_failed(PROVIDER_NAME, webhook, core),
        other => kit::reject(PROVIDER_NAME, webhook, other.rejection(), other),
    }
}

impl TelnyxWebhooks {
    /// Endpoints verifying with `verifier`, handing events to `handler`.
    pub fn builder(
        handler: Arc<dyn InboundHandler>,
        verifier: WebhookVerifier,
    ) -> TelnyxWebhooksBuilder {
        TelnyxWebhooksBuilder {
            hooks: TelnyxWebhooks {
                handler,
                verifier,
                voices: texml::default_voices(),
            },
        }
    }

    /// Endpoints for `config` (its public key).
    pub fn from_config(
        handler: Arc<dyn InboundHandler>,
        config: &TelnyxConfig,
    ) -> TelnyxWebhooksBuilder {
        Self::builder(handler, WebhookVerifier::new(config.public_key))
    }

    /// The raw body of `req`, once its signature is verified.
    fn verified<'r>(&self, req: WebhookRequest<'r>) -> Result<&'r [u8], TelnyxError> {
        if req.body.len() > webhook::MAX_BODY {
            return Err(TelnyxError::BadRequest("body too long".into()));
        }
        self.verifier.verify(req.headers, req.body)?;
        Ok(req.body)
    }

    /// A messaging event (`POST /telnyx/sms`).
    pub async fn sms(&self, req: &http::Request<Bytes>) -> Response<Bytes> {
        let req = WebhookRequest::from_http(req);
        if *req.method != http::Method::POST {
            return method_not_allowed("sms");
        }
        match self.sms_inner(req).await {
            Ok(()) => kit::ok(Some("text/plain; charset=utf-8"), ""),
            Err(e) => error_response("sms", &e),
        }
    }

    async fn sms_inner(&self, req: WebhookRequest<'_>) -> Result<(), TelnyxError> {
        let body = self.verified(req)?;
        match webhook::parse_event(body)? {
            TelnyxEvent::Inbound(sms) => {
                let from = sms.from.masked();
                let outcome = self.handler.handle_sms(sms).await?;
                tracing::info!(from = %from, ?outcome, "Telnyx inbound SMS handled");
            }
            TelnyxEvent::Delivery(d) => {
                tracing::debug!(id = %d.report.message_id, status = %d.status, failure = ?d.failure, "Telnyx delivery event");
                self.handler.handle_delivery(d.report).await?;
            }
            TelnyxEvent::Ignored(event_type) => {
                tracing::debug!(%event_type, "Telnyx event ignored");
            }
        }
        Ok(())
    }

    /// A TeXML call request (`POST /telnyx/voice`): answered with the script as TeXML.
    pub async fn voice(&self, req: &http::Request<Bytes>) -> Response<Bytes> {
        let req = WebhookRequest::from_http(req);
        if *req.method != http::Method::POST {
            return method_not_allowed("voice");
        }
        match self.voice_inner(req).await {
            Ok(xml) => kit::ok(Some(texml::CONTENT_TYPE), xml),
            Err(e) => error_response("voice", &e),
        }
    }

    async fn voice_inner(&self, req: WebhookRequest<'_>) -> Result<String, TelnyxError> {
        let body = self.verified(req)?;
        let call = webhook::parse_call(body)?;
        let script = self.handler.handle_call(call).await?;
        Ok(texml::render(&script, &self.voices))
    }
}

fn method_not_allowed(webhook: &str) -> Response<Bytes> {
    let mut r = kit::reject(
        PROVIDER_NAME,
        webhook,
        Rejection::MethodNotAllowed,
        &"only POST is accepted",
    );
    r.headers_mut()
        .insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
    r
}
