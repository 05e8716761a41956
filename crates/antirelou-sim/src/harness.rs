//! For embedders: drive inbound texts and calls into your own app in tests, and read what it
//! sent.
//!
//! Build your app with a [`SimCarrier`] as its [`SmsTransport`](antirelou_core::SmsTransport) and a
//! [`ManualClock`] as its clock, wrap whatever implements [`InboundHandler`] (the engine, or your
//! own handler around it) in a [`SimHarness`], and talk to it through [`TestPhone`]s:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use antirelou_core::catalogue::{Catalogue, LessonSet, Locale};
//! use antirelou_core::engine::{Engine, NumberConfig, Transports};
//! use antirelou_core::stub::PROVIDER;
//! use antirelou_core::memory::InMemoryStore;
//! use antirelou_core::privacy::NumberHasher;
//! use antirelou_core::{ManualClock, PhoneNumber, SmsOutcome, Timestamp};
//! use antirelou_sim::{Prices, SimCarrier, harness::SimHarness};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fr = Locale::new("fr-FR")?;
//! let mut catalogue = Catalogue::default();
//! catalogue.insert(LessonSet {
//!     locale: fr.clone(),
//!     sms: "Elle ne voulait pas vous donner son numero.".into(),
//!     sms_short: None,
//!     voice: "Elle ne voulait pas vous donner son numero.".into(),
//!     neutral_reply: "Coucou, c'est qui ?".into(),
//!     voicemail_greeting: "Laissez un message.".into(),
//!     out_of_service: "Hors service.".into(),
//!     facts_as_of: "2024-01-01".into(),
//!     stop_keywords: vec![],
//!     start_keywords: vec![],
//! });
//! let ours = PhoneNumber::parse("+33939990042")?;
//! let clock = ManualClock::new(Timestamp::from_secs(1_700_000_000));
//! let carrier = SimCarrier::new(Arc::new(clock.clone()), Prices::paris_2017());
//! let engine = Engine::builder(Arc::new(InMemoryStore::new()), NumberHasher::new(b"sixteen bytes at least")?)
//!     .clock(Arc::new(clock.clone()))
//!     .catalogue(catalogue)
//!     .number(NumberConfig::new(ours.clone(), fr, PROVIDER))
//!     .build()?;
//! let dispatcher = engine.dispatcher(Transports::new().with(PROVIDER, Arc::new(carrier.clone()), None));
//!
//! let sim = SimHarness::new(engine, carrier, clock, ours);
//! let man = sim.phone("+33612345678")?;
//! assert_eq!(man.text("salut").await?, SmsOutcome::Scheduled);
//! sim.advance(Duration::from_secs(3600));
//! dispatcher.tick().await?;
//! assert_eq!(man.inbox().len(), 1);
//! assert!(man.inbox()[0].body.starts_with("Elle ne voulait pas"));
//! # Ok(())
//! # }
//! ```

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use antirelou_core::event::{DeliveryReport, DeliveryState, InboundCall, InboundSms, ProviderId};
use antirelou_core::voice::VoiceScript;
use antirelou_core::{
    Caller, Clock, InboundHandler, ManualClock, PhoneNumber, SmsOutcome, Timestamp,
};

use crate::carrier::{Delivered, SimCarrier};
use crate::error::Result;

/// Drives an [`InboundHandler`] as a carrier would. See the [module documentation](self).
#[derive(Debug)]
pub struct SimHarness<H> {
    handler: H,
    carrier: SimCarrier,
    clock: ManualClock,
    number: PhoneNumber,
    provider: ProviderId,
    seq: AtomicU64,
    reported: AtomicUsize,
}

impl<H: InboundHandler> SimHarness<H> {
    /// A harness for `handler`, whose replies go through `carrier`, on `clock`, for our number
    /// `number`.
    pub fn new(handler: H, carrier: SimCarrier, clock: ManualClock, number: PhoneNumber) -> Self {
        SimHarness {
            handler,
            carrier,
            clock,
            number,
            provider: antirelou_core::stub::PROVIDER,
            seq: AtomicU64::new(1),
            reported: AtomicUsize::new(0),
        }
    }

