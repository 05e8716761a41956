//! Shared fixtures of the engine tests: an engine on the in-memory store, a stub transport and a
//! manual clock, with a French number whose texts are easy to recognise.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use antirelou_core::catalogue::{Catalogue, LessonSet, Locale};
use antirelou_core::engine::{Dispatcher, Engine, EngineConfig, NumberConfig, Transports};
use antirelou_core::event::{InboundCall, InboundSms, ProviderId};
use antirelou_core::memory::InMemoryStore;
use antirelou_core::policy::AbusePolicy;
use antirelou_core::privacy::NumberHasher;
use antirelou_core::store::{ReplyId, ReplyQueue, ReplyRecord};
use antirelou_core::stub::StubTransport;
use antirelou_core::{Caller, ManualClock, PhoneNumber, Timestamp};

/// 2017-10-30T12:00:00Z, the Monday of the flood.
pub const T0: Timestamp = Timestamp::from_secs(1_509_364_800);
pub const OURS: &str = "+33937000000";
pub const MAN: &str = "+33612345678";
pub const LESSON_SMS: &str = "LESSON: she did not want to give you her number.";
pub const LESSON_VOICE: &str = "VOICE LESSON: she did not want to give you her number.";
pub const LESSON_SHORT: &str = "SHORT LESSON: accept a no.";
pub const NEUTRAL: &str = "Hey, who is this?";
pub const GREETING: &str = "Hi, leave me a message.";
pub const OUT_OF_SERVICE: &str = "This number is no longer in service.";

pub const HOUR: Duration = Duration::from_secs(3600);

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn lessons(locale: &str) -> LessonSet {
    LessonSet {
        locale: Locale::new(locale).unwrap(),
        sms: LESSON_SMS.into(),
        sms_short: Some(LESSON_SHORT.into()),
        voice: LESSON_VOICE.into(),
        neutral_reply: NEUTRAL.into(),
        voicemail_greeting: GREETING.into(),
        out_of_service: OUT_OF_SERVICE.into(),
        facts_as_of: "2024-01-01".into(),
        stop_keywords: vec!["DESINSCRIPTION".into()],
        start_keywords: vec![],
    }
}

pub fn catalogue() -> Catalogue {
    let mut c = Catalogue::default();
    c.insert(lessons("fr-FR"));
    c
}

pub fn ours() -> PhoneNumber {
    PhoneNumber::parse(OURS).unwrap()
}

pub fn man() -> PhoneNumber {
    PhoneNumber::parse(MAN).unwrap()
}

/// The `i`-th distinct French mobile.
pub fn mobile(i: u32) -> PhoneNumber {
    PhoneNumber::parse(&format!("+336{:08}", 10_000_000 + i)).unwrap()
}

/// Settings that make timings exact: no jitter anywhere.
pub fn exact_config() -> EngineConfig {
    EngineConfig {
        backoff_jitter: 0.0,
        ..EngineConfig::default()
    }
}

pub struct Harness {
    pub engine: Engine,
    pub clock: ManualClock,
    pub store: InMemoryStore,
    pub stub: StubTransport,
    pub dispatcher: Dispatcher,
}

pub struct Setup {
    pub config: EngineConfig,
    pub number: NumberConfig,
    pub policy: Option<Arc<dyn AbusePolicy>>,
    pub stub: StubTransport,
    /// The engine's clock when not the harness's manual clock.
    pub engine_clock: Option<Arc<dyn antirelou_core::Clock>>,
    /// The lessons (default: [`catalogue`]).
    pub catalogue: Catalogue,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            config: exact_config(),
            number: NumberConfig::new(
                ours(),
                Locale::new("fr-FR").unwrap(),
                ProviderId::from_static("twilio"),
            ),
            policy: None,
            stub: StubTransport::new(),
            engine_clock: None,
            catalogue: catalogue(),
        }
    }
}

