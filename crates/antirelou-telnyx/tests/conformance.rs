//! The adapter kit's three conformance suites (transport, webhooks, voice), run against the Telnyx
//! adapter: the suites choose the scenarios and judge the results.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use antirelou_core::kit::conformance::{
    ExpectedAuth, HeardStep, SampleInbound, Scenario, TransportHarness, VoiceCapabilities,
    VoiceHarness, WebhookHarness, WebhookKind, XmlDialect, read_back_xml, run_transport_suite,
    run_voice_suite, run_webhook_suite,
};
use antirelou_core::kit::fake_provider::Canned;
use antirelou_core::voice::VoiceScript;
use antirelou_core::{Clock, InboundHandler, SystemClock};
use antirelou_telnyx::texml::{default_voices, render};
use antirelou_telnyx::{TelnyxConfig, TelnyxTransport, TelnyxWebhooks, WebhookVerifier};
use async_trait::async_trait;
use bytes::Bytes;
use http::Method;
use support::{API_KEY, PUBLIC_KEY, accepted, error, sign, sign_with};

struct Harness;

impl TransportHarness for Harness {
    type Transport = TelnyxTransport;
    fn transport(&self, api_base: &str, timeout: Duration) -> TelnyxTransport {
        let config = TelnyxConfig::new(API_KEY, PUBLIC_KEY, api_base)
            .unwrap()
            .with_timeout(timeout);
        TelnyxTransport::new(config).unwrap()
    }
    fn send_route(&self) -> (Method, String) {
        (Method::POST, "/v2/messages".into())
    }
    fn answer(&self, scenario: &Scenario) -> Option<Canned> {
        Some(match scenario {
            Scenario::Accepted { id, price } => accepted(
                id,
                Some((&price.amount.to_string(), price.currency.as_str())),
            ),
            Scenario::AcceptedWithoutId => Canned::json(
                200,
                serde_json::json!({"data": {"record_type": "message", "parts": 1}}),
            ),
            Scenario::RateLimited => error(429, "10011", "Too many requests", "slow down"),
            Scenario::ServerError => error(503, "10007", "Unexpected error", "maintenance"),
            Scenario::OptedOut { message } => {
                error(409, "40300", "Blocked due to STOP message", message)
            }
            Scenario::InvalidRecipient { message } => {
                error(400, "40012", "Invalid destination number", message)
            }
            Scenario::Permanent { message } => {
                error(401, "10009", "Authentication failed", message)
            }
            _ => return None,
        })
    }
    fn auth(&self) -> ExpectedAuth {
        ExpectedAuth::Bearer(API_KEY.into())
    }
    fn secrets(&self) -> Vec<String> {
        vec![API_KEY.into()]
    }
}

#[tokio::test]
async fn sender_suite() {
    run_transport_suite(&Harness).await;
}

struct Webhooks;

/// The body Telnyx posts for `kind`: a `message.received` or `message.finalized` event, or a
/// TeXML call form; `malformed` leaves out a field it cannot do without.
fn body(kind: WebhookKind, sms: &SampleInbound, malformed: bool) -> Vec<u8> {
    if kind == WebhookKind::Call {
        let mut f = form_urlencoded::Serializer::new(String::new());
        f.append_pair("CallSid", &sms.message_id);
        f.append_pair("From", &sms.from);
        if !malformed {
            f.append_pair("To", &sms.to);
        }
        return f.append_pair("CallStatus", "ringing").finish().into_bytes();
    }
    let (event_type, mut payload) = if kind == WebhookKind::DeliveryReport {
        let payload = serde_json::json!({
            "direction": "outbound", "record_type": "message", "text": "lesson", "type": "SMS",
            "from": {"phone_number": sms.to},
            "to": [{"phone_number": sms.from, "status": "delivered"}],
        });
        ("message.finalized", payload)
    } else {
        let payload = serde_json::json!({
            "direction": "inbound", "record_type": "message", "text": sms.body, "type": "SMS",
            "to": [{"phone_number": sms.to, "status": "webhook_delivered"}],
        });
        ("message.received", payload)
    };
    payload["id"] = serde_json::json!(sms.message_id);
    if kind == WebhookKind::InboundSms && !malformed {
        payload["from"] = serde_json::json!({"phone_number": sms.from});
    }
    if kind == WebhookKind::DeliveryReport && malformed {
        payload.as_object_mut().unwrap().remove("id");
    }
    serde_json::to_vec(&serde_json::json!({
        "data": {"event_type": event_type, "id": "e1", "payload": payload, "record_type": "event"},
        "meta": {"attempt": 1}
    }))
    .unwrap()
}

fn request(
    kind: WebhookKind,
    body: Vec<u8>,
    signature: Option<String>,
    ts: &str,
) -> http::Request<Bytes> {
    let (path, content_type) = match kind {
        WebhookKind::Call => ("/telnyx/voice", "application/x-www-form-urlencoded"),
        _ => ("/telnyx/sms", "application/json"),
    };
    let mut b = http::Request::post(path)
        .header("content-type", content_type)
        .header("telnyx-timestamp", ts);
    if let Some(s) = signature {
        b = b.header("telnyx-signature-ed25519", s);
    }
    b.body(Bytes::from(body)).unwrap()
}

fn now() -> String {
    SystemClock.now().as_secs().to_string()
}

#[async_trait]
impl WebhookHarness for Webhooks {
    // Every kind: the default `kinds`.
    async fn call(
        &self,
        kind: WebhookKind,
        handler: Arc<dyn InboundHandler>,
        req: http::Request<Bytes>,
    ) -> http::Response<Bytes> {
        let hooks =
            TelnyxWebhooks::builder(handler, WebhookVerifier::from_base64(PUBLIC_KEY).unwrap())
                .build();
        match kind {
            WebhookKind::Call => hooks.voice(&req).await,
            _ => hooks.sms(&req).await,
        }
    }
    fn signed(&self, kind: WebhookKind, sms: &SampleInbound) -> http::Request<Bytes> {
        let (ts, body) = (now(), body(kind, sms, false));
        request(kind, body.clone(), Some(sign(&ts, &body)), &ts)
    }
    fn signed_with_wrong_secret(
        &self,
        kind: WebhookKind,
        sms: &SampleInbound,
    ) -> http::Request<Bytes> {
        let (ts, body) = (now(), body(kind, sms, false));
        let signature = sign_with(&[42u8; 32], &ts, &body);
        request(kind, body, Some(signature), &ts)
    }
    fn unsigned(&self, kind: WebhookKind, sms: &SampleInbound) -> http::Request<Bytes> {
        request(kind, body(kind, sms, false), None, &now())
    }
    fn signed_malformed(&self, kind: WebhookKind, sms: &SampleInbound) -> http::Request<Bytes> {
        let (ts, body) = (now(), body(kind, sms, true));
        request(kind, body.clone(), Some(sign(&ts, &body)), &ts)
    }
}

#[tokio::test]
async fn webhook_suite() {
    run_webhook_suite(&Webhooks).await;
}

struct Voice;

impl VoiceHarness for Voice {
    fn render(&self, script: &VoiceScript) -> Vec<u8> {
        render(script, &default_voices()).into_bytes()
    }
    fn read_back(&self, rendered: &[u8]) -> Result<Vec<HeardStep>, String> {
        read_back_xml(rendered, &XmlDialect::TWIML)
    }
    fn capabilities(&self) -> VoiceCapabilities {
        VoiceCapabilities::XML_ELEMENTS
    }
}

#[test]
fn voice_suite() {
    run_voice_suite(&Voice);
}
