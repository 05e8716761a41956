//! The sender against the kit's loopback fake provider; every request is checked (method, path,
//! Bearer key, JSON content type and fields).
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use antirelou_core::kit::fake_provider::{Canned, FakeProvider, Recorded};
use antirelou_core::{Error, Money, OutboundSms, PhoneNumber, SmsTransport};
use antirelou_telnyx::{TelnyxConfig, TelnyxTransport};
use http::Method;
use support::{API_KEY, PUBLIC_KEY, accepted, error};

fn sms() -> OutboundSms {
    OutboundSms::for_test(
        PhoneNumber::parse("+33612345678").unwrap(),
        PhoneNumber::parse("+32470123456").unwrap(),
        "Ce numéro refuse les avances.",
        "r42-1",
    )
}

fn sender_with_timeout(base: &str, timeout: Duration) -> TelnyxTransport {
    let config = TelnyxConfig::new(API_KEY, PUBLIC_KEY, base)
        .unwrap()
        .with_timeout(timeout);
    TelnyxTransport::new(config).unwrap()
}

/// A generous timeout: a loaded machine must not turn an answer into a timeout.
fn sender(base: &str) -> TelnyxTransport {
    sender_with_timeout(base, Duration::from_secs(20))
}

/// What Telnyx checks on every send.
fn check(r: &Recorded) -> serde_json::Value {
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.path, "/v2/messages");
    assert_eq!(r.bearer(), Some(API_KEY));
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        r.header("content-type")
    );
    let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json["from"], "+33612345678");
    assert_eq!(json["to"], "+32470123456");
    assert_eq!(json["text"], "Ce numéro refuse les avances.");
    json
}

async fn send_with(answer: Canned) -> (Result<antirelou_core::SendReceipt, Error>, FakeProvider) {
    let fake = FakeProvider::start().await;
    fake.on(Method::POST, "/v2/messages", answer);
    let result = sender(&fake.base_url()).send(&sms()).await;
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    check(&reqs[0]);
    (result, fake)
}

#[tokio::test]
async fn accepted_send_posts_json_with_bearer_and_reads_id_and_cost() {
    let (result, fake) = send_with(accepted(
        "40385f64-5717-4562-b3fc-2c963f66afa6",
        Some(("0.0051", "USD")),
    ))
    .await;
    let receipt = result.unwrap();
    assert_eq!(receipt.provider_id, "40385f64-5717-4562-b3fc-2c963f66afa6");
    assert_eq!(receipt.segments, 1);
    assert_eq!(
        receipt.price,
        Some(antirelou_core::Price::new(
            Money::from_micros(5_100),
            antirelou_core::Currency::USD
        ))
    );
    let json = check(&fake.requests()[0]);
    assert_eq!(json.as_object().unwrap().len(), 3, "{json:?}");
}

#[tokio::test]
async fn a_cost_keeps_its_currency() {
    let (result, _) = send_with(accepted("id-eur", Some(("0.0400", "EUR")))).await;
    assert_eq!(
        result.unwrap().price,
        antirelou_core::Price::parse("0.04", "EUR")
    );
}

#[tokio::test]
async fn messaging_profile_is_sent_when_configured() {
    let fake = FakeProvider::start().await;
    fake.on(Method::POST, "/v2/messages", accepted("id", None));
    let config = TelnyxConfig::new(API_KEY, PUBLIC_KEY, &fake.base_url())
        .unwrap()
        .with_messaging_profile("16fd2706-8baf-433b-82eb-8c7fada847da");
    TelnyxTransport::new(config)
        .unwrap()
        .send(&sms())
        .await
        .unwrap();
    let json = check(&fake.requests()[0]);
    assert_eq!(
        json["messaging_profile_id"],
        "16fd2706-8baf-433b-82eb-8c7fada847da"
    );
}

#[tokio::test]
async fn stop_40300_is_an_opt_out() {
    let (result, _) = send_with(error(
        409,
        "40300",
        "Blocked due to STOP message",
        "Messages cannot be sent from '+33612345678' to '+32470123456' due to an existing block rule.",
    ))
    .await;
    let e = result.unwrap_err();
    assert!(matches!(e, Error::RecipientOptedOut), "{e:?}");
}

#[tokio::test]
async fn invalid_destination_is_an_invalid_recipient_without_the_number() {
    let (result, _) = send_with(error(
        400,
        "40012",
        "Invalid destination number",
        "'+32470123456' rejected",
    ))
    .await;
    let e = result.unwrap_err();
    assert!(matches!(e, Error::InvalidRecipient { .. }), "{e:?}");
    assert!(!e.to_string().contains("32470123456"), "{e}");
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_transient_with_retry_after() {
    let (result, _) = send_with(
        error(429, "10011", "Too many requests", "slow down").with_header("Retry-After", "7"),
    )
    .await;
    let e = result.unwrap_err();
    assert!(e.is_transient());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    let (result, _) = send_with(Canned::raw(503, "text/html", "<html>maintenance</html>")).await;
    assert!(result.unwrap_err().is_transient());
    let (result, _) = send_with(error(400, "40011", "Rate limit exceeded", "upstream")).await;
    assert!(result.unwrap_err().is_transient());
}

#[tokio::test]
async fn auth_failure_is_permanent_with_its_code_and_no_key() {
    let (result, _) = send_with(error(
        401,
        "10009",
        "Authentication failed",
        "The API key is invalid.",
    ))
    .await;
    let e = result.unwrap_err();
    assert!(
        matches!(&e, Error::Permanent { code: Some(c), .. } if c == "10009"),
        "{e:?}"
    );
    assert!(!format!("{e} {e:?}").contains(API_KEY));
}

#[tokio::test]
async fn a_2xx_without_id_or_json_leaves_the_outcome_unknown() {
    let (result, _) = send_with(Canned::json(
        200,
        serde_json::json!({"data": {"record_type": "message"}}),
    ))
    .await;
    assert!(result.unwrap_err().is_transient());
    let (result, _) = send_with(Canned::raw(200, "application/json", "not json")).await;
    assert!(result.unwrap_err().is_transient());
}

#[tokio::test]
async fn timeout_and_refused_connection_are_transient() {
    let fake = FakeProvider::start().await;
    fake.on(
        Method::POST,
        "/v2/messages",
        accepted("late", None).delayed(Duration::from_secs(30)),
    );
    // The fake answers after 30 s; a short timeout can only fire earlier, however slow the machine.
    let e = sender_with_timeout(&fake.base_url(), Duration::from_millis(300))
        .send(&sms())
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    // A port nobody listens on: bind one, then free it.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let e = sender(&format!("http://{addr}"))
        .send(&sms())
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert!(!format!("{e} {e:?}").contains(API_KEY));
}

#[tokio::test]
async fn debug_shows_no_secret() {
    let s = sender("http://127.0.0.1:9");
    let d = format!("{s:?}");
    assert!(!d.contains(API_KEY), "{d}");
    assert!(!d.contains("TestSecretValue"), "{d}");
}
