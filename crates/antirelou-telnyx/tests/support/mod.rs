//! Test support: Telnyx's keys and signer, its wire formats. The fake server and the recording
//! handler are the adapter kit's (`antirelou_core::kit`).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use antirelou_core::kit::fake_provider::Canned;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};

/// RFC 8032 test 1's secret key, and its public key in the portal's base64 form.
pub const SEED: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];
pub const PUBLIC_KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
pub const API_KEY: &str = "KEY01892C3A5D7E4F6B8C9D0E1F2A3B4C5D_TestSecretValue";

/// Sign `body` at `timestamp` as Telnyx does: base64(Ed25519(`{timestamp}|{body}`)).
pub fn sign_with(seed: &[u8; 32], timestamp: &str, body: &[u8]) -> String {
    let key = SigningKey::from_bytes(seed);
    let mut m = timestamp.as_bytes().to_vec();
    m.push(b'|');
    m.extend_from_slice(body);
    base64::engine::general_purpose::STANDARD.encode(key.sign(&m).to_bytes())
}

pub fn sign(timestamp: &str, body: &[u8]) -> String {
    sign_with(&SEED, timestamp, body)
}

/// The headers of a request signed at `timestamp`.
pub fn signed_headers(timestamp: &str, body: &[u8]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert("telnyx-timestamp", timestamp.parse().unwrap());
    h.insert(
        "telnyx-signature-ed25519",
        sign(timestamp, body).parse().unwrap(),
    );
    h
}

pub fn inbound_body(message_id: &str, text: &str) -> String {
    serde_json::json!({
        "data": {
            "event_type": "message.received",
            "id": "b301ed3f-1490-491f-995f-6e64e69674d4",
            "occurred_at": "2023-11-14T22:13:20.000+00:00",
            "payload": {
                "direction": "inbound",
                "from": {"carrier": "T-Mobile USA", "line_type": "Wireless", "phone_number": "+32470123456"},
                "id": message_id,
                "received_at": "2023-11-14T22:13:20.000+00:00",
                "record_type": "message",
                "text": text,
                "to": [{"carrier": "Telnyx", "line_type": "Wireless", "phone_number": "+33612345678", "status": "webhook_delivered"}],
                "type": "SMS"
            },
            "record_type": "event"
        },
        "meta": {"attempt": 1, "delivered_to": "https://example.com/telnyx/sms"}
    })
    .to_string()
}

/// Telnyx's error body.
pub fn error(status: u16, code: &str, title: &str, detail: &str) -> Canned {
    Canned::json(
        status,
        serde_json::json!({"errors": [{"code": code, "title": title, "detail": detail,
            "meta": {"url": format!("https://developers.telnyx.com/api/errors/{code}")}}]}),
    )
}

/// Telnyx's answer to an accepted send.
pub fn accepted(id: &str, cost: Option<(&str, &str)>) -> Canned {
    let cost = cost.map_or(
        serde_json::Value::Null,
        |(a, c)| serde_json::json!({"amount": a, "currency": c}),
    );
    Canned::json(
        200,
        serde_json::json!({"data": {
            "record_type": "message", "direction": "outbound", "id": id, "type": "SMS",
            "from": {"phone_number": "+33612345678", "carrier": "Telnyx", "line_type": "VoIP"},
            "to": [{"phone_number": "+32470123456", "status": "queued", "carrier": "Proximus", "line_type": "Wireless"}],
            "text": "…", "encoding": "GSM-7", "parts": 1, "cost": cost, "errors": []
        }}),
    )
}
