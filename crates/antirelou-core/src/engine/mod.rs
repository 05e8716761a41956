//! The engine: inbound handling and the durable delayed-reply dispatcher.
//!
//! # How it works
//!
//! * **Inbound text** ([`InboundHandler::handle_sms`]): the engine recognises STOP / START, checks
//!   the number's status, the opt-out list, the [`AbusePolicy`] and the one-lesson-per-sender
//!   window, then **schedules** the lesson in the store at `now + reply_delay` and returns. The
//!   provider gets its answer at once: nothing slow is on this path. Nothing is sent here.
//! * **Inbound call** ([`InboundHandler::handle_call`]): the engine returns a
//!   [`VoiceScript`](crate::voice::VoiceScript): the lesson, the decoy voicemail greeting for a
//!   first call, "no longer in service" for a retired number, or a free reject (a busy line for a
//!   man already taught within the lesson window, by voice or by a text's lesson, sent or
//!   waiting: one lesson per sender, and none on the spot for a man who texted).
//! * **Dispatcher** ([`Dispatcher`]): workers claim due replies under a lease, check everything
//!   again at send time (opt-out, policy, number status, budget), reserve the cost, send through
//!   the number's provider, settle the cost and record the provider's id. Transient errors retry
//!   with backoff until the reply's deadline; a crashed worker's lease expires and another worker
//!   takes over.
//!
//! # Why the library cannot be a relay
//!
//! The queue never stores text, only a [`ReplyKind`](crate::store::ReplyKind). At send time the
//! dispatcher takes the text from the number's configured lessons and sends it to the person who
//! contacted that number. No public API takes a text and a recipient.
//!
//! # Duplicate webhooks and crashes
//!
//! Providers deliver a webhook again when our answer was slow or lost. Each text's lesson is
//! stored under the key `{provider}:{message_id}:lesson`, and the lesson slot is taken in the
//! same transaction ([`ReplyQueue::schedule_lesson`](crate::store::ReplyQueue::schedule_lesson)):
//!
//! * a second delivery of a message whose lesson is stored finds its key first
//!   ([`Store::admit_text`] reads it before asking the policy) and gets
//!   [`SmsOutcome::Duplicate`] without counting the contact again or reaching the abuse policy;
//!   two deliveries racing each other both pass that read, and `schedule_lesson` answers the
//!   second `Duplicate`;
//! * if the process dies before the lesson is stored, nothing of the slot is stored either, so
//!   the provider's retry schedules it (the contact was counted twice: statistics only);
//! * a text's path is one store call ([`Store::admit_text`]): the two reads (opted out? lesson
//!   key stored?), the abuse policy's verdict (it decides from the contact alone) and the two
//!   durable writes (`record_contact`, `schedule_lesson`), which a grouping backend runs in one
//!   commit, reads included (SQLite group commit); nothing is left behind per message beyond
//!   the reply itself.
//!
//! Sending is at least once: a process that dies after the provider accepted a lesson and
//! before the store recorded it leaves the reply claimed, and the next claim, when the lease has
//! expired, sends it again, unless the provider says it already accepted it
//! ([`SmsTransport::find_accepted`](crate::SmsTransport::find_accepted), which a sender answers
//! when its provider can list recent messages; the Twilio adapter's does, for example). At most one duplicate per send in flight at the crash
//! ([`EngineConfig::workers`] per process), a [`EngineConfig::lease`] after it.
//!
//! A lesson that ends unsent for a reason that is not the man's (the policy's send-time
//! re-check, its deadline, the budget) gives its slot back: his next text may schedule one.
//!
//! # Choices worth knowing
//!
//! * **STOP first.** STOP / START are honoured on any of our numbers, even paused or retired
//!   ones: an opt-out costs nothing and must never be lost.
//! * **Paused** is the operator's kill switch: new texts are dropped, calls are rejected (busy,
//!   which some providers do not bill, Twilio for example), and replies already scheduled are held, re-examined every
//!   [`EngineConfig::paused_hold`], sent if the number is resumed before their deadline.
//! * **Calls** never cost an SMS unless the number sets
//!   [`NumberConfig::sms_to_callers`]; a caller who heard the lesson takes his lesson slot, so a
//!   text from him afterwards costs nothing either.
//! * **Spend** is reserved at `segments × price` before each send and settled at the
//!   provider's price when the receipt has one. When it has none (Twilio's, for example), a later delivery
//!   report with the price corrects the ledger by the difference, as long as this process still
//!   remembers the estimate (the last 50,000 sends); otherwise the estimate stands. The `price`
//!   is the last real price per segment seen for the recipient's calling code, never less than
//!   [`EngineConfig::price_per_segment`]: the cap holds against the real bill, except for sends
//!   reserved before their destination's real price was seen (the bound is in the `prices`
//!   module's source and in `docs/DEPLOYMENT.md`).
//! * **Pacing** runs on tokio's clock, not the engine's: under a manual clock, use a paused tokio
//!   runtime or no pace. A send starts only with at least half a lease left; replies whose turn
//!   comes later go back to the queue.
//! * **Attempts** count claims, so a reply held by pacing, a pause or the budget backs off a little
//!   longer after a later transient error (capped at [`EngineConfig::backoff_max`]).
//! * **Counters** go to the store ([`Engine::stats`]) and to the `metrics` facade: `inbound.sms`,
//!   `inbound.voice`, `lessons.scheduled`, `lessons.sent`, `neutral.scheduled`, `neutral.sent`,
//!   `lessons.released`, `calls.already_taught`, `calls.decoy`, `calls.lesson`, `calls.out_of_service`, `calls.rejected`, `optout.recorded`,
//!   `optout.reported` (an opt-out learnt from a delivery report, also counted in
//!   `optout.recorded`), `optin.recorded`, `replies.cancelled`, `send.transient`, `send.failed`,
//!   `send.lease_lost`, `budget.deferred`, `deferred.<reason>`, `lesson.short_form`,
//!   `spend.micros`, `delivery.reports`, `delivery.failed`, `price.unknown_currency` (a
//!   provider price in a currency without a rate in [`EngineConfig::currency`]: not counted, the
//!   estimate kept) and `drop.<reason>` for every [`Reason`](crate::policy::Reason).
//!
//! # Building an engine
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use antirelou_core::catalogue::Locale;
//! use antirelou_core::engine::{Engine, EngineConfig, NumberConfig, Transports};
//! use antirelou_core::event::InboundSms;
//! use antirelou_core::memory::InMemoryStore;
//! use antirelou_core::privacy::NumberHasher;
//! use antirelou_core::stub::{self, StubTransport};
//! use antirelou_core::{Caller, InboundHandler, ManualClock, PhoneNumber, SmsOutcome, Timestamp};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> antirelou_core::Result<()> {
//! let ours = PhoneNumber::parse("+33937000000")?;
//! let clock = ManualClock::new(Timestamp::from_secs(1_700_000_000));
//! let engine = Engine::builder(Arc::new(InMemoryStore::new()), NumberHasher::new(b"a secret of sixteen bytes")?)
//!     .clock(Arc::new(clock.clone())) // default: the system clock
//!     .config(EngineConfig { reply_delay: Duration::from_secs(3600), ..EngineConfig::default() })
//!     // Lessons come from the built-in catalogue unless `.catalogue(…)` or the number says otherwise.
//!     .number(NumberConfig::new(ours.clone(), Locale::new("fr-FR")?, stub::PROVIDER))
//!     .build()?;
//!
//! // A webhook adapter hands the engine an inbound text; the engine answers at once.
//! let man = PhoneNumber::parse("+33612345678")?;
//! let sms = InboundSms {
//!     provider: stub::PROVIDER,
//!     message_id: "SM0001".into(),
//!     from: Caller::Number(man.clone()),
//!     to: ours,
//!     body: "salut".into(),
//!     received_at: None,
//! };
//! assert_eq!(engine.handle_sms(sms.clone()).await?, SmsOutcome::Scheduled);
//! assert_eq!(engine.handle_sms(sms).await?, SmsOutcome::Duplicate); // the provider retried
//!
//! // A dispatcher sends the lesson one hour later, not before.
//! let stub = Arc::new(StubTransport::new());
//! let dispatcher = engine.dispatcher(Transports::new().with(stub::PROVIDER, stub.clone(), None));
//! assert_eq!(dispatcher.tick().await?.sent, 0);
//! clock.advance(Duration::from_secs(3600));
//! assert_eq!(dispatcher.tick().await?.sent, 1);
//! assert_eq!(stub.sent()[0].to, man);
//! # Ok(())
//! # }
//! ```
//!
//! In production, run [`Dispatcher::run`] with a shutdown future (e.g. Ctrl-C) next to the
//! webhook server, on a durable store and the [`SystemClock`].

