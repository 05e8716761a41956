//! The dispatcher: claims due replies under a lease, checks everything again, pays, sends.
//!
//! Per claimed reply, in order:
//!
//! 1. past its deadline → expired;
//! 2. its number gone or retired → cancelled; paused → held for
//!    [`EngineConfig::paused_hold`](super::EngineConfig::paused_hold);
//! 3. recipient opted out since → cancelled; the abuse policy's `recheck` denies → cancelled,
//!    defers → held back to the next multiple of
//!    [`EngineConfig::defer_retry`](super::EngineConfig::defer_retry) × 2^min(claims − 1, 4)
//!    plus the lesson's rank in seconds, or dropped (`drop.deferred_too_long`) when that is past its deadline (see the
//!    `deferral` module);
//!    a lesson cancelled by the re-check or expired (here, by the budget or by
//!    [`ReplyQueue::expire_overdue`]) gives its sender's lesson slot back
//!    ([`SenderHistory::release_lesson`](crate::store::SenderHistory::release_lesson)): he never
//!    got it, so his next text may schedule one (except a lesson dropped for the budget on a
//!    claim that is not its first when the provider cannot tell whether an earlier claim was
//!    accepted: he may have got it, his slot stays taken);
//! 4. the text is built from the number's lessons (never from the queue); a claim that is not
//!    the reply's first asks the provider whether an earlier one was accepted
//!    ([`SmsTransport::find_accepted`]) and, if so, records that send instead of sending again;
//!    a lesson goes out in its locale's one-segment short form when a cap is past
//!    [`EngineConfig::short_form_above`](super::EngineConfig::short_form_above) spent; the cost
//!    of the text chosen (its own segments) is reserved in the ledger at the price last billed
//!    for the recipient's calling code (never below the configured price); a cap reached → the
//!    short form is tried, then a lesson is deferred to the next day or month (plus its rank),
//!    or dropped past its deadline (`drop.deferred_too_long`); another reply is deferred or
//!    expired;
//! 5. the provider account's pace is respected (a burst waits for its slot);
//! 6. sent: accepted → completed with the provider's id and the cost settled; transient error →
//!    retried with exponential backoff and jitter (at least the provider's `retry_after`) unless
//!    that passes the deadline; opted out at the provider → opt-out recorded, failed; any other
//!    error → failed with its reason.
//!
//! Stores hand a reply to one worker at a time and fence stale workers
//! ([`ReplyQueue`](crate::store::ReplyQueue)), so many dispatchers, in one process or many, can
//! share a store. A worker that dies holding a reply loses nothing: its lease expires and another
//! takes the reply over. If it died after the provider accepted the message and before the store
//! recorded it, that reply goes out a second time when its lease has expired (at most one
//! duplicate per send in flight at the crash: [`EngineConfig::workers`](super::EngineConfig::workers)
//! per process), unless the provider can tell it already accepted it (step 4).

mod recovery;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::deferral::{next_grid, rank_of, release_at};
use super::inbound::contact;
use super::numbers::{NumberEntry, NumberStatus};
use super::pacing::{Pacer, RatePerSecond};
use super::prices::Estimate;
use super::timing::{backoff, next_period_start};
use super::{Engine, Inner, scrub};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::event::{Channel, ProviderId};
use crate::policy::{Decision, Reason};
use crate::store::{ClaimedReply, ReplyKind, ReplyQueue, Reservation, SpendLedger, TerminalState};
use crate::transport::{OutboundSms, SmsTransport};
use recovery::Prior;

/// The longest provider `Retry-After` the dispatcher honours. Adapters pass the provider's value
/// through unclamped (`kit::parse_retry_after`); this is the one clamp, so that a silly or
/// hostile value cannot park a reply until it expires.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The transports of each provider account, with their optional pace.
///
/// ```
/// use std::sync::Arc;
/// use antirelou_core::engine::{RatePerSecond, Transports};
/// use antirelou_core::ProviderId;
/// use antirelou_core::stub::StubTransport;
/// let transports = Transports::new()
///     .with(ProviderId::from_static("acme"), Arc::new(StubTransport::new()), Some(RatePerSecond::new(1.0).unwrap()));
/// assert!(transports.get(ProviderId::from_static("acme")).is_some());
/// assert!(transports.get(ProviderId::from_static("other")).is_none());
/// ```
#[derive(Clone, Default)]
pub struct Transports {
    map: HashMap<ProviderId, Route>,
}

#[derive(Clone)]
struct Route {
    transport: Arc<dyn SmsTransport>,
    pacer: Option<Arc<Pacer>>,
}

impl Transports {
    /// No transports yet.
    pub fn new() -> Self {
        Transports::default()
    }

    /// Add (or replace) the transport of `provider`, sending at most `pace` messages per second
    /// when given.
    pub fn with(
        mut self,
        provider: ProviderId,
        transport: Arc<dyn SmsTransport>,
        pace: Option<RatePerSecond>,
    ) -> Self {
        self.insert(provider, transport, pace);
        self
    }

