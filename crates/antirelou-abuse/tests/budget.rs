//! The budget reaches the policies: the flood detector's view of the money left and the global
//! pace sized from the daily cap, fed from the store's ledger once or by the background
//! refresher. A legitimate surge the budget can pay is never paced out.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use antirelou_abuse::{AbuseConfig, DefaultPolicies};
use antirelou_core::catalogue::{Catalogue, Locale};
use antirelou_core::engine::{Engine, EngineConfig, NumberConfig, Transports};
use antirelou_core::memory::InMemoryStore;
use antirelou_core::phone::Region;
use antirelou_core::policy::{AbusePolicy, Contact, Decision};
use antirelou_core::privacy::NumberHasher;
use antirelou_core::runtime::{Runtime, feed_spend, lesson_segments};
use antirelou_core::store::{SpendCaps, SpendSummary};
use antirelou_core::{Clock, ManualClock, Money, Timestamp};
use antirelou_core::{PhoneNumber, ProviderId};

/// 2024-03-08T04:00:00Z.
const T0: i64 = 1_709_870_400_000;
const NUMBER: u64 = 33_939_990_042;

fn policies() -> DefaultPolicies {
    DefaultPolicies::new(
        Region::new("FR").ok(),
        &AbuseConfig {
            recent_capacity: 1 << 16,
            hash_seed: Some(1),
            ..AbuseConfig::default()
        },
    )
    .unwrap()
}

fn text(sender_key: u64, at_ms: i64) -> Contact {
    support::french_text(sender_key, NUMBER, at_ms)
}

fn caps(daily_eur: f64) -> SpendCaps {
    SpendCaps {
        daily: Some(Money::from_units_f64(daily_eur)),
        monthly: None,
    }
}

/// `per_minute` new senders a minute for an hour, each texting once (French mobiles spread
/// over the whole range: no number block stands out). Returns how many were allowed.
fn surge(chain: &dyn AbusePolicy, per_minute: i64) -> i64 {
    let mut allowed = 0;
    for i in 0..60 * per_minute {
        let sender = 33_600_000_000 + (i as u64 * 7_919_993) % 100_000_000;
        let at = T0 + i * 60_000 / per_minute;
        if chain.check(&text(sender, at)) == Decision::Allow {
            allowed += 1;
        }
    }
    allowed
}

#[test]
fn a_viral_surge_the_budget_can_pay_is_never_paced_out() {
    // A TV segment: 70 new people a minute for an hour (4,200), a daily cap of €700 and a
    // one-segment lesson at €0.07627 (9,177 lessons a day).
    let p = policies();
    p.refresh_budget(
        &caps(700.0),
        SpendSummary::default(),
        Money::from_micros(76_270),
    );
    // The flood detector knows the money: 9,177 lessons over its one-hour horizon.
    assert_eq!(p.flood.affordable_per_bucket(), Some(152));
    // The pace would spend the cap in no less than two hours: 76 a minute, above the floor.
    assert_eq!(p.pace.per_minute(), 76);
    let chain = p.chain();
    assert_eq!(surge(&chain, 70), 4_200, "every new sender allowed");
    assert!(!p.flood.status(NUMBER).degraded);

    // Without the budget the floor (60 a minute) is all the pace knows: the surge loses people.
    let blind = policies();
    let chain = blind.chain();
    let allowed = surge(&chain, 70);
    assert!(allowed < 4_000, "{allowed}");
}

#[test]
fn a_surge_beyond_the_budget_is_a_flood_and_the_pace_stays_at_its_floor() {
    // €20 a day: 262 lessons. 70 new senders a minute would spend it in four minutes.
    let p = policies();
    p.refresh_budget(
        &caps(20.0),
        SpendSummary::default(),
        Money::from_micros(76_270),
    );
    assert_eq!(p.flood.affordable_per_bucket(), Some(4));
    assert_eq!(p.pace.per_minute(), 60, "262 / 120 min is below the floor");
    let chain = p.chain();
    let allowed = surge(&chain, 70);
    assert!(p.flood.status(NUMBER).degraded);
    assert!(allowed < 262, "{allowed}");
}

