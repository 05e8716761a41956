//! The conformance suite against the in-memory store and the stub transport, and the mocks in use.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use antirelou_core::conformance::{self, ExpectedError};
use antirelou_core::memory::InMemoryStore;
use antirelou_core::mock::{
    MockAbusePolicy, MockClock, MockInboundHandler, MockSmsTransport, MockStore,
};
use antirelou_core::policy::{Contact, Decision, Reason};
use antirelou_core::store::{SpendCaps, SpendLedger, Store};
use antirelou_core::stub::{FailureKind, Outcome, StubTransport};
use antirelou_core::{AbusePolicy, Clock, Error, Money, NumberKind, SmsTransport, Timestamp};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_store_passes_the_suite() {
    let store = InMemoryStore::new();
    conformance::run_store_suite(&store).await;
    // Every test left its replies terminal and its reservations closed.
    let stats = antirelou_core::store::ReplyQueue::queue_stats(&store, Timestamp::from_secs(0))
        .await
        .unwrap();
    assert_eq!(
        (stats.pending, stats.claimed),
        (0, 0),
        "the suite left replies pending or claimed"
    );
    assert_eq!(
        store.open_reservations(),
        0,
        "the suite left reservations open"
    );
}

#[tokio::test]
async fn in_memory_store_passes_the_suite_fresh_and_as_dyn_store() {
    conformance::run_store_suite_fresh(|| async { InMemoryStore::new() }).await;
    let store: Arc<dyn Store> = Arc::new(InMemoryStore::new());
    conformance::run_store_suite(store.as_ref()).await;
}

#[tokio::test]
async fn suite_runs_twice_on_one_store() {
    // As against a persistent database that already holds an earlier run's data.
    let store = InMemoryStore::new();
    conformance::run_store_suite(&store).await;
    conformance::run_store_suite(&store).await;
}

#[tokio::test]
async fn suite_tolerates_leftovers_of_a_crashed_run() {
    use antirelou_core::PhoneNumber;
    use antirelou_core::privacy::SenderHash;
    use antirelou_core::store::{NewReply, ReplyKind, ReplyQueue};
    let store = InMemoryStore::new();
    // Pending and claimed rows in the suite's time zone (1901-1968), as a crashed run leaves.
    for year_secs in [-2_000_000_000i64, -1_500_000_000, -100_000_000] {
        let due = Timestamp::from_secs(year_secs);
        for i in 0..3 {
            let reply = NewReply {
                idempotency_key: format!("crashed:{year_secs}:{i}"),
                number: PhoneNumber::parse("+33757000000").unwrap(),
                recipient: PhoneNumber::parse("+33612345678").unwrap(),
                sender: SenderHash([i; 16]),
                kind: ReplyKind::Lesson,
                due_at: due,
                expires_at: due.add(Duration::from_secs(3600)),
            };
            store.schedule(reply, due).await.unwrap();
        }
        store
            .claim_due(due, Duration::from_secs(60), 1)
            .await
            .unwrap();
    }
    conformance::run_store_suite(&store).await;
}

/// A store that breaks one rule: it lets the spend go past the daily cap. The suite must catch it.
#[derive(Debug, Default)]
struct LeakyLedger(InMemoryStore);

#[async_trait::async_trait]
impl SpendLedger for LeakyLedger {
    async fn reserve(
        &self,
        amount: Money,
        _caps: &SpendCaps,
        now: Timestamp,
    ) -> antirelou_core::Result<antirelou_core::store::Reservation> {
        self.0.reserve(amount, &SpendCaps::default(), now).await
    }
    async fn settle(
        &self,
        r: &antirelou_core::store::Reservation,
        actual: Money,
    ) -> antirelou_core::Result<()> {
        self.0.settle(r, actual).await
    }
    async fn release(&self, r: &antirelou_core::store::Reservation) -> antirelou_core::Result<()> {
        self.0.release(r).await
    }
    async fn record(&self, amount: Money, now: Timestamp) -> antirelou_core::Result<()> {
        self.0.record(amount, now).await
    }
    async fn spend(
        &self,
        now: Timestamp,
    ) -> antirelou_core::Result<antirelou_core::store::SpendSummary> {
        self.0.spend(now).await
    }
}

