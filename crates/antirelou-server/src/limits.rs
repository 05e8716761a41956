//! The request body's size and read time, bounded on every route before its handler runs (so
//! before any authentication or signature check): a body declared or found larger than
//! [`MAX_BODY_BYTES`] is answered `413`, one that does not arrive within `[http]
//! body_read_timeout` is answered `408`, and either closes the connection. At most
//! [`MAX_BODY_BYTES`] of a request are ever buffered.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

/// The largest request body, in bytes (the providers' webhooks and the admin calls are a few
/// KiB at most).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Bound every route of `router` (see the module's doc).
pub fn limit_bodies(router: Router, body_read_timeout: Duration) -> Router {
    router.layer(axum::middleware::from_fn_with_state(
        body_read_timeout,
        limit_body,
    ))
}

fn refuse(status: StatusCode, message: &'static str) -> Response {
    let mut r = (status, message).into_response();
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

async fn limit_body(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
    }
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(timeout, Limited::new(body, MAX_BODY_BYTES).collect()).await;
    let bytes = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return refuse(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
        }
        Ok(Err(_)) => return refuse(StatusCode::BAD_REQUEST, "unreadable request body\n"),
        Err(_) => {
            tracing::debug!("request body not received in time");
            return refuse(StatusCode::REQUEST_TIMEOUT, "request body too slow\n");
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
