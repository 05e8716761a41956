//! The one error type of `antirelou-telnyx`.
//!
//! Webhook errors map to the kit's one outcome table with [`TelnyxError::rejection`]: malformed
//! input is `400`, a missing, wrong, stale or future signature is `403`, a failure of the engine
//! behind the webhook is `5xx` (so that Telnyx retries). Errors on the sending path convert into
//! [`antirelou_core::Error`] and say whether a retry may help.

use std::time::Duration;

use antirelou_core::kit::{ParamsError, Rejection};
use http::StatusCode;

/// Everything that can go wrong in the Telnyx adapter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelnyxError {
    /// The request is malformed: unreadable body, not JSON, wrong content type…
    #[error("bad request: {0}")]
    BadRequest(String),

    /// A required field is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),

    /// A field is present but its value is unusable.
    #[error("invalid field `{field}`: {reason}")]
    InvalidField {
        /// The field's name as Telnyx spells it.
        field: &'static str,
        /// What is wrong with it (never the full value when it is a phone number).
        reason: String,
    },

    /// A signature header is absent.
    #[error("signature required but missing: {0}")]
    MissingSignature(&'static str),

    /// The signature does not verify (forged, wrong key, altered body, unreadable header).
    #[error("invalid signature: {0}")]
    BadSignature(String),

    /// The signature verifies but its timestamp is outside the accepted window (stale or in the
    /// future).
    #[error("signature timestamp outside the accepted window: {0}")]
    StaleSignature(String),

    /// The adapter is configured in a way that cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The network or Telnyx failed in a way that may succeed later (timeouts, connection errors,
    /// HTTP 429/5xx, rate-limit codes, a reply whose outcome is unknown).
    #[error("transient failure: {message}")]
    Transient {
        /// What happened.
        message: String,
        /// When Telnyx asked us to come back, if it did.
        retry_after: Option<Duration>,
    },

    /// The recipient sent STOP to our number (Telnyx code `40300`): never retry, record the
    /// opt-out.
    #[error("recipient opted out (Telnyx code {code}): {message}")]
    OptedOut {
        /// Telnyx's error code.
        code: String,
        /// Telnyx's `title`/`detail`, numbers masked.
        message: String,
    },

    /// Telnyx refused the message because of the recipient (invalid or non-routable number).
    #[error("invalid recipient (Telnyx code {code}): {message}")]
    InvalidRecipient {
        /// Telnyx's error code.
        code: String,
        /// Telnyx's `title`/`detail`, numbers masked.
        message: String,
    },

    /// Telnyx refused the request for good (see the code table in [`crate::codes`]).
    #[error("Telnyx refused the message (code {code}): {message}")]
    Rejected {
        /// Telnyx's error code, or `http-<status>` when the body named none.
        code: String,
        /// Telnyx's `title`/`detail`, numbers masked.
        message: String,
    },

    /// The engine behind the webhook failed.
    #[error("handler failed: {0}")]
    Handler(#[from] antirelou_core::Error),
}

impl TelnyxError {
    /// How a webhook that failed this way is answered, in the kit's one table: bad input is
    /// [`Rejection::Malformed`] (`400`); a missing, wrong, stale or future signature
    /// [`Rejection::Forbidden`] (`403`); a handler error as
    /// [`Rejection::of_handler_error`] says (`403` for a number this provider does not carry,
    /// `503` when transient, `500` otherwise); anything else [`Rejection::Failed`].
    pub fn rejection(&self) -> Rejection {
        match self {
            TelnyxError::BadRequest(_)
            | TelnyxError::MissingField(_)
            | TelnyxError::InvalidField { .. } => Rejection::Malformed,
            TelnyxError::MissingSignature(_)
            | TelnyxError::BadSignature(_)
            | TelnyxError::StaleSignature(_) => Rejection::Forbidden,
            TelnyxError::Handler(e) => Rejection::of_handler_error(e),
            TelnyxError::Transient { .. } => Rejection::RetryLater,
            TelnyxError::Config(_)
            | TelnyxError::OptedOut { .. }
            | TelnyxError::InvalidRecipient { .. }
            | TelnyxError::Rejected { .. } => Rejection::Failed,
        }
    }

    /// The HTTP status of [`TelnyxError::rejection`].
    ///
    /// ```
    /// use antirelou_telnyx::TelnyxError;
    /// assert_eq!(TelnyxError::MissingField("data").status_code(), 400);
    /// assert_eq!(TelnyxError::BadSignature("mismatch".into()).status_code(), 403);
    /// ```
    pub fn status_code(&self) -> StatusCode {
        self.rejection().status()
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            TelnyxError::Transient { .. } => true,
            TelnyxError::Handler(e) => e.is_transient(),
            _ => false,
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        TelnyxError::InvalidField {
            field,
            reason: reason.into(),
        }
    }
}

impl From<ParamsError> for TelnyxError {
    /// Unreadable parameters are a bad request, a missing one a missing field.
    fn from(e: ParamsError) -> Self {
        match e {
            ParamsError::Missing(name) => TelnyxError::MissingField(name),
            other => TelnyxError::BadRequest(other.to_string()),
        }
    }
}

impl From<TelnyxError> for antirelou_core::Error {
    /// The sending-path view: transient errors stay transient (with `Retry-After`), an opt-out
    /// becomes [`antirelou_core::Error::RecipientOptedOut`], recipient errors
    /// [`antirelou_core::Error::InvalidRecipient`], everything else is permanent.
    fn from(e: TelnyxError) -> Self {
        match e {
            TelnyxError::Transient {
                message,
                retry_after,
            } => antirelou_core::Error::Transient {
                message,
                retry_after,
            },
            TelnyxError::OptedOut { .. } => antirelou_core::Error::RecipientOptedOut,
            TelnyxError::InvalidRecipient { code, message } => {
                antirelou_core::Error::InvalidRecipient {
                    message: format!("{message} (Telnyx code {code})"),
                }
            }
            TelnyxError::Rejected { code, message } => antirelou_core::Error::Permanent {
                message,
                code: Some(code),
            },
            TelnyxError::Config(m) => antirelou_core::Error::Config(m),
            TelnyxError::Handler(e) => e,
            other => antirelou_core::Error::Permanent {
                message: other.to_string(),
                code: None,
            },
        }
    }
}
