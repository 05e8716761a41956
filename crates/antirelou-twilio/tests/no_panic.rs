//! Nothing panics on any input: random bytes and parameters thrown at the webhook parsers, the
//! signature validator, the TwiML writer and the REST response readers. (The cargo-fuzz target
//! in `fuzz/` does the same with coverage guidance; this is what CI runs.)
#![allow(clippy::unwrap_used)]

use antirelou_core::voice::{VoiceHint, VoiceScript};
use antirelou_twilio::client::{api_error, receipt_from_body};
use antirelou_twilio::signature::{SignatureValidator, SigningMode, string_to_sign, url_variants};
use antirelou_twilio::twiml::{VoiceMap, render};
use antirelou_twilio::webhook::{WebhookConfig, WebhookRequest, decode_form};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use proptest::prelude::*;

const BASE: &str = "https://antirelou.example.org";

fn config() -> WebhookConfig {
    WebhookConfig::new(
        BASE,
        SignatureValidator::new("tok").with_shared_key("K", "k"),
    )
    .unwrap()
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::POST),
        Just(Method::GET),
        Just(Method::PUT),
        Just(Method::DELETE)
    ]
}

/// Parameter names that matter, plus noise.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("From".to_owned()),
        Just("To".to_owned()),
        Just("Body".to_owned()),
        Just("MessageSid".to_owned()),
        Just("SmsSid".to_owned()),
        Just("CallSid".to_owned()),
        Just("MessageStatus".to_owned()),
        Just("ErrorCode".to_owned()),
        Just("Price".to_owned()),
        ".{0,12}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("+32470123456".to_owned()),
        Just("+3225880000".to_owned()),
        Just("anonymous".to_owned()),
        Just("SM0123".to_owned()),
        Just("delivered".to_owned()),
        Just("-0.0762".to_owned()),
        "[+0-9 ]{0,20}",
        ".{0,40}",
    ]
}

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((name(), value()), 0..12)
}

fn encode(p: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(p)
        .finish()
}

