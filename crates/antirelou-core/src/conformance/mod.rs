//! The public conformance suite: the contracts of [`crate::store`] and [`crate::transport`] as
//! executable tests, which every backend and every provider adapter runs from its own tests.
//!
//! Modelled on `object_store::integration`: each function is an `async fn` that takes the
//! implementation under test and panics, with a message naming the test and the broken rule,
//! when the implementation does not honour its contract.
//!
//! # Storage backends
//!
//! ```
//! use antirelou_core::memory::InMemoryStore;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // In a backend's tests: `#[tokio::test] async fn conformance() { ... }`
//! let store = InMemoryStore::new();
//! antirelou_core::conformance::run_store_suite(&store).await;
//! # });
//! ```
//!
//! [`run_store_suite`] runs every store test in sequence against one store;
//! [`run_store_suite_fresh`] builds a fresh store for each test. Each test is also public, to run
//! or debug alone.
//!
//! ## Running against a shared, persistent database
//!
//! The suite is written to run against a database that already holds data, including leftovers
//! of earlier (even crashed) runs of the suite:
//!
//! * every idempotency key, sender hash, provider id and counter name is random;
//! * every queue test works in its own random time zone **before 1970** (negative
//!   [`Timestamp`]s between 1901 and 1969), where no real reply and no other test lives. Since
//!   `claim_due(now)` claims everything due up to `now`, each queue test first *sweeps* its zone:
//!   it claims whatever is due there (leftovers of an earlier run of the suite) and finishes it as
//!   cancelled. Other data (real timestamps, after 1970) is never claimed, expired or purged;
//! * spend assertions are relative to the spend already recorded for the day and month, and caps
//!   are set relative to it;
//! * `queue_stats` assertions are relative to the figures before the test;
//! * each test leaves every reply it created in a terminal state.
//!
//! What it **cannot** tolerate is another writer using the same tables *at the same time*: a
//! concurrent dispatcher test would claim the suite's replies. So run the whole suite inside one
//! `#[tokio::test]` (its tests then run sequentially), and give it a database or schema that no
//! other concurrently running test writes replies to (for PostgreSQL, a dedicated schema per test
//! binary is simplest). A multi-threaded runtime
//! (`#[tokio::test(flavor = "multi_thread", worker_threads = 4)]`) makes the concurrency tests
//! more searching.
//!
//! Backends must store timestamps before 1970 correctly (they are plain `i64` milliseconds).
//!
//! # Transports
//!
//! [`transport_accepts`], [`transport_classifies`] and [`transport_sends_concurrently`] check one
//! [`SmsTransport`] call against a fake provider the adapter's test controls: the test makes its
//! fake answer "accepted", "429 with Retry-After", "opted out"… and asserts the adapter's
//! classification with these functions. [`sample_sms`] builds test messages.
//!
//! ```
//! use antirelou_core::conformance::{self, ExpectedError};
//! use antirelou_core::stub::{FailureKind, StubTransport};
//! use std::time::Duration;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // With an adapter, the "fake provider" is a loopback HTTP server the test scripts.
//! let sender = StubTransport::new();
//! let sms = conformance::sample_sms("Hey, who is this?", "reply-1-attempt-1");
//! let receipt = conformance::transport_accepts(&sender, &sms).await;
//! assert_eq!(receipt.provider_id, "stub-1");
//!
//! sender.fail_next(1, FailureKind::Transient { retry_after: Some(Duration::from_secs(30)) });
//! let expected = ExpectedError::Transient { retry_after: Some(Duration::from_secs(30)) };
//! conformance::transport_classifies(&sender, &sms, expected).await;
//! # });
//! ```

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use chrono::{Datelike, NaiveDate};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::event::{Channel, DeliveryState};
use crate::money::Money;
use crate::phone::PhoneNumber;
use crate::privacy::SenderHash;
use crate::store::{
    ClaimedReply, Counters, LeaseToken, NewReply, OptOutStore, ReplyId, ReplyKind, ReplyQueue,
    ReplyRecord, ReplyState, Reservation, ScheduleOutcome, SenderHistory, SpendCaps, SpendLedger,
    SpendSummary, Store, TerminalState,
};
use crate::transport::{OutboundSms, SendReceipt, SmsTransport};

mod admit;
mod history;
mod ledger;
mod lessons;
mod queue;
mod transport;