    /// Add (or replace) the transport of `provider`.
    pub fn insert(
        &mut self,
        provider: ProviderId,
        transport: Arc<dyn SmsTransport>,
        pace: Option<RatePerSecond>,
    ) {
        self.map.insert(
            provider,
            Route {
                transport,
                pacer: pace.map(|r| Arc::new(Pacer::new(r))),
            },
        );
    }

    /// The transport of `provider`, if any.
    pub fn get(&self, provider: ProviderId) -> Option<&Arc<dyn SmsTransport>> {
        self.map.get(&provider).map(|r| &r.transport)
    }
}

impl fmt::Debug for Transports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (p, r) in &self.map {
            m.entry(&p.as_str(), &r.pacer.is_some());
        }
        m.finish()
    }
}

/// What one [`Dispatcher::tick`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TickReport {
    /// Replies claimed.
    pub claimed: u64,
    /// Accepted by the provider.
    pub sent: u64,
    /// Transient failures put back for a later attempt.
    pub retried: u64,
    /// Failed for good.
    pub failed: u64,
    /// Expired (past their deadline, including those expired in bulk before claiming).
    pub expired: u64,
    /// Cancelled at send time (opted out, policy, retired or unknown number).
    pub cancelled: u64,
    /// Deferred to the next spend period because a cap was reached.
    pub budget_deferred: u64,
    /// Lessons held back because the policy deferred them or a cap was reached (the latter
    /// counted in `budget_deferred` too).
    pub deferred: u64,
    /// Held because their number is paused.
    pub held: u64,
    /// Put back because the provider account's pace had no slot soon enough.
    pub paced: u64,
    /// Sent, but the lease had been taken over meanwhile (counted in `sent` too).
    pub lease_lost: u64,
    /// Given back unsent: at shutdown, or because too little of the lease was left to start a
    /// send (earlier sends of the batch took long); due again at once.
    pub released: u64,
    /// Storage errors while processing a reply (the reply is left for a later claim).
    pub errors: u64,
}

impl TickReport {
    /// Add another report's counts to this one.
    pub fn absorb(&mut self, o: &TickReport) {
        self.claimed += o.claimed;
        self.sent += o.sent;
        self.retried += o.retried;
        self.failed += o.failed;
        self.expired += o.expired;
        self.cancelled += o.cancelled;
        self.budget_deferred += o.budget_deferred;
        self.deferred += o.deferred;
        self.held += o.held;
        self.paced += o.paced;
        self.lease_lost += o.lease_lost;
        self.released += o.released;
        self.errors += o.errors;
    }
}

/// Sends due replies. Cheap to clone; clones share the transports and their pacing.
#[derive(Clone, Debug)]
pub struct Dispatcher {
    engine: Engine,
    transports: Arc<Transports>,
}

/// How one claimed reply ended in this tick.
enum Step {
    Sent { lease_lost: bool },
    Retried,
    Failed,
    Expired,
    Cancelled,
    BudgetDeferred,
    Deferred { budget: bool },
    Held,
    Paced,
    Released,
}

/// What the checks of steps 1–3 decided for a reply that does not go on to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// End it as expired, noted `note`, counted under `counted`; a lesson gives its sender's
    /// slot back.
    Expire { note: &'static str, counted: Reason },
    /// End it as cancelled for `reason`; a lesson gives its sender's slot back when
    /// `give_slot_back`.
    Cancel {
        reason: Reason,
        give_slot_back: bool,
    },
    /// Its number is paused: try again at `until`.
    Hold { until: Timestamp },
    /// The policy defers it: held back from `base` (see [`Dispatcher::defer`]).
    Defer { reason: Reason, base: Timestamp },
}

impl Verdict {
    /// Cancelled for a reason that is the man's or the number's: his slot stays taken.
    fn cancel(reason: Reason) -> Self {
        Verdict::Cancel {
            reason,
            give_slot_back: false,
        }
    }
}

/// Steps 1–2, decided from the claim's deadline, its number's status (`None`: the number is
/// not ours any more), the time and how long a paused number holds a reply: `None` lets the
/// reply go on to step 3.
fn screen_claim(
    now: Timestamp,
    expires_at: Timestamp,
    status: Option<NumberStatus>,
    paused_hold: Duration,
) -> Option<Verdict> {
    if now >= expires_at {
        return Some(Verdict::Expire {
            note: "deadline",
            counted: Reason::Expired,
        });
    }
    let Some(status) = status else {
        return Some(Verdict::cancel(Reason::UnknownNumber));
    };
    match status.refusal()? {
        Reason::NumberPaused => {
            let until = now.add(paused_hold);
            Some(if until >= expires_at {
                Verdict::Expire {
                    note: Reason::NumberPaused.as_str(),
                    counted: Reason::NumberPaused,
                }
            } else {
                Verdict::Hold { until }
            })
        }
        reason => Some(Verdict::cancel(reason)),
    }
}

