//! A provider that is not in this workspace plugs into the engine and the dispatcher from the
//! public API alone: its own [`ProviderId`], its own inbound parsing, its own [`SmsTransport`]. Its
//! webhooks are deduplicated under keys made from its id, its sends go through its sender, and
//! its delivery reports are accepted for its numbers and refused for another provider's.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use antirelou_core::catalogue::Locale;
use antirelou_core::engine::{Engine, EngineConfig, NumberConfig, Transports};
use antirelou_core::event::{DeliveryReport, DeliveryState, InboundSms};
use antirelou_core::memory::InMemoryStore;
use antirelou_core::privacy::NumberHasher;
use antirelou_core::store::ReplyQueue;
use antirelou_core::{
    Caller, Error, InboundHandler, ManualClock, Money, OutboundSms, PhoneNumber, ProviderId,
    Result, SendReceipt, SmsOutcome, SmsTransport, Timestamp,
};
use async_trait::async_trait;
use parking_lot::Mutex;

/// The third provider's identity, declared as an adapter crate would.
const ACME: ProviderId = ProviderId::from_static("acme-sms");

/// Acme's inbound webhook body: `id=…&from=…&to=…&text=…` (no escaping, for the test).
fn parse_acme(body: &str) -> Result<InboundSms> {
    let field = |name: &str| {
        body.split('&')
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .ok_or_else(|| Error::Config(format!("acme webhook without {name}")))
    };
    Ok(InboundSms {
        provider: ACME,
        message_id: field("id")?.to_owned(),
        from: Caller::parse(field("from")?)?,
        to: PhoneNumber::parse(field("to")?)?,
        body: field("text")?.to_owned(),
        received_at: None,
    })
}

/// Acme's sender: accepts everything, ids `ACME-OUT-1`, `ACME-OUT-2`…, one cent a message.
#[derive(Debug, Default)]
struct AcmeTransport {
    sent: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl SmsTransport for AcmeTransport {
    async fn send(&self, sms: &OutboundSms) -> Result<SendReceipt> {
        let mut sent = self.sent.lock();
        sent.push((sms.to().e164().to_owned(), sms.body().to_owned()));
        Ok(SendReceipt {
            provider_id: format!("ACME-OUT-{}", sent.len()),
            segments: sms.segments(),
            price: Some(antirelou_core::Price::new(
                Money::from_micros(10_000),
                antirelou_core::Currency::EUR,
            )),
        })
    }
}

#[tokio::test]
async fn a_provider_defined_outside_the_workspace_plugs_into_engine_and_dispatcher() {
    let ours = PhoneNumber::parse("+33937000000").unwrap();
    let clock = ManualClock::new(Timestamp::from_secs(1_700_000_000));
    let store = InMemoryStore::new();
    let engine = Engine::builder(
        Arc::new(store.clone()),
        NumberHasher::new(b"a secret of sixteen bytes").unwrap(),
    )
    .clock(Arc::new(clock.clone()))
    .config(EngineConfig {
        reply_delay: Duration::from_secs(3600),
        reply_jitter: Duration::ZERO,
        ..EngineConfig::default()
    })
    .number(NumberConfig::new(ours, Locale::new("fr-FR").unwrap(), ACME))
    .build()
    .unwrap();

    let webhook = "id=ACME-IN-1&from=+33612345678&to=+33937000000&text=salut";
    let sms = parse_acme(webhook).unwrap();
    assert_eq!(engine.handle_sms(sms).await.unwrap(), SmsOutcome::Scheduled);
    // Acme retries its webhook: same id, a duplicate.
    let again = parse_acme(webhook).unwrap();
    assert_eq!(
        engine.handle_sms(again).await.unwrap(),
        SmsOutcome::Duplicate
    );
    // The key is made from Acme's id, byte for byte.
    assert!(
        store
            .find_by_key("acme-sms:ACME-IN-1:lesson")
            .await
            .unwrap()
            .is_some()
    );

    let acme = Arc::new(AcmeTransport::default());
    let dispatcher = engine.dispatcher(Transports::new().with(ACME, acme.clone(), None));
    assert_eq!(dispatcher.tick().await.unwrap().sent, 0);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(dispatcher.tick().await.unwrap().sent, 1);
    assert_eq!(acme.sent.lock().len(), 1);
    assert_eq!(acme.sent.lock()[0].0, "+33612345678");

    // Acme reports the delivery; a report for the same message from another provider is refused.
    let report = |provider| DeliveryReport {
        provider,
        message_id: "ACME-OUT-1".into(),
        state: DeliveryState::Delivered,
        price: None,
        error_code: None,
        failure: None,
    };
    engine.handle_delivery(report(ACME)).await.unwrap();
    let other = ProviderId::from_static("other");
    assert!(matches!(
        engine.handle_delivery(report(other)).await,
        Err(Error::WrongProvider {
            owner: "acme-sms",
            provider: "other",
            ..
        })
    ));
    let stats = engine.stats().await.unwrap();
    assert_eq!(stats.counter("delivery.reports"), 2);
}
