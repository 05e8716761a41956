//! Spend: the cap stops SMS (the reply waits for the next day) while calls still get the lesson;
//! the ledger is settled at the real price, corrected by delivery reports.
#![allow(clippy::unwrap_used)]

mod engine_support;

use antirelou_core::engine::EngineConfig;
use antirelou_core::event::{DeliveryReport, DeliveryState, ProviderId};
use antirelou_core::store::{ReplyState, SpendCaps, SpendLedger};
use antirelou_core::stub::{FailureKind, StubTransport};
use antirelou_core::voice::{VoiceHint, VoiceScript};
use antirelou_core::{Caller, Clock, InboundHandler, Money};
use engine_support::*;

const PRICE: Money = Money::from_micros(76_270);

#[tokio::test]
async fn the_daily_cap_defers_texts_while_calls_still_get_the_lesson() {
    // Room for two one-segment lessons a day.
    let caps = SpendCaps {
        daily: Some(Money::from_micros(2 * 76_270)),
        monthly: None,
    };
    let h = Setup {
        config: EngineConfig {
            caps,
            ..exact_config()
        },
        ..Setup::default()
    }
    .build();
    men_text_then_an_hour(&h, 3).await;
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.budget_deferred), (2, 1));
    assert_eq!(h.stub.sent_count(), 2);
    let stats = h.engine.stats().await.unwrap();
    assert_eq!(stats.spend.day, PRICE * 2);
    assert_eq!(stats.counter("budget.deferred"), 1);

    // The deferred reply waits for the next UTC day (the text came on 2017-10-30 at 12:00), one
    // second in: a text's lesson ranks 1 (a caller's would be due at midnight sharp).
    let deferred = h
        .records()
        .await
        .into_iter()
        .find(|r| r.state == ReplyState::Pending)
        .unwrap();
    assert_eq!(format!("{}", deferred.due_at), "2017-10-31T00:00:01.000Z");

    // Calls cost no SMS: a caller still hears the lesson.
    let mut setup_decoy_off = h.engine.numbers().get(&ours()).unwrap();
    setup_decoy_off.decoy.enabled = false;
    h.engine.numbers().add(setup_decoy_off).unwrap();
    let script = h
        .engine
        .handle_call(call("CA1", Caller::Number(mobile(50))))
        .await
        .unwrap();
    assert_eq!(
        script,
        VoiceScript::builder()
            .say(LESSON_VOICE, "fr-FR", VoiceHint::Female)
            .hangup()
            .build()
    );

    // Midnight: the cap opens again and the lesson leaves (within its 24-hour deadline).
    h.clock.set(deferred.due_at);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!(r.sent, 1);
    assert_eq!(h.stub.sent_count(), 3);
    assert_eq!(h.engine.stats().await.unwrap().spend.day, PRICE);
}

#[tokio::test]
async fn a_reply_whose_deadline_comes_before_the_cap_opens_expires() {
    // The text comes at 12:00 with a deadline and a defer horizon of 6 hours: the cap only opens
    // at midnight. Dropped at once, counted as deferred too long, and the man's slot is free.
    let caps = SpendCaps {
        daily: Some(Money::from_micros(1)),
        monthly: None,
    };
    let config = EngineConfig {
        caps,
        reply_deadline: secs(6 * 3600),
        defer_horizon: secs(6 * 3600),
        ..exact_config()
    };
    let h = Setup {
        config,
        ..Setup::default()
    }
    .build();
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.clock.advance(HOUR);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.expired, r.budget_deferred), (0, 1, 0));
    assert_eq!(h.stub.attempts(), 0);
    assert_eq!(h.counter("drop.deferred_too_long").await, 1);
    assert_eq!(h.counter("lessons.released").await, 1);
    assert_eq!(h.engine.deferred_lessons(), 0);
}

