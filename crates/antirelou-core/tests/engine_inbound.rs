//! Inbound texts: duplicates, STOP / START, unknown numbers, undialable senders, the policy.
#![allow(clippy::unwrap_used)]

mod engine_support;

use std::sync::Arc;

use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason};
use antirelou_core::store::{OptOutStore, ReplyState};
use antirelou_core::{Caller, InboundHandler, PhoneNumber, SmsOutcome};
use engine_support::*;

#[tokio::test]
async fn a_duplicate_delivery_schedules_once() {
    let h = harness();
    assert_eq!(
        h.engine
            .handle_sms(sms("SMdup", &man(), "hi"))
            .await
            .unwrap(),
        SmsOutcome::Scheduled
    );
    for _ in 0..3 {
        assert_eq!(
            h.engine
                .handle_sms(sms("SMdup", &man(), "hi"))
                .await
                .unwrap(),
            SmsOutcome::Duplicate
        );
    }
    assert_eq!(h.store.reply_count(), 1);
    assert_eq!(h.counter("drop.duplicate").await, 3);
    assert_eq!(h.counter("lessons.scheduled").await, 1);
    // A duplicate is not a new contact: the history counts one.
    let rec = antirelou_core::store::SenderHistory::sender(&h.store, &h.engine.sender_hash(&man()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.contacts, 1);

    h.clock.advance(HOUR);
    h.dispatcher.tick().await.unwrap();
    assert_eq!(h.stub.sent_count(), 1);
}

#[tokio::test]
async fn concurrent_duplicate_deliveries_schedule_once() {
    let h = harness();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let engine = h.engine.clone();
        tasks.push(tokio::spawn(async move {
            engine
                .handle_sms(sms("SMrace", &man(), "hi"))
                .await
                .unwrap()
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == SmsOutcome::Scheduled)
            .count(),
        1
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == SmsOutcome::Duplicate)
            .count(),
        15
    );
    assert_eq!(h.store.reply_count(), 1);
}

#[tokio::test]
async fn a_second_message_from_the_same_man_is_already_taught() {
    let h = harness();
    assert_eq!(
        h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap(),
        SmsOutcome::Scheduled
    );
    assert_eq!(
        h.engine
            .handle_sms(sms("SM2", &man(), "hello?"))
            .await
            .unwrap(),
        SmsOutcome::Dropped(Reason::AlreadyTaught)
    );
    // Still taught 29 days later; again after the 30-day window.
    h.clock.advance(HOUR * 24 * 29);
    assert_eq!(
        h.engine
            .handle_sms(sms("SM3", &man(), "hello?"))
            .await
            .unwrap(),
        SmsOutcome::Dropped(Reason::AlreadyTaught)
    );
    h.clock.advance(HOUR * 24 + secs(1));
    assert_eq!(
        h.engine
            .handle_sms(sms("SM4", &man(), "hello?"))
            .await
            .unwrap(),
        SmsOutcome::Scheduled
    );
    assert_eq!(h.counter("drop.already_taught").await, 2);
}

#[tokio::test]
async fn stop_before_the_due_time_cancels_and_stays() {
    let h = harness();
    assert_eq!(
        h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap(),
        SmsOutcome::Scheduled
    );
    h.clock.advance(secs(600));
    assert_eq!(
        h.engine
            .handle_sms(sms("SM2", &man(), "STOP"))
            .await
            .unwrap(),
        SmsOutcome::OptedOut
    );
    assert!(
        h.store
            .is_opted_out(&h.engine.sender_hash(&man()))
            .await
            .unwrap()
    );
    let recs = h.records().await;
    assert_eq!(recs[0].state, ReplyState::Cancelled);
    assert_eq!(recs[0].recipient, None);

    h.clock.advance(HOUR);
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 0);
    assert_eq!(h.stub.attempts(), 0);

    // Forty days later, a new text still gets nothing.
    h.clock.advance(HOUR * 24 * 40);
    assert_eq!(
        h.engine
            .handle_sms(sms("SM3", &man(), "hi again"))
            .await
            .unwrap(),
        SmsOutcome::Dropped(Reason::OptedOut)
    );
    h.clock.advance(HOUR * 2);
    h.dispatcher.tick().await.unwrap();
    assert_eq!(h.stub.attempts(), 0);
    assert_eq!(h.counter("optout.recorded").await, 1);
}