    /// Label inbound events with this provider instead of [`antirelou_core::stub::PROVIDER`] (the number's
    /// configured provider must match for replies to be routed).
    pub fn with_provider(mut self, provider: ProviderId) -> Self {
        self.provider = provider;
        self
    }

    /// A phone with this number (any form [`PhoneNumber::parse`] accepts).
    pub fn phone(&self, number: &str) -> Result<TestPhone<'_, H>> {
        Ok(TestPhone {
            harness: self,
            number: PhoneNumber::parse(number)?,
        })
    }

    /// Move virtual time forward.
    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    /// Virtual time now.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The carrier: its bill, its deliveries, its faults.
    pub fn carrier(&self) -> &SimCarrier {
        &self.carrier
    }

    /// The handler under test.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Our number.
    pub fn number(&self) -> &PhoneNumber {
        &self.number
    }

    /// Send the handler a `delivered` report, with its price, for every message delivered since
    /// the last call; returns how many.
    pub async fn deliver_reports(&self) -> Result<usize> {
        let all = self.carrier.delivered();
        let from = self
            .reported
            .swap(all.len(), Ordering::SeqCst)
            .min(all.len());
        for d in &all[from..] {
            self.handler
                .handle_delivery(DeliveryReport {
                    provider: self.provider,
                    message_id: d.provider_id.clone(),
                    state: DeliveryState::Delivered,
                    price: Some(antirelou_core::Price::new(
                        d.price,
                        antirelou_core::Currency::EUR,
                    )),
                    error_code: None,
                    failure: None,
                })
                .await?;
        }
        Ok(all.len() - from)
    }

    fn next_id(&self, prefix: &str) -> String {
        format!("{prefix}{:08}", self.seq.fetch_add(1, Ordering::Relaxed))
    }
}

/// A man's phone in a test: texts and calls our number, reads what it got back.
#[derive(Debug)]
pub struct TestPhone<'a, H> {
    harness: &'a SimHarness<H>,
    number: PhoneNumber,
}

impl<H: InboundHandler> TestPhone<'_, H> {
    /// This phone's number.
    pub fn number(&self) -> &PhoneNumber {
        &self.number
    }

    /// Text our number: the carrier bills it, then hands it to the handler. Fails with
    /// [`SimError::Refused`](crate::SimError::Refused) when the number is shut off.
    pub async fn text(&self, body: &str) -> Result<SmsOutcome> {
        let h = self.harness;
        h.carrier.receive_sms(&self.number, &h.number)?;
        let sms = InboundSms {
            provider: h.provider,
            message_id: h.next_id("SIMSM"),
            from: Caller::Number(self.number.clone()),
            to: h.number.clone(),
            body: body.to_owned(),
            received_at: Some(h.clock.now()),
        };
        Ok(h.handler.handle_sms(sms).await?)
    }

    /// Call our number: returns the script the handler answered with; the carrier bills the
    /// call unless it was rejected.
    pub async fn call(&self) -> Result<VoiceScript> {
        let h = self.harness;
        h.carrier.accept_call()?;
        let call = InboundCall {
            provider: h.provider,
            call_id: h.next_id("SIMCA"),
            from: Caller::Number(self.number.clone()),
            to: h.number.clone(),
        };
        let script = h.handler.handle_call(call).await?;
        if script.is_reject() {
            h.carrier.reject_call();
        } else {
            h.carrier.bill_call(script.ring_seconds() + 30)?;
        }
        Ok(script)
    }

    /// Every message delivered to this phone so far.
    pub fn inbox(&self) -> Vec<Delivered> {
        self.harness.carrier.delivered_to(&self.number)
    }
}
