//! A ready [`axum`] router for the four webhooks (feature `axum`, on by default).
//!
//! | Route | Webhook |
//! |---|---|
//! | `GET` / `POST /vonage/answer` | voice answer_url → NCCO |
//! | `GET` / `POST /vonage/event` | voice event_url → `204` |
//! | `GET` / `POST /vonage/sms` | inbound SMS → `204` |
//! | `GET` / `POST /vonage/dlr` | delivery receipts → `204` |
//!
//! Bodies over [`crate::webhook::MAX_BODY`] are refused with `400`. Each SMS route takes only its
//! own kind of webhook (an inbound SMS at `/vonage/dlr`, or a receipt at `/vonage/sms`, is a
//! `400`), and the two voice routes share one replay cache, so a token is accepted once, on one
//! of them (see [`crate::service`]).
//!
//! ```no_run
//! # async fn run(handler: std::sync::Arc<dyn antirelou_core::InboundHandler>) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use antirelou_vonage::{jwt::JwtVerifier, signature::{SignatureMethod, SmsSigner}, VonageWebhooks};
//! let hooks = VonageWebhooks::builder(handler)
//!     .voice_jwt(JwtVerifier::new("signature secret"))
//!     .sms_signer(SmsSigner::new("signature secret", SignatureMethod::Md5Hash))
//!     .build()?;
//! let app = antirelou_vonage::router::router(Arc::new(hooks));
//! # let _ = app; Ok(()) }
//! ```

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;

use crate::error::VonageError;
use crate::service::{VonageWebhooks, error_response};
use crate::webhook::MAX_BODY;

type Hooks = Arc<VonageWebhooks>;

async fn buffered(req: Request) -> Result<http::Request<Bytes>, Response> {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => Ok(http::Request::from_parts(parts, bytes)),
        Err(_) => Err(error_response(&VonageError::BadRequest(
            "body too long or unreadable".into(),
        ))
        .map(Body::from)),
    }
}

async fn answer(State(h): State<Hooks>, req: Request) -> Response {
    match buffered(req).await {
        Ok(req) => h.answer(&req).await.map(Body::from),
        Err(r) => r,
    }
}

async fn event(State(h): State<Hooks>, req: Request) -> Response {
    match buffered(req).await {
        Ok(req) => h.event(&req).await.map(Body::from),
        Err(r) => r,
    }
}

async fn sms(State(h): State<Hooks>, req: Request) -> Response {
    match buffered(req).await {
        Ok(req) => h.sms(&req).await.map(Body::from),
        Err(r) => r,
    }
}

async fn dlr(State(h): State<Hooks>, req: Request) -> Response {
    match buffered(req).await {
        Ok(req) => h.dlr(&req).await.map(Body::from),
        Err(r) => r,
    }
}

/// The four routes under `/vonage/`, ready to be merged into an application.
pub fn router(hooks: Arc<VonageWebhooks>) -> Router {
    Router::new()
        .route("/vonage/answer", get(answer).post(answer))
        .route("/vonage/event", get(event).post(event))
        .route("/vonage/sms", get(sms).post(sms))
        .route("/vonage/dlr", get(dlr).post(dlr))
        .with_state(hooks)
}
