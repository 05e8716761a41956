//! A database written before provider identities were opened (`enum Provider`) keeps working:
//! its idempotency keys (`twilio:…`, `vonage:…`) are the ones the adapters' [`ProviderId`]s make
//! now, so its pending lessons are sent once and a provider's retry of a webhook it already
//! holds is recognised as a duplicate. The fixture and how it was made: `tests/fixtures/README.md`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use antirelou_core::catalogue::{Catalogue, LessonSet, Locale};
use antirelou_core::engine::{Engine, NumberConfig, Transports};
use antirelou_core::event::InboundSms;
use antirelou_core::handler::InboundHandler;
use antirelou_core::privacy::NumberHasher;
use antirelou_core::stub::StubTransport;
use antirelou_core::{Caller, ManualClock, PhoneNumber, ProviderId, SmsOutcome, Timestamp};
use antirelou_sqlite::SqliteStore;

/// The identities the adapters declare (`antirelou_twilio::PROVIDER`, `antirelou_vonage::PROVIDER`);
/// written out here because this crate does not depend on the adapters.
const TWILIO: ProviderId = ProviderId::from_static("twilio");
const VONAGE: ProviderId = ProviderId::from_static("vonage");

const TWILIO_SMS: &str = "SM00000000000000000000000000000001";
const VONAGE_SMS: &str = "0B00000000000001";

fn lessons() -> LessonSet {
    LessonSet {
        locale: Locale::new("fr-FR").unwrap(),
        sms: "LESSON: she did not want to give you her number.".into(),
        sms_short: None,
        voice: "VOICE LESSON".into(),
        neutral_reply: "Hey, who is this?".into(),
        voicemail_greeting: "Hi, leave me a message.".into(),
        out_of_service: "This number is no longer in service.".into(),
        facts_as_of: "2024-01-01".into(),
        stop_keywords: vec![],
        start_keywords: vec![],
    }
}

/// A private copy of the fixture (the store writes to it).
fn copy_of_fixture() -> (PathBuf, PathBuf) {
    let here =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pre_provider_id.sqlite");
    let dir = std::env::temp_dir().join(format!(
        "antirelou-pre-provider-id-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("db.sqlite");
    std::fs::copy(here, &db).unwrap();
    (dir, db)
}

fn inbound(provider: ProviderId, id: &str, from: &str, to: &PhoneNumber) -> InboundSms {
    InboundSms {
        provider,
        message_id: id.into(),
        from: Caller::Number(PhoneNumber::parse(from).unwrap()),
        to: to.clone(),
        body: "salut".into(),
        received_at: None,
    }
}

#[tokio::test]
async fn a_database_written_before_provider_ids_keeps_its_keys_and_pending_lessons() {
    let (dir, db) = copy_of_fixture();
    let store = SqliteStore::open(&db).await.unwrap();
    let fr = Locale::new("fr-FR").unwrap();
    let mut catalogue = Catalogue::default();
    catalogue.insert(lessons());
    let tw = PhoneNumber::parse("+33937000000").unwrap();
    let vo = PhoneNumber::parse("+33937000001").unwrap();
    // The fixture was written at T0; its lessons are due one hour later.
    let clock = ManualClock::new(Timestamp::from_secs(1_509_364_800 + 60));
    let engine = Engine::builder(
        Arc::new(store.clone()),
        NumberHasher::new(b"fixture secret, sixteen bytes").unwrap(),
    )
    .clock(Arc::new(clock.clone()))
    .catalogue(catalogue)
    .number(NumberConfig::new(tw.clone(), fr.clone(), TWILIO))
    .number(NumberConfig::new(vo.clone(), fr, VONAGE))
    .build()
    .unwrap();

    // The providers retry the webhooks the old code already scheduled: duplicates, nothing new.
    let retried = [
        inbound(TWILIO, TWILIO_SMS, "+33612345678", &tw),
        inbound(VONAGE, VONAGE_SMS, "+33698765432", &vo),
    ];
    for sms in retried {
        assert_eq!(engine.handle_sms(sms).await.unwrap(), SmsOutcome::Duplicate);
    }

    let stub = StubTransport::new();
    let dispatcher = engine.dispatcher(
        Transports::new()
            .with(TWILIO, Arc::new(stub.clone()), None)
            .with(VONAGE, Arc::new(stub.clone()), None),
    );
    assert_eq!(dispatcher.tick().await.unwrap().sent, 0, "not due yet");
    clock.advance(Duration::from_secs(3600));
    assert_eq!(dispatcher.tick().await.unwrap().sent, 2);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        dispatcher.tick().await.unwrap().sent,
        0,
        "each lesson is sent once"
    );
    let mut to: Vec<String> = stub.sent().iter().map(|m| m.to.e164().to_owned()).collect();
    to.sort();
    assert_eq!(to, ["+33612345678", "+33698765432"]);

    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
