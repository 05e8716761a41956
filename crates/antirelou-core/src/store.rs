//! The storage traits: a durable reply queue, sender history, opt-outs, a spend ledger and
//! counters.
//!
//! They are separate traits so that each contract can be read (and tested, in
//! `antirelou_core::conformance`, feature `testing`) on its own, and one supertrait, [`Store`],
//! that the engine takes as `Arc<dyn Store>`. `Store` adds one combined operation, the one the
//! engine makes for an inbound text: [`Store::admit_text`] (opted out? already stored? then the
//! policy's verdict, then the contact and the lesson). Every backend (in-memory, SQLite,
//! PostgreSQL) implements all of them and passes the same conformance suite.
//!
//! All methods take the current time as an argument instead of reading a clock: backends stay
//! deterministic under the simulator's virtual clock and testable with a manual one.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::error::Result;
use crate::event::{Channel, DeliveryState};
use crate::money::Money;
use crate::phone::PhoneNumber;
use crate::policy::{Decision, Reason};
use crate::privacy::SenderHash;
pub use crate::spend::{SpendCaps, SpendSummary};

/// The id a backend gives a scheduled reply.
pub type ReplyId = u64;

/// What a scheduled reply will say. The text itself is not stored: the dispatcher takes it from
/// the number's configuration at send time, so the queue can never carry arbitrary text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyKind {
    /// The consent lesson.
    Lesson,
    /// The neutral first reply ("Hey, who is this?") sent at once so the number looks real.
    Neutral,
}

impl ReplyKind {
    /// A stable lowercase label (`"lesson"`, `"neutral"`), the form backends store.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyKind::Lesson => "lesson",
            ReplyKind::Neutral => "neutral",
        }
    }

    /// Parse [`ReplyKind::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "lesson" => Some(ReplyKind::Lesson),
            "neutral" => Some(ReplyKind::Neutral),
            _ => None,
        }
    }
}

/// A reply to schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReply {
    /// Makes scheduling idempotent: a second `schedule` with the same key is a no-op. Built from
    /// the provider's message id (`twilio:SM…:lesson`).
    pub idempotency_key: String,
    /// Our number, which will send the reply.
    pub number: PhoneNumber,
    /// Who gets it. Stored in plain only until the reply is sent, failed, expired or cancelled.
    pub recipient: PhoneNumber,
    /// The keyed hash of `recipient`, kept after the plain number is erased.
    pub sender: SenderHash,
    /// What it will say.
    pub kind: ReplyKind,
    /// Not to be sent before this instant.
    pub due_at: Timestamp,
    /// Not to be sent after this instant: it expires instead of arriving days late.
    pub expires_at: Timestamp,
}

/// What `schedule` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleOutcome {
    /// A new reply was stored.
    Scheduled(ReplyId),
    /// A reply with the same idempotency key already existed (whatever its state); nothing
    /// changed.
    Duplicate(ReplyId),
}

/// What [`ReplyQueue::schedule_lesson`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LessonSchedule {
    /// The sender's lesson slot was taken at `now` and the lesson stored under this id.
    Scheduled(ReplyId),
    /// A reply with the same idempotency key already existed (a second delivery of the same
    /// message); nothing changed.
    Duplicate(ReplyId),
    /// The sender began a lesson within the window; nothing changed.
    AlreadyTaught,
}

impl ScheduleOutcome {
    /// The reply's id either way.
    pub fn id(self) -> ReplyId {
        match self {
            ScheduleOutcome::Scheduled(id) | ScheduleOutcome::Duplicate(id) => id,
        }
    }
}

/// The abuse policy's verdict on an inbound text, asked by [`Store::admit_text`] once the text
/// is known to be neither from an opted-out sender nor a second delivery, and never otherwise.
///
/// It may be run by the backend's writer (on its own thread, inside the transaction that
/// stores the text's effects): it must be quick and must not block (an [`AbusePolicy::check`](crate::policy::AbusePolicy::check) is).
pub type AdmitDecision = Box<dyn FnOnce() -> Decision + Send + Sync>;

