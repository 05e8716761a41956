//! Framework-agnostic webhook endpoints over [`http`] types.
//!
//! [`VonageWebhooks`] verifies, parses and hands each webhook to an [`InboundHandler`], and
//! answers with the response Vonage expects. Any web framework can call it with an
//! `http::Request<impl AsRef<[u8]>>` (the `axum` feature wires it into a router, see
//! [`crate::router`]).
//!
//! | Endpoint | Vonage webhook | Answer |
//! |---|---|---|
//! | [`VonageWebhooks::answer`] | voice answer_url (GET query or POST JSON) | `200` + NCCO JSON |
//! | [`VonageWebhooks::event`] | voice event_url (POST JSON or GET) | `204` |
//! | [`VonageWebhooks::sms`] | inbound SMS (GET, POST form, POST JSON) | `204` |
//! | [`VonageWebhooks::dlr`] | delivery receipt (GET, POST form, POST JSON) | `204` |
//!
//! Bad input is `400` with a message, a missing or wrong signature `403`, a failure of the
//! engine `503` (transient) or `500`, so that Vonage retries. Nothing panics on any input.
//!
//! **Signatures are an explicit choice.** Voice webhooks require a valid JWT unless the operator
//! calls [`VonageWebhooksBuilder::require_signed_voice`] with `false`; SMS webhooks require a
//! valid `sig` when [`VonageWebhooksBuilder::sms_signer`] is set, and the builder refuses to
//! build without a signer unless [`VonageWebhooksBuilder::accept_unsigned_sms`] is called
//! (Vonage signs SMS webhooks only once its support has enabled it). A signature that is present
//! is always verified, even where unsigned requests are accepted.
//!
//! # What a voice JWT binds, and what it cannot
//!
//! A voice webhook's token is accepted when its signature, issuer and age verify
//! ([`JwtVerifier`]) **and** its `jti` has not been used before (`403` otherwise). On top of
//! that:
//!
//! * **A body** (POST JSON, Vonage's default for events and an option for answers) is bound
//!   exactly: `payload_hash` must be the SHA-256 of the raw body, or `403`.
//! * **A query string** (GET, Vonage's default for answers, or a POST without a body) is not
//!   part of the signed body. It is bound only when `payload_hash` equals
//!   [`query_payload_hash`](crate::jwt::query_payload_hash) of the parameters (the form Vonage's
//!   support describes for GET webhooks). Otherwise the request is still answered (the token
//!   itself is genuine and fresh, and used once), but its parameters are **not vouched for**: the
//!   caller's number in an unbound `from` is replaced with a not-dialable caller, so the call
//!   gets the lesson at once and the number is **never texted** (`sms_to_callers`) nor counted
//!   per caller. The same holds for a voice request accepted without a token. Use
//!   `answer_method = POST` in the Vonage application to have callers vouched for in every case.
//!   The called number `to` of an uncovered query cannot be made safe that way (the call must
//!   reach a number): a forged `to` can only name a number the engine is configured with (any
//!   other is rejected), and it plays that number's lesson to the genuine caller.
//! * **The route** is not in the token (no audience claim). One replay cache serves
//!   `/vonage/answer` and `/vonage/event`, so a token accepted on one route is refused on the
//!   other, and on its own route a second time. A token intercepted *before* Vonage delivered it
//!   (a broken TLS link) can be used once; a restart forgets the cache, so a token captured just
//!   before a restart can be used once more within its lifetime (two minutes by default). See
//!   [`crate::replay`].
//! * **Freshness**: `iat` at most two minutes old and at most 30 s ahead by default
//!   ([`JwtVerifier::with_max_age`], [`JwtVerifier::with_clock_skew`]), on the injected clock.

use std::fmt;
use std::sync::Arc;

use antirelou_core::kit;
use antirelou_core::{Caller, Clock, Currency, InboundHandler, SmsOutcome, SystemClock};
use bytes::Bytes;
use http::{Response, header};

use crate::error::VonageError;
use crate::jwt::{self, Claims, JwtVerifier};
use crate::ncco::{self, NccoOptions};
use crate::replay::{ReplayCache, ReplayClaim};
use crate::signature::SmsSigner;
use crate::webhook::{self, Nested, Params, SmsWebhookKind, VoiceEvent};

