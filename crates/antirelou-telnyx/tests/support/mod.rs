//! Test support: a loopback fake of Telnyx's Messaging API, a recording handler and a signer.
// TODO(kit): the adapter kit's scripted fake server and recording handler replace these.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use antirelou_core::event::{DeliveryReport, InboundCall, InboundSms};
use antirelou_core::voice::{VoiceHint, VoiceScript};
use antirelou_core::{InboundHandler, SmsOutcome};
use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
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

/// What the recording handler saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub sms: Vec<InboundSms>,
    pub calls: Vec<InboundCall>,
    pub reports: Vec<DeliveryReport>,
}

/// An [`InboundHandler`] that records every event, and fails when told to.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    pub seen: Arc<Mutex<Seen>>,
    pub fail: Arc<Mutex<Option<bool>>>,
}

impl Recorder {
    pub fn failing(transient: bool) -> Self {
        let r = Recorder::default();
        *r.fail.lock().unwrap() = Some(transient);
        r
    }
    fn failure(&self) -> Option<antirelou_core::Error> {
        self.fail.lock().unwrap().map(|transient| {
            if transient {
                antirelou_core::Error::Storage {
                    message: "database busy".into(),
                    transient: true,
                }
            } else {
                antirelou_core::Error::Config("broken".into())
            }
        })
    }
}

#[async_trait]
impl InboundHandler for Recorder {
    async fn handle_sms(&self, sms: InboundSms) -> antirelou_core::Result<SmsOutcome> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        let mut seen = self.seen.lock().unwrap();
        let dup = seen.sms.iter().any(|s| s.message_id == sms.message_id);
        seen.sms.push(sms);
        Ok(if dup {
            SmsOutcome::Duplicate
        } else {
            SmsOutcome::Scheduled
        })
    }
    async fn handle_call(&self, call: InboundCall) -> antirelou_core::Result<VoiceScript> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        self.seen.lock().unwrap().calls.push(call);
        Ok(VoiceScript::builder()
            .ring(3)
            .say("Bonjour <monsieur> & adieu", "fr-FR", VoiceHint::Female)
            .pause(1)
            .hangup()
            .build())
    }
    async fn handle_delivery(&self, report: DeliveryReport) -> antirelou_core::Result<()> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        self.seen.lock().unwrap().reports.push(report);
        Ok(())
    }
}

/// One request as the fake Telnyx received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub json: serde_json::Value,
}

/// A scripted answer.
#[derive(Clone, Debug)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Canned {
    pub fn json(status: u16, body: &str) -> Self {
        Canned {
            status,
            headers: vec![("Content-Type", "application/json".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
    /// Telnyx's error body.
    pub fn error(status: u16, code: &str, title: &str, detail: &str) -> Self {
        let body = serde_json::json!({"errors": [{"code": code, "title": title, "detail": detail,
            "meta": {"url": format!("https://developers.telnyx.com/api/errors/{code}")}}]});
        Canned::json(status, &body.to_string())
    }
    /// Telnyx's answer to an accepted send.
    pub fn accepted(id: &str, cost: Option<(&str, &str)>) -> Self {
        let cost = cost.map_or(
            serde_json::Value::Null,
            |(a, c)| serde_json::json!({"amount": a, "currency": c}),
        );
        let body = serde_json::json!({"data": {
            "record_type": "message", "direction": "outbound", "id": id, "type": "SMS",
            "from": {"phone_number": "+33612345678", "carrier": "Telnyx", "line_type": "VoIP"},
            "to": [{"phone_number": "+32470123456", "status": "queued", "carrier": "Proximus", "line_type": "Wireless"}],
            "text": "…", "encoding": "GSM-7", "parts": 1, "cost": cost, "errors": []
        }});
        Canned::json(200, &body.to_string())
    }
}

#[derive(Default)]
struct FakeState {
    requests: Vec<Recorded>,
    script: VecDeque<Canned>,
    problems: Vec<String>,
}

/// A loopback HTTP server playing Telnyx's `POST /v2/messages`: it records every request,
/// checks what Telnyx would check (method, path, Bearer key, JSON content type and fields) and
/// answers from its script.
#[derive(Clone)]
pub struct FakeTelnyx {
    state: Arc<Mutex<FakeState>>,
    pub base: String,
}

async fn handle(
    State(state): State<Arc<Mutex<FakeState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let mut problems = Vec::new();
    if method != Method::POST {
        problems.push(format!("method {method}"));
    }
    if uri.path() != "/v2/messages" {
        problems.push(format!("path {}", uri.path()));
    }
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {API_KEY}"))
    {
        problems.push("authorization".into());
    }
    if !headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"))
    {
        problems.push("content-type".into());
    }
    for field in ["from", "to", "text"] {
        if !json.get(field).is_some_and(serde_json::Value::is_string) {
            problems.push(format!("field {field}"));
        }
    }
    let canned = {
        let mut s = state.lock().unwrap();
        s.requests.push(Recorded {
            method,
            path: uri.path().to_owned(),
            headers,
            json,
        });
        s.problems.extend(problems.iter().cloned());
        if !problems.is_empty() {
            None
        } else {
            Some(
                s.script
                    .pop_front()
                    .unwrap_or_else(|| Canned::accepted("default-id", None)),
            )
        }
    };
    let Some(canned) = canned else {
        return (
            StatusCode::UNAUTHORIZED,
            Canned::error(401, "10009", "Authentication failed", "bad request shape").body,
        )
            .into_response();
    };
    tokio::time::sleep(canned.delay).await;
    let mut r = Response::builder().status(canned.status);
    for (k, v) in &canned.headers {
        r = r.header(*k, v);
    }
    r.body(axum::body::Body::from(canned.body)).unwrap()
}

impl FakeTelnyx {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeTelnyx {
            state,
            base: format!("http://{addr}"),
        }
    }
    pub fn push(&self, c: Canned) {
        self.state.lock().unwrap().script.push_back(c);
    }
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }
    pub fn problems(&self) -> Vec<String> {
        self.state.lock().unwrap().problems.clone()
    }
}
