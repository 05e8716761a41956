//! The public conformance suite: the contracts of [`crate::store`] and [`crate::sender`] as
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
//! # Senders
//!
//! [`sender_accepts`], [`sender_classifies`] and [`sender_sends_concurrently`] check one
//! [`SmsSender`] call against a fake provider the adapter's test controls: the test makes its
//! fake answer "accepted", "429 with Retry-After", "opted out"… and asserts the adapter's
//! classification with these functions. [`sample_sms`] builds test messages.
//!
//! ```
//! use antirelou_core::conformance::{self, ExpectedError};
//! use antirelou_core::stub::{FailureKind, StubSender};
//! use std::time::Duration;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // With an adapter, the "fake provider" is a loopback HTTP server the test scripts.
//! let sender = StubSender::new();
//! let sms = conformance::sample_sms("Hey, who is this?", "reply-1-attempt-1");
//! let receipt = conformance::sender_accepts(&sender, &sms).await;
//! assert_eq!(receipt.provider_id, "stub-1");
//!
//! sender.fail_next(1, FailureKind::Transient { retry_after: Some(Duration::from_secs(30)) });
//! let expected = ExpectedError::Transient { retry_after: Some(Duration::from_secs(30)) };
//! conformance::sender_classifies(&sender, &sms, expected).await;
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
use crate::sender::{OutboundSms, SendReceipt, SmsSender};
use crate::store::{
    ClaimedReply, Counters, LeaseToken, NewReply, OptOutStore, ReplyId, ReplyKind, ReplyQueue,
    ReplyRecord, ReplyState, Reservation, ScheduleOutcome, SenderHistory, SpendCaps, SpendLedger,
    SpendSummary, Store, TerminalState,
};

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

// ---------------------------------------------------------------------------------------------
// ReplyQueue
// ---------------------------------------------------------------------------------------------

/// `schedule` stores a reply once; the same key again returns `Duplicate` with the same id and
/// changes nothing, whatever the reply's state; `get` returns what was stored.
pub async fn queue_schedule_idempotent<S: ReplyQueue + ?Sized>(store: &S) {
    let ctx = Ctx::new("queue_schedule_idempotent");
    ctx.sweep(store).await;
    let sender = random_hash();
    let reply = ctx.reply("a", sender, 3600);
    let id = ctx.schedule(store, reply.clone()).await;

    let rec = ctx.get(store, id).await;
    let n = ctx.name;
    assert_eq!(rec.id, id, "conformance::{n}: get returned another id");
    assert_eq!(
        rec.state,
        ReplyState::Pending,
        "conformance::{n}: a new reply must be pending"
    );
    assert_eq!(
        rec.attempt, 0,
        "conformance::{n}: a new reply has attempt 0"
    );
    assert_eq!(rec.kind, reply.kind, "conformance::{n}: kind not stored");
    assert_eq!(
        rec.number, reply.number,
        "conformance::{n}: number not stored"
    );
    assert_eq!(
        rec.recipient.as_ref(),
        Some(&reply.recipient),
        "conformance::{n}: recipient not stored"
    );
    assert_eq!(
        rec.sender, sender,
        "conformance::{n}: sender hash not stored"
    );
    assert_eq!(
        rec.due_at, reply.due_at,
        "conformance::{n}: due_at not stored"
    );
    assert_eq!(
        rec.expires_at, reply.expires_at,
        "conformance::{n}: expires_at not stored"
    );
    assert_eq!(
        rec.provider_id, None,
        "conformance::{n}: a new reply has no provider id"
    );
    assert_eq!(
        rec.delivery, None,
        "conformance::{n}: a new reply has no delivery state"
    );
    assert_eq!(
        rec.updated_at, ctx.base,
        "conformance::{n}: updated_at must be the schedule's now"
    );

    // Same key, different content: a no-op.
    let mut changed = reply.clone();
    changed.due_at = ctx.at(60);
    changed.kind = ReplyKind::Neutral;
    let again = ctx.ok(
        "schedule (duplicate)",
        store.schedule(changed, ctx.at(1)).await,
    );
    assert_eq!(
        again,
        ScheduleOutcome::Duplicate(id),
        "conformance::{n}: same key must return Duplicate(id)"
    );
    assert_eq!(
        ctx.get(store, id).await,
        rec,
        "conformance::{n}: a duplicate schedule changed the stored reply"
    );

    // Another key: another reply.
    let other = ctx.schedule(store, ctx.reply("b", sender, 3600)).await;
    assert_ne!(other, id, "conformance::{n}: two keys got the same id");

    // Still a duplicate once the reply is terminal.
    assert_eq!(
        ctx.ok(
            "cancel_pending",
            store.cancel_pending(&sender, "test", ctx.at(2)).await
        ),
        2
    );
    let after = ctx.ok(
        "schedule (terminal duplicate)",
        store.schedule(reply, ctx.at(3)).await,
    );
    assert_eq!(
        after,
        ScheduleOutcome::Duplicate(id),
        "conformance::{n}: a key stays taken after its reply ended"
    );
    assert_eq!(
        ctx.get(store, id).await.state,
        ReplyState::Cancelled,
        "conformance::{n}: duplicate revived a reply"
    );

    let missing = ctx.ok(
        "get (missing)",
        store
            .get(i64::MAX as u64 - rand::random_range(0..1000))
            .await,
    );
    assert_eq!(
        missing, None,
        "conformance::{n}: get of an id never assigned must be None"
    );
}

/// Of 16 concurrent `schedule` calls with one key, exactly one returns `Scheduled`; all return
/// the same id.
pub async fn queue_schedule_concurrent<S: ReplyQueue + ?Sized>(store: &S) {
    let ctx = Ctx::new("queue_schedule_concurrent");
    let n = ctx.name;
    ctx.sweep(store).await;
    let sender = random_hash();
    let reply = ctx.reply("same", sender, 3600);
    let results = join_all(
        (0..16)
            .map(|_| store.schedule(reply.clone(), ctx.base))
            .collect(),
    )
    .await;
    let outcomes: Vec<ScheduleOutcome> =
        results.into_iter().map(|r| ctx.ok("schedule", r)).collect();
    let scheduled = outcomes
        .iter()
        .filter(|o| matches!(o, ScheduleOutcome::Scheduled(_)))
        .count();
    assert_eq!(
        scheduled, 1,
        "conformance::{n}: {scheduled} of 16 concurrent schedules returned Scheduled: {outcomes:?}"
    );
    let ids: BTreeSet<ReplyId> = outcomes.iter().map(|o| o.id()).collect();
    assert_eq!(
        ids.len(),
        1,
        "conformance::{n}: concurrent schedules returned several ids: {ids:?}"
    );
    assert_eq!(
        ctx.ok(
            "cancel_pending",
            store.cancel_pending(&sender, "test", ctx.at(1)).await
        ),
        1,
        "conformance::{n}: exactly one reply must exist for the key"
    );
}