/// The four webhook endpoints, with their verification settings and the engine behind them.
#[derive(Clone)]
pub struct VonageWebhooks {
    handler: Arc<dyn InboundHandler>,
    sms_signer: Option<SmsSigner>,
    accept_unsigned_sms: bool,
    jwt: Option<JwtVerifier>,
    require_signed_voice: bool,
    ncco: NccoOptions,
    clock: Arc<dyn Clock>,
    id_key: Vec<u8>,
    replay: Arc<ReplayCache>,
    billing_currency: Option<Currency>,
}

impl fmt::Debug for VonageWebhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VonageWebhooks")
            .field("sms_signer", &self.sms_signer)
            .field("accept_unsigned_sms", &self.accept_unsigned_sms)
            .field("jwt", &self.jwt)
            .field("require_signed_voice", &self.require_signed_voice)
            .field("ncco", &self.ncco)
            .field("replay", &self.replay)
            .field("billing_currency", &self.billing_currency)
            .finish_non_exhaustive()
    }
}

/// Builds [`VonageWebhooks`]: the settings are checked by [`build`](Self::build).
pub struct VonageWebhooksBuilder {
    hooks: VonageWebhooks,
}

impl fmt::Debug for VonageWebhooksBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("VonageWebhooksBuilder")
            .field(&self.hooks)
            .finish()
    }
}

impl VonageWebhooksBuilder {
    /// Verify SMS webhooks (inbound SMS and delivery receipts) with `signer`: a request without
    /// a valid `sig` and a fresh `timestamp` is refused with `403`.
    pub fn sms_signer(mut self, signer: SmsSigner) -> Self {
        self.hooks.sms_signer = Some(signer);
        self
    }

    /// Accept SMS webhooks without `sig` (when no signer is set, or the signature is absent).
    /// Anyone who knows the URL can then post fake texts: use a secret path.
    pub fn accept_unsigned_sms(mut self, accept: bool) -> Self {
        self.hooks.accept_unsigned_sms = accept;
        self
    }

    /// Verify voice webhooks' JWTs with `verifier`.
    pub fn voice_jwt(mut self, verifier: JwtVerifier) -> Self {
        self.hooks.jwt = Some(verifier);
        self
    }

    /// Whether voice webhooks without a JWT are refused (`true`, the default). With `false`, an
    /// absent JWT is accepted; a present one is still verified.
    pub fn require_signed_voice(mut self, require: bool) -> Self {
        self.hooks.require_signed_voice = require;
        self
    }

    /// Options for NCCO rendering (voice styles…).
    pub fn ncco_options(mut self, options: NccoOptions) -> Self {
        self.hooks.ncco = options;
        self
    }

    /// The clock for signature windows (tests use a manual clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.hooks.clock = clock;
        self
    }

    /// How many live voice-token ids the replay cache holds at most
    /// ([`crate::replay::DEFAULT_CAPACITY`] by default; see [`crate::replay`]).
    pub fn replay_capacity(mut self, capacity: usize) -> Self {
        self.hooks.replay = Arc::new(ReplayCache::new(capacity));
        self
    }

    /// The key of the shared message id of multipart SMS (see [`crate::webhook`]). Use a stable
    /// secret (the operator's privacy secret, for instance): changing it between two parts of a
    /// message would make two lessons.
    pub fn id_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.hooks.id_key = key.as_ref().to_vec();
        self
    }

    /// The currency the account is billed in: delivery receipts' prices are in it (Vonage
    /// names none). Without it, receipts carry no price and the engine keeps its estimate.
    pub fn billing_currency(mut self, currency: Currency) -> Self {
        self.hooks.billing_currency = Some(currency);
        self
    }

    /// Check the choices and build.
    pub fn build(self) -> Result<VonageWebhooks, VonageError> {
        let h = &self.hooks;
        if h.sms_signer.is_none() && !h.accept_unsigned_sms {
            return Err(VonageError::Config(
                "SMS webhooks: set a signer (sms_signer) or explicitly accept unsigned SMS webhooks".into(),
            ));
        }
        if h.jwt.is_none() && h.require_signed_voice {
            return Err(VonageError::Config(
                "voice webhooks require a JWT by default: set voice_jwt, or require_signed_voice(false)".into(),
            ));
        }
        Ok(self.hooks)
    }
}

