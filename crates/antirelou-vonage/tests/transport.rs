//! `VonageTransport` against the loopback fake of Vonage's SMS API.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use antirelou_core::{
    Error, ManualClock, Money, OutboundSms, PhoneNumber, SmsTransport, Timestamp,
};
use antirelou_vonage::signature::SignatureMethod;
use antirelou_vonage::{VonageAuth, VonageConfig, VonageTransport};
use support::fake_vonage::{Auth, Expect, FakeVonage, Scripted, bodies};

const NOW: i64 = 1_717_000_000;
/// The French lesson as written: curly apostrophes and "plaît" make it UCS-2, 5 segments.
const LESSON_FR: &str = "Oh, bonjour ! Si vous lisez ce message, c’est que vous avez mis une femme mal à l’aise. Avec vous, elle ne s’est pas sentie en sécurité, elle ne s’est pas sentie respectée. Apprenez s’il vous plaît à accepter un non comme réponse. Respectez l’autonomie des femmes dans leurs actes et décisions. Merci";
const GSM_TEXT: &str = "Le consentement, ca compte. Merci de respecter les femmes.";

fn sms(body: &str, client_ref: &str) -> OutboundSms {
    OutboundSms::for_test(
        PhoneNumber::parse("+33757000000").unwrap(),
        PhoneNumber::parse("+33612345678").unwrap(),
        body,
        client_ref,
    )
}

async fn setup(auth: VonageAuth, callback: Option<&str>) -> (FakeVonage, VonageTransport) {
    let fake_auth = match &auth {
        VonageAuth::Secret(s) => Auth::Secret(s.clone()),
        VonageAuth::Signature { secret, method } => Auth::Signature(secret.clone(), *method),
        _ => unreachable!(),
    };
    let fake = FakeVonage::start(Expect {
        api_key: "abcd1234".into(),
        auth: fake_auth,
        callback: callback.map(str::to_owned),
        now: NOW,
    })
    .await;
    let mut cfg = VonageConfig::new("abcd1234", auth)
        .with_api_base(fake.base_url())
        .with_timeout(Duration::from_secs(5))
        .with_billing_currency(antirelou_core::Currency::EUR);
    if let Some(cb) = callback {
        cfg = cfg.with_callback(url::Url::parse(cb).unwrap());
    }
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let sender = VonageTransport::with_http_client(cfg, http)
        .unwrap()
        .with_clock(Arc::new(ManualClock::new(Timestamp::from_secs(NOW))));
    (fake, sender)
}

#[tokio::test]
async fn french_ucs2_lesson_goes_out_as_unicode_with_secret() {
    let (fake, sender) = setup(
        VonageAuth::Secret("s3cr3t".into()),
        Some("https://example.org/vonage/dlr"),
    )
    .await;
    let msg = sms(LESSON_FR, "r42-a1");
    assert!(msg.is_unicode());
    let receipt = sender.send(&msg).await.unwrap();
    assert_eq!(fake.violations(), Vec::<String>::new());
    let got = &fake.received()[0];
    assert_eq!(got.get("text"), Some(LESSON_FR), "text exact");
    assert_eq!(got.get("type"), Some("unicode"));
    assert_eq!(got.get("to"), Some("33612345678"));
    assert_eq!(got.get("from"), Some("33757000000"));
    assert_eq!(got.get("client-ref"), Some("r42-a1"));
    assert_eq!(got.get("callback"), Some("https://example.org/vonage/dlr"));
    assert_eq!(receipt.segments, 5);
    assert_eq!(
        receipt.price,
        Some(antirelou_core::Price::new(
            Money::from_micros(5 * 33_300),
            antirelou_core::Currency::EUR
        ))
    );
    assert_eq!(receipt.provider_id, "0C000000217B7F03");
}

#[tokio::test]
async fn gsm_text_goes_out_without_type_and_signed() {
    for method in [
        SignatureMethod::Md5Hash,
        SignatureMethod::Md5Hmac,
        SignatureMethod::Sha1Hmac,
        SignatureMethod::Sha256Hmac,
        SignatureMethod::Sha512Hmac,
    ] {
        let (fake, sender) = setup(
            VonageAuth::Signature {
                secret: "sigsecret".into(),
                method,
            },
            None,
        )
        .await;
        let receipt = sender.send(&sms(GSM_TEXT, "r1")).await.unwrap();
        assert_eq!(fake.violations(), Vec::<String>::new(), "{method}");
        let got = &fake.received()[0];
        assert_eq!(got.get("type"), None);
        assert_eq!(got.get("timestamp"), Some(NOW.to_string().as_str()));
        assert!(got.get("api_secret").is_none());
        assert_eq!(got.get("text"), Some(GSM_TEXT));
        assert_eq!(receipt.segments, 1);
    }
}

