//! Inbound events, as provider adapters hand them to the engine.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::currency::Price;
use crate::phone::{Caller, PhoneNumber};

pub use crate::provider::ProviderId;

/// The channel of a contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A text message.
    Sms,
    /// A phone call.
    Voice,
}

impl Channel {
    /// A stable lowercase label.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Voice => "voice",
        }
    }
}

/// An inbound text message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundSms {
    /// Where it came from.
    pub provider: ProviderId,
    /// The provider's message id, stable across the provider's retries of the same webhook (for
    /// example Twilio's `MessageSid`; an adapter whose provider delivers one text in parts gives
    /// every part the same id, as the Vonage adapter does with `concat-ref`). Duplicate deliveries carry
    /// the same id, which makes scheduling idempotent.
    pub message_id: String,
    /// The sender.
    pub from: Caller,
    /// Our number it was sent to.
    pub to: PhoneNumber,
    /// The text (used only to recognise STOP/START keywords; never stored).
    pub body: String,
    /// When the provider says it was received, if it says.
    pub received_at: Option<Timestamp>,
}

/// An inbound phone call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundCall {
    /// Where it came from.
    pub provider: ProviderId,
    /// The provider's call id (for example Twilio's `CallSid`, Vonage's `uuid`).
    pub call_id: String,
    /// The caller.
    pub from: Caller,
    /// Our number that was called.
    pub to: PhoneNumber,
}

/// The delivery state of a message we sent, as status callbacks and delivery receipts report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliveryState {
    /// Accepted or queued by the provider.
    Accepted,
    /// Handed to the carrier.
    Sent,
    /// Delivered to the handset.
    Delivered,
    /// Not delivered (filtered, unreachable…).
    Undelivered,
    /// Failed before leaving the provider.
    Failed,
    /// Expired at the carrier.
    Expired,
    /// Anything else the provider reports.
    Unknown,
}

impl DeliveryState {
    /// A stable lowercase label (`"delivered"`, …), the form backends store.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Accepted => "accepted",
            DeliveryState::Sent => "sent",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Undelivered => "undelivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Expired => "expired",
            DeliveryState::Unknown => "unknown",
        }
    }

    /// Parse [`DeliveryState::as_str`]'s output; anything else is [`DeliveryState::Unknown`].
    ///
    /// ```
    /// use antirelou_core::event::DeliveryState;
    /// for s in [DeliveryState::Accepted, DeliveryState::Delivered, DeliveryState::Unknown] {
    ///     assert_eq!(DeliveryState::parse(s.as_str()), s);
    /// }
    /// assert_eq!(DeliveryState::parse("queued?"), DeliveryState::Unknown);
    /// ```
    pub fn parse(s: &str) -> Self {
        match s {
            "accepted" => DeliveryState::Accepted,
            "sent" => DeliveryState::Sent,
            "delivered" => DeliveryState::Delivered,
            "undelivered" => DeliveryState::Undelivered,
            "failed" => DeliveryState::Failed,
            "expired" => DeliveryState::Expired,
            _ => DeliveryState::Unknown,
        }
    }
}

/// What a failed delivery means for the recipient, as the adapter reads the provider's error
/// code. The raw code stays in [`DeliveryReport::error_code`]; this is what the engine acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliveryFailure {
    /// The recipient opted out of our number at the provider or carrier (he sent STOP there,
    /// or is on the provider's block list). The engine records his opt-out and cancels what is
    /// pending for him.
    OptedOut,
    /// The recipient's number cannot receive texts (not a mobile number, unallocated,
    /// malformed).
    InvalidRecipient,
    /// Any other failure, or a code the adapter does not know.
    Other,
}

impl DeliveryFailure {
    /// A stable lowercase label (`"opted_out"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryFailure::OptedOut => "opted_out",
            DeliveryFailure::InvalidRecipient => "invalid_recipient",
            DeliveryFailure::Other => "other",
        }
    }
}

/// A status callback or delivery receipt for a message we sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Which provider.
    pub provider: ProviderId,
    /// The provider's id of the outbound message.
    pub message_id: String,
    /// Its state.
    pub state: DeliveryState,
    /// The real price in the currency the provider bills in, when it gives it (positive: money
    /// spent); the engine converts it to the ledger's currency before it counts it.
    pub price: Option<Price>,
    /// The provider's error code, if any.
    pub error_code: Option<String>,
    /// What the failure means, when the adapter recognises the code (`None` when nothing
    /// failed).
    pub failure: Option<DeliveryFailure>,
}
