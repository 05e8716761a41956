//! [`mockall`] mocks of every trait, for embedders' unit tests (feature `mock`).
//!
//! * [`MockSmsTransport`] for [`SmsTransport`];
//! * [`MockStore`] for all five storage traits, hence [`Store`](crate::store::Store), made of
//!   [`MockReplyQueue`], [`MockSenderHistory`], [`MockOptOutStore`], [`MockSpendLedger`] and
//!   [`MockCounters`];
//! * [`MockAbusePolicy`] for [`AbusePolicy`];
//! * [`MockClock`] for [`Clock`];
//! * [`MockInboundHandler`] for [`InboundHandler`].
//!
//! Prefer the hand-written doubles ([`crate::memory::InMemoryStore`],
//! [`crate::stub::StubTransport`], [`crate::ManualClock`]) when you need behaviour; use a mock when
//! you need to assert an exact interaction.
//!
//! ```
//! use antirelou_core::mock::MockClock;
//! use antirelou_core::{Clock, Timestamp};
//!
//! let mut clock = MockClock::new();
//! clock.expect_now().times(1).return_const(Timestamp::from_secs(42));
//! assert_eq!(clock.now(), Timestamp::from_secs(42));
//! ```
// mockall generates public methods (`expect_*`, `checkpoint`, …) without doc comments.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use mockall::mock;

use crate::clock::{Clock, Timestamp};
use crate::error::Result;
use crate::event::{Channel, DeliveryReport, DeliveryState, InboundCall, InboundSms};
use crate::handler::{InboundHandler, SmsOutcome};
use crate::money::Money;
use crate::phone::PhoneNumber;
use crate::policy::{AbusePolicy, Contact, Decision};
use crate::privacy::SenderHash;
use crate::store::{
    ClaimedReply, Counters, LeaseToken, LessonSchedule, NewReply, OptOutStore, QueueStats, ReplyId,
    ReplyQueue, ReplyRecord, Reservation, ScheduleOutcome, SenderHistory, SenderRecord, SpendCaps,
    SpendLedger, SpendSummary, TerminalState,
};
use crate::transport::{OutboundSms, SendReceipt, SmsTransport};
use crate::voice::VoiceScript;

mock! {
    /// A mock [`SmsTransport`].
    pub SmsTransport {}

    #[async_trait]
    impl SmsTransport for SmsTransport {
        async fn send(&self, sms: &OutboundSms) -> Result<SendReceipt>;
    }
}

mock! {
    /// A mock [`ReplyQueue`].
    pub ReplyQueue {}

    #[async_trait]
    impl ReplyQueue for ReplyQueue {
        async fn schedule(&self, reply: NewReply, now: Timestamp) -> Result<ScheduleOutcome>;
        async fn schedule_lesson(&self, reply: NewReply, window: Duration, now: Timestamp) -> Result<LessonSchedule>;
        async fn find_by_key(&self, idempotency_key: &str) -> Result<Option<ReplyId>>;
        async fn claim_due(&self, now: Timestamp, lease: Duration, limit: usize) -> Result<Vec<ClaimedReply>>;
        async fn complete(&self, token: LeaseToken, provider_id: &str, now: Timestamp) -> Result<()>;
        async fn retry_later(&self, token: LeaseToken, next_attempt_at: Timestamp, error: &str, now: Timestamp) -> Result<()>;
        async fn finish(&self, token: LeaseToken, state: TerminalState, reason: &str, now: Timestamp) -> Result<()>;
        async fn release(&self, token: LeaseToken, now: Timestamp) -> Result<()>;
        async fn cancel_pending(&self, sender: &SenderHash, reason: &str, now: Timestamp) -> Result<u64>;
        async fn expire_overdue(&self, now: Timestamp) -> Result<u64>;
        async fn record_delivery(&self, provider_id: &str, state: DeliveryState, now: Timestamp) -> Result<bool>;
        async fn sent_from(&self, provider_id: &str) -> Result<Option<PhoneNumber>>;
        async fn sent_to(&self, provider_id: &str) -> Result<Option<SenderHash>>;
        async fn get(&self, id: ReplyId) -> Result<Option<ReplyRecord>>;
        async fn queue_stats(&self, now: Timestamp) -> Result<QueueStats>;
        async fn purge(&self, before: Timestamp) -> Result<u64>;
    }
}

mock! {
    /// A mock [`SenderHistory`].
    pub SenderHistory {}

    #[async_trait]
    impl SenderHistory for SenderHistory {
        async fn record_contact(&self, sender: &SenderHash, channel: Channel, now: Timestamp) -> Result<Option<SenderRecord>>;
        async fn try_begin_lesson(&self, sender: &SenderHash, window: Duration, now: Timestamp) -> Result<bool>;
        async fn sender(&self, sender: &SenderHash) -> Result<Option<SenderRecord>>;
        async fn release_lesson(&self, sender: &SenderHash, began_at: Timestamp) -> Result<bool>;
        async fn purge_senders(&self, before: Timestamp) -> Result<u64>;
    }
}

