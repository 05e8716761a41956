//! Provider prices in another currency than the ledger's are converted with the configured
//! fixed rate before they reach the spend cap; a price in a currency without a rate is never
//! taken 1:1 (counted `price.unknown_currency`, the reserved estimate kept).
#![allow(clippy::unwrap_used)]

mod engine_support;

use antirelou_core::currency::{Currency, CurrencyRates, Price, Rate};
use antirelou_core::event::{DeliveryReport, DeliveryState, ProviderId};
use antirelou_core::stub::StubTransport;
use antirelou_core::{InboundHandler, Money};
use engine_support::*;

const CONFIGURED: Money = Money::from_micros(76_270);
/// What the provider bills per send: 0.25 USD, which is 0.20 EUR at 0.80.
const BILLED_USD: Money = Money::from_micros(250_000);

fn eur_ledger_with_usd_at_0_80() -> CurrencyRates {
    CurrencyRates::new(Currency::EUR)
        .with_rate(Currency::USD, Rate::parse_decimal("0.80").unwrap())
        .unwrap()
}

fn capped(daily: Money, stub: StubTransport, claim_batch: usize) -> Harness {
    engine_support::capped(
        daily,
        CONFIGURED,
        stub,
        claim_batch,
        eur_ledger_with_usd_at_0_80(),
    )
}

#[tokio::test]
async fn a_usd_receipt_is_converted_before_the_cap() {
    let cap = Money::from_micros(950_000);
    let stub = StubTransport::new().with_price(Price::new(BILLED_USD, Currency::USD));
    let h = capped(cap, stub, 16);
    men_text_then_an_hour(&h, 10).await;
    h.dispatcher.tick().await.unwrap();
    h.dispatcher.tick().await.unwrap();
    // 0.20 EUR a send: four go (0.80), a fifth would make 1.00. Taken 1:1 (0.25), three would.
    assert_eq!(h.stub.sent_count(), 4);
    let stats = h.engine.stats().await.unwrap();
    assert_eq!(stats.spend.day, Money::from_micros(800_000));
    assert_eq!(stats.counter("price.unknown_currency"), 0);
}

#[tokio::test]
async fn a_usd_delivery_report_corrects_the_estimate_converted() {
    let h = capped(Money::from_micros(100_000_000), StubTransport::new(), 16);
    h.engine
        .handle_sms(sms("SM1", &mobile(1), "hi"))
        .await
        .unwrap();
    h.clock.advance(HOUR);
    h.dispatcher.tick().await.unwrap();
    let sent = h.stub.sent();
    assert_eq!(sent.len(), 1);
    let segments = u32::try_from(sent.len()).unwrap();
    let estimated = h.engine.stats().await.unwrap().spend.day;
    assert!(estimated >= CONFIGURED * segments);
    h.engine
        .handle_delivery(DeliveryReport {
            provider: ProviderId::from_static("twilio"),
            message_id: sent[0].provider_id.clone(),
            state: DeliveryState::Delivered,
            price: Some(Price::new(BILLED_USD, Currency::USD)),
            error_code: None,
            failure: None,
        })
        .await
        .unwrap();
    assert_eq!(
        h.engine.stats().await.unwrap().spend.day,
        Money::from_micros(200_000)
    );
}

#[tokio::test]
async fn a_price_in_a_currency_without_a_rate_keeps_the_estimate_and_is_counted() {
    let cap = Money::from_micros(100_000_000);
    let stub = StubTransport::new().with_price(Price::new(BILLED_USD, Currency::GBP));
    let h = capped(cap, stub, 16);
    men_text_then_an_hour(&h, 10).await;
    h.dispatcher.tick().await.unwrap();
    let sent = h.stub.sent_count();
    assert!(sent >= 1);
    let stats = h.engine.stats().await.unwrap();
    assert_eq!(stats.counter("price.unknown_currency"), sent as u64);
    // Neither 0.25 taken as euros nor nothing: the reserved estimate, per send.
    let per_send = stats.spend.day.micros() / sent as i64;
    assert_ne!(per_send, BILLED_USD.micros());
    assert_eq!(stats.spend.day, CONFIGURED * u32::try_from(sent).unwrap());

    // A delivery report in that currency does not touch the ledger either.
    h.engine
        .handle_delivery(DeliveryReport {
            provider: ProviderId::from_static("twilio"),
            message_id: h.stub.sent()[0].provider_id.clone(),
            state: DeliveryState::Delivered,
            price: Some(Price::new(Money::from_micros(9_999_999), Currency::GBP)),
            error_code: None,
            failure: None,
        })
        .await
        .unwrap();
    let after = h.engine.stats().await.unwrap();
    assert_eq!(after.spend.day, stats.spend.day);
    assert_eq!(after.counter("price.unknown_currency"), sent as u64 + 1);
}