fn no_content() -> Response<Bytes> {
    kit::ok(None, Bytes::new())
}

/// The response for an error: the adapter kit's status for it ([`VonageError::rejection`]) and
/// its message, masked; logged once.
pub fn error_response(e: &VonageError) -> Response<Bytes> {
    kit::reject("vonage", "webhook", e.rejection(), e)
}

impl VonageWebhooks {
    /// Start building with the engine (or any [`InboundHandler`]).
    pub fn builder(handler: Arc<dyn InboundHandler>) -> VonageWebhooksBuilder {
        VonageWebhooksBuilder {
            hooks: VonageWebhooks {
                handler,
                sms_signer: None,
                accept_unsigned_sms: false,
                jwt: None,
                require_signed_voice: true,
                ncco: NccoOptions::default(),
                clock: Arc::new(SystemClock),
                id_key: Vec::new(),
                replay: Arc::new(ReplayCache::default()),
                billing_currency: None,
            },
        }
    }

    /// Verify the JWT of a voice webhook and claim its `jti` in the replay cache (see the module
    /// docs). The claim is released if the returned [`VoiceAuth`] is dropped before
    /// [`VoiceAuth::keep`].
    pub fn verify_voice<B: AsRef<[u8]>>(
        &self,
        req: &http::Request<B>,
    ) -> Result<VoiceAuth<'_>, VonageError> {
        let auth = match req.headers().get(header::AUTHORIZATION) {
            Some(v) => Some(v.to_str().map_err(|_| {
                VonageError::BadSignature("Authorization header is not ASCII".into())
            })?),
            None => None,
        };
        match (auth, &self.jwt) {
            (Some(a), Some(verifier)) => {
                let now = self.clock.now();
                let body = req.body().as_ref();
                let claims = verifier.verify_header(a, body, now)?;
                let iat = claims.iat.unwrap_or_default();
                let jti = claims
                    .jti
                    .as_deref()
                    .ok_or_else(|| VonageError::BadSignature("JWT without `jti`".into()))?;
                let claim = self
                    .replay
                    .claim(jti, verifier.valid_until(iat), now.as_secs())?;
                Ok(VoiceAuth {
                    body_signed: Params::reads_body(req.method(), body),
                    claims: Some(claims),
                    claim: Some(claim),
                })
            }
            // Unsigned requests are accepted and there is no secret to check a token with.
            (Some(_), None) => Ok(VoiceAuth::unsigned()),
            (None, _) if self.require_signed_voice => Err(VonageError::MissingSignature(
                "no Authorization: Bearer JWT",
            )),
            (None, _) => Ok(VoiceAuth::unsigned()),
        }
    }

    /// Verify the `sig` of an SMS webhook's parameters.
    pub fn verify_sms(&self, params: &Params) -> Result<(), VonageError> {
        match (&self.sms_signer, params.get("sig").is_some()) {
            (Some(_), false) if self.accept_unsigned_sms => Ok(()),
            (Some(signer), _) => signer.verify(params.iter(), self.clock.now()),
            // No secret to check with; unsigned webhooks were explicitly accepted.
            (None, _) => Ok(()),
        }
    }

    async fn answer_inner<B: AsRef<[u8]>>(
        &self,
        req: &http::Request<B>,
    ) -> Result<Response<Bytes>, VonageError> {
        let auth = self.verify_voice(req)?;
        let params = Params::from_request(req, Nested::Skip)?;
        let mut call = webhook::parse_answer(&params)?;
        if !auth.vouches_for(&params)
            && let Caller::Number(n) = &call.from
        {
            tracing::info!(from = %n.masked(),
                "caller number not covered by the signature: the lesson is played, nothing is ever texted to it");
            call.from = Caller::NotDialable(n.masked());
        }
        tracing::info!(from = %call.from.masked(), to = %call.to.masked(), "Vonage call");
        let script = self.handler.handle_call(call).await?;
        auth.keep();
        Ok(kit::ok(
            Some("application/json"),
            ncco::render_bytes(&script, &self.ncco),
        ))
    }

    /// The voice answer webhook: `200` with the NCCO of the engine's script.
    pub async fn answer<B: AsRef<[u8]>>(&self, req: &http::Request<B>) -> Response<Bytes> {
        self.answer_inner(req)
            .await
            .unwrap_or_else(|e| error_response(&e))
    }

    /// Verify and parse a voice event webhook.
    pub fn parse_event<B: AsRef<[u8]>>(
        &self,
        req: &http::Request<B>,
    ) -> Result<VoiceEvent, VonageError> {
        let auth = self.verify_voice(req)?;
        let params = Params::from_request(req, Nested::Skip)?;
        let event = webhook::parse_event(&params);
        auth.keep();
        Ok(event)
    }

    /// The voice event webhook: `204` once verified and parsed (events are logged).
    pub async fn event<B: AsRef<[u8]>>(&self, req: &http::Request<B>) -> Response<Bytes> {
        match self.parse_event(req) {
            Ok(ev) => {
                tracing::debug!(status = ?ev.status, uuid = ?ev.uuid, "Vonage voice event");
                no_content()
            }
            Err(e) => error_response(&e),
        }
    }

    async fn sms_inner<B: AsRef<[u8]>>(
        &self,
        req: &http::Request<B>,
    ) -> Result<SmsOutcome, VonageError> {
        let params = Params::from_request(req, Nested::Reject)?;
        self.verify_sms(&params)?;
        SmsWebhookKind::InboundSms.check(&params)?;
        let parsed = webhook::parse_inbound_sms(&params, &self.id_key)?;
        tracing::info!(
            from = %parsed.sms.from.masked(),
            to = %parsed.sms.to.masked(),
            part = ?parsed.concat.as_ref().map(|c| (c.part, c.total)),
            "Vonage SMS"
        );
        Ok(self.handler.handle_sms(parsed.sms).await?)
    }

    /// The inbound SMS webhook: `204` once the engine has durably handled the text.
    pub async fn sms<B: AsRef<[u8]>>(&self, req: &http::Request<B>) -> Response<Bytes> {
        match self.sms_inner(req).await {
            Ok(outcome) => {
                tracing::debug!(?outcome, "SMS handled");
                no_content()
            }
            Err(e) => error_response(&e),
        }
    }

    async fn dlr_inner<B: AsRef<[u8]>>(&self, req: &http::Request<B>) -> Result<(), VonageError> {
        let params = Params::from_request(req, Nested::Reject)?;
        self.verify_sms(&params)?;
        SmsWebhookKind::DeliveryReceipt.check(&params)?;
        let parsed = webhook::parse_delivery_receipt(&params, self.billing_currency)?;
        Ok(self.handler.handle_delivery(parsed.report).await?)
    }

    /// The delivery receipt webhook: `204` once the engine has recorded the report.
    pub async fn dlr<B: AsRef<[u8]>>(&self, req: &http::Request<B>) -> Response<Bytes> {
        match self.dlr_inner(req).await {
            Ok(()) => no_content(),
            Err(e) => error_response(&e),
        }
    }
}

/// A voice webhook's verification: its claims, whether its parameters are vouched for, and its
/// claim in the replay cache (released when dropped, unless [kept](VoiceAuth::keep)).
#[derive(Debug)]
pub struct VoiceAuth<'a> {
    claims: Option<Claims>,
    body_signed: bool,
    claim: Option<ReplayClaim<'a>>,
}

impl VoiceAuth<'_> {
    fn unsigned() -> Self {
        VoiceAuth {
            claims: None,
            body_signed: false,
            claim: None,
        }
    }

    /// The verified claims, if the request carried a verified token.
    pub fn claims(&self) -> Option<&Claims> {
        self.claims.as_ref()
    }

    /// Whether the provider vouches for `params`: they were read from a body whose hash the
    /// token carries, or from a query string whose [`jwt::query_payload_hash`] it carries.
    pub fn vouches_for(&self, params: &Params) -> bool {
        match &self.claims {
            None => false,
            Some(_) if self.body_signed => true,
            Some(c) => jwt::covers_query(c, params.iter()),
        }
    }

    /// The webhook was answered with success: its token stays used until it expires.
    pub fn keep(mut self) {
        if let Some(c) = self.claim.take() {
            c.keep();
        }
    }
}
