//! The adapter conformance suites must be able to fail: a small, correct toy adapter ("Acme":
//! Bearer-authenticated JSON sends, HMAC-signed JSON webhooks, TwiML-like voice) passes all
//! three suites, and each deliberately broken copy of it makes its suite panic on the broken
//! rule.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use antirelou_core::event::{DeliveryReport, DeliveryState, InboundSms};
use antirelou_core::kit::conformance::{
    ExpectedAuth, HeardStep, SampleInbound, Scenario, TransportHarness, VoiceCapabilities,
    VoiceHarness, WebhookHarness, WebhookKind, XmlDialect, read_back_xml, run_transport_suite,
    run_voice_suite, run_webhook_suite,
};
use antirelou_core::kit::fake_provider::Canned;
use antirelou_core::kit::{self, Rejection, XmlWriter};
use antirelou_core::voice::{RejectReason, VoiceScript, VoiceStep};
use antirelou_core::{
    Caller, Clock, Error, InboundHandler, Money, OutboundSms, PhoneNumber, SendReceipt,
    SmsTransport, SystemClock,
};
use async_trait::async_trait;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::Method;
use serde_json::{Value, json};

const KEY: &str = "acme-api-key-0123456789";
const WEBHOOK_SECRET: &str = "acme-webhook-secret-0123456789";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bug {
    None,
    UnsignedReports,
    ReportStateIgnored,
    ServerErrorIsPermanent,
    IgnoresRetryAfter,
    EmptyIdIsAccepted,
    SecretInDebug,
    UnmaskedErrors,
    NoBearer,
    NoSignatureCheck,
    OkOnHandlerFailure,
    LogsTheNumber,
    FreshIdPerDelivery,
    MalformedIs500,
    NaiveXml,
    RejectNotAlone,
    DropsPlay,
}

// ------------------------------------------------------------------ sender

struct AcmeTransport {
    base: String,
    http: reqwest::Client,
    bug: Bug,
}

impl std::fmt::Debug for AcmeTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.bug == Bug::SecretInDebug {
            return write!(f, "AcmeTransport {{ key: {KEY} }}");
        }
        write!(
            f,
            "AcmeTransport {{ base: {}, key: <redacted> }}",
            self.base
        )
    }
}

#[async_trait]
impl SmsTransport for AcmeTransport {
    async fn send(&self, sms: &OutboundSms) -> antirelou_core::Result<SendReceipt> {
        let mut req = self
            .http
            .post(format!("{}/v1/messages", self.base))
            .json(&json!({"from": sms.from().e164(), "to": sms.to().e164(), "text": sms.body()}));
        if self.bug != Bug::NoBearer {
            req = req.bearer_auth(KEY);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| kit::transport_error("acme", &e))?;
        let status = resp.status();
        let mut retry_after = kit::retry_after_header(resp.headers(), SystemClock.now());
        if self.bug == Bug::IgnoresRetryAfter {
            retry_after = None;
        }
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let message = body["message"].as_str().unwrap_or_default().to_owned();
        let message = if self.bug == Bug::UnmaskedErrors {
            message
        } else {
            antirelou_core::phone::mask_numbers(&message)
        };
        if status.is_success() {
            let id = body["id"].as_str().unwrap_or_default().to_owned();
            if id.is_empty() && self.bug != Bug::EmptyIdIsAccepted {
                return Err(kit::accepted_without_id("acme"));
            }
            let price = body["price"].as_str().and_then(Money::parse_decimal).zip(
                body["currency"]
                    .as_str()
                    .and_then(|c| antirelou_core::Currency::parse(c).ok()),
            );
            let price =
                price.map(|(amount, currency)| antirelou_core::Price::new(amount, currency));
            return Ok(SendReceipt {
                provider_id: id,
                segments: sms.segments(),
                price,
            });
        }
        if self.bug == Bug::ServerErrorIsPermanent && status.is_server_error() {
            return Err(Error::Permanent {
                message,
                code: None,
            });
        }
        if let Some(e) = kit::classify_status("acme", status, retry_after, &message) {
            return Err(e);
        }
        Err(match body["code"].as_u64() {
            Some(100) => Error::RecipientOptedOut,
            Some(200) => Error::InvalidRecipient { message },
            code => Error::Permanent {
                message,
                code: code.map(|c| c.to_string()),
            },
        })
    }
}

struct AcmeTransportHarness(Bug);

