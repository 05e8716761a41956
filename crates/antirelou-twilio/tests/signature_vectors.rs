//! Every official `X-Twilio-Signature` vector of reference-providers.md §5.1 (from the test
//! suites of twilio-python, twilio-node, twilio-java and twilio-csharp), positive and negative,
//! plus a self-computed (NOT official) vector for the HMAC-SHA256 shared-key mode.
#![allow(clippy::unwrap_used)]

use antirelou_twilio::signature::{
    SignatureValidator, SigningMode, body_sha256_hex, string_to_sign, url_variants,
};

const TOKEN: &str = "12345";
const T1_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
const T1_SIG: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
const JSON_BODY: &str = r#"{"property": "value", "boolean": true}"#;
const JSON_BODY_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
const EMPTY_OBJECT_HASH: &str = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `P` of §5.1, deliberately not in sorted order.
fn p() -> Vec<(String, String)> {
    pairs(&[
        ("To", "+18005551212"),
        ("From", "+14158675309"),
        ("CallSid", "CA1234567890ABCDE"),
        ("Digits", "1234"),
        ("Caller", "+14158675309"),
    ])
}

fn v() -> SignatureValidator {
    SignatureValidator::new(TOKEN)
}

#[test]
fn string_to_sign_of_p() {
    assert_eq!(
        string_to_sign(T1_URL, &p()),
        format!(
            "{T1_URL}CallSidCA1234567890ABCDECaller+14158675309Digits1234From+14158675309To+18005551212"
        )
    );
}

#[test]
fn t1_plain_url() {
    assert_eq!(v().sign(T1_URL, &p()), T1_SIG);
    assert!(v().validate(T1_URL, &p(), T1_SIG));
}

#[test]
fn t2_adds_port_443_on_https() {
    // Signed over the URL with :443; the request URL is T1's.
    assert_eq!(
        v().sign("https://mycompany.com:443/myapp.php?foo=1&bar=2", &p()),
        "kvajT1Ptam85bY51eRf/AJRuM3w="
    );
    assert!(v().validate(T1_URL, &p(), "kvajT1Ptam85bY51eRf/AJRuM3w="));
}

#[test]
fn t3_adds_port_80_on_http() {
    let sig = "0ZXoZLH/DfblKGATFgpif+LLRf4=";
    assert_eq!(
        v().sign("http://mycompany.com:80/myapp.php?foo=1&bar=2", &p()),
        sig
    );
    assert!(v().validate("http://mycompany.com/myapp.php?foo=1&bar=2", &p(), sig));
}

#[test]
fn t4_custom_port_http_kept() {
    let url = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
    let sig = "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=";
    assert_eq!(v().sign(url, &p()), sig);
    assert!(v().validate(url, &p(), sig));
}

#[test]
fn t5_removes_port_on_https() {
    assert!(v().validate(
        "https://mycompany.com:1234/myapp.php?foo=1&bar=2",
        &p(),
        T1_SIG
    ));
}

#[test]
fn t6_custom_port_https_kept() {
    let url = "https://mycompany.com:1234/myapp.php?foo=1&bar=2";
    let sig = "CYn1h0gLBdNxDGkKJg6hYohgeD8=";
    assert_eq!(v().sign(url, &p()), sig);
    assert!(v().validate(url, &p(), sig));
}

