//! A ready [`axum`] router for Twilio's webhooks (feature `axum`, on by default).
//!
//! | Path | Methods | Event | Answer |
//! |---|---|---|---|
//! | `/twilio/voice` | `POST`, `GET` | [`InboundCall`](antirelou_core::event::InboundCall) → [`InboundHandler::handle_call`](antirelou_core::InboundHandler::handle_call) | the rendered TwiML script |
//! | `/twilio/sms` | `POST`, `GET` | [`InboundSms`](antirelou_core::event::InboundSms) → [`InboundHandler::handle_sms`](antirelou_core::InboundHandler::handle_sms) | an empty `<Response/>` |
//! | `/twilio/status` | `POST`, `GET` | [`DeliveryReport`](antirelou_core::event::DeliveryReport) → [`InboundHandler::handle_delivery`](antirelou_core::InboundHandler::handle_delivery) | an empty `<Response/>` |
//!
//! Thin wiring over the framework-free [`TwilioWebhookState`] (see [`crate::service`] for the
//! statuses, the kit's one mapping). [`router_with_paths`] serves the same webhooks at other
//! paths.
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

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::get;

use crate::error::TwilioError;
pub use crate::service::TwilioWebhookState;

/// The voice webhook path.
pub const VOICE_PATH: &str = "/twilio/voice";
/// The SMS webhook path.
pub const SMS_PATH: &str = "/twilio/sms";
/// The status-callback path.
pub const STATUS_PATH: &str = "/twilio/status";

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

/// The request as Twilio sent it: the URI before any nesting, so that the signed URL is right.
fn request(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> http::Request<Bytes> {
    let mut req = http::Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    req
}

async fn voice(
    State(st): St,
    m: Method,
    OriginalUri(u): OriginalUri,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    st.voice(&request(m, u, h, b)).await.map(Body::from)
}

async fn sms(
    State(st): St,
    m: Method,
    OriginalUri(u): OriginalUri,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    st.sms(&request(m, u, h, b)).await.map(Body::from)
}

async fn status(
    State(st): St,
    m: Method,
    OriginalUri(u): OriginalUri,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    st.status(&request(m, u, h, b)).await.map(Body::from)
}
