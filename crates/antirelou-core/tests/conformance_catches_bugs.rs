//! The conformance suite must be able to fail: each test here wraps the in-memory store with one
//! classic backend bug and checks that the suite's test for that rule panics.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use antirelou_core::conformance;
use antirelou_core::event::{Channel, DeliveryState};
use antirelou_core::memory::InMemoryStore;
use antirelou_core::privacy::SenderHash;
use antirelou_core::store::{
    ClaimedReply, LeaseToken, LessonSchedule, NewReply, QueueStats, ReplyId, ReplyQueue,
    ReplyRecord, ScheduleOutcome, SenderHistory, SenderRecord, TerminalState,
};
use antirelou_core::{PhoneNumber, Result, Timestamp};
use async_trait::async_trait;
use parking_lot::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bug {
    /// No bug.
    None,
    /// `claim_due` claims a day ahead.
    ClaimsEarly,
    /// A stale token is upgraded to the current attempt (no fencing).
    NoFencing,
    /// Terminal replies keep their plain number.
    KeepsRecipient,
    /// `claim_due` hands the previous batch out a second time.
    HandsOutTwice,
    /// `try_begin_lesson` reads, yields, then writes.
    RacyLessonSlot,
    /// `schedule_lesson` checks the key and the slot, yields, then writes.
    RacyScheduleLesson,
    /// `release_lesson` frees the slot whatever lesson it holds.
    ReleasesAnyLesson,
    /// `sent_to` does not find the sender of a sent reply.
    ForgetsSentTo,
}

#[derive(Debug)]
struct Broken {
    inner: InMemoryStore,
    bug: Bug,
    recipients: Mutex<HashMap<ReplyId, PhoneNumber>>,
    last_batch: Mutex<Vec<ClaimedReply>>,
}

impl Broken {
    fn new(bug: Bug) -> Self {
        Broken {
            inner: InMemoryStore::new(),
            bug,
            recipients: Mutex::default(),
            last_batch: Mutex::default(),
        }
    }

    /// With `NoFencing`, any token of the right reply works.
    async fn token(&self, token: LeaseToken) -> LeaseToken {
        if self.bug == Bug::NoFencing
            && let Some(rec) = self.inner.get(token.id).await.unwrap()
        {
            return LeaseToken {
                id: token.id,
                attempt: rec.attempt,
            };
        }
        token
    }
}

