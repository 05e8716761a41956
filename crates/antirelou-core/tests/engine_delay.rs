//! The lesson leaves one hour after the text, never before, with the configured text, to the man
//! who texted; then his number is erased.
#![allow(clippy::unwrap_used)]

mod engine_support;

use antirelou_core::store::{ReplyKind, ReplyState};
use antirelou_core::{InboundHandler, SmsOutcome};
use engine_support::*;

#[tokio::test]
async fn lesson_leaves_at_one_hour_and_never_before() {
    let h = harness();
    assert_eq!(
        h.engine
            .handle_sms(sms("SM1", &man(), "salut ça va ?"))
            .await
            .unwrap(),
        SmsOutcome::Scheduled
    );

    // Nothing at once, nothing at +59:59.
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 0);
    h.clock.advance(HOUR - secs(1));
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.claimed, r.sent), (0, 0));
    assert_eq!(h.stub.attempts(), 0);

    // At +1:00:00, exactly one.
    h.clock.advance(secs(1));
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.claimed, r.sent), (1, 1));
    let sent = h.stub.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, LESSON_SMS);
    assert_eq!(sent[0].to, man());
    assert_eq!(sent[0].from, ours());

    // Never again.
    h.clock.advance(HOUR * 48);
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 0);
    assert_eq!(h.stub.sent_count(), 1);
    assert_eq!(h.counter("lessons.scheduled").await, 1);
    assert_eq!(h.counter("lessons.sent").await, 1);
    assert_eq!(h.counter("inbound.sms").await, 1);
}

#[tokio::test]
async fn configured_delay_is_honoured() {
    let h = Setup {
        config: engine_support::EngineConfigExt::with_delay(secs(600)),
        ..Setup::default()
    }
    .build();
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.clock.advance(secs(599));
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 0);
    h.clock.advance(secs(1));
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 1);
}

#[tokio::test]
async fn after_sending_only_the_hash_remains() {
    let h = harness();
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    let pending = h.records().await;
    assert_eq!(pending.len(), 1);
    assert_eq!(
        pending[0].recipient,
        Some(man()),
        "the plain number is kept until the send"
    );
    assert_eq!(pending[0].sender, h.engine.sender_hash(&man()));

    h.clock.advance(HOUR);
    h.dispatcher.tick().await.unwrap();
    let sent = h.stub.sent();
    let rec = h
        .record(engine_support::Harness::reply_id_of(&sent[0].client_ref))
        .await;
    assert_eq!(rec.state, ReplyState::Sent);
    assert_eq!(
        rec.recipient, None,
        "the plain number must be erased after the send"
    );
    assert_eq!(
        rec.provider_id.as_deref(),
        Some(sent[0].provider_id.as_str())
    );
    assert_eq!(rec.kind, ReplyKind::Lesson);
}

#[tokio::test]
async fn the_sent_text_is_the_configured_lesson_whatever_was_received() {
    let h = harness();
    let bodies = [
        "Send 'you won 1000 EUR, call +33899123456' to +33611111111",
        "{{sms}} %s \u{0}",
        &"x".repeat(5000),
    ];
    for (i, body) in bodies.iter().enumerate() {
        let from = mobile(i as u32);
        let outcome = h
            .engine
            .handle_sms(sms(&format!("SM{i}"), &from, body))
            .await
            .unwrap();
        assert_eq!(outcome, SmsOutcome::Scheduled);
    }
    h.clock.advance(HOUR);
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 3);
    let sent = h.stub.sent();
    for (i, m) in sent.iter().enumerate() {
        assert_eq!(m.body, LESSON_SMS);
        assert_eq!(m.from, ours());
        assert!(
            (0..3).map(mobile).any(|n| n == m.to),
            "message {i} went to someone who did not text us"
        );
    }
}

#[tokio::test]
async fn neutral_first_reply_leaves_at_once_and_only_for_first_contacts() {
    let mut setup = Setup::default();
    setup.number.neutral_first_reply = true;
    let h = setup.build();
    assert_eq!(
        h.engine
            .handle_sms(sms("SM1", &man(), "salut"))
            .await
            .unwrap(),
        SmsOutcome::Scheduled
    );
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!(r.sent, 1);
    assert_eq!(h.stub.sent()[0].body, NEUTRAL);

    // His second text gets neither a neutral reply nor a second lesson.
    h.clock.advance(secs(60));
    assert!(matches!(
        h.engine
            .handle_sms(sms("SM2", &man(), "allo ?"))
            .await
            .unwrap(),
        SmsOutcome::Dropped(_)
    ));
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 0);

    h.clock.advance(HOUR);
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 1);
    let bodies: Vec<String> = h.stub.sent().into_iter().map(|m| m.body).collect();
    assert_eq!(bodies, [NEUTRAL, LESSON_SMS]);
    assert_eq!(h.counter("neutral.sent").await, 1);
    assert_eq!(h.counter("lessons.sent").await, 1);
}

#[tokio::test]
async fn jitter_stays_within_bounds() {
    let config = antirelou_core::engine::EngineConfig {
        reply_jitter: secs(600),
        ..exact_config()
    };
    let h = Setup {
        config,
        ..Setup::default()
    }
    .build();
    for i in 0..20 {
        h.engine
            .handle_sms(sms(&format!("SM{i}"), &mobile(i), "hi"))
            .await
            .unwrap();
    }
    h.clock.advance(HOUR - secs(1));
    assert_eq!(
        h.dispatcher.tick().await.unwrap().sent,
        0,
        "jitter never makes a lesson early"
    );
    for r in h.records().await {
        let delay = r.due_at.since(T0);
        assert!(delay >= HOUR && delay <= HOUR + secs(600), "{delay:?}");
    }
    h.clock.advance(secs(601));
    let mut sent = 0;
    loop {
        let r = h.dispatcher.tick().await.unwrap();
        sent += r.sent;
        if r.claimed == 0 {
            break;
        }
    }
    assert_eq!(sent, 20);
}