mod callers;
mod config;
mod deferral;
mod dispatcher;
mod inbound;
pub mod keywords;
mod numbers;
mod ownership;
mod pacing;
mod prices;
mod timing;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

pub use config::EngineConfig;
pub use dispatcher::{Dispatcher, MAX_RETRY_AFTER, TickReport, Transports};
pub use numbers::{DecoyConfig, NumberConfig, NumberStatus, Numbers};
pub use pacing::RatePerSecond;
pub use timing::backoff;

use crate::catalogue::Catalogue;
use crate::clock::{Clock, SystemClock};
use crate::error::Result;
use crate::phone::PhoneNumber;
use crate::policy::{AbusePolicy, AllowAll};
use crate::privacy::{NumberHasher, SenderHash};
use crate::store::{QueueStats, SpendSummary, Store};

#[cfg(doc)]
use crate::handler::{InboundHandler, SmsOutcome};

/// The engine: a cheap-to-clone handle (an `Arc` inside) shared by the webhook server and the
/// dispatcher. See the [module documentation](self).
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) hasher: NumberHasher,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) policy: Arc<dyn AbusePolicy>,
    pub(crate) config: EngineConfig,
    pub(crate) numbers: Numbers,
    /// Estimated prices of sends whose provider gave no price, by provider id, so that a later
    /// delivery report with the real price can correct the ledger.
    pub(crate) estimates: Mutex<PriceMemo>,
    /// The real prices per segment seen per destination calling code: what reservations use.
    pub(crate) prices: prices::ObservedPrices,
    /// The engine's random source (jitter), seeded from [`EngineConfig::rng_seed`].
    pub(crate) rng: Mutex<rand::rngs::StdRng>,
    /// The lessons this process holds deferred (bounded by [`EngineConfig::max_deferred`]).
    pub(crate) deferred: Arc<deferral::DeferredLessons>,
    /// The callers this process saw lately (a text from one ranks first among deferred
    /// lessons).
    pub(crate) callers: callers::RecentCallers,
}