fn all_parsers(cfg: &WebhookConfig, req: &WebhookRequest<'_>) -> Vec<Option<StatusCode>> {
    vec![
        cfg.parse_sms(req).err().map(|e| e.status_code()),
        cfg.parse_voice(req).err().map(|e| e.status_code()),
        cfg.parse_status(req).err().map(|e| e.status_code()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_requests_never_panic(
        m in method(),
        path in "/[a-zA-Z0-9/?&=%+._~-]{0,60}",
        body in proptest::collection::vec(any::<u8>(), 0..400),
        sig in proptest::option::of(".{0,40}"),
        settings in proptest::option::of(".{0,40}"),
        ctype in proptest::option::of(prop_oneof![Just("application/json".to_owned()), Just("application/x-www-form-urlencoded".to_owned()), ".{0,20}"]),
    ) {
        let Ok(uri) = path.parse::<Uri>() else { return Ok(()) };
        let mut headers = HeaderMap::new();
        for (k, v) in [("x-twilio-signature", sig), ("x-twilio-webhooks-signature-settings", settings), ("content-type", ctype)] {
            if let Some(v) = v.and_then(|v| HeaderValue::from_str(&v).ok()) {
                headers.insert(k, v);
            }
        }
        let req = WebhookRequest { method: &m, uri: &uri, headers: &headers, body: &body };
        for status in all_parsers(&config(), &req) {
            // Unsigned garbage is refused as forbidden (or a wrong method), never accepted.
            let s = status.unwrap();
            prop_assert!(s == StatusCode::FORBIDDEN || s == StatusCode::METHOD_NOT_ALLOWED, "{s}");
        }
    }

    #[test]
    fn correctly_signed_random_params_parse_or_are_400(p in params(), get in any::<bool>(), shared in any::<bool>()) {
        let cfg = config();
        let form = encode(&p);
        let (m, path, body) = if get {
            (Method::GET, format!("/twilio/x?{form}"), Vec::new())
        } else {
            (Method::POST, "/twilio/x".to_owned(), form.clone().into_bytes())
        };
        let url = format!("{BASE}{path}");
        let signed: Vec<(String, String)> = if get { Vec::new() } else { decode_form(form.as_bytes()) };
        let mut headers = HeaderMap::new();
        let sig = if shared {
            headers.insert("x-twilio-webhooks-signature-settings", HeaderValue::from_static("key=K,algorithm=HMAC_SHA256"));
            cfg.validator().sign_with_shared_key("K", &url, &signed).unwrap()
        } else {
            cfg.validator().sign(&url, &signed)
        };
        headers.insert("x-twilio-signature", HeaderValue::from_str(&sig).unwrap());
        let uri: Uri = path.parse().unwrap();
        let req = WebhookRequest { method: &m, uri: &uri, headers: &headers, body: &body };
        prop_assert!(cfg.verify(&req).is_ok(), "a correct signature must verify");
        for status in all_parsers(&cfg, &req).into_iter().flatten() {
            prop_assert_eq!(status, StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn validator_round_trip_and_tamper(url in ".{0,80}", p in params(), flip in any::<prop::sample::Index>()) {
        let v = SignatureValidator::new("tok");
        let sig = v.sign(&url, &p);
        prop_assert!(v.validate(&url, &p, &sig));
        // Changing one byte of the signature makes it fail.
        let mut bytes = sig.into_bytes();
        let i = flip.index(bytes.len());
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bytes).unwrap();
        prop_assert!(!v.validate(&url, &p, &bad));
        let _ = url_variants(&url);
        let _ = string_to_sign(&url, &p);
    }

    #[test]
    fn validator_never_panics(url in ".{0,80}", body in proptest::collection::vec(any::<u8>(), 0..100), sig in ".{0,40}", header in proptest::option::of(".{0,40}")) {
        let v = SignatureValidator::new("tok");
        if let Some(mode) = SigningMode::from_settings_header(header.as_deref()) {
            let _ = v.validate_mode(mode, &url, &[], &sig);
            let _ = v.validate_body(mode, &url, &body, &sig);
        }
    }

    #[test]
    fn twiml_is_always_well_formed(text in any::<String>(), lang in ".{0,12}", url in any::<String>(), male in any::<bool>()) {
        let hint = if male { VoiceHint::Male } else { VoiceHint::Female };
        let script = VoiceScript::builder().ring(2).say(text.clone(), lang, hint).play(url).pause(1).hangup().build();
        let xml = render(&script, &VoiceMap::default());
        let doc = roxmltree::Document::parse(&xml);
        prop_assert!(doc.is_ok(), "{:?}: {}", doc.err(), xml);
        let doc = doc.unwrap();
        let n = doc.root_element().children().filter(|n| n.is_element()).count();
        prop_assert_eq!(n, 5);
    }

    #[test]
    fn rest_bodies_never_panic(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..300), ours in 0u32..10) {
        let _ = receipt_from_body(&body, ours);
        let e = api_error(status, &body, None);
        let _ = antirelou_core::Error::from(e);
    }

    #[test]
    fn json_shaped_rest_bodies_never_panic(code in prop_oneof![Just(serde_json::json!(21610)), Just(serde_json::json!("21211")), Just(serde_json::json!(-1)), Just(serde_json::json!(1e300)), Just(serde_json::json!(null)), Just(serde_json::json!([1]))], segs in prop_oneof![Just(serde_json::json!("0")), Just(serde_json::json!(-5)), Just(serde_json::json!("x")), Just(serde_json::json!(4294967296u64))], price in prop_oneof![Just(serde_json::json!("-0.07")), Just(serde_json::json!(null)), Just(serde_json::json!("abc")), Just(serde_json::json!(-1e30))]) {
        let body = serde_json::json!({"code": code, "message": "m", "sid": "SM1", "num_segments": segs, "price": price}).to_string();
        let r = receipt_from_body(body.as_bytes(), 2);
        prop_assert!(r.is_ok_and(|r| r.segments >= 1));
        let _ = api_error(400, body.as_bytes(), None);
    }
}