#[test]
fn t7_repeated_params_sorted_and_deduplicated() {
    let params = pairs(&[
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]);
    assert_eq!(
        string_to_sign(T1_URL, &params),
        format!("{T1_URL}Digits1234Digits5678SidCA123SidAccountAC123")
    );
    assert_eq!(v().sign(T1_URL, &params), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    assert!(v().validate(T1_URL, &params, "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
}

#[test]
fn body_hash_vectors() {
    assert_eq!(body_sha256_hex(JSON_BODY.as_bytes()), JSON_BODY_HASH);
    assert_eq!(body_sha256_hex(b"{}"), EMPTY_OBJECT_HASH);
}

#[test]
fn t8_body_sha256_with_query() {
    let url = format!("{T1_URL}&bodySHA256={JSON_BODY_HASH}");
    let sig = "a9nBmqA0ju/hNViExpshrM61xv4=";
    assert_eq!(v().sign(&url, &[]), sig);
    assert!(v().validate_body(SigningMode::AuthToken, &url, JSON_BODY.as_bytes(), sig));
}

#[test]
fn t9_body_sha256_only_query() {
    let url = format!("https://mycompany.com/myapp.php?bodySHA256={JSON_BODY_HASH}");
    let sig = "y77kIzt2vzLz71DgmJGsen2scGs=";
    assert_eq!(v().sign(&url, &[]), sig);
    assert!(v().validate_body(SigningMode::AuthToken, &url, JSON_BODY.as_bytes(), sig));
}

#[test]
fn t10_empty_body_matches_only_the_443_variant() {
    let request_url = format!("{T1_URL}&bodySHA256={EMPTY_OBJECT_HASH}");
    let sig = "Ldidvp12m26NI7eqEvxnEpkd9Hc=";
    let [without, with] = url_variants(&request_url);
    assert_ne!(
        v().sign(&without, &[]),
        sig,
        "the URL as received does not match"
    );
    assert_eq!(v().sign(&with, &[]), sig, "the :443 variant does");
    assert!(with.starts_with("https://mycompany.com:443/"));
    assert!(v().validate_body(SigningMode::AuthToken, &request_url, b"{}", sig));
}

// ---- Negative vectors ----------------------------------------------------------------------

#[test]
fn negative_not_prefixed_signature_fails_t1() {
    assert!(!v().validate(T1_URL, &p(), "NOTRSOYDt4T1cUTdK1PDd93/VVr8B8="));
}

#[test]
fn negative_json_body_without_body_sha256_fails() {
    assert!(!v().validate_body(SigningMode::AuthToken, T1_URL, JSON_BODY.as_bytes(), T1_SIG));
    // Even with the signature of the bare URL.
    let sig = v().sign(T1_URL, &[]);
    assert!(!v().validate_body(SigningMode::AuthToken, T1_URL, JSON_BODY.as_bytes(), &sig));
}

#[test]
fn negative_unexpected_query_parameter_fails() {
    assert!(!v().validate(&format!("{T1_URL}&somethingUnexpected=true"), &p(), T1_SIG));
}

#[test]
fn negative_tampered_body_fails_body_hash() {
    let url = format!("{T1_URL}&bodySHA256={JSON_BODY_HASH}");
    let sig = "a9nBmqA0ju/hNViExpshrM61xv4=";
    assert!(!v().validate_body(
        SigningMode::AuthToken,
        &url,
        br#"{"property": "evil", "boolean": true}"#,
        sig
    ));
    let url10 = format!("{T1_URL}&bodySHA256={EMPTY_OBJECT_HASH}");
    assert!(!v().validate_body(
        SigningMode::AuthToken,
        &url10,
        b"{ }",
        "Ldidvp12m26NI7eqEvxnEpkd9Hc="
    ));
}

#[test]
fn negative_wrong_token_param_value_or_name() {
    assert!(!SignatureValidator::new("54321").validate(T1_URL, &p(), T1_SIG));
    let mut tampered = p();
    tampered[0].1 = "+18005551213".into();
    assert!(!v().validate(T1_URL, &tampered, T1_SIG));
    let mut extra = p();
    extra.push(("ToZip".into(), String::new()));
    assert!(
        !v().validate(T1_URL, &extra, T1_SIG),
        "an empty value still counts"
    );
    assert!(!v().validate(T1_URL, &p(), ""));
    assert!(
        !v().validate(T1_URL, &p(), "RSOYDt4T1cUTdK1PDd93/VVr8B8"),
        "truncated"
    );
}

#[test]
fn negative_port_variants_do_not_cross_schemes_or_ports() {
    // The T3 (http :80) signature is not valid for the https URL, nor T6 for another port.
    assert!(!v().validate(T1_URL, &p(), "0ZXoZLH/DfblKGATFgpif+LLRf4="));
    assert!(!v().validate(
        "https://mycompany.com:4321/myapp.php?foo=1&bar=2",
        &p(),
        "CYn1h0gLBdNxDGkKJg6hYohgeD8="
    ));
    // The query string is part of the URL: dropping it (as the `twilio` crate does) fails.
    assert!(!v().validate("https://mycompany.com/myapp.php", &p(), T1_SIG));
}

#[test]
fn empty_values_are_signed_as_bare_names() {
    let params = pairs(&[("ToZip", ""), ("A", "1")]);
    assert_eq!(string_to_sign("u", &params), "uA1ToZip");
}

// ---- Shared-key mode (HMAC-SHA256): self-computed vectors, NOT official ---------------------
// Computed with Python's hmac/hashlib: base64(HMAC-SHA256(b"whsk_test_0123456789", T1 string)).

const SK_ID: &str = "KEY1";
const SK: &str = "whsk_test_0123456789";
const SK_SIG_T1: &str = "d923RPCBv9hbgBfqRK1MJB3BA8QTuG19GYuus89xlzo=";
const SK_SIG_T1_443: &str = "+AYjKvyrmaQbO2rp61xLy1mFvkjDVjRaoUM089iBZzg=";

#[test]
fn shared_key_hmac_sha256_self_computed() {
    let v = v().with_shared_key(SK_ID, SK);
    let mode = SigningMode::from_settings_header(Some("key=KEY1,algorithm=HMAC_SHA256")).unwrap();
    assert_eq!(
        v.sign_with_shared_key(SK_ID, T1_URL, &p()).as_deref(),
        Some(SK_SIG_T1)
    );
    assert!(v.validate_mode(mode, T1_URL, &p(), SK_SIG_T1));
    assert!(
        v.validate_mode(mode, T1_URL, &p(), SK_SIG_T1_443),
        "port variants apply too"
    );
    // The auth-token signature is not accepted in shared-key mode, nor the reverse.
    assert!(!v.validate_mode(mode, T1_URL, &p(), T1_SIG));
    assert!(!v.validate(T1_URL, &p(), SK_SIG_T1));
    // Unknown key id, unknown algorithm.
    let other = SigningMode::from_settings_header(Some("key=KEY2,algorithm=HMAC_SHA256")).unwrap();
    assert!(!v.validate_mode(other, T1_URL, &p(), SK_SIG_T1));
    assert_eq!(
        SigningMode::from_settings_header(Some("key=KEY1,algorithm=HMAC_SHA1")),
        None
    );
    assert_eq!(
        SigningMode::from_settings_header(Some("algorithm=HMAC_SHA256")),
        None
    );
}
