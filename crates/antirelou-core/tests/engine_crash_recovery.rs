//! A worker that dies between the provider's acceptance and the store's record leaves a claimed
//! reply; when its lease has expired the next claim asks the provider first
//! (`SmsTransport::find_accepted`) and records the earlier send instead of sending a duplicate. A
//! provider that cannot tell (the default) gets the lesson a second time, as documented.
#![allow(clippy::unwrap_used)]

mod engine_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use antirelou_core::ProviderId;
use antirelou_core::engine::Transports;
use antirelou_core::store::ReplyState;
use antirelou_core::stub::StubTransport;
use antirelou_core::{
    InboundHandler, OutboundSms, PriorSend, SendReceipt, SmsTransport, Timestamp,
};
use async_trait::async_trait;
use engine_support::*;

/// The provider accepts the first message, then the worker "dies": `send` never returns.
#[derive(Debug)]
struct DiesAfterFirstAcceptance {
    provider: StubTransport,
    died: AtomicBool,
}

#[async_trait]
impl SmsTransport for DiesAfterFirstAcceptance {
    async fn send(&self, sms: &OutboundSms) -> antirelou_core::Result<SendReceipt> {
        let receipt = self.provider.send(sms).await?;
        if !self.died.swap(true, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        Ok(receipt)
    }

    async fn find_accepted(
        &self,
        sms: &OutboundSms,
        since: Timestamp,
    ) -> antirelou_core::Result<PriorSend> {
        self.provider.find_accepted(sms, since).await
    }
}

/// Schedule one lesson, let a worker die in the middle of its send, then let the lease expire
/// and run another dispatcher. Returns the harness and how many messages the provider accepted.
async fn crash_then_take_over(provider: StubTransport) -> (Harness, usize) {
    let h = harness();
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.clock.advance(HOUR);
    let dying = Arc::new(DiesAfterFirstAcceptance {
        provider: provider.clone(),
        died: AtomicBool::new(false),
    });
    let first = h.engine.dispatcher(Transports::new().with(
        ProviderId::from_static("twilio"),
        dying.clone(),
        None,
    ));
    // The worker is gone mid-send: its tick never finishes.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), first.tick())
            .await
            .is_err()
    );
    assert_eq!(provider.sent_count(), 1);
    assert_eq!(h.records().await[0].state, ReplyState::Claimed);

    // Before the lease ends nobody takes the reply; after it, another dispatcher does.
    let second =
        h.engine
            .dispatcher(Transports::new().with(ProviderId::from_static("twilio"), dying, None));
    assert_eq!(second.tick().await.unwrap().claimed, 0);
    h.clock.advance(h.engine.config().lease);
    let r = second.tick().await.unwrap();
    assert_eq!((r.claimed, r.sent), (1, 1));
    let sent = provider.sent_count();
    (h, sent)
}

#[tokio::test]
async fn a_provider_that_can_be_asked_gets_no_duplicate_after_a_crash() {
    let provider = StubTransport::new().with_lookup();
    let (h, accepted) = crash_then_take_over(provider.clone()).await;
    assert_eq!(accepted, 1, "the lesson must not go out twice");
    let rec = h.records().await.remove(0);
    assert_eq!(rec.state, ReplyState::Sent);
    assert_eq!(
        rec.provider_id.as_deref(),
        Some(provider.sent()[0].provider_id.as_str())
    );
    assert_eq!(rec.recipient, None, "erased once sent");
    assert_eq!(h.counter("send.recovered").await, 1);
    assert_eq!(h.counter("lessons.sent").await, 1);
}

#[tokio::test]
async fn a_provider_that_cannot_tell_gets_the_documented_duplicate() {
    let provider = StubTransport::new();
    let (h, accepted) = crash_then_take_over(provider).await;
    assert_eq!(
        accepted, 2,
        "at most one duplicate per send in flight at the crash"
    );
    assert_eq!(h.counter("send.recovered").await, 0);
}