#[tokio::test]
async fn stop_words_in_every_form_and_start_reenables() {
    let h = harness();
    let words = [
        "STOP",
        "stop",
        "Arrêt",
        "ARRET",
        "arret",
        "ARRÊT.",
        " Unsubscribe ",
        "quit",
        "désinscription",
    ];
    for (i, w) in words.iter().enumerate() {
        let from = mobile(i as u32);
        assert_eq!(
            h.engine
                .handle_sms(sms(&format!("SMa{i}"), &from, "hi"))
                .await
                .unwrap(),
            SmsOutcome::Scheduled
        );
        assert_eq!(
            h.engine
                .handle_sms(sms(&format!("SMb{i}"), &from, w))
                .await
                .unwrap(),
            SmsOutcome::OptedOut,
            "{w:?}"
        );
    }
    // Not keywords: sentences containing them.
    let other = mobile(100);
    assert_eq!(
        h.engine
            .handle_sms(sms("SMc", &other, "stop texting me"))
            .await
            .unwrap(),
        SmsOutcome::Scheduled
    );

    h.clock.advance(HOUR);
    h.dispatcher.tick().await.unwrap();
    let sent = h.stub.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, other);

    // START: opted in again, and the next lesson (after the window) is sent.
    let back = mobile(0);
    assert_eq!(
        h.engine
            .handle_sms(sms("SMd", &back, "start"))
            .await
            .unwrap(),
        SmsOutcome::OptedIn
    );
    assert!(
        !h.store
            .is_opted_out(&h.engine.sender_hash(&back))
            .await
            .unwrap()
    );
    assert_eq!(
        h.engine
            .handle_sms(sms("SMe", &back, "UNSTOP"))
            .await
            .unwrap(),
        SmsOutcome::OptedIn
    );
    h.clock.advance(HOUR * 24 * 31);
    assert_eq!(
        h.engine.handle_sms(sms("SMf", &back, "hi")).await.unwrap(),
        SmsOutcome::Scheduled
    );
    h.clock.advance(HOUR);
    h.dispatcher.tick().await.unwrap();
    assert_eq!(h.stub.sent().last().unwrap().to, back);
}

#[tokio::test]
async fn unknown_numbers_and_undialable_senders_are_dropped() {
    let h = harness();
    let mut to_other = sms("SM1", &man(), "hi");
    to_other.to = PhoneNumber::parse("+33142685300").unwrap();
    assert_eq!(
        h.engine.handle_sms(to_other).await.unwrap(),
        SmsOutcome::Dropped(Reason::UnknownNumber)
    );

    for from in [
        Caller::Withheld,
        Caller::parse("36665").unwrap(),
        Caller::parse("PROMO").unwrap(),
    ] {
        let mut m = sms("SM2", &man(), "hi");
        m.from = from;
        assert_eq!(
            h.engine.handle_sms(m).await.unwrap(),
            SmsOutcome::Dropped(Reason::NotDialable)
        );
    }
    assert_eq!(h.store.reply_count(), 0);
    assert_eq!(h.counter("drop.unknown_number").await, 1);
    assert_eq!(h.counter("drop.not_dialable").await, 3);
}

/// Denies premium-rate senders on `check`; on `recheck`, denies everyone once armed.
#[derive(Debug, Default)]
struct TestPolicy {
    deny_at_send: std::sync::atomic::AtomicBool,
}

