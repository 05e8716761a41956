//! The simulated carrier: an [`SmsTransport`] that bills, records and fails on demand.
//!
//! [`SimCarrier`] stands for the telephony provider. The engine sends through it exactly as it
//! would through Twilio or Vonage; the simulator (or an embedder's test) hands it every inbound
//! text and call so that it bills those too. It keeps:
//!
//! * the **bill**: every inbound text, every answered call minute and every outbound segment, at
//!   the [`Prices`] it was built with (exact [`Money`] arithmetic, no floats);
//! * every **delivered** message with its virtual time ([`Delivered`]);
//! * a **funds** limit: when the bill would pass it, the account is suspended and the carrier
//!   refuses everything afterwards (this is how a number "has to stop for money");
//! * **faults** to inject ([`FaultPlan`]): a rate of transient errors, a rate limit per second of
//!   virtual time, and outage windows.
//!
//! Clones share the same state, so a test can keep one handle and give another to the engine.
//!
//! ```
//! use std::sync::Arc;
//! use antirelou_core::{ManualClock, Money, PhoneNumber, Timestamp};
//! use antirelou_sim::carrier::{Prices, SimCarrier};
//!
//! let clock = ManualClock::new(Timestamp::from_secs(1_509_120_000));
//! let carrier = SimCarrier::new(Arc::new(clock), Prices::paris_2017());
//! let man = PhoneNumber::parse("+33612345678").unwrap();
//! let ours = PhoneNumber::parse("+33644000001").unwrap();
//! carrier.receive_sms(&man, &ours).unwrap();
//! assert_eq!(carrier.bill(), Money::from_micros(7_500));
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use antirelou_core::store::ReplyKind;
use antirelou_core::{
    Clock, Error, Money, OutboundSms, PhoneNumber, SendReceipt, SmsTransport, Timestamp,
};
use async_trait::async_trait;
use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A price for outbound segments to numbers that start with a prefix (international and
/// premium destinations cost more).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceOverride {
    /// An E.164 prefix with its `+`, e.g. `"+234"`.
    pub prefix: String,
    /// The price of one outbound segment to those numbers.
    pub per_segment: Money,
}

/// What the carrier charges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prices {
    /// One inbound text (one segment).
    pub inbound_sms: Money,
    /// One outbound segment, unless an override matches.
    pub outbound_segment: Money,
    /// One minute (or part of one) of an answered inbound call. A rejected call costs nothing.
    pub inbound_call_per_minute: Money,
    /// Per-destination outbound prices, longest matching prefix first.
    pub overrides: Vec<PriceOverride>,
}

impl Prices {
    /// The 2017 prices of the French number: €0.0075 per inbound text, €0.07627 per outbound
    /// segment (reference-field.md §1.2), calls free (the 2017 number answered no calls).
    pub fn paris_2017() -> Self {
        Prices {
            inbound_sms: Money::from_micros(7_500),
            outbound_segment: Money::from_micros(76_270),
            inbound_call_per_minute: Money::ZERO,
            overrides: Vec::new(),
        }
    }

    /// The price of one outbound segment to `to`.
    pub fn segment_price(&self, to: &PhoneNumber) -> Money {
        self.overrides
            .iter()
            .filter(|o| to.e164().starts_with(&o.prefix))
            .max_by_key(|o| o.prefix.len())
            .map_or(self.outbound_segment, |o| o.per_segment)
    }
}

/// A window of virtual time during which the provider is down (every send fails transiently).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    /// First instant of the outage.
    pub start: Timestamp,
    /// First instant after it.
    pub end: Timestamp,
}

/// Provider faults to inject.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// Probability in `[0, 1]` that a send fails with a transient error (HTTP 5xx, timeout).
    pub transient_error_rate: f64,
    /// At most this many accepted sends per second of virtual time; more get a transient error
    /// with `retry_after` (HTTP 429). `None`: no limit.
    pub rate_limit_per_second: Option<u32>,
    /// Windows during which every send fails transiently (HTTP 503).
    pub outages: Vec<Outage>,
    /// Seed of the fault generator, for repeatable runs.
    pub seed: u64,
}

/// A message the carrier accepted and delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// Our number, the sender.
    pub from: PhoneNumber,
    /// The recipient.
    pub to: PhoneNumber,
    /// The text.
    pub body: String,
    /// Segments billed.
    pub segments: u32,
    /// Virtual time of the send.
    pub at: Timestamp,
    /// What the reply was, when the body is one the carrier was told about
    /// ([`SimCarrier::classify`]).
    pub reply_kind: Option<ReplyKind>,
    /// What it cost.
    pub price: Money,
    /// The id the carrier gave it (`SIM000001`…).
    pub provider_id: String,
}

/// Why the carrier refused an inbound contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// The account ran out of funds: the number is shut off.
    #[error("the number is shut off: funds exhausted")]
    FundsExhausted,
}

