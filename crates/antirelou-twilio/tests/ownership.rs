//! A correctly signed Twilio webhook addressed to a number Vonage carries is refused with `403`
//! through the real router, in front of the real engine: nothing stored.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use antirelou_core::ProviderId;
use antirelou_core::catalogue::Locale;
use antirelou_core::engine::{Engine, NumberConfig};
use antirelou_core::memory::InMemoryStore;
use antirelou_core::privacy::NumberHasher;
use antirelou_core::{ManualClock, PhoneNumber, Timestamp};
use antirelou_twilio::router::{TwilioWebhookState, router};
use antirelou_twilio::twiml::VoiceMap;
use axum::body::Body;
use http::StatusCode;
use support::*;
use tower::ServiceExt;

async fn status_for(provider: ProviderId, path: &str, body: &str) -> (StatusCode, InMemoryStore) {
    let store = InMemoryStore::new();
    let engine = Engine::builder(
        Arc::new(store.clone()),
        NumberHasher::new(b"test secret, sixteen bytes").unwrap(),
    )
    .clock(Arc::new(ManualClock::new(Timestamp::from_secs(
        1_700_000_000,
    ))))
    .number(NumberConfig::new(
        PhoneNumber::parse("+3225880000").unwrap(),
        Locale::new("fr-BE").unwrap(),
        provider,
    ))
    .build()
    .unwrap();
    let app = router(TwilioWebhookState {
        handler: Arc::new(engine),
        config: config(),
        voices: VoiceMap::default(),
    });
    let resp = app
        .oneshot(signed_post(path, body).map(Body::from))
        .await
        .unwrap();
    (resp.status(), store)
}

#[tokio::test]
async fn a_twilio_signed_webhook_to_a_vonage_number_is_refused() {
    let (status, store) =
        status_for(ProviderId::from_static("vonage"), "/twilio/sms", SMS_BODY).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(store.reply_count(), 0);
    let (status, _) = status_for(
        ProviderId::from_static("vonage"),
        "/twilio/voice",
        VOICE_BODY,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The same text to a Twilio number is scheduled.
    let (status, store) = status_for(antirelou_twilio::PROVIDER, "/twilio/sms", SMS_BODY).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(store.reply_count(), 1);
}
