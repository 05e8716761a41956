//! [`StubTransport`]: an [`SmsTransport`] that sends nothing, records everything and fails on demand.
//!
//! Engine tests, examples and the simulator use it in place of a provider: it accepts messages
//! with receipts `stub-1`, `stub-2`, … and can be told to fail the next calls, every call, or to
//! follow a script, with any of the errors a real adapter returns.
//!
//! ```
//! use antirelou_core::stub::{FailureKind, StubTransport};
//!
//! let stub = StubTransport::new();
//! stub.fail_next(1, FailureKind::Transient { retry_after: None });
//! assert_eq!(stub.attempts(), 0);
//! assert!(stub.sent().is_empty());
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::clock::Timestamp;
use crate::currency::Price;
use crate::error::{Error, Result};
use crate::phone::PhoneNumber;
use crate::provider::ProviderId;
use crate::transport::{OutboundSms, PriorSend, SendReceipt, SmsTransport};

/// The identity the simulator and the test doubles go by: `"simulated"`.
pub const PROVIDER: ProviderId = ProviderId::from_static("simulated");

/// How a stubbed send fails: one of the errors the [`SmsTransport`] contract allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// [`Error::Transient`], with this `retry_after`.
    Transient {
        /// What the "provider" asks.
        retry_after: Option<Duration>,
    },
    /// [`Error::Permanent`].
    Permanent,
    /// [`Error::RecipientOptedOut`].
    OptedOut,
    /// [`Error::InvalidRecipient`].
    InvalidRecipient,
}

impl FailureKind {
    /// The error this failure returns.
    pub fn to_error(self) -> Error {
        match self {
            FailureKind::Transient { retry_after } => Error::Transient {
                message: "stub: transient failure".into(),
                retry_after,
            },
            FailureKind::Permanent => Error::Permanent {
                message: "stub: permanent failure".into(),
                code: Some("stub".into()),
            },
            FailureKind::OptedOut => Error::RecipientOptedOut,
            FailureKind::InvalidRecipient => Error::InvalidRecipient {
                message: "stub: invalid recipient".into(),
            },
        }
    }
}

/// One step of a [`StubTransport::script`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accept the message.
    Accept,
    /// Fail this way.
    Fail(FailureKind),
}

/// A message the stub accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// The recipient.
    pub to: PhoneNumber,
    /// Our number.
    pub from: PhoneNumber,
    /// The text.
    pub body: String,
    /// The engine's reference.
    pub client_ref: String,
    /// The provider id the stub returned (`stub-N`).
    pub provider_id: String,
    /// Which call to `send` accepted it (1 for the first call, failed calls included).
    pub at_call_index: u64,
}

#[derive(Default)]
struct State {
    attempts: u64,
    accepted: u64,
    sent: Vec<SentMessage>,
    script: VecDeque<Outcome>,
    fail_next: u64,
    fail_next_kind: Option<FailureKind>,
    fail_always: Option<FailureKind>,
}

/// A fake [`SmsTransport`]. Clones share their state, so a test can keep one clone to inspect while
/// the engine owns another.
///
/// For each call to [`send`](SmsTransport::send), in this order of precedence:
/// 1. the next step of the [`script`](StubTransport::script), if any is left;
/// 2. a failure, if [`fail_next`](StubTransport::fail_next) still has calls to fail;
/// 3. a failure, if [`fail_always`](StubTransport::fail_always) is set;
/// 4. otherwise the message is accepted: recorded, and answered with a receipt whose id is
///    `stub-N` (N counts accepted messages from 1), whose segments are the message's own count
///    and whose price is the configured one.
///
/// Every call, failed or not, counts in [`attempts`](StubTransport::attempts). With a
/// [`delay`](StubTransport::with_delay), each call first sleeps on tokio's timer (which a paused test
/// runtime auto-advances).
///
/// [`find_accepted`](SmsTransport::find_accepted) answers [`PriorSend::Unknown`] unless the stub was
/// built [`with_lookup`](StubTransport::with_lookup).
#[derive(Clone, Default)]
pub struct StubTransport {
    state: Arc<Mutex<State>>,
    price: Option<Price>,
    delay: Option<Duration>,
    lookup: bool,
}

impl StubTransport {
    /// A stub that accepts everything, without price or delay.
    pub fn new() -> Self {
        Self::default()
    }

