//! Every official vector of the reference (§5.4 V-A to V-D, §5.7 J1) as a named test, the Node
//! outbound vectors of §5.5 as proofs of rejection, and our own JWT cases.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use antirelou_core::Timestamp;
use antirelou_vonage::VonageError;
use antirelou_vonage::jwt::{JwtVerifier, sign_hs256, verify_hs256};
use antirelou_vonage::signature::{SignatureMethod, SmsSigner};
use serde_json::json;

use SignatureMethod::*;

/// Sign `params` and check the expected signature; then verify it as an inbound webhook, with
/// the expected signature in upper and lower case, and check a one-character change fails.
fn check(secret: &str, method: SignatureMethod, params: &[(&str, &str)], expected: &str) {
    check_with(SmsSigner::new(secret, method), params, expected);
}

fn check_with(signer: SmsSigner, params: &[(&str, &str)], expected: &str) {
    assert_eq!(
        signer.sign(params.iter().copied()),
        expected.to_ascii_lowercase(),
        "sign"
    );
    let ts: i64 = params
        .iter()
        .find(|(k, _)| *k == "timestamp")
        .unwrap()
        .1
        .parse()
        .unwrap();
    for sig in [expected.to_ascii_uppercase(), expected.to_ascii_lowercase()] {
        let mut with_sig = params.to_vec();
        with_sig.push(("sig", &sig));
        signer.check_signature(with_sig.iter().copied()).unwrap();
        signer
            .verify(with_sig.iter().copied(), Timestamp::from_secs(ts))
            .unwrap();
    }
    // Tamper with the signature: the last hex digit changes.
    let mut bad = expected.to_ascii_lowercase();
    let last = bad.pop().unwrap();
    bad.push(if last == '0' { '1' } else { '0' });
    let mut with_bad = params.to_vec();
    with_bad.push(("sig", &bad));
    assert!(matches!(
        signer.verify(with_bad.iter().copied(), Timestamp::from_secs(ts)),
        Err(VonageError::BadSignature(_))
    ));
}

// ---- V-A: Node `sms.verifySignature` dataset --------------------------------------------------

const VA_SECRET: &str = "my_secret_key_for_testing";
const VA: &[(&str, &str)] = &[
    ("message-timestamp", "2013-11-21 15:27:30"),
    ("messageId", "020000001B0FE827"),
    ("msisdn", "14843472194"),
    ("text", "Test again"),
    ("timestamp", "1385047698"),
    ("to", "13239877404"),
    ("type", "text"),
];

#[test]
fn va_string_to_sign() {
    assert_eq!(
        SmsSigner::new(VA_SECRET, Md5Hash).string_to_sign(VA.iter().copied()),
        "&message-timestamp=2013-11-21 15:27:30&messageId=020000001B0FE827&msisdn=14843472194&text=Test again&timestamp=1385047698&to=13239877404&type=text"
    );
}
#[test]
fn va_md5hash() {
    check(VA_SECRET, Md5Hash, VA, "d2e7b1dc968737c5998ad624e02f90b7");
}
#[test]
fn va_md5_hmac() {
    check(VA_SECRET, Md5Hmac, VA, "DDEBD46008C2D4E93CCE578A332A52D5");
}
#[test]
fn va_sha1_hmac() {
    check(
        VA_SECRET,
        Sha1Hmac,
        VA,
        "27D0D05C2876C7CB1720DBCDBA4D492E1E55C09A",
    );
}
#[test]
fn va_sha256_hmac() {
    check(
        VA_SECRET,
        Sha256Hmac,
        VA,
        "DDB8397C2B90AAC7F3882D306475C9A5058C92322EEF43C92B298B6E0FC0D330",
    );
}
#[test]
fn va_sha512_hmac() {
    check(
        VA_SECRET,
        Sha512Hmac,
        VA,
        "E0D3C650F8C9D1A5C174D10DDDBFB003E561F59B265616208B0487C5D819481CD3C311D59CF6165ECD1139622D5BA3A256C0D763AC4A9AD9144B5A426B94FE82",
    );
}

// ---- V-B: Python SDK v3 -------------------------------------------------------------------------

const VB: &[(&str, &str)] = &[("a", "1"), ("b", "2"), ("timestamp", "1461605396")];