/// What [`Store::admit_text`] did with an inbound text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextAdmission {
    /// The sender opted out: nothing was recorded and the policy was not asked.
    OptedOut,
    /// A reply is stored under the lesson's key (a second delivery of the same message): nothing
    /// was recorded and the policy was not asked.
    Duplicate(ReplyId),
    /// The policy refused: the contact was recorded, no lesson was scheduled.
    Denied(Reason),
    /// The policy allowed: the contact was recorded and the lesson went through
    /// [`ReplyQueue::schedule_lesson`].
    Decided {
        /// The sender's record before this contact.
        previous: Option<SenderRecord>,
        /// What scheduling the lesson did.
        schedule: LessonSchedule,
    },
}

/// Proof that a worker holds a reply: its id and the attempt number of the claim. Any later
/// claim of the same reply has a higher attempt, which fences this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LeaseToken {
    /// The reply.
    pub id: ReplyId,
    /// The attempt number of this claim (1 for the first).
    pub attempt: u32,
}

/// A reply a worker has claimed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedReply {
    /// Its lease token.
    pub token: LeaseToken,
    /// The lease ends then; after that another worker may claim the reply.
    pub lease_until: Timestamp,
    /// Our number.
    pub number: PhoneNumber,
    /// The recipient.
    pub recipient: PhoneNumber,
    /// The recipient's hash.
    pub sender: SenderHash,
    /// What to say.
    pub kind: ReplyKind,
    /// When it was due.
    pub due_at: Timestamp,
    /// When it expires.
    pub expires_at: Timestamp,
    /// When it was scheduled. For a lesson stored by [`ReplyQueue::schedule_lesson`], the
    /// instant its sender's lesson slot was taken: the `began_at` to give
    /// [`SenderHistory::release_lesson`] when the lesson ends unsent.
    pub created_at: Timestamp,
}

/// The state of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyState {
    /// Waiting for its due time (or for a retry).
    Pending,
    /// Held by a worker under a lease.
    Claimed,
    /// Accepted by the provider.
    Sent,
    /// Failed for good.
    Failed,
    /// Not sent before its deadline.
    Expired,
    /// Cancelled (STOP, block, retired number).
    Cancelled,
}

impl ReplyState {
    /// A stable lowercase label, the form backends store.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyState::Pending => "pending",
            ReplyState::Claimed => "claimed",
            ReplyState::Sent => "sent",
            ReplyState::Failed => "failed",
            ReplyState::Expired => "expired",
            ReplyState::Cancelled => "cancelled",
        }
    }

    /// Parse [`ReplyState::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => ReplyState::Pending,
            "claimed" => ReplyState::Claimed,
            "sent" => ReplyState::Sent,
            "failed" => ReplyState::Failed,
            "expired" => ReplyState::Expired,
            "cancelled" => ReplyState::Cancelled,
            _ => return None,
        })
    }

    /// Whether the reply is finished (the plain number must be erased).
    pub fn is_terminal(self) -> bool {
        !matches!(self, ReplyState::Pending | ReplyState::Claimed)
    }
}

/// How a claimed reply ended for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TerminalState {
    /// Failed for good.
    Failed,
    /// Past its deadline.
    Expired,
    /// Cancelled at send time (opted out, blocked, retired number).
    Cancelled,
}

impl From<TerminalState> for ReplyState {
    fn from(t: TerminalState) -> Self {
        match t {
            TerminalState::Failed => ReplyState::Failed,
            TerminalState::Expired => ReplyState::Expired,
            TerminalState::Cancelled => ReplyState::Cancelled,
        }
    }
}

/// Everything a backend knows of a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyRecord {
    /// Its id.
    pub id: ReplyId,
    /// Its state.
    pub state: ReplyState,
    /// How many times it was claimed.
    pub attempt: u32,
    /// What it says.
    pub kind: ReplyKind,
    /// Our number.
    pub number: PhoneNumber,
    /// The recipient, `None` once erased.
    pub recipient: Option<PhoneNumber>,
    /// The recipient's hash.
    pub sender: SenderHash,
    /// When it is (or was) due.
    pub due_at: Timestamp,
    /// When it expires.
    pub expires_at: Timestamp,
    /// The provider's message id once sent.
    pub provider_id: Option<String>,
    /// The last error or the reason it ended.
    pub last_error: Option<String>,
    /// The last delivery state reported by the provider.
    pub delivery: Option<DeliveryState>,
    /// When its state last changed.
    pub updated_at: Timestamp,
}

