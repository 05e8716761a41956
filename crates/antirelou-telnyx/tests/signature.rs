//! Ed25519 webhook signatures: vectors made with an independent signer (OpenSSL), and every way
//! a request can fail to verify.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use antirelou_core::{ManualClock, Timestamp};
use antirelou_telnyx::{TelnyxError, WebhookVerifier};
use support::{PUBLIC_KEY, inbound_body, sign, sign_with, signed_headers};

/// Vectors signed by `openssl pkeyutl -sign -rawin` with RFC 8032 test 1's key (public key
/// `11qYAYKx…URo=`), over `1700000000|{body}`: see PROTOCOL.md for the commands.
const V1_BODY: &str = r#"{"data":{"event_type":"message.received","id":"b301ed3f-1490-491f-995f-6e64e69674d4","occurred_at":"2023-11-14T22:13:20.000+00:00","payload":{"direction":"inbound","from":{"carrier":"T-Mobile USA","line_type":"Wireless","phone_number":"+32470123456"},"id":"84cca175-9755-4859-b67f-4730d7f58aa3","received_at":"2023-11-14T22:13:20.000+00:00","record_type":"message","text":"Salut, tu es libre ce soir ?","to":[{"carrier":"Telnyx","line_type":"Wireless","phone_number":"+33612345678","status":"webhook_delivered"}],"type":"SMS"},"record_type":"event"},"meta":{"attempt":1,"delivered_to":"https://example.com/telnyx/sms"}}"#;
const V1_SIG: &str =
    "M9cHRBdihIsdKGWyBZIx4oOifOTRQ5pljh06E0uv3hZ9K7KHZXXglvLQLAG3+qA3iqgnFJxwF8LebQ7iz3D2Cg==";
const V2_BODY: &str = "CallSid=v3%3AT02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ&From=%2B32470123456&To=%2B33612345678&CallStatus=ringing&Direction=inbound";
const V2_SIG: &str =
    "CRmYoaBMV47g38PlxiMtOS9ngXTaPf+PKXLEPLk8g+8T99B8vqC7l1OJ3Y1dNS8Xo1kuVaiIcTCQlbIfqWcWBg==";
const T: i64 = 1_700_000_000;

fn verifier_at(secs: i64) -> WebhookVerifier {
    WebhookVerifier::from_base64(PUBLIC_KEY)
        .unwrap()
        .with_clock(Arc::new(ManualClock::new(Timestamp::from_secs(secs))))
}

fn headers(ts: &str, sig: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert("Telnyx-Timestamp", ts.parse().unwrap());
    h.insert("Telnyx-Signature-Ed25519", sig.parse().unwrap());
    h
}

#[test]
fn openssl_vectors_verify() {
    let v = verifier_at(T);
    v.verify(&headers("1700000000", V1_SIG), V1_BODY.as_bytes())
        .unwrap();
    v.verify(&headers("1700000000", V2_SIG), V2_BODY.as_bytes())
        .unwrap();
    // Our test signer agrees with OpenSSL byte for byte (Ed25519 is deterministic).
    assert_eq!(sign("1700000000", V1_BODY.as_bytes()), V1_SIG);
    assert_eq!(sign("1700000000", V2_BODY.as_bytes()), V2_SIG);
}

#[test]
fn altered_body_or_timestamp_fails() {
    let v = verifier_at(T);
    let altered = V1_BODY.replace("libre", "libra");
    assert!(matches!(
        v.verify(&headers("1700000000", V1_SIG), altered.as_bytes()),
        Err(TelnyxError::BadSignature(_))
    ));
    // A trailing newline is a different body.
    let mut nl = V1_BODY.as_bytes().to_vec();
    nl.push(b'\n');
    assert!(v.verify(&headers("1700000000", V1_SIG), &nl).is_err());
    // The timestamp is signed too: moving it (within the window) breaks the signature.
    assert!(matches!(
        v.verify(&headers("1700000001", V1_SIG), V1_BODY.as_bytes()),
        Err(TelnyxError::BadSignature(_))
    ));
    // Signature of one body on another.
    assert!(
        v.verify(&headers("1700000000", V2_SIG), V1_BODY.as_bytes())
            .is_err()
    );
}

