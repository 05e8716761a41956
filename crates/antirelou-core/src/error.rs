//! The one error type of `antirelou-core`.
//!
//! Every variant is semantic: callers match on what went wrong, not on a message. Errors that cross
//! the sending path say whether retrying may help ([`Error::is_transient`]) and, when the provider
//! said so, after how long ([`Error::retry_after`]).

use std::time::Duration;

/// A `Result` whose error is [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `antirelou-core` and in the traits it defines.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A phone number could not be parsed or is not a valid number.
    #[error("invalid phone number {input:?}: {reason}")]
    InvalidPhoneNumber {
        /// The input as received (callers must not log it unmasked).
        input: String,
        /// What was wrong with it.
        reason: String,
    },

    /// A catalogue entry is invalid (too many segments, missing text, bad locale, bad TOML…).
    #[error("catalogue entry {entry:?}: {reason}")]
    Catalogue {
        /// The entry's name, e.g. `fr-FR` or `fr-FR.sms`.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Configuration that cannot work (a number that is not configured, a zero delay where one is
    /// required, …).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The provider or the network failed in a way that may succeed later.
    #[error("transient send failure: {message}")]
    Transient {
        /// What happened.
        message: String,
        /// When the provider asked us to come back, if it did.
        retry_after: Option<Duration>,
    },

    /// The provider refused the message for good (bad credentials, account barred, region
    /// disabled…). Retrying the same request would fail the same way.
    #[error("permanent send failure{}: {message}", code.as_deref().map(|c| format!(" (provider code {c})")).unwrap_or_default())]
    Permanent {
        /// What happened.
        message: String,
        /// The provider's own error code, when it gave one.
        code: Option<String>,
    },

    /// The recipient opted out at the provider (for example Twilio's error 21610). Never retry; record
    /// the opt-out.
    #[error("recipient opted out at the provider")]
    RecipientOptedOut,

    /// The recipient cannot receive SMS (invalid, landline, deactivated…). Never retry.
    #[error("invalid recipient: {message}")]
    InvalidRecipient {
        /// What the provider said.
        message: String,
    },

    /// The spend ledger refused a reservation: it would take spending over a cap.
    #[error("spend cap reached ({period})")]
    BudgetExceeded {
        /// Which cap: `"daily"` or `"monthly"`.
        period: &'static str,
    },

    /// A lease was lost: the item was reclaimed by another worker after this worker's lease
    /// expired (or it was cancelled). The stale worker must drop its result.
    #[error("lease lost: reply {reply_id} attempt {attempt} is no longer held by this worker")]
    LeaseLost {
        /// The reply concerned.
        reply_id: u64,
        /// The attempt number the stale worker held.
        attempt: u32,
    },

    /// A webhook came from a provider that does not carry the number it is addressed to (a text
    /// signed by one provider to a number another provider carries, a delivery report for a
    /// message another provider's number sent…): refused, nothing stored. Adapters answer `403`: the signature proves who
    /// sent the request, not that this provider may speak for this number.
    #[error("{provider} may not speak for number {number}: it is carried by {owner}")]
    WrongProvider {
        /// Our number, masked (`+…0000`).
        number: String,
        /// The provider that carries it (its `NumberConfig::provider`).
        owner: &'static str,
        /// The provider the webhook came from.
        provider: &'static str,
    },

    /// A label that goes into stored keys, logs and metric labels (a [`ProviderId`](crate::ProviderId),
    /// a policy's drop reason) is not in its allowed alphabet or length.
    #[error("invalid label {label:?}: {reason}")]
    InvalidLabel {
        /// The label as given.
        label: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// An item that was expected does not exist.
    #[error("not found: {0}")]
    NotFound(String),

    /// A storage backend failed. `transient` says whether retrying may help (connection lost,
    /// database busy) or not (schema mismatch, corrupt data).
    #[error("storage error: {message}")]
    Storage {
        /// What happened.
        message: String,
        /// Whether retrying may help.
        transient: bool,
    },
}

impl Error {
    /// Whether retrying the same operation later may succeed.
    ///
    /// ```
    /// use antirelou_core::Error;
    /// let e = Error::Transient { message: "429".into(), retry_after: None };
    /// assert!(e.is_transient());
    /// assert!(!Error::RecipientOptedOut.is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transient { .. } => true,
            Error::Storage { transient, .. } => *transient,
            _ => false,
        }
    }

    /// Whether this error is final for the operation: the opposite of [`Error::is_transient`].
    pub fn is_permanent(&self) -> bool {
        !self.is_transient()
    }

    /// How long the provider asked us to wait before retrying, when it said so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short, stable, allocation-free label for statistics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidPhoneNumber { .. } => "invalid_phone_number",
            Error::Catalogue { .. } => "catalogue",
            Error::Config(_) => "config",
            Error::Transient { .. } => "transient",
            Error::Permanent { .. } => "permanent",
            Error::RecipientOptedOut => "recipient_opted_out",
            Error::InvalidRecipient { .. } => "invalid_recipient",
            Error::BudgetExceeded { .. } => "budget_exceeded",
            Error::LeaseLost { .. } => "lease_lost",
            Error::WrongProvider { .. } => "wrong_provider",
            Error::InvalidLabel { .. } => "invalid_label",
            Error::NotFound(_) => "not_found",
            Error::Storage { .. } => "storage",
        }
    }

    /// Shorthand for a transient storage error.
    pub fn storage_transient(message: impl Into<String>) -> Self {
        Error::Storage {
            message: message.into(),
            transient: true,
        }
    }

    /// Shorthand for a permanent storage error.
    pub fn storage_permanent(message: impl Into<String>) -> Self {
        Error::Storage {
            message: message.into(),
            transient: false,
        }
    }
}
