//! The seam between provider adapters and the engine.
//!
//! Adapters (the Twilio, Vonage and Telnyx crates, for example) verify and parse webhooks into [`crate::event`] types and hand them
//! to an [`InboundHandler`]. The engine implements it; tests can implement it with a recorder.

use async_trait::async_trait;

use crate::error::Result;
use crate::event::{DeliveryReport, InboundCall, InboundSms};
use crate::policy::Reason;
use crate::voice::VoiceScript;

/// What the engine did with an inbound text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmsOutcome {
    /// A lesson was scheduled (durably) for later.
    Scheduled,
    /// The same message was already handled; nothing changed.
    Duplicate,
    /// The sender opted out (STOP); pending replies were cancelled.
    OptedOut,
    /// The sender opted back in (START).
    OptedIn,
    /// Nothing will be sent, for this reason.
    Dropped(Reason),
}

/// Receives parsed, verified inbound events.
///
/// # Contract
/// * `handle_sms` returns once its effect is durable (the reply is scheduled in the store), and
///   fast: nothing slow (no provider call) is on this path. The webhook is acknowledged after it
///   returns `Ok`. On `Err`, the adapter answers 5xx so that the provider retries; idempotency
///   makes the retry safe.
/// * `handle_call` returns the script to answer with.
/// * `handle_delivery` records a status callback or delivery receipt.
#[async_trait]
pub trait InboundHandler: Send + Sync {
    /// An inbound text.
    async fn handle_sms(&self, sms: InboundSms) -> Result<SmsOutcome>;

    /// An inbound call.
    async fn handle_call(&self, call: InboundCall) -> Result<VoiceScript>;

    /// A delivery report for a message we sent.
    async fn handle_delivery(&self, report: DeliveryReport) -> Result<()>;
}

#[async_trait]
impl<H: InboundHandler + ?Sized> InboundHandler for std::sync::Arc<H> {
    async fn handle_sms(&self, sms: InboundSms) -> Result<SmsOutcome> {
        (**self).handle_sms(sms).await
    }
    async fn handle_call(&self, call: InboundCall) -> Result<VoiceScript> {
        (**self).handle_call(call).await
    }
    async fn handle_delivery(&self, report: DeliveryReport) -> Result<()> {
        (**self).handle_delivery(report).await
    }
}