pub use admit::*;
pub use history::*;
pub use ledger::*;
pub use lessons::*;
pub use queue::*;
pub use transport::*;

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/// Run every store test, in sequence, against one store.
///
/// See the [module documentation](self) for the rules when `store` is a shared database.
pub async fn run_store_suite<S: Store + ?Sized>(store: &S) {
    queue_schedule_idempotent(store).await;
    queue_schedule_concurrent(store).await;
    queue_claim_only_due(store).await;
    queue_lease_expiry_takeover(store).await;
    queue_fencing(store).await;
    queue_concurrent_claims(store).await;
    queue_retry_later(store).await;
    queue_release(store).await;
    queue_terminal_erases_recipient(store).await;
    queue_cancel_pending(store).await;
    queue_expire_overdue(store).await;
    queue_record_delivery(store).await;
    queue_purge(store).await;
    queue_stats(store).await;
    history_record_contact(store).await;
    history_concurrent_contacts(store).await;
    history_lesson_window(store).await;
    history_concurrent_lesson(store).await;
    queue_schedule_lesson(store).await;
    queue_schedule_lesson_concurrent(store).await;
    history_release_lesson(store).await;
    history_purge_senders(store).await;
    store_admit_text(store).await;
    opt_out_last_wins(store).await;
    ledger_reserve_within_daily_cap(store).await;
    ledger_monthly_cap(store).await;
    ledger_settle_and_release(store).await;
    ledger_record(store).await;
    ledger_day_rollover(store).await;
    ledger_concurrent_reserves(store).await;
    counters(store).await;
}

/// Run every store test, each against a fresh store from `make` (for backends where a fresh
/// store is cheap, such as SQLite in memory or in a temporary file).
pub async fn run_store_suite_fresh<S, F, Fut>(mut make: F)
where
    S: Store,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    queue_schedule_idempotent(&make().await).await;
    queue_schedule_concurrent(&make().await).await;
    queue_claim_only_due(&make().await).await;
    queue_lease_expiry_takeover(&make().await).await;
    queue_fencing(&make().await).await;
    queue_concurrent_claims(&make().await).await;
    queue_retry_later(&make().await).await;
    queue_release(&make().await).await;
    queue_terminal_erases_recipient(&make().await).await;
    queue_cancel_pending(&make().await).await;
    queue_expire_overdue(&make().await).await;
    queue_record_delivery(&make().await).await;
    queue_purge(&make().await).await;
    queue_stats(&make().await).await;
    history_record_contact(&make().await).await;
    history_concurrent_contacts(&make().await).await;
    history_lesson_window(&make().await).await;
    history_concurrent_lesson(&make().await).await;
    queue_schedule_lesson(&make().await).await;
    queue_schedule_lesson_concurrent(&make().await).await;
    history_release_lesson(&make().await).await;
    history_purge_senders(&make().await).await;
    store_admit_text(&make().await).await;
    opt_out_last_wins(&make().await).await;
    ledger_reserve_within_daily_cap(&make().await).await;
    ledger_monthly_cap(&make().await).await;
    ledger_settle_and_release(&make().await).await;
    ledger_record(&make().await).await;
    ledger_day_rollover(&make().await).await;
    ledger_concurrent_reserves(&make().await).await;
    counters(&make().await).await;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The lease the queue tests claim with.
const LEASE: Duration = Duration::from_secs(60);
/// The `now` of the sweep's `finish` calls: after every test zone, so that no test's `purge`
/// counts swept rows.
const SWEEP_AT: Timestamp = Timestamp::from_secs(-86_400);
/// How far after its base a queue test may claim (its sweep covers this much).
const ZONE_SPAN_SECS: i64 = 3 * 86_400;

/// Per-test context: the test's name (for panic messages), a random tag and a random base time.
struct Ctx {
    name: &'static str,
    tag: String,
    base: Timestamp,
    number: PhoneNumber,
}

impl Ctx {
    /// A context whose base is 01:00 UTC on a random day between 1901 and 1968.
    fn new(name: &'static str) -> Self {
        let year = rand::random_range(1901..=1968);
        let ordinal = rand::random_range(1..=360);
        let base = NaiveDate::from_yo_opt(year, ordinal)
            .and_then(|d| d.and_hms_opt(1, 0, 0))
            .map(|dt| Timestamp::from_datetime(dt.and_utc()))
            .unwrap_or(Timestamp::from_secs(-1_000_000_000));
        Self::with_base(name, base)
    }

    /// A context whose base is 01:00 UTC on the first day of a random month between 1901 and 1968.
    fn new_month(name: &'static str) -> Self {
        let base = month_start(rand::random_range(1901..=1968), rand::random_range(1..=12))
            .add(Duration::from_secs(3600));
        Self::with_base(name, base)
    }

    fn with_base(name: &'static str, base: Timestamp) -> Self {
        let number = parse("+33757000000");
        Ctx {
            name,
            tag: format!("{:016x}", rand::random::<u64>()),
            base,
            number,
        }
    }

    /// `base + secs`.
    fn at(&self, secs: i64) -> Timestamp {
        Timestamp::from_millis(
            self.base
                .as_millis()
                .saturating_add(secs.saturating_mul(1000)),
        )
    }

    /// A unique idempotency key.
    fn key(&self, label: &str) -> String {
        format!("conformance:{}:{}:{label}", self.name, self.tag)
    }