#[test]
fn the_smaller_of_the_daily_and_monthly_remainders_counts() {
    let p = policies();
    let caps = SpendCaps {
        daily: Some(Money::from_units_f64(100.0)),
        monthly: Some(Money::from_units_f64(1_000.0)),
    };
    let lesson = Money::from_units_f64(0.10);
    // Day: €60 left; month: €30 left: 300 lessons over the hour, 5 a minute.
    let spent = SpendSummary {
        day: Money::from_units_f64(40.0),
        month: Money::from_units_f64(970.0),
    };
    p.refresh_budget(&caps, spent, lesson);
    assert_eq!(p.flood.affordable_per_bucket(), Some(5));
    // Monthly cap only: a thirtieth of it sizes the pace (€3,000 / 30 / €0.10 / 120 min = 8).
    let monthly = SpendCaps {
        daily: None,
        monthly: Some(Money::from_units_f64(3_000.0)),
    };
    p.refresh_budget(&monthly, SpendSummary::default(), lesson);
    assert_eq!(p.flood.affordable_per_bucket(), Some(500));
    assert_eq!(p.pace.per_minute(), 60);
    // No cap at all: no budget limit, the pace at its floor.
    p.refresh_budget(&SpendCaps::default(), SpendSummary::default(), lesson);
    assert_eq!(p.flood.affordable_per_bucket(), None);
    assert_eq!(p.pace.per_minute(), 60);
}

fn engine_with(sms: String, p: &DefaultPolicies, clock: &ManualClock) -> Engine {
    let locale = Locale::new("fr-FR").unwrap();
    let mut lessons = Catalogue::builtin().lookup(&locale).unwrap().clone();
    lessons.sms = sms;
    let mut number = NumberConfig::new(
        PhoneNumber::parse("+33939990042").unwrap(),
        locale,
        ProviderId::from_static("twilio"),
    );
    number.lessons = Some(lessons);
    Engine::builder(
        Arc::new(InMemoryStore::new()),
        NumberHasher::new(b"a secret of sixteen bytes").unwrap(),
    )
    .clock(Arc::new(clock.clone()))
    .policy(Arc::new(p.chain()))
    .config(EngineConfig {
        caps: caps(90.0),
        price_per_segment: Money::from_units_f64(0.10),
        ..EngineConfig::default()
    })
    .number(number)
    .build()
    .unwrap()
}

/// The runtime feeds the engine's policy chain from the ledger, at most every `spend_every` of
/// the engine's clock, and the next day the daily cap is whole again.
#[tokio::test]
async fn the_runtime_feed_follows_the_ledger() {
    let p = policies();
    let clock = ManualClock::new(Timestamp::from_millis(T0));
    let engine = engine_with("Short lesson.".into(), &p, &clock);
    let runtime = Runtime::builder(engine.clone(), Transports::new())
        .spend_every(Duration::from_secs(5))
        .no_purge()
        .build();
    runtime.maintain().await.unwrap();
    // At once: €90 left, €0.10 a lesson, 900 lessons over the hour, 15 a minute.
    assert_eq!(p.flood.affordable_per_bucket(), Some(15));
    // €60 spent: not seen before the next feed is due.
    engine
        .store()
        .record(Money::from_units_f64(60.0), clock.now())
        .await
        .unwrap();
    runtime.maintain().await.unwrap();
    assert_eq!(p.flood.affordable_per_bucket(), Some(15));
    clock.advance(Duration::from_secs(5));
    runtime.maintain().await.unwrap();
    assert_eq!(p.flood.affordable_per_bucket(), Some(5));
    clock.advance(Duration::from_secs(86_400));
    runtime.maintain().await.unwrap();
    assert_eq!(p.flood.affordable_per_bucket(), Some(15));
}

/// The feed reads the lesson's real segment count: a three-segment lesson makes the budget pay
/// for a third as many lessons as one segment would (the reference server once assumed two
/// segments whatever the lesson).
#[tokio::test]
async fn the_engine_feed_counts_the_lessons_real_segments() {
    let p = policies();
    let clock = ManualClock::new(Timestamp::from_millis(T0));
    // 400 GSM-7 characters: three segments of 153.
    let long = engine_with("a".repeat(400), &p, &clock);
    assert_eq!(lesson_segments(&long), 3);
    feed_spend(&long).await.unwrap();
    // €90 left, €0.30 a lesson: 300 lessons over the one-hour horizon, 5 a minute.
    assert_eq!(p.flood.affordable_per_bucket(), Some(5));
    // A one-segment lesson: 900 lessons, 15 a minute.
    let short = engine_with("Short lesson.".into(), &p, &clock);
    feed_spend(&short).await.unwrap();
    assert_eq!(p.flood.affordable_per_bucket(), Some(15));
    // Spend shows at once.
    short
        .store()
        .record(Money::from_units_f64(45.0), Timestamp::from_millis(T0))
        .await
        .unwrap();
    feed_spend(&short).await.unwrap();
    assert_eq!(p.flood.affordable_per_bucket(), Some(7));
}