/// Step 3, decided from whether the recipient opted out and, only when he did not, the abuse
/// policy's re-check; a deferral is looked at again on a shared grid whose step doubles with
/// each claim (`attempt`), up to 16 × `defer_retry`, so that a long flood is not rechecked every
/// few minutes. `None` lets the reply go on to be sent.
fn screen_contact(
    opted_out: bool,
    recheck: impl FnOnce() -> Decision,
    now: Timestamp,
    attempt: u32,
    defer_retry: Duration,
) -> Option<Verdict> {
    if opted_out {
        return Some(Verdict::cancel(Reason::OptedOut));
    }
    match recheck() {
        Decision::Allow => None,
        Decision::Deny(reason) => Some(Verdict::Cancel {
            reason,
            give_slot_back: true,
        }),
        Decision::Defer(reason) => {
            let doublings = attempt.saturating_sub(1).min(4);
            let step = defer_retry.saturating_mul(1 << doublings);
            Some(Verdict::Defer {
                reason,
                base: next_grid(now, step),
            })
        }
    }
}

/// Whether a lesson that ends unsent gives its sender's lesson slot back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// He never got it: his next text may schedule one.
    GiveBack,
    /// An earlier claim may have reached the provider (a non-first claim the provider could
    /// not tell about): he may have been taught, the slot stays taken.
    Keep,
}

/// The price facts of a send, for settling it.
#[derive(Clone, Copy, Debug)]
struct Priced {
    estimate: crate::money::Money,
    calling_code: u16,
    short_form: bool,
}

impl Dispatcher {
    pub(crate) fn new(engine: Engine, transports: Transports) -> Self {
        for n in engine.numbers().list() {
            if transports.get(n.provider).is_none() {
                tracing::warn!(number = %n.number.masked(), provider = n.provider.as_str(),
                    "no sender for this number's provider: its replies will wait");
            }
        }
        Dispatcher {
            engine,
            transports: Arc::new(transports),
        }
    }

    fn inner(&self) -> &Inner {
        self.engine.inner()
    }

    /// Expire overdue replies, then claim the replies due at the engine clock's `now` (at most
    /// [`EngineConfig::claim_batch`](super::EngineConfig::claim_batch)) and process them one by
    /// one. Returns what happened. Tests and the simulator call it with a
    /// [`ManualClock`](crate::ManualClock); [`Dispatcher::run`] calls it in a loop.
    pub async fn tick(&self) -> Result<TickReport> {
        self.tick_until(None).await
    }

    async fn tick_until(&self, stop: Option<&watch::Receiver<bool>>) -> Result<TickReport> {
        let inner = self.inner();
        let mut report = TickReport::default();
        let now = inner.clock.now();
        let expired = inner.store.expire_overdue(now).await?;
        if expired > 0 {
            report.expired += expired;
            inner.count(Reason::Expired.counter(), expired).await;
            tracing::info!(expired, "replies expired before they could be sent");
        }
        let claimed = inner
            .store
            .claim_due(now, inner.config.lease, inner.config.claim_batch)
            .await?;
        report.claimed = claimed.len() as u64;
        for reply in claimed {
            if stop.is_some_and(|s| *s.borrow()) {
                match ReplyQueue::release(&*inner.store, reply.token, inner.clock.now()).await {
                    Ok(()) => report.released += 1,
                    Err(e) => {
                        report.errors += 1;
                        tracing::warn!(reply = reply.token.id, error = %e, "could not release a claim at shutdown");
                    }
                }
                continue;
            }
            let token = reply.token;
            let step = self.process(reply).await;
            if let Ok(Step::Sent { .. } | Step::Failed | Step::Expired | Step::Cancelled) = step {
                inner.deferred.release(token.id);
            }
            match step {
                Ok(step) => match step {
                    Step::Sent { lease_lost } => {
                        report.sent += 1;
                        report.lease_lost += u64::from(lease_lost);
                    }
                    Step::Retried => report.retried += 1,
                    Step::Failed => report.failed += 1,
                    Step::Expired => report.expired += 1,
                    Step::Cancelled => report.cancelled += 1,
                    Step::BudgetDeferred => report.budget_deferred += 1,
                    Step::Deferred { budget } => {
                        report.deferred += 1;
                        report.budget_deferred += u64::from(budget);
                    }
                    Step::Held => report.held += 1,
                    Step::Paced => report.paced += 1,
                    Step::Released => report.released += 1,
                },
                Err(e) => {
                    report.errors += 1;
                    tracing::warn!(reply = token.id, attempt = token.attempt, error = %e,
                        "reply left for a later claim after an error");
                }
            }
        }
        Ok(report)
    }