    /// A reply due at `base + due_secs`, expiring 6 hours later, to a random recipient.
    fn reply(&self, label: &str, sender: SenderHash, due_secs: i64) -> NewReply {
        let due_at = self.at(due_secs);
        NewReply {
            idempotency_key: self.key(label),
            number: self.number.clone(),
            recipient: random_mobile(),
            sender,
            kind: ReplyKind::Lesson,
            due_at,
            expires_at: due_at.add(Duration::from_secs(6 * 3600)),
        }
    }

    /// Unwrap a store result or panic naming the test and the call.
    fn ok<T>(&self, what: &str, r: Result<T>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => panic!("conformance::{}: {what} failed: {e} ({e:?})", self.name),
        }
    }

    async fn schedule<S: ReplyQueue + ?Sized>(&self, store: &S, reply: NewReply) -> ReplyId {
        match self.ok("schedule", store.schedule(reply, self.base).await) {
            ScheduleOutcome::Scheduled(id) => id,
            ScheduleOutcome::Duplicate(id) => panic!(
                "conformance::{}: schedule of a fresh random key returned Duplicate({id})",
                self.name
            ),
        }
    }

    async fn get<S: ReplyQueue + ?Sized>(&self, store: &S, id: ReplyId) -> ReplyRecord {
        match self.ok("get", store.get(id).await) {
            Some(r) => r,
            None => panic!(
                "conformance::{}: get({id}) returned None for a stored reply",
                self.name
            ),
        }
    }

    /// Claim at `now` and check that only this test's replies came back.
    async fn claim<S: ReplyQueue + ?Sized>(
        &self,
        store: &S,
        now: Timestamp,
        limit: usize,
        mine: &[ReplyId],
    ) -> Vec<ClaimedReply> {
        let claimed = self.ok("claim_due", store.claim_due(now, LEASE, limit).await);
        self.check_claims(&claimed, now, LEASE, mine);
        claimed
    }

    fn check_claims(
        &self,
        claimed: &[ClaimedReply],
        now: Timestamp,
        lease: Duration,
        mine: &[ReplyId],
    ) {
        for c in claimed {
            assert!(
                mine.contains(&c.token.id),
                "conformance::{}: claim_due at {now} returned reply {} that this test did not \
                 schedule (a reply not yet due, or another writer is using the database at the \
                 same time: the suite needs the database to itself while it runs)",
                self.name,
                c.token.id
            );
            assert_eq!(
                c.lease_until,
                now.add(lease),
                "conformance::{}: a claim at {now} with lease {lease:?} must set lease_until = now + lease",
                self.name
            );
        }
    }

    /// Claim whatever is due in this test's zone (leftovers of earlier runs) and cancel it.
    async fn sweep<S: ReplyQueue + ?Sized>(&self, store: &S) {
        let upto = self.at(ZONE_SPAN_SECS);
        for _ in 0..1_000 {
            let claimed = self.ok("claim_due (sweep)", store.claim_due(upto, LEASE, 500).await);
            if claimed.is_empty() {
                return;
            }
            for c in claimed {
                // Another sweeper may have raced us; a lost lease is fine here.
                let _ = store
                    .finish(
                        c.token,
                        TerminalState::Cancelled,
                        "conformance suite: leftover of an earlier run",
                        SWEEP_AT,
                    )
                    .await;
            }
        }
        panic!(
            "conformance::{}: the sweep of leftovers did not terminate",
            self.name
        );
    }

    fn assert_lease_lost(&self, what: &str, r: Result<()>, token: LeaseToken) {
        match r {
            Err(Error::LeaseLost { reply_id, attempt }) => assert_eq!(
                (reply_id, attempt),
                (token.id, token.attempt),
                "conformance::{}: {what}: LeaseLost must name the stale token's reply and attempt",
                self.name
            ),
            other => panic!(
                "conformance::{}: {what} with a stale token {token:?} must return LeaseLost, got {other:?}",
                self.name
            ),
        }
    }
}

fn parse(s: &str) -> PhoneNumber {
    match PhoneNumber::parse(s) {
        Ok(n) => n,
        Err(e) => panic!("conformance: test number {s} does not parse: {e}"),
    }
}

/// A random valid French mobile number (`+3361xxxxxxx`).
fn random_mobile() -> PhoneNumber {
    parse(&format!("+3361{:07}", rand::random_range(0..10_000_000u32)))
}

/// A random sender hash.
fn random_hash() -> SenderHash {
    SenderHash(rand::random())
}

/// 00:00 UTC on the first day of `month` of `year`.
fn month_start(year: i32, month: u32) -> Timestamp {
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| Timestamp::from_datetime(dt.and_utc()))
        .unwrap_or(Timestamp::from_secs(-1_000_000_000))
}

const DAY: i64 = 86_400;

/// Poll every future concurrently (in this task) and return their outputs in order. Against a
/// database the calls are genuinely concurrent: each holds its own connection and transaction.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => done = false,
                }
            }
        }
        if done { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
