//! Deferral: "not now, not refused". A lesson the policy defers (a flood, the pace) or the cap
//! cannot pay is held in the reply queue, sent when the pressure lifts in priority order, and
//! dropped, counted, with the man's slot given back, past the defer horizon; the engine holds at
//! most `max_deferred` of them.
#![allow(clippy::unwrap_used)]

mod engine_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use antirelou_core::engine::EngineConfig;
use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason, TextFingerprint};
use antirelou_core::store::{ReplyState, SpendCaps};
use antirelou_core::{InboundHandler, Money, SmsOutcome};
use engine_support::*;

/// Defers every SMS while `pressure` is set; ranks senders from a table.
#[derive(Debug, Default)]
struct Pressure {
    pressure: AtomicBool,
    ranks: HashMap<u64, u8>,
}

impl Pressure {
    fn decide(&self) -> Decision {
        if self.pressure.load(Ordering::SeqCst) {
            Decision::Defer(Reason::FloodDegraded)
        } else {
            Decision::Allow
        }
    }
    fn set(&self, on: bool) {
        self.pressure.store(on, Ordering::SeqCst);
    }
}

impl AbusePolicy for Pressure {
    fn check(&self, _: &Contact) -> Decision {
        self.decide()
    }
    fn recheck(&self, _: &Contact) -> Decision {
        self.decide()
    }
    fn defer_rank(&self, c: &Contact, _: Option<TextFingerprint>) -> u8 {
        self.ranks.get(&c.sender_key).copied().unwrap_or(0)
    }
}

fn setup(policy: Arc<Pressure>, config: EngineConfig) -> Harness {
    Setup {
        config,
        policy: Some(policy),
        ..Setup::default()
    }
    .build()
}

#[tokio::test]
async fn a_flood_deferred_lesson_is_sent_after_the_flood_ends() {
    let p = Arc::new(Pressure::default());
    p.set(true);
    let h = setup(p.clone(), exact_config());
    let out = h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    assert_eq!(out, SmsOutcome::Scheduled);
    assert_eq!(h.counter("deferred.flood_degraded").await, 1);
    assert_eq!(h.engine.deferred_lessons(), 1);
    // His slot is taken: a second text schedules nothing.
    let again = h.engine.handle_sms(sms("SM2", &man(), "hi")).await.unwrap();
    assert_eq!(again, SmsOutcome::Dropped(Reason::AlreadyTaught));

    // An hour later the flood goes on: held back, not sent, not cancelled.
    h.clock.advance(HOUR);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.deferred, r.cancelled), (0, 1, 0));
    assert_eq!(h.stub.sent_count(), 0);
    let rec = h.records().await.remove(0);
    assert_eq!(rec.state, ReplyState::Pending);

    // The flood ends; at the next look the lesson goes out, and nothing stays held.
    p.set(false);
    h.clock.set(rec.due_at);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!(r.sent, 1);
    assert_eq!(h.stub.sent()[0].body, LESSON_SMS);
    assert_eq!(h.engine.deferred_lessons(), 0);
}

#[tokio::test]
async fn a_lesson_deferred_past_the_horizon_is_dropped_counted_and_frees_the_slot() {
    let p = Arc::new(Pressure::default());
    p.set(true);
    let config = EngineConfig {
        defer_horizon: secs(3 * 3600),
        reply_deadline: secs(600),
        ..exact_config()
    };
    let h = setup(p.clone(), config);
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    // Look every five minutes for four hours: the flood never ends.
    for _ in 0..48 {
        h.clock.advance(secs(300));
        h.dispatcher.tick().await.unwrap();
    }
    assert_eq!(h.stub.sent_count(), 0);
    assert_eq!(h.counter("drop.deferred_too_long").await, 1);
    assert_eq!(h.counter("drop.expired").await, 0);
    assert_eq!(h.counter("lessons.released").await, 1);
    assert_eq!(h.engine.deferred_lessons(), 0);
    let rec = h.records().await.remove(0);
    assert_eq!(rec.state, ReplyState::Expired);
    // His slot is free: his next text schedules a lesson, sent once the flood is over.
    p.set(false);
    let out = h.engine.handle_sms(sms("SM2", &man(), "hi")).await.unwrap();
    assert_eq!(out, SmsOutcome::Scheduled);
    h.clock.advance(HOUR);
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 1);
}