#[test]
fn forged_and_wrong_key_signatures_fail() {
    let v = verifier_at(T);
    let body = inbound_body("m1", "hi");
    let other_seed = [7u8; 32];
    let forged = sign_with(&other_seed, "1700000000", body.as_bytes());
    assert!(matches!(
        v.verify(&headers("1700000000", &forged), body.as_bytes()),
        Err(TelnyxError::BadSignature(_))
    ));
    // 64 bytes of zeros, and a flipped bit of a genuine signature.
    let zeros = base64_64(&[0u8; 64]);
    assert!(
        v.verify(&headers("1700000000", &zeros), body.as_bytes())
            .is_err()
    );
    let mut raw = decode(&sign("1700000000", body.as_bytes()));
    raw[10] ^= 1;
    assert!(
        v.verify(&headers("1700000000", &base64_64(&raw)), body.as_bytes())
            .is_err()
    );
}

#[test]
fn stale_and_future_timestamps_are_refused_even_when_genuine() {
    let body = inbound_body("m1", "hi");
    let ts = T.to_string();
    let h = signed_headers(&ts, body.as_bytes());
    // Inside the window, both ways, at its edges.
    for now in [T - 300, T, T + 300] {
        verifier_at(now).verify(&h, body.as_bytes()).unwrap();
    }
    assert!(matches!(
        verifier_at(T + 301).verify(&h, body.as_bytes()),
        Err(TelnyxError::StaleSignature(_))
    ));
    assert!(matches!(
        verifier_at(T - 301).verify(&h, body.as_bytes()),
        Err(TelnyxError::StaleSignature(_))
    ));
    assert!(matches!(
        verifier_at(T + 86_400 * 365).verify(&h, body.as_bytes()),
        Err(TelnyxError::StaleSignature(_))
    ));
    // A tighter window.
    let tight = verifier_at(T + 61).with_tolerance(Duration::from_secs(60));
    assert!(tight.verify(&h, body.as_bytes()).is_err());
}

#[test]
fn missing_duplicated_or_malformed_headers_fail() {
    let v = verifier_at(T);
    let body = inbound_body("m1", "hi");
    let good = signed_headers("1700000000", body.as_bytes());
    for name in ["telnyx-timestamp", "telnyx-signature-ed25519"] {
        let mut h = good.clone();
        h.remove(name);
        let e = v.verify(&h, body.as_bytes()).unwrap_err();
        assert!(
            matches!(e, TelnyxError::MissingSignature(n) if n == name),
            "{e:?}"
        );
        assert_eq!(e.status_code(), 403);
    }
    let mut dup = good.clone();
    dup.append(
        "telnyx-signature-ed25519",
        good["telnyx-signature-ed25519"].clone(),
    );
    assert!(v.verify(&dup, body.as_bytes()).is_err());
    let sig = good["telnyx-signature-ed25519"]
        .to_str()
        .unwrap()
        .to_owned();
    for ts in [
        "",
        "+1700000000",
        "-1700000000",
        "1700000000.0",
        "17e8",
        "0x65",
        "1700000000000000",
    ] {
        let mut h = good.clone();
        h.insert("telnyx-timestamp", ts.parse().unwrap());
        assert!(
            matches!(
                v.verify(&h, body.as_bytes()),
                Err(TelnyxError::BadSignature(_))
            ),
            "{ts:?}"
        );
    }
    for s in ["%%%", "AAAA", &sig[..sig.len() - 4]] {
        assert!(
            v.verify(&headers("1700000000", s), body.as_bytes())
                .is_err(),
            "{s}"
        );
    }
    let _ = sig;
}

fn decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}
