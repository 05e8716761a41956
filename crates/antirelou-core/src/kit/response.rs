//! The one mapping of webhook outcomes to HTTP statuses, for every adapter.
//!
//! | Outcome | Status | The provider… |
//! |---|---|---|
//! | handled, **including a duplicate delivery** | `200` (or `204`) with the adapter's body | stops |
//! | missing, wrong, stale or replayed signature; a number this provider does not carry ([`Error::WrongProvider`]) | `403` | stops; nothing was handled |
//! | malformed (missing or invalid field, bad body) | `400` | stops; nothing was handled |
//! | a method or content type the webhook does not take | `405` / `415` | stops |
//! | the handler failed transiently, or the adapter is overloaded | `503` | retries (idempotency makes it safe) |
//! | the handler failed otherwise | `500` | retries |
//!
//! Every rejection is logged once here, with its message masked
//! ([`crate::phone::mask_numbers`]); the body of a `5xx` never shows the internal error.

use std::fmt::Display;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::error::Error;

/// Why a webhook was not handled, and so which status answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The request is not proven to come from the provider, or the provider may not speak for
    /// the number: `403`.
    Forbidden,
    /// The request is malformed: `400`.
    Malformed,
    /// The method is not one the webhook takes: `405`.
    MethodNotAllowed,
    /// The content type is not one the webhook takes: `415`.
    UnsupportedMediaType,
    /// Not now (the handler failed transiently, the adapter is full): `503`, the provider retries.
    RetryLater,
    /// The handler failed: `500`, the provider retries.
    Failed,
}

impl Rejection {
    /// The HTTP status of this rejection.
    ///
    /// ```
    /// use antirelou_core::kit::Rejection;
    /// assert_eq!(Rejection::Forbidden.status(), 403);
    /// assert_eq!(Rejection::Malformed.status(), 400);
    /// assert!(Rejection::Failed.status().is_server_error());
    /// ```
    pub fn status(self) -> StatusCode {
        match self {
            Rejection::Forbidden => StatusCode::FORBIDDEN,
            Rejection::Malformed => StatusCode::BAD_REQUEST,
            Rejection::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Rejection::RetryLater => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::Failed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The rejection for an error of the [`InboundHandler`](crate::InboundHandler):
    /// [`Error::WrongProvider`] is [`Forbidden`](Rejection::Forbidden) (the signature proves who
    /// sent the request, not that this provider may speak for the number; retrying cannot
    /// help), a transient error [`RetryLater`](Rejection::RetryLater), anything else
    /// [`Failed`](Rejection::Failed).
    pub fn of_handler_error(e: &Error) -> Self {
        match e {
            Error::WrongProvider { .. } => Rejection::Forbidden,
            e if e.is_transient() => Rejection::RetryLater,
            _ => Rejection::Failed,
        }
    }
}

fn text(status: StatusCode, body: String) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Answer a webhook that was not handled: log it once (`warn` for a `4xx`, `error` for a
/// `5xx`), with `provider` and `webhook` (`"sms"`, `"voice"`…) as fields and the message masked,
/// and answer with the status of `rejection`. A `4xx` body says what was wrong (masked); a
/// `5xx` body only asks for a retry.
pub fn reject(
    provider: &str,
    webhook: &str,
    rejection: Rejection,
    message: &dyn Display,
) -> Response<Bytes> {
    let status = rejection.status();
    let message = crate::phone::mask_numbers(&message.to_string());
    if status.is_server_error() {
        tracing::error!(provider, webhook, status = status.as_u16(), error = %message, "webhook failed; the provider will retry");
        text(status, "temporary failure, please retry\n".to_owned())
    } else {
        tracing::warn!(provider, webhook, status = status.as_u16(), error = %message, "webhook refused");
        text(status, format!("{message}\n"))
    }
}

/// Answer a webhook whose handler failed ([`Rejection::of_handler_error`]).
pub fn handler_failed(provider: &str, webhook: &str, e: &Error) -> Response<Bytes> {
    reject(provider, webhook, Rejection::of_handler_error(e), e)
}

/// Answer a handled webhook (a duplicate delivery too): `200` with `body` as `content_type`,
/// or `204` when `body` is empty and `content_type` is `None`.
pub fn ok(content_type: Option<&'static str>, body: impl Into<Bytes>) -> Response<Bytes> {
    let body = body.into();
    let mut r = Response::new(body);
    match content_type {
        Some(ct) => {
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        None if r.body().is_empty() => *r.status_mut() = StatusCode::NO_CONTENT,
        None => {}
    }
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_status_per_outcome() {
        let wrong = Error::WrongProvider {
            number: "…0000".into(),
            owner: "twilio",
            provider: "vonage",
        };
        assert_eq!(Rejection::of_handler_error(&wrong).status(), 403);
        let busy = Error::storage_transient("busy");
        assert_eq!(Rejection::of_handler_error(&busy).status(), 503);
        let broken = Error::storage_permanent("schema");
        assert_eq!(Rejection::of_handler_error(&broken).status(), 500);
    }

    #[test]
    fn bodies_mask_numbers_and_hide_internal_errors() {
        let r = reject("p", "sms", Rejection::Malformed, &"bad From +33612345678");
        assert_eq!(r.status(), 400);
        assert_eq!(&r.body()[..], "bad From …5678\n".as_bytes());
        let r = handler_failed(
            "p",
            "sms",
            &Error::storage_permanent("db at 10.0.0.1 said no"),
        );
        assert_eq!(r.status(), 500);
        assert!(!String::from_utf8_lossy(r.body()).contains("10.0.0.1"));
        assert_eq!(ok(None, Bytes::new()).status(), 204);
        let r = ok(Some("text/xml"), "<Response/>");
        assert_eq!(
            (
                r.status(),
                r.headers()[header::CONTENT_TYPE].to_str().unwrap()
            ),
            (StatusCode::OK, "text/xml")
        );
    }
}
