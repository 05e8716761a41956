//! Issue #20, finding 5: a voice JWT is bound to its request. A replayed token, a changed body,
//! a token taken from the event route to the answer route are refused (403); a GET answer whose
//! query the token does not cover still plays the lesson, but its caller is never texted, even
//! with `sms_to_callers = true` (checked with the real engine).
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use antirelou_core::catalogue::Locale;
use antirelou_core::engine::{Engine, NumberConfig};
use antirelou_core::memory::InMemoryStore;
use antirelou_core::privacy::NumberHasher;
use antirelou_core::{Caller, ManualClock, PhoneNumber, Timestamp};
use antirelou_vonage::VonageWebhooks;
use antirelou_vonage::jwt::{JwtVerifier, query_payload_hash, sign_hs256};
use antirelou_vonage::webhook::Params;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use serde_json::json;
use support::Recorder;

const SECRET: &str = "voice-signature-secret";
const NOW: i64 = 1_717_000_000;
const QUERY: &str = "to=33757000000&from=33612345678&conversation_uuid=CON-1&uuid=call-1";
const BODY: &str =
    r#"{"to":"33757000000","from":"33612345678","uuid":"call-2","conversation_uuid":"CON-2"}"#;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::from_secs(NOW)))
}

fn hooks(
    handler: Arc<dyn antirelou_core::InboundHandler>,
    clock: Arc<ManualClock>,
) -> VonageWebhooks {
    VonageWebhooks::builder(handler)
        .accept_unsigned_sms(true)
        .voice_jwt(JwtVerifier::new(SECRET))
        .clock(clock)
        .build()
        .unwrap()
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

fn token(jti: &str, payload_hash: Option<&str>, iat: i64) -> String {
    let mut claims = json!({"iat": iat, "jti": jti, "iss": "Vonage", "api_key": "abcd1234",
                            "application_id": "app"});
    if let Some(h) = payload_hash {
        claims["payload_hash"] = json!(h);
    }
    sign_hs256(&claims, SECRET.as_bytes())
}

fn query_hash(query: &str) -> String {
    query_payload_hash(Params::from_form(query.as_bytes()).unwrap().iter())
}

fn get(path_and_query: &str, token: &str) -> Request<Bytes> {
    Request::builder()
        .method(Method::GET)
        .uri(path_and_query)
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::new())
        .unwrap()
}