/// Running totals of the carrier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CarrierStats {
    /// Inbound texts received and billed.
    pub inbound_sms: u64,
    /// Inbound calls answered (billed).
    pub calls_answered: u64,
    /// Inbound calls rejected (not billed).
    pub calls_rejected: u64,
    /// Inbound texts and calls refused because the number was shut off.
    pub inbound_refused: u64,
    /// Messages accepted and delivered.
    pub messages_sent: u64,
    /// Segments delivered.
    pub segments_sent: u64,
    /// Spend on inbound texts.
    pub spend_inbound_sms: Money,
    /// Spend on answered calls.
    pub spend_calls: Money,
    /// Spend on outbound messages.
    pub spend_outbound: Money,
    /// Sends refused because the number was shut off.
    pub sends_refused: u64,
    /// Injected transient errors (random).
    pub transient_errors: u64,
    /// Injected rate-limit errors.
    pub rate_limited: u64,
    /// Sends that failed because of an outage.
    pub outage_errors: u64,
}

impl CarrierStats {
    /// Everything spent.
    pub fn total(&self) -> Money {
        self.spend_inbound_sms + self.spend_calls + self.spend_outbound
    }
}

#[derive(Debug)]
struct State {
    prices: Prices,
    faults: FaultPlan,
    rng: ChaCha8Rng,
    funds: Option<Money>,
    shut_off_at: Option<Timestamp>,
    stats: CarrierStats,
    delivered: Vec<Delivered>,
    bodies: HashMap<String, ReplyKind>,
    rate_second: i64,
    rate_count: u32,
    series: Vec<(Timestamp, Money)>,
    series_step_ms: i64,
    next_id: u64,
}

impl State {
    fn charge(&mut self, amount: Money, now: Timestamp) -> bool {
        let total = self.stats.total();
        if self.shut_off_at.is_some() {
            return false;
        }
        if let Some(funds) = self.funds
            && total + amount > funds
        {
            self.shut_off_at = Some(now);
            self.point(now, total);
            return false;
        }
        self.point(now, total + amount);
        true
    }

    /// Record the cumulative bill, one point per series step (the last value of the step wins).
    fn point(&mut self, now: Timestamp, total: Money) {
        let bucket = now.as_millis().div_euclid(self.series_step_ms.max(1));
        match self.series.last_mut() {
            Some((t, m)) if t.as_millis().div_euclid(self.series_step_ms.max(1)) == bucket => {
                *t = now;
                *m = total;
            }
            _ => self.series.push((now, total)),
        }
    }
}

/// The simulated carrier. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct SimCarrier {
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<State>>,
}

impl SimCarrier {
    /// A carrier billing at `prices`, reading virtual time from `clock`, with no faults and no
    /// funds limit.
    pub fn new(clock: Arc<dyn Clock>, prices: Prices) -> Self {
        SimCarrier {
            clock,
            state: Arc::new(Mutex::new(State {
                prices,
                faults: FaultPlan::default(),
                rng: ChaCha8Rng::seed_from_u64(0),
                funds: None,
                shut_off_at: None,
                stats: CarrierStats::default(),
                delivered: Vec::new(),
                bodies: HashMap::new(),
                rate_second: i64::MIN,
                rate_count: 0,
                series: Vec::new(),
                series_step_ms: 60_000,
                next_id: 1,
            })),
        }
    }

    /// Inject these faults from now on.
    pub fn with_faults(self, faults: FaultPlan) -> Self {
        {
            let mut s = self.state.lock();
            s.rng = ChaCha8Rng::seed_from_u64(faults.seed);
            s.faults = faults;
        }
        self
    }

    /// Suspend the account (refuse everything) once the bill would pass `funds`.
    pub fn with_funds(self, funds: Money) -> Self {
        self.state.lock().funds = Some(funds);
        self
    }

    /// Keep one point of the cumulative-spend series per `step` of virtual time (one minute by
    /// default).
    pub fn with_series_step(self, step: Duration) -> Self {
        self.state.lock().series_step_ms = i64::try_from(step.as_millis()).unwrap_or(60_000).max(1);
        self
    }

    /// Tell the carrier that messages with this exact body are replies of `kind`, so that
    /// [`Delivered::reply_kind`] is filled in.
    pub fn classify(&self, body: &str, kind: ReplyKind) {
        self.state.lock().bodies.insert(body.to_owned(), kind);
    }

    /// An inbound text from `from` to our number `to`: billed at the inbound price. Refused
    /// (and not billed) once the number is shut off.
    pub fn receive_sms(&self, from: &PhoneNumber, to: &PhoneNumber) -> Result<(), Refused> {
        let _ = (from, to);
        let now = self.clock.now();
        let mut s = self.state.lock();
        let price = s.prices.inbound_sms;
        if s.charge(price, now) {
            s.stats.inbound_sms += 1;
            s.stats.spend_inbound_sms += price;
            Ok(())
        } else {
            s.stats.inbound_refused += 1;
            Err(Refused::FundsExhausted)
        }
    }

