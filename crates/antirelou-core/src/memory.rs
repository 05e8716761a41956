//! [`InMemoryStore`]: a complete, non-durable implementation of every storage trait.
//!
//! It is the reference implementation of the contracts in [`crate::store`]: every method takes
//! one [`parking_lot::Mutex`] around the whole state, so each call is atomic and the code reads
//! like the contract. It passes the same conformance suite (`antirelou_core::conformance`, feature `testing`) as the SQLite and
//! PostgreSQL backends, and is what tests, examples and the simulator use.
//!
//! Nothing survives the process: "durable" in the contracts means "stored in this value".
//!
//! ```
//! use antirelou_core::memory::InMemoryStore;
//! use antirelou_core::store::{NewReply, ReplyKind, ReplyQueue, ScheduleOutcome};
//! use antirelou_core::privacy::SenderHash;
//! use antirelou_core::{PhoneNumber, Timestamp};
//! use std::time::Duration;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = InMemoryStore::new();
//! let now = Timestamp::from_secs(1_509_364_800);
//! let reply = NewReply {
//!     idempotency_key: "twilio:SM123:lesson".into(),
//!     number: PhoneNumber::parse("+33757000000").unwrap(),
//!     recipient: PhoneNumber::parse("+33612345678").unwrap(),
//!     sender: SenderHash([7; 16]),
//!     kind: ReplyKind::Lesson,
//!     due_at: now.add(Duration::from_secs(3600)),
//!     expires_at: now.add(Duration::from_secs(6 * 3600)),
//! };
//! let first = store.schedule(reply.clone(), now).await.unwrap();
//! assert!(matches!(first, ScheduleOutcome::Scheduled(_)));
//! assert_eq!(store.schedule(reply, now).await.unwrap(), ScheduleOutcome::Duplicate(first.id()));
//!
//! // Not due yet; due an hour later.
//! assert!(store.claim_due(now, Duration::from_secs(60), 10).await.unwrap().is_empty());
//! let later = now.add(Duration::from_secs(3600));
//! let claimed = store.claim_due(later, Duration::from_secs(60), 10).await.unwrap();
//! assert_eq!(claimed.len(), 1);
//! store.complete(claimed[0].token, "SM-out", later).await.unwrap();
//! assert_eq!(store.get(first.id()).await.unwrap().unwrap().recipient, None);
//! # });
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::event::{Channel, DeliveryState};
use crate::money::Money;
use crate::phone::PhoneNumber;
use crate::privacy::SenderHash;
use crate::store::{
    ClaimedReply, Counters, LeaseToken, LessonSchedule, NewReply, OptOutStore, QueueStats, ReplyId,
    ReplyKind, ReplyQueue, ReplyRecord, ReplyState, Reservation, ScheduleOutcome, SenderHistory,
    SenderRecord, SpendCaps, SpendLedger, SpendSummary, TerminalState,
};

/// The reason stored on replies that [`ReplyQueue::expire_overdue`] ends.
pub const EXPIRED_REASON: &str = "expired before it could be sent";

/// A complete in-memory implementation of [`ReplyQueue`], [`SenderHistory`], [`OptOutStore`],
/// [`SpendLedger`] and [`Counters`] (hence of [`Store`](crate::store::Store)).
///
/// * **Atomic**: each method runs under one mutex, so every contract that says "atomic" or
///   "under concurrency" holds trivially.
/// * **Cheap to clone**: the state lives behind an [`Arc`]; clones share it. Hand clones to the
///   engine and keep one to inspect the state in tests.
/// * **Private**: its `Debug` shows only counts, never a number.
/// * **Settling or releasing** a reservation id that is unknown or already settled/released is a
///   no-op that returns `Ok(())`.
/// * **Purging** a reply also forgets its idempotency key and provider id.
#[derive(Clone, Default)]
pub struct InMemoryStore {
    inner: Arc<Mutex<Inner>>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many replies are stored, in any state (purged ones excluded).
    pub fn reply_count(&self) -> usize {
        self.inner.lock().replies.len()
    }

