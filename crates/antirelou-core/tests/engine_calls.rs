//! Calls: the lesson in the number's voice, decoy mode for first calls, rejects for denied
//! callers.
#![allow(clippy::unwrap_used)]

mod engine_support;

use std::sync::Arc;

use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason};
use antirelou_core::voice::{RejectReason, VoiceHint, VoiceScript, VoiceStep};
use antirelou_core::{Caller, InboundHandler, SmsOutcome};
use engine_support::*;

fn lesson_script() -> VoiceScript {
    VoiceScript::builder()
        .say(LESSON_VOICE, "fr-FR", VoiceHint::Female)
        .hangup()
        .build()
}

fn decoy_script() -> VoiceScript {
    VoiceScript::builder()
        .ring(20)
        .say(GREETING, "fr-FR", VoiceHint::Female)
        .hangup()
        .build()
}

#[tokio::test]
async fn decoy_answers_a_first_call_with_a_greeting_and_a_later_call_with_the_lesson() {
    let h = harness();
    let first = h
        .engine
        .handle_call(call("CA1", Caller::Number(man())))
        .await
        .unwrap();
    assert_eq!(first, decoy_script());
    assert_eq!(first.ring_seconds(), 20);

    // He calls back five minutes later, still on the spot: still a plausible voicemail.
    h.clock.advance(secs(300));
    assert_eq!(
        h.engine
            .handle_call(call("CA2", Caller::Number(man())))
            .await
            .unwrap(),
        decoy_script()
    );

    // Past the ten-minute window, he hears the lesson.
    h.clock.advance(secs(301));
    assert_eq!(
        h.engine
            .handle_call(call("CA3", Caller::Number(man())))
            .await
            .unwrap(),
        lesson_script()
    );
    assert_eq!(h.counter("calls.decoy").await, 2);
    assert_eq!(h.counter("calls.lesson").await, 1);
    assert_eq!(h.counter("inbound.voice").await, 3);

    // SMS to callers is off by default: nothing was scheduled.
    assert_eq!(h.store.reply_count(), 0);
    // Having heard the lesson, a text from him costs nothing.
    assert_eq!(
        h.engine.handle_sms(sms("SM1", &man(), "?")).await.unwrap(),
        SmsOutcome::Dropped(Reason::AlreadyTaught)
    );
}

#[tokio::test]
async fn a_texter_who_calls_before_his_lesson_hears_a_busy_line_and_gets_one_lesson() {
    let h = harness();
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.clock.advance(secs(60));
    // Not the lesson on the spot (she may still be near), not a second lesson: a busy line.
    assert_eq!(man_calls(&h, "CA1").await, busy());
    assert_eq!(h.counter("calls.already_taught").await, 1);
    assert_eq!(h.counter("drop.already_taught").await, 1);
    assert_eq!(h.counter("calls.lesson").await, 0);
    // His text's lesson still goes out after the delay, once.
    h.clock.advance(HOUR);
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 1);
    // Calling again after it, within the window: still busy.
    assert_eq!(man_calls(&h, "CA2").await, busy());
}

/// The man calls (call id `id`); the engine's answer.
async fn man_calls(h: &Harness, id: &str) -> VoiceScript {
    h.engine
        .handle_call(call(id, Caller::Number(man())))
        .await
        .unwrap()
}

/// The free busy line of a caller already taught.
fn busy() -> VoiceScript {
    VoiceScript::reject(RejectReason::Busy)
}

#[tokio::test]
async fn decoy_off_means_the_lesson_at_once() {
    let mut setup = Setup::default();
    setup.number.decoy.enabled = false;
    let h = setup.build();
    assert_eq!(
        h.engine
            .handle_call(call("CA1", Caller::Number(man())))
            .await
            .unwrap(),
        lesson_script()
    );
}

#[tokio::test]
async fn with_sms_to_callers_the_decoyed_caller_gets_the_lesson_by_text_after_the_delay() {
    let mut setup = Setup::default();
    setup.number.sms_to_callers = true;
    let h = setup.build();
    assert_eq!(
        h.engine
            .handle_call(call("CA1", Caller::Number(man())))
            .await
            .unwrap(),
        decoy_script()
    );
    // A duplicate call webhook schedules nothing more.
    h.clock.advance(secs(1));
    h.engine
        .handle_call(call("CA1", Caller::Number(man())))
        .await
        .unwrap();
    assert_eq!(h.store.reply_count(), 1);
    // The lesson slot is taken: a second call hears a busy line, not a second lesson.
    assert_eq!(man_calls(&h, "CA2").await, busy());

    h.clock.advance(HOUR - secs(2));
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 0);
    h.clock.advance(secs(1));
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 1);
    let sent = h.stub.sent();
    assert_eq!(
        (sent[0].to.clone(), sent[0].body.as_str()),
        (man(), LESSON_SMS)
    );
}

#[tokio::test]
async fn withheld_callers_hear_the_lesson_and_nothing_is_texted() {
    let mut setup = Setup::default();
    setup.number.sms_to_callers = true;
    let h = setup.build();
    assert_eq!(
        h.engine
            .handle_call(call("CA1", Caller::Withheld))
            .await
            .unwrap(),
        lesson_script()
    );
    assert_eq!(h.store.reply_count(), 0);
}

#[derive(Debug)]
struct DenyBlocked(u64);

impl AbusePolicy for DenyBlocked {
    fn check(&self, c: &Contact) -> Decision {
        if c.sender_key == self.0 {
            Decision::Deny(Reason::Blocklisted)
        } else {
            Decision::Allow
        }
    }
}

#[tokio::test]
async fn denied_callers_and_unknown_numbers_get_a_free_reject() {
    let h = Setup {
        policy: Some(Arc::new(DenyBlocked(man().key()))),
        ..Setup::default()
    }
    .build();
    let script = h
        .engine
        .handle_call(call("CA1", Caller::Number(man())))
        .await
        .unwrap();
    assert_eq!(script, VoiceScript::reject(RejectReason::Rejected));
    assert!(
        matches!(script.steps()[0], VoiceStep::Reject { .. }),
        "reject must be the first verb"
    );
    assert_eq!(h.counter("drop.blocklisted").await, 1);

    let mut elsewhere = call("CA2", Caller::Number(mobile(1)));
    elsewhere.to = antirelou_core::PhoneNumber::parse("+33142685300").unwrap();
    assert!(h.engine.handle_call(elsewhere).await.unwrap().is_reject());
}
