//! The store of a simulated run: [`InMemoryStore`] with its bulk expiry throttled.
//!
//! The dispatcher calls [`ReplyQueue::expire_overdue`] on every tick, and the in-memory store
//! answers it by scanning every pending reply. With a million replies pending (a naive number
//! under a spoofed flood) and a tick every virtual minute, that scan dominated the run. Here it
//! runs at most once per `every` of virtual time. Nothing else changes: a reply past its deadline
//! is still expired, either by the next bulk pass or by the dispatcher itself, which checks the
//! deadline of every reply it claims before sending.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use antirelou_core::event::{Channel, DeliveryState};
use antirelou_core::memory::InMemoryStore;
use antirelou_core::privacy::SenderHash;
use antirelou_core::store::{
    ClaimedReply, Counters, LeaseToken, LessonSchedule, NewReply, OptOutStore, QueueStats, ReplyId,
    ReplyQueue, ReplyRecord, Reservation, ScheduleOutcome, SenderHistory, SenderRecord, SpendCaps,
    SpendLedger, SpendSummary, TerminalState,
};
use antirelou_core::{Money, Result, Timestamp};
use async_trait::async_trait;

#[derive(Debug)]
pub(crate) struct SimStore {
    inner: InMemoryStore,
    every_ms: i64,
    next_expire: AtomicI64,
}

impl SimStore {
    pub(crate) fn new(every: Duration) -> Self {
        SimStore {
            inner: InMemoryStore::new(),
            every_ms: i64::try_from(every.as_millis()).unwrap_or(i64::MAX),
            next_expire: AtomicI64::new(i64::MIN),
        }
    }
}

#[async_trait]
impl ReplyQueue for SimStore {
    async fn schedule(&self, reply: NewReply, now: Timestamp) -> Result<ScheduleOutcome> {
        self.inner.schedule(reply, now).await
    }
    async fn claim_due(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedReply>> {
        self.inner.claim_due(now, lease, limit).await
    }
    async fn complete(&self, token: LeaseToken, provider_id: &str, now: Timestamp) -> Result<()> {
        self.inner.complete(token, provider_id, now).await
    }
    async fn retry_later(
        &self,
        token: LeaseToken,
        next: Timestamp,
        error: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.inner.retry_later(token, next, error, now).await
    }
    async fn finish(
        &self,
        token: LeaseToken,
        state: TerminalState,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.inner.finish(token, state, reason, now).await
    }
    async fn release(&self, token: LeaseToken, now: Timestamp) -> Result<()> {
        ReplyQueue::release(&self.inner, token, now).await
    }
    async fn cancel_pending(
        &self,
        sender: &SenderHash,
        reason: &str,
        now: Timestamp,
    ) -> Result<u64> {
        self.inner.cancel_pending(sender, reason, now).await
    }
    async fn expire_overdue(&self, now: Timestamp) -> Result<u64> {
        let t = now.as_millis();
        if t < self.next_expire.load(Ordering::Relaxed) {
            return Ok(0);
        }
        self.next_expire
            .store(t.saturating_add(self.every_ms), Ordering::Relaxed);
        self.inner.expire_overdue(now).await
    }
    async fn record_delivery(
        &self,
        provider_id: &str,
        state: DeliveryState,
        now: Timestamp,
    ) -> Result<bool> {
        self.inner.record_delivery(provider_id, state, now).await
    }
    async fn get(&self, id: ReplyId) -> Result<Option<ReplyRecord>> {
        self.inner.get(id).await
    }
    async fn queue_stats(&self, now: Timestamp) -> Result<QueueStats> {
        self.inner.queue_stats(now).await
    }
    async fn purge(&self, before: Timestamp) -> Result<u64> {
        self.inner.purge(before).await
    }
    async fn schedule_lesson(
        &self,
        reply: NewReply,
        window: Duration,
        now: Timestamp,
    ) -> Result<LessonSchedule> {
        self.inner.schedule_lesson(reply, window, now).await
    }
    async fn find_by_key(&self, idempotency_key: &str) -> Result<Option<ReplyId>> {
        self.inner.find_by_key(idempotency_key).await
    }
}

#[async_trait]
impl SenderHistory for SimStore {
    async fn record_contact(
        &self,
        sender: &SenderHash,
        channel: Channel,
        now: Timestamp,
    ) -> Result<Option<SenderRecord>> {
        self.inner.record_contact(sender, channel, now).await
    }
    async fn try_begin_lesson(
        &self,
        sender: &SenderHash,
        window: Duration,
        now: Timestamp,
    ) -> Result<bool> {
        self.inner.try_begin_lesson(sender, window, now).await
    }
    async fn sender(&self, sender: &SenderHash) -> Result<Option<SenderRecord>> {
        self.inner.sender(sender).await
    }
    async fn release_lesson(&self, sender: &SenderHash, began_at: Timestamp) -> Result<bool> {
        self.inner.release_lesson(sender, began_at).await
    }
    async fn purge_senders(&self, before: Timestamp) -> Result<u64> {
        self.inner.purge_senders(before).await
    }
}

#[async_trait]
impl OptOutStore for SimStore {
    async fn set_opted_out(
        &self,
        sender: &SenderHash,
        opted_out: bool,
        now: Timestamp,
    ) -> Result<()> {
        self.inner.set_opted_out(sender, opted_out, now).await
    }
    async fn is_opted_out(&self, sender: &SenderHash) -> Result<bool> {
        self.inner.is_opted_out(sender).await
    }
}

#[async_trait]
impl SpendLedger for SimStore {
    async fn reserve(
        &self,
        amount: Money,
        caps: &SpendCaps,
        now: Timestamp,
    ) -> Result<Reservation> {
        self.inner.reserve(amount, caps, now).await
    }
    async fn settle(&self, reservation: &Reservation, actual: Money) -> Result<()> {
        self.inner.settle(reservation, actual).await
    }
    async fn release(&self, reservation: &Reservation) -> Result<()> {
        SpendLedger::release(&self.inner, reservation).await
    }
    async fn record(&self, amount: Money, now: Timestamp) -> Result<()> {
        self.inner.record(amount, now).await
    }
    async fn spend(&self, now: Timestamp) -> Result<SpendSummary> {
        self.inner.spend(now).await
    }
}

#[async_trait]
impl Counters for SimStore {
    async fn incr(&self, name: &str, by: u64) -> Result<()> {
        self.inner.incr(name, by).await
    }
    async fn counters(&self) -> Result<BTreeMap<String, u64>> {
        self.inner.counters().await
    }
}

/// The combined inbound-text operations use the trait's default bodies.
impl antirelou_core::store::Store for SimStore {}