impl TransportHarness for AcmeTransportHarness {
    type Transport = AcmeTransport;
    fn transport(&self, api_base: &str, timeout: Duration) -> AcmeTransport {
        AcmeTransport {
            base: api_base.to_owned(),
            http: reqwest::Client::builder().timeout(timeout).build().unwrap(),
            bug: self.0,
        }
    }
    fn send_route(&self) -> (Method, String) {
        (Method::POST, "/v1/messages".into())
    }
    fn answer(&self, scenario: &Scenario) -> Option<Canned> {
        let error = |status: u16, code: u32, message: &str| {
            Canned::json(status, json!({"code": code, "message": message}))
        };
        Some(match scenario {
            Scenario::Accepted { id, price } => Canned::json(
                201,
                json!({"id": id, "price": price.amount.to_string(), "currency": price.currency.as_str()}),
            ),
            Scenario::AcceptedWithoutId => Canned::json(201, json!({"status": "queued"})),
            Scenario::RateLimited => error(429, 1, "slow down"),
            Scenario::ServerError => error(503, 2, "maintenance"),
            Scenario::OptedOut { message } => error(400, 100, message),
            Scenario::InvalidRecipient { message } => error(400, 200, message),
            Scenario::Permanent { message } => error(403, 300, message),
            _ => return None,
        })
    }
    fn auth(&self) -> ExpectedAuth {
        ExpectedAuth::Bearer(KEY.into())
    }
    fn secrets(&self) -> Vec<String> {
        vec![KEY.into()]
    }
}

#[tokio::test]
async fn sender_suite_passes_a_correct_adapter() {
    run_transport_suite(&AcmeTransportHarness(Bug::None)).await;
}

#[tokio::test]
#[should_panic(expected = "5xx: expected Error::Transient")]
async fn sender_suite_catches_5xx_as_permanent() {
    run_transport_suite(&AcmeTransportHarness(Bug::ServerErrorIsPermanent)).await;
}

#[tokio::test]
#[should_panic(expected = "Retry-After: 7 not honoured")]
async fn sender_suite_catches_ignored_retry_after() {
    run_transport_suite(&AcmeTransportHarness(Bug::IgnoresRetryAfter)).await;
}

#[tokio::test]
#[should_panic(expected = "2xx without id: expected Error::Transient")]
async fn sender_suite_catches_an_empty_id_taken_as_sent() {
    run_transport_suite(&AcmeTransportHarness(Bug::EmptyIdIsAccepted)).await;
}

#[tokio::test]
#[should_panic(expected = "Debug shows a secret")]
async fn sender_suite_catches_a_secret_in_debug() {
    run_transport_suite(&AcmeTransportHarness(Bug::SecretInDebug)).await;
}

#[tokio::test]
#[should_panic(expected = "recipient's number unmasked")]
async fn sender_suite_catches_unmasked_numbers() {
    run_transport_suite(&AcmeTransportHarness(Bug::UnmaskedErrors)).await;
}

#[tokio::test]
#[should_panic(expected = "wrong or missing Bearer token")]
async fn sender_suite_catches_missing_auth() {
    run_transport_suite(&AcmeTransportHarness(Bug::NoBearer)).await;
}

// ------------------------------------------------------------------ webhooks

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

static DELIVERIES: AtomicU32 = AtomicU32::new(0);

/// Whether `hook` carries Acme's signature of its body.
fn signature_ok(hook: &kit::WebhookRequest<'_>) -> bool {
    hook.header("x-acme-signature")
        .is_some_and(|s| s == sign(WEBHOOK_SECRET, hook.body))
}

/// Acme's framework-free inbound SMS webhook.
async fn acme_sms(
    bug: Bug,
    handler: &dyn InboundHandler,
    req: &http::Request<Bytes>,
) -> http::Response<Bytes> {
    let hook = kit::WebhookRequest::from_http(req);
    let signed = signature_ok(&hook);
    if !signed && bug != Bug::NoSignatureCheck {
        return kit::reject("acme", "sms", Rejection::Forbidden, &"bad signature");
    }
    let malformed = if bug == Bug::MalformedIs500 {
        Rejection::Failed
    } else {
        Rejection::Malformed
    };
    let Ok(v) = serde_json::from_slice::<Value>(hook.body) else {
        return kit::reject("acme", "sms", malformed, &"not JSON");
    };
    let (Some(id), Some(from), Some(to)) = (v["id"].as_str(), v["from"].as_str(), v["to"].as_str())
    else {
        return kit::reject("acme", "sms", malformed, &"missing field");
    };
    let (Ok(from), Ok(to)) = (Caller::parse(from), PhoneNumber::parse(to)) else {
        return kit::reject("acme", "sms", malformed, &"bad number");
    };
    if bug == Bug::LogsTheNumber {
        tracing::debug!(from = ?from.number().map(|n| n.e164().to_owned()), "acme sms");
    }
    let message_id = if bug == Bug::FreshIdPerDelivery {
        format!("{id}-{}", DELIVERIES.fetch_add(1, Ordering::Relaxed))
    } else {
        id.to_owned()
    };
    let sms = InboundSms {
        provider: antirelou_core::stub::PROVIDER,
        message_id,
        from,
        to,
        body: v["text"].as_str().unwrap_or_default().to_owned(),
        received_at: None,
    };
    match handler.handle_sms(sms).await {
        Ok(_) => kit::ok(None, Bytes::new()),
        Err(_) if bug == Bug::OkOnHandlerFailure => kit::ok(None, Bytes::new()),
        Err(e) => kit::handler_failed("acme", "sms", &e),
    }
}