/// Queue depth figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Pending replies, due or not.
    pub pending: u64,
    /// Pending replies already due.
    pub due: u64,
    /// Replies held by workers.
    pub claimed: u64,
}

/// The durable queue of delayed replies.
///
/// # Contract
/// * **Idempotent scheduling**: `schedule` with a key that exists returns
///   [`ScheduleOutcome::Duplicate`] and changes nothing, even under concurrent calls.
/// * **Exclusive claims**: `claim_due` hands a reply to one caller at a time. It claims pending
///   replies whose `due_at <= now`, and claimed replies whose lease ended (`lease_until <= now`:
///   their worker died), oldest due first. Each claim increments the attempt number.
/// * **Fencing**: `complete`, `retry_later`, `finish` and `release` succeed only with the token
///   of the current claim, while the reply is claimed; otherwise they return
///   [`Error::LeaseLost`](crate::Error::LeaseLost) and change nothing. A worker whose lease
///   expired and was taken over cannot overwrite the new worker's result.
/// * **Erasure**: when a reply reaches a terminal state its plain recipient number is erased
///   (only its [`SenderHash`] remains).
/// * **Durability**: a method that returned `Ok` has its effect stored (for durable backends,
///   committed to disk).
/// * **One lesson per sender, atomically with its reply**: `schedule_lesson` checks the
///   idempotency key, takes the sender's lesson slot (the one of [`SenderHistory`]) and stores
///   the reply in one transaction: either all of it happens or nothing does, so a crash can
///   never leave a slot taken without its lesson (the provider's retry schedules it), and of
///   concurrent calls for one sender within the window exactly one schedules. It lives on the
///   queue because its result is a reply and its first test is the queue's idempotency key.
/// * **Expiry gives the slot back**: `expire_overdue` releases, as
///   [`SenderHistory::release_lesson`] does, the lesson slot of every lesson it expires.
#[async_trait]
pub trait ReplyQueue: Send + Sync {
    /// Store a reply, unless one with the same idempotency key exists.
    async fn schedule(&self, reply: NewReply, now: Timestamp) -> Result<ScheduleOutcome>;

    /// In one transaction: if a reply with `reply.idempotency_key` exists →
    /// [`LessonSchedule::Duplicate`] (nothing changes); else if `reply.sender` began a lesson
    /// in `(now - window, now]` → [`LessonSchedule::AlreadyTaught`] (nothing changes); else take
    /// the slot (`last_lesson_at = now`, creating the sender's record with no contact if
    /// needed) and store the reply (its `created_at` is `now`) → [`LessonSchedule::Scheduled`].
    async fn schedule_lesson(
        &self,
        reply: NewReply,
        window: Duration,
        now: Timestamp,
    ) -> Result<LessonSchedule>;

    /// The id of the reply stored under `idempotency_key`, if any (a cheap read, to answer a
    /// duplicate delivery before counting it).
    async fn find_by_key(&self, idempotency_key: &str) -> Result<Option<ReplyId>>;

