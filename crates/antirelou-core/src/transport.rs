//! The SMS sending trait and its message and receipt types.

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::currency::Price;
use crate::error::Result;
use crate::phone::PhoneNumber;

/// A text to send. Only the engine builds these (from a scheduled reply to someone who contacted
/// one of our numbers, with that number's configured text): no public API takes an arbitrary
/// text and an arbitrary recipient, so the library cannot be used as a relay. Test code gets a
/// constructor with the `testing` feature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundSms {
    pub(crate) from: PhoneNumber,
    pub(crate) to: PhoneNumber,
    pub(crate) body: String,
    pub(crate) client_ref: String,
    pub(crate) unicode: bool,
    pub(crate) segments: u32,
}

impl OutboundSms {
    #[allow(dead_code)]
    pub(crate) fn new(
        from: PhoneNumber,
        to: PhoneNumber,
        body: String,
        client_ref: String,
    ) -> Self {
        let plan = crate::encoding::plan(&body);
        OutboundSms {
            from,
            to,
            body,
            client_ref,
            unicode: plan.encoding == crate::encoding::Encoding::Ucs2,
            segments: plan.segments,
        }
    }

    /// Build a message in tests of sender implementations. Not available to production code.
    #[cfg(feature = "testing")]
    pub fn for_test(from: PhoneNumber, to: PhoneNumber, body: &str, client_ref: &str) -> Self {
        Self::new(from, to, body.to_owned(), client_ref.to_owned())
    }

    /// Our number, the sender.
    pub fn from(&self) -> &PhoneNumber {
        &self.from
    }

    /// The recipient: someone who contacted `from`.
    pub fn to(&self) -> &PhoneNumber {
        &self.to
    }

    /// The text.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// Our reference for this message (the reply id and attempt). Providers that take a client
    /// reference echo it back (Vonage's `client-ref`, for example); it is safe to log.
    pub fn client_ref(&self) -> &str {
        &self.client_ref
    }

    /// Whether the text needs UCS-2 (an adapter whose provider must be told sets its flag, such as
    /// Vonage's `type=unicode`).
    pub fn is_unicode(&self) -> bool {
        self.unicode
    }

    /// How many segments the text takes.
    pub fn segments(&self) -> u32 {
        self.segments
    }
}

/// What a provider says when it accepts a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendReceipt {
    /// The provider's id of the message (for example Twilio's `SM…`, or Vonage's `message-id` of
    /// the first part).
    pub provider_id: String,
    /// Segments the provider counted (or our own count when it did not say).
    pub segments: u32,
    /// The price in the currency the provider bills in, when it gives it at once (some do, such
    /// as Vonage; others only in a later delivery report, such as Twilio). The engine converts
    /// it to the ledger's currency ([`CurrencyRates`](crate::CurrencyRates)) before it counts it.
    pub price: Option<Price>,
}

/// What a provider knows of an earlier attempt to send a message: the answer of
/// [`SmsTransport::find_accepted`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PriorSend {
    /// The provider accepted a message from the same number to the same recipient with the same
    /// text since the instant asked about: it must not be sent again. Its receipt is the one a
    /// send would have given.
    Accepted(SendReceipt),
    /// The provider says it accepted none: sending is safe.
    NotFound,
    /// The provider cannot tell (the default): the dispatcher sends, and a message the earlier
    /// attempt did send goes out twice.
    Unknown,
}

/// Sends text messages through a provider.
///
/// # Contract
/// * `send` either returns a receipt (the provider **accepted** the message and will bill it) or
///   an error that says what to do next:
///   * [`Error::Transient`](crate::Error::Transient): retry later, after `retry_after` when given
///     (rate limits, 5xx, timeouts, connection errors);
///   * [`Error::RecipientOptedOut`](crate::Error::RecipientOptedOut): never retry, record an
///     opt-out;
///   * [`Error::InvalidRecipient`](crate::Error::InvalidRecipient): never retry;
///   * [`Error::Permanent`](crate::Error::Permanent): never retry this request.
/// * When the outcome is unknown (the request may have reached the provider, e.g. a timeout after
///   sending), return a transient error: the dispatcher prefers a rare duplicate to a lost lesson.
/// * A `2xx` answer **without a message id** is such an unknown outcome: a transient error, never
///   a receipt with an empty id (which no delivery report could match). The next attempt asks
///   [`find_accepted`](SmsTransport::find_accepted) first, so a provider that can list its messages
///   does not send twice.
/// * `retry_after` is the provider's value, unclamped; the dispatcher clamps it once
///   ([`crate::engine::MAX_RETRY_AFTER`]).
/// * Error texts carry no secret and no phone number in clear (mask provider texts with
///   [`crate::phone::mask_numbers`]); `Debug` of an implementation shows no secret.
/// * HTTP adapters classify failures alike with the adapter kit (feature `adapter-kit`,
///   `kit::classify`) and prove all of the above with its transport conformance suite.
/// * Implementations are `Send + Sync` and usable as `dyn SmsTransport`; `send` may be called
///   concurrently.
///
/// The trait uses `async_trait` (one boxed future per call) rather than `impl Future` plus a `dyn`
/// twin: a send is a network round trip, so the allocation is noise, and one trait that is both
/// generic-friendly and object-safe is simpler for adapter authors and for `mockall`.
#[async_trait]
pub trait SmsTransport: Send + Sync + std::fmt::Debug {
    /// Send one message.
    async fn send(&self, sms: &OutboundSms) -> Result<SendReceipt>;

    /// Whether the provider already accepted `sms` (same sender number, recipient and text) at
    /// or after `since`.
    ///
    /// No provider we use takes an idempotency key on a send, so a worker killed between the
    /// provider's acceptance and the store's record of it leaves a reply that the next claim
    /// sends again. Before sending a reply that an earlier claim may have sent (its attempt is
    /// above 1), the dispatcher asks this first, with `since` = when the reply was stored, and
    /// on [`PriorSend::Accepted`] records that send instead of making another.
    ///
    /// The default answers [`PriorSend::Unknown`] without asking anything (resend, as before).
    /// An implementation answers [`PriorSend::NotFound`] only when the provider's answer is
    /// complete, and an error only for a failed lookup (the dispatcher then sends).
    async fn find_accepted(&self, sms: &OutboundSms, since: Timestamp) -> Result<PriorSend> {
        let _ = (sms, since);
        Ok(PriorSend::Unknown)
    }
}

#[async_trait]
impl<S: SmsTransport + ?Sized> SmsTransport for std::sync::Arc<S> {
    async fn send(&self, sms: &OutboundSms) -> Result<SendReceipt> {
        (**self).send(sms).await
    }

    async fn find_accepted(&self, sms: &OutboundSms, since: Timestamp) -> Result<PriorSend> {
        (**self).find_accepted(sms, since).await
    }
}
