//! The framework-agnostic endpoints (`VonageWebhooks`) over `http` types: parsing from GET, POST
//! form and POST JSON, signatures, multipart messages, voice, delivery receipts, errors.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use antirelou_core::event::DeliveryState;
use antirelou_core::voice::{RejectReason, VoiceScript};
use antirelou_core::{Caller, ManualClock, Money, Timestamp};
use antirelou_vonage::VonageWebhooks;
use antirelou_vonage::jwt::{JwtVerifier, sign_hs256};
use antirelou_vonage::signature::{SignatureMethod, SmsSigner};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use support::Recorder;

const JWT_SECRET: &str = "voice-signature-secret";
const SIG_SECRET: &str = "my_secret_key_for_testing";
const NOW: i64 = 1_385_047_698; // V-A's timestamp

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::from_secs(NOW)))
}

fn unsigned_hooks(rec: &Arc<Recorder>) -> VonageWebhooks {
    VonageWebhooks::builder(rec.clone())
        .accept_unsigned_sms(true)
        .voice_jwt(JwtVerifier::new(JWT_SECRET))
        .id_key("test id key")
        .clock(clock())
        .build()
        .unwrap()
}

fn signed_hooks(rec: &Arc<Recorder>, method: SignatureMethod) -> VonageWebhooks {
    VonageWebhooks::builder(rec.clone())
        .sms_signer(SmsSigner::new(SIG_SECRET, method))
        .voice_jwt(JwtVerifier::new(JWT_SECRET))
        .clock(clock())
        .billing_currency(antirelou_core::Currency::EUR)
        .build()
        .unwrap()
}

fn get(path_and_query: &str) -> Request<Bytes> {
    Request::builder()
        .method(Method::GET)
        .uri(path_and_query)
        .body(Bytes::new())
        .unwrap()
}