    /// Send one claimed reply, or decide why not: the checks of steps 1–3 are decided by
    /// [`screen_claim`] and [`screen_contact`] and carried out by [`Dispatcher::enact`]; a reply
    /// that passes them goes to [`Dispatcher::send`].
    async fn process(&self, c: ClaimedReply) -> Result<Step> {
        let inner = self.inner();
        let now = inner.clock.now();
        let entry = inner.numbers.entry(&c.number);
        let status = entry.as_ref().map(|e| e.config.status);
        let entry = match (
            screen_claim(now, c.expires_at, status, inner.config.paused_hold),
            entry,
        ) {
            (Some(verdict), _) => return self.enact(&c, now, verdict).await,
            (None, Some(entry)) => entry,
            (None, None) => {
                return self
                    .enact(&c, now, Verdict::cancel(Reason::UnknownNumber))
                    .await;
            }
        };
        let opted_out = inner.store.is_opted_out(&c.sender).await?;
        let recheck = || {
            inner
                .policy
                .recheck(&contact(&c.recipient, &c.number, Channel::Sms, now))
        };
        let attempt = c.token.attempt;
        if let Some(verdict) =
            screen_contact(opted_out, recheck, now, attempt, inner.config.defer_retry)
        {
            return self.enact(&c, now, verdict).await;
        }
        self.send(&c, &entry, now).await
    }

    /// Carry out a verdict of steps 1–3: end, hold or defer the reply.
    async fn enact(&self, c: &ClaimedReply, now: Timestamp, verdict: Verdict) -> Result<Step> {
        let inner = self.inner();
        let store = &inner.store;
        match verdict {
            Verdict::Expire { note, counted } => {
                store
                    .finish(c.token, TerminalState::Expired, note, now)
                    .await?;
                self.lesson_unsent(c, now).await;
                inner.count(counted.counter(), 1).await;
                Ok(Step::Expired)
            }
            Verdict::Cancel {
                reason,
                give_slot_back,
            } => {
                store
                    .finish(c.token, TerminalState::Cancelled, reason.as_str(), now)
                    .await?;
                if give_slot_back {
                    self.lesson_unsent(c, now).await;
                }
                inner.count(reason.counter(), 1).await;
                Ok(Step::Cancelled)
            }
            Verdict::Hold { until } => {
                store
                    .retry_later(c.token, until, Reason::NumberPaused.as_str(), now)
                    .await?;
                Ok(Step::Held)
            }
            Verdict::Defer { reason, base } => {
                self.defer(c, now, reason, base, Slot::GiveBack).await
            }
        }
    }

    /// Steps 4–6 for a reply that passed the checks: build its text, ask the provider about an
    /// earlier claim, reserve the cost, wait for the account's pace, send.
    async fn send(&self, c: &ClaimedReply, entry: &NumberEntry, now: Timestamp) -> Result<Step> {
        let inner = self.inner();
        let store = &inner.store;
        let token = c.token;

        // The text comes from the number's configuration, never from the queue.
        // Under budget pressure a lesson goes out in its one-segment short form, when the
        // locale has one: above `short_form_above` of a cap, or when the full form does not fit.
        let text = match c.kind {
            ReplyKind::Lesson => entry.lessons.sms.clone(),
            ReplyKind::Neutral => entry.lessons.neutral_reply.clone(),
        };
        let short = match c.kind {
            ReplyKind::Lesson => entry.lessons.sms_short.clone(),
            ReplyKind::Neutral => None,
        };
        let client_ref = format!("r{}a{}", token.id, token.attempt);
        let outbound = |text: String| {
            OutboundSms::new(
                c.number.clone(),
                c.recipient.clone(),
                text,
                client_ref.clone(),
            )
        };
        let mut short_form = false;
        let mut sms = match &short {
            Some(s) if self.budget_pressed(now).await? => {
                short_form = true;
                outbound(s.clone())
            }
            _ => outbound(text),
        };

        let Some(route) = self.transports.map.get(&entry.config.provider) else {
            tracing::error!(number = %c.number.masked(), provider = entry.config.provider.as_str(),
                "no sender configured for this provider");
            return self
                .retry(
                    c,
                    now,
                    None,
                    "no sender configured for the number's provider",
                )
                .await;
        };

        // A send must start with at least half a lease left, so that it ends before anyone may
        // take the reply over. Earlier sends of the batch (slow provider, pacing) eat the lease.
        let remaining = c.lease_until.since(now);
        let half_lease = inner.config.lease / 2;
        if remaining < half_lease {
            ReplyQueue::release(&**store, token, now).await?;
            return Ok(Step::Released);
        }

        let calling_code = c.recipient.calling_code();
        let per_segment = inner
            .prices
            .per_segment(calling_code, inner.config.price_per_segment);
        let mut estimate = per_segment * sms.segments();
        let slot = match self
            .already_sent(c, &*route.transport, &sms, estimate)
            .await?
        {
            Prior::Recorded(step) => return Ok(step),
            Prior::NotSent => Slot::GiveBack,
            // He may have got this lesson from the earlier claim: his slot stays taken.
            Prior::Unknown => Slot::Keep,
        };
        let mut reserved = store.reserve(estimate, &inner.config.caps, now).await;
        // The full form does not fit: try the short form (reserved at its own segments) before
        // deferring.
        if let (Err(Error::BudgetExceeded { .. }), false, Some(s)) = (&reserved, short_form, &short)
        {
            let shorter = outbound(s.clone());
            let cost = per_segment * shorter.segments();
            reserved = store.reserve(cost, &inner.config.caps, now).await;
            if reserved.is_ok() {
                (sms, estimate, short_form) = (shorter, cost, true);
            }
        }
        let reservation = match reserved {
            Ok(r) => r,
            Err(Error::BudgetExceeded { period }) => {
                return self.over_cap(c, now, period, slot).await;
            }
            Err(e) => return Err(e),
        };
        if let Some(pacer) = &route.pacer
            && let Some(step) = self
                .pace(c, now, pacer, remaining - half_lease, &reservation)
                .await?
        {
            return Ok(step);
        }
        let priced = Priced {
            estimate,
            calling_code,
            short_form,
        };
        self.transmit(c, &*route.transport, &sms, &reservation, priced)
            .await
    }