#[async_trait]
impl ReplyQueue for Broken {
    async fn schedule(&self, reply: NewReply, now: Timestamp) -> Result<ScheduleOutcome> {
        let recipient = reply.recipient.clone();
        let out = self.inner.schedule(reply, now).await?;
        self.recipients.lock().insert(out.id(), recipient);
        Ok(out)
    }
    async fn claim_due(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedReply>> {
        let at = if self.bug == Bug::ClaimsEarly {
            now.add(Duration::from_secs(86_400))
        } else {
            now
        };
        let mut batch = self.inner.claim_due(at, lease, limit).await?;
        if self.bug == Bug::HandsOutTwice {
            let previous = std::mem::replace(&mut *self.last_batch.lock(), batch.clone());
            batch.extend(previous);
        }
        if self.bug == Bug::ClaimsEarly {
            for c in &mut batch {
                c.lease_until = now.add(lease);
            }
        }
        Ok(batch)
    }
    async fn complete(&self, token: LeaseToken, provider_id: &str, now: Timestamp) -> Result<()> {
        self.inner
            .complete(self.token(token).await, provider_id, now)
            .await
    }
    async fn retry_later(
        &self,
        token: LeaseToken,
        next: Timestamp,
        error: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.inner
            .retry_later(self.token(token).await, next, error, now)
            .await
    }
    async fn finish(
        &self,
        token: LeaseToken,
        state: TerminalState,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.inner
            .finish(self.token(token).await, state, reason, now)
            .await
    }
    async fn release(&self, token: LeaseToken, now: Timestamp) -> Result<()> {
        ReplyQueue::release(&self.inner, self.token(token).await, now).await
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
    async fn sent_from(&self, provider_id: &str) -> Result<Option<PhoneNumber>> {
        self.inner.sent_from(provider_id).await
    }
    async fn sent_to(&self, provider_id: &str) -> Result<Option<SenderHash>> {
        if self.bug == Bug::ForgetsSentTo {
            return Ok(None);
        }
        self.inner.sent_to(provider_id).await
    }
    async fn get(&self, id: ReplyId) -> Result<Option<ReplyRecord>> {
        let mut rec = self.inner.get(id).await?;
        if self.bug == Bug::KeepsRecipient
            && let Some(r) = rec.as_mut()
        {
            r.recipient = self.recipients.lock().get(&id).cloned();
        }
        Ok(rec)
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
        if self.bug != Bug::RacyScheduleLesson {
            return self.inner.schedule_lesson(reply, window, now).await;
        }
        if let Some(id) = self.inner.find_by_key(&reply.idempotency_key).await? {
            return Ok(LessonSchedule::Duplicate(id));
        }
        let taught = self
            .inner
            .sender(&reply.sender)
            .await?
            .and_then(|r| r.last_lesson_at)
            .is_some_and(|t| t > now.sub(window));
        tokio::task::yield_now().await;
        if taught {
            return Ok(LessonSchedule::AlreadyTaught);
        }
        // Write without re-checking.
        self.inner
            .try_begin_lesson(&reply.sender, Duration::ZERO, now)
            .await?;
        Ok(match self.inner.schedule(reply, now).await? {
            ScheduleOutcome::Scheduled(id) => LessonSchedule::Scheduled(id),
            ScheduleOutcome::Duplicate(id) => LessonSchedule::Duplicate(id),
        })
    }
    async fn find_by_key(&self, key: &str) -> Result<Option<ReplyId>> {
        self.inner.find_by_key(key).await
    }
}

#[async_trait]
impl SenderHistory for Broken {
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
        if self.bug != Bug::RacyLessonSlot {
            return self.inner.try_begin_lesson(sender, window, now).await;
        }
        let taken = self
            .inner
            .sender(sender)
            .await?
            .and_then(|r| r.last_lesson_at)
            .is_some_and(|t| t > now.sub(window));
        tokio::task::yield_now().await;
        if taken {
            return Ok(false);
        }
        // Write without re-checking.
        self.inner
            .try_begin_lesson(sender, Duration::ZERO, now)
            .await
    }
    async fn sender(&self, sender: &SenderHash) -> Result<Option<SenderRecord>> {
        self.inner.sender(sender).await
    }
    async fn release_lesson(&self, sender: &SenderHash, began_at: Timestamp) -> Result<bool> {
        if self.bug == Bug::ReleasesAnyLesson
            && let Some(t) = self
                .inner
                .sender(sender)
                .await?
                .and_then(|r| r.last_lesson_at)
        {
            return self.inner.release_lesson(sender, t).await;
        }
        self.inner.release_lesson(sender, began_at).await
    }
    async fn purge_senders(&self, before: Timestamp) -> Result<u64> {
        self.inner.purge_senders(before).await
    }
}

#[tokio::test]
async fn the_wrapper_without_a_bug_passes() {
    // So that each failure below is the bug's doing, not the wrapper's.
    let store = Broken::new(Bug::None);
    conformance::queue_claim_only_due(&store).await;
    conformance::queue_lease_expiry_takeover(&store).await;
    conformance::queue_terminal_erases_recipient(&store).await;
    conformance::queue_concurrent_claims(&store).await;
    conformance::history_concurrent_lesson(&store).await;
    conformance::queue_schedule_lesson(&store).await;
    conformance::queue_schedule_lesson_concurrent(&store).await;
    conformance::history_release_lesson(&store).await;
}

#[tokio::test]
#[should_panic(expected = "16 concurrent messages from one sender")]
async fn catches_a_racy_schedule_lesson() {
    conformance::queue_schedule_lesson_concurrent(&Broken::new(Bug::RacyScheduleLesson)).await;
}

#[tokio::test]
#[should_panic(expected = "release with another began_at must not free the slot")]
async fn catches_a_release_of_another_lesson() {
    conformance::history_release_lesson(&Broken::new(Bug::ReleasesAnyLesson)).await;
}

#[tokio::test]
#[should_panic(expected = "conformance::queue_claim_only_due: claimed a reply before its due_at")]
async fn catches_claims_before_due_at() {
    conformance::queue_claim_only_due(&Broken::new(Bug::ClaimsEarly)).await;
}

#[tokio::test]
#[should_panic(expected = "conformance::queue_lease_expiry_takeover: complete with a stale token")]
async fn catches_missing_fencing() {
    conformance::queue_lease_expiry_takeover(&Broken::new(Bug::NoFencing)).await;
}

#[tokio::test]
#[should_panic(
    expected = "conformance::queue_terminal_erases_recipient: complete must erase the plain recipient"
)]
async fn catches_a_kept_recipient() {
    conformance::queue_terminal_erases_recipient(&Broken::new(Bug::KeepsRecipient)).await;
}

#[tokio::test]
#[should_panic(expected = "was claimed twice by concurrent claimers")]
async fn catches_a_reply_handed_out_twice() {
    conformance::queue_concurrent_claims(&Broken::new(Bug::HandsOutTwice)).await;
}

#[tokio::test]
#[should_panic(
    expected = "of 16 concurrent try_begin_lesson calls for one unknown sender returned true"
)]
async fn catches_a_racy_lesson_slot() {
    conformance::history_concurrent_lesson(&Broken::new(Bug::RacyLessonSlot)).await;
}

#[tokio::test]
#[should_panic(
    expected = "conformance::queue_record_delivery: sent_to must give the sender the reply was sent to"
)]
async fn catches_a_forgotten_sent_to() {
    conformance::queue_record_delivery(&Broken::new(Bug::ForgetsSentTo)).await;
}