fn post(path: &str, content_type: &str, body: impl Into<Bytes>) -> Request<Bytes> {
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", content_type)
        .body(body.into())
        .unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn json_of(pairs: &[(&str, &str)]) -> String {
    let m: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    Value::Object(m).to_string()
}

const SMS: &[(&str, &str)] = &[
    ("msisdn", "33612345678"),
    ("to", "33757000000"),
    ("messageId", "0A0000000123ABCD"),
    ("text", "Salut ça va ?"),
    ("type", "unicode"),
    ("keyword", "SALUT"),
    ("message-timestamp", "2024-05-01 10:00:00"),
    ("api-key", "abcd1234"),
];

fn body_text(r: &http::Response<Bytes>) -> String {
    String::from_utf8_lossy(r.body()).into_owned()
}

#[tokio::test]
async fn inbound_sms_from_get_post_form_and_post_json() {
    for (i, req) in [
        get(&format!("/vonage/sms?{}", form(SMS))),
        post(
            "/vonage/sms",
            "application/x-www-form-urlencoded",
            form(SMS),
        ),
        post("/vonage/sms", "application/json", json_of(SMS)),
        post(
            "/vonage/sms",
            "application/json; charset=utf-8",
            json_of(SMS),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let rec = Recorder::new();
        let hooks = unsigned_hooks(&rec);
        let r = hooks.sms(&req).await;
        assert_eq!(
            r.status(),
            StatusCode::NO_CONTENT,
            "case {i}: {}",
            body_text(&r)
        );
        let got = rec.sms.lock().unwrap()[0].clone();
        assert_eq!(got.message_id, "0A0000000123ABCD");
        assert_eq!(got.body, "Salut ça va ?");
        assert_eq!(got.from.number().unwrap().e164(), "+33612345678");
        assert_eq!(antirelou_vonage::wire_number(&got.to), "33757000000");
        assert_eq!(got.received_at, Some(Timestamp::from_secs(1_714_557_600)));
        assert_eq!(got.provider, antirelou_vonage::PROVIDER);
    }
}

#[tokio::test]
async fn alphanumeric_and_short_code_senders_are_not_dialable() {
    let rec = Recorder::new();
    let hooks = unsigned_hooks(&rec);
    for sender in ["VONAGE", "36665"] {
        let mut p = SMS.to_vec();
        p[0] = ("msisdn", sender);
        p[2] = ("messageId", sender);
        let r = hooks.sms(&get(&format!("/vonage/sms?{}", form(&p)))).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    let got = rec.sms.lock().unwrap();
    assert!(got.iter().all(|s| matches!(s.from, Caller::NotDialable(_))));
}

#[tokio::test]
async fn multipart_message_is_one_message_for_the_engine() {
    let rec = Recorder::new();
    let hooks = unsigned_hooks(&rec);
    let parts = ["Bonjour, tu veux ", "boire un verre ", "ce soir ?"];
    // Parts arrive out of order, each with its own messageId.
    for (n, text) in [(2, parts[1]), (1, parts[0]), (3, parts[2])] {
        let id = format!("0B00000000000{n}");
        let part = n.to_string();
        let p = [
            ("msisdn", "33612345678"),
            ("to", "33757000000"),
            ("messageId", id.as_str()),
            ("text", text),
            ("type", "text"),
            ("concat", "true"),
            ("concat-ref", "108"),
            ("concat-total", "3"),
            ("concat-part", part.as_str()),
        ];
        let r = hooks
            .sms(&post(
                "/vonage/sms",
                "application/x-www-form-urlencoded",
                form(&p),
            ))
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", body_text(&r));
    }
    let got = rec.sms.lock().unwrap().clone();
    assert_eq!(got.len(), 3);
    assert!(
        got.iter().all(|s| s.message_id == got[0].message_id),
        "{got:?}"
    );
    assert!(got[0].message_id.starts_with("concat:"));
    assert!(got[0].message_id.ends_with(":108:3"));
    assert!(
        !got[0].message_id.contains("612345678"),
        "no number in clear"
    );
    assert_eq!(
        *rec.scheduled.lock().unwrap(),
        1,
        "one lesson per message, not per part"
    );

    // Another sender with the same concat-ref is another message.
    let p = [
        ("msisdn", "33698765432"),
        ("to", "33757000000"),
        ("messageId", "0B0000000000099"),
        ("text", "x"),
        ("concat", "true"),
        ("concat-ref", "108"),
        ("concat-total", "3"),
        ("concat-part", "1"),
    ];
    hooks.sms(&get(&format!("/vonage/sms?{}", form(&p)))).await;
    assert_eq!(*rec.scheduled.lock().unwrap(), 2);

    // Bad concat fields are refused.
    let mut bad = p.to_vec();
    bad[7] = ("concat-part", "4");
    let r = hooks
        .sms(&get(&format!("/vonage/sms?{}", form(&bad))))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(&r).contains("concat-part"));
}

#[tokio::test]
async fn bad_sms_input_is_400_with_a_message() {
    let rec = Recorder::new();
    let hooks = unsigned_hooks(&rec);
    let cases: Vec<(Request<Bytes>, &str)> = vec![
        (
            get("/vonage/sms?to=33757000000&messageId=1&text=x"),
            "msisdn",
        ),
        (
            get("/vonage/sms?msisdn=33612345678&messageId=1&text=x"),
            "to",
        ),
        (
            get("/vonage/sms?msisdn=33612345678&to=33757000000&text=x"),
            "messageId",
        ),
        (
            get("/vonage/sms?msisdn=%2B33+1&to=33757000000&messageId=1"),
            "msisdn",
        ),
        (
            get("/vonage/sms?msisdn=33612345678&to=hello&messageId=1"),
            "to",
        ),
        (
            get("/vonage/sms?msisdn=33612345678&msisdn=33698765432&to=33757000000&messageId=1"),
            "duplicate",
        ),
        (post("/vonage/sms", "application/json", "{not json"), "JSON"),
        (
            post("/vonage/sms", "application/json", r#"{"msisdn":{"a":1}}"#),
            "flat",
        ),
        (post("/vonage/sms", "application/json", "[]"), "object"),
        (post("/vonage/sms", "text/xml", "<sms/>"), "content type"),
    ];
    for (req, needle) in cases {
        let uri = req.uri().clone();
        let r = hooks.sms(&req).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert!(body_text(&r).contains(needle), "{uri}: {}", body_text(&r));
        assert!(
            !body_text(&r).contains("612345678"),
            "no number in the error: {}",
            body_text(&r)
        );
    }
    assert!(rec.sms.lock().unwrap().is_empty());
}

/// V-A is a real inbound webhook: signed with every method, it must be accepted; tampered,
/// unsigned or stale, refused with 403.
#[tokio::test]
async fn signed_sms_webhook_v_a() {
    let va: Vec<(&str, &str)> = vec![
        ("message-timestamp", "2013-11-21 15:27:30"),
        ("messageId", "020000001B0FE827"),
        ("msisdn", "14843472194"),
        ("text", "Test again"),
        ("timestamp", "1385047698"),
        ("to", "13239877404"),
        ("type", "text"),
    ];
    let sigs = [
        (SignatureMethod::Md5Hash, "d2e7b1dc968737c5998ad624e02f90b7"),
        (SignatureMethod::Md5Hmac, "DDEBD46008C2D4E93CCE578A332A52D5"),
        (
            SignatureMethod::Sha1Hmac,
            "27D0D05C2876C7CB1720DBCDBA4D492E1E55C09A",
        ),
        (
            SignatureMethod::Sha256Hmac,
            "DDB8397C2B90AAC7F3882D306475C9A5058C92322EEF43C92B298B6E0FC0D330",
        ),
    ];
    for (method, sig) in sigs {
        let rec = Recorder::new();
        let hooks = signed_hooks(&rec, method);
        let mut p = va.clone();
        p.push(("sig", sig));
        for req in [
            get(&format!("/vonage/sms?{}", form(&p))),
            post("/vonage/sms", "application/x-www-form-urlencoded", form(&p)),
            post("/vonage/sms", "application/json", json_of(&p)),
        ] {
            let r = hooks.sms(&req).await;
            assert_eq!(
                r.status(),
                StatusCode::NO_CONTENT,
                "{method}: {}",
                body_text(&r)
            );
        }
        assert_eq!(rec.sms.lock().unwrap()[0].body, "Test again");

        // Tampered text.
        let mut t = p.clone();
        t[3] = ("text", "Test again!");
        let r = hooks.sms(&get(&format!("/vonage/sms?{}", form(&t)))).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method}");
        // No sig.
        let r = hooks.sms(&get(&format!("/vonage/sms?{}", form(&va)))).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // An extra unsigned parameter breaks the signature.
        let mut extra = p.clone();
        extra.push(("keyword", "TEST"));
        let r = hooks
            .sms(&get(&format!("/vonage/sms?{}", form(&extra))))
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    // Replayed ten minutes later: stale.
    let rec = Recorder::new();
    let late = Arc::new(ManualClock::new(Timestamp::from_secs(NOW + 600)));
    let hooks = VonageWebhooks::builder(rec.clone())
        .sms_signer(SmsSigner::new(SIG_SECRET, SignatureMethod::Md5Hash))
        .require_signed_voice(false)
        .clock(late)
        .build()
        .unwrap();
    let mut p = va.clone();
    p.push(("sig", "d2e7b1dc968737c5998ad624e02f90b7"));
    let r = hooks.sms(&get(&format!("/vonage/sms?{}", form(&p)))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(body_text(&r).contains("window"));
    assert!(rec.sms.lock().unwrap().is_empty());
}

#[tokio::test]
async fn signed_delivery_receipt_updates_state_and_price() {
    let rec = Recorder::new();
    let hooks = signed_hooks(&rec, SignatureMethod::Sha256Hmac);
    let ts = NOW.to_string();
    let mut p = vec![
        ("msisdn", "33612345678"),
        ("to", "33757000000"),
        ("network-code", "20801"),
        ("messageId", "0C000000217B7F02"),
        ("price", "0.03330000"),
        ("status", "delivered"),
        ("scts", "2405011000"),
        ("err-code", "0"),
        ("api-key", "abcd1234"),
        ("client-ref", "r42-a1"),
        ("message-timestamp", "2024-05-01 10:00:05"),
        ("timestamp", ts.as_str()),
    ];
    let sig = SmsSigner::new(SIG_SECRET, SignatureMethod::Sha256Hmac).sign(p.iter().copied());
    p.push(("sig", sig.as_str()));
    let r = hooks
        .dlr(&post("/vonage/dlr", "application/json", json_of(&p)))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", body_text(&r));
    let got = rec.reports.lock().unwrap()[0].clone();
    assert_eq!(got.message_id, "0C000000217B7F02");
    assert_eq!(got.state, DeliveryState::Delivered);
    assert_eq!(
        got.price,
        Some(antirelou_core::Price::new(
            Money::from_micros(33_300),
            antirelou_core::Currency::EUR
        ))
    );
    assert_eq!(got.error_code, None);

    // Failed with an error code, unsigned, on an unsigned-accepting adapter (GET).
    let rec = Recorder::new();
    let hooks = unsigned_hooks(&rec);
    let r = hooks
        .dlr(&get("/vonage/dlr?msisdn=33612345678&to=33757000000&messageId=X1&status=failed&err-code=6&price=0.0333"))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let got = rec.reports.lock().unwrap()[0].clone();
    assert_eq!(got.state, DeliveryState::Failed);
    assert_eq!(got.error_code.as_deref(), Some("6"));
    // Bad price: 400.
    let r = hooks
        .dlr(&get("/vonage/dlr?messageId=X1&status=failed&price=cheap"))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Missing signature on a signing adapter: 403.
    let hooks = signed_hooks(&rec, SignatureMethod::Md5Hash);
    assert_eq!(
        hooks
            .dlr(&get("/vonage/dlr?messageId=X1&status=failed"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

/// A fresh token (its own `jti`) for a request with `body`.
fn voice_token(body: &[u8], iat: i64) -> String {
    use sha2::Digest;
    token_with_hash(&hex::encode(sha2::Sha256::digest(body)), iat)
}

/// A fresh token for a GET whose query is `query`: `payload_hash` is the hash of its
/// parameters as Vonage computes it for GET webhooks.
fn get_token(query: &str, iat: i64) -> String {
    let p = antirelou_vonage::webhook::Params::from_form(query.as_bytes()).unwrap();
    token_with_hash(&antirelou_vonage::jwt::query_payload_hash(p.iter()), iat)
}

fn token_with_hash(hash: &str, iat: i64) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let jti = format!(
        "jti-{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    sign_hs256(
        &json!({"iat": iat, "jti": jti, "iss": "Vonage", "api_key": "abcd1234",
                "application_id": "app", "payload_hash": hash}),
        JWT_SECRET.as_bytes(),
    )
}

fn with_bearer(mut req: Request<Bytes>, token: &str) -> Request<Bytes> {
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

const ANSWER_Q: &str = "to=33757000000&from=33612345678&conversation_uuid=CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab&uuid=aaaaaaaa-bbbb-cccc-dddd-0123456789ab";

#[tokio::test]
async fn answer_webhook_get_and_post_with_jwt_renders_ncco() {
    let rec = Recorder::new();
    let hooks = unsigned_hooks(&rec);
    let get_req = with_bearer(
        get(&format!("/vonage/answer?{ANSWER_Q}")),
        &get_token(ANSWER_Q, NOW),
    );
    let json_body = r#"{"to":"33757000000","from":"33612345678","uuid":"aaaaaaaa-bbbb-cccc-dddd-0123456789ab","conversation_uuid":"CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab","headers":{}}"#;
    let post_req = with_bearer(
        post("/vonage/answer", "application/json", json_body),
        &voice_token(json_body.as_bytes(), NOW),
    );
    for req in [get_req, post_req] {
        let r = hooks.answer(&req).await;
        assert_eq!(r.status(), StatusCode::OK, "{}", body_text(&r));
        assert_eq!(r.headers()["content-type"], "application/json");
        let ncco: Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(
            ncco,
            json!([
                {"action":"talk","text":"Oh, bonjour ! Le consentement, ça compte.","language":"fr-FR","style":0,"premium":false,"loop":1,"level":0.0},
                {"action":"wait","timeout":1}
            ])
        );
    }
    let calls = rec.calls.lock().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].call_id, "aaaaaaaa-bbbb-cccc-dddd-0123456789ab");
    assert_eq!(
        antirelou_vonage::wire_number(calls[0].from.number().unwrap()),
        "33612345678"
    );
    assert_eq!(antirelou_vonage::wire_number(&calls[1].to), "33757000000");
}

#[tokio::test]
async fn answer_reject_is_an_empty_ncco_and_withheld_caller_is_parsed() {
    let rec = Recorder::new();
    *rec.script.lock().unwrap() = Some(VoiceScript::reject(RejectReason::Busy));
    let hooks = unsigned_hooks(&rec);
    let q = "to=33757000000&uuid=u-1&conversation_uuid=CON-1&from=Unknown";
    let r = hooks
        .answer(&with_bearer(
            get(&format!("/vonage/answer?{q}")),
            &voice_token(b"", NOW),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.body().as_ref(), b"[]");
    assert_eq!(rec.calls.lock().unwrap()[0].from, Caller::Withheld);
}

#[tokio::test]
async fn voice_jwt_is_required_by_default() {
    let rec = Recorder::new();
    let hooks = unsigned_hooks(&rec);
    let url = format!("/vonage/answer?{ANSWER_Q}");
    // Unsigned: 403.
    assert_eq!(
        hooks.answer(&get(&url)).await.status(),
        StatusCode::FORBIDDEN
    );
    // Wrong secret: 403.
    let bad = sign_hs256(&json!({"iat": NOW, "iss": "Vonage"}), b"other secret");
    assert_eq!(
        hooks.answer(&with_bearer(get(&url), &bad)).await.status(),
        StatusCode::FORBIDDEN
    );
    // Stale: 403.
    assert_eq!(
        hooks
            .answer(&with_bearer(get(&url), &voice_token(b"", NOW - 3600)))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // Body changed after signing: 403.
    let signed_body = r#"{"status":"answered","uuid":"u"}"#;
    let t = voice_token(signed_body.as_bytes(), NOW);
    let req = with_bearer(
        post(
            "/vonage/event",
            "application/json",
            r#"{"status":"completed","uuid":"u"}"#,
        ),
        &t,
    );
    assert_eq!(hooks.event(&req).await.status(), StatusCode::FORBIDDEN);
    // Not a Bearer: 403.
    let mut req = get(&url);
    req.headers_mut()
        .insert("authorization", "Basic YTpi".parse().unwrap());
    assert_eq!(hooks.answer(&req).await.status(), StatusCode::FORBIDDEN);
    assert!(rec.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn unsigned_voice_is_accepted_only_when_opted_in() {
    let rec = Recorder::new();
    assert!(
        VonageWebhooks::builder(rec.clone())
            .accept_unsigned_sms(true)
            .build()
            .is_err(),
        "no JWT secret and signatures required"
    );
    let hooks = VonageWebhooks::builder(rec.clone())
        .accept_unsigned_sms(true)
        .voice_jwt(JwtVerifier::new(JWT_SECRET))
        .require_signed_voice(false)
        .clock(clock())
        .build()
        .unwrap();
    let url = format!("/vonage/answer?{ANSWER_Q}");
    assert_eq!(hooks.answer(&get(&url)).await.status(), StatusCode::OK);
    // A token that is present is still verified.
    let bad = sign_hs256(&json!({"iat": NOW, "iss": "Vonage"}), b"other secret");
    assert_eq!(
        hooks.answer(&with_bearer(get(&url), &bad)).await.status(),
        StatusCode::FORBIDDEN
    );
    // Without any secret at all, when opted in.
    let hooks = VonageWebhooks::builder(rec.clone())
        .accept_unsigned_sms(true)
        .require_signed_voice(false)
        .build()
        .unwrap();
    assert_eq!(hooks.answer(&get(&url)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn sms_signature_choice_is_explicit() {
    let rec = Recorder::new();
    let e = VonageWebhooks::builder(rec.clone())
        .voice_jwt(JwtVerifier::new("x"))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("unsigned"), "{e}");
}

#[tokio::test]
async fn voice_events_are_parsed_and_acknowledged() {
    let rec = Recorder::new();
    let hooks = unsigned_hooks(&rec);
    for body in [
        r#"{"from":"33612345678","to":"33757000000","uuid":"u","conversation_uuid":"CON-1","status":"completed","direction":"inbound","timestamp":"2024-05-01T10:00:00.000Z","duration":"25","price":"0.00900000","rate":"0.02","start_time":"x","end_time":"y","network":"20801"}"#,
        r#"{"status":"some_new_status","uuid":"u","detail":{"nested":true}}"#,
        r#"{"reason":"Syntax error in NCCO. Invalid value type or action.","conversation_uuid":"CON-1","timestamp":"2024-05-01T10:00:00.000Z"}"#,
    ] {
        let req = with_bearer(
            post("/vonage/event", "application/json", body),
            &voice_token(body.as_bytes(), NOW),
        );
        let r = hooks.event(&req).await;
        assert_eq!(
            r.status(),
            StatusCode::NO_CONTENT,
            "{body}: {}",
            body_text(&r)
        );
    }
    let ev = hooks
        .parse_event(&with_bearer(
            get("/vonage/event?status=ringing&uuid=u2"),
            &voice_token(b"", NOW),
        ))
        .unwrap();
    assert_eq!(
        ev.status,
        Some(antirelou_vonage::webhook::CallStatus::Ringing)
    );
    assert_eq!(ev.uuid.as_deref(), Some("u2"));
}

#[tokio::test]
async fn handler_failures_are_5xx_so_vonage_retries() {
    let rec = Recorder::new();
    let hooks = unsigned_hooks(&rec);
    rec.fail_with(Some(true));
    let r = hooks.sms(&get(&format!("/vonage/sms?{}", form(SMS)))).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    rec.fail_with(Some(false));
    let r = hooks.sms(&get(&format!("/vonage/sms?{}", form(SMS)))).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let r = hooks
        .answer(&with_bearer(
            get(&format!("/vonage/answer?{ANSWER_Q}")),
            &voice_token(b"", NOW),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn signer_with_unsigned_accepted_still_checks_present_signatures() {
    let rec = Recorder::new();
    let hooks = VonageWebhooks::builder(rec.clone())
        .sms_signer(SmsSigner::new(SIG_SECRET, SignatureMethod::Md5Hash))
        .accept_unsigned_sms(true)
        .require_signed_voice(false)
        .clock(clock())
        .build()
        .unwrap();
    // No sig: accepted (explicit choice).
    let r = hooks.sms(&get(&format!("/vonage/sms?{}", form(SMS)))).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // A wrong sig: refused.
    let ts = NOW.to_string();
    let mut p = SMS.to_vec();
    p.push(("timestamp", ts.as_str()));
    p.push(("sig", "00000000000000000000000000000000"));
    let r = hooks.sms(&get(&format!("/vonage/sms?{}", form(&p)))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        body_text(&r).contains("invalid signature"),
        "{}",
        body_text(&r)
    );
    assert_eq!(rec.sms.lock().unwrap().len(), 1);
}

/// Issue #20, finding 9: a parameter name holding `&` or `=` could fold two signed parameters
/// into one and still verify. It is refused (400) before signing.
#[tokio::test]
async fn a_folded_parameter_name_is_refused_before_signing() {
    let rec = Recorder::new();
    let hooks = signed_hooks(&rec, SignatureMethod::Md5Hash);
    let signer = SmsSigner::new(SIG_SECRET, SignatureMethod::Md5Hash);
    let ts = NOW.to_string();
    let mut p = SMS.to_vec();
    p.push(("timestamp", ts.as_str()));
    let sig = signer.sign(p.iter().copied());
    // The genuine request is accepted.
    let mut genuine = p.clone();
    genuine.push(("sig", sig.as_str()));
    let r = hooks
        .sms(&get(&format!("/vonage/sms?{}", form(&genuine))))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", body_text(&r));
    // `api-key` and `keyword` folded into one name: the same signed string.
    let mut folded: Vec<(&str, &str)> = p
        .iter()
        .copied()
        .filter(|(k, _)| *k != "api-key" && *k != "keyword")
        .collect();
    folded.push(("api-key=abcd1234&keyword", "SALUT"));
    folded.push(("sig", sig.as_str()));
    assert_eq!(
        signer.string_to_sign(folded.iter().copied()),
        signer.string_to_sign(p.iter().copied())
    );
    for req in [
        get(&format!("/vonage/sms?{}", form(&folded))),
        post("/vonage/sms", "application/json", json_of(&folded)),
    ] {
        let r = hooks.sms(&req).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{}", body_text(&r));
        assert!(body_text(&r).contains("refused before signing"));
        assert!(
            !body_text(&r).contains("abcd1234"),
            "the name is not echoed"
        );
    }
    assert_eq!(rec.sms.lock().unwrap().len(), 1);
}

fn signed(pairs: &[(&str, &str)], method: SignatureMethod) -> String {
    let ts = NOW.to_string();
    let mut p = pairs.to_vec();
    p.push(("timestamp", ts.as_str()));
    let sig = SmsSigner::new(SIG_SECRET, method).sign(p.iter().copied());
    p.push(("sig", sig.as_str()));
    form(&p)
}

const DLR: &[(&str, &str)] = &[
    ("msisdn", "33612345678"),
    ("to", "33757000000"),
    ("network-code", "20801"),
    ("messageId", "0C000000217B7F02"),
    ("price", "0.03330000"),
    ("status", "delivered"),
    ("scts", "2405011000"),
    ("err-code", "0"),
    ("api-key", "abcd1234"),
    ("message-timestamp", "2024-05-01 10:00:05"),
];

/// Issue #20, finding 9: each SMS route accepts only its own message type, so a signed webhook
/// replayed at the other route is refused (400) and reaches nothing.
#[tokio::test]
async fn each_sms_route_accepts_only_its_own_message_type() {
    let rec = Recorder::new();
    let hooks = signed_hooks(&rec, SignatureMethod::Sha256Hmac);
    let sms = signed(SMS, SignatureMethod::Sha256Hmac);
    let dlr = signed(DLR, SignatureMethod::Sha256Hmac);
    // At their own routes: accepted.
    let r = hooks.sms(&get(&format!("/vonage/sms?{sms}"))).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", body_text(&r));
    let r = hooks
        .dlr(&post(
            "/vonage/dlr",
            "application/x-www-form-urlencoded",
            dlr.clone(),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", body_text(&r));
    assert_eq!(
        (
            rec.sms.lock().unwrap().len(),
            rec.reports.lock().unwrap().len()
        ),
        (1, 1)
    );
    // Swapped: refused, whatever the method and encoding.
    let r = hooks.dlr(&get(&format!("/vonage/dlr?{sms}"))).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{}", body_text(&r));
    assert!(
        body_text(&r).contains("an inbound SMS"),
        "{}",
        body_text(&r)
    );
    let r = hooks
        .sms(&post(
            "/vonage/sms",
            "application/x-www-form-urlencoded",
            dlr,
        ))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{}", body_text(&r));
    assert!(
        body_text(&r).contains("a delivery receipt"),
        "{}",
        body_text(&r)
    );
    assert_eq!(
        (
            rec.sms.lock().unwrap().len(),
            rec.reports.lock().unwrap().len()
        ),
        (1, 1),
        "nothing reached the engine"
    );
}
