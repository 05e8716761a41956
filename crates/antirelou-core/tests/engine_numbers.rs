//! Numbers change at run time: retired numbers send nothing and answer "out of service"; paused
//! numbers schedule nothing, hold their replies and reject calls; new numbers work at once.
#![allow(clippy::unwrap_used)]

mod engine_support;

use antirelou_core::ProviderId;
use antirelou_core::catalogue::Locale;
use antirelou_core::engine::{EngineConfig, NumberConfig, NumberStatus};
use antirelou_core::policy::Reason;
use antirelou_core::store::ReplyState;
use antirelou_core::voice::{RejectReason, VoiceScript, VoiceStep};
use antirelou_core::{Caller, Error, InboundHandler, PhoneNumber, SmsOutcome};
use engine_support::*;

fn said(script: &VoiceScript) -> Vec<&str> {
    script
        .steps()
        .iter()
        .filter_map(|s| match s {
            VoiceStep::Say { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_retired_number_sends_nothing_even_what_was_scheduled_before() {
    let h = harness();
    assert_eq!(
        h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap(),
        SmsOutcome::Scheduled
    );
    h.engine
        .numbers()
        .set_status(&ours(), NumberStatus::Retired)
        .unwrap();

    // New texts are dropped.
    assert_eq!(
        h.engine
            .handle_sms(sms("SM2", &mobile(1), "hi"))
            .await
            .unwrap(),
        SmsOutcome::Dropped(Reason::NumberRetired)
    );
    // The reply scheduled before is cancelled at send time.
    h.clock.advance(HOUR);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.cancelled), (0, 1));
    assert_eq!(h.stub.attempts(), 0);
    let rec = h.records().await.remove(0);
    assert_eq!((rec.state, rec.recipient), (ReplyState::Cancelled, None));
    assert_eq!(rec.last_error.as_deref(), Some("number_retired"));

    // Calls hear "no longer in service", and nothing else.
    let script = h
        .engine
        .handle_call(call("CA1", Caller::Number(mobile(2))))
        .await
        .unwrap();
    assert_eq!(said(&script), [OUT_OF_SERVICE]);
    assert_eq!(script.steps().last(), Some(&VoiceStep::Hangup));
    assert_eq!(script.ring_seconds(), 0);
    h.clock.advance(HOUR * 2);
    h.dispatcher.tick().await.unwrap();
    assert_eq!(h.stub.attempts(), 0);
}

#[tokio::test]
async fn a_paused_number_holds_its_replies_until_resumed() {
    let h = harness();
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.engine
        .numbers()
        .set_status(&ours(), NumberStatus::Paused)
        .unwrap();
    assert_eq!(
        h.engine
            .handle_sms(sms("SM2", &mobile(1), "hi"))
            .await
            .unwrap(),
        SmsOutcome::Dropped(Reason::NumberPaused)
    );
    let script = h
        .engine
        .handle_call(call("CA1", Caller::Number(mobile(2))))
        .await
        .unwrap();
    assert_eq!(script, VoiceScript::reject(RejectReason::Busy));

    h.clock.advance(HOUR);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.held), (0, 1));
    assert_eq!(h.records().await[0].state, ReplyState::Pending);

    // Resumed: the held reply leaves at the next look (five minutes later).
    h.engine
        .numbers()
        .set_status(&ours(), NumberStatus::Active)
        .unwrap();
    h.clock.advance(secs(300));
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 1);
    assert_eq!(h.stub.sent()[0].to, man());
}

#[tokio::test]
async fn a_reply_held_past_its_deadline_expires() {
    // A lesson's deadline is the later of due + reply_deadline (25 h here) and the defer
    // horizon: a horizon of one hour leaves the 25 hours.
    let h = Setup {
        config: EngineConfig {
            defer_horizon: HOUR,
            ..exact_config()
        },
        ..Setup::default()
    }
    .build();
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.engine
        .numbers()
        .set_status(&ours(), NumberStatus::Paused)
        .unwrap();
    h.clock.advance(HOUR);
    for _ in 0..(25 * 12) {
        h.dispatcher.tick().await.unwrap();
        h.clock.advance(secs(300));
    }
    h.engine
        .numbers()
        .set_status(&ours(), NumberStatus::Active)
        .unwrap();
    h.dispatcher.tick().await.unwrap();
    assert_eq!(h.stub.attempts(), 0);
    assert_eq!(h.records().await[0].state, ReplyState::Expired);
}