impl AbusePolicy for TestPolicy {
    fn check(&self, c: &Contact) -> Decision {
        if c.sender_kind == antirelou_core::NumberKind::PremiumRate {
            Decision::Deny(Reason::OriginKind)
        } else {
            Decision::Allow
        }
    }
    fn recheck(&self, _: &Contact) -> Decision {
        if self.deny_at_send.load(std::sync::atomic::Ordering::SeqCst) {
            Decision::Deny(Reason::Blocklisted)
        } else {
            Decision::Allow
        }
    }
}

#[tokio::test]
async fn the_policy_decides_on_arrival_and_again_at_send_time() {
    let policy = Arc::new(TestPolicy::default());
    let h = Setup {
        policy: Some(policy.clone()),
        ..Setup::default()
    }
    .build();
    let premium = PhoneNumber::parse("+33899123456").unwrap();
    assert_eq!(
        h.engine
            .handle_sms(sms("SM1", &premium, "hi"))
            .await
            .unwrap(),
        SmsOutcome::Dropped(Reason::OriginKind)
    );
    assert_eq!(
        h.engine.handle_sms(sms("SM2", &man(), "hi")).await.unwrap(),
        SmsOutcome::Scheduled
    );
    policy
        .deny_at_send
        .store(true, std::sync::atomic::Ordering::SeqCst);
    h.clock.advance(HOUR);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.cancelled), (0, 1));
    assert_eq!(h.stub.attempts(), 0);
    let recs = h.records().await;
    assert_eq!(recs[0].state, ReplyState::Cancelled);
    assert_eq!(recs[0].last_error.as_deref(), Some("blocklisted"));
    assert_eq!(h.counter("drop.origin_kind").await, 1);
    assert_eq!(h.counter("drop.blocklisted").await, 1);
}

#[tokio::test]
async fn stop_at_the_provider_records_an_opt_out() {
    let h = harness();
    h.stub
        .fail_next(1, antirelou_core::stub::FailureKind::OptedOut);
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.clock.advance(HOUR);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.failed), (0, 1));
    assert!(
        h.store
            .is_opted_out(&h.engine.sender_hash(&man()))
            .await
            .unwrap()
    );
    assert_eq!(h.records().await[0].state, ReplyState::Failed);
    h.clock.advance(HOUR * 24 * 31);
    assert_eq!(
        h.engine.handle_sms(sms("SM2", &man(), "hi")).await.unwrap(),
        SmsOutcome::Dropped(Reason::OptedOut)
    );
}

#[tokio::test]
async fn an_opt_out_at_the_provider_cancels_what_is_still_pending() {
    let mut setup = Setup::default();
    setup.number.neutral_first_reply = true;
    let h = setup.build();
    h.stub
        .fail_next(1, antirelou_core::stub::FailureKind::OptedOut);
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    // The neutral reply fails: he had opted out at the carrier.
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!(r.failed, 1);
    h.clock.advance(HOUR);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.claimed, r.sent), (0, 0));
    assert_eq!(h.stub.attempts(), 1);
    let states: Vec<ReplyState> = h.records().await.iter().map(|r| r.state).collect();
    assert!(
        states.contains(&ReplyState::Cancelled) && states.contains(&ReplyState::Failed),
        "{states:?}"
    );
}

#[tokio::test]
async fn an_opt_out_recorded_while_a_reply_is_claimed_is_honoured_at_send_time() {
    use antirelou_core::store::ReplyQueue;
    let h = harness();
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.clock.advance(HOUR);
    // A worker claims the reply and dies; STOP arrives while it is claimed (cancel_pending
    // skips claimed replies).
    let claimed = h
        .store
        .claim_due(h.clock.now_ts(), secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        h.engine
            .handle_sms(sms("SM2", &man(), "STOP"))
            .await
            .unwrap(),
        SmsOutcome::OptedOut
    );
    h.clock.advance(secs(61));
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.claimed, r.sent, r.cancelled), (1, 0, 1));
    assert_eq!(h.stub.attempts(), 0);
}