#[tokio::test]
#[should_panic(expected = "conformance::ledger_reserve_within_daily_cap")]
async fn suite_catches_a_ledger_that_ignores_caps() {
    conformance::ledger_reserve_within_daily_cap(&LeakyLedger::default()).await;
}

#[tokio::test]
#[should_panic(expected = "conformance::ledger_concurrent_reserves")]
async fn suite_catches_a_ledger_that_ignores_caps_under_concurrency() {
    conformance::ledger_concurrent_reserves(&LeakyLedger::default()).await;
}

// ---------------------------------------------------------------------------------------------
// Transport conformance against the stub
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn stub_transport_passes_transport_conformance() {
    let stub = StubTransport::new().with_price(antirelou_core::Price::new(
        Money::from_micros(76_270),
        antirelou_core::Currency::EUR,
    ));
    let sms = conformance::sample_sms("Hey, who is this?", "r1-a1");
    let receipt = conformance::transport_accepts(&stub, &sms).await;
    assert_eq!(receipt.provider_id, "stub-1");
    assert_eq!(receipt.segments, 1);
    assert_eq!(
        receipt.price.map(|p| p.amount),
        Some(Money::from_micros(76_270))
    );

    let long = conformance::sample_sms(&"consent ".repeat(30), "r2-a1");
    let receipt = conformance::transport_accepts(&stub, &long).await;
    assert_eq!(receipt.provider_id, "stub-2");
    assert_eq!(receipt.segments, long.segments());
    assert!(
        receipt.segments >= 2,
        "240 characters take 2 segments, got {}",
        receipt.segments
    );

    let cases = [
        (
            FailureKind::Transient {
                retry_after: Some(Duration::from_secs(30)),
            },
            ExpectedError::Transient {
                retry_after: Some(Duration::from_secs(30)),
            },
        ),
        (
            FailureKind::Transient { retry_after: None },
            ExpectedError::TransientAnyDelay,
        ),
        (FailureKind::Permanent, ExpectedError::Permanent),
        (FailureKind::OptedOut, ExpectedError::OptedOut),
        (
            FailureKind::InvalidRecipient,
            ExpectedError::InvalidRecipient,
        ),
    ];
    for (kind, expected) in cases {
        stub.fail_next(1, kind);
        conformance::transport_classifies(&stub, &sms, expected).await;
    }
    let msgs: Vec<_> = (0..20)
        .map(|i| conformance::sample_sms("lesson", &format!("c{i}")))
        .collect();
    let receipts = conformance::transport_sends_concurrently(&stub, &msgs).await;
    assert_eq!(receipts.len(), 20);
    assert_eq!(stub.attempts(), 2 + 5 + 20);
    assert_eq!(stub.sent_count(), 22);
}

#[tokio::test]
#[should_panic(expected = "conformance::transport_classifies")]
async fn sender_classifies_catches_a_misclassification() {
    let stub = StubTransport::new();
    stub.fail_next(1, FailureKind::Permanent);
    conformance::transport_classifies(
        &stub,
        &conformance::sample_sms("x", "r"),
        ExpectedError::TransientAnyDelay,
    )
    .await;
}

