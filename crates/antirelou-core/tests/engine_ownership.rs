//! A webhook is accepted only from the provider that carries the number it is addressed to: a
//! text, a STOP, a call or a delivery report from another provider is refused with
//! `Error::WrongProvider`, and nothing is stored, counted as a contact or sent.
#![allow(clippy::unwrap_used)]

mod engine_support;

use antirelou_core::event::{DeliveryReport, DeliveryState, ProviderId};
use antirelou_core::store::{OptOutStore, SpendLedger};
use antirelou_core::{Caller, Error, InboundHandler, Money, SmsOutcome};
use engine_support::*;

fn from_vonage<T>(mut event: T, set: impl FnOnce(&mut T)) -> T {
    set(&mut event);
    event
}

#[tokio::test]
async fn a_text_signed_by_another_provider_is_refused_and_nothing_goes_out() {
    let h = harness(); // our number is carried by Twilio
    let forged = from_vonage(sms("V1", &man(), "hi"), |s| {
        s.provider = ProviderId::from_static("vonage")
    });
    let e = h.engine.handle_sms(forged).await.unwrap_err();
    assert!(
        matches!(&e, Error::WrongProvider { owner: "twilio", provider: "vonage", number } if !number.contains("937000000")),
        "{e:?}"
    );
    assert!(e.is_permanent());
    assert_eq!(h.store.reply_count(), 0);
    assert_eq!(h.counter("refused.wrong_provider").await, 1);
    // Not even a contact was recorded.
    let hash = h.engine.sender_hash(&man());
    assert!(
        antirelou_core::store::SenderHistory::sender(&h.store, &hash)
            .await
            .unwrap()
            .is_none()
    );
    h.clock.advance(HOUR * 2);
    h.dispatcher.tick().await.unwrap();
    assert_eq!(h.stub.sent_count(), 0);

    // The same text from the number's own provider is a text like any other.
    assert_eq!(
        h.engine.handle_sms(sms("T1", &man(), "hi")).await.unwrap(),
        SmsOutcome::Scheduled
    );
}

#[tokio::test]
async fn a_forged_stop_from_another_provider_cancels_nothing() {
    let h = harness();
    h.engine.handle_sms(sms("T1", &man(), "hi")).await.unwrap();
    let stop = from_vonage(sms("V2", &man(), "STOP"), |s| {
        s.provider = ProviderId::from_static("vonage")
    });
    assert!(matches!(
        h.engine.handle_sms(stop).await,
        Err(Error::WrongProvider { .. })
    ));
    let hash = h.engine.sender_hash(&man());
    assert!(!h.store.is_opted_out(&hash).await.unwrap());
    h.clock.advance(HOUR);
    h.dispatcher.tick().await.unwrap();
    assert_eq!(h.stub.sent_count(), 1, "his lesson still goes out");
}

#[tokio::test]
async fn a_call_from_another_provider_is_refused() {
    let h = harness();
    let forged = from_vonage(call("CV1", Caller::Number(man())), |c| {
        c.provider = ProviderId::from_static("vonage")
    });
    assert!(matches!(
        h.engine.handle_call(forged).await,
        Err(Error::WrongProvider { .. })
    ));
    assert_eq!(h.counter("inbound.voice").await, 1);
    assert_eq!(h.counter("calls.decoy").await, 0);
    assert!(
        h.engine
            .handle_call(call("CT1", Caller::Number(man())))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_delivery_report_from_another_provider_changes_nothing() {
    let h = harness();
    h.engine.handle_sms(sms("T1", &man(), "hi")).await.unwrap();
    h.clock.advance(HOUR);
    h.dispatcher.tick().await.unwrap();
    let sent = h.stub.sent();
    assert_eq!(sent.len(), 1);
    let id = Harness::reply_id_of(&sent[0].client_ref);
    let pid = h.record(id).await.provider_id.unwrap();
    let now = antirelou_core::Clock::now(&h.clock);
    let spent = h.store.spend(now).await.unwrap();

    let forged = DeliveryReport {
        provider: ProviderId::from_static("vonage"),
        message_id: pid.clone(),
        state: DeliveryState::Failed,
        price: Some(antirelou_core::Price::new(
            Money::from_micros(5_000_000),
            antirelou_core::Currency::EUR,
        )),
        error_code: None,
        failure: None,
    };
    assert!(matches!(
        h.engine.handle_delivery(forged).await,
        Err(Error::WrongProvider { .. })
    ));
    assert_eq!(h.record(id).await.delivery, None);
    assert_eq!(h.store.spend(now).await.unwrap(), spent);

    let genuine = DeliveryReport {
        provider: ProviderId::from_static("twilio"),
        message_id: pid,
        state: DeliveryState::Delivered,
        price: None,
        error_code: None,
        failure: None,
    };
    h.engine.handle_delivery(genuine).await.unwrap();
    assert_eq!(h.record(id).await.delivery, Some(DeliveryState::Delivered));
}