/// `claim_due` claims only replies whose `due_at <= now`, oldest due first (ties by id), at most
/// `limit`, sets attempt 1 and `lease_until = now + lease`, and does not hand a leased reply out
/// again.
pub async fn queue_claim_only_due<S: ReplyQueue + ?Sized>(store: &S) {
    let ctx = Ctx::new("queue_claim_only_due");
    let n = ctx.name;
    ctx.sweep(store).await;
    let sender = random_hash();
    // Scheduled out of order on purpose.
    let r30 = ctx.reply("due+30m", sender, 1800);
    let mut r10 = ctx.reply("due+10m", sender, 600);
    r10.kind = ReplyKind::Neutral;
    let r20a = ctx.reply("due+20m-a", sender, 1200);
    let r20b = ctx.reply("due+20m-b", sender, 1200);
    let id30 = ctx.schedule(store, r30.clone()).await;
    let id10 = ctx.schedule(store, r10.clone()).await;
    let id20a = ctx.schedule(store, r20a).await;
    let id20b = ctx.schedule(store, r20b).await;
    let mine = [id10, id20a, id20b, id30];

    let early = ctx.claim(store, ctx.at(599), 10, &mine).await;
    assert!(
        early.is_empty(),
        "conformance::{n}: claimed a reply before its due_at: {early:?}"
    );
    let early = ctx
        .claim(store, ctx.at(600).sub(Duration::from_millis(1)), 10, &mine)
        .await;
    assert!(
        early.is_empty(),
        "conformance::{n}: claimed a reply 1 ms before its due_at"
    );

    let none = ctx.claim(store, ctx.at(1200), 0, &mine).await;
    assert!(
        none.is_empty(),
        "conformance::{n}: limit 0 must claim nothing"
    );

    let now = ctx.at(1200);
    let first = ctx.claim(store, now, 2, &mine).await;
    let ids: Vec<ReplyId> = first.iter().map(|c| c.token.id).collect();
    let tie_first = id20a.min(id20b);
    assert_eq!(
        ids,
        vec![id10, tie_first],
        "conformance::{n}: claim_due must take the oldest due first (ties by id) and respect limit"
    );
    let c10 = &first[0];
    assert_eq!(
        c10.token.attempt, 1,
        "conformance::{n}: first claim must have attempt 1"
    );
    assert_eq!(
        c10.recipient, r10.recipient,
        "conformance::{n}: claim must carry the plain recipient"
    );
    assert_eq!(
        c10.number, r10.number,
        "conformance::{n}: claim must carry our number"
    );
    assert_eq!(
        c10.sender, sender,
        "conformance::{n}: claim must carry the sender hash"
    );
    assert_eq!(
        c10.kind, r10.kind,
        "conformance::{n}: claim must carry the kind"
    );
    assert_eq!(
        c10.due_at, r10.due_at,
        "conformance::{n}: claim must carry due_at"
    );
    assert_eq!(
        c10.expires_at, r10.expires_at,
        "conformance::{n}: claim must carry expires_at"
    );
    let rec = ctx.get(store, id10).await;
    assert_eq!(
        (rec.state, rec.attempt),
        (ReplyState::Claimed, 1),
        "conformance::{n}: get after claim"
    );

    let second = ctx.claim(store, now, 10, &mine).await;
    let ids: Vec<ReplyId> = second.iter().map(|c| c.token.id).collect();
    assert_eq!(
        ids,
        vec![id20a.max(id20b)],
        "conformance::{n}: a second claim must return only the remaining due reply"
    );
    let third = ctx.claim(store, now, 10, &mine).await;
    assert!(
        third.is_empty(),
        "conformance::{n}: leased replies were claimed again before their lease ended"
    );

    for c in first.iter().chain(&second) {
        ctx.ok(
            "complete",
            store
                .complete(c.token, &format!("conf-{}-{}", ctx.tag, c.token.id), now)
                .await,
        );
    }
    let last = ctx.claim(store, ctx.at(1800), 10, &mine).await;
    assert_eq!(
        last.iter().map(|c| c.token.id).collect::<Vec<_>>(),
        vec![id30],
        "conformance::{n}: claim at due_at must include the reply (due_at <= now)"
    );
    ctx.ok(
        "complete",
        store
            .complete(
                last[0].token,
                &format!("conf-{}-last", ctx.tag),
                ctx.at(1800),
            )
            .await,
    );
}

/// A claim whose lease ended (`lease_until <= now`) is claimed again with attempt + 1, in due
/// order among pending replies; the stale holder is fenced and the new holder's result stands.
pub async fn queue_lease_expiry_takeover<S: ReplyQueue + ?Sized>(store: &S) {
    let ctx = Ctx::new("queue_lease_expiry_takeover");
    let n = ctx.name;
    ctx.sweep(store).await;
    let sender = random_hash();
    let a = ctx.schedule(store, ctx.reply("a", sender, 0)).await;
    let b = ctx.schedule(store, ctx.reply("b", sender, 100)).await;
    let mine = [a, b];

    let t0 = ctx.at(0);
    let first = ctx.claim(store, t0, 10, &mine).await;
    assert_eq!(
        first.len(),
        1,
        "conformance::{n}: the due reply was not claimed"
    );
    let old = first[0].token;
    assert_eq!(
        old,
        LeaseToken { id: a, attempt: 1 },
        "conformance::{n}: unexpected first claim"
    );

    // A lease of 60 s is still held 1 ms before it ends...
    let held = ctx
        .claim(
            store,
            t0.add(LEASE).sub(Duration::from_millis(1)),
            10,
            &mine,
        )
        .await;
    assert!(
        held.is_empty(),
        "conformance::{n}: a reply was claimed while its lease was running"
    );

    // ...and over at lease_until: another worker takes the reply over, with attempt 2.
    let t1 = t0.add(LEASE);
    let retake = ctx.claim(store, t1, 10, &mine).await;
    assert_eq!(
        retake.len(),
        1,
        "conformance::{n}: a reply whose lease ended (lease_until <= now) was not reclaimed"
    );
    let mid = retake[0].token;
    assert_eq!(
        mid,
        LeaseToken { id: a, attempt: 2 },
        "conformance::{n}: takeover must reclaim the reply with attempt + 1"
    );
    assert_eq!(
        retake[0].recipient, first[0].recipient,
        "conformance::{n}: takeover lost the recipient"
    );

    // The stale worker is fenced on every call, and changes nothing.
    ctx.assert_lease_lost("complete", store.complete(old, "stale", t1).await, old);
    ctx.assert_lease_lost(
        "retry_later",
        store.retry_later(old, ctx.at(9999), "stale", t1).await,
        old,
    );
    ctx.assert_lease_lost(
        "finish",
        store.finish(old, TerminalState::Failed, "stale", t1).await,
        old,
    );
    ctx.assert_lease_lost("release", store.release(old, t1).await, old);
    let rec = ctx.get(store, a).await;
    assert_eq!(
        (rec.state, rec.attempt, rec.provider_id.as_deref()),
        (ReplyState::Claimed, 2, None),
        "conformance::{n}: a stale worker's call changed the reply"
    );

    // At +120 s both a (due +0, lease ended) and b (due +100, pending) are claimable: the oldest
    // due comes first.
    let t2 = t1.add(LEASE);
    let third = ctx.claim(store, t2, 1, &mine).await;
    assert_eq!(
        third.iter().map(|c| c.token).collect::<Vec<_>>(),
        vec![LeaseToken { id: a, attempt: 3 }],
        "conformance::{n}: an expired claim due earlier must come before a pending reply due later"
    );
    let new = third[0].token;

    // The new holder's result stands, and the stale ones cannot overwrite it.
    let pid = format!("conf-{}-new", ctx.tag);
    ctx.ok("complete (new holder)", store.complete(new, &pid, t2).await);
    ctx.assert_lease_lost(
        "complete after takeover",
        store.complete(mid, "stale", t2).await,
        mid,
    );
    ctx.assert_lease_lost(
        "finish after takeover",
        store.finish(old, TerminalState::Failed, "stale", t2).await,
        old,
    );
    let rec = ctx.get(store, a).await;
    assert_eq!(
        rec.state,
        ReplyState::Sent,
        "conformance::{n}: the new holder's completion was lost"
    );
    assert_eq!(
        rec.attempt, 3,
        "conformance::{n}: attempt must count the claims"
    );
    assert_eq!(
        rec.provider_id.as_deref(),
        Some(pid.as_str()),
        "conformance::{n}: the new holder's provider id was overwritten"
    );

    let rest = ctx.claim(store, t2, 10, &mine).await;
    assert_eq!(
        rest.iter().map(|c| c.token.id).collect::<Vec<_>>(),
        vec![b],
        "conformance::{n}: b should be claimable"
    );
    ctx.ok(
        "finish",
        store
            .finish(rest[0].token, TerminalState::Failed, "done", t2)
            .await,
    );
}

/// Only the current claim's token works, only while the reply is claimed: a used, released,
/// wrong-attempt or unknown token gets `LeaseLost`.
pub async fn queue_fencing<S: ReplyQueue + ?Sized>(store: &S) {
    let ctx = Ctx::new("queue_fencing");
    let n = ctx.name;
    ctx.sweep(store).await;
    let sender = random_hash();
    let id = ctx.schedule(store, ctx.reply("a", sender, 0)).await;
    let now = ctx.at(10);
    let c = ctx.claim(store, now, 10, &[id]).await;
    assert_eq!(
        c.len(),
        1,
        "conformance::{n}: the due reply was not claimed"
    );
    let token = c[0].token;

    // A lease that ended without a takeover is still the current claim: its token works.
    let late = now.add(LEASE).add(Duration::from_secs(30));
    ctx.ok(
        "retry_later after the lease ended, without takeover",
        store.retry_later(token, now, "slow provider", late).await,
    );
    let c = ctx.claim(store, now, 10, &[id]).await;
    assert_eq!(
        c.len(),
        1,
        "conformance::{n}: a retried reply due at once was not claimed"
    );
    let token = c[0].token;
    assert_eq!(
        token.attempt, 2,
        "conformance::{n}: each claim increments the attempt"
    );

    let future = LeaseToken {
        id,
        attempt: token.attempt + 1,
    };
    ctx.assert_lease_lost(
        "complete with a wrong attempt",
        store.complete(future, "x", now).await,
        future,
    );
    let unknown = LeaseToken {
        id: i64::MAX as u64 - rand::random_range(0..1000),
        attempt: 1,
    };
    ctx.assert_lease_lost(
        "complete of an unknown reply",
        store.complete(unknown, "x", now).await,
        unknown,
    );

    // Released: pending again, the token is dead.
    ctx.ok("release", store.release(token, now).await);
    ctx.assert_lease_lost(
        "complete after release",
        store.complete(token, "x", now).await,
        token,
    );
    ctx.assert_lease_lost("release twice", store.release(token, now).await, token);
    let rec = ctx.get(store, id).await;
    assert_eq!(
        rec.state,
        ReplyState::Pending,
        "conformance::{n}: release must make the reply pending"
    );

    // Claimed again and finished: the finished token is dead too.
    let c = ctx.claim(store, now, 10, &[id]).await;
    assert_eq!(
        c.len(),
        1,
        "conformance::{n}: a released reply must be claimable at once"
    );
    let token2 = c[0].token;
    assert_eq!(
        token2.attempt,
        token.attempt + 1,
        "conformance::{n}: each claim increments the attempt"
    );
    ctx.ok(
        "finish",
        store
            .finish(token2, TerminalState::Failed, "permanent", now)
            .await,
    );
    ctx.assert_lease_lost(
        "complete after finish",
        store.complete(token2, "x", now).await,
        token2,
    );
    ctx.assert_lease_lost(
        "retry_later after finish",
        store.retry_later(token2, now, "x", now).await,
        token2,
    );
    ctx.assert_lease_lost(
        "finish twice",
        store.finish(token2, TerminalState::Expired, "x", now).await,
        token2,
    );
    ctx.assert_lease_lost(
        "release after finish",
        store.release(token2, now).await,
        token2,
    );
    let rec = ctx.get(store, id).await;
    assert_eq!(
        rec.state,
        ReplyState::Failed,
        "conformance::{n}: a fenced call changed a finished reply"
    );
    assert_eq!(
        rec.last_error.as_deref(),
        Some("permanent"),
        "conformance::{n}: a fenced call changed the reason"
    );
}