#[tokio::test]
async fn stub_records_scripts_and_failures() {
    let stub = StubTransport::new();
    let observer = stub.clone();
    stub.script(vec![Outcome::Fail(FailureKind::OptedOut), Outcome::Accept]);
    stub.fail_next(2, FailureKind::Transient { retry_after: None });
    let sms = conformance::sample_sms("Bonjour", "ref-7");

    assert!(matches!(
        stub.send(&sms).await,
        Err(Error::RecipientOptedOut)
    ));
    assert_eq!(stub.send(&sms).await.unwrap().provider_id, "stub-1");
    assert!(stub.send(&sms).await.unwrap_err().is_transient());
    assert!(stub.send(&sms).await.unwrap_err().is_transient());
    assert_eq!(stub.send(&sms).await.unwrap().provider_id, "stub-2");

    stub.fail_always(FailureKind::Permanent);
    for _ in 0..3 {
        assert!(matches!(
            stub.send(&sms).await,
            Err(Error::Permanent { .. })
        ));
    }
    stub.succeed();
    assert_eq!(stub.send(&sms).await.unwrap().provider_id, "stub-3");

    assert_eq!(observer.attempts(), 9, "clones share state");
    let sent = observer.sent();
    assert_eq!(
        sent.iter().map(|m| m.at_call_index).collect::<Vec<_>>(),
        vec![2, 5, 9]
    );
    assert_eq!(sent[0].to.e164(), "+33612345678");
    assert_eq!(sent[0].from.e164(), "+33757000000");
    assert_eq!(sent[0].body, "Bonjour");
    assert_eq!(sent[0].client_ref, "ref-7");
    assert_eq!(sent[2].provider_id, "stub-3");
    assert!(
        !format!("{stub:?}").contains("612345678"),
        "Debug must not print numbers"
    );
}

#[tokio::test(start_paused = true)]
async fn stub_delay_uses_tokio_time() {
    let stub = StubTransport::new().with_delay(Duration::from_secs(5));
    let start = tokio::time::Instant::now();
    stub.send(&conformance::sample_sms("x", "r")).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

#[test]
fn in_memory_debug_prints_no_number() {
    let store = InMemoryStore::new();
    let s = format!("{store:?}");
    assert!(s.starts_with("InMemoryStore {"), "{s}");
}

// ---------------------------------------------------------------------------------------------
// Mocks
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn mocks_work_behind_trait_objects() {
    let mut sender = MockSmsTransport::new();
    sender
        .expect_send()
        .times(1)
        .returning(|_| Err(Error::RecipientOptedOut));
    let sender: Arc<dyn SmsTransport> = Arc::new(sender);
    assert!(matches!(
        sender.send(&conformance::sample_sms("x", "r")).await,
        Err(Error::RecipientOptedOut)
    ));

    let mut store = MockStore::new();
    store
        .ledger
        .expect_reserve()
        .times(1)
        .returning(|_, _, _| Err(Error::BudgetExceeded { period: "daily" }));
    store.queue.expect_release().never();
    let store: Arc<dyn Store> = Arc::new(store);
    let r = store
        .reserve(
            Money::from_micros(1),
            &SpendCaps::default(),
            Timestamp::EPOCH,
        )
        .await;
    assert!(matches!(r, Err(Error::BudgetExceeded { period: "daily" })));

    let mut policy = MockAbusePolicy::new();
    policy.expect_check().returning(|c| {
        if c.sender_key == 1 {
            Decision::Deny(Reason::Blocklisted)
        } else {
            Decision::Allow
        }
    });
    let contact = |k| Contact {
        sender_key: k,
        sender_calling_code: 33,
        sender_region: None,
        sender_kind: NumberKind::Mobile,
        number_key: 2,
        number_region: None,
        channel: antirelou_core::event::Channel::Sms,
        at: Timestamp::EPOCH,
    };
    assert_eq!(
        policy.check(&contact(1)),
        Decision::Deny(Reason::Blocklisted)
    );
    assert!(policy.check(&contact(3)).is_allow());

    let mut clock = MockClock::new();
    clock.expect_now().return_const(Timestamp::from_secs(7));
    assert_eq!(clock.now(), Timestamp::from_secs(7));

    let mut handler = MockInboundHandler::new();
    handler
        .expect_handle_delivery()
        .times(1)
        .returning(|_| Ok(()));
    use antirelou_core::InboundHandler;
    use antirelou_core::event::{DeliveryReport, DeliveryState};
    handler
        .handle_delivery(DeliveryReport {
            provider: antirelou_core::stub::PROVIDER,
            message_id: "m".into(),
            state: DeliveryState::Delivered,
            price: None,
            error_code: None,
            failure: None,
        })
        .await
        .unwrap();
}