#[tokio::test]
async fn the_ledger_is_settled_at_the_real_price_and_corrected_by_reports() {
    // A provider that gives no price at once (Twilio): settled at our estimate, then corrected.
    let h = harness();
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.clock.advance(HOUR);
    h.dispatcher.tick().await.unwrap();
    assert_eq!(h.engine.stats().await.unwrap().spend.day, PRICE);
    let provider_id = h.stub.sent()[0].provider_id.clone();
    h.engine
        .handle_delivery(DeliveryReport {
            provider: ProviderId::from_static("twilio"),
            message_id: provider_id.clone(),
            state: DeliveryState::Delivered,
            price: Some(antirelou_core::Price::new(
                Money::from_micros(50_000),
                antirelou_core::Currency::EUR,
            )),
            error_code: None,
            failure: None,
        })
        .await
        .unwrap();
    assert_eq!(
        h.engine.stats().await.unwrap().spend.day,
        Money::from_micros(50_000)
    );
    let rec = h.records().await.remove(0);
    assert_eq!(rec.delivery, Some(DeliveryState::Delivered));
    assert_eq!(h.store.open_reservations(), 0);

    // A provider that prices at once (Vonage): settled at its price, no correction twice.
    let priced = Setup {
        stub: antirelou_core::stub::StubTransport::new().with_price(antirelou_core::Price::new(
            Money::from_micros(33_300),
            antirelou_core::Currency::EUR,
        )),
        ..Setup::default()
    }
    .build();
    priced
        .engine
        .handle_sms(sms("SM1", &man(), "hi"))
        .await
        .unwrap();
    priced.clock.advance(HOUR);
    priced.dispatcher.tick().await.unwrap();
    assert_eq!(
        priced.engine.stats().await.unwrap().spend.day,
        Money::from_micros(33_300)
    );
    priced
        .engine
        .handle_delivery(DeliveryReport {
            provider: ProviderId::from_static("twilio"),
            message_id: priced.stub.sent()[0].provider_id.clone(),
            state: DeliveryState::Delivered,
            price: Some(antirelou_core::Price::new(
                Money::from_micros(33_300),
                antirelou_core::Currency::EUR,
            )),
            error_code: None,
            failure: None,
        })
        .await
        .unwrap();
    assert_eq!(
        priced.engine.stats().await.unwrap().spend.day,
        Money::from_micros(33_300)
    );
    assert_eq!(priced.counter("spend.micros").await, 33_300);
}

/// A lesson whose first claim failed transiently (so it may have reached the provider), claimed
/// again when the cap is reached and dropped past its deadline: his lesson slot is given back
/// only when the provider says no earlier claim was accepted.
async fn slot_after_a_capped_retry(stub: StubTransport) -> u64 {
    let caps = SpendCaps {
        daily: Some(PRICE),
        monthly: None,
    };
    let config = EngineConfig {
        caps,
        reply_deadline: secs(6 * 3600),
        defer_horizon: secs(6 * 3600),
        ..exact_config()
    };
    let h = Setup {
        config,
        stub,
        ..Setup::default()
    }
    .build();
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.clock.advance(HOUR);
    h.stub
        .fail_next(1, FailureKind::Transient { retry_after: None });
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!(r.retried, 1);
    // The cap fills meanwhile (another reply's spend).
    SpendLedger::record(&h.store, PRICE, h.clock.now())
        .await
        .unwrap();
    h.clock.advance(HOUR);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.expired), (0, 1));
    assert_eq!(h.counter("drop.deferred_too_long").await, 1);
    h.counter("lessons.released").await
}

#[tokio::test]
async fn a_capped_retry_the_provider_cannot_tell_about_keeps_the_lesson_slot() {
    // The stub answers `find_accepted` with "unknown": the first claim may have taught him.
    assert_eq!(slot_after_a_capped_retry(StubTransport::new()).await, 0);
}

#[tokio::test]
async fn a_capped_retry_the_provider_never_accepted_gives_the_lesson_slot_back() {
    // The stub looks its sends up: none was accepted, he never got the lesson.
    assert_eq!(
        slot_after_a_capped_retry(StubTransport::new().with_lookup()).await,
        1
    );
}