/// 8 concurrent claimers over 200 due replies: every reply is claimed exactly once.
pub async fn queue_concurrent_claims<S: ReplyQueue + ?Sized>(store: &S) {
    let ctx = Ctx::new("queue_concurrent_claims");
    let n = ctx.name;
    ctx.sweep(store).await;
    let sender = random_hash();
    let mut mine = Vec::with_capacity(200);
    for i in 0..200 {
        mine.push(
            ctx.schedule(store, ctx.reply(&format!("r{i}"), sender, i % 50))
                .await,
        );
    }
    let now = ctx.at(100);
    let lease = Duration::from_secs(600);
    let (ctx_ref, lease_ref) = (&ctx, lease);
    let claimers = (0..8).map(|_| async move {
        let ctx = ctx_ref;
        let lease = lease_ref;
        let mut got = Vec::new();
        for _ in 0..1_000 {
            let batch = ctx.ok("claim_due", store.claim_due(now, lease, 7).await);
            if batch.is_empty() {
                break;
            }
            got.extend(batch);
            tokio::task::yield_now().await;
        }
        got
    });
    let results = join_all(claimers.collect()).await;
    let all: Vec<ClaimedReply> = results.into_iter().flatten().collect();
    ctx.check_claims(&all, now, lease, &mine);
    let mut seen = HashSet::new();
    for c in &all {
        assert!(
            seen.insert(c.token.id),
            "conformance::{n}: reply {} was claimed twice by concurrent claimers",
            c.token.id
        );
        assert_eq!(
            c.token.attempt, 1,
            "conformance::{n}: reply {} has attempt {} after one claim",
            c.token.id, c.token.attempt
        );
    }
    assert_eq!(
        all.len(),
        200,
        "conformance::{n}: {} of 200 due replies were claimed",
        all.len()
    );
    for c in &all {
        ctx.ok(
            "complete",
            store
                .complete(c.token, &format!("conf-{}-{}", ctx.tag, c.token.id), now)
                .await,
        );
    }
}

/// `retry_later` makes the reply pending again, due at `next_attempt_at` (not before), with the
/// error recorded and the recipient kept.
pub async fn queue_retry_later<S: ReplyQueue + ?Sized>(store: &S) {
    let ctx = Ctx::new("queue_retry_later");
    let n = ctx.name;
    ctx.sweep(store).await;
    let sender = random_hash();
    let reply = ctx.reply("a", sender, 0);
    let id = ctx.schedule(store, reply.clone()).await;
    let now = ctx.at(5);
    let c = ctx.claim(store, now, 10, &[id]).await;
    assert_eq!(
        c.len(),
        1,
        "conformance::{n}: the due reply was not claimed"
    );
    let next = ctx.at(305);
    ctx.ok(
        "retry_later",
        store
            .retry_later(c[0].token, next, "429 too many requests", now)
            .await,
    );
    let rec = ctx.get(store, id).await;
    assert_eq!(
        rec.state,
        ReplyState::Pending,
        "conformance::{n}: retry_later must make the reply pending"
    );
    assert_eq!(
        rec.due_at, next,
        "conformance::{n}: retry_later must set due_at = next_attempt_at"
    );
    assert_eq!(
        rec.attempt, 1,
        "conformance::{n}: retry_later must not change the attempt"
    );
    assert_eq!(
        rec.recipient.as_ref(),
        Some(&reply.recipient),
        "conformance::{n}: retry_later must keep the recipient"
    );
    assert!(
        rec.last_error.as_deref().is_some_and(|e| e.contains("429")),
        "conformance::{n}: retry_later must record the error, got {:?}",
        rec.last_error
    );
    assert_eq!(
        rec.updated_at, now,
        "conformance::{n}: retry_later must set updated_at"
    );

    let early = ctx
        .claim(store, next.sub(Duration::from_millis(1)), 10, &[id])
        .await;
    assert!(
        early.is_empty(),
        "conformance::{n}: a retried reply was claimed before next_attempt_at"
    );
    let again = ctx.claim(store, next, 10, &[id]).await;
    assert_eq!(
        again.len(),
        1,
        "conformance::{n}: a retried reply was not claimed at next_attempt_at"
    );
    assert_eq!(
        again[0].token.attempt, 2,
        "conformance::{n}: the retry's claim must have attempt 2"
    );
    assert_eq!(
        again[0].due_at, next,
        "conformance::{n}: the retry's claim must carry the new due_at"
    );
    ctx.ok(
        "complete",
        store
            .complete(again[0].token, &format!("conf-{}", ctx.tag), next)
            .await,
    );
}

/// `release` gives a claimed reply back: pending, due as before, claimable at once.
pub async fn queue_release<S: ReplyQueue + ?Sized>(store: &S) {
    let ctx = Ctx::new("queue_release");
    let n = ctx.name;
    ctx.sweep(store).await;
    let sender = random_hash();
    let reply = ctx.reply("a", sender, 0);
    let id = ctx.schedule(store, reply.clone()).await;
    let now = ctx.at(1);
    let c = ctx.claim(store, now, 10, &[id]).await;
    assert_eq!(
        c.len(),
        1,
        "conformance::{n}: the due reply was not claimed"
    );
    ctx.ok("release", store.release(c[0].token, now).await);
    let rec = ctx.get(store, id).await;
    assert_eq!(
        rec.state,
        ReplyState::Pending,
        "conformance::{n}: release must make the reply pending"
    );
    assert_eq!(
        rec.due_at, reply.due_at,
        "conformance::{n}: release must keep due_at"
    );
    assert_eq!(
        rec.recipient.as_ref(),
        Some(&reply.recipient),
        "conformance::{n}: release must keep the recipient"
    );
    let again = ctx.claim(store, now, 10, &[id]).await;
    assert_eq!(
        again.len(),
        1,
        "conformance::{n}: a released reply must be claimable at once"
    );
    assert_eq!(
        again[0].token.attempt, 2,
        "conformance::{n}: the attempt counts claims"
    );
    ctx.ok(
        "finish",
        store
            .finish(again[0].token, TerminalState::Cancelled, "done", now)
            .await,
    );
}

