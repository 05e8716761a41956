//! The adapter kit's three conformance suites, run against the Twilio adapter: the sender over
//! the kit's loopback fake provider, every webhook (SMS, status callback, voice) through the
//! framework-free service, and TwiML read back with a real XML parser.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use antirelou_core::InboundHandler;
use antirelou_core::kit::conformance::{
    ExpectedAuth, HeardStep, SampleInbound, Scenario, TransportHarness, VoiceCapabilities,
    VoiceHarness, WebhookHarness, WebhookKind, XmlDialect, read_back_xml, run_transport_suite,
    run_voice_suite, run_webhook_suite,
};
use antirelou_core::kit::fake_provider::Canned;
use antirelou_core::voice::VoiceScript;
use antirelou_twilio::signature::SignatureValidator;
use antirelou_twilio::twiml::{self, VoiceMap};
use antirelou_twilio::webhook::{WebhookConfig, decode_form};
use antirelou_twilio::{Auth, TwilioConfig, TwilioTransport, TwilioWebhookState};
use async_trait::async_trait;
use bytes::Bytes;
use http::Method;
use serde_json::json;

const SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TOKEN: &str = "conformance-auth-token-0123456789";
const BASE: &str = "https://antirelou.example.org";

struct Twilio;

fn twilio_error(status: u16, code: u32, message: &str) -> Canned {
    Canned::json(
        status,
        json!({"code": code, "message": message, "status": status}),
    )
}

impl TransportHarness for Twilio {
    type Transport = TwilioTransport;
    fn transport(&self, api_base: &str, timeout: Duration) -> TwilioTransport {
        let auth = Auth::AccountToken {
            account_sid: SID.into(),
            auth_token: TOKEN.into(),
        };
        let config = TwilioConfig::new(auth)
            .with_api_base(api_base.parse().unwrap())
            .with_timeout(timeout);
        TwilioTransport::new(config).unwrap()
    }
    fn send_route(&self) -> (Method, String) {
        (
            Method::POST,
            format!("/2010-04-01/Accounts/{SID}/Messages.json"),
        )
    }
    fn answer(&self, scenario: &Scenario) -> Option<Canned> {
        Some(match scenario {
            Scenario::Accepted { id, price } => Canned::json(
                201,
                json!({"sid": id, "status": "queued", "num_segments": "1", "price": format!("-{}", price.amount), "price_unit": price.currency.as_str()}),
            ),
            Scenario::AcceptedWithoutId => Canned::json(201, json!({"status": "queued"})),
            Scenario::RateLimited => twilio_error(429, 20429, "Too Many Requests"),
            Scenario::ServerError => twilio_error(500, 20500, "Internal Server Error"),
            Scenario::OptedOut { message } => twilio_error(400, 21610, message),
            Scenario::InvalidRecipient { message } => twilio_error(400, 21211, message),
            Scenario::Permanent { message } => twilio_error(400, 21408, message),
            _ => return None,
        })
    }
    fn auth(&self) -> ExpectedAuth {
        ExpectedAuth::Basic {
            user: SID.into(),
            password: TOKEN.into(),
        }
    }
    fn secrets(&self) -> Vec<String> {
        vec![TOKEN.into()]
    }
}

#[tokio::test]
async fn transport_passes_the_kit_suite() {
    run_transport_suite(&Twilio).await;
}

/// The route of each webhook.
fn path(kind: WebhookKind) -> &'static str {
    match kind {
        WebhookKind::DeliveryReport => "/twilio/status",
        WebhookKind::Call => "/twilio/voice",
        _ => "/twilio/sms",
    }
}

/// The form Twilio posts for `kind`, without the field `drop`.
fn form(kind: WebhookKind, sms: &SampleInbound, drop: Option<&str>) -> String {
    let pairs: Vec<(&str, &str)> = match kind {
        WebhookKind::DeliveryReport => vec![
            ("MessageSid", &sms.message_id),
            ("MessageStatus", "delivered"),
            ("From", &sms.to),
            ("To", &sms.from),
        ],
        WebhookKind::Call => vec![
            ("CallSid", &sms.message_id),
            ("From", &sms.from),
            ("To", &sms.to),
            ("CallStatus", "ringing"),
        ],
        _ => vec![
            ("MessageSid", &sms.message_id),
            ("From", &sms.from),
            ("To", &sms.to),
            ("Body", &sms.body),
        ],
    };
    let mut f = form_urlencoded::Serializer::new(String::new());
    f.extend_pairs(pairs.into_iter().filter(|(k, _)| Some(*k) != drop));
    f.finish()
}

fn post(kind: WebhookKind, body: String, token: Option<&str>) -> http::Request<Bytes> {
    let mut b =
        http::Request::post(path(kind)).header("Content-Type", "application/x-www-form-urlencoded");
    if let Some(t) = token {
        let sig = SignatureValidator::new(t).sign(
            &format!("{BASE}{}", path(kind)),
            &decode_form(body.as_bytes()),
        );
        b = b.header("X-Twilio-Signature", sig);
    }
    b.body(Bytes::from(body)).unwrap()
}

#[async_trait]
impl WebhookHarness for Twilio {
    // Every kind: the default `kinds`.
    async fn call(
        &self,
        kind: WebhookKind,
        handler: Arc<dyn InboundHandler>,
        req: http::Request<Bytes>,
    ) -> http::Response<Bytes> {
        let config = WebhookConfig::new(BASE, SignatureValidator::new(TOKEN)).unwrap();
        let state = TwilioWebhookState {
            handler,
            config,
            voices: VoiceMap::default(),
        };
        match kind {
            WebhookKind::DeliveryReport => state.status(&req).await,
            WebhookKind::Call => state.voice(&req).await,
            _ => state.sms(&req).await,
        }
    }
    fn signed(&self, kind: WebhookKind, sms: &SampleInbound) -> http::Request<Bytes> {
        post(kind, form(kind, sms, None), Some(TOKEN))
    }
    fn signed_with_wrong_secret(
        &self,
        kind: WebhookKind,
        sms: &SampleInbound,
    ) -> http::Request<Bytes> {
        let wrong = "not-the-auth-token-0123456789";
        post(kind, form(kind, sms, None), Some(wrong))
    }
    fn unsigned(&self, kind: WebhookKind, sms: &SampleInbound) -> http::Request<Bytes> {
        post(kind, form(kind, sms, None), None)
    }
    fn signed_malformed(&self, kind: WebhookKind, sms: &SampleInbound) -> http::Request<Bytes> {
        let drop = match kind {
            WebhookKind::DeliveryReport => "MessageStatus",
            _ => "From",
        };
        post(kind, form(kind, sms, Some(drop)), Some(TOKEN))
    }
}

#[tokio::test]
async fn every_webhook_passes_the_kit_suite() {
    run_webhook_suite(&Twilio).await;
}

impl VoiceHarness for Twilio {
    fn render(&self, script: &VoiceScript) -> Vec<u8> {
        twiml::render(script, &VoiceMap::default()).into_bytes()
    }
    fn read_back(&self, rendered: &[u8]) -> Result<Vec<HeardStep>, String> {
        read_back_xml(rendered, &XmlDialect::TWIML)
    }
    fn capabilities(&self) -> VoiceCapabilities {
        VoiceCapabilities::XML_ELEMENTS
    }
}

#[test]
fn twiml_passes_the_kit_suite() {
    run_voice_suite(&Twilio);
}