    /// A spend cap is reached for `c` (`period`: which one): a lesson is deferred to the next
    /// period (or dropped past its deadline), another reply waits for the next period or
    /// expires. `slot` says whether a lesson dropped here gives its sender's slot back.
    async fn over_cap(
        &self,
        c: &ClaimedReply,
        now: Timestamp,
        period: &'static str,
        slot: Slot,
    ) -> Result<Step> {
        let inner = self.inner();
        let store = &inner.store;
        let token = c.token;
        let next = next_period_start(now, period);
        if c.kind == ReplyKind::Lesson {
            inner.count("budget.deferred", 1).await;
            tracing::warn!(
                period,
                reply = token.id,
                "spend cap reached: lesson deferred"
            );
            return self
                .defer(c, now, Reason::BudgetExhausted, next, slot)
                .await;
        }
        if next < c.expires_at {
            store
                .retry_later(token, next, &format!("budget_exhausted ({period})"), now)
                .await?;
            inner.count("budget.deferred", 1).await;
            tracing::warn!(period, reply = token.id, until = %next,
                "spend cap reached: reply deferred to the next period");
            return Ok(Step::BudgetDeferred);
        }
        store
            .finish(
                token,
                TerminalState::Expired,
                Reason::BudgetExhausted.as_str(),
                now,
            )
            .await?;
        if slot == Slot::GiveBack {
            self.lesson_unsent(c, now).await;
        }
        inner.count(Reason::BudgetExhausted.counter(), 1).await;
        tracing::warn!(
            period,
            reply = token.id,
            "spend cap reached: reply expired unsent"
        );
        Ok(Step::Expired)
    }

    /// Wait for the provider account's pace when a slot comes within `patience`; otherwise give
    /// the reservation back and put the reply back for later (or expire it past its deadline):
    /// `Some(step)` then.
    async fn pace(
        &self,
        c: &ClaimedReply,
        now: Timestamp,
        pacer: &Pacer,
        patience: Duration,
        reservation: &Reservation,
    ) -> Result<Option<Step>> {
        let inner = self.inner();
        let store = &inner.store;
        let wait = match pacer.reserve(patience) {
            Ok(wait) => {
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                return Ok(None);
            }
            Err(wait) => wait,
        };
        SpendLedger::release(&**store, reservation).await?;
        let next = now.add(wait);
        if next >= c.expires_at {
            store
                .finish(
                    c.token,
                    TerminalState::Expired,
                    "paced past the deadline",
                    now,
                )
                .await?;
            self.lesson_unsent(c, now).await;
            inner.count(Reason::Expired.counter(), 1).await;
            return Ok(Some(Step::Expired));
        }
        store.retry_later(c.token, next, "paced", now).await?;
        Ok(Some(Step::Paced))
    }

