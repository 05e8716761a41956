//! A ready [`axum`] router for Twilio's webhooks (feature `axum`, on by default).
//!
//! | Path | Methods | Event | Answer |
//! |---|---|---|---|
//! | `/twilio/voice` | `POST`, `GET` | [`InboundCall`](antirelou_core::event::InboundCall) → [`InboundHandler::handle_call`] | the rendered TwiML script |
//! | `/twilio/sms` | `POST`, `GET` | [`InboundSms`](antirelou_core::event::InboundSms) → [`InboundHandler::handle_sms`] | an empty `<Response/>` |
//! | `/twilio/status` | `POST`, `GET` | [`DeliveryReport`](antirelou_core::event::DeliveryReport) → [`InboundHandler::handle_delivery`] | an empty `<Response/>` |
//!
//! Every request is verified first (`403` on a bad signature), then parsed (`400` with a
//! plain-text message on a missing or invalid parameter). When the handler fails, the answer is
//! a `5xx` so that Twilio retries; the handler's idempotency makes that safe, except when it
//! refuses the event because the number is not Twilio's
//! ([`Error::WrongProvider`](antirelou_core::Error::WrongProvider)): `403`. Rejections are
//! logged with `tracing`, numbers masked. [`router_with_paths`] serves the same handlers at
//! other paths.
//!
//! ```no_run
//! # async fn run(handler: std::sync::Arc<dyn antirelou_core::InboundHandler>) -> Result<(), Box<dyn std::error::Error>> {
//! use antirelou_twilio::router::{router, TwilioWebhookState};
//! use antirelou_twilio::signature::SignatureValidator;
//! use antirelou_twilio::twiml::VoiceMap;
//! use antirelou_twilio::webhook::WebhookConfig;
//!
//! let config = WebhookConfig::new("https://antirelou.example.org", SignatureValidator::new("auth-token"))?;
//! let app = router(TwilioWebhookState { handler, config, voices: VoiceMap::default() });
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use antirelou_core::InboundHandler;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::TwilioError;
use crate::twiml::{self, VoiceMap};
use crate::webhook::{WebhookConfig, WebhookRequest};

/// The voice webhook path.
pub const VOICE_PATH: &str = "/twilio/voice";
/// The SMS webhook path.
pub const SMS_PATH: &str = "/twilio/sms";
/// The status-callback path.
pub const STATUS_PATH: &str = "/twilio/status";

/// What the router needs: the engine (or any handler), the webhook verification settings and
/// the voices to render scripts with.
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

/// The router serving [`VOICE_PATH`], [`SMS_PATH`] and [`STATUS_PATH`]. Merge or nest it into the
/// application's router; the signed URL is the public base URL plus the path the request
/// arrived on (as seen before any nesting).
pub fn router(state: TwilioWebhookState) -> Router {
    let state = Arc::new(state);
    Router::new()
        .route(VOICE_PATH, get(voice).post(voice))
        .route(SMS_PATH, get(sms).post(sms))
        .route(STATUS_PATH, get(status).post(status))
        .with_state(state)
}

/// Where the three webhooks are served (the paths configured in the Twilio console).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutePaths {
    /// The voice webhook, [`VOICE_PATH`] by default.
    pub voice: String,
    /// The SMS webhook, [`SMS_PATH`] by default.
    pub sms: String,
    /// The status callback, [`STATUS_PATH`] by default.
    pub status: String,
}

impl Default for RoutePaths {
    fn default() -> Self {
        RoutePaths {
            voice: VOICE_PATH.to_owned(),
            sms: SMS_PATH.to_owned(),
            status: STATUS_PATH.to_owned(),
        }
    }
}

/// Like [`router`], with the webhooks served at `paths`. Each path must start with `/`, hold no
/// route pattern (`{`, `}`, `*`) and differ from the others, or this is a
/// [`TwilioError::Config`].
pub fn router_with_paths(
    state: TwilioWebhookState,
    paths: &RoutePaths,
) -> Result<Router, TwilioError> {
    let all = [&paths.voice, &paths.sms, &paths.status];
    for (i, p) in all.iter().enumerate() {
        if !p.starts_with('/') || p.contains(['{', '}', '*']) {
            return Err(TwilioError::Config(format!(
                "webhook path {p:?} must start with / and hold no route pattern"
            )));
        }
        if all[..i].contains(p) {
            return Err(TwilioError::Config(format!(
                "webhook path {p:?} is used twice"
            )));
        }
    }
    Ok(Router::new()
        .route(&paths.voice, get(voice).post(voice))
        .route(&paths.sms, get(sms).post(sms))
        .route(&paths.status, get(status).post(status))
        .with_state(Arc::new(state)))
}

type St = State<Arc<TwilioWebhookState>>;

fn xml(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(twiml::CONTENT_TYPE),
    );
    r
}

fn reject(kind: &'static str, e: &TwilioError) -> Response {
    let status = e.status_code();
    tracing::warn!(webhook = kind, status = status.as_u16(), error = %e, "Twilio webhook rejected");
    (status, e.to_string()).into_response()
}

fn handler_failed(kind: &'static str, masked_from: &str, e: &antirelou_core::Error) -> Response {
    if let antirelou_core::Error::WrongProvider { .. } = e {
        // Correctly signed, but for a number Twilio does not carry: refused, never retried.
        tracing::warn!(webhook = kind, from = %masked_from, error = %e, "Twilio webhook refused");
        return (StatusCode::FORBIDDEN, e.to_string()).into_response();
    }
    let status = if e.is_transient() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    tracing::error!(webhook = kind, from = %masked_from, error = %e, "handler failed; Twilio will retry");
    (status, "temporary failure, please retry").into_response()
}

async fn voice(
    State(st): St,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = WebhookRequest {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    let call = match st.config.parse_voice(&req) {
        Ok(c) => c,
        Err(e) => return reject("voice", &e),
    };
    let from = call.from.masked();
    match st.handler.handle_call(call).await {
        Ok(script) => {
            tracing::info!(from = %from, reject = script.is_reject(), "answered Twilio call");
            xml(twiml::render(&script, &st.voices))
        }
        Err(e) => handler_failed("voice", &from, &e),
    }
}

async fn sms(
    State(st): St,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = WebhookRequest {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    let sms = match st.config.parse_sms(&req) {
        Ok(s) => s,
        Err(e) => return reject("sms", &e),
    };
    let from = sms.from.masked();
    match st.handler.handle_sms(sms).await {
        Ok(outcome) => {
            tracing::info!(from = %from, outcome = ?outcome, "handled Twilio SMS");
            xml(twiml::empty_response())
        }
        Err(e) => handler_failed("sms", &from, &e),
    }
}

async fn status(
    State(st): St,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = WebhookRequest {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    let report = match st.config.parse_status(&req) {
        Ok(r) => r,
        Err(e) => return reject("status", &e),
    };
    match st.handler.handle_delivery(report).await {
        Ok(()) => xml(twiml::empty_response()),
        Err(e) => handler_failed("status", "-", &e),
    }
}
