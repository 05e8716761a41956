//! Framework-agnostic webhook verification and parsing, over `http` types.
#![allow(clippy::unwrap_used)]

mod support;

use antirelou_core::Caller;
use antirelou_core::event::DeliveryState;
use antirelou_twilio::TwilioError;
use antirelou_twilio::signature::SignatureValidator;
use antirelou_twilio::webhook::{WebhookConfig, WebhookRequest, decode_form};
use http::StatusCode;
use support::*;

fn req(r: &http::Request<Vec<u8>>) -> WebhookRequest<'_> {
    WebhookRequest::from_http(r)
}

#[test]
fn voice_post_real_payload() {
    let r = signed_post("/twilio/voice", VOICE_BODY);
    let call = config().parse_voice(&req(&r)).unwrap();
    assert_eq!(call.provider, antirelou_twilio::PROVIDER);
    assert_eq!(call.call_id, "CA0123456789abcdef0123456789abcdef");
    assert_eq!(call.from.number().unwrap().e164(), "+32470123456");
    assert_eq!(call.to.e164(), "+3225880000");
}

#[test]
fn voice_anonymous_caller_is_withheld() {
    let body = with_value(VOICE_BODY, "From", "anonymous");
    let r = signed_post("/twilio/voice", &body);
    assert_eq!(
        config().parse_voice(&req(&r)).unwrap().from,
        Caller::Withheld
    );
}

#[test]
fn sms_post_real_payload_with_unknown_param() {
    let r = signed_post("/twilio/sms", SMS_BODY);
    let sms = config().parse_sms(&req(&r)).unwrap();
    assert_eq!(sms.message_id, "SM0123456789abcdef0123456789abcdef");
    assert_eq!(sms.body, "Salut ça va ? & toi");
    assert_eq!(sms.from.number().unwrap().e164(), "+32470123456");
    assert_eq!(sms.to.e164(), "+3225880000");
    assert_eq!(sms.received_at, None);
}

#[test]
fn sms_get_variant_reads_the_query_and_signs_the_url_only() {
    let path = format!("/twilio/sms?{SMS_BODY}");
    let r = signed_get(&path);
    let sms = config().parse_sms(&req(&r)).unwrap();
    assert_eq!(sms.message_id, "SM0123456789abcdef0123456789abcdef");
    assert_eq!(sms.body, "Salut ça va ? & toi");
    // A GET signed as if it were a POST (URL + sorted params) is refused.
    let wrong = http::Request::get(&path)
        .header("X-Twilio-Signature", sign_post("/twilio/sms", SMS_BODY))
        .body(Vec::new())
        .unwrap();
    assert!(matches!(
        config().parse_sms(&req(&wrong)),
        Err(TwilioError::BadSignature { .. })
    ));
}

#[test]
fn voice_get_variant() {
    let r = signed_get(&format!("/twilio/voice?{VOICE_BODY}"));
    assert_eq!(
        config().parse_voice(&req(&r)).unwrap().call_id,
        "CA0123456789abcdef0123456789abcdef"
    );
}

#[test]
fn configured_query_string_is_part_of_the_signed_url() {
    let path = "/twilio/sms?number=be&x=%27y%27";
    let r = signed_post(path, SMS_BODY);
    assert!(config().parse_sms(&req(&r)).is_ok());
    // Same signature, query dropped: refused.
    let sig = sign_post(path, SMS_BODY);
    let r = post("/twilio/sms", SMS_BODY, Some(&sig));
    assert!(matches!(
        config().parse_sms(&req(&r)),
        Err(TwilioError::BadSignature { .. })
    ));
}

#[test]
fn host_header_is_never_trusted() {
    // Signed for the attacker's own host, sent with that Host header: refused, because the URL
    // verified is the configured public one.
    let params = decode_form(SMS_BODY.as_bytes());
    let sig = SignatureValidator::new(TOKEN).sign("https://attacker.example/twilio/sms", &params);
    let r = http::Request::post("https://attacker.example/twilio/sms")
        .header("Host", "attacker.example")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", sig)
        .body(SMS_BODY.as_bytes().to_vec())
        .unwrap();
    assert!(matches!(
        config().parse_sms(&req(&r)),
        Err(TwilioError::BadSignature { .. })
    ));
}

