//! A ready [`axum`] router for the two webhooks (feature `axum`, on by default).
//!
//! | Route | Webhook |
//! |---|---|
//! | `POST /telnyx/sms` | messaging events (JSON) → `200` |
//! | `POST /telnyx/voice` | TeXML voice URL (form) → TeXML |
//!
//! Bodies over [`crate::webhook::MAX_BODY`] are refused with `400`. The router is thin wiring
//! over [`TelnyxWebhooks`], which any other framework can call with an `http::Request<Bytes>`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use bytes::Bytes;

use crate::error::TelnyxError;
use crate::service::{TelnyxWebhooks, error_response};
use crate::webhook::MAX_BODY;

type Hooks = Arc<TelnyxWebhooks>;

async fn buffered(req: Request) -> Result<http::Request<Bytes>, Response> {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => Ok(http::Request::from_parts(parts, bytes)),
        Err(_) => Err(error_response(
            "body",
            &TelnyxError::BadRequest("body too long or unreadable".into()),
        )
        .map(Body::from)),
    }
}

async fn sms(State(h): State<Hooks>, req: Request) -> Response {
    match buffered(req).await {
        Ok(req) => h.sms(&req).await.map(Body::from),
        Err(r) => r,
    }
}

async fn voice(State(h): State<Hooks>, req: Request) -> Response {
    match buffered(req).await {
        Ok(req) => h.voice(&req).await.map(Body::from),
        Err(r) => r,
    }
}

/// `POST /telnyx/sms` and `POST /telnyx/voice`, ready to be merged into an application.
pub fn router(hooks: Arc<TelnyxWebhooks>) -> Router {
    Router::new()
        .route("/telnyx/sms", post(sms))
        .route("/telnyx/voice", post(voice))
        .with_state(hooks)
}