#[tokio::test]
async fn beyond_max_deferred_a_lesson_is_refused_and_counted() {
    let p = Arc::new(Pressure::default());
    p.set(true);
    let config = EngineConfig {
        max_deferred: 2,
        ..exact_config()
    };
    let h = setup(p.clone(), config);
    for i in 0..2 {
        let out = h
            .engine
            .handle_sms(sms(&format!("SM{i}"), &mobile(i), "hi"))
            .await
            .unwrap();
        assert_eq!(out, SmsOutcome::Scheduled);
    }
    let out = h
        .engine
        .handle_sms(sms("SM9", &mobile(9), "hi"))
        .await
        .unwrap();
    assert_eq!(out, SmsOutcome::Dropped(Reason::DeferLimit));
    assert_eq!(h.counter("drop.defer_limit").await, 1);
    assert_eq!(h.counter("deferred.flood_degraded").await, 2);
    assert_eq!(h.engine.deferred_lessons(), 2);
    assert_eq!(h.store.reply_count(), 2);
}

#[tokio::test]
async fn a_full_bound_gives_a_worse_ranked_place_to_a_better_ranked_man() {
    // Two raid numbers (rank 3) fill the bound; an ordinary man (rank 0) texts after them.
    let (r1, r2, man) = (mobile(1), mobile(2), mobile(3));
    let p = Arc::new(Pressure {
        pressure: AtomicBool::new(true),
        ranks: HashMap::from([(r1.key(), 2), (r2.key(), 2)]),
    });
    let config = EngineConfig {
        max_deferred: 2,
        ..exact_config()
    };
    let h = setup(p.clone(), config);
    for (i, m) in [&r1, &r2, &man].into_iter().enumerate() {
        let out = h
            .engine
            .handle_sms(sms(&format!("SM{i}"), m, "hi"))
            .await
            .unwrap();
        assert_eq!(out, SmsOutcome::Scheduled, "text {i}");
    }
    assert_eq!(h.counter("deferred.displaced").await, 1);
    assert_eq!(h.counter("drop.defer_limit").await, 0);
    assert_eq!(h.engine.deferred_lessons(), 2);
    // At their release the pressure goes on: the displaced raid lesson finds no worse rank
    // to displace and is cancelled, counted; the man's lesson and the other raid one wait.
    h.clock.advance(HOUR);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.deferred, r.cancelled), (0, 2, 1));
    assert_eq!(h.counter("drop.defer_limit").await, 1);
    // The pressure lifts: the man's lesson goes out first, nothing is doubled.
    p.set(false);
    h.clock.advance(secs(600));
    h.dispatcher.tick().await.unwrap();
    let sent = h.stub.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].to, man);
    assert_eq!(h.engine.deferred_lessons(), 0);
}

#[tokio::test]
async fn when_the_pressure_lifts_lessons_go_out_in_priority_order() {
    // Three men text during a flood; the policy ranks them C (0) before B (1) before A (2).
    let (a, b, c) = (mobile(1), mobile(2), mobile(3));
    let p = Arc::new(Pressure {
        pressure: AtomicBool::new(true),
        ranks: HashMap::from([(a.key(), 2), (b.key(), 1), (c.key(), 0)]),
    });
    // Room for one lesson a day.
    let config = EngineConfig {
        caps: SpendCaps {
            daily: Some(Money::from_micros(76_270)),
            monthly: None,
        },
        ..exact_config()
    };
    let h = setup(p.clone(), config);
    for (i, m) in [&a, &b, &c].into_iter().enumerate() {
        h.engine
            .handle_sms(sms(&format!("SM{i}"), m, "hi"))
            .await
            .unwrap();
    }
    h.clock.advance(HOUR);
    assert_eq!(h.dispatcher.tick().await.unwrap().deferred, 3);
    // The flood ends: at the next look, C goes first and takes the day's budget.
    p.set(false);
    h.clock.advance(secs(600));
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.budget_deferred), (1, 2));
    assert_eq!(h.stub.sent()[0].to, c);
    // Next day: B before A.
    h.clock.advance(secs(24 * 3600));
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!(r.sent, 1);
    assert_eq!(h.stub.sent()[1].to, b);
    h.clock.advance(secs(24 * 3600));
    h.dispatcher.tick().await.unwrap();
    assert_eq!(h.stub.sent()[2].to, a);
    assert_eq!(h.engine.deferred_lessons(), 0);
}

