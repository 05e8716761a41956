//! The simulated carrier: exact billing, funds shut-off, fault injection (alone and under the
//! real engine's retries).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use antirelou_core::catalogue::{Catalogue, LessonSet, Locale};
use antirelou_core::engine::{Engine, EngineConfig, NumberConfig, Transports};
use antirelou_core::memory::InMemoryStore;
use antirelou_core::privacy::NumberHasher;
use antirelou_core::store::ReplyKind;
use antirelou_core::{
    Error, ManualClock, Money, OutboundSms, PhoneNumber, SmsOutcome, SmsTransport, Timestamp,
};
use antirelou_sim::carrier::{FaultPlan, Outage, PriceOverride, Prices, Refused, SimCarrier};
use antirelou_sim::harness::SimHarness;

const T0: i64 = 1_509_098_400; // 2017-10-27T10:00:00Z

fn n(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s).unwrap()
}

fn lesson_2seg() -> String {
    antirelou_sim::scenario::LESSON_2017.to_owned()
}

fn setup() -> (ManualClock, SimCarrier) {
    let clock = ManualClock::new(Timestamp::from_secs(T0));
    let carrier = SimCarrier::new(Arc::new(clock.clone()), Prices::paris_2017());
    (clock, carrier)
}

#[tokio::test]
async fn billing_is_exact_money_arithmetic() {
    let (clock, carrier) = setup();
    let ours = n("+33600000042");
    let man = n("+33612345678");
    for _ in 0..10_000 {
        carrier.receive_sms(&man, &ours).unwrap();
    }
    assert_eq!(carrier.bill(), Money::from_micros(75_000_000)); // 10,000 × €0.0075 = €75
    let body = lesson_2seg();
    assert_eq!(antirelou_core::encoding::plan(&body).segments, 2);
    clock.advance(Duration::from_secs(3600));
    for i in 0..1_000 {
        let sms = OutboundSms::for_test(ours.clone(), man.clone(), &body, &format!("r{i}"));
        let receipt = carrier.send(&sms).await.unwrap();
        assert_eq!(receipt.segments, 2);
        assert_eq!(
            receipt.price.map(|p| p.amount),
            Some(Money::from_micros(152_540))
        );
    }
    let stats = carrier.stats();
    assert_eq!(stats.inbound_sms, 10_000);
    assert_eq!(stats.messages_sent, 1_000);
    assert_eq!(stats.segments_sent, 2_000);
    // 1,000 × 2 × €0.07627 = €152.54, exactly.
    assert_eq!(stats.spend_outbound, Money::from_micros(152_540_000));
    assert_eq!(carrier.bill(), Money::from_micros(227_540_000));
    let d = carrier.delivered();
    assert_eq!(d.len(), 1_000);
    assert_eq!(d[0].at, Timestamp::from_secs(T0 + 3600));
    assert_eq!(d[0].to, man);
    assert_eq!(d[0].reply_kind, None);
    assert_eq!(d[999].provider_id, "SIM001000");
}

#[tokio::test]
async fn per_destination_prices_and_reply_kinds() {
    let clock = ManualClock::new(Timestamp::from_secs(T0));
    let prices = Prices {
        overrides: vec![
            PriceOverride {
                prefix: "+234".into(),
                per_segment: Money::from_micros(350_000),
            },
            PriceOverride {
                prefix: "+2348".into(),
                per_segment: Money::from_micros(400_000),
            },
        ],
        ..Prices::paris_2017()
    };
    let carrier = SimCarrier::new(Arc::new(clock), prices);
    carrier.classify("Coucou", ReplyKind::Neutral);
    let ours = n("+33600000042");
    let ng = n("+2348035123456");
    let fr = n("+33612345678");
    let r = carrier
        .send(&OutboundSms::for_test(
            ours.clone(),
            ng.clone(),
            "Coucou",
            "a",
        ))
        .await
        .unwrap();
    assert_eq!(
        r.price.map(|p| p.amount),
        Some(Money::from_micros(400_000)),
        "longest prefix wins"
    );
    let r = carrier
        .send(&OutboundSms::for_test(ours, fr.clone(), "Coucou", "b"))
        .await
        .unwrap();
    assert_eq!(r.price.map(|p| p.amount), Some(Money::from_micros(76_270)));
    assert_eq!(
        carrier.delivered_to(&fr)[0].reply_kind,
        Some(ReplyKind::Neutral)
    );
}