impl Inner {
    /// A uniform draw in `[0, 1)` from the engine's random source.
    pub(crate) fn unit_random(&self) -> f64 {
        use rand::Rng;
        self.rng.lock().random_range(0.0..1.0)
    }
}

/// Builds an [`Engine`].
#[derive(Debug)]
pub struct EngineBuilder {
    store: Arc<dyn Store>,
    hasher: NumberHasher,
    clock: Arc<dyn Clock>,
    policy: Arc<dyn AbusePolicy>,
    catalogue: Option<Catalogue>,
    config: EngineConfig,
    numbers: Vec<NumberConfig>,
}

impl EngineBuilder {
    /// The clock (default: the [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The abuse policy (default: [`AllowAll`]; use `antirelou-abuse` in production).
    pub fn policy(mut self, policy: Arc<dyn AbusePolicy>) -> Self {
        self.policy = policy;
        self
    }

    /// The lessons (default: the built-in catalogue).
    pub fn catalogue(mut self, catalogue: Catalogue) -> Self {
        self.catalogue = Some(catalogue);
        self
    }

    /// Engine-wide settings (default: [`EngineConfig::default`]).
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Add a number (more can be added while the engine runs, through [`Engine::numbers`]).
    pub fn number(mut self, number: NumberConfig) -> Self {
        self.numbers.push(number);
        self
    }

    /// The engine. Fails with [`Error::Config`](crate::Error::Config) when the settings cannot
    /// work or a number has no lessons.
    pub fn build(self) -> Result<Engine> {
        self.config.validate()?;
        let numbers = Numbers::new(self.catalogue.unwrap_or_else(default_catalogue));
        for n in self.numbers {
            numbers.add(n)?;
        }
        Ok(Engine {
            inner: Arc::new(Inner {
                store: self.store,
                hasher: self.hasher,
                clock: self.clock,
                policy: self.policy,
                numbers,
                estimates: Mutex::new(PriceMemo::default()),
                prices: prices::ObservedPrices::default(),
                deferred: Arc::new(deferral::DeferredLessons::new(self.config.max_deferred)),
                callers: callers::RecentCallers::default(),
                rng: Mutex::new(match self.config.rng_seed {
                    Some(seed) => rand::SeedableRng::seed_from_u64(seed),
                    None => rand::SeedableRng::from_os_rng(),
                }),
                config: self.config,
            }),
        })
    }
}

/// The catalogue used when the builder is given none.
fn default_catalogue() -> Catalogue {
    Catalogue::builtin()
}

/// What the engine has done so far: counters, queue depth and spend.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStats {
    /// Every counter (`inbound.sms`, `lessons.sent`, `drop.opted_out`, …).
    pub counters: BTreeMap<String, u64>,
    /// Queue depth now.
    pub queue: QueueStats,
    /// Spend for today and this month.
    pub spend: SpendSummary,
}

