//! The spend cap holds against the real bill when the provider bills more than the configured
//! price (€0.20 a segment against €0.07627): reservations follow the price the provider
//! actually billed, learned from receipts and from delivery reports.
#![allow(clippy::unwrap_used)]

mod engine_support;

use antirelou_core::event::{DeliveryReport, DeliveryState, ProviderId};
use antirelou_core::stub::StubTransport;
use antirelou_core::{CurrencyRates, InboundHandler, Money};
use engine_support::*;

const CONFIGURED: Money = Money::from_micros(76_270);
const BILLED: Money = Money::from_micros(200_000);

fn capped(daily: Money, stub: StubTransport, claim_batch: usize) -> Harness {
    engine_support::capped(
        daily,
        CONFIGURED,
        stub,
        claim_batch,
        CurrencyRates::default(),
    )
}

#[tokio::test]
async fn priced_receipts_keep_the_real_bill_under_the_cap() {
    // Vonage prices each send in its response.
    let cap = Money::from_micros(950_000);
    let h = capped(
        cap,
        StubTransport::new().with_price(antirelou_core::Price::new(
            BILLED,
            antirelou_core::Currency::EUR,
        )),
        16,
    );
    men_text_then_an_hour(&h, 10).await;
    h.dispatcher.tick().await.unwrap();
    let real_bill = BILLED * h.stub.sent_count() as u32;
    assert!(
        real_bill <= cap,
        "real bill {real_bill:?} over the cap {cap:?}"
    );
    assert_eq!(
        h.stub.sent_count(),
        4,
        "€0.80 sent, the fifth would make €1.00"
    );
    assert_eq!(h.engine.stats().await.unwrap().spend.day, real_bill);
}

#[tokio::test]
async fn prices_from_delivery_reports_keep_the_real_bill_under_the_cap() {
    // Twilio gives the price later, in a status callback.
    let cap = Money::from_micros(950_000);
    let h = capped(cap, StubTransport::new(), 1);
    men_text_then_an_hour(&h, 10).await;
    let mut reported = 0;
    for _ in 0..20 {
        h.dispatcher.tick().await.unwrap();
        for m in h.stub.sent().iter().skip(reported) {
            h.engine
                .handle_delivery(DeliveryReport {
                    provider: ProviderId::from_static("twilio"),
                    message_id: m.provider_id.clone(),
                    state: DeliveryState::Delivered,
                    price: Some(antirelou_core::Price::new(
                        BILLED,
                        antirelou_core::Currency::EUR,
                    )),
                    error_code: None,
                    failure: None,
                })
                .await
                .unwrap();
            reported += 1;
        }
    }
    let real_bill = BILLED * h.stub.sent_count() as u32;
    assert!(
        real_bill <= cap,
        "real bill {real_bill:?} over the cap {cap:?}"
    );
    assert_eq!(h.stub.sent_count(), 4);
    assert_eq!(h.engine.stats().await.unwrap().spend.day, real_bill);
}

#[tokio::test]
async fn the_only_overrun_is_a_send_reserved_before_its_price_was_seen() {
    // A cap smaller than one real send: the first send is reserved at the configured price (no
    // real price seen yet) and goes; it is the documented bound, segments × (real − reserved).
    let cap = Money::from_micros(150_000);
    let h = capped(
        cap,
        StubTransport::new().with_price(antirelou_core::Price::new(
            BILLED,
            antirelou_core::Currency::EUR,
        )),
        16,
    );
    men_text_then_an_hour(&h, 10).await;
    h.dispatcher.tick().await.unwrap();
    assert_eq!(h.stub.sent_count(), 1);
    let real_bill = BILLED;
    assert!(real_bill <= cap + (BILLED - CONFIGURED));
    // Once the price is known nothing more goes out today.
    h.dispatcher.tick().await.unwrap();
    assert_eq!(h.stub.sent_count(), 1);
}
