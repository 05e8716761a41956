//! The webhook endpoints through the axum router on a loopback server: signed requests reach the
//! handler, everything else is refused before it.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use antirelou_core::event::DeliveryState;
use antirelou_core::kit::recording::{Failure, RecordingHandler};
use antirelou_core::voice::{VoiceHint, VoiceScript};
use antirelou_core::{Caller, ManualClock, Money, Timestamp};
use antirelou_telnyx::codes::CodeClass;
use antirelou_telnyx::webhook::{TelnyxEvent, parse_event};
use antirelou_telnyx::{TelnyxWebhooks, WebhookVerifier};
use support::{PUBLIC_KEY, inbound_body, sign};

const T: i64 = 1_700_000_000;

async fn serve(recorder: Arc<RecordingHandler>) -> String {
    let verifier = WebhookVerifier::from_base64(PUBLIC_KEY).unwrap();
    let hooks = TelnyxWebhooks::builder(recorder, verifier)
        .clock(Arc::new(ManualClock::new(Timestamp::from_secs(T))))
        .build();
    let app = antirelou_telnyx::router::router(Arc::new(hooks));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

async fn post(
    base: &str,
    path: &str,
    body: &str,
    ts: &str,
    sig: Option<String>,
    ct: &str,
) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", ct)
        .header("telnyx-timestamp", ts)
        .body(body.to_owned());
    if let Some(sig) = sig {
        req = req.header("telnyx-signature-ed25519", sig);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn post_signed(base: &str, path: &str, body: &str, ct: &str) -> (u16, String) {
    post(
        base,
        path,
        body,
        "1700000000",
        Some(sign("1700000000", body.as_bytes())),
        ct,
    )
    .await
}

fn failing(f: Failure) -> Arc<RecordingHandler> {
    let r = Arc::new(RecordingHandler::new());
    r.fail_with(Some(f));
    r
}

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn signed_inbound_sms_is_handled_and_a_redelivery_keeps_its_id() {
    let rec = Arc::new(RecordingHandler::new());
    let base = serve(rec.clone()).await;
    let body = inbound_body("84cca175-9755-4859-b67f-4730d7f58aa3", "Salut");
    assert_eq!(post_signed(&base, "/telnyx/sms", &body, JSON).await.0, 200);
    assert_eq!(post_signed(&base, "/telnyx/sms", &body, JSON).await.0, 200);
    let seen = rec.sms();
    assert_eq!(seen.len(), 2);
    let sms = &seen[0];
    assert_eq!(sms.message_id, "84cca175-9755-4859-b67f-4730d7f58aa3");
    assert_eq!(sms.message_id, seen[1].message_id);
    assert_eq!(sms.to.e164(), "+33612345678");
    assert!(matches!(&sms.from, Caller::Number(n) if n.e164() == "+32470123456"));
    assert_eq!(sms.body, "Salut");
    assert_eq!(sms.received_at, Some(Timestamp::from_secs(T)));
    assert_eq!(sms.provider, antirelou_telnyx::PROVIDER);
}

#[tokio::test]
async fn forged_stale_or_unsigned_requests_get_403_and_reach_nothing() {
    let rec = Arc::new(RecordingHandler::new());
    let base = serve(rec.clone()).await;
    let body = inbound_body("m-1", "Salut");
    let other = support::sign_with(&[9u8; 32], "1700000000", body.as_bytes());
    let stale_ts = (T - 301).to_string();
    let stale = sign(&stale_ts, body.as_bytes());
    let future_ts = (T + 301).to_string();
    let future = sign(&future_ts, body.as_bytes());
    let altered = body.replace("Salut", "Salue");
    let genuine = sign("1700000000", body.as_bytes());
    for (path, b, ts, sig) in [
        ("/telnyx/sms", body.as_str(), "1700000000", Some(other)),
        ("/telnyx/sms", body.as_str(), stale_ts.as_str(), Some(stale)),
        (
            "/telnyx/sms",
            body.as_str(),
            future_ts.as_str(),
            Some(future),
        ),
        (
            "/telnyx/sms",
            altered.as_str(),
            "1700000000",
            Some(genuine.clone()),
        ),
        ("/telnyx/sms", body.as_str(), "1700000000", None),
        (
            "/telnyx/voice",
            "CallSid=c&From=%2B32470123456&To=%2B33612345678",
            "1700000000",
            Some(genuine),
        ),
    ] {
        let (status, text) = post(&base, path, b, ts, sig, JSON).await;
        assert_eq!(status, 403, "{path} {ts}: {text}");
        assert!(!text.contains("32470123456"), "{text}");
    }
    assert_eq!(rec.handled(), 0);
    assert!(rec.sms().is_empty() && rec.calls().is_empty() && rec.deliveries().is_empty());
}

#[tokio::test]
async fn malformed_signed_bodies_are_400_and_get_is_405() {
    let rec = Arc::new(RecordingHandler::new());
    let base = serve(rec.clone()).await;
    for body in [
        "not json",
        "{}",
        r#"{"data":{"event_type":"message.received"}}"#,
        r#"{"data":{"event_type":"message.received","payload":{"id":"x","from":{"phone_number":"+32470123456"},"to":[{"phone_number":"garbage"}]}}}"#,
    ] {
        let (status, text) = post_signed(&base, "/telnyx/sms", body, JSON).await;
        assert_eq!(status, 400, "{body}: {text}");
    }
    assert_eq!(
        post_signed(&base, "/telnyx/voice", "From=%2B32470123456", FORM)
            .await
            .0,
        400
    );
    let r = reqwest::get(format!("{base}/telnyx/sms")).await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert!(rec.sms().is_empty());
}

#[tokio::test]
async fn handler_failures_are_5xx_so_telnyx_retries() {
    let body = inbound_body("m-2", "Salut");
    let base = serve(failing(Failure::Transient)).await;
    assert_eq!(post_signed(&base, "/telnyx/sms", &body, JSON).await.0, 503);
    let base = serve(failing(Failure::Permanent)).await;
    assert_eq!(post_signed(&base, "/telnyx/sms", &body, JSON).await.0, 500);
}

#[tokio::test]
async fn other_event_types_are_acknowledged_and_ignored() {
    let rec = Arc::new(RecordingHandler::new());
    let base = serve(rec.clone()).await;
    let body =
        r#"{"data":{"event_type":"call.initiated","id":"e","payload":{"call_control_id":"x"}}}"#;
    assert_eq!(post_signed(&base, "/telnyx/sms", body, JSON).await.0, 200);
    assert!(rec.sms().is_empty() && rec.deliveries().is_empty());
}

fn finalized(status: &str, errors: &str, cost: &str) -> String {
    format!(
        r#"{{"data":{{"event_type":"message.finalized","id":"4ee8c3a6-4995-4309-a3c6-38e3db9ea4be","occurred_at":"2019-12-09T21:32:14.148+00:00","payload":{{"completed_at":"2019-12-09T21:32:14.148+00:00","cost":{cost},"direction":"outbound","errors":{errors},"from":{{"phone_number":"+33612345678"}},"id":"40385f64-5717-4562-b3fc-2c963f66afa6","parts":1,"record_type":"message","text":"x","to":[{{"phone_number":"+32470123456","status":"{status}"}}],"type":"SMS"}},"record_type":"event"}},"meta":{{"attempt":1}}}}"#
    )
}

#[tokio::test]
async fn delivery_events_reach_the_handler_with_state_code_and_price() {
    let rec = Arc::new(RecordingHandler::new());
    let base = serve(rec.clone()).await;
    let ok = finalized("delivered", "[]", r#"{"amount":"0.0051","currency":"USD"}"#);
    assert_eq!(post_signed(&base, "/telnyx/sms", &ok, JSON).await.0, 200);
    let stop = finalized(
        "delivery_failed",
        r#"[{"code":"40300","title":"Blocked due to STOP message","detail":"from '+33612345678' to '+32470123456'"}]"#,
        "null",
    );
    assert_eq!(post_signed(&base, "/telnyx/sms", &stop, JSON).await.0, 200);
    let reports = rec.deliveries();
    assert_eq!(reports.len(), 2);
    assert_eq!(
        reports[0].message_id,
        "40385f64-5717-4562-b3fc-2c963f66afa6"
    );
    assert_eq!(reports[0].state, DeliveryState::Delivered);
    assert_eq!(
        reports[0].price,
        Some(antirelou_core::Price::new(
            Money::from_micros(5_100),
            antirelou_core::Currency::USD
        ))
    );
    assert_eq!(reports[0].error_code, None);
    assert_eq!(reports[0].failure, None);
    assert_eq!(reports[1].state, DeliveryState::Undelivered);
    assert_eq!(reports[1].error_code.as_deref(), Some("40300"));
    assert_eq!(
        reports[1].failure,
        Some(antirelou_core::event::DeliveryFailure::OptedOut)
    );
}

#[test]
fn delivery_parsing_keeps_currency_and_meaning() {
    let eur = finalized(
        "sending_failed",
        r#"[{"code":"40012","title":"Invalid destination number"}]"#,
        r#"{"amount":"0.0040","currency":"eur"}"#,
    );
    let TelnyxEvent::Delivery(d) = parse_event(eur.as_bytes()).unwrap() else {
        panic!()
    };
    let price = d.report.price.unwrap();
    assert_eq!(price.currency, antirelou_core::Currency::EUR);
    assert_eq!(price.amount, Money::from_micros(4_000));
    assert_eq!(d.failure, Some(CodeClass::InvalidRecipient));
    assert_eq!(d.report.state, DeliveryState::Failed);
    let sent = finalized("sent", "[]", "null").replace("message.finalized", "message.sent");
    let TelnyxEvent::Delivery(d) = parse_event(sent.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(d.event_type, "message.sent");
    assert_eq!(d.report.state, DeliveryState::Sent);
    assert_eq!(d.report.price, None);
    let bad = finalized("sent", "[]", r#"{"amount":"lots","currency":"USD"}"#);
    assert_eq!(parse_event(bad.as_bytes()).unwrap_err().status_code(), 400);
}

#[tokio::test]
async fn signed_voice_request_is_answered_with_texml() {
    let rec = Arc::new(RecordingHandler::new());
    rec.answer_calls_with(
        VoiceScript::builder()
            .ring(3)
            .say("Bonjour <monsieur> & adieu", "fr-FR", VoiceHint::Female)
            .pause(1)
            .hangup()
            .build(),
    );
    let base = serve(rec.clone()).await;
    let form = "AccountSid=acc&CallSid=v3%3Aabc&From=%2B32470123456&To=%2B33612345678&CallStatus=ringing&Direction=inbound";
    let (status, xml) = post_signed(&base, "/telnyx/voice", form, FORM).await;
    assert_eq!(status, 200, "{xml}");
    assert_eq!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Pause length=\"3\"/>\
         <Say voice=\"Polly.Lea-Neural\" language=\"fr-FR\">Bonjour &lt;monsieur&gt; &amp; adieu</Say>\
         <Pause length=\"1\"/><Hangup/></Response>"
    );
    let calls = rec.calls();
    assert_eq!(calls[0].call_id, "v3:abc");
    assert_eq!(calls[0].to.e164(), "+33612345678");
    // A SIP caller is not dialable but still answered.
    let sip = "CallSid=c2&From=sip%3Aalice%40example.com&To=%2B33612345678";
    assert_eq!(post_signed(&base, "/telnyx/voice", sip, FORM).await.0, 200);
    assert!(matches!(rec.calls()[1].from, Caller::NotDialable(_)));
}