mock! {
    /// A mock [`OptOutStore`].
    pub OptOutStore {}

    #[async_trait]
    impl OptOutStore for OptOutStore {
        async fn set_opted_out(&self, sender: &SenderHash, opted_out: bool, now: Timestamp) -> Result<()>;
        async fn is_opted_out(&self, sender: &SenderHash) -> Result<bool>;
    }
}

mock! {
    /// A mock [`SpendLedger`].
    pub SpendLedger {}

    #[async_trait]
    impl SpendLedger for SpendLedger {
        async fn reserve(&self, amount: Money, caps: &SpendCaps, now: Timestamp) -> Result<Reservation>;
        async fn settle(&self, reservation: &Reservation, actual: Money) -> Result<()>;
        async fn release(&self, reservation: &Reservation) -> Result<()>;
        async fn record(&self, amount: Money, now: Timestamp) -> Result<()>;
        async fn spend(&self, now: Timestamp) -> Result<SpendSummary>;
    }
}

mock! {
    /// A mock [`Counters`].
    pub Counters {}

    #[async_trait]
    impl Counters for Counters {
        async fn incr(&self, name: &str, by: u64) -> Result<()>;
        async fn counters(&self) -> Result<BTreeMap<String, u64>>;
    }
}

/// A mock of every storage trait, usable as `Arc<dyn Store>`: one mock per trait, in public
/// fields, because two traits have a `release` method and one `mockall` mock cannot hold both.
/// Set expectations on the field of the trait concerned.
///
/// ```
/// use antirelou_core::mock::MockStore;
/// use antirelou_core::store::{OptOutStore, Store};
/// use antirelou_core::privacy::SenderHash;
/// use std::sync::Arc;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut store = MockStore::new();
/// store.opt_outs.expect_is_opted_out().times(1).returning(|_| Ok(true));
/// let store: Arc<dyn Store> = Arc::new(store);
/// assert!(store.is_opted_out(&SenderHash([1; 16])).await.unwrap());
/// # });
/// ```
#[derive(Default)]
pub struct MockStore {
    /// Expectations for [`ReplyQueue`] calls.
    pub queue: MockReplyQueue,
    /// Expectations for [`SenderHistory`] calls.
    pub history: MockSenderHistory,
    /// Expectations for [`OptOutStore`] calls.
    pub opt_outs: MockOptOutStore,
    /// Expectations for [`SpendLedger`] calls.
    pub ledger: MockSpendLedger,
    /// Expectations for [`Counters`] calls.
    pub counters: MockCounters,
}

impl MockStore {
    /// A mock with no expectations (any call panics).
    pub fn new() -> Self {
        Self::default()
    }

    /// Verify and clear the expectations of every inner mock.
    pub fn checkpoint(&mut self) {
        self.queue.checkpoint();
        self.history.checkpoint();
        self.opt_outs.checkpoint();
        self.ledger.checkpoint();
        self.counters.checkpoint();
    }
}