#[test]
fn vb_md5hash() {
    check("secret", Md5Hash, VB, "6af838ef94998832dbfc29020b564830");
}
#[test]
fn vb_md5_hmac() {
    check("secret", Md5Hmac, VB, "c15c21ced558c93a226c305f58f902f2");
}
#[test]
fn vb_sha1_hmac() {
    check(
        "secret",
        Sha1Hmac,
        VB,
        "3e19a4e6880fdc2c1426bfd0587c98b9532f0210",
    );
}
#[test]
fn vb_sha256_hmac() {
    check(
        "secret",
        Sha256Hmac,
        VB,
        "a321e824b9b816be7c3f28859a31749a098713d39f613c80d455bbaffae1cd24",
    );
}
#[test]
fn vb_sha512_hmac() {
    check(
        "secret",
        Sha512Hmac,
        VB,
        "812a18f76680fa0fe1b8bd9ee1625466ceb1bd96242e4d050d2cfd9a7b40166c63ed26ec9702168781b6edcf1633db8ff95af9341701004eec3fcf9550572ee8",
    );
}

// ---- V-C: Java SDK ------------------------------------------------------------------------------

const VC: &[(&str, &str)] = &[("a", "alphabet"), ("b", "bananas"), ("timestamp", "2100")];

#[test]
fn vc_md5hash() {
    check("abcde", Md5Hash, VC, "7d43241108912b32cc315b48ce681acf");
}
#[test]
fn vc_md5_hmac() {
    check("abcde", Md5Hmac, VC, "e0afe267aefd6dd18a848c1681517a19");
}
#[test]
fn vc_sha1_hmac() {
    check(
        "abcde",
        Sha1Hmac,
        VC,
        "b7f749de27b4adcf736cc95c9a7e059a16c85127",
    );
}
#[test]
fn vc_sha256_hmac() {
    check(
        "abcde",
        Sha256Hmac,
        VC,
        "8d1b0428276b6a070578225914c3502cc0687a454dfbbbb370c76a14234cb546",
    );
}
#[test]
fn vc_sha512_hmac() {
    check(
        "abcde",
        Sha512Hmac,
        VC,
        "1c834a1f6a377d4473971387b065cb38e2ad6c4869ba77b7b53e207a344e87ba04b456dfc697b371a2d1ce476d01dafd4394aa97525eff23badad39d2389a710",
    );
}
#[test]
fn vc_md5hash_skips_null_value_when_asked() {
    // Java drops `b=null`; over HTTP a null arrives as an empty (or JSON null) value.
    let params = &[("a", "alphabet"), ("b", ""), ("timestamp", "2100")];
    let signer = SmsSigner::new("abcde", Md5Hash).skip_empty_values(true);
    assert_eq!(
        signer.string_to_sign(params.iter().copied()),
        "&a=alphabet&timestamp=2100"
    );
    check_with(signer, params, "a3368bf718ba104dcb392d8877e8eb2b");
    // The documented algorithm keeps the empty value, so the Java signature does not verify.
    let default = SmsSigner::new("abcde", Md5Hash);
    let mut with_sig = params.to_vec();
    with_sig.push(("sig", "a3368bf718ba104dcb392d8877e8eb2b"));
    assert!(default.check_signature(with_sig.iter().copied()).is_err());
}

// ---- V-D: Python SDK v4 (all HMAC) --------------------------------------------------------------

const VD: &[(&str, &str)] = &[
    ("param1", "value1"),
    ("param2", "value2"),
    ("timestamp", "1234567890"),
];

