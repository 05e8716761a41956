//! The runtime: stepped on a manual clock it dispatches due lessons, feeds the policy the spend
//! with the lessons' real segment counts, purges per retention; spawned, its shutdown lets the
//! send in flight finish.
#![allow(clippy::unwrap_used)]

mod engine_support;

use std::sync::Arc;
use std::time::Duration;

use antirelou_core::engine::{EngineConfig, Transports};
use antirelou_core::policy::{AbusePolicy, Contact, Decision};
use antirelou_core::runtime::{Retention, Runtime, SpendUpdate};
use antirelou_core::store::{ReplyQueue, ReplyState, SpendCaps};
use antirelou_core::transport::{OutboundSms, SendReceipt, SmsTransport};
use antirelou_core::{Caller, InboundHandler, Money, ProviderId};
use async_trait::async_trait;
use engine_support::*;
use parking_lot::Mutex;
use tokio::sync::Notify;

fn twilio(sender: Arc<dyn SmsTransport>) -> Transports {
    Transports::new().with(ProviderId::from_static("twilio"), sender, None)
}

#[tokio::test]
async fn a_step_dispatches_the_due_lessons() {
    let h = harness();
    let runtime = Runtime::builder(h.engine.clone(), twilio(Arc::new(h.stub.clone()))).build();
    h.engine
        .handle_sms(sms("SM1", &man(), "salut"))
        .await
        .unwrap();
    assert_eq!(runtime.step().await.unwrap().sent, 0);
    h.clock.advance(HOUR);
    assert_eq!(runtime.step().await.unwrap().sent, 1);
    assert_eq!(h.stub.sent()[0].body, LESSON_SMS);
}

#[tokio::test]
async fn the_purge_erases_per_retention_once_per_period() {
    let h = harness();
    let retention = Retention {
        replies: Duration::from_secs(2 * 86_400),
        senders: None,
    };
    let runtime = Runtime::builder(h.engine.clone(), twilio(Arc::new(h.stub.clone())))
        .purge(retention, HOUR)
        .build();
    h.engine
        .handle_sms(sms("SM1", &man(), "salut"))
        .await
        .unwrap();
    h.clock.advance(HOUR);
    assert_eq!(runtime.step().await.unwrap().sent, 1);
    let id = h.records().await[0].id;
    // The step purged (nothing old enough yet); within the hour, no purge runs.
    assert_eq!(runtime.maintain().await.unwrap().purge, None);
    h.clock.advance(HOUR);
    assert_eq!(runtime.maintain().await.unwrap().purge.unwrap().replies, 0);
    // Past the retention, the ended reply goes.
    h.clock.advance(Duration::from_secs(2 * 86_400));
    assert_eq!(runtime.maintain().await.unwrap().purge.unwrap().replies, 1);
    assert!(h.store.get(id).await.unwrap().is_none());
}

#[tokio::test]
async fn the_default_sender_retention_covers_the_decoy_window() {
    // No lesson window (every text answered): the sender history is still kept for the decoy
    // window, so a caller who calls back within it is not greeted as a stranger again.
    let h = Setup {
        config: EngineConfig {
            lesson_window: Duration::ZERO,
            ..exact_config()
        },
        ..Setup::default()
    }
    .build();
    let runtime = Runtime::builder(h.engine.clone(), twilio(Arc::new(h.stub.clone())))
        .purge(Retention::default(), Duration::from_secs(60))
        .build();
    let call_from_man = |id: &'static str| h.engine.handle_call(call(id, Caller::Number(man())));
    assert_eq!(call_from_man("CA1").await.unwrap().ring_seconds(), 20);
    h.clock.advance(Duration::from_secs(300));
    let purged = runtime.maintain().await.unwrap().purge.unwrap();
    assert_eq!(
        purged.senders, 0,
        "a caller within the decoy window was forgotten"
    );
    // Past the decoy window he may go.
    h.clock.advance(Duration::from_secs(400));
    assert_eq!(runtime.maintain().await.unwrap().purge.unwrap().senders, 1);
}

/// Records every spend update it is told.
#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<SpendUpdate>>);

impl AbusePolicy for Recorder {
    fn check(&self, _: &Contact) -> Decision {
        Decision::Allow
    }
    fn on_spend(&self, spend: &SpendUpdate) {
        self.0.lock().push(*spend);
    }
}

#[tokio::test]
async fn the_policy_hears_the_spend_with_the_lessons_real_segments() {
    let mut seen = Vec::new();
    // A one-segment lesson, then a two-segment one (GSM-7, 153 septets a segment).
    for body in [LESSON_SHORT.to_string(), "x".repeat(200)] {
        let recorder = Arc::new(Recorder::default());
        let mut catalogue = catalogue();
        let mut set = lessons("fr-FR");
        set.sms = body;
        catalogue.insert(set);
        let h = Setup {
            policy: Some(recorder.clone()),
            catalogue,
            config: EngineConfig {
                caps: SpendCaps {
                    daily: Some(Money::from_units_f64(10.0)),
                    monthly: None,
                },
                price_per_segment: Money::from_units_f64(0.05),
                ..exact_config()
            },
            ..Setup::default()
        }
        .build();
        let runtime = Runtime::builder(h.engine.clone(), Transports::new())
            .spend_every(Duration::from_secs(5))
            .build();
        runtime.maintain().await.unwrap();
        // Not due again within the period.
        runtime.maintain().await.unwrap();
        let updates = recorder.0.lock().clone();
        assert_eq!(updates.len(), 1);
        seen.push(updates[0]);
    }
    assert_eq!(seen[0].lesson_segments, 1);
    assert_eq!(seen[0].lesson_cost(), Money::from_units_f64(0.05));
    assert_eq!(seen[1].lesson_segments, 2);
    assert_eq!(seen[1].lesson_cost(), Money::from_units_f64(0.10));
    assert_eq!(seen[1].budget_left(), Some(Money::from_units_f64(10.0)));
}

/// A sender that signals when a send starts and finishes it only when released.
#[derive(Debug)]
struct Gated {
    inner: antirelou_core::stub::StubTransport,
    started: Arc<Notify>,
    release: Arc<Notify>,
}

#[async_trait]
impl SmsTransport for Gated {
    async fn send(&self, sms: &OutboundSms) -> antirelou_core::Result<SendReceipt> {
        self.started.notify_one();
        self.release.notified().await;
        self.inner.send(sms).await
    }
}

#[tokio::test]
async fn shutdown_finishes_the_send_in_flight() {
    let h = harness();
    h.engine
        .handle_sms(sms("SM1", &man(), "salut"))
        .await
        .unwrap();
    h.clock.advance(HOUR);
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let gated = Gated {
        inner: h.stub.clone(),
        started: started.clone(),
        release: release.clone(),
    };
    let handle = Runtime::builder(h.engine.clone(), twilio(Arc::new(gated))).spawn();
    started.notified().await;
    // Shutdown asked while the send is in flight: it must wait for it, not drop it.
    let shutdown = tokio::spawn(handle.shutdown());
    tokio::task::yield_now().await;
    assert!(!shutdown.is_finished());
    release.notify_one();
    shutdown.await.unwrap().unwrap();
    assert_eq!(h.stub.sent_count(), 1);
    let records = h.records().await;
    assert_eq!(records[0].state, ReplyState::Sent);
}
