//! The one error type of `antirelou-twilio`.
//!
//! Webhook errors carry the HTTP status the adapter answers with ([`TwilioError::status_code`]):
//! a bad signature is a `403`, a missing or invalid parameter a `400`. Sending errors convert into
//! [`antirelou_core::Error`] with the transient/permanent split the dispatcher needs; the mapping
//! of Twilio's error codes is documented on [`TwilioError::to_core_error`].

use std::time::Duration;

use antirelou_core::kit::{self, Rejection};
use http::StatusCode;

/// Everything that can go wrong in the Twilio adapter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TwilioError {
    /// The `X-Twilio-Signature` header is missing or does not match: the request did not come
    /// from Twilio (or the configured public URL or auth token is wrong). Answered with `403`.
    #[error("invalid Twilio signature: {reason}")]
    BadSignature {
        /// Why the request was refused (never includes a secret).
        reason: &'static str,
    },

    /// A parameter the event needs is absent. Answered with `400`.
    #[error("missing required parameter {name}")]
    MissingParameter {
        /// The Twilio parameter name, e.g. `From`.
        name: &'static str,
    },

    /// A parameter is present but unusable (an invalid `To` number, an empty `MessageSid`…).
    /// Answered with `400`.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// The Twilio parameter name.
        name: &'static str,
        /// What is wrong with it (never the full phone number).
        reason: String,
    },

    /// The webhook used a method other than `GET` or `POST`. Answered with `405`.
    #[error("method {method} is not allowed for a Twilio webhook")]
    MethodNotAllowed {
        /// The method received.
        method: String,
    },

    /// The body is not a form (for instance a JSON body, whose signature may be valid but which
    /// carries no voice or SMS parameters). Answered with `415`.
    #[error(
        "unsupported content type {content_type:?}: expected application/x-www-form-urlencoded"
    )]
    UnsupportedMediaType {
        /// The `Content-Type` received.
        content_type: String,
    },

    /// The adapter is configured in a way that cannot work.
    #[error("invalid Twilio configuration: {0}")]
    Config(String),

    /// Twilio's REST API answered with an error status.
    #[error("Twilio API error (HTTP {http_status}{}): {message}", code.map(|c| format!(", code {c}")).unwrap_or_default())]
    Api {
        /// The HTTP status of the response.
        http_status: u16,
        /// Twilio's error code from the JSON body (`21610`…), when the body had one.
        code: Option<u32>,
        /// Twilio's message, with phone numbers masked.
        message: String,
        /// The `Retry-After` delay, when the response had one.
        retry_after: Option<Duration>,
    },

    /// Twilio answered `2xx` without a message `sid`: the outcome is unknown, a transient error
    /// (see the core's `SmsTransport` contract).
    #[error("Twilio answered 2xx without a message sid")]
    AcceptedWithoutId,

    /// The request did not complete: connection refused, TLS failure, timeout, body cut short.
    /// Whether Twilio received it is unknown.
    #[error("transport error talking to Twilio{}: {message}", if *timeout { " (timeout)" } else { "" })]
    Transport {
        /// What happened.
        message: String,
        /// Whether it was a timeout.
        timeout: bool,
    },
}

impl TwilioError {
    /// The HTTP status a webhook endpoint answers with for this error.
    ///
    /// ```
    /// use antirelou_twilio::TwilioError;
    /// use http::StatusCode;
    /// assert_eq!(TwilioError::BadSignature { reason: "mismatch" }.status_code(), StatusCode::FORBIDDEN);
    /// assert_eq!(TwilioError::MissingParameter { name: "From" }.status_code(), StatusCode::BAD_REQUEST);
    /// ```
    pub fn status_code(&self) -> StatusCode {
        self.rejection().status()
    }

    /// How a webhook endpoint answers this error, in the kit's one mapping: a bad signature is
    /// [`Rejection::Forbidden`], a missing or invalid parameter [`Rejection::Malformed`].
    pub fn rejection(&self) -> Rejection {
        match self {
            TwilioError::BadSignature { .. } => Rejection::Forbidden,
            TwilioError::MissingParameter { .. } | TwilioError::InvalidParameter { .. } => {
                Rejection::Malformed
            }
            TwilioError::MethodNotAllowed { .. } => Rejection::MethodNotAllowed,
            TwilioError::UnsupportedMediaType { .. } => Rejection::UnsupportedMediaType,
            _ => Rejection::Failed,
        }
    }

    /// Whether retrying the same request later may succeed (only meaningful on the sending path).
    pub fn is_transient(&self) -> bool {
        self.to_core_error().is_transient()
    }