#[test]
fn vd_sha256() {
    check(
        "signature_secret",
        Sha256Hmac,
        VD,
        "280c4320703dbc98bfa22db676655ed2acfbfe8792b062ff7622e67f1183c287",
    );
}
#[test]
fn vd_md5_hmac_default() {
    check(
        "signature_secret",
        Md5Hmac,
        VD,
        "724c2bf6ca423c36e20631b11d1c5753",
    );
}
#[test]
fn vd_md5_hmac_replaces_ampersand_and_equals_in_values() {
    let params = &[
        ("param1", "value&1"),
        ("param2", "value=2"),
        ("timestamp", "1234567890"),
    ];
    assert_eq!(
        SmsSigner::new("signature_secret", Md5Hmac).string_to_sign(params.iter().copied()),
        "&param1=value_1&param2=value_2&timestamp=1234567890"
    );
    check(
        "signature_secret",
        Md5Hmac,
        params,
        "2bbf0abafb2c55e5af6231513896a2ac",
    );
}
#[test]
fn vd_md5_hmac_short_timestamp() {
    let params = &[
        ("param1", "value1"),
        ("param2", "value2"),
        ("timestamp", "12345"),
    ];
    check(
        "signature_secret",
        Md5Hmac,
        params,
        "bc7e95bb4e341090b3a202a2885903a5",
    );
}
#[test]
fn vd_md5_hmac_check_signature() {
    let params = &[("param", "value"), ("timestamp", "1234567890")];
    check(
        "signature_secret",
        Md5Hmac,
        params,
        "655a4d0b7f064dff438defc52b012cf5",
    );
}
#[test]
fn vd_sha256_api_key_is_signed() {
    let params = &[
        ("api_key", "asdfzxcv"),
        ("test", "post request"),
        ("testing", "http client"),
        ("timestamp", "1234567890"),
    ];
    check(
        "qwerasdfzxcv",
        Sha256Hmac,
        params,
        "237b06fd1f994a9ec2f3283a4a0239f35b56d64639d6485b45cffedcb385b033",
    );
}

// ---- §5.5: Node outbound `createSignatureHash` vectors must NOT verify ----------------------------

/// These five (plus one) signatures come from the Node SDK's *outbound* signer, which signs a
/// non-standard string (`api_key_12345_timestamp_10907902800`). They do not follow the documented
/// algorithm and Vonage's verifiers (Python, Java, Node's own `verifySignature`) would not accept
/// them; neither do we. If this test starts failing, someone "fixed" the signer to match Node's
/// outbound bug: revert that.
#[test]
fn node_outbound_vectors_are_rejected_as_documented_scheme_signatures() {
    let params = &[("api_key", "12345"), ("timestamp", "10907902800")];
    let cases = [
        (Md5Hash, "d7f81394898d98c876e782b3c98391b8"),
        (Md5Hmac, "c3216bfa0866f77ff0b8cb2db6024a6e"),
        (Sha1Hmac, "9c3aafe2377f54394366a483eae34ce32fdadfef"),
        (
            Sha256Hmac,
            "19ce55eb9d54bf1a9d758f4b6b7dc6d9f86e15924edf4ddd104e2c1edcd57443",
        ),
        (
            Sha512Hmac,
            "a3d390830787461570689a4b892b6f619e25da77f89dc7ec87c024f774fa7b4f5252b33189483af56c6f395ba181f90d5fb27edac31911df17abb711f86dd1b5",
        ),
    ];
    for (method, node_sig) in cases {
        let signer = SmsSigner::new("ABCDE", method);
        assert_ne!(signer.sign(params.iter().copied()), node_sig, "{method}");
        let mut with_sig = params.to_vec();
        with_sig.push(("sig", node_sig));
        assert!(
            matches!(
                signer.check_signature(with_sig.iter().copied()),
                Err(VonageError::BadSignature(_))
            ),
            "{method}: a Node outbound signature must not verify"
        );
    }
    let params = &[
        ("api_key", "12345"),
        ("fizz", "buzz"),
        ("timestamp", "1444924800000"),
    ];
    let node_sig = "c192d25e4f106187dc20b6a5b3a2ec66aa011e1d8332122cb932040c944cf495d7f72e2fdb052438d309f1401d91e445c679a6f69b9537d6bf5fdac7016f8639";
    let signer = SmsSigner::new("ABCDE", Sha512Hmac);
    let mut with_sig = params.to_vec();
    with_sig.push(("sig", node_sig));
    assert!(signer.check_signature(with_sig.iter().copied()).is_err());
    // And our string is the documented one, not Node's.
    assert_eq!(
        signer.string_to_sign(params.iter().copied()),
        "&api_key=12345&fizz=buzz&timestamp=1444924800000"
    );
}

// ---- Timestamp window ---------------------------------------------------------------------------