/// `complete` and `finish` (each terminal state) erase the plain recipient, keep the hash, and
/// record the provider id or the reason.
pub async fn queue_terminal_erases_recipient<S: ReplyQueue + ?Sized>(store: &S) {
    let ctx = Ctx::new("queue_terminal_erases_recipient");
    let n = ctx.name;
    ctx.sweep(store).await;
    let sender = random_hash();
    let mut mine = Vec::new();
    for label in ["sent", "failed", "expired", "cancelled"] {
        mine.push(ctx.schedule(store, ctx.reply(label, sender, 0)).await);
    }
    let now = ctx.at(10);
    let claimed = ctx.claim(store, now, 10, &mine).await;
    assert_eq!(
        claimed.len(),
        4,
        "conformance::{n}: the 4 due replies were not claimed"
    );
    let by_id: BTreeMap<ReplyId, LeaseToken> =
        claimed.iter().map(|c| (c.token.id, c.token)).collect();
    let done = ctx.at(20);

    let pid = format!("conf-{}-sent", ctx.tag);
    ctx.ok(
        "complete",
        store.complete(by_id[&mine[0]], &pid, done).await,
    );
    let rec = ctx.get(store, mine[0]).await;
    assert_eq!(
        rec.state,
        ReplyState::Sent,
        "conformance::{n}: complete must mark the reply sent"
    );
    assert_eq!(
        rec.recipient, None,
        "conformance::{n}: complete must erase the plain recipient"
    );
    assert_eq!(
        rec.sender, sender,
        "conformance::{n}: complete must keep the sender hash"
    );
    assert_eq!(
        rec.provider_id.as_deref(),
        Some(pid.as_str()),
        "conformance::{n}: complete must store the provider id"
    );
    assert_eq!(
        rec.updated_at, done,
        "conformance::{n}: complete must set updated_at"
    );

    for (id, state) in mine[1..].iter().zip([
        TerminalState::Failed,
        TerminalState::Expired,
        TerminalState::Cancelled,
    ]) {
        let reason = format!("reason {state:?}");
        ctx.ok(
            "finish",
            store.finish(by_id[id], state, &reason, done).await,
        );
        let rec = ctx.get(store, *id).await;
        assert_eq!(
            rec.state,
            ReplyState::from(state),
            "conformance::{n}: finish must set the terminal state"
        );
        assert_eq!(
            rec.recipient, None,
            "conformance::{n}: finish({state:?}) must erase the plain recipient"
        );
        assert_eq!(
            rec.sender, sender,
            "conformance::{n}: finish must keep the sender hash"
        );
        assert_eq!(
            rec.last_error.as_deref(),
            Some(reason.as_str()),
            "conformance::{n}: finish must store the reason"
        );
        assert_eq!(
            rec.updated_at, done,
            "conformance::{n}: finish must set updated_at"
        );
    }
}

/// `cancel_pending` cancels (and erases) every pending reply of one sender, leaves claimed
/// replies and other senders alone, and returns how many it cancelled.
pub async fn queue_cancel_pending<S: ReplyQueue + ?Sized>(store: &S) {
    let ctx = Ctx::new("queue_cancel_pending");
    let n = ctx.name;
    ctx.sweep(store).await;
    let (s1, s2) = (random_hash(), random_hash());
    let claimed_id = ctx.schedule(store, ctx.reply("claimed", s1, 0)).await;
    let p1 = ctx.schedule(store, ctx.reply("p1", s1, 3600)).await;
    let p2 = ctx.schedule(store, ctx.reply("p2", s1, 7200)).await;
    let other = ctx.schedule(store, ctx.reply("other", s2, 3600)).await;
    let now = ctx.at(1);
    let c = ctx.claim(store, now, 10, &[claimed_id]).await;
    assert_eq!(
        c.len(),
        1,
        "conformance::{n}: the due reply was not claimed"
    );

    let count = ctx.ok(
        "cancel_pending",
        store.cancel_pending(&s1, "opted out", now).await,
    );
    assert_eq!(
        count, 2,
        "conformance::{n}: cancel_pending must cancel exactly the sender's 2 pending replies"
    );
    for id in [p1, p2] {
        let rec = ctx.get(store, id).await;
        assert_eq!(
            rec.state,
            ReplyState::Cancelled,
            "conformance::{n}: a pending reply was not cancelled"
        );
        assert_eq!(
            rec.recipient, None,
            "conformance::{n}: cancel_pending must erase the recipient"
        );
        assert_eq!(
            rec.last_error.as_deref(),
            Some("opted out"),
            "conformance::{n}: cancel_pending must store the reason"
        );
    }
    assert_eq!(
        ctx.get(store, claimed_id).await.state,
        ReplyState::Claimed,
        "conformance::{n}: cancel_pending must not touch a claimed reply"
    );
    assert_eq!(
        ctx.get(store, other).await.state,
        ReplyState::Pending,
        "conformance::{n}: cancel_pending touched another sender's reply"
    );
    assert_eq!(
        ctx.ok(
            "cancel_pending",
            store.cancel_pending(&s1, "again", now).await
        ),
        0,
        "conformance::{n}: a second cancel_pending must find nothing"
    );

    ctx.ok(
        "complete",
        store
            .complete(c[0].token, &format!("conf-{}", ctx.tag), now)
            .await,
    );
    assert_eq!(
        ctx.ok(
            "cancel_pending",
            store.cancel_pending(&s2, "cleanup", now).await
        ),
        1
    );
}

/// `expire_overdue` expires (and erases) pending replies with `expires_at <= now`, and nothing
/// else.
pub async fn queue_expire_overdue<S: ReplyQueue + ?Sized>(store: &S) {
    let ctx = Ctx::new("queue_expire_overdue");
    let n = ctx.name;
    ctx.sweep(store).await;
    // Leftovers of earlier runs that expire before this zone.
    ctx.ok(
        "expire_overdue (leftovers)",
        store.expire_overdue(ctx.base).await,
    );
    let sender = random_hash();
    let mut r1 = ctx.reply("expires+1h", sender, 60);
    r1.expires_at = ctx.at(3600);
    let mut r2 = ctx.reply("expires+2h", sender, 120);
    r2.expires_at = ctx.at(7200);
    let mut rc = ctx.reply("claimed", sender, 0);
    rc.expires_at = ctx.at(3600);
    let (id1, id2, idc) = (
        ctx.schedule(store, r1).await,
        ctx.schedule(store, r2).await,
        ctx.schedule(store, rc).await,
    );
    let c = ctx.claim(store, ctx.at(1), 1, &[idc]).await;
    assert_eq!(
        c.len(),
        1,
        "conformance::{n}: the due reply was not claimed"
    );

    assert_eq!(
        ctx.ok("expire_overdue", store.expire_overdue(ctx.at(3599)).await),
        0,
        "conformance::{n}: expired a reply before its expires_at"
    );
    let now = ctx.at(3600);
    assert_eq!(
        ctx.ok("expire_overdue", store.expire_overdue(now).await),
        1,
        "conformance::{n}: expire_overdue must expire exactly the pending reply with expires_at <= now"
    );
    let rec = ctx.get(store, id1).await;
    assert_eq!(
        rec.state,
        ReplyState::Expired,
        "conformance::{n}: the overdue reply was not expired"
    );
    assert_eq!(
        rec.recipient, None,
        "conformance::{n}: expiry must erase the recipient"
    );
    assert_eq!(
        rec.updated_at, now,
        "conformance::{n}: expiry must set updated_at"
    );
    assert_eq!(
        ctx.get(store, id2).await.state,
        ReplyState::Pending,
        "conformance::{n}: a reply not yet overdue was expired"
    );
    assert_eq!(
        ctx.get(store, idc).await.state,
        ReplyState::Claimed,
        "conformance::{n}: expire_overdue must leave claimed replies to their worker"
    );
    assert_eq!(
        ctx.ok("expire_overdue", store.expire_overdue(now).await),
        0,
        "conformance::{n}: a second expire_overdue must find nothing"
    );

    ctx.ok(
        "finish",
        store
            .finish(c[0].token, TerminalState::Expired, "expired", now)
            .await,
    );
    assert_eq!(
        ctx.ok("expire_overdue", store.expire_overdue(ctx.at(7200)).await),
        1
    );
}

/// `record_delivery` finds the reply by provider id and stores the last state; an unknown id
/// returns `false`.
pub async fn queue_record_delivery<S: ReplyQueue + ?Sized>(store: &S) {
    let ctx = Ctx::new("queue_record_delivery");
    let n = ctx.name;
    ctx.sweep(store).await;
    let id = ctx.schedule(store, ctx.reply("a", random_hash(), 0)).await;
    let now = ctx.at(1);
    let c = ctx.claim(store, now, 10, &[id]).await;
    assert_eq!(
        c.len(),
        1,
        "conformance::{n}: the due reply was not claimed"
    );
    let pid = format!("conf-{}-pid", ctx.tag);
    ctx.ok("complete", store.complete(c[0].token, &pid, now).await);

    assert!(
        ctx.ok(
            "record_delivery",
            store
                .record_delivery(&pid, DeliveryState::Sent, ctx.at(2))
                .await
        ),
        "conformance::{n}: record_delivery did not find the sent reply"
    );
    assert_eq!(
        ctx.get(store, id).await.delivery,
        Some(DeliveryState::Sent),
        "conformance::{n}: delivery state not stored"
    );
    assert!(
        ctx.ok(
            "record_delivery",
            store
                .record_delivery(&pid, DeliveryState::Delivered, ctx.at(3))
                .await
        )
    );
    let rec = ctx.get(store, id).await;
    assert_eq!(
        rec.delivery,
        Some(DeliveryState::Delivered),
        "conformance::{n}: the last delivery report must win"
    );
    assert_eq!(
        rec.state,
        ReplyState::Sent,
        "conformance::{n}: a delivery report must not change the reply's state"
    );
    let unknown = format!("conf-{}-unknown", ctx.tag);
    assert!(
        !ctx.ok(
            "record_delivery",
            store
                .record_delivery(&unknown, DeliveryState::Failed, ctx.at(4))
                .await
        ),
        "conformance::{n}: record_delivery of an unknown provider id must return false"
    );
}

