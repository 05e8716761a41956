//! The adapter kit's three conformance suites, run against the Vonage adapter: the SMS API
//! sender over the kit's loopback fake provider, every webhook that reaches the engine
//! (inbound SMS, delivery receipt, voice answer) through [`VonageWebhooks`], and NCCO read back
//! as JSON.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use antirelou_core::kit::conformance::{
    ExpectedAuth, HangupRendering, HeardStep, RejectRendering, RingRendering, SampleInbound,
    Scenario, TransportHarness, VoiceCapabilities, VoiceHarness, WebhookHarness, WebhookKind,
    run_transport_suite, run_voice_suite, run_webhook_suite,
};
use antirelou_core::kit::fake_provider::Canned;
use antirelou_core::voice::VoiceScript;
use antirelou_core::{Clock, InboundHandler, SystemClock};
use antirelou_vonage::jwt::{JwtVerifier, sign_hs256};
use antirelou_vonage::ncco::{self, NccoOptions};
use antirelou_vonage::{
    SignatureMethod, SmsSigner, VonageAuth, VonageConfig, VonageTransport, VonageWebhooks,
};
use async_trait::async_trait;
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use sha2::Digest;

const KEY: &str = "abcd1234";
const SECRET: &str = "conformance-api-secret-0123456789";
const SIG_SECRET: &str = "conformance-signature-secret-0123456789";

struct Vonage;

fn one_message(message: Value) -> Canned {
    Canned::json(200, json!({"message-count": "1", "messages": [message]}))
}

impl TransportHarness for Vonage {
    type Transport = VonageTransport;
    fn transport(&self, api_base: &str, timeout: Duration) -> VonageTransport {
        let config = VonageConfig::new(KEY, VonageAuth::Secret(SECRET.into()))
            .with_api_base(api_base.parse().unwrap())
            .with_timeout(timeout)
            // Vonage's prices name no currency: the account's is configured. The suite prices
            // its accepted send in US dollars.
            .with_billing_currency(antirelou_core::Currency::USD);
        VonageTransport::new(config).unwrap()
    }
    fn send_route(&self) -> (Method, String) {
        (Method::POST, "/sms/json".into())
    }
    /// Vonage's SMS API has no opted-out status in its answer to a send (`None`).
    fn answer(&self, scenario: &Scenario) -> Option<Canned> {
        Some(match scenario {
            Scenario::Accepted { id, price } => one_message(json!({
                "to": "33612345678", "message-id": id, "status": "0",
                "remaining-balance": "15.5", "message-price": price.amount.to_string(), "network": "20801"
            })),
            Scenario::AcceptedWithoutId => one_message(json!({"to": "33612345678", "status": "0"})),
            Scenario::RateLimited => Canned::json(429, json!({"error-text": "Throttled"})),
            Scenario::ServerError => Canned::raw(503, "text/html", "<html>unavailable</html>"),
            Scenario::InvalidRecipient { message } => {
                one_message(json!({"status": "6", "error-text": message}))
            }
            Scenario::Permanent { message } => {
                one_message(json!({"status": "4", "error-text": message}))
            }
            _ => return None,
        })
    }
    fn auth(&self) -> ExpectedAuth {
        ExpectedAuth::Fields(vec![
            ("api_key".into(), KEY.into()),
            ("api_secret".into(), SECRET.into()),
        ])
    }
    fn secrets(&self) -> Vec<String> {
        vec![SECRET.into()]
    }
}

#[tokio::test]
async fn transport_passes_the_kit_suite() {
    run_transport_suite(&Vonage).await;
}

fn digits(n: &str) -> String {
    n.trim_start_matches('+').to_owned()
}

/// An SMS webhook (inbound SMS or delivery receipt) as a POST form, without the field `drop`,
/// signed with `secret` when given.
fn post(
    kind: WebhookKind,
    sms: &SampleInbound,
    drop: Option<&str>,
    secret: Option<&str>,
) -> http::Request<Bytes> {
    let timestamp = SystemClock.now().as_secs().to_string();
    let (path, mut params): (&str, Vec<(&str, String)>) = match kind {
        WebhookKind::DeliveryReport => (
            "/vonage/dlr",
            vec![
                ("msisdn", digits(&sms.from)),
                ("to", digits(&sms.to)),
                ("messageId", sms.message_id.clone()),
                ("status", "delivered".into()),
                ("err-code", "0".into()),
            ],
        ),
        _ => (
            "/vonage/sms",
            vec![
                ("msisdn", digits(&sms.from)),
                ("to", digits(&sms.to)),
                ("messageId", sms.message_id.clone()),
                ("text", sms.body.clone()),
                ("type", "text".into()),
            ],
        ),
    };
    params.push(("message-timestamp", "2024-05-01 10:00:00".into()));
    params.push(("timestamp", timestamp));
    params.retain(|(k, _)| Some(*k) != drop);
    if let Some(s) = secret {
        let sig = SmsSigner::new(s, SignatureMethod::Sha256Hmac)
            .sign(params.iter().map(|(k, v)| (*k, v.as_str())));
        params.push(("sig", sig));
    }
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    http::Request::post(path)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(Bytes::from(body))
        .unwrap()
}