#[async_trait]
impl ReplyQueue for MockStore {
    async fn schedule(&self, reply: NewReply, now: Timestamp) -> Result<ScheduleOutcome> {
        self.queue.schedule(reply, now).await
    }
    async fn claim_due(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedReply>> {
        self.queue.claim_due(now, lease, limit).await
    }
    async fn complete(&self, token: LeaseToken, provider_id: &str, now: Timestamp) -> Result<()> {
        self.queue.complete(token, provider_id, now).await
    }
    async fn retry_later(
        &self,
        token: LeaseToken,
        next_attempt_at: Timestamp,
        error: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.queue
            .retry_later(token, next_attempt_at, error, now)
            .await
    }
    async fn finish(
        &self,
        token: LeaseToken,
        state: TerminalState,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.queue.finish(token, state, reason, now).await
    }
    async fn release(&self, token: LeaseToken, now: Timestamp) -> Result<()> {
        ReplyQueue::release(&self.queue, token, now).await
    }
    async fn cancel_pending(
        &self,
        sender: &SenderHash,
        reason: &str,
        now: Timestamp,
    ) -> Result<u64> {
        self.queue.cancel_pending(sender, reason, now).await
    }
    async fn expire_overdue(&self, now: Timestamp) -> Result<u64> {
        self.queue.expire_overdue(now).await
    }
    async fn record_delivery(
        &self,
        provider_id: &str,
        state: DeliveryState,
        now: Timestamp,
    ) -> Result<bool> {
        self.queue.record_delivery(provider_id, state, now).await
    }
    async fn sent_from(&self, provider_id: &str) -> Result<Option<PhoneNumber>> {
        self.queue.sent_from(provider_id).await
    }
    async fn sent_to(&self, provider_id: &str) -> Result<Option<SenderHash>> {
        self.queue.sent_to(provider_id).await
    }
    async fn get(&self, id: ReplyId) -> Result<Option<ReplyRecord>> {
        self.queue.get(id).await
    }
    async fn queue_stats(&self, now: Timestamp) -> Result<QueueStats> {
        self.queue.queue_stats(now).await
    }
    async fn purge(&self, before: Timestamp) -> Result<u64> {
        self.queue.purge(before).await
    }
    async fn schedule_lesson(
        &self,
        reply: NewReply,
        window: Duration,
        now: Timestamp,
    ) -> Result<LessonSchedule> {
        self.queue.schedule_lesson(reply, window, now).await
    }
    async fn find_by_key(&self, idempotency_key: &str) -> Result<Option<ReplyId>> {
        self.queue.find_by_key(idempotency_key).await
    }
}

#[async_trait]
impl SenderHistory for MockStore {
    async fn record_contact(
        &self,
        sender: &SenderHash,
        channel: Channel,
        now: Timestamp,
    ) -> Result<Option<SenderRecord>> {
        self.history.record_contact(sender, channel, now).await
    }
    async fn try_begin_lesson(
        &self,
        sender: &SenderHash,
        window: Duration,
        now: Timestamp,
    ) -> Result<bool> {
        self.history.try_begin_lesson(sender, window, now).await
    }
    async fn sender(&self, sender: &SenderHash) -> Result<Option<SenderRecord>> {
        self.history.sender(sender).await
    }
    async fn release_lesson(&self, sender: &SenderHash, began_at: Timestamp) -> Result<bool> {
        self.history.release_lesson(sender, began_at).await
    }
    async fn purge_senders(&self, before: Timestamp) -> Result<u64> {
        self.history.purge_senders(before).await
    }
}

#[async_trait]
impl OptOutStore for MockStore {
    async fn set_opted_out(
        &self,
        sender: &SenderHash,
        opted_out: bool,
        now: Timestamp,
    ) -> Result<()> {
        self.opt_outs.set_opted_out(sender, opted_out, now).await
    }
    async fn is_opted_out(&self, sender: &SenderHash) -> Result<bool> {
        self.opt_outs.is_opted_out(sender).await
    }
}

#[async_trait]
impl SpendLedger for MockStore {
    async fn reserve(
        &self,
        amount: Money,
        caps: &SpendCaps,
        now: Timestamp,
    ) -> Result<Reservation> {
        self.ledger.reserve(amount, caps, now).await
    }
    async fn settle(&self, reservation: &Reservation, actual: Money) -> Result<()> {
        self.ledger.settle(reservation, actual).await
    }
    async fn release(&self, reservation: &Reservation) -> Result<()> {
        SpendLedger::release(&self.ledger, reservation).await
    }
    async fn record(&self, amount: Money, now: Timestamp) -> Result<()> {
        self.ledger.record(amount, now).await
    }
    async fn spend(&self, now: Timestamp) -> Result<SpendSummary> {
        self.ledger.spend(now).await
    }
}

#[async_trait]
impl Counters for MockStore {
    async fn incr(&self, name: &str, by: u64) -> Result<()> {
        self.counters.incr(name, by).await
    }
    async fn counters(&self) -> Result<BTreeMap<String, u64>> {
        self.counters.counters().await
    }
}

mock! {
    /// A mock [`AbusePolicy`] (both `check` and `recheck` are mocked).
    pub AbusePolicy {}

    impl AbusePolicy for AbusePolicy {
        fn check(&self, contact: &Contact) -> Decision;
        fn recheck(&self, contact: &Contact) -> Decision;
    }
}

mock! {
    /// A mock [`Clock`].
    pub Clock {}

    impl Clock for Clock {
        fn now(&self) -> Timestamp;
    }
}

mock! {
    /// A mock [`InboundHandler`].
    pub InboundHandler {}

    #[async_trait]
    impl InboundHandler for InboundHandler {
        async fn handle_sms(&self, sms: InboundSms) -> Result<SmsOutcome>;
        async fn handle_call(&self, call: InboundCall) -> Result<VoiceScript>;
        async fn handle_delivery(&self, report: DeliveryReport) -> Result<()>;
    }
}

/// `Debug` for mocks: the traits that require it ([`SmsTransport`], [`AbusePolicy`], [`Clock`],
/// [`Store`](crate::store::Store)) can then be mocked.
macro_rules! debug_mock {
    ($($t:ident),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($t))
            }
        }
    )*};
}

debug_mock!(
    MockSmsTransport,
    MockReplyQueue,
    MockSenderHistory,
    MockOptOutStore,
    MockSpendLedger,
    MockCounters,
    MockStore,
    MockAbusePolicy,
    MockClock,
    MockInboundHandler
);

/// The combined inbound-text operations use the trait's default bodies.
impl crate::store::Store for MockStore {}