/// `purge` deletes terminal replies last updated before `before`, never pending or claimed ones.
pub async fn queue_purge<S: ReplyQueue + ?Sized>(store: &S) {
    let ctx = Ctx::new("queue_purge");
    let n = ctx.name;
    ctx.sweep(store).await;
    // Terminal leftovers of earlier runs, updated before this zone.
    ctx.ok("purge (leftovers)", store.purge(ctx.base).await);
    let sender = random_hash();
    let old = ctx.schedule(store, ctx.reply("old", sender, 0)).await;
    let newer = ctx.schedule(store, ctx.reply("newer", sender, 0)).await;
    let claimed = ctx.schedule(store, ctx.reply("claimed", sender, 0)).await;
    let pending = ctx
        .schedule(store, ctx.reply("pending", sender, 86_400))
        .await;
    let mine = [old, newer, claimed, pending];
    let c = ctx.claim(store, ctx.at(1), 10, &mine).await;
    let tok: BTreeMap<ReplyId, LeaseToken> = c.iter().map(|c| (c.token.id, c.token)).collect();
    assert_eq!(
        tok.len(),
        3,
        "conformance::{n}: the 3 due replies were not claimed"
    );
    ctx.ok(
        "finish",
        store
            .finish(tok[&old], TerminalState::Failed, "x", ctx.at(3600))
            .await,
    );
    ctx.ok(
        "complete",
        store
            .complete(tok[&newer], &format!("conf-{}", ctx.tag), ctx.at(7200))
            .await,
    );

    assert_eq!(
        ctx.ok("purge", store.purge(ctx.at(3600)).await),
        0,
        "conformance::{n}: purge must delete only replies updated strictly before `before`"
    );
    assert_eq!(
        ctx.ok("purge", store.purge(ctx.at(5400)).await),
        1,
        "conformance::{n}: purge must delete exactly the terminal reply updated before `before`"
    );
    assert_eq!(
        ctx.ok("get", store.get(old).await),
        None,
        "conformance::{n}: a purged reply is still there"
    );
    assert!(
        ctx.ok("get", store.get(newer).await).is_some(),
        "conformance::{n}: a reply updated after `before` was purged"
    );
    assert_eq!(
        ctx.ok("purge", store.purge(ctx.at(2 * 86_400)).await),
        1,
        "conformance::{n}: purge must delete the other terminal reply, and no pending or claimed one"
    );
    assert_eq!(
        ctx.get(store, claimed).await.state,
        ReplyState::Claimed,
        "conformance::{n}: purge deleted a claimed reply"
    );
    assert_eq!(
        ctx.get(store, pending).await.state,
        ReplyState::Pending,
        "conformance::{n}: purge deleted a pending reply"
    );

    ctx.ok(
        "finish",
        store
            .finish(
                tok[&claimed],
                TerminalState::Cancelled,
                "x",
                ctx.at(2 * 86_400),
            )
            .await,
    );
    assert_eq!(
        ctx.ok(
            "cancel_pending",
            store.cancel_pending(&sender, "x", ctx.at(2 * 86_400)).await
        ),
        1
    );
}

/// `queue_stats` counts pending, due and claimed replies (checked as differences, so other data
/// in the store does not matter).
pub async fn queue_stats<S: ReplyQueue + ?Sized>(store: &S) {
    let ctx = Ctx::new("queue_stats");
    let n = ctx.name;
    ctx.sweep(store).await;
    let now = ctx.at(600);
    let before = ctx.ok("queue_stats", store.queue_stats(now).await);
    let sender = random_hash();
    let a = ctx.schedule(store, ctx.reply("a", sender, 0)).await;
    let b = ctx.schedule(store, ctx.reply("b", sender, 300)).await;
    let c = ctx.schedule(store, ctx.reply("c", sender, 3600)).await;
    let d = ctx.schedule(store, ctx.reply("d", sender, 0)).await;
    let mid = ctx.ok("queue_stats", store.queue_stats(now).await);
    assert_eq!(
        mid.pending,
        before.pending + 4,
        "conformance::{n}: pending must count every pending reply, due or not"
    );
    assert_eq!(
        mid.due,
        before.due + 3,
        "conformance::{n}: due must count pending replies with due_at <= now"
    );
    assert_eq!(
        mid.claimed, before.claimed,
        "conformance::{n}: nothing was claimed yet"
    );

    let claimed = ctx.claim(store, ctx.at(0), 10, &[a, b, c, d]).await;
    assert_eq!(
        claimed.len(),
        2,
        "conformance::{n}: the 2 replies due at +0 were not claimed"
    );
    let after = ctx.ok("queue_stats", store.queue_stats(now).await);
    assert_eq!(
        after.pending,
        before.pending + 2,
        "conformance::{n}: claimed replies are not pending"
    );
    assert_eq!(
        after.due,
        before.due + 1,
        "conformance::{n}: claimed replies are not due"
    );
    assert_eq!(
        after.claimed,
        before.claimed + 2,
        "conformance::{n}: claimed must count claimed replies"
    );

    for c in &claimed {
        ctx.ok(
            "complete",
            store
                .complete(c.token, &format!("conf-{}-{}", ctx.tag, c.token.id), now)
                .await,
        );
    }
    assert_eq!(
        ctx.ok(
            "cancel_pending",
            store.cancel_pending(&sender, "x", now).await
        ),
        2
    );
    let end = ctx.ok("queue_stats", store.queue_stats(now).await);
    assert_eq!(
        end, before,
        "conformance::{n}: terminal replies must not count"
    );
}

// ---------------------------------------------------------------------------------------------
// SenderHistory
// ---------------------------------------------------------------------------------------------

/// `record_contact` returns the record as it was before the contact and stores the contact.
pub async fn history_record_contact<S: SenderHistory + ?Sized>(store: &S) {
    let ctx = Ctx::new("history_record_contact");
    let n = ctx.name;
    let s = random_hash();
    assert_eq!(
        ctx.ok("sender", store.sender(&s).await),
        None,
        "conformance::{n}: an unknown sender must have no record"
    );
    let t0 = ctx.at(0);
    let prev = ctx.ok(
        "record_contact",
        store.record_contact(&s, Channel::Sms, t0).await,
    );
    assert_eq!(
        prev, None,
        "conformance::{n}: the first contact must return None"
    );
    let rec = ctx.ok("sender", store.sender(&s).await);
    let rec = rec.unwrap_or_else(|| panic!("conformance::{n}: no record after a contact"));
    assert_eq!(
        (
            rec.first_seen,
            rec.last_seen,
            rec.contacts,
            rec.last_lesson_at
        ),
        (t0, t0, 1, None),
        "conformance::{n}: record after one contact"
    );

    let t1 = ctx.at(3600);
    let prev = ctx.ok(
        "record_contact",
        store.record_contact(&s, Channel::Voice, t1).await,
    );
    assert_eq!(
        prev,
        Some(rec),
        "conformance::{n}: record_contact must return the record as it was before"
    );
    let rec = ctx
        .ok("sender", store.sender(&s).await)
        .unwrap_or_else(|| panic!("conformance::{n}: record vanished"));
    assert_eq!(
        (rec.first_seen, rec.last_seen, rec.contacts),
        (t0, t1, 2),
        "conformance::{n}: a call counts as a contact too"
    );

    let other = random_hash();
    assert_eq!(
        ctx.ok(
            "record_contact",
            store.record_contact(&other, Channel::Sms, t1).await
        ),
        None,
        "conformance::{n}: senders must be independent"
    );
}

/// 16 concurrent first contacts of one sender: exactly one sees `None`, and all 16 are counted.
pub async fn history_concurrent_contacts<S: SenderHistory + ?Sized>(store: &S) {
    let ctx = Ctx::new("history_concurrent_contacts");
    let n = ctx.name;
    let s = random_hash();
    let now = ctx.at(0);
    let results = join_all(
        (0..16)
            .map(|_| store.record_contact(&s, Channel::Sms, now))
            .collect(),
    )
    .await;
    let prevs: Vec<_> = results
        .into_iter()
        .map(|r| ctx.ok("record_contact", r))
        .collect();
    let firsts = prevs.iter().filter(|p| p.is_none()).count();
    assert_eq!(
        firsts, 1,
        "conformance::{n}: {firsts} of 16 concurrent first contacts saw no previous record"
    );
    let rec = ctx
        .ok("sender", store.sender(&s).await)
        .unwrap_or_else(|| panic!("conformance::{n}: no record"));
    assert_eq!(
        rec.contacts, 16,
        "conformance::{n}: concurrent contacts were lost"
    );
}

