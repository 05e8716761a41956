//! A recording [`InboundHandler`] for adapter tests: it keeps every event it is handed, answers
//! a second delivery of a message id with [`SmsOutcome::Duplicate`], and can be told to fail.

use std::collections::HashSet;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::event::{DeliveryReport, InboundCall, InboundSms};
use crate::handler::{InboundHandler, SmsOutcome};
use crate::voice::{VoiceHint, VoiceScript};

/// How a [`RecordingHandler`] fails while told to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// A transient storage error (the store is busy).
    Transient,
    /// A permanent storage error.
    Permanent,
    /// [`Error::WrongProvider`]: the number is carried by another provider.
    WrongProvider,
}

impl Failure {
    fn error(self) -> Error {
        match self {
            Failure::Transient => Error::storage_transient("recording handler told to fail"),
            Failure::Permanent => Error::storage_permanent("recording handler told to fail"),
            Failure::WrongProvider => Error::WrongProvider {
                number: "…0000".into(),
                owner: "another",
                provider: "this",
            },
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    sms: Vec<InboundSms>,
    calls: Vec<InboundCall>,
    deliveries: Vec<DeliveryReport>,
    seen: HashSet<String>,
    failure: Option<Failure>,
    script: Option<VoiceScript>,
}

/// Records what an adapter hands the engine. A failing call records nothing.
#[derive(Debug, Default)]
pub struct RecordingHandler {
    inner: Mutex<Inner>,
}

impl RecordingHandler {
    /// A handler that records and succeeds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fail every call with `failure` from now on (`None`: succeed again).
    pub fn fail_with(&self, failure: Option<Failure>) {
        self.inner.lock().failure = failure;
    }

    /// Answer calls with `script` (by default, a short French lesson then hang up).
    pub fn answer_calls_with(&self, script: VoiceScript) {
        self.inner.lock().script = Some(script);
    }

    /// The texts handled, in order.
    pub fn sms(&self) -> Vec<InboundSms> {
        self.inner.lock().sms.clone()
    }

    /// The calls handled, in order.
    pub fn calls(&self) -> Vec<InboundCall> {
        self.inner.lock().calls.clone()
    }

    /// The delivery reports handled, in order.
    pub fn deliveries(&self) -> Vec<DeliveryReport> {
        self.inner.lock().deliveries.clone()
    }

    /// How many events of any kind were handled.
    pub fn handled(&self) -> usize {
        let i = self.inner.lock();
        i.sms.len() + i.calls.len() + i.deliveries.len()
    }

    fn check(&self) -> Result<()> {
        match self.inner.lock().failure {
            Some(f) => Err(f.error()),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl InboundHandler for RecordingHandler {
    async fn handle_sms(&self, sms: InboundSms) -> Result<SmsOutcome> {
        self.check()?;
        let mut i = self.inner.lock();
        let fresh = i.seen.insert(sms.message_id.clone());
        i.sms.push(sms);
        Ok(if fresh {
            SmsOutcome::Scheduled
        } else {
            SmsOutcome::Duplicate
        })
    }

    async fn handle_call(&self, call: InboundCall) -> Result<VoiceScript> {
        self.check()?;
        let mut i = self.inner.lock();
        i.calls.push(call);
        Ok(i.script.clone().unwrap_or_else(|| {
            VoiceScript::builder()
                .say("Bonjour.", "fr-FR", VoiceHint::Female)
                .hangup()
                .build()
        }))
    }

    async fn handle_delivery(&self, report: DeliveryReport) -> Result<()> {
        self.check()?;
        self.inner.lock().deliveries.push(report);
        Ok(())
    }
}
