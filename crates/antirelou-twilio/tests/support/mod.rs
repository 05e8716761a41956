//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod fake_twilio;

use antirelou_twilio::signature::SignatureValidator;
use antirelou_twilio::webhook::{WebhookConfig, decode_form};

pub const TOKEN: &str = "test-auth-token";
pub const BASE: &str = "https://antirelou.example.org";

/// A real captured voice payload (reference §1.1), numbers replaced, geo fields empty.
pub const VOICE_BODY: &str = "AccountSid=ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&ToZip=&FromState=&Called=%2B3225880000&FromCountry=BE&CallerCountry=BE&CalledZip=&Direction=inbound&FromCity=&CalledCountry=BE&CallerState=&CallSid=CA0123456789abcdef0123456789abcdef&CalledState=&From=%2B32470123456&CallerZip=&FromZip=&CallStatus=ringing&ToCity=&ToState=&To=%2B3225880000&ToCountry=BE&CallerCity=&ApiVersion=2010-04-01&Caller=%2B32470123456&CalledCity=";

/// A real captured SMS payload (reference §1.3), with a French body and an unknown parameter.
pub const SMS_BODY: &str = "ToCountry=BE&ToState=&SmsMessageSid=SM0123456789abcdef0123456789abcdef&NumMedia=0&ToCity=&FromZip=&SmsSid=SM0123456789abcdef0123456789abcdef&FromState=&SmsStatus=received&FromCity=&Body=Salut+%C3%A7a+va+%3F+%26+toi&FromCountry=BE&To=%2B3225880000&ToZip=&NumSegments=1&MessageSid=SM0123456789abcdef0123456789abcdef&AccountSid=ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&From=%2B32470123456&ApiVersion=2010-04-01&BrandNewTwilioParam=whatever";

/// A real status callback shape (reference §1.4).
pub const STATUS_BODY: &str = "SmsSid=SM0123456789abcdef0123456789abcdef&SmsStatus=undelivered&MessageStatus=undelivered&ErrorCode=30007&To=%2B32470123456&MessageSid=SM0123456789abcdef0123456789abcdef&AccountSid=ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&From=%2B3225880000&ApiVersion=2010-04-01";

pub fn config() -> WebhookConfig {
    WebhookConfig::new(BASE, SignatureValidator::new(TOKEN)).unwrap()
}

/// The signature Twilio would send for a form POST of `body` to `path_and_query`.
pub fn sign_post(path_and_query: &str, body: &str) -> String {
    SignatureValidator::new(TOKEN).sign(
        &format!("{BASE}{path_and_query}"),
        &decode_form(body.as_bytes()),
    )
}

/// The signature Twilio would send for a GET of `path_and_query`.
pub fn sign_get(path_and_query: &str) -> String {
    SignatureValidator::new(TOKEN).sign(&format!("{BASE}{path_and_query}"), &[])
}

pub fn post(path_and_query: &str, body: &str, signature: Option<&str>) -> http::Request<Vec<u8>> {
    let mut b = http::Request::post(path_and_query)
        .header("Host", "internal-host:8080")
        .header(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        );
    if let Some(s) = signature {
        b = b.header("X-Twilio-Signature", s);
    }
    b.body(body.as_bytes().to_vec()).unwrap()
}

pub fn signed_post(path_and_query: &str, body: &str) -> http::Request<Vec<u8>> {
    post(path_and_query, body, Some(&sign_post(path_and_query, body)))
}

pub fn signed_get(path_and_query: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path_and_query)
        .header("X-Twilio-Signature", sign_get(path_and_query))
        .body(Vec::new())
        .unwrap()
}

/// Remove one parameter from a form body.
pub fn without(body: impl AsRef<str>, name: &str) -> String {
    let body = body.as_ref();
    body.split('&')
        .filter(|kv| kv.split('=').next() != Some(name))
        .collect::<Vec<_>>()
        .join("&")
}

/// Replace a parameter's (already encoded) value in a form body.
pub fn with_value(body: impl AsRef<str>, name: &str, encoded: &str) -> String {
    let body = body.as_ref();
    body.split('&')
        .map(|kv| {
            if kv.split('=').next() == Some(name) {
                format!("{name}={encoded}")
            } else {
                kv.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}