    /// Send `sms` and record the outcome: accepted → completed and the cost settled; an error →
    /// the reservation given back and [`Dispatcher::fail`] decides.
    async fn transmit(
        &self,
        c: &ClaimedReply,
        sender: &dyn SmsTransport,
        sms: &OutboundSms,
        reservation: &Reservation,
        priced: Priced,
    ) -> Result<Step> {
        let inner = self.inner();
        let store = &inner.store;
        let token = c.token;
        let Priced {
            estimate,
            calling_code,
            short_form,
        } = priced;
        let sent = sender.send(sms).await;
        let now = inner.clock.now();
        let receipt = match sent {
            Ok(receipt) => receipt,
            Err(e) => {
                SpendLedger::release(&**store, reservation).await?;
                return self.fail(c, now, e).await;
            }
        };
        let price = inner.ledger_price(receipt.price).await;
        let lease_lost = match store.complete(token, &receipt.provider_id, now).await {
            Ok(()) => false,
            Err(Error::LeaseLost { .. }) => {
                // The send happened; another worker holds the reply now. Nothing to undo.
                inner.count("send.lease_lost", 1).await;
                tracing::warn!(
                    reply = token.id,
                    attempt = token.attempt,
                    "sent after the lease was taken over"
                );
                true
            }
            Err(e) => {
                // The money is spent whatever the store says.
                let _ = store.settle(reservation, price.unwrap_or(estimate)).await;
                return Err(e);
            }
        };
        let actual = price.unwrap_or(estimate);
        store.settle(reservation, actual).await?;
        inner.remember_price(&receipt, price, estimate, calling_code);
        inner.count_sent(c.kind, actual).await;
        if short_form {
            inner.count("lesson.short_form", 1).await;
        }
        tracing::info!(reply = token.id, number = %c.number.masked(), to = %c.recipient.masked(),
            kind = c.kind.as_str(), segments = receipt.segments, "reply sent");
        Ok(Step::Sent { lease_lost })
    }

    /// Whether a spend period is past [`EngineConfig::short_form_above`](super::EngineConfig::short_form_above)
    /// of its cap (never at 1.0 or without caps).
    async fn budget_pressed(&self, now: Timestamp) -> Result<bool> {
        let inner = self.inner();
        let (caps, above) = (&inner.config.caps, inner.config.short_form_above);
        if above >= 1.0 || (caps.daily.is_none() && caps.monthly.is_none()) {
            return Ok(false);
        }
        let spent = inner.store.spend(now).await?;
        let past = |spent: crate::money::Money, cap: Option<crate::money::Money>| {
            cap.is_some_and(|cap| spent.micros() as f64 > cap.micros() as f64 * above)
        };
        Ok(past(spent.day, caps.daily) || past(spent.month, caps.monthly))
    }

    /// Hold a reply back for `reason` until `base` (a grid instant: the next policy recheck or
    /// the next spend period) plus its rank in seconds (see the `deferral` module), or drop it
    /// when that is at or past its deadline (`drop.deferred_too_long`, slot given back unless
    /// `slot` keeps it). A
    /// lesson newly held counts `deferred.<reason>`; one beyond
    /// [`EngineConfig::max_deferred`](super::EngineConfig::max_deferred) is cancelled
    /// (`drop.defer_limit`, slot given back unless `slot` keeps it).
    async fn defer(
        &self,
        c: &ClaimedReply,
        now: Timestamp,
        reason: Reason,
        base: Timestamp,
        slot: Slot,
    ) -> Result<Step> {
        let inner = self.inner();
        let store = &inner.store;
        let lesson = c.kind == ReplyKind::Lesson;
        let next = release_at(base, if lesson { rank_of(c.expires_at) } else { 0 });
        if next >= c.expires_at {
            store
                .finish(
                    c.token,
                    TerminalState::Expired,
                    Reason::DeferredTooLong.as_str(),
                    now,
                )
                .await?;
            if slot == Slot::GiveBack {
                self.lesson_unsent(c, now).await;
            }
            inner.count(Reason::DeferredTooLong.counter(), 1).await;
            tracing::info!(
                reply = c.token.id,
                reason = reason.as_str(),
                "deferred reply dropped: it cannot go out before its deadline"
            );
            return Ok(Step::Expired);
        }
        if lesson {
            let held = inner.deferred.hold(c.token.id, c.expires_at, now);
            inner.count_displaced().await;
            match held {
                Some(true) => inner.count(reason.deferred_counter(), 1).await,
                Some(false) => {}
                None => {
                    store
                        .finish(
                            c.token,
                            TerminalState::Cancelled,
                            Reason::DeferLimit.as_str(),
                            now,
                        )
                        .await?;
                    if slot == Slot::GiveBack {
                        self.lesson_unsent(c, now).await;
                    }
                    inner.count(Reason::DeferLimit.counter(), 1).await;
                    return Ok(Step::Cancelled);
                }
            }
        }
        store
            .retry_later(c.token, next, reason.as_str(), now)
            .await?;
        Ok(Step::Deferred {
            budget: reason == Reason::BudgetExhausted,
        })
    }