#[test]
fn public_base_with_port_accepts_both_port_variants() {
    let cfg = WebhookConfig::new(
        "https://antirelou.example.org:443",
        SignatureValidator::new(TOKEN),
    )
    .unwrap();
    let params = decode_form(SMS_BODY.as_bytes());
    let sig =
        SignatureValidator::new(TOKEN).sign("https://antirelou.example.org/twilio/sms", &params);
    let r = post("/twilio/sms", SMS_BODY, Some(&sig));
    assert!(cfg.parse_sms(&req(&r)).is_ok());
}

#[test]
fn bad_or_missing_signature_is_403() {
    let r = post("/twilio/sms", SMS_BODY, None);
    let e = config().parse_sms(&req(&r)).unwrap_err();
    assert_eq!(e.status_code(), StatusCode::FORBIDDEN);
    assert!(e.to_string().contains("missing X-Twilio-Signature"), "{e}");

    let r = post(
        "/twilio/sms",
        SMS_BODY,
        Some("RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    );
    assert_eq!(
        config().parse_sms(&req(&r)).unwrap_err().status_code(),
        StatusCode::FORBIDDEN
    );

    // Tampered body (the Body text changed after signing).
    let sig = sign_post("/twilio/sms", SMS_BODY);
    let tampered = with_value(SMS_BODY, "Body", "STOP");
    let r = post("/twilio/sms", &tampered, Some(&sig));
    assert_eq!(
        config().parse_sms(&req(&r)).unwrap_err().status_code(),
        StatusCode::FORBIDDEN
    );

    // Another account's token.
    let other = WebhookConfig::new(BASE, SignatureValidator::new("other-token")).unwrap();
    let r = signed_post("/twilio/sms", SMS_BODY);
    assert_eq!(
        other.parse_sms(&req(&r)).unwrap_err().status_code(),
        StatusCode::FORBIDDEN
    );
}

#[test]
fn signature_is_checked_before_parameters() {
    // An unsigned request missing From gets 403, not 400: nothing about parsing leaks.
    let r = post("/twilio/sms", &without(SMS_BODY, "From"), Some("x"));
    assert_eq!(
        config().parse_sms(&req(&r)).unwrap_err().status_code(),
        StatusCode::FORBIDDEN
    );
}

#[test]
fn missing_required_parameters_are_400_with_their_name() {
    for (body, name) in [
        (without(SMS_BODY, "From"), "From"),
        (without(SMS_BODY, "To"), "To"),
        (
            without(
                without(without(SMS_BODY, "MessageSid"), "SmsSid"),
                "SmsMessageSid",
            ),
            "MessageSid",
        ),
    ] {
        let r = signed_post("/twilio/sms", &body);
        let e = config().parse_sms(&req(&r)).unwrap_err();
        assert_eq!(e.status_code(), StatusCode::BAD_REQUEST);
        assert!(
            matches!(e, TwilioError::MissingParameter { name: n } if n == name),
            "{e}"
        );
        assert!(e.to_string().contains(name));
    }
    for (body, name) in [
        (without(VOICE_BODY, "CallSid"), "CallSid"),
        (without(VOICE_BODY, "From"), "From"),
    ] {
        let r = signed_post("/twilio/voice", &body);
        let e = config().parse_voice(&req(&r)).unwrap_err();
        assert!(
            matches!(e, TwilioError::MissingParameter { name: n } if n == name),
            "{e}"
        );
    }
}

#[test]
fn legacy_sid_names_are_accepted_and_body_may_be_absent() {
    let body = without(without(SMS_BODY, "MessageSid"), "Body");
    let r = signed_post("/twilio/sms", &body);
    let sms = config().parse_sms(&req(&r)).unwrap();
    assert_eq!(sms.message_id, "SM0123456789abcdef0123456789abcdef");
    assert_eq!(sms.body, "");
}

#[test]
fn invalid_numbers_are_400() {
    let r = signed_post("/twilio/sms", &with_value(SMS_BODY, "To", "not-a-number"));
    let e = config().parse_sms(&req(&r)).unwrap_err();
    assert!(
        matches!(e, TwilioError::InvalidParameter { name: "To", .. }),
        "{e}"
    );
    assert_eq!(e.status_code(), StatusCode::BAD_REQUEST);

    let r = signed_post("/twilio/sms", &with_value(SMS_BODY, "From", "%2B33+1"));
    let e = config().parse_sms(&req(&r)).unwrap_err();
    assert!(
        matches!(e, TwilioError::InvalidParameter { name: "From", .. }),
        "{e}"
    );
}

#[test]
fn short_code_sender_is_not_dialable() {
    let r = signed_post("/twilio/sms", &with_value(SMS_BODY, "From", "36665"));
    assert!(matches!(
        config().parse_sms(&req(&r)).unwrap().from,
        Caller::NotDialable(_)
    ));
}

#[test]
fn status_callback() {
    let r = signed_post("/twilio/status", STATUS_BODY);
    let rep = config().parse_status(&req(&r)).unwrap();
    assert_eq!(rep.message_id, "SM0123456789abcdef0123456789abcdef");
    assert_eq!(rep.state, DeliveryState::Undelivered);
    assert_eq!(rep.error_code.as_deref(), Some("30007"));
    assert_eq!(rep.price, None);

    let body = format!(
        "{}&Price=-0.07620&PriceUnit=EUR",
        with_value(
            without(STATUS_BODY, "ErrorCode"),
            "MessageStatus",
            "delivered"
        )
    );
    let r = signed_post("/twilio/status", &body);
    let rep = config().parse_status(&req(&r)).unwrap();
    assert_eq!(rep.state, DeliveryState::Delivered);
    assert_eq!(rep.error_code, None);
    assert_eq!(rep.price, antirelou_core::Price::parse("0.0762", "EUR"));

    let r = signed_post(
        "/twilio/status",
        &with_value(STATUS_BODY, "MessageStatus", "partially_delivered"),
    );
    assert_eq!(
        config().parse_status(&req(&r)).unwrap().state,
        DeliveryState::Unknown
    );
}

#[test]
fn json_body_is_verified_then_unsupported() {
    let body = r#"{"property": "value", "boolean": true}"#;
    let hash = antirelou_twilio::signature::body_sha256_hex(body.as_bytes());
    let path = format!("/twilio/sms?bodySHA256={hash}");
    let sig = sign_get(&path);
    let mk = |b: &str, s: &str| {
        http::Request::post(&path)
            .header("Content-Type", "application/json")
            .header("X-Twilio-Signature", s)
            .body(b.as_bytes().to_vec())
            .unwrap()
    };
    let e = config().parse_sms(&req(&mk(body, &sig))).unwrap_err();
    assert_eq!(e.status_code(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{e}");
    let e = config()
        .parse_sms(&req(&mk(r#"{"property": "evil"}"#, &sig)))
        .unwrap_err();
    assert_eq!(e.status_code(), StatusCode::FORBIDDEN, "{e}");
}

#[test]
fn other_methods_are_405() {
    let r = http::Request::put("/twilio/sms")
        .header("X-Twilio-Signature", "x")
        .body(Vec::new())
        .unwrap();
    assert_eq!(
        config().parse_sms(&req(&r)).unwrap_err().status_code(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[test]
fn shared_key_mode_through_the_settings_header() {
    let v = SignatureValidator::new(TOKEN).with_shared_key("KEY1", "shared-secret");
    let cfg = WebhookConfig::new(BASE, v.clone()).unwrap();
    let params = decode_form(SMS_BODY.as_bytes());
    let sig = v
        .sign_with_shared_key("KEY1", &format!("{BASE}/twilio/sms"), &params)
        .unwrap();
    let mk = |settings: &str| {
        http::Request::post("/twilio/sms")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", sig.as_str())
            .header("X-Twilio-Webhooks-Signature-Settings", settings)
            .body(SMS_BODY.as_bytes().to_vec())
            .unwrap()
    };
    assert!(
        cfg.parse_sms(&req(&mk("key=KEY1,algorithm=HMAC_SHA256")))
            .is_ok()
    );
    for bad in [
        "key=KEY2,algorithm=HMAC_SHA256",
        "key=KEY1,algorithm=HMAC_SHA1",
        "garbage",
    ] {
        let e = cfg.parse_sms(&req(&mk(bad))).unwrap_err();
        assert_eq!(e.status_code(), StatusCode::FORBIDDEN, "{bad}");
    }
    // Without the header, the shared-key signature is not an auth-token signature.
    let r = post("/twilio/sms", SMS_BODY, Some(&sig));
    assert!(cfg.parse_sms(&req(&r)).is_err());
}