#[test]
fn timestamp_window_and_presence() {
    let signer = SmsSigner::new("secret", Md5Hash);
    let sig = "6af838ef94998832dbfc29020b564830";
    let mut p = VB.to_vec();
    p.push(("sig", sig));
    let at = |s: i64| signer.verify(p.iter().copied(), Timestamp::from_secs(s));
    assert!(at(1_461_605_396 + 300).is_ok());
    assert!(at(1_461_605_396 - 300).is_ok());
    assert!(matches!(
        at(1_461_605_396 + 301),
        Err(VonageError::StaleSignature(_))
    ));
    assert!(matches!(
        at(1_461_605_396 - 301),
        Err(VonageError::StaleSignature(_))
    ));
    let wide = signer.clone().with_window(Duration::from_secs(3600));
    assert!(
        wide.verify(
            p.iter().copied(),
            Timestamp::from_secs(1_461_605_396 + 3000)
        )
        .is_ok()
    );
    // Without `timestamp`, an inbound webhook is refused even with a matching signature.
    let no_ts = [("a", "1"), ("b", "2")];
    let s = signer.sign(no_ts);
    let q = [("a", "1"), ("b", "2"), ("sig", s.as_str())];
    assert!(signer.check_signature(q).is_ok());
    assert!(matches!(
        signer.verify(q, Timestamp::from_secs(0)),
        Err(VonageError::MissingSignature(_))
    ));
    // Without `sig`: missing.
    assert!(matches!(
        signer.verify(VB.iter().copied(), Timestamp::from_secs(1_461_605_396)),
        Err(VonageError::MissingSignature(_))
    ));
    assert_eq!(VonageError::MissingSignature("x").status_code(), 403);
    assert_eq!(VonageError::StaleSignature("x".into()).status_code(), 403);
}

// ---- §5.7 J1 and our own JWT cases --------------------------------------------------------------

const J1: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJPbmxpbmUgSldUIEJ1aWxkZXIiLCJpYXQiOjE2OTc2MzQ2ODAsImV4cCI6MzMyNTQ1NDA4MjgsImF1ZCI6IiIsInN1YiI6IiJ9.88vJc3I2HhuqEDixHXVhc9R30tA6U_HQHZTC29y6CGM";

#[test]
fn j1_valid_with_its_secret() {
    let c = verify_hs256(J1, b"qwertyuiopasdfghjklzxcvbnm123456").unwrap();
    assert_eq!(c.iss.as_deref(), Some("Online JWT Builder"));
    assert_eq!(c.iat, Some(1_697_634_680));
    assert_eq!(c.exp, Some(33_254_540_828));
}

#[test]
fn j1_invalid_with_asdf() {
    assert!(matches!(
        verify_hs256(J1, b"asdf"),
        Err(VonageError::BadSignature(_))
    ));
}

#[test]
fn j1_is_not_a_vonage_webhook_token() {
    // Right signature, wrong issuer: the webhook verifier refuses it.
    let v = JwtVerifier::new("qwertyuiopasdfghjklzxcvbnm123456");
    let e = v
        .verify_token(J1, b"", Timestamp::from_secs(1_697_634_680))
        .unwrap_err();
    assert!(
        matches!(e, VonageError::BadSignature(ref m) if m.contains("issuer")),
        "{e}"
    );
    // With the issuer check off, it passes at its own time.
    let v = v.with_issuer(None);
    assert!(
        v.verify_token(J1, b"", Timestamp::from_secs(1_697_634_680))
            .is_ok()
    );
}

const SECRET: &[u8] = b"signature-secret-of-the-account";
const NOW: i64 = 1_700_000_000;

fn vonage_token(iat: i64, body: &[u8]) -> String {
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(body));
    sign_hs256(
        &json!({"iat": iat, "jti": "c0ffee", "iss": "Vonage", "payload_hash": hash,
                "api_key": "abcd1234", "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"}),
        SECRET,
    )
}

#[test]
fn vonage_shaped_jwt_verifies_with_body_hash() {
    let body = br#"{"status":"answered","uuid":"u"}"#;
    let t = vonage_token(NOW, body);
    let v = JwtVerifier::new(SECRET);
    let c = v
        .verify_header(&format!("Bearer {t}"), body, Timestamp::from_secs(NOW + 10))
        .unwrap();
    assert_eq!(c.api_key.as_deref(), Some("abcd1234"));
    assert_eq!(c.jti.as_deref(), Some("c0ffee"));
}

