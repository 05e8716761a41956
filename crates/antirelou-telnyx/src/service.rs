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
//! A missing, wrong, stale or future signature is `403` and nothing reaches the handler;
//! malformed input is `400`; a method other than POST is `405`; a failure of the handler is
//! `503` when transient and `500` otherwise, so that Telnyx retries (the engine's idempotency on
//! message ids makes the retry safe). Error bodies never carry a phone number.

use std::fmt;
use std::sync::Arc;

use antirelou_core::{Clock, InboundHandler};
use bytes::Bytes;
use http::{Response, StatusCode, header};

use crate::config::TelnyxConfig;
use crate::error::TelnyxError;
use crate::signature::WebhookVerifier;
use crate::texml::{self, VoiceTable};
use crate::webhook::{self, TelnyxEvent};

/// The two webhook endpoints, with the verifier and the engine behind them.
#[derive(Clone)]
pub struct TelnyxWebhooks {
    handler: Arc<dyn InboundHandler>,
    verifier: WebhookVerifier,
    voices: VoiceTable,
    ledger_currency: Option<String>,
}

impl fmt::Debug for TelnyxWebhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelnyxWebhooks")
            .field("verifier", &self.verifier)
            .field("voices", &self.voices)
            .field("ledger_currency", &self.ledger_currency)
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

    /// Report delivery costs billed in `currency` as prices (costs in any other currency are
    /// never reported as prices).
    pub fn ledger_currency(mut self, currency: &str) -> Self {
        self.hooks.ledger_currency = Some(currency.trim().to_ascii_uppercase());
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

fn text_response(status: StatusCode, body: String) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The response for an error: its status, and a text that is safe to show (handler failures
/// are not described: their texts may name numbers).
pub fn error_response(e: &TelnyxError) -> Response<Bytes> {
    let status = e.status_code();
    let body = match e {
        TelnyxError::Handler(_) => status
            .canonical_reason()
            .unwrap_or("handler failed")
            .to_owned(),
        other => other.to_string(),
    };
    if status.is_server_error() {
        tracing::warn!(error = %e, "Telnyx webhook failed; Telnyx will retry");
    } else {
        tracing::info!(status = status.as_u16(), error = %body, "Telnyx webhook refused");
    }
    text_response(status, body)
}

fn ok_empty() -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::OK;
    r
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
                voices: VoiceTable::default(),
                ledger_currency: None,
            },
        }
    }

    /// Endpoints for `config` (its public key and ledger currency).
    pub fn from_config(
        handler: Arc<dyn InboundHandler>,
        config: &TelnyxConfig,
    ) -> TelnyxWebhooksBuilder {
        let mut b = Self::builder(handler, WebhookVerifier::new(config.public_key));
        b.hooks.ledger_currency = config.ledger_currency.clone();
        b
    }

    fn verified<'r>(&self, req: &'r http::Request<Bytes>) -> Result<&'r [u8], TelnyxError> {
        if req.method() != http::Method::POST {
            return Err(TelnyxError::BadRequest("only POST is accepted".into()));
        }
        let body = req.body().as_ref();
        if body.len() > webhook::MAX_BODY {
            return Err(TelnyxError::BadRequest("body too long".into()));
        }
        self.verifier.verify(req.headers(), body)?;
        Ok(body)
    }

    /// A messaging event (`POST /telnyx/sms`).
    pub async fn sms(&self, req: &http::Request<Bytes>) -> Response<Bytes> {
        if req.method() != http::Method::POST {
            return method_not_allowed();
        }
        match self.sms_inner(req).await {
            Ok(()) => ok_empty(),
            Err(e) => error_response(&e),
        }
    }

    async fn sms_inner(&self, req: &http::Request<Bytes>) -> Result<(), TelnyxError> {
        let body = self.verified(req)?;
        match webhook::parse_event(body, self.ledger_currency.as_deref())? {
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
        if req.method() != http::Method::POST {
            return method_not_allowed();
        }
        match self.voice_inner(req).await {
            Ok(xml) => {
                let mut r = Response::new(Bytes::from(xml));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    http::HeaderValue::from_static(texml::CONTENT_TYPE),
                );
                r
            }
            Err(e) => error_response(&e),
        }
    }

    async fn voice_inner(&self, req: &http::Request<Bytes>) -> Result<String, TelnyxError> {
        let body = self.verified(req)?;
        let call = webhook::parse_call(body)?;
        let script = self.handler.handle_call(call).await?;
        Ok(texml::render(&script, &self.voices))
    }
}

fn method_not_allowed() -> Response<Bytes> {
    let mut r = text_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "only POST is accepted".into(),
    );
    r.headers_mut()
        .insert(header::ALLOW, http::HeaderValue::from_static("POST"));
    r
}
