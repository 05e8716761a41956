//! Nothing panics: random bytes and parameters thrown at every parser and verifier.
#![allow(clippy::unwrap_used)]

use antirelou_core::Timestamp;
use antirelou_vonage::jwt::{JwtVerifier, verify_hs256};
use antirelou_vonage::signature::{SignatureMethod, SmsSigner};
use antirelou_vonage::webhook::{self, Nested, Params};
use http::{Method, StatusCode};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn methods() -> [SignatureMethod; 5] {
    [
        SignatureMethod::Md5Hash,
        SignatureMethod::Md5Hmac,
        SignatureMethod::Sha1Hmac,
        SignatureMethod::Sha256Hmac,
        SignatureMethod::Sha512Hmac,
    ]
}

fn exercise_params(p: &Params) {
    let _ = webhook::parse_inbound_sms(p, b"k");
    let _ = webhook::parse_answer(p);
    let _ = webhook::parse_event(p);
    let _ = webhook::parse_delivery_receipt(p, Some(antirelou_core::Currency::EUR));
    for m in methods() {
        let s = SmsSigner::new("secret", m).skip_empty_values(true);
        let _ = s.verify(p.iter(), Timestamp::from_secs(1_700_000_000));
        let _ = s.sign(p.iter());
    }
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("msisdn".to_owned()),
        Just("to".to_owned()),
        Just("from".to_owned()),
        Just("messageId".to_owned()),
        Just("text".to_owned()),
        Just("uuid".to_owned()),
        Just("concat".to_owned()),
        Just("concat-ref".to_owned()),
        Just("concat-part".to_owned()),
        Just("concat-total".to_owned()),
        Just("message-timestamp".to_owned()),
        Just("timestamp".to_owned()),
        Just("sig".to_owned()),
        Just("price".to_owned()),
        Just("status".to_owned()),
        Just("err-code".to_owned()),
        Just("duration".to_owned()),
        ".{0,12}",
    ]
}

fn field_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("true".to_owned()),
        Just("33612345678".to_owned()),
        Just("0".to_owned()),
        Just("4294967296".to_owned()),
        Just("-1".to_owned()),
        "[0-9]{0,25}",
        "\\PC{0,40}",
        ".{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512), ct in 0usize..4, get in any::<bool>()) {
        let cts = [None, Some("application/json"), Some("application/x-www-form-urlencoded"), Some("text/plain")];
        let method = if get { Method::GET } else { Method::POST };
        let query = String::from_utf8_lossy(&body).into_owned();
        for nested in [Nested::Reject, Nested::Skip] {
            if let Ok(p) = Params::from_parts(&method, cts[ct], Some(&query), &body, nested) {
                exercise_params(&p);
            }
        }
        let token = String::from_utf8_lossy(&body).into_owned();
        let _ = verify_hs256(&token, b"secret");
        let v = JwtVerifier::new("secret");
        let _ = v.verify_header(&format!("Bearer {token}"), &body, Timestamp::from_secs(0));
        let _ = v.verify_header(&token, &body, Timestamp::from_secs(i64::MAX / 1000));
        let _ = webhook::parse_message_timestamp(&token);
    }

    #[test]
    fn random_params_never_panic(pairs in proptest::collection::vec((field_name(), field_value()), 0..14)) {
        if let Ok(p) = Params::from_pairs(pairs.clone()) {
            exercise_params(&p);
        }
        let json = serde_json::Value::Object(pairs.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str()))).collect());
        if let Ok(p) = Params::from_json(json.to_string().as_bytes(), Nested::Reject) {
            exercise_params(&p);
        }
    }

    #[test]
    fn random_jwt_like_tokens_never_panic(h in "[A-Za-z0-9_=-]{0,60}", p in "[A-Za-z0-9_=-]{0,120}", s in "[A-Za-z0-9_=-]{0,60}") {
        let t = format!("{h}.{p}.{s}");
        prop_assert!(verify_hs256(&t, b"k").is_err() || !t.is_empty());
    }
}

/// The full endpoints, with garbage requests: never a panic, never a 2xx for garbage that has
/// no valid fields, and only the documented statuses.
#[tokio::test]
async fn endpoints_answer_garbage_with_4xx() {
    use std::sync::Arc;
    struct Nop;
    #[async_trait::async_trait]
    impl antirelou_core::InboundHandler for Nop {
        async fn handle_sms(
            &self,
            _: antirelou_core::event::InboundSms,
        ) -> antirelou_core::Result<antirelou_core::SmsOutcome> {
            Ok(antirelou_core::SmsOutcome::Scheduled)
        }
        async fn handle_call(
            &self,
            _: antirelou_core::event::InboundCall,
        ) -> antirelou_core::Result<antirelou_core::voice::VoiceScript> {
            Ok(antirelou_core::voice::VoiceScript::builder().build())
        }
        async fn handle_delivery(
            &self,
            _: antirelou_core::event::DeliveryReport,
        ) -> antirelou_core::Result<()> {
            Ok(())
        }
    }
    let hooks = antirelou_vonage::VonageWebhooks::builder(Arc::new(Nop))
        .accept_unsigned_sms(true)
        .require_signed_voice(false)
        .build()
        .unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(256));
    let strategy = (proptest::collection::vec(any::<u8>(), 0..256), ".{0,80}");
    for _ in 0..256 {
        let (body, query) = strategy.new_tree(&mut runner).unwrap().current();
        let uri = format!(
            "/x?{}",
            form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
        );
        let req = http::Request::builder()
            .method(Method::POST)
            .uri(&uri)
            .body(bytes::Bytes::from(body))
            .unwrap();
        for r in [
            hooks.sms(&req).await,
            hooks.dlr(&req).await,
            hooks.answer(&req).await,
        ] {
            assert!(
                [
                    StatusCode::BAD_REQUEST,
                    StatusCode::FORBIDDEN,
                    StatusCode::NO_CONTENT,
                    StatusCode::OK
                ]
                .contains(&r.status()),
                "{}",
                r.status()
            );
        }
        let r = hooks.event(&req).await;
        assert!(r.status() == StatusCode::NO_CONTENT || r.status() == StatusCode::BAD_REQUEST);
    }
}
