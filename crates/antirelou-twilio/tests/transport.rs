//! `TwilioTransport` against a loopback server that plays Twilio's Messages API: every request is
//! checked (method, path, auth, each form field, encoding of French text), the answers are real
//! response and error bodies, and the core's transport conformance functions run against it.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use antirelou_core::conformance::{self, ExpectedError};
use antirelou_core::{Error, SmsTransport};
use antirelou_twilio::TwilioError;
use antirelou_twilio::client::{Auth, TwilioConfig, TwilioTransport};
use base64::Engine as _;
use support::fake_twilio::{Canned, FakeTwilio, errors};

const SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TOKEN: &str = "auth-token-0123";

/// The French lesson as written (curly apostrophes, `î`): UCS-2, 5 segments.
const LESSON_FR: &str = "Bonjour. Vous avez obtenu ce numéro en insistant auprès d’une femme qui ne souhaitait pas vous donner le sien. Ce numéro n’est pas le sien. S’il vous plaît, respectez un « non » : quand une femme ne veut pas vous donner son numéro, c’est qu’elle ne veut pas être contactée. Merci d’y penser.";

fn auth() -> Auth {
    Auth::AccountToken {
        account_sid: SID.into(),
        auth_token: TOKEN.into(),
    }
}

async fn setup() -> (FakeTwilio, TwilioTransport) {
    let fake = FakeTwilio::start(SID, SID, TOKEN).await;
    let sender =
        TwilioTransport::new(TwilioConfig::new(auth()).with_api_base(fake.base.clone())).unwrap();
    (fake, sender)
}

#[tokio::test]
async fn request_shape_is_exactly_what_twilio_expects() {
    let fake = FakeTwilio::start(SID, SID, TOKEN).await;
    let cb: url::Url = "https://antirelou.example.org/twilio/status?n=1&x=é"
        .parse()
        .unwrap();
    let sender = TwilioTransport::new(
        TwilioConfig::new(auth())
            .with_api_base(fake.base.clone())
            .with_status_callback(cb.clone()),
    )
    .unwrap();
    let sms = conformance::sample_sms(LESSON_FR, "reply-42-1");
    let receipt = conformance::transport_accepts(&sender, &sms).await;
    assert!(
        receipt.provider_id.starts_with("SM") && receipt.provider_id.len() == 34,
        "{receipt:?}"
    );
    assert_eq!(receipt.price, None, "Twilio gives no price at creation");

    assert_eq!(fake.violations(), Vec::<String>::new());
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, http::Method::POST);
    assert_eq!(r.path, format!("/2010-04-01/Accounts/{SID}/Messages.json"));
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    assert_eq!(r.header("authorization"), Some(expected_auth.as_str()));
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let names: Vec<&str> = r.form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["To", "From", "Body", "StatusCallback"]);
    assert_eq!(r.field("To"), Some("+33612345678"));
    assert_eq!(r.field("From"), Some("+33757000000"));
    assert_eq!(
        r.field("Body"),
        Some(LESSON_FR),
        "French text must round-trip exactly"
    );
    assert_eq!(r.field("StatusCallback"), Some(cb.as_str()));
    // Raw encoding: UTF-8 percent-encoded, `+` for spaces, the `’` as its three bytes.
    let raw = std::str::from_utf8(&r.raw_body).unwrap();
    assert!(
        raw.contains("Body=Bonjour.+Vous+avez+obtenu+ce+num%C3%A9ro"),
        "{raw}"
    );
    assert!(raw.contains("d%E2%80%99une"), "{raw}");
    assert!(raw.contains("%C2%AB+non+%C2%BB+%3A"), "{raw}");
    assert!(
        raw.starts_with("To=%2B33612345678&From=%2B33757000000&"),
        "{raw}"
    );
}

#[tokio::test]
async fn segments_from_the_response_or_our_own_count() {
    let (fake, sender) = setup().await;
    let sms = conformance::sample_sms(LESSON_FR, "r1");
    assert_eq!(sms.segments(), 5);
    fake.report_segments("5");
    assert_eq!(sender.send(&sms).await.unwrap().segments, 5);
    // A Messaging Service answers "0" at creation: our count is used.
    fake.report_segments("0");
    assert_eq!(sender.send(&sms).await.unwrap().segments, 5);
    fake.report_segments("7");
    assert_eq!(
        sender.send(&sms).await.unwrap().segments,
        7,
        "Twilio's count wins when it gives one"
    );
}