/// `try_begin_lesson` takes the slot once per window: false within `(t, t + window)`, true again
/// at `t + window`.
pub async fn history_lesson_window<S: SenderHistory + ?Sized>(store: &S) {
    let ctx = Ctx::new("history_lesson_window");
    let n = ctx.name;
    let window = Duration::from_secs(86_400);
    let s = random_hash();
    let t0 = ctx.at(0);
    ctx.ok(
        "record_contact",
        store.record_contact(&s, Channel::Sms, t0).await,
    );
    assert!(
        ctx.ok(
            "try_begin_lesson",
            store.try_begin_lesson(&s, window, t0).await
        ),
        "conformance::{n}: the first lesson must be allowed"
    );
    let rec = ctx
        .ok("sender", store.sender(&s).await)
        .unwrap_or_else(|| panic!("conformance::{n}: no record"));
    assert_eq!(
        rec.last_lesson_at,
        Some(t0),
        "conformance::{n}: try_begin_lesson must store last_lesson_at"
    );
    assert!(
        !ctx.ok(
            "try_begin_lesson",
            store.try_begin_lesson(&s, window, t0).await
        ),
        "conformance::{n}: a second lesson at the same instant was allowed"
    );
    assert!(
        !ctx.ok(
            "try_begin_lesson",
            store.try_begin_lesson(&s, window, ctx.at(3600)).await
        ),
        "conformance::{n}: a second lesson within the window was allowed"
    );
    let edge = t0.add(window).sub(Duration::from_millis(1));
    assert!(
        !ctx.ok(
            "try_begin_lesson",
            store.try_begin_lesson(&s, window, edge).await
        ),
        "conformance::{n}: a lesson 1 ms before the window ended was allowed"
    );
    let t1 = t0.add(window);
    assert!(
        ctx.ok(
            "try_begin_lesson",
            store.try_begin_lesson(&s, window, t1).await
        ),
        "conformance::{n}: a lesson at last + window must be allowed (the window is (now - window, now])"
    );
    let rec = ctx
        .ok("sender", store.sender(&s).await)
        .unwrap_or_else(|| panic!("conformance::{n}: no record"));
    assert_eq!(
        rec.last_lesson_at,
        Some(t1),
        "conformance::{n}: the new lesson time must be stored"
    );
    assert_eq!(
        rec.contacts, 1,
        "conformance::{n}: try_begin_lesson must not count contacts"
    );

    // A sender never recorded may begin a lesson.
    let fresh = random_hash();
    assert!(
        ctx.ok(
            "try_begin_lesson",
            store.try_begin_lesson(&fresh, window, t0).await
        ),
        "conformance::{n}: a sender with no record must be allowed a lesson"
    );
    assert!(
        !ctx.ok(
            "try_begin_lesson",
            store.try_begin_lesson(&fresh, window, t0).await
        ),
        "conformance::{n}: the slot of a sender with no record was not taken"
    );
}

