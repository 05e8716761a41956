//! Fuzz the Twilio webhook verification and parsers: nothing may panic on any input.
//!
//! Input layout: byte 0 chooses the method, the parser and whether to sign the request
//! correctly (so that the parameter parsing behind the signature check is reached too); the
//! rest is split on `0xFF` into query string, body, signature header and settings header.
#![no_main]

use antirelou_twilio::signature::SignatureValidator;
use antirelou_twilio::webhook::{WebhookConfig, WebhookRequest, decode_form};
use http::{HeaderMap, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;

const BASE: &str = "https://antirelou.example.org";

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.split(|b| *b == 0xFF);
    let query = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let sig = parts.next().unwrap_or_default();
    let settings = parts.next();

    let Ok(cfg) = WebhookConfig::new(
        BASE,
        SignatureValidator::new("tok").with_shared_key("K", "k"),
    ) else {
        return;
    };
    let method = match ctl & 3 {
        0 => Method::POST,
        1 => Method::GET,
        2 => Method::PUT,
        _ => Method::POST,
    };
    let path = format!("/twilio/x?{}", String::from_utf8_lossy(query));
    let Ok(uri) = path.parse::<Uri>() else { return };

    let mut headers = HeaderMap::new();
    if ctl & 4 != 0 {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    if let Some(s) = settings.and_then(|s| HeaderValue::from_bytes(s).ok()) {
        headers.insert("x-twilio-webhooks-signature-settings", s);
    }
    if ctl & 8 != 0 {
        // Sign correctly, as Twilio would.
        let url = cfg.public_url(&uri);
        let params = if method == Method::GET {
            Vec::new()
        } else {
            decode_form(body)
        };
        let s = cfg.validator().sign(&url, &params);
        headers.remove("x-twilio-webhooks-signature-settings");
        if let Ok(v) = HeaderValue::from_str(&s) {
            headers.insert("x-twilio-signature", v);
        }
    } else if let Ok(v) = HeaderValue::from_bytes(sig) {
        headers.insert("x-twilio-signature", v);
    }

    let req = WebhookRequest {
        method: &method,
        uri: &uri,
        headers: &headers,
        body,
    };
    match (ctl >> 4) % 3 {
        0 => drop(cfg.parse_sms(&req)),
        1 => drop(cfg.parse_voice(&req)),
        _ => drop(cfg.parse_status(&req)),
    }
});
