//! The webhook suite: signatures, malformed requests, handler failures, duplicate deliveries
//! and logs, through the adapter's framework-free inbound-SMS webhook.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use super::digits;
use crate::handler::InboundHandler;
use crate::kit::log_capture::LogCapture;
use crate::kit::recording::{Failure, RecordingHandler};

/// The inbound text the suite asks the harness to spell as the provider's webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleInbound {
    /// The provider's message id.
    pub message_id: String,
    /// The sender, E.164.
    pub from: String,
    /// Our number, E.164.
    pub to: String,
    /// The text.
    pub body: String,
}

/// What the webhook suite needs to know of an adapter.
#[async_trait]
pub trait WebhookHarness: Send + Sync {
    /// Deliver `req` to the adapter's inbound-SMS webhook, with `handler` behind it (the
    /// adapter's plain function or `tower::Service` over `http::Request<Bytes>`), and return
    /// its answer.
    async fn call(
        &self,
        handler: Arc<dyn InboundHandler>,
        req: http::Request<Bytes>,
    ) -> http::Response<Bytes>;

    /// `sms` as the provider delivers it, correctly signed.
    fn signed(&self, sms: &SampleInbound) -> http::Request<Bytes>;

    /// `sms` signed with a secret that is not the configured one.
    fn signed_with_wrong_secret(&self, sms: &SampleInbound) -> http::Request<Bytes>;

    /// `sms` without any signature.
    fn unsigned(&self, sms: &SampleInbound) -> http::Request<Bytes>;

    /// `sms` without the sender's number, correctly signed.
    fn signed_without_sender(&self, sms: &SampleInbound) -> http::Request<Bytes>;
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

/// Flip one letter of the text inside the raw body, keeping it well-formed.
fn tampered(mut req: http::Request<Bytes>) -> http::Request<Bytes> {
    let body = req.body().to_vec();
    let needle = b"hello";
    let at = body
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| {
            panic!(
                "{SUITE}: the signed request does not carry the text \"conformance hello\" as is"
            )
        });
    let mut body = body;
    body[at + 4] = b'p';
    *req.body_mut() = Bytes::from(body);
    req
}

/// Run every webhook rule against the adapter described by `harness`:
///
/// 1. a signature made with the wrong secret, a signed request whose body was changed, and a
///    request without signature: `403`, and nothing reaches the handler;
/// 2. a signed request without the sender: `400`, nothing handled;
/// 3. the handler fails transiently: `503`; for good: `500` (both `5xx`, so the provider
///    retries); refuses the number ([`crate::Error::WrongProvider`]): `403`;
/// 4. a correct delivery: `2xx`, the handler gets the text, sender and our number; delivered
///    again: `2xx` again, with the same message id;
/// 5. over all of the above, the sender's number appears in no log line (at any level).
///
/// # Panics
/// On the first broken rule, naming it.
pub async fn run_webhook_suite<H: WebhookHarness>(harness: &H) {
    let logs = LogCapture::new();
    logs.run(rules(harness)).await;
    let text = logs.text();
    let from = digits(&sample().from);
    let national = &from[from.len().saturating_sub(9)..];
    let leaked = text
        .split(|c: char| !(c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')')))
        .any(|piece| digits(piece).contains(national));
    assert!(
        !leaked,
        "{SUITE}: the sender's number reached the logs:\n{text}"
    );
}

async fn deliver<H: WebhookHarness>(
    harness: &H,
    handler: &Arc<RecordingHandler>,
    req: http::Request<Bytes>,
) -> http::StatusCode {
    let h: Arc<dyn InboundHandler> = handler.clone();
    harness.call(h, req).await.status()
}

async fn rules<H: WebhookHarness>(harness: &H) {
    let sms = sample();
    let refused = [
        ("wrong secret", harness.signed_with_wrong_secret(&sms)),
        ("changed body", tampered(harness.signed(&sms))),
        ("no signature", harness.unsigned(&sms)),
    ];
    for (what, req) in refused {
        let handler = Arc::new(RecordingHandler::new());
        let status = deliver(harness, &handler, req).await;
        assert_eq!(status, 403, "{SUITE}: {what}: expected 403");
        assert_eq!(
            handler.handled(),
            0,
            "{SUITE}: {what}: the handler was called"
        );
    }

    let handler = Arc::new(RecordingHandler::new());
    let status = deliver(harness, &handler, harness.signed_without_sender(&sms)).await;
    assert_eq!(status, 400, "{SUITE}: malformed: expected 400");
    assert_eq!(
        handler.handled(),
        0,
        "{SUITE}: malformed: the handler was called"
    );

    for (failure, want) in [
        (Failure::Transient, 503),
        (Failure::Permanent, 500),
        (Failure::WrongProvider, 403),
    ] {
        let handler = Arc::new(RecordingHandler::new());
        handler.fail_with(Some(failure));
        let status = deliver(harness, &handler, harness.signed(&sms)).await;
        assert_eq!(
            status, want,
            "{SUITE}: handler failure {failure:?}: expected {want}"
        );
    }

    let handler = Arc::new(RecordingHandler::new());
    for delivery in ["first delivery", "second delivery"] {
        let status = deliver(harness, &handler, harness.signed(&sms)).await;
        assert!(
            status.is_success(),
            "{SUITE}: {delivery}: expected 2xx, got {status}"
        );
    }
    let got = handler.sms();
    assert_eq!(
        got.len(),
        2,
        "{SUITE}: two deliveries should reach the handler twice"
    );
    let first = &got[0];
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
    assert!(!first.message_id.is_empty(), "{SUITE}: empty message id");
    assert_eq!(
        got[1].message_id, first.message_id,
        "{SUITE}: the same delivery twice gave two message ids (the engine would send two lessons)"
    );
}