#[test]
fn jwt_bad_payload_hash_is_refused() {
    let t = vonage_token(NOW, b"{\"status\":\"answered\"}");
    let v = JwtVerifier::new(SECRET);
    let e = v
        .verify_token(&t, b"{\"status\":\"completed\"}", Timestamp::from_secs(NOW))
        .unwrap_err();
    assert!(
        matches!(e, VonageError::BadSignature(ref m) if m.contains("payload_hash")),
        "{e}"
    );
    // A body but no payload_hash claim at all: refused too.
    let t = sign_hs256(&json!({"iat": NOW, "iss": "Vonage"}), SECRET);
    assert!(
        v.verify_token(&t, b"{}", Timestamp::from_secs(NOW))
            .is_err()
    );
    // No body (GET answer webhook): payload_hash is not checked.
    assert!(v.verify_token(&t, b"", Timestamp::from_secs(NOW)).is_ok());
}

#[test]
fn jwt_expired_iat_is_refused() {
    let t = vonage_token(NOW, b"");
    let v = JwtVerifier::new(SECRET);
    // At most two minutes old, at most 30 s ahead (issue #20: a short lifetime).
    assert!(
        v.verify_token(&t, b"", Timestamp::from_secs(NOW + 120))
            .is_ok()
    );
    assert!(matches!(
        v.verify_token(&t, b"", Timestamp::from_secs(NOW + 121)),
        Err(VonageError::StaleSignature(_))
    ));
    assert!(
        v.verify_token(&t, b"", Timestamp::from_secs(NOW - 30))
            .is_ok()
    );
    assert!(matches!(
        v.verify_token(&t, b"", Timestamp::from_secs(NOW - 31)),
        Err(VonageError::StaleSignature(_))
    ));
    // Both bounds are settings.
    let wide = JwtVerifier::new(SECRET)
        .with_max_age(std::time::Duration::from_secs(600))
        .with_clock_skew(std::time::Duration::from_secs(60));
    assert!(
        wide.verify_token(&t, b"", Timestamp::from_secs(NOW + 600))
            .is_ok()
    );
    assert!(
        wide.verify_token(&t, b"", Timestamp::from_secs(NOW - 60))
            .is_ok()
    );
    assert!(
        wide.verify_token(&t, b"", Timestamp::from_secs(NOW + 601))
            .is_err()
    );
    let t = sign_hs256(&json!({"iss": "Vonage"}), SECRET);
    assert!(
        v.verify_token(&t, b"", Timestamp::from_secs(NOW)).is_err(),
        "no iat"
    );
    let t = sign_hs256(
        &json!({"iss": "Vonage", "iat": NOW, "exp": NOW - 1}),
        SECRET,
    );
    assert!(matches!(
        v.verify_token(&t, b"", Timestamp::from_secs(NOW)),
        Err(VonageError::StaleSignature(_))
    ));
}

#[test]
fn jwt_wrong_algorithms_are_refused() {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let payload = b64(&json!({"iss": "Vonage", "iat": NOW}).to_string());
    // alg none, with an empty signature.
    let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), payload);
    assert!(
        matches!(verify_hs256(&none, SECRET), Err(VonageError::BadSignature(ref m)) if m.contains("none"))
    );
    // Other algorithms and spellings, even with a correct HS256 MAC over the input.
    for header in [
        r#"{"alg":"HS512"}"#,
        r#"{"alg":"hs256"}"#,
        r#"{"alg":"RS256"}"#,
        r#"{"typ":"JWT"}"#,
        r#"{"alg":256}"#,
    ] {
        use hmac::Mac;
        let input = format!("{}.{}", b64(header), payload);
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET).unwrap();
        mac.update(input.as_bytes());
        let sig =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        let token = format!("{input}.{sig}");
        assert!(verify_hs256(&token, SECRET).is_err(), "{header}");
    }
    // Malformed tokens.
    for t in [
        "",
        "a.b",
        "a.b.c.d",
        "!!!.###.$$$",
        &format!("{}.{}.AAAA", b64(r#"{"alg":"HS256"}"#), payload),
    ] {
        assert!(verify_hs256(t, SECRET).is_err(), "{t}");
    }
}

#[test]
fn jwt_tampered_payload_is_refused() {
    let t = vonage_token(NOW, b"");
    let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
    use base64::Engine;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"iat": NOW, "iss": "Vonage", "api_key": "evil"}).to_string());
    assert!(verify_hs256(&parts.join("."), SECRET).is_err());
}