#[tokio::test]
async fn real_201_body_from_the_reference_with_price() {
    let (fake, sender) = setup().await;
    let body = r#"{"account_sid":"ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","api_version":"2010-04-01","body":"Hello! 👍","date_created":"Thu, 24 Aug 2023 05:01:45 +0000","date_sent":"Thu, 24 Aug 2023 05:01:45 +0000","date_updated":"Thu, 24 Aug 2023 05:01:45 +0000","direction":"outbound-api","error_code":null,"error_message":null,"from":"+14155552345","num_media":"0","num_segments":"1","price":"-0.07620","price_unit":"EUR","messaging_service_sid":"MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","sid":"SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","status":"queued","subresource_uris":{"media":"/2010-04-01/Accounts/AC/Messages/SM/Media.json"},"to":"+14155552345","uri":"/2010-04-01/Accounts/AC/Messages/SM.json","brand_new_field":{"x":[1,2]}}"#;
    fake.push(Canned::json(201, body));
    let r = conformance::transport_accepts(&sender, &conformance::sample_sms("Hello", "r")).await;
    assert_eq!(r.provider_id, "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_eq!(r.segments, 1);
    assert_eq!(r.price, antirelou_core::Price::parse("0.0762", "EUR"));
}

#[tokio::test]
async fn messaging_service_and_api_key_auth() {
    let fake = FakeTwilio::start(SID, "SKbbbb", "key-secret").await;
    let sender = TwilioTransport::new(
        TwilioConfig::new(Auth::ApiKey {
            account_sid: SID.into(),
            key_sid: "SKbbbb".into(),
            secret: "key-secret".into(),
        })
        .with_api_base(fake.base.clone())
        .with_messaging_service("MGcccc"),
    )
    .unwrap();
    conformance::transport_accepts(&sender, &conformance::sample_sms("Hi", "r")).await;
    assert_eq!(fake.violations(), Vec::<String>::new());
    let r = &fake.requests()[0];
    assert_eq!(r.field("MessagingServiceSid"), Some("MGcccc"));
    assert_eq!(r.field("From"), None);
    assert_eq!(
        r.path,
        format!("/2010-04-01/Accounts/{SID}/Messages.json"),
        "the account SID is in the path"
    );
}

#[tokio::test]
async fn error_mapping_with_real_error_bodies() {
    let (fake, sender) = setup().await;
    let sms = conformance::sample_sms("Bonjour", "r");

    fake.push(errors::opted_out());
    conformance::transport_classifies(&sender, &sms, ExpectedError::OptedOut).await;

    for canned in [
        errors::invalid_to(),
        errors::not_mobile(),
        errors::landline(),
    ] {
        fake.push(canned);
        let e =
            conformance::transport_classifies(&sender, &sms, ExpectedError::InvalidRecipient).await;
        assert!(
            !e.to_string().contains("+33612345678"),
            "numbers are masked: {e}"
        );
    }

    fake.push(errors::geo_permission());
    match conformance::transport_classifies(&sender, &sms, ExpectedError::Permanent).await {
        Error::Permanent { code, .. } => assert_eq!(code.as_deref(), Some("21408")),
        e => panic!("{e:?}"),
    }

    fake.push(errors::too_many_requests("3"));
    conformance::transport_classifies(
        &sender,
        &sms,
        ExpectedError::Transient {
            retry_after: Some(Duration::from_secs(3)),
        },
    )
    .await;

    // 429 without a Twilio body, still transient.
    fake.push(Canned::raw(429, "slow down"));
    conformance::transport_classifies(
        &sender,
        &sms,
        ExpectedError::Transient { retry_after: None },
    )
    .await;

    fake.push(errors::internal().with_header("Retry-After", "10"));
    conformance::transport_classifies(
        &sender,
        &sms,
        ExpectedError::Transient {
            retry_after: Some(Duration::from_secs(10)),
        },
    )
    .await;

    fake.push(Canned::raw(502, "<html><body>Bad Gateway</body></html>"));
    conformance::transport_classifies(&sender, &sms, ExpectedError::TransientAnyDelay).await;

    fake.push(Canned::raw(400, "garbage {{{"));
    conformance::transport_classifies(&sender, &sms, ExpectedError::Permanent).await;

    fake.push(errors::auth_failed());
    match conformance::transport_classifies(&sender, &sms, ExpectedError::Permanent).await {
        Error::Permanent { code, .. } => assert_eq!(code.as_deref(), Some("20003")),
        e => panic!("{e:?}"),
    }

    // A code nobody knows yet, as a string, with extra fields: permanent, parsed.
    fake.push(Canned::json(
        400,
        r#"{"code":"29999","message":"New thing","status":400,"details":{"a":1}}"#,
    ));
    match conformance::transport_classifies(&sender, &sms, ExpectedError::Permanent).await {
        Error::Permanent { code, .. } => assert_eq!(code.as_deref(), Some("29999")),
        e => panic!("{e:?}"),
    }
    fake.push(Canned::json(400, r#"{"code":null,"message":null}"#));
    conformance::transport_classifies(&sender, &sms, ExpectedError::Permanent).await;

    // The adapter's own error keeps Twilio's details.
    fake.push(errors::opted_out());
    match sender.send_message(&sms).await.unwrap_err() {
        TwilioError::Api {
            http_status, code, ..
        } => assert_eq!((http_status, code), (400, Some(21610))),
        e => panic!("{e:?}"),
    }
}

#[tokio::test]
async fn timeouts_are_transient() {
    let fake = FakeTwilio::start(SID, SID, TOKEN).await;
    let sender = TwilioTransport::new(
        TwilioConfig::new(auth())
            .with_api_base(fake.base.clone())
            .with_timeout(Duration::from_millis(200)),
    )
    .unwrap();
    fake.push(Canned::json(201, r#"{"sid":"SMx"}"#).delayed(Duration::from_secs(3)));
    let sms = conformance::sample_sms("Bonjour", "r");
    let e =
        conformance::transport_classifies(&sender, &sms, ExpectedError::TransientAnyDelay).await;
    assert!(e.to_string().contains("timeout"), "{e}");
}

#[tokio::test]
async fn connection_refused_is_transient() {
    // Bind then drop a listener to get a loopback port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let sender = TwilioTransport::new(
        TwilioConfig::new(auth())
            .with_api_base(format!("http://127.0.0.1:{port}").parse().unwrap()),
    )
    .unwrap();
    conformance::transport_classifies(
        &sender,
        &conformance::sample_sms("x", "r"),
        ExpectedError::TransientAnyDelay,
    )
    .await;
}

#[tokio::test]
async fn concurrent_sends() {
    let (fake, sender) = setup().await;
    let msgs: Vec<_> = (0..16)
        .map(|i| conformance::sample_sms("Bonjour", &format!("r{i}")))
        .collect();
    let receipts = conformance::transport_sends_concurrently(&sender, &msgs).await;
    let mut ids: Vec<_> = receipts.iter().map(|r| r.provider_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 16);
    assert_eq!(fake.requests().len(), 16);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn wrong_credentials_are_refused_by_the_fake() {
    // The fake really checks auth: a sender with another token gets Twilio's 20003.
    let fake = FakeTwilio::start(SID, SID, TOKEN).await;
    let sender = TwilioTransport::new(
        TwilioConfig::new(Auth::AccountToken {
            account_sid: SID.into(),
            auth_token: "wrong".into(),
        })
        .with_api_base(fake.base.clone()),
    )
    .unwrap();
    match sender
        .send(&conformance::sample_sms("x", "r"))
        .await
        .unwrap_err()
    {
        Error::Permanent { code, .. } => assert_eq!(code.as_deref(), Some("20003")),
        e => panic!("{e:?}"),
    }
    assert_eq!(fake.violations(), ["authorization header"]);
}