static JTI: AtomicU32 = AtomicU32::new(0);

/// The voice answer webhook as a POST JSON body, with a JWT made with `secret` when given
/// (a fresh `jti` each time, the body's hash in `payload_hash`).
fn answer(sms: &SampleInbound, with_uuid: bool, secret: Option<&str>) -> http::Request<Bytes> {
    let mut body = json!({
        "to": digits(&sms.to), "from": digits(&sms.from),
        "conversation_uuid": "CON-conformance", "region_url": "https://api-eu-1.vonage.com"
    });
    // A call without `from` is a withheld caller, not a malformed one: the id is what it
    // cannot do without.
    if with_uuid {
        body["uuid"] = json!(sms.message_id);
    }
    let body = body.to_string();
    let mut b = http::Request::post("/vonage/answer").header("Content-Type", "application/json");
    if let Some(s) = secret {
        let claims = json!({
            "iat": SystemClock.now().as_secs(), "iss": "Vonage", "application_id": "app",
            "jti": format!("conformance-{}", JTI.fetch_add(1, Ordering::Relaxed)),
            "payload_hash": hex::encode(sha2::Sha256::digest(body.as_bytes())),
        });
        b = b.header(
            "Authorization",
            format!("Bearer {}", sign_hs256(&claims, s.as_bytes())),
        );
    }
    b.body(Bytes::from(body)).unwrap()
}

fn request(
    kind: WebhookKind,
    sms: &SampleInbound,
    malformed: bool,
    secret: Option<&str>,
) -> http::Request<Bytes> {
    match kind {
        WebhookKind::Call => answer(sms, !malformed, secret),
        WebhookKind::DeliveryReport => post(kind, sms, malformed.then_some("messageId"), secret),
        _ => post(kind, sms, malformed.then_some("msisdn"), secret),
    }
}

const WRONG_SECRET: &str = "not-the-signature-secret-0123456789";

#[async_trait]
impl WebhookHarness for Vonage {
    // Every kind (the default `kinds`); the voice event webhook hands the engine nothing
    // (events are only logged), so it is not one of them.
    async fn call(
        &self,
        kind: WebhookKind,
        handler: Arc<dyn InboundHandler>,
        req: http::Request<Bytes>,
    ) -> http::Response<Bytes> {
        let hooks = VonageWebhooks::builder(handler)
            .sms_signer(SmsSigner::new(SIG_SECRET, SignatureMethod::Sha256Hmac))
            .voice_jwt(JwtVerifier::new(SIG_SECRET))
            .id_key("conformance id key")
            .build()
            .unwrap();
        match kind {
            WebhookKind::DeliveryReport => hooks.dlr(&req).await,
            WebhookKind::Call => hooks.answer(&req).await,
            _ => hooks.sms(&req).await,
        }
    }
    fn signed(&self, kind: WebhookKind, sms: &SampleInbound) -> http::Request<Bytes> {
        request(kind, sms, false, Some(SIG_SECRET))
    }
    fn signed_with_wrong_secret(
        &self,
        kind: WebhookKind,
        sms: &SampleInbound,
    ) -> http::Request<Bytes> {
        request(kind, sms, false, Some(WRONG_SECRET))
    }
    fn unsigned(&self, kind: WebhookKind, sms: &SampleInbound) -> http::Request<Bytes> {
        request(kind, sms, false, None)
    }
    fn signed_malformed(&self, kind: WebhookKind, sms: &SampleInbound) -> http::Request<Bytes> {
        request(kind, sms, true, Some(SIG_SECRET))
    }
}

#[tokio::test]
async fn every_webhook_passes_the_kit_suite() {
    run_webhook_suite(&Vonage).await;
}

impl VoiceHarness for Vonage {
    fn render(&self, script: &VoiceScript) -> Vec<u8> {
        ncco::render_bytes(script, &NccoOptions::default())
    }
    fn read_back(&self, rendered: &[u8]) -> Result<Vec<HeardStep>, String> {
        let v: Value = serde_json::from_slice(rendered).map_err(|e| e.to_string())?;
        let actions = v.as_array().ok_or("an NCCO is an array")?;
        actions
            .iter()
            .map(|a| match a["action"].as_str() {
                Some("talk") => Ok(HeardStep::Say {
                    text: a["text"].as_str().unwrap_or_default().to_owned(),
                    language: a["language"].as_str().unwrap_or_default().to_owned(),
                }),
                Some("stream") => Ok(HeardStep::Play {
                    url: a["streamUrl"][0].as_str().unwrap_or_default().to_owned(),
                }),
                Some("wait") => Ok(HeardStep::Pause {
                    seconds: a["timeout"].as_u64().unwrap_or_default() as u32,
                }),
                other => Err(format!("unexpected action {other:?}")),
            })
            .collect()
    }
    fn capabilities(&self) -> VoiceCapabilities {
        VoiceCapabilities {
            ring: RingRendering::Omitted,
            reject: RejectRendering::EmptyDocument,
            hangup: HangupRendering::EndOfDocument,
        }
    }
}

#[test]
fn ncco_passes_the_kit_suite() {
    run_voice_suite(&Vonage);
}
