//! The lesson slot and its reply: a crash between them loses nothing, a lesson that ends unsent
//! for a reason that is not the man's gives the slot back, and nothing else does.
#![allow(clippy::unwrap_used)]

mod engine_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use antirelou_core::event::Channel;
use antirelou_core::money::Money;
use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason};
use antirelou_core::store::{ReplyState, SenderHistory, SpendCaps};
use antirelou_core::stub::FailureKind;
use antirelou_core::{InboundHandler, SmsOutcome};
use engine_support::*;

/// Allows on arrival; denies at send time while armed.
#[derive(Debug, Default)]
struct DenyAtSend(AtomicBool);

impl AbusePolicy for DenyAtSend {
    fn check(&self, _: &Contact) -> Decision {
        Decision::Allow
    }
    fn recheck(&self, _: &Contact) -> Decision {
        if self.0.load(Ordering::SeqCst) {
            Decision::Deny(Reason::Blocklisted)
        } else {
            Decision::Allow
        }
    }
}

#[tokio::test]
async fn a_retry_after_a_crash_before_the_lesson_was_stored_schedules_it() {
    let h = harness();
    let hash = h.engine.sender_hash(&man());
    // The first delivery got as far as counting the contact, then the process died: its
    // `schedule_lesson` never ran (so neither the slot nor the reply exists).
    h.store
        .record_contact(&hash, Channel::Sms, T0)
        .await
        .unwrap();
    assert_eq!(h.store.reply_count(), 0);
    // The provider retries the same message.
    assert_eq!(
        h.engine
            .handle_sms(sms("SMcrash", &man(), "hi"))
            .await
            .unwrap(),
        SmsOutcome::Scheduled
    );
    assert_eq!(h.store.reply_count(), 1);
    let rec = h.store.sender(&hash).await.unwrap().unwrap();
    assert_eq!(rec.last_lesson_at, Some(T0));
    // The contact was counted twice (statistics only).
    assert_eq!(rec.contacts, 2);
    // A third delivery is a duplicate and counts nothing.
    assert_eq!(
        h.engine
            .handle_sms(sms("SMcrash", &man(), "hi"))
            .await
            .unwrap(),
        SmsOutcome::Duplicate
    );
    assert_eq!(h.store.sender(&hash).await.unwrap().unwrap().contacts, 2);
    h.clock.advance(HOUR);
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 1);
    assert_eq!(h.stub.sent()[0].body, LESSON_SMS);
}

#[tokio::test]
async fn no_row_per_message_is_left_in_the_sender_history() {
    let h = harness();
    for i in 0..5 {
        h.engine
            .handle_sms(sms(&format!("SM{i}"), &mobile(i), "hi"))
            .await
            .unwrap();
        h.engine
            .handle_sms(sms(&format!("SM{i}"), &mobile(i), "hi"))
            .await
            .unwrap();
    }
    // The in-memory store's Debug shows its counts: five senders, no message hashes.
    assert!(
        format!("{:?}", h.store).contains("senders: 5"),
        "{:?}",
        h.store
    );
}

#[tokio::test]
async fn a_lesson_cancelled_by_the_recheck_gives_the_slot_back() {
    let policy = Arc::new(DenyAtSend::default());
    let h = Setup {
        policy: Some(policy.clone()),
        ..Setup::default()
    }
    .build();
    assert_eq!(
        h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap(),
        SmsOutcome::Scheduled
    );
    policy.0.store(true, Ordering::SeqCst);
    h.clock.advance(HOUR);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.cancelled), (0, 1));
    assert_eq!(h.counter("lessons.released").await, 1);
    let hash = h.engine.sender_hash(&man());
    assert_eq!(
        h.store.sender(&hash).await.unwrap().unwrap().last_lesson_at,
        None
    );
    // He never got a lesson: his next text schedules one, which is sent.
    policy.0.store(false, Ordering::SeqCst);
    assert_eq!(
        h.engine
            .handle_sms(sms("SM2", &man(), "hi?"))
            .await
            .unwrap(),
        SmsOutcome::Scheduled
    );
    h.clock.advance(HOUR);
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 1);
    // And now he is taught.
    assert_eq!(
        h.engine
            .handle_sms(sms("SM3", &man(), "hi?"))
            .await
            .unwrap(),
        SmsOutcome::Dropped(Reason::AlreadyTaught)
    );
}

#[tokio::test]
async fn a_lesson_expired_past_its_deadline_gives_the_slot_back() {
    let h = harness();
    assert_eq!(
        h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap(),
        SmsOutcome::Scheduled
    );
    // No dispatcher ran for over three days (past the 72-hour defer horizon, a lesson's
    // deadline): the bulk expiry ends it.
    h.clock.advance(HOUR * 73);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.expired), (0, 1));
    assert_eq!(h.records().await[0].state, ReplyState::Expired);
    assert_eq!(
        h.engine
            .handle_sms(sms("SM2", &man(), "hi?"))
            .await
            .unwrap(),
        SmsOutcome::Scheduled
    );
}

#[tokio::test]
async fn a_lesson_expired_under_the_budget_cap_gives_the_slot_back() {
    let mut config = exact_config();
    // Nothing can be paid this month: the reply cannot wait for the next period (its defer
    // horizon, 24 hours, ends before it).
    config.caps = SpendCaps {
        daily: None,
        monthly: Some(Money::ZERO),
    };
    config.defer_horizon = HOUR * 24;
    let h = Setup {
        config,
        ..Setup::default()
    }
    .build();
    assert_eq!(
        h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap(),
        SmsOutcome::Scheduled
    );
    h.clock.advance(HOUR);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.expired), (0, 1));
    assert_eq!(
        h.records().await[0].last_error.as_deref(),
        Some(Reason::DeferredTooLong.as_str())
    );
    assert_eq!(h.counter("lessons.released").await, 1);
    assert_eq!(h.counter("drop.deferred_too_long").await, 1);
    assert_eq!(
        h.engine
            .handle_sms(sms("SM2", &man(), "hi?"))
            .await
            .unwrap(),
        SmsOutcome::Scheduled
    );
}

#[tokio::test]
async fn a_permanent_failure_or_an_opt_out_keeps_the_slot() {
    let h = harness();
    let other = mobile(7);
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.engine.handle_sms(sms("SM2", &other, "hi")).await.unwrap();
    h.stub.fail_next(1, FailureKind::Permanent);
    h.clock.advance(HOUR);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.failed), (1, 1));
    // The one that failed for good and the one sent: both still taught.
    for (i, n) in [man(), other.clone()].iter().enumerate() {
        assert_eq!(
            h.engine
                .handle_sms(sms(&format!("SMx{i}"), n, "again"))
                .await
                .unwrap(),
            SmsOutcome::Dropped(Reason::AlreadyTaught)
        );
    }
    // STOP cancels a pending lesson without giving the slot back.
    let third = mobile(8);
    h.engine.handle_sms(sms("SM3", &third, "hi")).await.unwrap();
    assert_eq!(
        h.engine
            .handle_sms(sms("SM4", &third, "STOP"))
            .await
            .unwrap(),
        SmsOutcome::OptedOut
    );
    assert_eq!(
        h.engine
            .handle_sms(sms("SM5", &third, "START"))
            .await
            .unwrap(),
        SmsOutcome::OptedIn
    );
    assert_eq!(
        h.engine.handle_sms(sms("SM6", &third, "hi")).await.unwrap(),
        SmsOutcome::Dropped(Reason::AlreadyTaught)
    );
    assert_eq!(h.counter("lessons.released").await, 0);
}