#[tokio::test]
async fn long_client_ref_is_cut_to_40() {
    let (fake, sender) = setup(VonageAuth::Secret("s".into()), None).await;
    let long = "x".repeat(64);
    sender.send(&sms(GSM_TEXT, &long)).await.unwrap();
    assert_eq!(fake.violations(), Vec::<String>::new());
    assert_eq!(fake.received()[0].get("client-ref").map(str::len), Some(40));
}

type Check = fn(&Error) -> bool;

#[tokio::test]
async fn status_codes_map_to_core_errors() {
    let (fake, sender) = setup(VonageAuth::Secret("s".into()), None).await;
    let cases: Vec<(Scripted, Check)> = vec![
        (Scripted::ok_json(bodies::THROTTLED), |e| e.is_transient()),
        (
            Scripted::ok_json(bodies::BARRED),
            |e| matches!(e, Error::InvalidRecipient { message } if message.contains("Number barred.")),
        ),
        (Scripted::ok_json(bodies::DEACTIVATED), |e| {
            matches!(e, Error::InvalidRecipient { .. })
        }),
        (
            Scripted::ok_json(bodies::BAD_CREDENTIALS),
            |e| matches!(e, Error::Permanent { code: Some(c), .. } if c == "4"),
        ),
        (
            Scripted::ok_json(bodies::NO_CREDIT),
            |e| matches!(e, Error::Permanent { code: Some(c), .. } if c == "9"),
        ),
        (
            Scripted::ok_json(bodies::BAD_SENDER),
            |e| matches!(e, Error::Permanent { code: Some(c), .. } if c == "15"),
        ),
        (
            Scripted::ok_json(bodies::UNKNOWN_CODE),
            |e| matches!(e, Error::Permanent { code: Some(c), .. } if c == "77"),
        ),
        (Scripted::status(500, "Internal Server Error"), |e| {
            e.is_transient()
        }),
        (Scripted::status(502, "<html>bad gateway</html>"), |e| {
            e.is_transient()
        }),
        (
            Scripted::status(
                401,
                r#"{"type":"https://developer.nexmo.com/api-errors#unauthorized","title":"Unauthorized"}"#,
            ),
            |e| matches!(e, Error::Permanent { code: Some(c), .. } if c == "http-401"),
        ),
        (Scripted::ok_json("this is not json"), |e| e.is_transient()),
    ];
    for (scripted, ok) in cases {
        let body = scripted.body.clone();
        fake.push(scripted);
        let e = sender.send(&sms(GSM_TEXT, "r")).await.unwrap_err();
        assert!(ok(&e), "{body} -> {e:?}");
    }
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn retry_after_is_honoured_on_429() {
    let (fake, sender) = setup(VonageAuth::Secret("s".into()), None).await;
    fake.push(Scripted {
        retry_after: Some("30".into()),
        ..Scripted::status(429, "")
    });
    let e = sender.send(&sms(GSM_TEXT, "r")).await.unwrap_err();
    assert!(e.is_transient());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
}

#[tokio::test]
async fn partial_failure_is_sent_with_the_accepted_parts() {
    let (fake, sender) = setup(VonageAuth::Secret("s".into()), None).await;
    fake.push(Scripted::ok_json(bodies::PARTIAL));
    let r = sender.send(&sms(GSM_TEXT, "r")).await.unwrap();
    assert_eq!(r.provider_id, "0C000000217B7F02");
    assert_eq!(r.segments, 1);
    assert_eq!(
        r.price,
        Some(antirelou_core::Price::new(
            Money::from_micros(33_300),
            antirelou_core::Currency::EUR
        ))
    );
}

#[tokio::test]
async fn connection_refused_and_timeout_are_transient() {
    // A port that nothing listens on: bind, read the port, drop the listener.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = VonageConfig::new("k", VonageAuth::Secret("s".into()))
        .with_api_base(url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap());
    let sender = VonageTransport::with_http_client(
        cfg,
        reqwest::Client::builder().no_proxy().build().unwrap(),
    )
    .unwrap();
    assert!(
        sender
            .send(&sms(GSM_TEXT, "r"))
            .await
            .unwrap_err()
            .is_transient()
    );

    // A server that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let cfg = VonageConfig::new("k", VonageAuth::Secret("s".into()))
        .with_api_base(url::Url::parse(&format!("http://{addr}")).unwrap())
        .with_timeout(Duration::from_millis(300));
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let sender = VonageTransport::with_http_client(cfg, http).unwrap();
    let e = sender.send(&sms(GSM_TEXT, "r")).await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
}

#[tokio::test]
async fn base_url_with_a_path_and_sender_override() {
    let (fake, _) = setup(VonageAuth::Secret("s".into()), None).await;
    // A base with a trailing path segment: the endpoint keeps it.
    let cfg = VonageConfig::new("abcd1234", VonageAuth::Secret("s".into()))
        .with_api_base(url::Url::parse(&format!("http://{}/v1", fake.addr)).unwrap());
    let sender = VonageTransport::with_http_client(cfg, reqwest::Client::new()).unwrap();
    assert_eq!(sender.endpoint().path(), "/v1/sms/json");
    // Override the sender with an alphanumeric ID.
    let cfg = VonageConfig::new("abcd1234", VonageAuth::Secret("s".into()))
        .with_api_base(fake.base_url())
        .with_from("Antirelou");
    let sender = VonageTransport::with_http_client(
        cfg,
        reqwest::Client::builder().no_proxy().build().unwrap(),
    )
    .unwrap();
    sender.send(&sms(GSM_TEXT, "r")).await.unwrap();
    assert_eq!(
        fake.received().last().unwrap().get("from"),
        Some("Antirelou")
    );
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[test]
fn bad_configurations_are_refused() {
    let c = || reqwest::Client::new();
    assert!(
        VonageTransport::with_http_client(
            VonageConfig::new("", VonageAuth::Secret("s".into())),
            c()
        )
        .is_err()
    );
    assert!(
        VonageTransport::with_http_client(
            VonageConfig::new("k", VonageAuth::Secret(String::new())),
            c()
        )
        .is_err()
    );
    let ftp = VonageConfig::new("k", VonageAuth::Secret("s".into()))
        .with_api_base(url::Url::parse("ftp://x").unwrap());
    assert!(VonageTransport::with_http_client(ftp, c()).is_err());
}

/// The core's transport conformance checks, against the fake Vonage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_sender_conformance() {
    use antirelou_core::conformance::{self, ExpectedError};
    for auth in [
        VonageAuth::Secret("s3cr3t".into()),
        VonageAuth::Signature {
            secret: "sigsecret".into(),
            method: SignatureMethod::Md5Hash,
        },
    ] {
        let (fake, sender) = setup(auth, Some("https://example.org/vonage/dlr")).await;
        let lesson = conformance::sample_sms(LESSON_FR, "reply-42-1");
        let r = conformance::transport_accepts(&sender, &lesson).await;
        assert_eq!(r.segments, 5);
        let gsm = conformance::sample_sms(GSM_TEXT, "reply-43-1");
        assert_eq!(
            conformance::transport_accepts(&sender, &gsm).await.segments,
            1
        );

        let cases = [
            (
                Scripted::ok_json(bodies::THROTTLED),
                ExpectedError::Transient { retry_after: None },
            ),
            (
                Scripted {
                    retry_after: Some("30".into()),
                    ..Scripted::status(429, "")
                },
                ExpectedError::Transient {
                    retry_after: Some(Duration::from_secs(30)),
                },
            ),
            (
                Scripted::status(503, "busy"),
                ExpectedError::TransientAnyDelay,
            ),
            (
                Scripted::ok_json("garbage"),
                ExpectedError::TransientAnyDelay,
            ),
            (
                Scripted::ok_json(bodies::BARRED),
                ExpectedError::InvalidRecipient,
            ),
            (
                Scripted::ok_json(bodies::DEACTIVATED),
                ExpectedError::InvalidRecipient,
            ),
            (
                Scripted::ok_json(bodies::BAD_CREDENTIALS),
                ExpectedError::Permanent,
            ),
            (
                Scripted::ok_json(bodies::NO_CREDIT),
                ExpectedError::Permanent,
            ),
            (
                Scripted::ok_json(bodies::BAD_SENDER),
                ExpectedError::Permanent,
            ),
            (
                Scripted::ok_json(bodies::UNKNOWN_CODE),
                ExpectedError::Permanent,
            ),
        ];
        for (scripted, expected) in cases {
            fake.push(scripted);
            conformance::transport_classifies(&sender, &gsm, expected).await;
        }

        let many: Vec<OutboundSms> = (0..20)
            .map(|i| conformance::sample_sms(GSM_TEXT, &format!("reply-{i}-1")))
            .collect();
        let receipts = conformance::transport_sends_concurrently(&sender, &many).await;
        let mut ids: Vec<&str> = receipts.iter().map(|r| r.provider_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 20, "one provider id per message");
        assert_eq!(fake.violations(), Vec::<String>::new());
        assert_eq!(fake.received().len(), 2 + 10 + 20);
    }
}