    /// Claim up to `limit` due replies for `lease`.
    async fn claim_due(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedReply>>;

    /// The provider accepted the reply: mark it sent with the provider's id and erase the number.
    async fn complete(&self, token: LeaseToken, provider_id: &str, now: Timestamp) -> Result<()>;

    /// A transient failure: back to pending, due again at `next_attempt_at`.
    async fn retry_later(
        &self,
        token: LeaseToken,
        next_attempt_at: Timestamp,
        error: &str,
        now: Timestamp,
    ) -> Result<()>;

    /// End the reply for good (failed, expired, cancelled) with a reason, and erase the number.
    async fn finish(
        &self,
        token: LeaseToken,
        state: TerminalState,
        reason: &str,
        now: Timestamp,
    ) -> Result<()>;

    /// Give the reply back unsent (graceful shutdown): pending again, due as before.
    async fn release(&self, token: LeaseToken, now: Timestamp) -> Result<()>;

    /// Cancel every pending (not claimed) reply to `sender`; returns how many. Used on STOP and
    /// blocks. A claimed reply is caught by the dispatcher's send-time re-check.
    async fn cancel_pending(
        &self,
        sender: &SenderHash,
        reason: &str,
        now: Timestamp,
    ) -> Result<u64>;

    /// Expire every pending reply whose `expires_at <= now`; returns how many. Each expired
    /// lesson releases its sender's slot if the slot still holds it (see
    /// [`SenderHistory::release_lesson`]).
    async fn expire_overdue(&self, now: Timestamp) -> Result<u64>;

    /// Record a delivery report for the reply sent with `provider_id`. Returns whether a reply
    /// matched.
    async fn record_delivery(
        &self,
        provider_id: &str,
        state: DeliveryState,
        now: Timestamp,
    ) -> Result<bool>;

    /// Our number that sent the reply with `provider_id` (the provider's message id given to
    /// [`ReplyQueue::complete`]), if a reply has it. The engine checks with it that a delivery
    /// report comes from the provider carrying that number.
    async fn sent_from(&self, provider_id: &str) -> Result<Option<PhoneNumber>>;

    /// The sender (by hash) the reply with `provider_id` was sent to, if a reply has it. The
    /// plain recipient is erased once a reply is sent; its hash stays for as long as the reply
    /// (until [`ReplyQueue::purge`]), so that a delivery report saying the recipient opted out
    /// can record his opt-out and cancel what is pending for him.
    async fn sent_to(&self, provider_id: &str) -> Result<Option<SenderHash>>;

    /// One reply, if it exists.
    async fn get(&self, id: ReplyId) -> Result<Option<ReplyRecord>>;

    /// Queue depth.
    async fn queue_stats(&self, now: Timestamp) -> Result<QueueStats>;

    /// Delete terminal replies last updated before `before`; returns how many. Their idempotency
    /// keys go with them.
    async fn purge(&self, before: Timestamp) -> Result<u64>;
}

/// What we know of a sender (by hash only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderRecord {
    /// First contact.
    pub first_seen: Timestamp,
    /// Last contact.
    pub last_seen: Timestamp,
    /// Number of contacts (texts and calls).
    pub contacts: u64,
    /// When the last lesson slot was taken, if ever.
    pub last_lesson_at: Option<Timestamp>,
}

/// The history of senders, keyed by hash.
///
/// # Contract
/// * `record_contact` returns the record as it was **before** this contact (`None` for a sender
///   never seen), and stores the contact.
/// * `try_begin_lesson` is atomic: of any number of concurrent calls for one sender within
///   `window`, exactly one returns `true` (and so for it against
///   [`ReplyQueue::schedule_lesson`]). It is the source of truth for "one lesson per sender";
///   in-memory filters only speed it up.
/// * `release_lesson(sender, began_at)` frees the slot only if it still holds the lesson begun
///   at `began_at` (`last_lesson_at == began_at`): it never frees a newer lesson.
/// * **Retention**: `purge_senders(before)` deletes the records of senders whose last contact
///   and last lesson (if any) are both before `before`, except those opted out (an opt-out is
///   kept as long as it stands, and so is its sender's record). A purged sender is a stranger
///   again: his next text is a first contact. Run it periodically with `before = now -
///   retention`; the retention must be at least the lesson window (or a purged sender could be
///   taught twice within it), and the engine does not run it: call it where
///   [`ReplyQueue::purge`] is called (in the reference server, its hourly purger).
#[async_trait]
pub trait SenderHistory: Send + Sync {
    /// Store a contact; returns the previous record.
    async fn record_contact(
        &self,
        sender: &SenderHash,
        channel: Channel,
        now: Timestamp,
    ) -> Result<Option<SenderRecord>>;

    /// Take the sender's lesson slot if no lesson was begun in `(now - window, now]`.
    async fn try_begin_lesson(
        &self,
        sender: &SenderHash,
        window: Duration,
        now: Timestamp,
    ) -> Result<bool>;

    /// The sender's record, if any.
    async fn sender(&self, sender: &SenderHash) -> Result<Option<SenderRecord>>;

