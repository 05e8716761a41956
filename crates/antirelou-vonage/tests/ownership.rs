//! A correctly signed Vonage inbound text addressed to a number Twilio carries is refused with
//! `403` through the real route, in front of the real engine: nothing stored, nothing sent.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use antirelou_core::ProviderId;
use antirelou_core::catalogue::Locale;
use antirelou_core::engine::{Engine, EngineConfig, NumberConfig, Transports};
use antirelou_core::memory::InMemoryStore;
use antirelou_core::privacy::NumberHasher;
use antirelou_core::stub::StubTransport;
use antirelou_core::{ManualClock, PhoneNumber, Timestamp};
use antirelou_vonage::signature::{SignatureMethod, SmsSigner};
use antirelou_vonage::{VonageWebhooks, router};

const NOW: i64 = 1_717_000_000;

#[tokio::test]
async fn a_vonage_signed_text_to_a_twilio_number_is_refused() {
    let clock = ManualClock::new(Timestamp::from_secs(NOW));
    let store = InMemoryStore::new();
    let twilio_number = PhoneNumber::parse("+33937000000").unwrap();
    let vonage_number = PhoneNumber::parse("+33757000000").unwrap();
    let fr = Locale::new("fr-FR").unwrap();
    let engine = Engine::builder(
        Arc::new(store.clone()),
        NumberHasher::new(b"test secret, sixteen bytes").unwrap(),
    )
    .clock(Arc::new(clock.clone()))
    .config(EngineConfig::default())
    .number(NumberConfig::new(
        twilio_number,
        fr.clone(),
        ProviderId::from_static("twilio"),
    ))
    .number(NumberConfig::new(
        vonage_number.clone(),
        fr,
        antirelou_vonage::PROVIDER,
    ))
    .build()
    .unwrap();
    let hooks = VonageWebhooks::builder(Arc::new(engine.clone()))
        .sms_signer(SmsSigner::new("sig-secret", SignatureMethod::Sha256Hmac))
        .require_signed_voice(false)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let app = router::router(Arc::new(hooks));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let c = reqwest::Client::builder().no_proxy().build().unwrap();

    let post = |to: &'static str, id: &'static str| {
        let ts = NOW.to_string();
        let mut p = vec![
            ("msisdn".to_owned(), "33612345678".to_owned()),
            ("to".to_owned(), to.to_owned()),
            ("messageId".to_owned(), id.to_owned()),
            ("text".to_owned(), "Coucou".to_owned()),
            ("type".to_owned(), "text".to_owned()),
            ("timestamp".to_owned(), ts),
        ];
        let sig = SmsSigner::new("sig-secret", SignatureMethod::Sha256Hmac)
            .sign(p.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        p.push(("sig".to_owned(), sig));
        c.post(format!("http://{addr}/vonage/sms")).form(&p).send()
    };

    // Signed by Vonage, addressed to the Twilio number: refused.
    let r = post("33937000000", "0A01").await.unwrap();
    assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
    assert_eq!(store.reply_count(), 0, "nothing may be stored");

    // The same text to the Vonage number is accepted.
    let r = post("33757000000", "0A02").await.unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    assert_eq!(store.reply_count(), 1);

    let stub = Arc::new(StubTransport::new());
    let dispatcher = engine.dispatcher(
        Transports::new()
            .with(ProviderId::from_static("twilio"), stub.clone(), None)
            .with(antirelou_vonage::PROVIDER, stub.clone(), None),
    );
    clock.advance(Duration::from_secs(2 * 3600));
    dispatcher.tick().await.unwrap();
    let sent = stub.sent();
    assert_eq!(sent.len(), 1, "only the accepted text's lesson goes out");
    assert_eq!(sent[0].from, vonage_number);
}
