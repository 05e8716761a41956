//! The webhook suite: signatures, malformed requests, handler failures, duplicate deliveries
//! and logs, through each framework-free webhook of the adapter (inbound SMS, delivery
//! reports, voice).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use super::digits;
use crate::event::DeliveryState;
use crate::handler::InboundHandler;
use crate::kit::log_capture::LogCapture;
use crate::kit::recording::{Failure, RecordingHandler};

/// A webhook an adapter exposes, by what it hands the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WebhookKind {
    /// A text to our number: [`InboundHandler::handle_sms`].
    InboundSms,
    /// A delivery report of a message we sent: [`InboundHandler::handle_delivery`].
    DeliveryReport,
    /// A call to our number, answered with the engine's script:
    /// [`InboundHandler::handle_call`].
    Call,
}

impl WebhookKind {
    /// Every kind: what [`WebhookHarness::kinds`] answers unless an adapter overrides it.
    pub const ALL: [WebhookKind; 3] = [
        WebhookKind::InboundSms,
        WebhookKind::DeliveryReport,
        WebhookKind::Call,
    ];

    /// What the suite calls it in its messages.
    pub fn name(self) -> &'static str {
        match self {
            WebhookKind::InboundSms => "inbound SMS",
            WebhookKind::DeliveryReport => "delivery report",
            WebhookKind::Call => "voice",
        }
    }
}

/// The event the suite asks the harness to spell as the provider's webhook.
///
/// | Kind | `message_id` | `from` | `to` | `body` |
/// |---|---|---|---|---|
/// | [`WebhookKind::InboundSms`] | the message's id | the sender | our number | the text |
/// | [`WebhookKind::DeliveryReport`] | the id the provider gave our message; the report says it was **delivered** | the recipient (the man who texted) | our number | unused |
/// | [`WebhookKind::Call`] | the call's id | the caller | our number | unused |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleInbound {
    /// The provider's message (or call) id.
    pub message_id: String,
    /// The man's number, E.164.
    pub from: String,
    /// Our number, E.164.
    pub to: String,
    /// The text.
    pub body: String,
}

/// What the webhook suite needs to know of an adapter. Every method takes the webhook it is
/// about, among [`kinds`](Self::kinds).
#[async_trait]
pub trait WebhookHarness: Send + Sync {
    /// Every webhook the adapter exposes that hands the engine an event (the suite refuses a
    /// list without [`WebhookKind::InboundSms`]). By default all of [`WebhookKind::ALL`], so
    /// that a webhook is checked unless its adapter says it has none of that kind.
    fn kinds(&self) -> Vec<WebhookKind> {
        WebhookKind::ALL.to_vec()
    }

    /// Deliver `req` to the adapter's `kind` webhook, with `handler` behind it (the adapter's
    /// plain function or `tower::Service` over `http::Request<Bytes>`), and return its answer.
    async fn call(
        &self,
        kind: WebhookKind,
        handler: Arc<dyn InboundHandler>,
        req: http::Request<Bytes>,
    ) -> http::Response<Bytes>;

    /// `event` as the provider delivers it to the `kind` webhook, correctly signed. Called
    /// once per delivery: a signature scheme with one-time tokens makes a fresh one each time.
    fn signed(&self, kind: WebhookKind, event: &SampleInbound) -> http::Request<Bytes>;

    /// `event` signed with a secret that is not the configured one.
    fn signed_with_wrong_secret(
        &self,
        kind: WebhookKind,
        event: &SampleInbound,
    ) -> http::Request<Bytes>;

    /// `event` without any signature.
    fn unsigned(&self, kind: WebhookKind, event: &SampleInbound) -> http::Request<Bytes>;

    /// `event` correctly signed but without a field the webhook cannot do without (the
    /// sender of a text, the caller of a call, the message id or status of a report).
    fn signed_malformed(&self, kind: WebhookKind, event: &SampleInbound) -> http::Request<Bytes>;
}

const SUITE: &str = "kit::conformance::webhook";

/// The sample the suite delivers: a Belgian mobile texting a French number.
pub fn sample() -> SampleInbound {
    SampleInbound {
        message_id: "conformance0message0id0000000001".into(),
        from: "+32470123456".into(),
        to: "+33757000000".into(),
        body: "conformance hello".into(),
    }
}

/// Change the last character of the message id inside the raw body, keeping it well-formed.
fn tampered(kind: WebhookKind, mut req: http::Request<Bytes>) -> http::Request<Bytes> {
    let needle = sample().message_id.into_bytes();
    let mut body = req.body().to_vec();
    let at = body
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .unwrap_or_else(|| {
            panic!(
                "{SUITE}: {}: the signed request does not carry the id {:?} as is",
                kind.name(),
                sample().message_id
            )
        });
    body[at + needle.len() - 1] = b'2';
    *req.body_mut() = Bytes::from(body);
    req
}

/// Run every webhook rule against each webhook ([`WebhookHarness::kinds`]) of the adapter
/// described by `harness`:
///
/// 1. a signature made with the wrong secret, a signed request whose body was changed (one
///    character of the id), and a request without signature: `403`, and nothing reaches the
///    handler;
/// 2. a signed request without a required field: `400`, nothing handled;
/// 3. the handler fails transiently: `503`; for good: `500` (both `5xx`, so the provider
///    retries); refuses the number ([`crate::Error::WrongProvider`]): `403`;
/// 4. a correct delivery: `2xx`, the handler gets the event as sent (text, sender and our
///    number; the reported message and its state; the caller, our number and a voice document
///    in the answer); delivered again: `2xx` again, with the same message (or call) id;
/// 5. over all of the above, the man's number appears in no log line (at any level).
///
/// # Panics
/// On the first broken rule, naming the webhook and the rule.
pub async fn run_webhook_suite<H: WebhookHarness>(harness: &H) {
    let kinds = harness.kinds();
    assert!(
        kinds.contains(&WebhookKind::InboundSms),
        "{SUITE}: every adapter has an inbound SMS webhook; kinds() lists {kinds:?}"
    );
    let logs = LogCapture::new();
    logs.run(async {
        for kind in &kinds {
            rules(harness, *kind).await;
        }
    })
    .await;
    let text = logs.text();
    let from = digits(&sample().from);
    let national = &from[from.len().saturating_sub(9)..];
    let leaked = text
        .split(|c: char| !(c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')')))
        .any(|piece| digits(piece).contains(national));
    assert!(
        !leaked,
        "{SUITE}: the man's number reached the logs:\n{text}"
    );
}