impl Setup {
    pub fn build(self) -> Harness {
        let clock = ManualClock::new(T0);
        let store = InMemoryStore::new();
        let mut b = Engine::builder(
            Arc::new(store.clone()),
            NumberHasher::new(b"test secret, sixteen bytes").unwrap(),
        )
        .clock(self.engine_clock.unwrap_or_else(|| Arc::new(clock.clone())))
        .catalogue(self.catalogue)
        .config(self.config)
        .number(self.number);
        if let Some(p) = self.policy {
            b = b.policy(p);
        }
        let engine = b.build().unwrap();
        let stub = self.stub;
        let dispatcher = engine.dispatcher(Transports::new().with(
            ProviderId::from_static("twilio"),
            Arc::new(stub.clone()),
            None,
        ));
        Harness {
            engine,
            clock,
            store,
            stub,
            dispatcher,
        }
    }
}

pub fn harness() -> Harness {
    Setup::default().build()
}

pub fn sms(id: &str, from: &PhoneNumber, body: &str) -> InboundSms {
    InboundSms {
        provider: ProviderId::from_static("twilio"),
        message_id: id.into(),
        from: Caller::Number(from.clone()),
        to: ours(),
        body: body.into(),
        received_at: None,
    }
}

pub fn call(id: &str, from: Caller) -> InboundCall {
    InboundCall {
        provider: ProviderId::from_static("twilio"),
        call_id: id.into(),
        from,
        to: ours(),
    }
}

impl Harness {
    /// The id of a reply the stub sent, from its client reference `r{id}a{attempt}`.
    pub fn reply_id_of(client_ref: &str) -> ReplyId {
        let rest = client_ref.strip_prefix('r').unwrap();
        rest.split('a').next().unwrap().parse().unwrap()
    }

    pub async fn record(&self, id: ReplyId) -> ReplyRecord {
        self.store.get(id).await.unwrap().unwrap()
    }

    pub async fn counter(&self, name: &str) -> u64 {
        self.engine.stats().await.unwrap().counter(name)
    }
}

impl Harness {
    /// Every reply stored so far (the in-memory store numbers them from 1).
    pub async fn records(&self) -> Vec<ReplyRecord> {
        let mut out = Vec::new();
        let mut id = 1;
        while out.len() < self.store.reply_count() && id < 100_000 {
            if let Some(r) = self.store.get(id).await.unwrap() {
                out.push(r);
            }
            id += 1;
        }
        out
    }
}

/// Shorthands for settings.
pub struct EngineConfigExt;

impl EngineConfigExt {
    pub fn with_delay(d: Duration) -> EngineConfig {
        EngineConfig {
            reply_delay: d,
            ..exact_config()
        }
    }
}

/// `Clock::now` without importing the trait in every test.
pub trait NowTs {
    fn now_ts(&self) -> Timestamp;
}

impl NowTs for ManualClock {
    fn now_ts(&self) -> Timestamp {
        antirelou_core::Clock::now(self)
    }
}

/// An engine clock that follows tokio's clock (paused in tests), for tests where real waits
/// (pacing, slow providers) must also move the engine's time.
#[derive(Debug)]
pub struct TokioClock {
    base: Timestamp,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(base: Timestamp) -> Self {
        TokioClock {
            base,
            start: tokio::time::Instant::now(),
        }
    }
}

impl antirelou_core::Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.base.add(self.start.elapsed())
    }
}

/// An engine whose ledger has a daily cap `daily` and the configured price `price_per_segment`,
/// sending through `stub`, claiming `claim_batch` replies a tick, converting prices with
/// `currency`.
pub fn capped(
    daily: antirelou_core::Money,
    price_per_segment: antirelou_core::Money,
    stub: StubTransport,
    claim_batch: usize,
    currency: antirelou_core::CurrencyRates,
) -> Harness {
    Setup {
        config: EngineConfig {
            caps: antirelou_core::store::SpendCaps {
                daily: Some(daily),
                monthly: None,
            },
            price_per_segment,
            currency,
            claim_batch,
            ..exact_config()
        },
        stub,
        ..Setup::default()
    }
    .build()
}

/// `n` men (`mobile(0..n)`) text once each; the clock then moves past their lessons' delay.
pub async fn men_text_then_an_hour(h: &Harness, n: u32) {
    use antirelou_core::InboundHandler as _;
    for i in 0..n {
        h.engine
            .handle_sms(sms(&format!("SM{i}"), &mobile(i), "hi"))
            .await
            .unwrap();
    }
    h.clock.advance(HOUR);
}