    /// Receipts carry this price per message, in its currency.
    pub fn with_price(mut self, price: Price) -> Self {
        self.price = Some(price);
        self
    }

    /// Answer [`find_accepted`](SmsTransport::find_accepted) from the messages accepted so far,
    /// like a provider whose sent messages can be listed: [`PriorSend::Accepted`] with the
    /// receipt of the first one from the same number to the same recipient with the same text,
    /// [`PriorSend::NotFound`] otherwise. The stub has no clock: `since` is not looked at.
    pub fn with_lookup(mut self) -> Self {
        self.lookup = true;
        self
    }

    /// Each call sleeps this long before answering.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Fail the next `n` calls (after any script) with `kind`.
    pub fn fail_next(&self, n: u64, kind: FailureKind) {
        let mut s = self.state.lock();
        s.fail_next = n;
        s.fail_next_kind = Some(kind);
    }

    /// Fail every call (after any script and `fail_next`) with `kind`, until
    /// [`succeed`](StubTransport::succeed).
    pub fn fail_always(&self, kind: FailureKind) {
        self.state.lock().fail_always = Some(kind);
    }

    /// Forget `fail_next`, `fail_always` and the script: accept every call from now on.
    pub fn succeed(&self) {
        let mut s = self.state.lock();
        s.fail_next = 0;
        s.fail_next_kind = None;
        s.fail_always = None;
        s.script.clear();
    }

    /// Answer the next calls with these outcomes, in order (appended to any script left).
    pub fn script(&self, outcomes: Vec<Outcome>) {
        self.state.lock().script.extend(outcomes);
    }

    /// Every message accepted so far, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.state.lock().sent.clone()
    }

    /// How many messages were accepted.
    pub fn sent_count(&self) -> usize {
        self.state.lock().sent.len()
    }

    /// How many times `send` was called, failures included.
    pub fn attempts(&self) -> u64 {
        self.state.lock().attempts
    }

    /// Forget the recorded messages and the attempt count (not the failure settings; receipt
    /// ids keep counting).
    pub fn clear(&self) {
        let mut s = self.state.lock();
        s.sent.clear();
        s.attempts = 0;
    }

    fn decide(&self, sms: &OutboundSms) -> Result<SendReceipt> {
        let mut s = self.state.lock();
        s.attempts += 1;
        let outcome = if let Some(step) = s.script.pop_front() {
            step
        } else if let (true, Some(kind)) = (s.fail_next > 0, s.fail_next_kind) {
            s.fail_next -= 1;
            Outcome::Fail(kind)
        } else if let Some(kind) = s.fail_always {
            Outcome::Fail(kind)
        } else {
            Outcome::Accept
        };
        match outcome {
            Outcome::Fail(kind) => Err(kind.to_error()),
            Outcome::Accept => {
                s.accepted += 1;
                let provider_id = format!("stub-{}", s.accepted);
                let at_call_index = s.attempts;
                s.sent.push(SentMessage {
                    to: sms.to().clone(),
                    from: sms.from().clone(),
                    body: sms.body().to_owned(),
                    client_ref: sms.client_ref().to_owned(),
                    provider_id: provider_id.clone(),
                    at_call_index,
                });
                Ok(SendReceipt {
                    provider_id,
                    segments: sms.segments().max(1),
                    price: self.price,
                })
            }
        }
    }
}

impl fmt::Debug for StubTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("StubTransport");
        if let Some(s) = self.state.try_lock() {
            d.field("attempts", &s.attempts)
                .field("sent", &s.sent.len());
        }
        d.field("price", &self.price)
            .field("delay", &self.delay)
            .finish()
    }
}

#[async_trait]
impl SmsTransport for StubTransport {
    async fn send(&self, sms: &OutboundSms) -> Result<SendReceipt> {
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        self.decide(sms)
    }

    async fn find_accepted(&self, sms: &OutboundSms, _since: Timestamp) -> Result<PriorSend> {
        if !self.lookup {
            return Ok(PriorSend::Unknown);
        }
        let s = self.state.lock();
        Ok(s.sent
            .iter()
            .find(|m| m.from == *sms.from() && m.to == *sms.to() && m.body == sms.body())
            .map_or(PriorSend::NotFound, |m| {
                PriorSend::Accepted(SendReceipt {
                    provider_id: m.provider_id.clone(),
                    segments: sms.segments().max(1),
                    price: self.price,
                })
            }))
    }
}
