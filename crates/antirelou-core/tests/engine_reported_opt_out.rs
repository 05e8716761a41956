//! An opt-out reported by a delivery report (Twilio 21610, Telnyx 40300, Vonage err-code 9)
//! after a reply was sent is recorded for its recipient, and what is pending for him is
//! cancelled, although the sent reply no longer holds his number.
#![allow(clippy::unwrap_used)]

mod engine_support;

use antirelou_core::event::{DeliveryFailure, DeliveryReport, DeliveryState, ProviderId};
use antirelou_core::store::ReplyState;
use antirelou_core::{InboundHandler, Reason, SmsOutcome};
use engine_support::*;

/// A man texts; the neutral reply goes at once, the lesson waits an hour.
async fn neutral_sent_lesson_pending() -> Harness {
    let mut setup = Setup::default();
    setup.number.neutral_first_reply = true;
    let h = setup.build();
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!(r.sent, 1, "the neutral reply goes at once");
    h
}

fn report(message_id: &str, failure: Option<DeliveryFailure>) -> DeliveryReport {
    DeliveryReport {
        provider: ProviderId::from_static("twilio"),
        message_id: message_id.into(),
        state: DeliveryState::Failed,
        price: None,
        error_code: Some("21610".into()),
        failure,
    }
}

#[tokio::test]
async fn a_reported_opt_out_is_recorded_and_cancels_the_pending_lesson() {
    let h = neutral_sent_lesson_pending().await;
    let sent = h.stub.sent()[0].provider_id.clone();
    h.engine
        .handle_delivery(report(&sent, Some(DeliveryFailure::OptedOut)))
        .await
        .unwrap();
    assert_eq!(h.counter("optout.reported").await, 1);
    assert_eq!(h.counter("replies.cancelled").await, 1);
    let states: Vec<ReplyState> = h.records().await.iter().map(|r| r.state).collect();
    assert!(states.contains(&ReplyState::Cancelled), "{states:?}");
    // The lesson never goes.
    h.clock.advance(HOUR);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.claimed, r.sent), (0, 0));
    assert_eq!(h.stub.sent_count(), 1);
    // The opt-out stands: his next text is dropped as opted out.
    assert_eq!(
        h.engine
            .handle_sms(sms("SM2", &man(), "hello again"))
            .await
            .unwrap(),
        SmsOutcome::Dropped(Reason::OptedOut)
    );
}

#[tokio::test]
async fn other_failures_change_nothing_for_the_recipient() {
    for failure in [
        None,
        Some(DeliveryFailure::InvalidRecipient),
        Some(DeliveryFailure::Other),
    ] {
        let h = neutral_sent_lesson_pending().await;
        let sent = h.stub.sent()[0].provider_id.clone();
        h.engine
            .handle_delivery(report(&sent, failure))
            .await
            .unwrap();
        assert_eq!(h.counter("optout.reported").await, 0, "{failure:?}");
        h.clock.advance(HOUR);
        let r = h.dispatcher.tick().await.unwrap();
        assert_eq!(r.sent, 1, "{failure:?}: the lesson still goes");
    }
}

#[tokio::test]
async fn a_reported_opt_out_for_an_unknown_message_changes_nothing() {
    let h = neutral_sent_lesson_pending().await;
    h.engine
        .handle_delivery(report("SM-not-ours", Some(DeliveryFailure::OptedOut)))
        .await
        .unwrap();
    assert_eq!(h.counter("optout.reported").await, 0);
    h.clock.advance(HOUR);
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 1);
}