    /// Give back the lesson slot taken at `began_at`, if the sender's slot still holds it
    /// (`last_lesson_at == began_at` becomes "no lesson"). Returns whether it did. The
    /// dispatcher calls it when a lesson ends unsent for a reason that is not the man's
    /// (policy re-check, expiry), so that his next text is not refused as "already taught".
    async fn release_lesson(&self, sender: &SenderHash, began_at: Timestamp) -> Result<bool>;

    /// Delete the records of senders whose last contact and last lesson are both before
    /// `before` and who are not opted out; returns how many.
    async fn purge_senders(&self, before: Timestamp) -> Result<u64>;
}

/// Opt-outs (STOP / START), keyed by hash.
///
/// # Contract
/// Durable; the last call for a sender wins.
#[async_trait]
pub trait OptOutStore: Send + Sync {
    /// Record an opt-out (`true`) or an opt-in (`false`).
    async fn set_opted_out(
        &self,
        sender: &SenderHash,
        opted_out: bool,
        now: Timestamp,
    ) -> Result<()>;

    /// Whether the sender is opted out.
    async fn is_opted_out(&self, sender: &SenderHash) -> Result<bool>;
}

/// A reservation of spend, taken before a send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reservation {
    /// Backend id; settling or releasing twice is a no-op.
    pub id: u64,
    /// The amount reserved.
    pub amount: Money,
    /// The UTC day it counts against (`yyyymmdd`).
    pub day: u32,
    /// The UTC month it counts against (`yyyymm`).
    pub month: u32,
}

/// The spend ledger: money is reserved before each send, then settled at the real price.
///
/// # Contract
/// * `reserve` is atomic: it succeeds only if the day's and the month's committed spend
///   (settled plus reserved) stays within every cap **after** adding the amount; otherwise it
///   returns [`Error::BudgetExceeded`](crate::Error::BudgetExceeded) and reserves nothing.
///   Under any concurrency, committed spend never exceeds a cap.
/// * `settle` replaces the reserved amount by the actual amount; `release` removes it. Each is
///   applied at most once per reservation. A reservation never settled (the worker crashed)
///   stays counted: the ledger errs on the side of spending less.
///   Settling or releasing a reservation the backend does not know (or already closed) changes
///   nothing: backends return `Ok(())` or [`Error::NotFound`](crate::Error::NotFound).
/// * `record` adds spend that was not reserved (a price correction from a delivery report, the
///   cost of inbound messages). It may take spend past a cap: that money is already gone.
#[async_trait]
pub trait SpendLedger: Send + Sync {
    /// Reserve `amount` against `caps` at `now`.
    async fn reserve(&self, amount: Money, caps: &SpendCaps, now: Timestamp)
    -> Result<Reservation>;

    /// Replace a reservation by the actual spend.
    async fn settle(&self, reservation: &Reservation, actual: Money) -> Result<()>;

    /// Cancel a reservation (nothing was sent).
    async fn release(&self, reservation: &Reservation) -> Result<()>;

    /// Record spend that was not reserved.
    async fn record(&self, amount: Money, now: Timestamp) -> Result<()>;

    /// Committed spend for the day and month of `now`.
    async fn spend(&self, now: Timestamp) -> Result<SpendSummary>;
}

/// Named monotonic counters for statistics (`inbound.sms`, `drop.opted_out`, …).
#[async_trait]
pub trait Counters: Send + Sync {
    /// Add `by` to counter `name`.
    async fn incr(&self, name: &str, by: u64) -> Result<()>;

    /// All counters.
    async fn counters(&self) -> Result<BTreeMap<String, u64>>;
}