async fn deliver<H: WebhookHarness>(
    harness: &H,
    kind: WebhookKind,
    handler: &Arc<RecordingHandler>,
    req: http::Request<Bytes>,
) -> http::Response<Bytes> {
    let h: Arc<dyn InboundHandler> = handler.clone();
    harness.call(kind, h, req).await
}

async fn rules<H: WebhookHarness>(harness: &H, kind: WebhookKind) {
    let sms = sample();
    let k = kind.name();
    let refused = [
        ("wrong secret", harness.signed_with_wrong_secret(kind, &sms)),
        ("changed body", tampered(kind, harness.signed(kind, &sms))),
        ("no signature", harness.unsigned(kind, &sms)),
    ];
    for (what, req) in refused {
        let handler = Arc::new(RecordingHandler::new());
        let status = deliver(harness, kind, &handler, req).await.status();
        assert_eq!(status, 403, "{SUITE}: {k}: {what}: expected 403");
        assert_eq!(
            handler.handled(),
            0,
            "{SUITE}: {k}: {what}: the handler was called"
        );
    }

    let handler = Arc::new(RecordingHandler::new());
    let req = harness.signed_malformed(kind, &sms);
    let status = deliver(harness, kind, &handler, req).await.status();
    assert_eq!(status, 400, "{SUITE}: {k}: malformed: expected 400");
    assert_eq!(
        handler.handled(),
        0,
        "{SUITE}: {k}: malformed: the handler was called"
    );

    for (failure, want) in [
        (Failure::Transient, 503),
        (Failure::Permanent, 500),
        (Failure::WrongProvider, 403),
    ] {
        let handler = Arc::new(RecordingHandler::new());
        handler.fail_with(Some(failure));
        let req = harness.signed(kind, &sms);
        let status = deliver(harness, kind, &handler, req).await.status();
        assert_eq!(
            status, want,
            "{SUITE}: {k}: handler failure {failure:?}: expected {want}"
        );
    }

    let handler = Arc::new(RecordingHandler::new());
    for delivery in ["first delivery", "second delivery"] {
        let answer = deliver(harness, kind, &handler, harness.signed(kind, &sms)).await;
        let status = answer.status();
        assert!(
            status.is_success(),
            "{SUITE}: {k}: {delivery}: expected 2xx, got {status}"
        );
        if kind == WebhookKind::Call {
            assert!(
                !answer.body().is_empty(),
                "{SUITE}: {k}: {delivery}: the call was answered without a voice document"
            );
        }
    }
    let ids = match kind {
        WebhookKind::InboundSms => received_sms(&handler, &sms),
        WebhookKind::DeliveryReport => received_reports(&handler, &sms),
        WebhookKind::Call => received_calls(&handler, &sms),
    };
    assert_eq!(
        ids.len(),
        2,
        "{SUITE}: {k}: two deliveries should reach the handler twice"
    );
    assert!(!ids[0].is_empty(), "{SUITE}: {k}: empty message id");
    assert_eq!(
        ids[1], ids[0],
        "{SUITE}: {k}: the same delivery twice gave two message ids (the engine would act twice)"
    );
}

/// The texts handled, checked against `sms`; their message ids.
fn received_sms(handler: &RecordingHandler, sms: &SampleInbound) -> Vec<String> {
    let got = handler.sms();
    if let Some(first) = got.first() {
        assert_eq!(first.body, sms.body, "{SUITE}: the text changed on the way");
        assert_eq!(
            first.to.e164(),
            sms.to,
            "{SUITE}: our number changed on the way"
        );
        assert_eq!(
            first.from.number().map(|n| n.e164().to_owned()).as_deref(),
            Some(sms.from.as_str()),
            "{SUITE}: the sender changed on the way"
        );
    }
    got.into_iter().map(|s| s.message_id).collect()
}

/// The reports handled, checked against `sms`; their message ids.
fn received_reports(handler: &RecordingHandler, sms: &SampleInbound) -> Vec<String> {
    let got = handler.deliveries();
    if let Some(first) = got.first() {
        assert_eq!(
            first.message_id, sms.message_id,
            "{SUITE}: delivery report: the reported message id changed on the way"
        );
        assert_eq!(
            first.state,
            DeliveryState::Delivered,
            "{SUITE}: delivery report: a \"delivered\" report was read as another state"
        );
    }
    got.into_iter().map(|r| r.message_id).collect()
}

/// The calls handled, checked against `sms`; their call ids.
fn received_calls(handler: &RecordingHandler, sms: &SampleInbound) -> Vec<String> {
    let got = handler.calls();
    if let Some(first) = got.first() {
        assert_eq!(
            first.to.e164(),
            sms.to,
            "{SUITE}: voice: our number changed on the way"
        );
        assert_eq!(
            first.from.number().map(|n| n.e164().to_owned()).as_deref(),
            Some(sms.from.as_str()),
            "{SUITE}: voice: the caller changed on the way"
        );
    }
    got.into_iter().map(|c| c.call_id).collect()
}