#[tokio::test]
async fn funds_shut_the_number_off() {
    let (_clock, carrier) = setup();
    let carrier = carrier.with_funds(Money::from_micros(200_000)); // €0.20
    let ours = n("+33600000042");
    let man = n("+33612345678");
    carrier.receive_sms(&man, &ours).unwrap(); // €0.0075
    let sms = OutboundSms::for_test(ours.clone(), man.clone(), &lesson_2seg(), "r1");
    carrier.send(&sms).await.unwrap(); // €0.15254 → €0.16004
    // The next reply would take the bill to €0.31258 > €0.20: refused, number shut off.
    let err = carrier.send(&sms).await.unwrap_err();
    assert!(matches!(err, Error::Permanent { .. }), "{err}");
    assert!(carrier.shut_off_at().is_some());
    assert_eq!(
        carrier.receive_sms(&man, &ours),
        Err(Refused::FundsExhausted)
    );
    assert_eq!(carrier.accept_call(), Err(Refused::FundsExhausted));
    assert_eq!(carrier.bill(), Money::from_micros(160_040));
    let s = carrier.stats();
    assert_eq!((s.sends_refused, s.inbound_refused), (1, 2));
}

#[tokio::test]
async fn rate_limit_and_outage_are_transient_with_retry_after() {
    let (clock, carrier) = setup();
    let start = Timestamp::from_secs(T0 + 100);
    let carrier = carrier.with_faults(FaultPlan {
        rate_limit_per_second: Some(2),
        outages: vec![Outage {
            start,
            end: start.add(Duration::from_secs(300)),
        }],
        ..FaultPlan::default()
    });
    let sms = OutboundSms::for_test(n("+33600000042"), n("+33612345678"), "x", "r");
    assert!(carrier.send(&sms).await.is_ok());
    assert!(carrier.send(&sms).await.is_ok());
    let e = carrier.send(&sms).await.unwrap_err();
    assert!(e.is_transient());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
    clock.advance(Duration::from_secs(1));
    assert!(
        carrier.send(&sms).await.is_ok(),
        "a new second, a new allowance"
    );
    clock.set(start.add(Duration::from_secs(60)));
    let e = carrier.send(&sms).await.unwrap_err();
    assert!(e.is_transient());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(240)));
    clock.set(start.add(Duration::from_secs(300)));
    assert!(carrier.send(&sms).await.is_ok(), "the outage is over");
    let s = carrier.stats();
    assert_eq!(
        (s.rate_limited, s.outage_errors, s.messages_sent),
        (1, 1, 4)
    );
}

#[tokio::test]
async fn transient_error_rate_is_seeded() {
    let run = |seed| async move {
        let (_clock, carrier) = setup();
        let carrier = carrier.with_faults(FaultPlan {
            transient_error_rate: 0.3,
            seed,
            ..FaultPlan::default()
        });
        let sms = OutboundSms::for_test(n("+33600000042"), n("+33612345678"), "x", "r");
        let mut pattern = Vec::new();
        for _ in 0..1_000 {
            pattern.push(carrier.send(&sms).await.is_ok());
        }
        pattern
    };
    let a = run(1).await;
    assert_eq!(a, run(1).await);
    assert_ne!(a, run(2).await);
    let failures = a.iter().filter(|ok| !**ok).count();
    assert!(
        (230..370).contains(&failures),
        "{failures} failures at a 30% rate"
    );
}

