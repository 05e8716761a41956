//! HTTP and transport failures of a provider's API as the core's errors, so that every adapter
//! classifies them alike (the [`SmsTransport`](crate::SmsTransport) contract):
//!
//! | Failure | Core error |
//! |---|---|
//! | timeout, connection refused or reset, TLS failure, body cut short | [`Error::Transient`] (the request may or may not have arrived: a rare duplicate beats a lost lesson) |
//! | HTTP 408, 425, 429 and every 5xx | [`Error::Transient`] with the response's `Retry-After` |
//! | a 2xx without a message id | [`Error::Transient`] ([`accepted_without_id`]): the outcome is unknown |
//! | any other status | the adapter's own reading of the provider's error codes |
//!
//! Messages are masked ([`crate::phone::mask_numbers`]) and never carry the request URL (which
//! may hold credentials on some providers).

use std::time::Duration;

use http::StatusCode;

use crate::error::Error;
use crate::kit::client::Unfinished;
use crate::phone::mask_numbers;

/// The transient error of a status that says "try again later" (408, 425, 429, 5xx), or `None`
/// for any other status (the adapter reads the provider's error code then). `detail` is the
/// provider's message, masked here.
///
/// ```
/// use std::time::Duration;
/// use antirelou_core::kit::classify_status;
/// let e = classify_status("acme", http::StatusCode::TOO_MANY_REQUESTS, Some(Duration::from_secs(3)), "slow down").unwrap();
/// assert!(e.is_transient());
/// assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
/// assert!(classify_status("acme", http::StatusCode::BAD_REQUEST, None, "").is_none());
/// ```
pub fn classify_status(
    provider: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
    detail: &str,
) -> Option<Error> {
    let again = matches!(status.as_u16(), 408 | 425 | 429) || status.is_server_error();
    again.then(|| Error::Transient {
        message: format!(
            "{provider} HTTP {}{}",
            status.as_u16(),
            if detail.is_empty() {
                String::new()
            } else {
                format!(": {}", mask_numbers(detail))
            }
        ),
        retry_after,
    })
}

/// The transient error of a request that did not complete (timeout, connection error, TLS,
/// body cut short): [`Unfinished`] as the core's error. The message names the kind of failure
/// and its causes, never the URL.
pub fn transport_error(provider: &str, e: &reqwest::Error) -> Error {
    Unfinished::new(provider, e).into()
}

/// The error of a `2xx` answer that carries no message id. The provider may have accepted the
/// message, but without an id it can be neither matched to its delivery reports nor recorded:
/// the outcome is unknown, so this is [`Error::Transient`]. The next attempt asks
/// [`SmsTransport::find_accepted`](crate::SmsTransport::find_accepted) first, where the provider can
/// answer it, and otherwise sends again (a rare duplicate rather than a lost lesson).
pub fn accepted_without_id(provider: &str) -> Error {
    Error::Transient {
        message: format!("{provider} answered 2xx without a message id: outcome unknown"),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        for s in [408u16, 425, 429, 500, 502, 503, 504, 599] {
            let s = StatusCode::from_u16(s).unwrap_or(StatusCode::OK);
            assert!(
                classify_status("p", s, None, "").is_some_and(|e| e.is_transient()),
                "{s}"
            );
        }
        for s in [400u16, 401, 403, 404, 409, 422] {
            let s = StatusCode::from_u16(s).unwrap_or(StatusCode::OK);
            assert!(classify_status("p", s, None, "").is_none(), "{s}");
        }
        let e = classify_status("p", StatusCode::BAD_GATEWAY, None, "for +33612345678");
        assert_eq!(
            e.map(|e| e.to_string()).unwrap_or_default(),
            "transient send failure: p HTTP 502: for …5678"
        );
        assert!(accepted_without_id("p").is_transient());
    }
}