    /// Whether an inbound call can reach the number at all (it is refused once the number is
    /// shut off). Bill it afterwards with [`SimCarrier::bill_call`] or
    /// [`SimCarrier::reject_call`], depending on the script the app answered with.
    pub fn accept_call(&self) -> Result<(), Refused> {
        let mut s = self.state.lock();
        if s.shut_off_at.is_some() {
            s.stats.inbound_refused += 1;
            Err(Refused::FundsExhausted)
        } else {
            Ok(())
        }
    }

    /// An answered inbound call that lasted `seconds`: billed per started minute.
    pub fn bill_call(&self, seconds: u32) -> Result<(), Refused> {
        let now = self.clock.now();
        let mut s = self.state.lock();
        let minutes = seconds.div_ceil(60).max(1);
        let price = s.prices.inbound_call_per_minute * minutes;
        if s.charge(price, now) {
            s.stats.calls_answered += 1;
            s.stats.spend_calls += price;
            Ok(())
        } else {
            s.stats.inbound_refused += 1;
            Err(Refused::FundsExhausted)
        }
    }

    /// A call the app rejected (`<Reject>`): not billed.
    pub fn reject_call(&self) {
        self.state.lock().stats.calls_rejected += 1;
    }

    /// Everything delivered so far, in order.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.state.lock().delivered.clone()
    }

    /// Run `f` over the delivered messages without copying them.
    pub fn with_delivered<R>(&self, f: impl FnOnce(&[Delivered]) -> R) -> R {
        f(&self.state.lock().delivered)
    }

    /// What was delivered to `to`, in order.
    pub fn delivered_to(&self, to: &PhoneNumber) -> Vec<Delivered> {
        self.state
            .lock()
            .delivered
            .iter()
            .filter(|d| &d.to == to)
            .cloned()
            .collect()
    }

    /// The totals so far.
    pub fn stats(&self) -> CarrierStats {
        self.state.lock().stats
    }

    /// The whole bill so far.
    pub fn bill(&self) -> Money {
        self.state.lock().stats.total()
    }

    /// When the number was shut off for lack of funds, if it was.
    pub fn shut_off_at(&self) -> Option<Timestamp> {
        self.state.lock().shut_off_at
    }

    /// The cumulative bill over virtual time: one point per series step in which the bill
    /// changed.
    pub fn spend_series(&self) -> Vec<(Timestamp, Money)> {
        self.state.lock().series.clone()
    }
}

#[async_trait]
impl SmsTransport for SimCarrier {
    async fn send(&self, sms: &OutboundSms) -> antirelou_core::Result<SendReceipt> {
        let now = self.clock.now();
        let mut s = self.state.lock();
        if s.shut_off_at.is_some() {
            s.stats.sends_refused += 1;
            return Err(Error::Permanent {
                message: "account suspended: funds exhausted".into(),
                code: Some("SIM-FUNDS".into()),
            });
        }
        if let Some(o) = s
            .faults
            .outages
            .iter()
            .find(|o| o.start <= now && now < o.end)
            .copied()
        {
            s.stats.outage_errors += 1;
            return Err(Error::Transient {
                message: "503 service unavailable (simulated outage)".into(),
                retry_after: Some(o.end.since(now).max(Duration::from_secs(1))),
            });
        }
        if let Some(limit) = s.faults.rate_limit_per_second {
            let second = now.as_secs();
            if s.rate_second != second {
                s.rate_second = second;
                s.rate_count = 0;
            }
            if s.rate_count >= limit {
                s.stats.rate_limited += 1;
                return Err(Error::Transient {
                    message: "429 too many requests (simulated rate limit)".into(),
                    retry_after: Some(Duration::from_secs(1)),
                });
            }
        }
        let rate = s.faults.transient_error_rate;
        if rate > 0.0 && s.rng.random::<f64>() < rate {
            s.stats.transient_errors += 1;
            return Err(Error::Transient {
                message: "500 internal error (simulated)".into(),
                retry_after: None,
            });
        }
        let segments = sms.segments().max(1);
        let price = s.prices.segment_price(sms.to()) * segments;
        if !s.charge(price, now) {
            s.stats.sends_refused += 1;
            return Err(Error::Permanent {
                message: "account suspended: funds exhausted".into(),
                code: Some("SIM-FUNDS".into()),
            });
        }
        s.rate_count += 1;
        s.stats.messages_sent += 1;
        s.stats.segments_sent += u64::from(segments);
        s.stats.spend_outbound += price;
        let provider_id = format!("SIM{:06}", s.next_id);
        s.next_id += 1;
        let reply_kind = s.bodies.get(sms.body()).copied();
        s.delivered.push(Delivered {
            from: sms.from().clone(),
            to: sms.to().clone(),
            body: sms.body().to_owned(),
            segments,
            at: now,
            reply_kind,
            price,
            provider_id: provider_id.clone(),
        });
        Ok(SendReceipt {
            provider_id,
            segments,
            price: Some(antirelou_core::Price::new(
                price,
                antirelou_core::Currency::EUR,
            )),
        })
    }
}