/// Acme's framework-free delivery-report webhook: `{"id", "status"}`.
async fn acme_report(
    bug: Bug,
    handler: &dyn InboundHandler,
    req: &http::Request<Bytes>,
) -> http::Response<Bytes> {
    let hook = kit::WebhookRequest::from_http(req);
    let signed = signature_ok(&hook);
    if !signed && bug != Bug::UnsignedReports {
        return kit::reject("acme", "report", Rejection::Forbidden, &"bad signature");
    }
    let v = serde_json::from_slice::<Value>(hook.body).unwrap_or_default();
    let (Some(id), Some(status)) = (v["id"].as_str(), v["status"].as_str()) else {
        return kit::reject("acme", "report", Rejection::Malformed, &"missing field");
    };
    let state = match status {
        "delivered" if bug != Bug::ReportStateIgnored => DeliveryState::Delivered,
        _ => DeliveryState::Unknown,
    };
    let report = DeliveryReport {
        provider: antirelou_core::stub::PROVIDER,
        message_id: id.to_owned(),
        state,
        price: None,
        error_code: None,
        failure: None,
    };
    match handler.handle_delivery(report).await {
        Ok(()) => kit::ok(None, Bytes::new()),
        Err(e) => kit::handler_failed("acme", "report", &e),
    }
}

struct AcmeWebhookHarness(Bug);

fn acme_request(body: Value, signature: Option<String>) -> http::Request<Bytes> {
    let body = Bytes::from(body.to_string());
    let mut b = http::Request::post("/acme/hook").header("content-type", "application/json");
    if let Some(s) = signature {
        b = b.header("x-acme-signature", s);
    }
    b.body(body).unwrap()
}

fn acme_json(kind: WebhookKind, sms: &SampleInbound) -> Value {
    match kind {
        WebhookKind::DeliveryReport => {
            json!({"id": sms.message_id, "status": "delivered", "to": sms.from})
        }
        _ => json!({"id": sms.message_id, "from": sms.from, "to": sms.to, "text": sms.body}),
    }
}

fn acme_signed(body: Value, secret: &str) -> http::Request<Bytes> {
    let sig = sign(secret, body.to_string().as_bytes());
    acme_request(body, Some(sig))
}

#[async_trait]
impl WebhookHarness for AcmeWebhookHarness {
    fn kinds(&self) -> Vec<WebhookKind> {
        vec![WebhookKind::InboundSms, WebhookKind::DeliveryReport]
    }
    async fn call(
        &self,
        kind: WebhookKind,
        handler: Arc<dyn InboundHandler>,
        req: http::Request<Bytes>,
    ) -> http::Response<Bytes> {
        match kind {
            WebhookKind::DeliveryReport => acme_report(self.0, handler.as_ref(), &req).await,
            _ => acme_sms(self.0, handler.as_ref(), &req).await,
        }
    }
    fn signed(&self, kind: WebhookKind, sms: &SampleInbound) -> http::Request<Bytes> {
        acme_signed(acme_json(kind, sms), WEBHOOK_SECRET)
    }
    fn signed_with_wrong_secret(
        &self,
        kind: WebhookKind,
        sms: &SampleInbound,
    ) -> http::Request<Bytes> {
        acme_signed(acme_json(kind, sms), "not-the-secret-0123456789")
    }
    fn unsigned(&self, kind: WebhookKind, sms: &SampleInbound) -> http::Request<Bytes> {
        acme_request(acme_json(kind, sms), None)
    }
    fn signed_malformed(&self, kind: WebhookKind, sms: &SampleInbound) -> http::Request<Bytes> {
        let mut body = acme_json(kind, sms);
        let field = match kind {
            WebhookKind::DeliveryReport => "status",
            _ => "from",
        };
        body.as_object_mut().unwrap().remove(field);
        acme_signed(body, WEBHOOK_SECRET)
    }
}

#[tokio::test]
async fn webhook_suite_passes_a_correct_adapter() {
    run_webhook_suite(&AcmeWebhookHarness(Bug::None)).await;
}

#[tokio::test]
#[should_panic(expected = "wrong secret: expected 403")]
async fn webhook_suite_catches_an_unchecked_signature() {
    run_webhook_suite(&AcmeWebhookHarness(Bug::NoSignatureCheck)).await;
}