#[tokio::test]
async fn numbers_are_added_and_removed_without_restart() {
    let h = harness();
    let belgian = PhoneNumber::parse("+32460203929").unwrap();
    let mut to_be = sms("SM1", &man(), "salut");
    to_be.to = belgian.clone();
    assert_eq!(
        h.engine.handle_sms(to_be.clone()).await.unwrap(),
        SmsOutcome::Dropped(Reason::UnknownNumber)
    );

    // No lessons for nl-BE nor any Dutch in this catalogue: a clear configuration error.
    let err = h
        .engine
        .numbers()
        .add(NumberConfig::new(
            belgian.clone(),
            Locale::new("nl-BE").unwrap(),
            ProviderId::from_static("twilio"),
        ))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("nl-BE")),
        "{err}"
    );

    let mut cfg = NumberConfig::new(
        belgian.clone(),
        Locale::new("nl-BE").unwrap(),
        ProviderId::from_static("twilio"),
    );
    cfg.lessons = Some(lessons("nl-BE"));
    h.engine.numbers().add(cfg).unwrap();
    assert_eq!(h.engine.numbers().len(), 2);
    to_be.message_id = "SM2".into();
    assert_eq!(
        h.engine.handle_sms(to_be).await.unwrap(),
        SmsOutcome::Scheduled
    );

    // Removed before the due time: cancelled, not sent.
    assert!(h.engine.numbers().remove(&belgian));
    h.clock.advance(HOUR);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.cancelled), (0, 1));
}

#[tokio::test]
async fn builder_rejects_a_number_without_lessons() {
    use std::sync::Arc;
    let err = antirelou_core::engine::Engine::builder(
        Arc::new(antirelou_core::memory::InMemoryStore::new()),
        antirelou_core::privacy::NumberHasher::new(b"test secret, sixteen bytes").unwrap(),
    )
    .catalogue(antirelou_core::catalogue::Catalogue::default())
    .number(NumberConfig::new(
        ours(),
        Locale::new("fr-FR").unwrap(),
        ProviderId::from_static("twilio"),
    ))
    .build()
    .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[tokio::test]
async fn the_builtin_catalogue_is_the_default_and_falls_back_on_the_language() {
    use std::sync::Arc;
    let engine = antirelou_core::engine::Engine::builder(
        Arc::new(antirelou_core::memory::InMemoryStore::new()),
        antirelou_core::privacy::NumberHasher::new(b"test secret, sixteen bytes").unwrap(),
    )
    .number(NumberConfig::new(
        ours(),
        Locale::new("fr-FR").unwrap(),
        ProviderId::from_static("twilio"),
    ))
    .number(NumberConfig::new(
        PhoneNumber::parse("+15145550123").unwrap(),
        Locale::new("fr-CA").unwrap(),
        ProviderId::from_static("twilio"),
    ))
    .build()
    .unwrap();
    assert_eq!(engine.numbers().len(), 2);
    let mut c = call("CA1", Caller::Withheld);
    c.to = PhoneNumber::parse("+15145550123").unwrap();
    let script = engine.handle_call(c).await.unwrap();
    match &script.steps()[0] {
        antirelou_core::voice::VoiceStep::Say { text, language, .. } => {
            let fr = antirelou_core::catalogue::Catalogue::builtin();
            let fr = fr.get(&Locale::new("fr-FR").unwrap()).unwrap();
            assert_eq!(text, &fr.voice);
            assert_eq!(language, "fr-CA");
        }
        other => panic!("{other:?}"),
    }
}
