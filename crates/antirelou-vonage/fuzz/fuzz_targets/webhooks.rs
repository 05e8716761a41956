//! Fuzz every Vonage webhook parser and verifier with arbitrary requests.
//!
//! The first byte picks the method and content type; the rest is split at the first `\n` into a
//! query string and a body. Nothing may panic, whatever the input.
#![no_main]

use antirelou_core::Timestamp;
use antirelou_vonage::jwt::{JwtVerifier, verify_hs256};
use antirelou_vonage::signature::{SignatureMethod, SmsSigner};
use antirelou_vonage::webhook::{self, Nested, Params};
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: [Option<&str>; 4] = [
    None,
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("text/plain"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let method = if selector & 1 == 0 {
        http::Method::GET
    } else {
        http::Method::POST
    };
    let content_type = CONTENT_TYPES[usize::from((selector >> 1) & 3)];
    let nested = if selector & 8 == 0 {
        Nested::Reject
    } else {
        Nested::Skip
    };
    let (query, body) = match rest.iter().position(|b| *b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let query = String::from_utf8_lossy(query);

    if let Ok(p) = Params::from_parts(&method, content_type, Some(&query), body, nested) {
        let _ = webhook::parse_inbound_sms(&p, b"fuzz");
        let _ = webhook::parse_answer(&p);
        let _ = webhook::parse_event(&p);
        let _ = webhook::parse_delivery_receipt(&p);
        for m in [SignatureMethod::Md5Hash, SignatureMethod::Sha512Hmac] {
            let s = SmsSigner::new("secret", m).skip_empty_values(selector & 16 != 0);
            let _ = s.verify(p.iter(), Timestamp::from_secs(1_700_000_000));
        }
    }

    let token = String::from_utf8_lossy(body);
    let _ = verify_hs256(&token, b"secret");
    let _ =
        JwtVerifier::new("secret").verify_header(&query, body, Timestamp::from_secs(1_700_000_000));
});