    /// A lesson ended unsent for a reason that is not the man's (the policy's re-check, its
    /// deadline, the budget): give his lesson slot back, if it still holds this lesson, so that
    /// his next text is not refused as "already taught". Not on opt-outs, failures or retired
    /// numbers. A store error is logged: the slot then stays taken until the window ends.
    async fn lesson_unsent(&self, c: &ClaimedReply, now: Timestamp) {
        if c.kind != ReplyKind::Lesson {
            return;
        }
        let inner = self.inner();
        match inner.store.release_lesson(&c.sender, c.created_at).await {
            Ok(true) => inner.count("lessons.released", 1).await,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(reply = c.token.id, error = %e, at = %now, "could not release the lesson slot")
            }
        }
    }

    /// Decide what a send error means for the reply.
    async fn fail(&self, c: &ClaimedReply, now: Timestamp, e: Error) -> Result<Step> {
        let inner = self.inner();
        let store = &inner.store;
        let reason = scrub(&e.to_string());
        match e {
            e if e.is_transient() => {
                inner.count("send.transient", 1).await;
                tracing::info!(reply = c.token.id, attempt = c.token.attempt, error = %reason, "transient send failure");
                self.retry(c, now, e.retry_after(), &reason).await
            }
            Error::RecipientOptedOut => {
                store.set_opted_out(&c.sender, true, now).await?;
                store
                    .finish(
                        c.token,
                        TerminalState::Failed,
                        Reason::OptedOut.as_str(),
                        now,
                    )
                    .await?;
                // Anything else pending for them (the lesson after a neutral reply) goes too.
                let cancelled = store
                    .cancel_pending(&c.sender, Reason::OptedOut.as_str(), now)
                    .await?;
                inner.count("replies.cancelled", cancelled).await;
                inner.count("send.failed", 1).await;
                inner.count("optout.recorded", 1).await;
                tracing::info!(reply = c.token.id, to = %c.recipient.masked(), "recipient opted out at the provider");
                Ok(Step::Failed)
            }
            _ => {
                store
                    .finish(c.token, TerminalState::Failed, &reason, now)
                    .await?;
                inner.count("send.failed", 1).await;
                tracing::warn!(reply = c.token.id, to = %c.recipient.masked(), error = %reason, "send failed for good");
                Ok(Step::Failed)
            }
        }
    }

    /// Put the reply back for another attempt after backoff (at least `retry_after`), or expire
    /// it when that would pass its deadline.
    async fn retry(
        &self,
        c: &ClaimedReply,
        now: Timestamp,
        retry_after: Option<Duration>,
        reason: &str,
    ) -> Result<Step> {
        let inner = self.inner();
        let cfg = &inner.config;
        let unit: f64 = if cfg.backoff_jitter > 0.0 {
            inner.unit_random()
        } else {
            0.0
        };
        let delay = backoff(
            c.token.attempt,
            cfg.backoff_base,
            cfg.backoff_max,
            cfg.backoff_jitter,
            unit,
        )
        .max(retry_after.unwrap_or(Duration::ZERO).min(MAX_RETRY_AFTER));
        let next = now.add(delay);
        if next >= c.expires_at {
            inner
                .store
                .finish(c.token, TerminalState::Expired, reason, now)
                .await?;
            self.lesson_unsent(c, now).await;
            inner.count(Reason::Expired.counter(), 1).await;
            tracing::warn!(
                reply = c.token.id,
                attempt = c.token.attempt,
                "reply expired: no attempt left before its deadline"
            );
            return Ok(Step::Expired);
        }
        inner.store.retry_later(c.token, next, reason, now).await?;
        Ok(Step::Retried)
    }

    /// Run [`EngineConfig::workers`](super::EngineConfig::workers) workers until `shutdown`
    /// completes. Each worker ticks while there is work and sleeps
    /// [`EngineConfig::poll_interval`](super::EngineConfig::poll_interval) when there is none.
    ///
    /// On shutdown the workers stop claiming, finish the send in progress, give the rest of their
    /// claims back to the queue and return. A process killed instead loses nothing either: its
    /// leases expire and another dispatcher takes the replies over; a send that was in flight
    /// may then go out a second time (see the [engine documentation](crate::engine)).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let (tx, rx) = watch::channel(false);
        let mut workers = JoinSet::new();
        for worker in 0..self.inner().config.workers {
            let d = self.clone();
            let rx = rx.clone();
            workers.spawn(async move { d.worker(worker, rx).await });
        }
        tracing::info!(workers = self.inner().config.workers, "dispatcher running");
        shutdown.await;
        tracing::info!("dispatcher stopping: finishing in-flight sends");
        let _ = tx.send(true);
        let mut total = TickReport::default();
        while let Some(done) = workers.join_next().await {
            match done {
                Ok(r) => total.absorb(&r),
                Err(e) => tracing::error!(error = %e, "a dispatcher worker panicked"),
            }
        }
        tracing::info!(
            sent = total.sent,
            released = total.released,
            "dispatcher stopped"
        );
        Ok(())
    }

    async fn worker(&self, worker: usize, mut stop: watch::Receiver<bool>) -> TickReport {
        let mut total = TickReport::default();
        let idle = self.inner().config.poll_interval;
        loop {
            if *stop.borrow() {
                break;
            }
            let busy = match self.tick_until(Some(&stop)).await {
                Ok(r) => {
                    total.absorb(&r);
                    r.claimed > 0 && r.errors < r.claimed
                }
                Err(e) => {
                    tracing::warn!(worker, error = %e, "dispatcher tick failed");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    _ = tokio::time::sleep(idle) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        total
    }
}

impl Inner {
    /// Count a reply the provider accepted and what it cost (`lessons.sent` or `neutral.sent`,
    /// and `spend.micros`), for a send and a recovered send alike.
    pub(super) async fn count_sent(&self, kind: ReplyKind, cost: crate::money::Money) {
        let sent = match kind {
            ReplyKind::Lesson => "lessons.sent",
            ReplyKind::Neutral => "neutral.sent",
        };
        self.count(sent, 1).await;
        self.count("spend.micros", u64::try_from(cost.micros()).unwrap_or(0))
            .await;
    }

    /// After a send: learn the destination's real price from the receipt's (`price`, already in
    /// the ledger's currency), or keep the estimate until a delivery report brings the price
    /// (shared by a send and a recovered send).
    pub(super) fn remember_price(
        &self,
        receipt: &crate::transport::SendReceipt,
        price: Option<crate::money::Money>,
        estimate: crate::money::Money,
        calling_code: u16,
    ) {
        match price {
            Some(price) => self.prices.observe(calling_code, price, receipt.segments),
            None => self.estimates.lock().insert(
                receipt.provider_id.clone(),
                Estimate {
                    amount: estimate,
                    calling_code,
                    segments: receipt.segments,
                },
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLD: Duration = Duration::from_secs(600);
    const RETRY: Duration = Duration::from_secs(900);

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_secs(1_500_000_000).add(Duration::from_secs(secs))
    }

    #[test]
    fn screen_claim_decides_from_deadline_and_number_status() {
        use NumberStatus::*;
        let expire = |note, counted| Some(Verdict::Expire { note, counted });
        let deadline = at(3600);
        #[rustfmt::skip]
        let cases = [
            // now, status, verdict
            (at(0), Some(Active), None),
            (at(3600), Some(Active), expire("deadline", Reason::Expired)),
            (at(4000), None, expire("deadline", Reason::Expired)),
            (at(0), None, Some(Verdict::cancel(Reason::UnknownNumber))),
            (at(0), Some(Retired), Some(Verdict::cancel(Reason::NumberRetired))),
            (at(0), Some(Paused), Some(Verdict::Hold { until: at(600) })),
            // Held until at or past the deadline: expired now, as paused.
            (at(3000), Some(Paused), expire("number_paused", Reason::NumberPaused)),
            (at(2999), Some(Paused), Some(Verdict::Hold { until: at(3599) })),
        ];
        for (now, status, verdict) in cases {
            assert_eq!(
                screen_claim(now, deadline, status, HOLD),
                verdict,
                "{now} {status:?}"
            );
        }
    }

    #[test]
    fn screen_contact_decides_from_opt_out_then_recheck() {
        let flood = Reason::PrefixFlood;
        let grid = |step: u64| next_grid(at(100), Duration::from_secs(step));
        let cases = [
            // opted out, recheck, attempt, verdict
            (false, Decision::Allow, 1, None),
            (
                true,
                Decision::Allow,
                1,
                Some(Verdict::cancel(Reason::OptedOut)),
            ),
            (
                true,
                Decision::Deny(flood),
                1,
                Some(Verdict::cancel(Reason::OptedOut)),
            ),
            (
                false,
                Decision::Deny(flood),
                1,
                Some(Verdict::Cancel {
                    reason: flood,
                    give_slot_back: true,
                }),
            ),
            (
                false,
                Decision::Defer(flood),
                1,
                Some(Verdict::Defer {
                    reason: flood,
                    base: grid(900),
                }),
            ),
            (
                false,
                Decision::Defer(flood),
                3,
                Some(Verdict::Defer {
                    reason: flood,
                    base: grid(3600),
                }),
            ),
            // The step stops doubling at 16 × `defer_retry`.
            (
                false,
                Decision::Defer(flood),
                9,
                Some(Verdict::Defer {
                    reason: flood,
                    base: grid(16 * 900),
                }),
            ),
        ];
        for (opted_out, decision, attempt, verdict) in cases {
            assert_eq!(
                screen_contact(opted_out, || decision, at(100), attempt, RETRY),
                verdict,
                "{opted_out} {decision:?} {attempt}"
            );
        }
    }

    #[test]
    fn an_opted_out_recipient_is_not_rechecked() {
        let verdict = screen_contact(
            true,
            || unreachable!("the policy is not asked about an opted-out recipient"),
            at(0),
            1,
            RETRY,
        );
        assert_eq!(verdict, Some(Verdict::cancel(Reason::OptedOut)));
    }

    #[test]
    fn reports_add_up() {
        let mut a = TickReport {
            sent: 1,
            expired: 2,
            ..TickReport::default()
        };
        a.absorb(&TickReport {
            sent: 3,
            released: 1,
            ..TickReport::default()
        });
        assert_eq!((a.sent, a.expired, a.released), (4, 2, 1));
    }
}