/// A two-segment lesson with a one-segment short form.
fn long_lessons() -> antirelou_core::catalogue::Catalogue {
    let mut set = lessons("fr-FR");
    set.sms = "LESSON ".repeat(30);
    let mut c = antirelou_core::catalogue::Catalogue::default();
    c.insert(set);
    c
}

const SEGMENT: Money = Money::from_micros(76_270);

/// An engine with two-segment lessons, a daily cap of `daily` and the short form above
/// `short_form_above` of it.
fn long_lessons_capped(daily: Money, short_form_above: f64) -> Harness {
    Setup {
        config: EngineConfig {
            caps: SpendCaps {
                daily: Some(daily),
                monthly: None,
            },
            short_form_above,
            ..exact_config()
        },
        catalogue: long_lessons(),
        ..Setup::default()
    }
    .build()
}

#[tokio::test]
async fn when_the_full_form_does_not_fit_the_short_form_goes_and_costs_one_segment() {
    // Room for three segments a day: one full lesson (two), then only the short form fits.
    let h = long_lessons_capped(SEGMENT * 3, 1.0);
    men_text_then_an_hour(&h, 3).await;
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.deferred), (2, 1));
    let sent = h.stub.sent();
    assert_eq!(sent[0].body, "LESSON ".repeat(30));
    assert_eq!(sent[1].body, LESSON_SHORT);
    assert_eq!(h.counter("lesson.short_form").await, 1);
    // The ledger charged two segments and one: the cap is exactly spent.
    assert_eq!(h.engine.stats().await.unwrap().spend.day, SEGMENT * 3);
    assert_eq!(h.counter("deferred.budget_exhausted").await, 1);
}

#[tokio::test]
async fn above_the_configured_share_of_the_cap_lessons_go_out_short() {
    // Cap of ten segments, short form above 30 %: two full lessons (four segments, 40 %), then
    // short ones.
    let h = long_lessons_capped(SEGMENT * 10, 0.3);
    men_text_then_an_hour(&h, 4).await;
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 4);
    let bodies: Vec<String> = h.stub.sent().into_iter().map(|m| m.body).collect();
    assert_eq!(bodies[2], LESSON_SHORT);
    assert_eq!(bodies[3], LESSON_SHORT);
    assert_eq!(bodies[1], "LESSON ".repeat(30));
    assert_eq!(h.counter("lesson.short_form").await, 2);
    assert_eq!(h.engine.stats().await.unwrap().spend.day, SEGMENT * 6);
}

/// Two men text during a flood, A first; B called the number a minute before his text. The
/// day's cap pays one lesson. Returns who gets it when the flood ends.
async fn first_taught_when_b_called(caller_first_for: std::time::Duration) -> (bool, u64) {
    let (a, b) = (mobile(1), mobile(2));
    let p = Arc::new(Pressure {
        pressure: AtomicBool::new(true),
        ranks: HashMap::new(),
    });
    let config = EngineConfig {
        caps: SpendCaps {
            daily: Some(Money::from_micros(76_270)),
            monthly: None,
        },
        caller_first_for,
        ..exact_config()
    };
    let h = setup(p.clone(), config);
    // His call is answered by the decoy greeting (no SMS lesson for callers by default).
    h.engine
        .handle_call(call("CA1", antirelou_core::Caller::Number(b.clone())))
        .await
        .unwrap();
    h.clock.advance(secs(60));
    for (id, m) in [("SM1", &a), ("SM2", &b)] {
        assert_eq!(
            h.engine.handle_sms(sms(id, m, "hi")).await.unwrap(),
            SmsOutcome::Scheduled
        );
    }
    h.clock.advance(HOUR);
    assert_eq!(h.dispatcher.tick().await.unwrap().deferred, 2);
    p.set(false);
    h.clock.advance(secs(600));
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.budget_deferred), (1, 1));
    (
        h.stub.sent()[0].to == b,
        h.counter("lessons.caller_first").await,
    )
}

#[tokio::test]
async fn a_text_from_a_man_who_called_goes_first_when_the_pressure_lifts() {
    assert_eq!(first_taught_when_b_called(secs(24 * 3600)).await, (true, 1));
    // Without the caller's priority the same traffic goes out in arrival order: A first.
    assert_eq!(first_taught_when_b_called(secs(0)).await, (false, 0));
}