/// Of 16 concurrent `try_begin_lesson` calls for one sender, exactly one returns `true` (both for
/// a sender never seen and for a known one).
pub async fn history_concurrent_lesson<S: SenderHistory + ?Sized>(store: &S) {
    let ctx = Ctx::new("history_concurrent_lesson");
    let n = ctx.name;
    let window = Duration::from_secs(86_400);
    let now = ctx.at(0);
    let known = random_hash();
    ctx.ok(
        "record_contact",
        store.record_contact(&known, Channel::Sms, now).await,
    );
    for (label, s) in [("unknown sender", random_hash()), ("known sender", known)] {
        let results = join_all(
            (0..16)
                .map(|_| store.try_begin_lesson(&s, window, now))
                .collect(),
        )
        .await;
        let wins = results
            .into_iter()
            .map(|r| ctx.ok("try_begin_lesson", r))
            .filter(|w| *w)
            .count();
        assert_eq!(
            wins, 1,
            "conformance::{n}: {wins} of 16 concurrent try_begin_lesson calls for one {label} returned true"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// OptOutStore
// ---------------------------------------------------------------------------------------------

/// Opt-outs default to false, and the last call for a sender wins.
pub async fn opt_out_last_wins<S: OptOutStore + ?Sized>(store: &S) {
    let ctx = Ctx::new("opt_out_last_wins");
    let n = ctx.name;
    let (s, other) = (random_hash(), random_hash());
    assert!(
        !ctx.ok("is_opted_out", store.is_opted_out(&s).await),
        "conformance::{n}: an unknown sender must not be opted out"
    );
    let steps = [true, true, false, true, false, false, true];
    for (i, &v) in steps.iter().enumerate() {
        ctx.ok(
            "set_opted_out",
            store.set_opted_out(&s, v, ctx.at(i as i64)).await,
        );
        assert_eq!(
            ctx.ok("is_opted_out", store.is_opted_out(&s).await),
            v,
            "conformance::{n}: after set_opted_out({v}) (step {i}) the last call must win"
        );
    }
    assert!(
        !ctx.ok("is_opted_out", store.is_opted_out(&other).await),
        "conformance::{n}: an opt-out leaked to another sender"
    );
    ctx.ok(
        "set_opted_out",
        store.set_opted_out(&other, false, ctx.at(99)).await,
    );
    assert!(
        !ctx.ok("is_opted_out", store.is_opted_out(&other).await),
        "conformance::{n}: opting in a sender never opted out"
    );
    assert!(
        ctx.ok("is_opted_out", store.is_opted_out(&s).await),
        "conformance::{n}: another sender's opt-in changed this one"
    );
}

// ---------------------------------------------------------------------------------------------
// SpendLedger
// ---------------------------------------------------------------------------------------------

fn micros(m: i64) -> Money {
    Money::from_micros(m)
}

fn assert_budget(ctx: &Ctx, what: &str, r: Result<Reservation>, period: &str) {
    match r {
        Err(Error::BudgetExceeded { period: p }) => assert_eq!(
            p, period,
            "conformance::{}: {what}: BudgetExceeded must name the {period} cap",
            ctx.name
        ),
        other => panic!(
            "conformance::{}: {what} must fail with BudgetExceeded({period}), got {other:?}",
            ctx.name
        ),
    }
}

/// `reserve` succeeds while day spend stays within the daily cap (`<=`), fails with
/// `BudgetExceeded { period: "daily" }` beyond it, and a failed reserve reserves nothing.
pub async fn ledger_reserve_within_daily_cap<S: SpendLedger + ?Sized>(store: &S) {
    let ctx = Ctx::new("ledger_reserve_within_daily_cap");
    let n = ctx.name;
    let now = ctx.at(0);
    let before = ctx.ok("spend", store.spend(now).await);
    let caps = SpendCaps {
        daily: Some(before.day + micros(200_000)),
        monthly: None,
    };

    let r1 = ctx.ok("reserve", store.reserve(micros(76_270), &caps, now).await);
    assert_eq!(
        r1.amount,
        micros(76_270),
        "conformance::{n}: the reservation must carry its amount"
    );
    assert_eq!(
        (r1.day, r1.month),
        (now.day_key(), now.month_key()),
        "conformance::{n}: the reservation must carry now's day and month keys"
    );
    let s = ctx.ok("spend", store.spend(now).await);
    assert_eq!(
        (s.day - before.day, s.month - before.month),
        (micros(76_270), micros(76_270)),
        "conformance::{n}: a reservation must count in day and month spend"
    );

    let r2 = ctx.ok(
        "reserve",
        store.reserve(micros(76_270), &caps, ctx.at(60)).await,
    );
    assert_ne!(
        r1.id, r2.id,
        "conformance::{n}: two reservations got the same id"
    );
    assert_budget(
        &ctx,
        "a reserve past the daily cap",
        store.reserve(micros(76_270), &caps, ctx.at(120)).await,
        "daily",
    );
    let s = ctx.ok("spend", store.spend(now).await);
    assert_eq!(
        s.day - before.day,
        micros(152_540),
        "conformance::{n}: a refused reserve changed the spend"
    );
    // Exactly up to the cap is allowed.
    let r3 = ctx.ok(
        "reserve up to the cap exactly",
        store.reserve(micros(47_460), &caps, ctx.at(180)).await,
    );
    assert_budget(
        &ctx,
        "a reserve of 1 micro past the cap",
        store.reserve(micros(1), &caps, ctx.at(240)).await,
        "daily",
    );
    // No cap: anything goes.
    let r4 = ctx.ok(
        "reserve without caps",
        store
            .reserve(micros(5_000_000), &SpendCaps::default(), ctx.at(300))
            .await,
    );

    for r in [r1, r2, r3, r4] {
        ctx.ok("release", store.release(&r).await);
    }
    assert_eq!(
        ctx.ok("spend", store.spend(now).await),
        before,
        "conformance::{n}: releasing every reservation must restore the spend"
    );
}

/// The monthly cap counts every day of the month, and a new month starts from its own spend.
pub async fn ledger_monthly_cap<S: SpendLedger + ?Sized>(store: &S) {
    let ctx = Ctx::new_month("ledger_monthly_cap");
    let n = ctx.name;
    let (day1, day2) = (ctx.at(0), ctx.at(DAY));
    let before1 = ctx.ok("spend", store.spend(day1).await);
    let before2 = ctx.ok("spend", store.spend(day2).await);
    let caps = SpendCaps {
        daily: Some(before1.day.max(before2.day) + micros(10_000_000)),
        monthly: Some(before1.month + micros(150_000)),
    };

    let r1 = ctx.ok("reserve", store.reserve(micros(100_000), &caps, day1).await);
    let s2 = ctx.ok("spend", store.spend(day2).await);
    assert_eq!(
        s2.month - before2.month,
        micros(100_000),
        "conformance::{n}: day 1's reservation must count in the month seen from day 2"
    );
    assert_eq!(
        s2.day, before2.day,
        "conformance::{n}: day 1's reservation counted on day 2"
    );
    assert_budget(
        &ctx,
        "a reserve past the monthly cap",
        store.reserve(micros(60_000), &caps, day2).await,
        "monthly",
    );
    let r2 = ctx.ok(
        "reserve up to the monthly cap",
        store.reserve(micros(50_000), &caps, day2).await,
    );

    // The next month has its own total.
    let next_month = {
        let d = day1.to_datetime();
        let (y, m) = if d.month() == 12 {
            (d.year() + 1, 1)
        } else {
            (d.year(), d.month() + 1)
        };
        month_start(y, m).add(Duration::from_secs(3600))
    };
    let before_next = ctx.ok("spend", store.spend(next_month).await);
    let caps_next = SpendCaps {
        daily: None,
        monthly: Some(before_next.month + micros(100_000)),
    };
    let r3 = ctx.ok(
        "reserve in the next month",
        store.reserve(micros(100_000), &caps_next, next_month).await,
    );
    assert_eq!(
        r3.month,
        next_month.month_key(),
        "conformance::{n}: the reservation must carry its month"
    );

    for r in [r1, r2, r3] {
        ctx.ok("release", store.release(&r).await);
    }
    assert_eq!(
        ctx.ok("spend", store.spend(day2).await),
        before2,
        "conformance::{n}: releases must restore the spend"
    );
}

/// `settle` replaces a reservation by the actual amount (lower or higher, even past a cap),
/// `release` removes it; each applies at most once; settling or releasing an unknown id changes
/// nothing (it may return `Ok` or `NotFound`).
pub async fn ledger_settle_and_release<S: SpendLedger + ?Sized>(store: &S) {
    let ctx = Ctx::new("ledger_settle_and_release");
    let n = ctx.name;
    let now = ctx.at(0);
    let before = ctx.ok("spend", store.spend(now).await);
    let caps = SpendCaps {
        daily: Some(before.day + micros(200_000)),
        monthly: Some(before.month + micros(200_000)),
    };
    let delta = |s: SpendSummary| (s.day - before.day, s.month - before.month);

    let r1 = ctx.ok("reserve", store.reserve(micros(76_270), &caps, now).await);
    ctx.ok("settle lower", store.settle(&r1, micros(33_300)).await);
    assert_eq!(
        delta(ctx.ok("spend", store.spend(now).await)),
        (micros(33_300), micros(33_300)),
        "conformance::{n}: settle must replace the reserved amount by the actual one"
    );
    ctx.ok("settle twice", store.settle(&r1, micros(99_999)).await);
    ctx.ok("release after settle", store.release(&r1).await);
    assert_eq!(
        delta(ctx.ok("spend", store.spend(now).await)),
        (micros(33_300), micros(33_300)),
        "conformance::{n}: a second settle or a release after settle must be a no-op"
    );

    let r2 = ctx.ok("reserve", store.reserve(micros(100_000), &caps, now).await);
    ctx.ok("settle higher", store.settle(&r2, micros(250_000)).await);
    assert_eq!(
        delta(ctx.ok("spend", store.spend(now).await)).0,
        micros(283_300),
        "conformance::{n}: settling higher than reserved must count the actual amount, even past the cap"
    );
    assert_budget(
        &ctx,
        "a reserve when spend is past the cap",
        store.reserve(micros(1), &caps, now).await,
        "daily",
    );

    let caps = SpendCaps::default();
    let r3 = ctx.ok("reserve", store.reserve(micros(40_000), &caps, now).await);
    ctx.ok("release", store.release(&r3).await);
    ctx.ok("release twice", store.release(&r3).await);
    ctx.ok(
        "settle after release",
        store.settle(&r3, micros(40_000)).await,
    );
    assert_eq!(
        delta(ctx.ok("spend", store.spend(now).await)).0,
        micros(283_300),
        "conformance::{n}: release must remove the reservation, once"
    );

    let unknown = Reservation {
        id: i64::MAX as u64 - rand::random_range(0..1000),
        amount: micros(1_000),
        day: now.day_key(),
        month: now.month_key(),
    };
    for (what, r) in [
        (
            "settle of an unknown id",
            store.settle(&unknown, micros(5_000)).await,
        ),
        ("release of an unknown id", store.release(&unknown).await),
    ] {
        assert!(
            matches!(r, Ok(()) | Err(Error::NotFound(_))),
            "conformance::{n}: {what} must be Ok or NotFound, got {r:?}"
        );
    }
    assert_eq!(
        delta(ctx.ok("spend", store.spend(now).await)).0,
        micros(283_300),
        "conformance::{n}: settling or releasing an unknown reservation changed the spend"
    );

    // Leave the day as found: a refund of what stays settled.
    ctx.ok("record", store.record(micros(-283_300), now).await);
}

/// `record` adds unreserved spend to the day and month, even past a cap, and reserves then see it.
pub async fn ledger_record<S: SpendLedger + ?Sized>(store: &S) {
    let ctx = Ctx::new("ledger_record");
    let n = ctx.name;
    let now = ctx.at(0);
    let before = ctx.ok("spend", store.spend(now).await);
    ctx.ok("record", store.record(micros(5_000), now).await);
    ctx.ok("record", store.record(micros(7_500), ctx.at(60)).await);
    let s = ctx.ok("spend", store.spend(now).await);
    assert_eq!(
        (s.day - before.day, s.month - before.month),
        (micros(12_500), micros(12_500)),
        "conformance::{n}: record must add to day and month spend"
    );
    let caps = SpendCaps {
        daily: Some(before.day + micros(10_000)),
        monthly: None,
    };
    assert_budget(
        &ctx,
        "a reserve after recorded spend passed the cap",
        store.reserve(micros(1), &caps, now).await,
        "daily",
    );
    ctx.ok("record", store.record(micros(-12_500), now).await);
    assert_eq!(
        ctx.ok("spend", store.spend(now).await),
        before,
        "conformance::{n}: a negative record (refund) must subtract"
    );
}

/// Spend counts on the UTC day of `now`: 23:59:59.999 and 00:00:00.000 are different days of
/// the same month.
pub async fn ledger_day_rollover<S: SpendLedger + ?Sized>(store: &S) {
    let ctx = Ctx::new_month("ledger_day_rollover");
    let n = ctx.name;
    // Day 10 of the month, 23:59:59.999, then day 11 at midnight.
    let late = Timestamp::from_millis(ctx.base.as_millis() - 3_600_000 + 10 * DAY * 1000 - 1);
    let midnight = late.add(Duration::from_millis(1));
    assert_ne!(late.day_key(), midnight.day_key());
    let (b_late, b_mid) = (
        ctx.ok("spend", store.spend(late).await),
        ctx.ok("spend", store.spend(midnight).await),
    );
    let r = ctx.ok(
        "reserve",
        store
            .reserve(micros(1_000), &SpendCaps::default(), late)
            .await,
    );
    assert_eq!(
        r.day,
        late.day_key(),
        "conformance::{n}: the reservation must count on the day of now"
    );
    let (s_late, s_mid) = (
        ctx.ok("spend", store.spend(late).await),
        ctx.ok("spend", store.spend(midnight).await),
    );
    assert_eq!(
        s_late.day - b_late.day,
        micros(1_000),
        "conformance::{n}: the reservation must count on its day"
    );
    assert_eq!(
        s_mid.day, b_mid.day,
        "conformance::{n}: spend at 23:59:59.999 counted on the next day"
    );
    assert_eq!(
        s_mid.month - b_mid.month,
        micros(1_000),
        "conformance::{n}: the next day is in the same month"
    );
    ctx.ok("release", store.release(&r).await);
}

/// 64 concurrent reserves of 76 270 micros against a cap 1 000 000 above the current spend:
/// exactly 13 succeed and committed spend never exceeds the cap, for the daily cap and for the
/// monthly cap (with the reserves spread over the month's days).
pub async fn ledger_concurrent_reserves<S: SpendLedger + ?Sized>(store: &S) {
    let ctx = Ctx::new_month("ledger_concurrent_reserves");
    let n = ctx.name;
    let amount = micros(76_270);

    // Daily cap.
    let now = ctx.at(5 * DAY);
    let before = ctx.ok("spend", store.spend(now).await);
    let caps = SpendCaps {
        daily: Some(before.day + micros(1_000_000)),
        monthly: None,
    };
    let results = join_all((0..64).map(|_| store.reserve(amount, &caps, now)).collect()).await;
    let mut granted = Vec::new();
    for r in results {
        match r {
            Ok(res) => granted.push(res),
            Err(Error::BudgetExceeded { period: "daily" }) => {}
            Err(e) => panic!(
                "conformance::{n}: a concurrent reserve failed with {e:?} instead of BudgetExceeded(daily)"
            ),
        }
    }
    let s = ctx.ok("spend", store.spend(now).await);
    assert!(
        s.day - before.day <= micros(1_000_000),
        "conformance::{n}: concurrent reserves took day spend past the cap: {} over {}",
        s.day - before.day,
        micros(1_000_000)
    );
    assert_eq!(
        granted.len(),
        13,
        "conformance::{n}: {} of 64 concurrent reserves of 76 270 succeeded under a 1 000 000 cap (13 fit)",
        granted.len()
    );
    assert_eq!(
        s.day - before.day,
        amount * 13,
        "conformance::{n}: day spend must equal the granted reservations"
    );
    let ids: HashSet<u64> = granted.iter().map(|r| r.id).collect();
    assert_eq!(
        ids.len(),
        13,
        "conformance::{n}: concurrent reservations got duplicate ids"
    );
    for r in &granted {
        ctx.ok("release", store.release(r).await);
    }
    assert_eq!(
        ctx.ok("spend", store.spend(now).await),
        before,
        "conformance::{n}: releases must restore the spend"
    );

    // Monthly cap, over several days of the month.
    let first = ctx.at(0);
    let before_m = ctx.ok("spend", store.spend(first).await);
    let caps = SpendCaps {
        daily: None,
        monthly: Some(before_m.month + micros(1_000_000)),
    };
    let days: Vec<Timestamp> = (0..64).map(|i| ctx.at((i % 28) * DAY)).collect();
    let results = join_all(
        days.iter()
            .map(|&t| store.reserve(amount, &caps, t))
            .collect(),
    )
    .await;
    let mut granted = Vec::new();
    for r in results {
        match r {
            Ok(res) => granted.push(res),
            Err(Error::BudgetExceeded { period: "monthly" }) => {}
            Err(e) => panic!(
                "conformance::{n}: a concurrent reserve failed with {e:?} instead of BudgetExceeded(monthly)"
            ),
        }
    }
    let s = ctx.ok("spend", store.spend(first).await);
    assert!(
        s.month - before_m.month <= micros(1_000_000),
        "conformance::{n}: concurrent reserves took month spend past the cap"
    );
    assert_eq!(
        granted.len(),
        13,
        "conformance::{n}: {} of 64 concurrent reserves succeeded under the monthly cap (13 fit)",
        granted.len()
    );
    for r in &granted {
        ctx.ok("release", store.release(r).await);
    }
    assert_eq!(
        ctx.ok("spend", store.spend(first).await).month,
        before_m.month,
        "conformance::{n}: releases must restore the month"
    );
}

// ---------------------------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------------------------

/// `incr` adds (also under concurrency) and `counters` lists every counter.
pub async fn counters<S: Counters + ?Sized>(store: &S) {
    let ctx = Ctx::new("counters");
    let n = ctx.name;
    let a = format!("conformance.{}.a", ctx.tag);
    let b = format!("conformance.{}.b", ctx.tag);
    ctx.ok("incr", store.incr(&a, 1).await);
    ctx.ok("incr", store.incr(&a, 2).await);
    let results = join_all((0..20).map(|_| store.incr(&b, 5)).collect()).await;
    for r in results {
        ctx.ok("incr (concurrent)", r);
    }
    let all = ctx.ok("counters", store.counters().await);
    assert_eq!(
        all.get(&a).copied(),
        Some(3),
        "conformance::{n}: incr must add"
    );
    assert_eq!(
        all.get(&b).copied(),
        Some(100),
        "conformance::{n}: concurrent incr lost updates"
    );
}

// ---------------------------------------------------------------------------------------------
// SmsSender
// ---------------------------------------------------------------------------------------------

/// The error a sender is expected to return, for [`sender_classifies`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedError {
    /// [`Error::Transient`] with exactly this `retry_after`.
    Transient {
        /// The expected delay (`None`: the provider gave none).
        retry_after: Option<Duration>,
    },
    /// [`Error::Transient`], whatever its `retry_after`.
    TransientAnyDelay,
    /// [`Error::Permanent`].
    Permanent,
    /// [`Error::RecipientOptedOut`].
    OptedOut,
    /// [`Error::InvalidRecipient`].
    InvalidRecipient,
}

/// A message for sender tests: from `+33757000000` to `+33612345678`, with this body.
pub fn sample_sms(body: &str, client_ref: &str) -> OutboundSms {
    OutboundSms::for_test(
        parse("+33757000000"),
        parse("+33612345678"),
        body,
        client_ref,
    )
}

/// The sender must accept `sms` (the fake provider was told to accept it): the receipt has a
/// non-blank provider id, at least one segment, and a non-negative price if any. Returns the
/// receipt for further checks.
pub async fn sender_accepts<S: SmsSender + ?Sized>(sender: &S, sms: &OutboundSms) -> SendReceipt {
    let receipt = match sender.send(sms).await {
        Ok(r) => r,
        Err(e) => panic!("conformance::sender_accepts: the send failed: {e} ({e:?})"),
    };
    assert!(
        !receipt.provider_id.trim().is_empty(),
        "conformance::sender_accepts: the receipt has no provider id"
    );
    assert!(
        receipt.segments >= 1,
        "conformance::sender_accepts: the receipt counts {} segments",
        receipt.segments
    );
    if let Some(price) = receipt.price {
        assert!(
            price >= Money::ZERO,
            "conformance::sender_accepts: the price must be money spent (>= 0), got {price}"
        );
    }
    receipt
}

/// The sender must fail on `sms` with the `expected` kind of error (the fake provider was told
/// to answer accordingly), and `is_transient()` must agree. Returns the error for further checks.
pub async fn sender_classifies<S: SmsSender + ?Sized>(
    sender: &S,
    sms: &OutboundSms,
    expected: ExpectedError,
) -> Error {
    let err = match sender.send(sms).await {
        Ok(r) => panic!(
            "conformance::sender_classifies: expected {expected:?}, but the send succeeded: {r:?}"
        ),
        Err(e) => e,
    };
    let ok = match (&err, expected) {
        (Error::Transient { retry_after, .. }, ExpectedError::Transient { retry_after: want }) => {
            *retry_after == want
        }
        (Error::Transient { .. }, ExpectedError::TransientAnyDelay) => true,
        (Error::Permanent { .. }, ExpectedError::Permanent) => true,
        (Error::RecipientOptedOut, ExpectedError::OptedOut) => true,
        (Error::InvalidRecipient { .. }, ExpectedError::InvalidRecipient) => true,
        _ => false,
    };
    assert!(
        ok,
        "conformance::sender_classifies: expected {expected:?}, got {err:?}"
    );
    let transient = matches!(
        expected,
        ExpectedError::Transient { .. } | ExpectedError::TransientAnyDelay
    );
    assert_eq!(
        err.is_transient(),
        transient,
        "conformance::sender_classifies: is_transient() disagrees with {expected:?} for {err:?}"
    );
    err
}

/// The sender must accept every message of `messages` sent concurrently (its `send` is called
/// from many tasks at once). Returns the receipts in order.
pub async fn sender_sends_concurrently<S: SmsSender + ?Sized>(
    sender: &S,
    messages: &[OutboundSms],
) -> Vec<SendReceipt> {
    let results = join_all(messages.iter().map(|m| sender.send(m)).collect()).await;
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| match r {
            Ok(receipt) => {
                assert!(
                    !receipt.provider_id.trim().is_empty(),
                    "conformance::sender_sends_concurrently: receipt {i} has no provider id"
                );
                receipt
            }
            Err(e) => panic!(
                "conformance::sender_sends_concurrently: concurrent send {i} failed: {e} ({e:?})"
            ),
        })
        .collect()
}