#[tokio::test]
#[should_panic(expected = "handler failure Transient: expected 503")]
async fn webhook_suite_catches_200_on_handler_failure() {
    run_webhook_suite(&AcmeWebhookHarness(Bug::OkOnHandlerFailure)).await;
}

#[tokio::test]
#[should_panic(expected = "the man's number reached the logs")]
async fn webhook_suite_catches_a_logged_number() {
    run_webhook_suite(&AcmeWebhookHarness(Bug::LogsTheNumber)).await;
}

#[tokio::test]
#[should_panic(expected = "the same delivery twice gave two message ids")]
async fn webhook_suite_catches_unstable_message_ids() {
    run_webhook_suite(&AcmeWebhookHarness(Bug::FreshIdPerDelivery)).await;
}

#[tokio::test]
#[should_panic(expected = "malformed: expected 400")]
async fn webhook_suite_catches_malformed_as_5xx() {
    run_webhook_suite(&AcmeWebhookHarness(Bug::MalformedIs500)).await;
}

#[tokio::test]
#[should_panic(expected = "delivery report: wrong secret: expected 403")]
async fn webhook_suite_catches_an_unsigned_report_webhook() {
    run_webhook_suite(&AcmeWebhookHarness(Bug::UnsignedReports)).await;
}

#[tokio::test]
#[should_panic(expected = "a \"delivered\" report was read as another state")]
async fn webhook_suite_catches_a_misread_report() {
    run_webhook_suite(&AcmeWebhookHarness(Bug::ReportStateIgnored)).await;
}

// ------------------------------------------------------------------ voice

struct AcmeVoice(Bug);

impl AcmeVoice {
    fn render_steps(&self, script: &VoiceScript) -> String {
        if self.0 == Bug::NaiveXml {
            let mut s = String::from("<Response>");
            for step in script.steps() {
                match step {
                    VoiceStep::Say { text, language, .. } => {
                        s += &format!("<Say language=\"{language}\">{text}</Say>")
                    }
                    VoiceStep::Play { url } => s += &format!("<Play>{url}</Play>"),
                    VoiceStep::Pause { seconds } | VoiceStep::Ring { seconds } => {
                        s += &format!("<Pause length=\"{seconds}\"/>")
                    }
                    VoiceStep::Reject { reason } => {
                        s += &format!("<Reject reason=\"{}\"/>", reason_str(*reason))
                    }
                    _ => s += "<Hangup/>",
                }
            }
            return s + "</Response>";
        }
        let mut w = XmlWriter::document();
        w.open("Response", &[]);
        for (i, step) in script.steps().iter().enumerate() {
            match step {
                VoiceStep::Reject { reason } => {
                    w.empty("Reject", &[("reason", reason_str(*reason))]);
                    if i == 0 && self.0 != Bug::RejectNotAlone {
                        break;
                    }
                }
                VoiceStep::Say { text, language, .. } => {
                    w.element("Say", &[("language", language)], text)
                }
                VoiceStep::Play { url } => {
                    if self.0 != Bug::DropsPlay {
                        w.element("Play", &[], url)
                    }
                }
                VoiceStep::Pause { seconds } | VoiceStep::Ring { seconds } => {
                    w.empty("Pause", &[("length", &seconds.to_string())])
                }
                _ => w.empty("Hangup", &[]),
            }
        }
        if self.0 == Bug::RejectNotAlone && script.is_reject() {
            w.empty("Hangup", &[]);
        }
        w.close("Response");
        w.finish()
    }
}

fn reason_str(r: RejectReason) -> &'static str {
    if r == RejectReason::Busy {
        "busy"
    } else {
        "rejected"
    }
}

impl VoiceHarness for AcmeVoice {
    fn render(&self, script: &VoiceScript) -> Vec<u8> {
        self.render_steps(script).into_bytes()
    }
    fn read_back(&self, rendered: &[u8]) -> Result<Vec<HeardStep>, String> {
        read_back_xml(rendered, &XmlDialect::TWIML)
    }
    fn capabilities(&self) -> VoiceCapabilities {
        VoiceCapabilities::XML_ELEMENTS
    }
}

#[test]
fn voice_suite_passes_a_correct_adapter() {
    run_voice_suite(&AcmeVoice(Bug::None));
}

#[test]
#[should_panic(expected = "does not read back")]
fn voice_suite_catches_unescaped_text() {
    run_voice_suite(&AcmeVoice(Bug::NaiveXml));
}

#[test]
#[should_panic(expected = "reject Busy: the document says something else")]
fn voice_suite_catches_a_reject_that_is_not_alone() {
    run_voice_suite(&AcmeVoice(Bug::RejectNotAlone));
}

#[test]
#[should_panic(expected = "every step: the document says something else")]
fn voice_suite_catches_a_dropped_step() {
    run_voice_suite(&AcmeVoice(Bug::DropsPlay));
}