/// Everything the engine needs from storage: the five component traits, plus the one combined
/// operation the engine makes, [`Store::admit_text`] (an inbound text, whole).
///
/// `admit_text` has a default body that makes the component calls in order, so a backend gets
/// it for free with `impl Store for MyStore {}` (the in-memory and PostgreSQL stores do). A
/// backend that can do better overrides it: the SQLite store makes a text's reads and writes
/// inside the group-commit transaction that stores them, so a webhook waits for one commit.
///
/// # Contract
/// An override has exactly the effects and results of the default body.
#[async_trait]
pub trait Store:
    ReplyQueue + SenderHistory + OptOutStore + SpendLedger + Counters + std::fmt::Debug
{
    /// An inbound text, whole: its reads, the policy's verdict and its writes. For the text
    /// whose lesson is `lesson` (its sender is `lesson.sender`, its key
    /// `lesson.idempotency_key`), in this order:
    ///
    /// 1. an opted-out sender: [`TextAdmission::OptedOut`], nothing else;
    /// 2. a reply stored under the key: [`TextAdmission::Duplicate`], nothing else;
    /// 3. otherwise `decide` is run once; on [`Decision::Deny`] the contact is recorded
    ///    ([`SenderHistory::record_contact`], channel SMS) and the answer is
    ///    [`TextAdmission::Denied`]; on [`Decision::Allow`] (or [`Decision::Defer`]: a deferred
    ///    lesson is stored like an allowed one) the contact is recorded, then the lesson goes
    ///    through [`ReplyQueue::schedule_lesson`]`(lesson, window, now)`, and the answer is
    ///    [`TextAdmission::Decided`] with the sender's previous record.
    ///
    /// The default body makes these calls one by one. A backend that groups writes overrides it
    /// to make the reads inside the transaction that stores the writes (the SQLite store: no
    /// separate read before the commit). An error leaves the text unanswered (the provider
    /// delivers it again); `decide` may then have run, and some of the writes may be stored
    /// (each is idempotent or a counted contact, as when the provider retries a webhook).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use antirelou_core::memory::InMemoryStore;
    /// use antirelou_core::policy::Decision;
    /// use antirelou_core::store::{LessonSchedule, NewReply, ReplyKind, Store, TextAdmission};
    /// use antirelou_core::{PhoneNumber, Timestamp};
    /// use antirelou_core::privacy::SenderHash;
    ///
    /// let store = InMemoryStore::new();
    /// let number = PhoneNumber::parse("+33937000000").unwrap();
    /// let him = PhoneNumber::parse("+33612345678").unwrap();
    /// let now = Timestamp::from_millis(1_700_000_000_000);
    /// let lesson = NewReply {
    ///     idempotency_key: "twilio:SM1:lesson".into(),
    ///     number,
    ///     recipient: him,
    ///     sender: SenderHash([7; 16]),
    ///     kind: ReplyKind::Lesson,
    ///     due_at: now,
    ///     expires_at: now,
    /// };
    /// let window = Duration::from_secs(30 * 86_400);
    /// let first = store
    ///     .admit_text(lesson.clone(), window, now, Box::new(|| Decision::Allow))
    ///     .await
    ///     .unwrap();
    /// assert!(matches!(first, TextAdmission::Decided { previous: None, schedule: LessonSchedule::Scheduled(_) }));
    /// // The provider delivers the same message again: the policy is not asked.
    /// let again = store
    ///     .admit_text(lesson, window, now, Box::new(|| unreachable!()))
    ///     .await
    ///     .unwrap();
    /// assert!(matches!(again, TextAdmission::Duplicate(_)));
    /// # });
    /// ```
    async fn admit_text(
        &self,
        lesson: NewReply,
        window: Duration,
        now: Timestamp,
        decide: AdmitDecision,
    ) -> Result<TextAdmission> {
        admit_in_steps(self, lesson, window, now, decide).await
    }
}

/// [`Store::admit_text`]'s default body: the two reads, then `decide`, then the writes, each its
/// own call. Private: it is the contract's reference, not a second way in.
async fn admit_in_steps<S: Store + ?Sized>(
    store: &S,
    lesson: NewReply,
    window: Duration,
    now: Timestamp,
    decide: AdmitDecision,
) -> Result<TextAdmission> {
    if store.is_opted_out(&lesson.sender).await? {
        return Ok(TextAdmission::OptedOut);
    }
    if let Some(id) = store.find_by_key(&lesson.idempotency_key).await? {
        return Ok(TextAdmission::Duplicate(id));
    }
    let verdict = decide();
    let previous = store
        .record_contact(&lesson.sender, Channel::Sms, now)
        .await?;
    if let Decision::Deny(reason) = verdict {
        return Ok(TextAdmission::Denied(reason));
    }
    let schedule = store.schedule_lesson(lesson, window, now).await?;
    Ok(TextAdmission::Decided { previous, schedule })
}