    /// The highest reply id issued so far (0: none), purged replies included: every stored reply
    /// has an id in `1..=last_reply_id()`.
    pub fn last_reply_id(&self) -> ReplyId {
        self.inner.lock().next_id
    }

    /// How many reservations are open (neither settled nor released).
    pub fn open_reservations(&self) -> usize {
        self.inner.lock().reservations.len()
    }
}

impl fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `try_lock`: formatting while the same thread holds the lock must not deadlock.
        match self.inner.try_lock() {
            Some(inner) => f
                .debug_struct("InMemoryStore")
                .field("replies", &inner.replies.len())
                .field("pending", &inner.pending.len())
                .field("claimed", &inner.claimed.len())
                .field("senders", &inner.senders.len())
                .field("opt_outs", &inner.opt_outs.values().filter(|o| **o).count())
                .field("open_reservations", &inner.reservations.len())
                .field("counters", &inner.counters.len())
                .finish(),
            None => f.write_str("InMemoryStore { <locked> }"),
        }
    }
}

/// One reply and its bookkeeping.
#[derive(Clone)]
struct Item {
    key: String,
    state: ReplyState,
    attempt: u32,
    kind: ReplyKind,
    number: PhoneNumber,
    /// `None` once the reply is terminal.
    recipient: Option<PhoneNumber>,
    sender: SenderHash,
    due_at: Timestamp,
    expires_at: Timestamp,
    /// Set while claimed.
    lease_until: Option<Timestamp>,
    provider_id: Option<String>,
    last_error: Option<String>,
    delivery: Option<DeliveryState>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl Item {
    fn record(&self, id: ReplyId) -> ReplyRecord {
        ReplyRecord {
            id,
            state: self.state,
            attempt: self.attempt,
            kind: self.kind,
            number: self.number.clone(),
            recipient: self.recipient.clone(),
            sender: self.sender,
            due_at: self.due_at,
            expires_at: self.expires_at,
            provider_id: self.provider_id.clone(),
            last_error: self.last_error.clone(),
            delivery: self.delivery,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Default)]
struct Inner {
    next_id: ReplyId,
    replies: BTreeMap<ReplyId, Item>,
    keys: HashMap<String, ReplyId>,
    by_provider: HashMap<String, ReplyId>,
    /// Pending replies by `(due_at, id)`.
    pending: BTreeSet<(Timestamp, ReplyId)>,
    /// The same pending replies by `(expires_at, id)`, so that `expire_overdue` visits only the
    /// overdue ones (a flood can leave a million replies pending).
    expiring: BTreeSet<(Timestamp, ReplyId)>,
    /// Claimed replies by `(lease_until, id)`.
    claimed: BTreeSet<(Timestamp, ReplyId)>,
    senders: HashMap<SenderHash, SenderRecord>,
    opt_outs: HashMap<SenderHash, bool>,
    next_reservation: u64,
    reservations: HashMap<u64, Reservation>,
    day_spend: HashMap<u32, Money>,
    month_spend: HashMap<u32, Money>,
    counters: BTreeMap<String, u64>,
}

impl Inner {
    /// Index a pending item.
    fn pend(&mut self, id: ReplyId, due_at: Timestamp, expires_at: Timestamp) {
        self.pending.insert((due_at, id));
        self.expiring.insert((expires_at, id));
    }

    /// Take an item out of the pending indexes.
    fn unpend(&mut self, id: ReplyId, due_at: Timestamp, expires_at: Timestamp) {
        self.pending.remove(&(due_at, id));
        self.expiring.remove(&(expires_at, id));
    }

    /// The item held by `token`, if the token is the current claim; else `LeaseLost`.
    fn fenced(&mut self, token: LeaseToken) -> Result<&mut Item> {
        let lost = Error::LeaseLost {
            reply_id: token.id,
            attempt: token.attempt,
        };
        match self.replies.get_mut(&token.id) {
            Some(item) if item.state == ReplyState::Claimed && item.attempt == token.attempt => {
                Ok(item)
            }
            _ => Err(lost),
        }
    }

    /// Take a claimed item out of the claimed index (its lease ends).
    fn unclaim(&mut self, id: ReplyId) {
        if let Some(lease) = self.replies.get_mut(&id).and_then(|i| i.lease_until.take()) {
            self.claimed.remove(&(lease, id));
        }
    }

    /// Move a pending or claimed item to a terminal state and erase its plain number.
    fn terminate(&mut self, id: ReplyId, state: ReplyState, reason: Option<&str>, now: Timestamp) {
        self.unclaim(id);
        if let Some(item) = self.replies.get_mut(&id) {
            if item.state == ReplyState::Pending {
                self.pending.remove(&(item.due_at, id));
                self.expiring.remove(&(item.expires_at, id));
            }
            item.state = state;
            item.recipient = None;
            if let Some(r) = reason {
                item.last_error = Some(r.to_owned());
            }
            item.updated_at = now;
        }
    }

    /// Store a new pending reply under a fresh id (the key is known to be new).
    fn insert(&mut self, reply: NewReply, now: Timestamp) -> ReplyId {
        self.next_id += 1;
        let id = self.next_id;
        self.keys.insert(reply.idempotency_key.clone(), id);
        self.pend(id, reply.due_at, reply.expires_at);
        self.replies.insert(
            id,
            Item {
                key: reply.idempotency_key,
                state: ReplyState::Pending,
                attempt: 0,
                kind: reply.kind,
                number: reply.number,
                recipient: Some(reply.recipient),
                sender: reply.sender,
                due_at: reply.due_at,
                expires_at: reply.expires_at,
                lease_until: None,
                provider_id: None,
                last_error: None,
                delivery: None,
                created_at: now,
                updated_at: now,
            },
        );
        id
    }

    /// Take `sender`'s lesson slot at `now` unless a lesson began in `(now - window, now]`.
    fn begin_lesson(&mut self, sender: &SenderHash, window: Duration, now: Timestamp) -> bool {
        let record = self.senders.entry(*sender).or_insert(SenderRecord {
            first_seen: now,
            last_seen: now,
            contacts: 0,
            last_lesson_at: None,
        });
        // Taken when a lesson began in `(now - window, now]` (or, with a clock that went back,
        // later than that).
        if record.last_lesson_at.is_some_and(|t| t > now.sub(window)) {
            return false;
        }
        record.last_lesson_at = Some(now);
        true
    }

    /// Free `sender`'s slot if it still holds the lesson begun at `began_at`.
    fn release_lesson(&mut self, sender: &SenderHash, began_at: Timestamp) -> bool {
        match self.senders.get_mut(sender) {
            Some(r) if r.last_lesson_at == Some(began_at) => {
                r.last_lesson_at = None;
                true
            }
            _ => false,
        }
    }

    /// Make a claimed item pending again, due at `due_at`.
    fn repend(&mut self, id: ReplyId, due_at: Timestamp, now: Timestamp) {
        self.unclaim(id);
        if let Some(item) = self.replies.get_mut(&id) {
            item.state = ReplyState::Pending;
            item.due_at = due_at;
            item.updated_at = now;
            let expires_at = item.expires_at;
            self.pend(id, due_at, expires_at);
        }
    }
}

#[async_trait]
impl ReplyQueue for InMemoryStore {
    async fn schedule(&self, reply: NewReply, now: Timestamp) -> Result<ScheduleOutcome> {
        let mut inner = self.inner.lock();
        if let Some(&id) = inner.keys.get(&reply.idempotency_key) {
            return Ok(ScheduleOutcome::Duplicate(id));
        }
        let id = inner.insert(reply, now);
        Ok(ScheduleOutcome::Scheduled(id))
    }

    async fn schedule_lesson(
        &self,
        reply: NewReply,
        window: Duration,
        now: Timestamp,
    ) -> Result<LessonSchedule> {
        let mut inner = self.inner.lock();
        if let Some(&id) = inner.keys.get(&reply.idempotency_key) {
            return Ok(LessonSchedule::Duplicate(id));
        }
        if !inner.begin_lesson(&reply.sender, window, now) {
            return Ok(LessonSchedule::AlreadyTaught);
        }
        Ok(LessonSchedule::Scheduled(inner.insert(reply, now)))
    }

    async fn find_by_key(&self, idempotency_key: &str) -> Result<Option<ReplyId>> {
        Ok(self.inner.lock().keys.get(idempotency_key).copied())
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedReply>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut inner = self.inner.lock();
        // Candidates: the `limit` oldest due pending replies, and every claimed reply whose
        // lease ended; then oldest due first (ties by id) across both.
        let mut candidates: Vec<(Timestamp, ReplyId)> = inner
            .pending
            .iter()
            .take_while(|(due, _)| *due <= now)
            .take(limit)
            .copied()
            .collect();
        for &(lease_until, id) in inner.claimed.iter() {
            if lease_until > now {
                break;
            }
            if let Some(item) = inner.replies.get(&id) {
                candidates.push((item.due_at, id));
            }
        }
        candidates.sort_unstable();
        candidates.truncate(limit);

        let lease_until = now.add(lease);
        let mut out = Vec::with_capacity(candidates.len());
        for (_, id) in candidates {
            let Some(item) = inner.replies.get(&id) else {
                continue;
            };
            let (state, due_at, expires_at) = (item.state, item.due_at, item.expires_at);
            if state == ReplyState::Pending {
                inner.unpend(id, due_at, expires_at);
            } else {
                inner.unclaim(id);
            }
            inner.claimed.insert((lease_until, id));
            let Some(item) = inner.replies.get_mut(&id) else {
                continue;
            };
            item.state = ReplyState::Claimed;
            item.attempt = item.attempt.saturating_add(1);
            item.lease_until = Some(lease_until);
            item.updated_at = now;
            let Some(recipient) = item.recipient.clone() else {
                continue;
            };
            out.push(ClaimedReply {
                token: LeaseToken {
                    id,
                    attempt: item.attempt,
                },
                lease_until,
                number: item.number.clone(),
                recipient,
                sender: item.sender,
                kind: item.kind,
                due_at: item.due_at,
                expires_at: item.expires_at,
                created_at: item.created_at,
            });
        }
        Ok(out)
    }

    async fn complete(&self, token: LeaseToken, provider_id: &str, now: Timestamp) -> Result<()> {
        let mut inner = self.inner.lock();
        inner.fenced(token)?.provider_id = Some(provider_id.to_owned());
        inner.terminate(token.id, ReplyState::Sent, None, now);
        inner.by_provider.insert(provider_id.to_owned(), token.id);
        Ok(())
    }

    async fn retry_later(
        &self,
        token: LeaseToken,
        next_attempt_at: Timestamp,
        error: &str,
        now: Timestamp,
    ) -> Result<()> {
        let mut inner = self.inner.lock();
        inner.fenced(token)?.last_error = Some(error.to_owned());
        inner.repend(token.id, next_attempt_at, now);
        Ok(())
    }

    async fn finish(
        &self,
        token: LeaseToken,
        state: TerminalState,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        let mut inner = self.inner.lock();
        inner.fenced(token)?;
        inner.terminate(token.id, state.into(), Some(reason), now);
        Ok(())
    }

    async fn release(&self, token: LeaseToken, now: Timestamp) -> Result<()> {
        let mut inner = self.inner.lock();
        let due_at = inner.fenced(token)?.due_at;
        inner.repend(token.id, due_at, now);
        Ok(())
    }

    async fn cancel_pending(
        &self,
        sender: &SenderHash,
        reason: &str,
        now: Timestamp,
    ) -> Result<u64> {
        let mut inner = self.inner.lock();
        let ids: Vec<ReplyId> = inner
            .pending
            .iter()
            .filter(|(_, id)| inner.replies.get(id).is_some_and(|i| i.sender == *sender))
            .map(|&(_, id)| id)
            .collect();
        for &id in &ids {
            inner.terminate(id, ReplyState::Cancelled, Some(reason), now);
        }
        Ok(ids.len() as u64)
    }

    async fn expire_overdue(&self, now: Timestamp) -> Result<u64> {
        let mut inner = self.inner.lock();
        let ids: Vec<ReplyId> = inner
            .expiring
            .iter()
            .take_while(|(expires_at, _)| *expires_at <= now)
            .map(|&(_, id)| id)
            .collect();
        for &id in &ids {
            let lesson = inner
                .replies
                .get(&id)
                .filter(|i| i.kind == ReplyKind::Lesson)
                .map(|i| (i.sender, i.created_at));
            if let Some((sender, began_at)) = lesson {
                inner.release_lesson(&sender, began_at);
            }
            inner.terminate(id, ReplyState::Expired, Some(EXPIRED_REASON), now);
        }
        Ok(ids.len() as u64)
    }

    async fn record_delivery(
        &self,
        provider_id: &str,
        state: DeliveryState,
        _now: Timestamp,
    ) -> Result<bool> {
        let mut inner = self.inner.lock();
        let Some(&id) = inner.by_provider.get(provider_id) else {
            return Ok(false);
        };
        match inner.replies.get_mut(&id) {
            Some(item) => {
                item.delivery = Some(state);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn sent_from(&self, provider_id: &str) -> Result<Option<PhoneNumber>> {
        let inner = self.inner.lock();
        Ok(inner
            .by_provider
            .get(provider_id)
            .and_then(|id| inner.replies.get(id))
            .map(|item| item.number.clone()))
    }

    async fn sent_to(&self, provider_id: &str) -> Result<Option<SenderHash>> {
        let inner = self.inner.lock();
        Ok(inner
            .by_provider
            .get(provider_id)
            .and_then(|id| inner.replies.get(id))
            .map(|item| item.sender))
    }

    async fn get(&self, id: ReplyId) -> Result<Option<ReplyRecord>> {
        Ok(self
            .inner
            .lock()
            .replies
            .get(&id)
            .map(|item| item.record(id)))
    }

    async fn queue_stats(&self, now: Timestamp) -> Result<QueueStats> {
        let inner = self.inner.lock();
        Ok(QueueStats {
            pending: inner.pending.len() as u64,
            due: inner
                .pending
                .iter()
                .take_while(|(due, _)| *due <= now)
                .count() as u64,
            claimed: inner.claimed.len() as u64,
        })
    }

    async fn purge(&self, before: Timestamp) -> Result<u64> {
        let mut inner = self.inner.lock();
        let ids: Vec<ReplyId> = inner
            .replies
            .iter()
            .filter(|(_, i)| i.state.is_terminal() && i.updated_at < before)
            .map(|(&id, _)| id)
            .collect();
        for &id in &ids {
            if let Some(item) = inner.replies.remove(&id) {
                inner.keys.remove(&item.key);
                if let Some(pid) = item.provider_id
                    && inner.by_provider.get(&pid) == Some(&id)
                {
                    inner.by_provider.remove(&pid);
                }
            }
        }
        Ok(ids.len() as u64)
    }
}

#[async_trait]
impl SenderHistory for InMemoryStore {
    async fn record_contact(
        &self,
        sender: &SenderHash,
        _channel: Channel,
        now: Timestamp,
    ) -> Result<Option<SenderRecord>> {
        let mut inner = self.inner.lock();
        let previous = inner.senders.get(sender).copied();
        let next = match previous {
            Some(r) => SenderRecord {
                first_seen: r.first_seen,
                last_seen: now,
                contacts: r.contacts.saturating_add(1),
                last_lesson_at: r.last_lesson_at,
            },
            None => SenderRecord {
                first_seen: now,
                last_seen: now,
                contacts: 1,
                last_lesson_at: None,
            },
        };
        inner.senders.insert(*sender, next);
        Ok(previous)
    }

    async fn try_begin_lesson(
        &self,
        sender: &SenderHash,
        window: Duration,
        now: Timestamp,
    ) -> Result<bool> {
        Ok(self.inner.lock().begin_lesson(sender, window, now))
    }

    async fn sender(&self, sender: &SenderHash) -> Result<Option<SenderRecord>> {
        Ok(self.inner.lock().senders.get(sender).copied())
    }

    async fn release_lesson(&self, sender: &SenderHash, began_at: Timestamp) -> Result<bool> {
        Ok(self.inner.lock().release_lesson(sender, began_at))
    }

    async fn purge_senders(&self, before: Timestamp) -> Result<u64> {
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        let opt_outs = &inner.opt_outs;
        let n = inner.senders.len();
        inner.senders.retain(|h, r| {
            r.last_seen >= before
                || r.last_lesson_at.is_some_and(|t| t >= before)
                || opt_outs.get(h).copied().unwrap_or(false)
        });
        Ok((n - inner.senders.len()) as u64)
    }
}

#[async_trait]
impl OptOutStore for InMemoryStore {
    async fn set_opted_out(
        &self,
        sender: &SenderHash,
        opted_out: bool,
        _now: Timestamp,
    ) -> Result<()> {
        self.inner.lock().opt_outs.insert(*sender, opted_out);
        Ok(())
    }

    async fn is_opted_out(&self, sender: &SenderHash) -> Result<bool> {
        Ok(self
            .inner
            .lock()
            .opt_outs
            .get(sender)
            .copied()
            .unwrap_or(false))
    }
}

#[async_trait]
impl SpendLedger for InMemoryStore {
    async fn reserve(
        &self,
        amount: Money,
        caps: &SpendCaps,
        now: Timestamp,
    ) -> Result<Reservation> {
        let (day, month) = (now.day_key(), now.month_key());
        let mut inner = self.inner.lock();
        let day_total = inner.day_spend.get(&day).copied().unwrap_or_default();
        let month_total = inner.month_spend.get(&month).copied().unwrap_or_default();
        if caps.daily.is_some_and(|cap| day_total + amount > cap) {
            return Err(Error::BudgetExceeded { period: "daily" });
        }
        if caps.monthly.is_some_and(|cap| month_total + amount > cap) {
            return Err(Error::BudgetExceeded { period: "monthly" });
        }
        inner.next_reservation += 1;
        let reservation = Reservation {
            id: inner.next_reservation,
            amount,
            day,
            month,
        };
        inner.reservations.insert(reservation.id, reservation);
        *inner.day_spend.entry(day).or_default() += amount;
        *inner.month_spend.entry(month).or_default() += amount;
        Ok(reservation)
    }

    async fn settle(&self, reservation: &Reservation, actual: Money) -> Result<()> {
        let mut inner = self.inner.lock();
        // The stored reservation is the truth; an unknown or already closed id is a no-op.
        if let Some(r) = inner.reservations.remove(&reservation.id) {
            let delta = actual - r.amount;
            *inner.day_spend.entry(r.day).or_default() += delta;
            *inner.month_spend.entry(r.month).or_default() += delta;
        }
        Ok(())
    }

    async fn release(&self, reservation: &Reservation) -> Result<()> {
        let mut inner = self.inner.lock();
        if let Some(r) = inner.reservations.remove(&reservation.id) {
            *inner.day_spend.entry(r.day).or_default() += Money::ZERO - r.amount;
            *inner.month_spend.entry(r.month).or_default() += Money::ZERO - r.amount;
        }
        Ok(())
    }

    async fn record(&self, amount: Money, now: Timestamp) -> Result<()> {
        let mut inner = self.inner.lock();
        *inner.day_spend.entry(now.day_key()).or_default() += amount;
        *inner.month_spend.entry(now.month_key()).or_default() += amount;
        Ok(())
    }

    async fn spend(&self, now: Timestamp) -> Result<SpendSummary> {
        let inner = self.inner.lock();
        Ok(SpendSummary {
            day: inner
                .day_spend
                .get(&now.day_key())
                .copied()
                .unwrap_or_default(),
            month: inner
                .month_spend
                .get(&now.month_key())
                .copied()
                .unwrap_or_default(),
        })
    }
}

#[async_trait]
impl Counters for InMemoryStore {
    async fn incr(&self, name: &str, by: u64) -> Result<()> {
        let mut inner = self.inner.lock();
        match inner.counters.get_mut(name) {
            Some(v) => *v = v.saturating_add(by),
            None => {
                inner.counters.insert(name.to_owned(), by);
            }
        }
        Ok(())
    }

    async fn counters(&self) -> Result<BTreeMap<String, u64>> {
        Ok(self.inner.lock().counters.clone())
    }
}

/// The combined inbound-text operations use the trait's default bodies.
impl crate::store::Store for InMemoryStore {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn reply(key: &str, due: Timestamp) -> NewReply {
        NewReply {
            idempotency_key: key.into(),
            number: PhoneNumber::parse("+33757000000").unwrap(),
            recipient: PhoneNumber::parse("+33612345678").unwrap(),
            sender: SenderHash([3; 16]),
            kind: ReplyKind::Lesson,
            due_at: due,
            expires_at: due.add(Duration::from_secs(3600)),
        }
    }

    #[tokio::test]
    async fn debug_shows_counts_never_numbers_and_clones_share_state() {
        let store = InMemoryStore::new();
        let clone = store.clone();
        let t = Timestamp::from_secs(1_000);
        clone.schedule(reply("k", t), t).await.unwrap();
        assert_eq!(store.reply_count(), 1);
        let dbg = format!("{store:?}");
        assert!(
            dbg.contains("replies: 1") && dbg.contains("pending: 1"),
            "{dbg}"
        );
        assert!(
            !dbg.contains("612345678") && !dbg.contains("757000000"),
            "{dbg}"
        );
    }

    #[tokio::test]
    async fn last_reply_id_counts_purged_replies() {
        let store = InMemoryStore::new();
        assert_eq!(store.last_reply_id(), 0);
        let t = Timestamp::from_secs(1_000);
        store.schedule(reply("a", t), t).await.unwrap();
        store.schedule(reply("b", t), t).await.unwrap();
        let c = store
            .claim_due(t, Duration::from_secs(60), 1)
            .await
            .unwrap();
        store.complete(c[0].token, "SM1", t).await.unwrap();
        assert_eq!(store.purge(t.add(Duration::from_secs(1))).await.unwrap(), 1);
        assert_eq!(store.reply_count(), 1);
        assert_eq!(store.last_reply_id(), 2);
    }

    #[tokio::test]
    async fn purge_forgets_the_idempotency_key_and_provider_id() {
        let store = InMemoryStore::new();
        let t = Timestamp::from_secs(1_000);
        let id = store.schedule(reply("k", t), t).await.unwrap().id();
        let c = store
            .claim_due(t, Duration::from_secs(60), 1)
            .await
            .unwrap();
        store.complete(c[0].token, "SM1", t).await.unwrap();
        assert_eq!(store.purge(t.add(Duration::from_secs(1))).await.unwrap(), 1);
        assert!(
            !store
                .record_delivery("SM1", DeliveryState::Delivered, t)
                .await
                .unwrap()
        );
        let again = store.schedule(reply("k", t), t).await.unwrap();
        assert!(matches!(again, ScheduleOutcome::Scheduled(new) if new != id));
    }

    #[tokio::test]
    async fn a_lesson_slot_taken_in_the_future_is_taken() {
        // A clock that went backwards must not hand out a second lesson.
        let store = InMemoryStore::new();
        let s = SenderHash([9; 16]);
        let day = Duration::from_secs(86_400);
        assert!(
            store
                .try_begin_lesson(&s, day, Timestamp::from_secs(10_000))
                .await
                .unwrap()
        );
        assert!(
            !store
                .try_begin_lesson(&s, day, Timestamp::from_secs(5_000))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn settle_uses_the_stored_reservation_not_the_callers_copy() {
        let store = InMemoryStore::new();
        let t = Timestamp::from_secs(1_509_364_800);
        let r = store
            .reserve(Money::from_micros(100), &SpendCaps::default(), t)
            .await
            .unwrap();
        let forged = Reservation {
            amount: Money::from_micros(1_000_000),
            ..r
        };
        store.settle(&forged, Money::from_micros(40)).await.unwrap();
        assert_eq!(store.spend(t).await.unwrap().day, Money::from_micros(40));
        assert_eq!(store.open_reservations(), 0);
    }
}
