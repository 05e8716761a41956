//! The adapter kit's three conformance suites, run against the Vonage adapter: the SMS API
//! sender over the kit's loopback fake provider, the signed inbound-SMS webhook through
//! [`VonageWebhooks`], and NCCO read back as JSON.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use antirelou_core::kit::conformance::{
    ExpectedAuth, HangupRendering, HeardStep, RejectRendering, RingRendering, SampleInbound,
    Scenario, TransportHarness, VoiceCapabilities, VoiceHarness, WebhookHarness,
    run_transport_suite, run_voice_suite, run_webhook_suite,
};
use antirelou_core::kit::fake_provider::Canned;
use antirelou_core::voice::VoiceScript;
use antirelou_core::{Clock, InboundHandler, SystemClock};
use antirelou_vonage::jwt::JwtVerifier;
use antirelou_vonage::ncco::{self, NccoOptions};
use antirelou_vonage::{
    SignatureMethod, SmsSigner, VonageAuth, VonageConfig, VonageTransport, VonageWebhooks,
};
use async_trait::async_trait;
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

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

/// The inbound-SMS webhook as a POST form, signed with `secret` when given.
fn post(sms: &SampleInbound, with_sender: bool, secret: Option<&str>) -> http::Request<Bytes> {
    let timestamp = SystemClock.now().as_secs().to_string();
    let mut params: Vec<(&str, String)> = vec![
        ("to", digits(&sms.to)),
        ("messageId", sms.message_id.clone()),
        ("text", sms.body.clone()),
        ("type", "text".into()),
        ("message-timestamp", "2024-05-01 10:00:00".into()),
        ("timestamp", timestamp),
    ];
    if with_sender {
        params.push(("msisdn", digits(&sms.from)));
    }
    if let Some(s) = secret {
        let sig = SmsSigner::new(s, SignatureMethod::Sha256Hmac)
            .sign(params.iter().map(|(k, v)| (*k, v.as_str())));
        params.push(("sig", sig));
    }
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    http::Request::post("/vonage/sms")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(Bytes::from(body))
        .unwrap()
}

#[async_trait]
impl WebhookHarness for Vonage {
    async fn call(
        &self,
        handler: Arc<dyn InboundHandler>,
        req: http::Request<Bytes>,
    ) -> http::Response<Bytes> {
        let hooks = VonageWebhooks::builder(handler)
            .sms_signer(SmsSigner::new(SIG_SECRET, SignatureMethod::Sha256Hmac))
            .voice_jwt(JwtVerifier::new(SIG_SECRET))
            .id_key("conformance id key")
            .build()
            .unwrap();
        hooks.sms(&req).await
    }
    fn signed(&self, sms: &SampleInbound) -> http::Request<Bytes> {
        post(sms, true, Some(SIG_SECRET))
    }
    fn signed_with_wrong_secret(&self, sms: &SampleInbound) -> http::Request<Bytes> {
        post(sms, true, Some("not-the-signature-secret-0123456789"))
    }
    fn unsigned(&self, sms: &SampleInbound) -> http::Request<Bytes> {
        post(sms, true, None)
    }
    fn signed_without_sender(&self, sms: &SampleInbound) -> http::Request<Bytes> {
        post(sms, false, Some(SIG_SECRET))
    }
}

#[tokio::test]
async fn sms_webhook_passes_the_kit_suite() {
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