impl EngineStats {
    /// A counter's value (zero when it was never incremented).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

impl Engine {
    /// Start building an engine on `store`, hashing numbers with `hasher`.
    pub fn builder(store: Arc<dyn Store>, hasher: NumberHasher) -> EngineBuilder {
        EngineBuilder {
            store,
            hasher,
            clock: Arc::new(SystemClock),
            policy: Arc::new(AllowAll),
            catalogue: None,
            config: EngineConfig::default(),
            numbers: Vec::new(),
        }
    }

    /// Our numbers: add, pause, resume or retire them while the engine runs.
    pub fn numbers(&self) -> &Numbers {
        &self.inner.numbers
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The keyed hash under which the store knows `number` (opt-outs, history).
    pub fn sender_hash(&self, number: &PhoneNumber) -> SenderHash {
        self.inner.hasher.hash(number)
    }

    /// How many lessons this process holds deferred (see
    /// [`EngineConfig::max_deferred`]; per process, in memory).
    pub fn deferred_lessons(&self) -> usize {
        self.inner.deferred.len()
    }

    /// Counters, queue depth and spend, now.
    pub async fn stats(&self) -> Result<EngineStats> {
        let now = self.inner.clock.now();
        Ok(EngineStats {
            counters: self.inner.store.counters().await?,
            queue: self.inner.store.queue_stats(now).await?,
            spend: self.inner.store.spend(now).await?,
        })
    }

    /// A dispatcher that sends this engine's due replies through `transports`.
    pub fn dispatcher(&self, transports: Transports) -> Dispatcher {
        Dispatcher::new(self.clone(), transports)
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }
}

impl Inner {
    /// Count `by` under `name` in the store and in the `metrics` facade. A counter that cannot
    /// be stored is logged, never an error: statistics must not stop the service.
    pub(crate) async fn count(&self, name: &'static str, by: u64) {
        if by == 0 {
            return;
        }
        metrics::counter!(name).increment(by);
        if let Err(e) = self.store.incr(name, by).await {
            tracing::warn!(counter = name, error = %e, "counter not stored");
        }
    }

    /// A provider's price in the ledger's currency ([`EngineConfig::currency`]). A price in a
    /// currency without a rate is never taken 1:1: it is counted `price.unknown_currency`,
    /// logged, and `None` returned, so that the caller keeps its estimate.
    pub(crate) async fn ledger_price(
        &self,
        price: Option<crate::currency::Price>,
    ) -> Option<crate::money::Money> {
        let price = price?;
        let converted = self.config.currency.to_ledger(price);
        if converted.is_none() {
            self.count("price.unknown_currency", 1).await;
            tracing::warn!(
                currency = %price.currency,
                ledger = %self.config.currency.ledger(),
                "a provider price in a currency without a rate: the estimate is kept; add its \
                 rate to the configuration"
            );
        }
        converted
    }
}

/// A bounded map from provider id to the estimated price a send was settled at.
#[derive(Debug, Default)]
pub(crate) struct PriceMemo {
    map: HashMap<String, prices::Estimate>,
    order: VecDeque<String>,
}

impl PriceMemo {
    const CAPACITY: usize = 50_000;

    pub(crate) fn insert(&mut self, provider_id: String, estimate: prices::Estimate) {
        if self.map.insert(provider_id.clone(), estimate).is_none() {
            self.order.push_back(provider_id);
        }
        while self.order.len() > Self::CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    pub(crate) fn take(&mut self, provider_id: &str) -> Option<prices::Estimate> {
        // The id stays in `order` until it ages out; removing it from the map is enough.
        self.map.remove(provider_id)
    }
}

/// Mask the phone numbers in a provider's message ([`crate::phone::mask_numbers`], the one rule
/// every adapter uses), cut to 300 characters, so that an error text stored or logged never
/// carries a phone number.
pub(crate) fn scrub(message: &str) -> String {
    crate::phone::mask_numbers(message)
        .chars()
        .take(300)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Money;

    #[test]
    fn scrub_masks_numbers_only() {
        assert_eq!(
            scrub("The 'To' number +33612345678 is not valid"),
            "The 'To' number …5678 is not valid"
        );
        assert_eq!(scrub("error 21610 at 12:00"), "error 21610 at 12:00");
    }

    #[test]
    fn price_memo_is_bounded() {
        let mut m = PriceMemo::default();
        let e = prices::Estimate {
            amount: Money::from_micros(1),
            calling_code: 33,
            segments: 1,
        };
        for i in 0..(PriceMemo::CAPACITY + 10) {
            m.insert(format!("SM{i}"), e);
        }
        assert_eq!(m.take("SM0"), None);
        assert_eq!(m.take(&format!("SM{}", PriceMemo::CAPACITY + 9)), Some(e));
    }
}