fn engine_with(
    carrier: &SimCarrier,
    clock: &ManualClock,
    ours: &PhoneNumber,
) -> (Engine, antirelou_core::engine::Dispatcher) {
    let fr = Locale::new("fr-FR").unwrap();
    let mut catalogue = Catalogue::default();
    catalogue.insert(LessonSet {
        locale: fr.clone(),
        sms: lesson_2seg(),
        sms_short: None,
        voice: lesson_2seg(),
        neutral_reply: "Coucou".into(),
        voicemail_greeting: "Laissez un message".into(),
        out_of_service: "Hors service".into(),
        facts_as_of: "2017-10-27".into(),
        stop_keywords: vec![],
        start_keywords: vec![],
    });
    let engine = Engine::builder(
        Arc::new(InMemoryStore::new()),
        NumberHasher::new(b"a test secret of 16+ bytes").unwrap(),
    )
    .clock(Arc::new(clock.clone()))
    .catalogue(catalogue)
    .config(EngineConfig {
        backoff_jitter: 0.0,
        backoff_base: Duration::from_secs(30),
        ..EngineConfig::default()
    })
    .number(NumberConfig::new(
        ours.clone(),
        fr,
        antirelou_core::stub::PROVIDER,
    ))
    .build()
    .unwrap();
    let d = engine.dispatcher(Transports::new().with(
        antirelou_core::stub::PROVIDER,
        Arc::new(carrier.clone()),
        None,
    ));
    (engine, d)
}

#[tokio::test]
async fn the_engine_retries_through_an_outage() {
    let clock = ManualClock::new(Timestamp::from_secs(T0));
    let ours = n("+33600000042");
    let outage_start = Timestamp::from_secs(T0 + 3000);
    let carrier =
        SimCarrier::new(Arc::new(clock.clone()), Prices::paris_2017()).with_faults(FaultPlan {
            outages: vec![Outage {
                start: outage_start,
                end: outage_start.add(Duration::from_secs(1200)),
            }],
            ..FaultPlan::default()
        });
    let (engine, dispatcher) = engine_with(&carrier, &clock, &ours);
    let sim = SimHarness::new(engine, carrier.clone(), clock.clone(), ours);
    let man = sim.phone("+33612345678").unwrap();
    assert_eq!(man.text("salut").await.unwrap(), SmsOutcome::Scheduled);
    // Due at +1 h, in the middle of the outage (+50 min to +70 min).
    sim.advance(Duration::from_secs(3600));
    let r = dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.retried), (0, 1));
    assert!(man.inbox().is_empty());
    // The engine waits at least the provider's retry_after (until the outage ends).
    sim.advance(Duration::from_secs(599));
    assert_eq!(dispatcher.tick().await.unwrap().sent, 0);
    sim.advance(Duration::from_secs(1));
    assert_eq!(dispatcher.tick().await.unwrap().sent, 1);
    let inbox = man.inbox();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].at, outage_start.add(Duration::from_secs(1200)));
    assert_eq!(inbox[0].segments, 2);
    assert_eq!(carrier.stats().outage_errors, 1);
    // Billed once: the inbound text and one two-segment reply.
    assert_eq!(carrier.bill(), Money::from_micros(7_500 + 152_540));
    assert_eq!(sim.deliver_reports().await.unwrap(), 1);
    assert_eq!(sim.deliver_reports().await.unwrap(), 0);
}

#[tokio::test]
async fn the_engine_retries_random_transient_errors_until_sent() {
    let clock = ManualClock::new(Timestamp::from_secs(T0));
    let ours = n("+33600000042");
    let carrier =
        SimCarrier::new(Arc::new(clock.clone()), Prices::paris_2017()).with_faults(FaultPlan {
            transient_error_rate: 0.5,
            seed: 3,
            ..FaultPlan::default()
        });
    let (engine, dispatcher) = engine_with(&carrier, &clock, &ours);
    let sim = SimHarness::new(engine, carrier.clone(), clock.clone(), ours);
    let mut phones = Vec::new();
    for i in 0..50 {
        let p = sim.phone(&format!("+336123456{i:02}")).unwrap();
        assert_eq!(p.text("salut").await.unwrap(), SmsOutcome::Scheduled);
        phones.push(p);
    }
    let mut retried = 0;
    for _ in 0..200 {
        sim.advance(Duration::from_secs(60));
        retried += dispatcher.tick().await.unwrap().retried;
    }
    assert!(retried > 10, "{retried} retries at a 50% error rate");
    assert_eq!(carrier.stats().transient_errors, retried);
    for p in &phones {
        assert_eq!(
            p.inbox().len(),
            1,
            "every man gets exactly one lesson despite the errors"
        );
    }
}
