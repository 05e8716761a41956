//! The one error type of `antirelou-vonage`.
//!
//! Webhook errors map to an HTTP status with [`VonageError::status_code`]: malformed input is
//! `400 Bad Request`, a missing or wrong signature is `403 Forbidden`, a failure of the engine
//! behind the webhook is `5xx` (so that Vonage retries). Errors on the sending path convert into
//! [`antirelou_core::Error`] and say whether a retry may help.

use std::time::Duration;

use antirelou_core::kit::{ParamsError, Rejection};
use http::StatusCode;

/// Everything that can go wrong in the Vonage adapter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VonageError {
    /// The request is malformed: unreadable body, wrong content type, duplicate parameters,
    /// nested JSON where flat values are expected…
    #[error("bad request: {0}")]
    BadRequest(String),

    /// A required field is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),

    /// A field is present but its value is unusable.
    #[error("invalid field `{field}`: {reason}")]
    InvalidField {
        /// The field's name as Vonage spells it.
        field: &'static str,
        /// What is wrong with it (never the full value when it is a phone number).
        reason: String,
    },

    /// The request carries no signature although one is required.
    #[error("signature required but missing: {0}")]
    MissingSignature(&'static str),

    /// The signature does not verify.
    #[error("invalid signature: {0}")]
    BadSignature(String),

    /// The signed timestamp (SMS `timestamp`, JWT `iat`/`exp`) is outside the accepted window.
    #[error("signature timestamp outside the accepted window: {0}")]
    StaleSignature(String),

    /// The signed token was already used (its `jti` is in the replay cache): a replay, or a
    /// token taken from another route.
    #[error("replayed signature: {0}")]
    Replayed(String),

    /// The webhook cannot be verified now for lack of room (the replay cache is full of live
    /// tokens); Vonage retries.
    #[error("overloaded: {0}")]
    Overloaded(String),

    /// The adapter is configured in a way that cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The network or Vonage failed in a way that may succeed later (timeouts, connection
    /// errors, HTTP 429/5xx, throttling).
    #[error("transient failure: {message}")]
    Transient {
        /// What happened.
        message: String,
        /// When Vonage asked us to come back, if it did.
        retry_after: Option<Duration>,
    },

    /// Vonage refused the request for good (see the status table in [`crate::client`]).
    #[error("Vonage refused the message (status {code}): {message}")]
    Rejected {
        /// Vonage's status code, e.g. `"4"`, or `"http-401"` for an HTTP-level refusal.
        code: String,
        /// Vonage's `error-text`, or a description.
        message: String,
    },

    /// Vonage refused the message because of the recipient (invalid, barred, deactivated).
    #[error("invalid recipient (status {code}): {message}")]
    InvalidRecipient {
        /// Vonage's status code (`6`, `7`, `33`).
        code: String,
        /// Vonage's `error-text`.
        message: String,
    },

    /// The engine behind the webhook failed.
    #[error("handler failed: {0}")]
    Handler(#[from] antirelou_core::Error),
}

impl VonageError {
    /// The HTTP status a webhook answers with for this error: `400` for bad input, `403` for a
    /// missing, wrong, stale or replayed signature or a number Vonage does not carry, `503` when
    /// the engine failed transiently or the replay cache is full (Vonage retries) and `500`
    /// otherwise.
    ///
    /// ```
    /// use antirelou_vonage::VonageError;
    /// assert_eq!(VonageError::MissingField("msisdn").status_code(), 400);
    /// assert_eq!(VonageError::BadSignature("mismatch".into()).status_code(), 403);
    /// ```
    pub fn status_code(&self) -> StatusCode {
        self.rejection().status()
    }

    /// This error in the adapter kit's one mapping of webhook outcomes (see
    /// [`status_code`](Self::status_code)); a handler error maps as
    /// [`Rejection::of_handler_error`] says.
    pub fn rejection(&self) -> Rejection {
        match self {
            VonageError::BadRequest(_)
            | VonageError::MissingField(_)
            | VonageError::InvalidField { .. } => Rejection::Malformed,
            VonageError::MissingSignature(_)
            | VonageError::BadSignature(_)
            | VonageError::StaleSignature(_)
            | VonageError::Replayed(_) => Rejection::Forbidden,
            VonageError::Overloaded(_) | VonageError::Transient { .. } => Rejection::RetryLater,
            VonageError::Handler(e) => Rejection::of_handler_error(e),
            _ => Rejection::Failed,
        }
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            VonageError::Transient { .. } | VonageError::Overloaded(_) => true,
            VonageError::Handler(e) => e.is_transient(),
            _ => false,
        }
    }

    /// A kit error on the sending path (transport, status, a 2xx without id) as this crate's.
    pub(crate) fn from_core(e: antirelou_core::Error) -> Self {
        match e {
            antirelou_core::Error::Transient {
                message,
                retry_after,
            } => VonageError::Transient {
                message,
                retry_after,
            },
            other => VonageError::Handler(other),
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        VonageError::InvalidField {
            field,
            reason: reason.into(),
        }
    }
}

impl From<ParamsError> for VonageError {
    /// Unreadable parameters are a bad request, a missing one a missing field.
    fn from(e: ParamsError) -> Self {
        match e {
            ParamsError::Missing(name) => VonageError::MissingField(name),
            other => VonageError::BadRequest(other.to_string()),
        }
    }
}

impl From<VonageError> for antirelou_core::Error {
    /// The sending-path view: transient errors stay transient, recipient errors become
    /// [`antirelou_core::Error::InvalidRecipient`], everything else is permanent.
    fn from(e: VonageError) -> Self {
        match e {
            VonageError::Transient {
                message,
                retry_after,
            } => antirelou_core::Error::Transient {
                message,
                retry_after,
            },
            VonageError::InvalidRecipient { code, message } => {
                antirelou_core::Error::InvalidRecipient {
                    message: format!("{message} (Vonage status {code})"),
                }
            }
            VonageError::Rejected { code, message } => antirelou_core::Error::Permanent {
                message,
                code: Some(code),
            },
            VonageError::Overloaded(message) => antirelou_core::Error::Transient {
                message,
                retry_after: None,
            },
            VonageError::Config(m) => antirelou_core::Error::Config(m),
            VonageError::Handler(e) => e,
            other => antirelou_core::Error::Permanent {
                message: other.to_string(),
                code: None,
            },
        }
    }
}