    /// The core error for this error (also the [`From`] conversion). The sending-path mapping:
    ///
    /// | Twilio | core error |
    /// |---|---|
    /// | code 21610 | [`RecipientOptedOut`](antirelou_core::Error::RecipientOptedOut) |
    /// | codes 21211, 21614, 21635 | [`InvalidRecipient`](antirelou_core::Error::InvalidRecipient) |
    /// | code 20429, and HTTP 408, 425, 429, 5xx ([`kit::classify_status`]) | [`Transient`](antirelou_core::Error::Transient) with `Retry-After` |
    /// | a `2xx` without a `sid` | [`Transient`](antirelou_core::Error::Transient): outcome unknown |
    /// | code 21408 and every other code or 4xx | [`Permanent`](antirelou_core::Error::Permanent) with the code |
    /// | transport errors and timeouts | [`Transient`](antirelou_core::Error::Transient) |
    /// | webhook and configuration errors | [`Permanent`](antirelou_core::Error::Permanent) / [`Config`](antirelou_core::Error::Config) |
    pub fn to_core_error(&self) -> antirelou_core::Error {
        use antirelou_core::Error as E;
        match self {
            TwilioError::Api {
                http_status,
                code,
                message,
                retry_after,
            } => {
                let (http_status, retry_after) = (*http_status, *retry_after);
                match *code {
                    Some(CODE_OPTED_OUT) => E::RecipientOptedOut,
                    Some(c) if CODES_INVALID_RECIPIENT.contains(&c) => E::InvalidRecipient {
                        message: format!("Twilio {c}: {message}"),
                    },
                    Some(CODE_TOO_MANY_REQUESTS) => E::Transient {
                        message: format!("Twilio 20429 (HTTP {http_status}): {message}"),
                        retry_after,
                    },
                    c => match StatusCode::from_u16(http_status)
                        .ok()
                        .and_then(|s| kit::classify_status("Twilio", s, retry_after, message))
                    {
                        Some(transient) => transient,
                        None => E::Permanent {
                            message: format!("Twilio HTTP {http_status}: {message}"),
                            code: c.map(|c| c.to_string()),
                        },
                    },
                }
            }
            TwilioError::Transport { message, timeout } => E::Transient {
                message: if *timeout {
                    format!("timeout: {message}")
                } else {
                    message.clone()
                },
                retry_after: None,
            },
            TwilioError::Config(m) => E::Config(m.clone()),
            TwilioError::AcceptedWithoutId => kit::accepted_without_id("Twilio"),
            other => E::Permanent {
                message: other.to_string(),
                code: None,
            },
        }
    }
}

/// Twilio error code: the recipient replied STOP.
pub const CODE_OPTED_OUT: u32 = 21610;
/// Twilio error codes meaning the recipient cannot receive this SMS: invalid `To` (21211), not a
/// mobile number (21614), a landline (21635).
pub const CODES_INVALID_RECIPIENT: [u32; 3] = [21211, 21614, 21635];
/// Twilio error code: Geo Permissions disable the destination country.
pub const CODE_GEO_PERMISSION: u32 = 21408;
/// Twilio error code: too many concurrent requests, never processed, always safe to retry.
pub const CODE_TOO_MANY_REQUESTS: u32 = 20429;

impl From<TwilioError> for antirelou_core::Error {
    /// See [`TwilioError::to_core_error`] for the mapping.
    fn from(e: TwilioError) -> Self {
        e.to_core_error()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use antirelou_core::Error as E;

    fn api(status: u16, code: Option<u32>) -> TwilioError {
        TwilioError::Api {
            http_status: status,
            code,
            message: "m".into(),
            retry_after: Some(Duration::from_secs(7)),
        }
    }

    #[test]
    fn mapping_table() {
        assert!(matches!(
            E::from(api(400, Some(21610))),
            E::RecipientOptedOut
        ));
        for c in [21211, 21614, 21635] {
            assert!(
                matches!(E::from(api(400, Some(c))), E::InvalidRecipient { .. }),
                "{c}"
            );
        }
        match E::from(api(400, Some(21408))) {
            E::Permanent { code, .. } => assert_eq!(code.as_deref(), Some("21408")),
            other => panic!("{other:?}"),
        }
        for (s, c) in [
            (429, Some(20429)),
            (429, None),
            (500, None),
            (503, Some(20500)),
            (408, None),
        ] {
            let e = E::from(api(s, c));
            assert!(e.is_transient(), "{s} {c:?}");
            assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        }
        match E::from(api(400, Some(99999))) {
            E::Permanent { code, .. } => assert_eq!(code.as_deref(), Some("99999")),
            other => panic!("{other:?}"),
        }
        assert!(E::from(api(401, None)).is_permanent());
        let t = E::from(TwilioError::Transport {
            message: "x".into(),
            timeout: true,
        });
        assert!(t.is_transient());
        assert!(api(503, None).is_transient());
        assert!(!api(400, Some(21610)).is_transient());
    }
}