fn post(path: &str, body: &str, token: &str) -> Request<Bytes> {
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn a_replayed_token_is_403() {
    let rec = Recorder::new();
    let h = hooks(rec.clone(), clock());
    let t = token("jti-replay", Some(&sha256_hex(BODY.as_bytes())), NOW);
    assert_eq!(
        h.answer(&post("/vonage/answer", BODY, &t)).await.status(),
        StatusCode::OK
    );
    let r = h.answer(&post("/vonage/answer", BODY, &t)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(String::from_utf8_lossy(r.body()).contains("already used"));
    // Same for GET answers and for events.
    let t = token("jti-get", Some(&query_hash(QUERY)), NOW);
    let url = format!("/vonage/answer?{QUERY}");
    assert_eq!(h.answer(&get(&url, &t)).await.status(), StatusCode::OK);
    assert_eq!(
        h.answer(&get(&url, &t)).await.status(),
        StatusCode::FORBIDDEN
    );
    let ev = r#"{"status":"completed","uuid":"call-2"}"#;
    let t = token("jti-event", Some(&sha256_hex(ev.as_bytes())), NOW);
    assert_eq!(
        h.event(&post("/vonage/event", ev, &t)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.event(&post("/vonage/event", ev, &t)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(rec.calls.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_token_is_forgotten_only_after_its_lifetime() {
    let rec = Recorder::new();
    let c = clock();
    let h = hooks(rec.clone(), c.clone());
    let t = token("jti-life", Some(&sha256_hex(BODY.as_bytes())), NOW);
    assert_eq!(
        h.answer(&post("/vonage/answer", BODY, &t)).await.status(),
        StatusCode::OK
    );
    c.advance(Duration::from_secs(120));
    assert_eq!(
        h.answer(&post("/vonage/answer", BODY, &t)).await.status(),
        StatusCode::FORBIDDEN
    );
    // Past its lifetime, it is refused as stale anyway.
    c.advance(Duration::from_secs(1));
    let r = h.answer(&post("/vonage/answer", BODY, &t)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(String::from_utf8_lossy(r.body()).contains("ago"));
    // In the future beyond the skew: refused.
    let t = token(
        "jti-future",
        Some(&sha256_hex(BODY.as_bytes())),
        NOW + 121 + 31,
    );
    assert_eq!(
        h.answer(&post("/vonage/answer", BODY, &t)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(rec.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_webhook_releases_its_token_for_vonages_retry() {
    let rec = Recorder::new();
    let h = hooks(rec.clone(), clock());
    let t = token("jti-retry", Some(&sha256_hex(BODY.as_bytes())), NOW);
    rec.fail_with(Some(true));
    assert_eq!(
        h.answer(&post("/vonage/answer", BODY, &t)).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    rec.fail_with(None);
    assert_eq!(
        h.answer(&post("/vonage/answer", BODY, &t)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        h.answer(&post("/vonage/answer", BODY, &t)).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_changed_body_is_403() {
    let rec = Recorder::new();
    let h = hooks(rec.clone(), clock());
    let t = token("jti-body", Some(&sha256_hex(BODY.as_bytes())), NOW);
    let forged = BODY.replace("33612345678", "33698765432");
    assert_eq!(
        h.answer(&post("/vonage/answer", &forged, &t))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // A body with a token that has no payload_hash: refused.
    let t = token("jti-nohash", None, NOW);
    assert_eq!(
        h.answer(&post("/vonage/answer", BODY, &t)).await.status(),
        StatusCode::FORBIDDEN
    );
    // A token without jti: refused.
    let t = sign_hs256(
        &json!({"iat": NOW, "iss": "Vonage", "payload_hash": sha256_hex(BODY.as_bytes())}),
        SECRET.as_bytes(),
    );
    assert_eq!(
        h.answer(&post("/vonage/answer", BODY, &t)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert!(rec.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_event_token_is_refused_on_the_answer_route() {
    let rec = Recorder::new();
    let h = hooks(rec.clone(), clock());
    // A real event (POST JSON) with its token...
    let ev = r#"{"from":"33612345678","to":"33757000000","uuid":"call-9","conversation_uuid":"CON-9","status":"started","direction":"inbound"}"#;
    let t = token("jti-ev", Some(&sha256_hex(ev.as_bytes())), NOW);
    assert_eq!(
        h.event(&post("/vonage/event", ev, &t)).await.status(),
        StatusCode::NO_CONTENT
    );
    // ...captured and presented at the answer route, as a GET with any caller, or as the same
    // POST: refused, the token was used.
    let forged =
        "/vonage/answer?to=33757000000&from=33698765432&uuid=call-x&conversation_uuid=CON-x";
    assert_eq!(
        h.answer(&get(forged, &t)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.answer(&post("/vonage/answer", ev, &t)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert!(rec.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_uncovered_get_query_plays_the_lesson_but_its_caller_is_not_a_number() {
    let rec = Recorder::new();
    let h = hooks(rec.clone(), clock());
    // The token covers the genuine query; the request carries another caller.
    let t = token("jti-forged", Some(&query_hash(QUERY)), NOW);
    let forged = QUERY.replace("33612345678", "33698765432");
    let r = h
        .answer(&get(&format!("/vonage/answer?{forged}"), &t))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(String::from_utf8_lossy(r.body()).contains("talk"));
    // A token without payload_hash, or with the hash of an empty body: not covered either.
    for (jti, hash) in [("jti-none", None), ("jti-empty", Some(sha256_hex(b"")))] {
        let t = token(jti, hash.as_deref(), NOW);
        let r = h.answer(&get(&format!("/vonage/answer?{QUERY}"), &t)).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    // The covered query: the caller is a number.
    let t = token("jti-covered", Some(&query_hash(QUERY)), NOW);
    assert_eq!(
        h.answer(&get(&format!("/vonage/answer?{QUERY}"), &t))
            .await
            .status(),
        StatusCode::OK
    );
    let calls = rec.calls.lock().unwrap();
    assert_eq!(calls.len(), 4);
    for c in &calls[..3] {
        assert!(matches!(c.from, Caller::NotDialable(_)), "{:?}", c.from);
    }
    assert_eq!(
        antirelou_vonage::wire_number(calls[3].from.number().unwrap()),
        "33612345678"
    );
}

/// With the real engine, a number with the decoy and `sms_to_callers = true`: a vouched caller
/// hears the decoy and gets his lesson by SMS later; a forged GET caller hears the lesson and
/// nothing is ever scheduled for the forged number.
#[tokio::test]
async fn with_sms_to_callers_only_a_vouched_caller_is_texted() {
    let ours = PhoneNumber::parse("+33757000000").unwrap();
    let build = || {
        let store = Arc::new(InMemoryStore::new());
        let c = clock();
        let mut n = NumberConfig::new(
            ours.clone(),
            Locale::new("fr-FR").unwrap(),
            antirelou_vonage::PROVIDER,
        );
        n.sms_to_callers = true;
        let engine = Engine::builder(
            store.clone(),
            NumberHasher::new(b"a secret of sixteen bytes").unwrap(),
        )
        .clock(c.clone())
        .number(n)
        .build()
        .unwrap();
        (store, hooks(Arc::new(engine), c))
    };
    // Forged caller in a GET query the token does not cover: lesson, nothing scheduled.
    let (store, h) = build();
    let t = token("jti-a", Some(&query_hash(QUERY)), NOW);
    let forged = QUERY.replace("33612345678", "33698765432");
    let r = h
        .answer(&get(&format!("/vonage/answer?{forged}"), &t))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let lesson = String::from_utf8_lossy(r.body()).into_owned();
    assert!(lesson.contains("talk"), "{lesson}");
    assert_eq!(
        store.reply_count(),
        0,
        "nothing is texted to a number the provider did not vouch for"
    );
    // The same call with its genuine, covered query: the decoy, and the lesson scheduled.
    let (store, h) = build();
    let t = token("jti-b", Some(&query_hash(QUERY)), NOW);
    let r = h.answer(&get(&format!("/vonage/answer?{QUERY}"), &t)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_ne!(
        String::from_utf8_lossy(r.body()),
        lesson,
        "the decoy greeting, not the lesson"
    );
    assert_eq!(store.reply_count(), 1);
}
