//! Inbound texts, calls and delivery reports: [`InboundHandler`] for [`Engine`].
//!
//! Everything here is fast: a handful of store operations, no provider call. Replies are only
//! scheduled; the [`Dispatcher`](super::Dispatcher) sends them.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use async_trait::async_trait;

use super::deferral::lesson_deadline;
use super::keywords::Keyword;
use super::numbers::NumberEntry;
use super::{Engine, Inner};
use crate::clock::Timestamp;
use crate::error::Result;
use crate::event::{
    Channel, DeliveryFailure, DeliveryReport, DeliveryState, InboundCall, InboundSms, ProviderId,
};
use crate::handler::{InboundHandler, SmsOutcome};
use crate::money::Money;
use crate::phone::{Caller, PhoneNumber};
use crate::policy::{Contact, Decision, Reason};
use crate::privacy::SenderHash;
use crate::store::{LessonSchedule, NewReply, ReplyKind, ScheduleOutcome, TextAdmission};
use crate::voice::{RejectReason, VoiceHint, VoiceScript};

/// The policy's view of a contact from `from` to `to`.
pub(crate) fn contact(
    from: &PhoneNumber,
    to: &PhoneNumber,
    channel: Channel,
    at: Timestamp,
) -> Contact {
    Contact {
        sender_key: from.key(),
        sender_calling_code: from.calling_code(),
        sender_region: from.region(),
        sender_kind: from.kind(),
        number_key: to.key(),
        number_region: to.region(),
        channel,
        at,
    }
}

/// What the lesson path decided for one contact.
enum LessonOutcome {
    Scheduled,
    Duplicate,
    Dropped(Reason),
}

impl Inner {
    /// A delivery report says the recipient of a message we sent opted out (STOP at the
    /// provider or carrier): record his opt-out, as a STOP to our number would, and cancel what
    /// is pending for him. He is found by the reply's sender hash ([`ReplyQueue::sent_to`]),
    /// since a sent reply no longer holds his number. A report for a message whose reply was
    /// purged finds no one and changes nothing.
    ///
    /// [`ReplyQueue::sent_to`]: crate::store::ReplyQueue::sent_to
    async fn record_reported_opt_out(&self, report: &DeliveryReport, now: Timestamp) -> Result<()> {
        let Some(sender) = self.store.sent_to(&report.message_id).await? else {
            tracing::debug!(
                provider = report.provider.as_str(),
                "opt-out reported for a reply whose sender is no longer known"
            );
            return Ok(());
        };
        self.store.set_opted_out(&sender, true, now).await?;
        let cancelled = self
            .store
            .cancel_pending(&sender, Reason::OptedOut.as_str(), now)
            .await?;
        self.count("optout.recorded", 1).await;
        self.count("optout.reported", 1).await;
        self.count("replies.cancelled", cancelled).await;
        tracing::info!(
            provider = report.provider.as_str(),
            cancelled,
            "opt-out reported by a delivery report recorded"
        );
        Ok(())
    }

    async fn drop_reason(
        &self,
        reason: Reason,
        channel: Channel,
        number: &PhoneNumber,
        from: &Caller,
    ) {
        tracing::debug!(channel = channel.as_str(), number = %number.masked(), from = %from.masked(),
            reason = reason.as_str(), "contact dropped");
        self.count(reason.counter(), 1).await;
    }

    fn lesson_due(&self, now: Timestamp) -> Timestamp {
        let jitter = self.config.reply_jitter;
        let extra = if jitter.is_zero() {
            Duration::ZERO
        } else {
            jitter.mul_f64(self.unit_random())
        };
        now.add(self.config.reply_delay).add(extra)
    }

    /// The base of an inbound event's idempotency keys (`{provider}:{id}`). An adapter with no
    /// id to deduplicate on gets keys from the instant (no duplicate detection).
    fn event_base(
        provider: ProviderId,
        event_id: &str,
        hash: &SenderHash,
        now: Timestamp,
    ) -> String {
        if event_id.is_empty() {
            format!(
                "{}:noid-{}-{}",
                provider.as_str(),
                hash.to_hex(),
                now.as_millis()
            )
        } else {
            format!("{}:{}", provider.as_str(), event_id)
        }
    }

    /// The idempotency key of the lesson answering the event `base`.
    fn lesson_key(base: &str) -> String {
        format!("{base}:lesson")
    }

    /// The lesson answering the event `base`, due after the delay, its deadline carrying its
    /// deferral rank (see the `deferral` module).
    fn lesson_reply(
        &self,
        entry: &NumberEntry,
        base: &str,
        from: &PhoneNumber,
        hash: &SenderHash,
        now: Timestamp,
        rank: u8,
    ) -> NewReply {
        let due = self.lesson_due(now);
        NewReply {
            idempotency_key: Self::lesson_key(base),
            number: entry.config.number.clone(),
            recipient: from.clone(),
            sender: *hash,
            kind: ReplyKind::Lesson,
            due_at: due,
            expires_at: lesson_deadline(
                now,
                due,
                self.config.reply_deadline,
                self.config.defer_horizon,
                rank,
            ),
        }
    }

    /// A stored lesson was deferred for `reason` (its place in the bound was reserved): hold it
    /// and count it. A lesson not stored gives its place back.
    async fn lesson_deferred(
        &self,
        schedule: &LessonSchedule,
        deadline: Timestamp,
        reason: Reason,
    ) {
        match schedule {
            LessonSchedule::Scheduled(id) => {
                self.deferred.fill(*id, deadline);
                self.count(reason.deferred_counter(), 1).await;
            }
            _ => self.deferred.unreserve(),
        }
        self.count_displaced().await;
    }

    /// Count (`deferred.displaced`) the held lessons that better-ranked ones displaced from a
    /// full bound since the last count.
    pub(crate) async fn count_displaced(&self) {
        let n = self.deferred.take_displaced();
        if n > 0 {
            self.count("deferred.displaced", n).await;
        }
    }

    /// Take the sender's lesson slot and store the lesson after the delay, atomically
    /// ([`ReplyQueue::schedule_lesson`](crate::store::ReplyQueue::schedule_lesson)); a lesson
    /// `deferred` (its place in the bound reserved) is held as such.
    async fn schedule_lesson(
        &self,
        entry: &NumberEntry,
        base: &str,
        from: &PhoneNumber,
        hash: &SenderHash,
        now: Timestamp,
        deferred: Option<Reason>,
    ) -> Result<LessonOutcome> {
        // A caller's lesson comes first among deferred lessons (rank 0).
        let lesson = self.lesson_reply(entry, base, from, hash, now, 0);
        let (due, deadline) = (lesson.due_at, lesson.expires_at);
        let schedule = self
            .store
            .schedule_lesson(lesson, self.config.lesson_window, now)
            .await;
        let schedule = match (schedule, deferred) {
            (Ok(s), Some(r)) => {
                self.lesson_deferred(&s, deadline, r).await;
                s
            }
            (Ok(s), None) => s,
            (Err(e), d) => {
                if d.is_some() {
                    self.deferred.unreserve();
                }
                return Err(e);
            }
        };
        self.lesson_scheduled(entry, schedule, base, from, hash, due, now, false)
            .await
    }

    /// What follows `schedule_lesson`: count it, and store the neutral reply at once when
    /// `neutral` is set and the lesson was scheduled.
    #[allow(clippy::too_many_arguments)]
    async fn lesson_scheduled(
        &self,
        entry: &NumberEntry,
        schedule: LessonSchedule,
        base: &str,
        from: &PhoneNumber,
        hash: &SenderHash,
        due: Timestamp,
        now: Timestamp,
        neutral: bool,
    ) -> Result<LessonOutcome> {
        let number = &entry.config.number;
        match schedule {
            LessonSchedule::Scheduled(_) => {}
            LessonSchedule::Duplicate(_) => return Ok(LessonOutcome::Duplicate),
            LessonSchedule::AlreadyTaught => {
                return Ok(LessonOutcome::Dropped(Reason::AlreadyTaught));
            }
        }
        self.count("lessons.scheduled", 1).await;
        tracing::info!(number = %number.masked(), to = %from.masked(), due = %due, "lesson scheduled");
        if neutral {
            let reply = NewReply {
                idempotency_key: format!("{base}:neutral"),
                number: number.clone(),
                recipient: from.clone(),
                sender: *hash,
                kind: ReplyKind::Neutral,
                due_at: now,
                expires_at: now.add(self.config.reply_deadline),
            };
            if let ScheduleOutcome::Scheduled(_) = self.store.schedule(reply, now).await? {
                self.count("neutral.scheduled", 1).await;
            }
        }
        Ok(LessonOutcome::Scheduled)
    }

    fn lesson_script(entry: &NumberEntry) -> VoiceScript {
        VoiceScript::builder()
            .say(
                entry.lessons.voice.clone(),
                entry.voice_language.as_str(),
                VoiceHint::Female,
            )
            .hangup()
            .build()
    }

    fn decoy_script(entry: &NumberEntry) -> VoiceScript {
        VoiceScript::builder()
            .ring(entry.config.decoy.ring_seconds)
            .say(
                entry.lessons.voicemail_greeting.clone(),
                entry.voice_language.as_str(),
                VoiceHint::Female,
            )
            .hangup()
            .build()
    }

    fn out_of_service_script(entry: &NumberEntry) -> VoiceScript {
        VoiceScript::builder()
            .say(
                entry.lessons.out_of_service.clone(),
                entry.voice_language.as_str(),
                VoiceHint::Female,
            )
            .hangup()
            .build()
    }

    /// Schedule the SMS lesson for a caller who heard the decoy greeting, when the number allows
    /// it. Failures are logged: the call must be answered whatever happens to the text.
    async fn lesson_for_caller(
        &self,
        entry: &NumberEntry,
        call: &InboundCall,
        from: &PhoneNumber,
        hash: &SenderHash,
        now: Timestamp,
    ) {
        if !entry.config.sms_to_callers {
            self.count(Reason::SmsToCallersDisabled.counter(), 1).await;
            return;
        }
        let result: Result<LessonOutcome> = async {
            if self.store.is_opted_out(hash).await? {
                return Ok(LessonOutcome::Dropped(Reason::OptedOut));
            }
            // The call was counted by `check`; an SMS costs money, so ask again without counting.
            let deferred =
                match self
                    .policy
                    .recheck(&contact(from, &entry.config.number, Channel::Sms, now))
                {
                    Decision::Deny(r) => return Ok(LessonOutcome::Dropped(r)),
                    // A caller's lesson ranks first (0) among deferred lessons.
                    Decision::Defer(_) if !self.deferred.reserve(0, now) => {
                        return Ok(LessonOutcome::Dropped(Reason::DeferLimit));
                    }
                    Decision::Defer(r) => Some(r),
                    Decision::Allow => None,
                };
            let base = Self::event_base(call.provider, &call.call_id, hash, now);
            self.schedule_lesson(entry, &base, from, hash, now, deferred)
                .await
        }
        .await;
        match result {
            Ok(LessonOutcome::Dropped(r)) => {
                self.drop_reason(r, Channel::Voice, &entry.config.number, &call.from)
                    .await
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(number = %entry.config.number.masked(), from = %from.masked(), error = %e,
                "could not schedule the SMS lesson for a caller")
            }
        }
    }
}

#[async_trait]
impl InboundHandler for Engine {
    async fn handle_sms(&self, sms: InboundSms) -> Result<SmsOutcome> {
        let inner = self.inner();
        let now = inner.clock.now();
        inner.count("inbound.sms", 1).await;
        let Some(entry) = inner.numbers.entry(&sms.to) else {
            inner
                .drop_reason(Reason::UnknownNumber, Channel::Sms, &sms.to, &sms.from)
                .await;
            return Ok(SmsOutcome::Dropped(Reason::UnknownNumber));
        };
        inner.check_owner(&entry, sms.provider, "sms").await?;
        let Caller::Number(from) = &sms.from else {
            inner
                .drop_reason(Reason::NotDialable, Channel::Sms, &sms.to, &sms.from)
                .await;
            return Ok(SmsOutcome::Dropped(Reason::NotDialable));
        };
        let hash = inner.hasher.hash(from);

        // Opt-outs are honoured whatever the number's status: they cost nothing.
        match entry.keywords.classify(&sms.body) {
            Some(Keyword::Stop) => {
                inner.store.set_opted_out(&hash, true, now).await?;
                let cancelled = inner
                    .store
                    .cancel_pending(&hash, Reason::OptedOut.as_str(), now)
                    .await?;
                inner.count("optout.recorded", 1).await;
                inner.count("replies.cancelled", cancelled).await;
                tracing::info!(number = %sms.to.masked(), from = %from.masked(), cancelled, "opt-out recorded");
                return Ok(SmsOutcome::OptedOut);
            }
            Some(Keyword::Start) => {
                inner.store.set_opted_out(&hash, false, now).await?;
                inner.count("optin.recorded", 1).await;
                tracing::info!(number = %sms.to.masked(), from = %from.masked(), "opt-in recorded");
                return Ok(SmsOutcome::OptedIn);
            }
            None => {}
        }

        if let Some(reason) = entry.config.status.refusal() {
            inner
                .drop_reason(reason, Channel::Sms, &sms.to, &sms.from)
                .await;
            return Ok(SmsOutcome::Dropped(reason));
        }
        // An opted-out sender and a second delivery of a message whose lesson is stored are
        // answered before anything counts the contact. (A message whose first delivery died
        // before storing its lesson goes on: it is counted twice, and its lesson is scheduled
        // now.) The policy decides from the contact alone (not from the stored history); an
        // allowed text records its contact and schedules its lesson. All of it is one store
        // call (`Store::admit_text`), which a grouping backend runs inside one commit.
        let base = Inner::event_base(sms.provider, &sms.message_id, &hash, now);
        let seen = contact(from, &sms.to, Channel::Sms, now);
        // The policy sees a keyed fingerprint of the body (copy-paste raids), never the text.
        let print = inner.hasher.text_fingerprint(&sms.body);
        // A text's lesson comes after a caller's (rank 1 and beyond), unless its sender called
        // lately: "a sender who also called" ranks as a caller's lesson (see `callers`).
        let caller_first = !inner.config.caller_first_for.is_zero()
            && inner
                .callers
                .called_since(&hash, now.sub(inner.config.caller_first_for));
        let rank = if caller_first {
            0
        } else {
            inner
                .policy
                .defer_rank(&seen, Some(print))
                .saturating_add(1)
        };
        let lesson = inner.lesson_reply(&entry, &base, from, &hash, now, rank);
        let (due, deadline) = (lesson.due_at, lesson.expires_at);
        let policy = Arc::clone(&inner.policy);
        let held = Arc::clone(&inner.deferred);
        // A deferral reserves its place in the bound inside the admission (the store sees an
        // allowance) and leaves its reason here; past the bound it is a refusal.
        let deferred: Arc<Mutex<Option<Reason>>> = Arc::default();
        let deferred_in = Arc::clone(&deferred);
        let admission = inner
            .store
            .admit_text(
                lesson,
                inner.config.lesson_window,
                now,
                Box::new(move || match policy.check_text(&seen, Some(print)) {
                    Decision::Defer(_) if !held.reserve(rank, now) => {
                        Decision::Deny(Reason::DeferLimit)
                    }
                    Decision::Defer(r) => {
                        *deferred_in.lock() = Some(r);
                        Decision::Allow
                    }
                    d => d,
                }),
            )
            .await;
        let deferred = *deferred.lock();
        let admission = match admission {
            Ok(a) => a,
            Err(e) => {
                if deferred.is_some() {
                    inner.deferred.unreserve();
                }
                return Err(e);
            }
        };
        if let Some(r) = deferred {
            match &admission {
                TextAdmission::Decided { schedule, .. } => {
                    inner.lesson_deferred(schedule, deadline, r).await
                }
                _ => inner.deferred.unreserve(),
            }
        }
        let (prev, schedule) = match admission {
            TextAdmission::OptedOut => {
                inner
                    .drop_reason(Reason::OptedOut, Channel::Sms, &sms.to, &sms.from)
                    .await;
                return Ok(SmsOutcome::Dropped(Reason::OptedOut));
            }
            TextAdmission::Duplicate(_) => {
                inner.count(Reason::Duplicate.counter(), 1).await;
                tracing::debug!(number = %sms.to.masked(), from = %from.masked(), "duplicate delivery");
                return Ok(SmsOutcome::Duplicate);
            }
            TextAdmission::Denied(r) => {
                inner.drop_reason(r, Channel::Sms, &sms.to, &sms.from).await;
                return Ok(SmsOutcome::Dropped(r));
            }
            TextAdmission::Decided { previous, schedule } => (previous, schedule),
        };
        let neutral = entry.config.neutral_first_reply && prev.is_none();
        let outcome = inner
            .lesson_scheduled(&entry, schedule, &base, from, &hash, due, now, neutral)
            .await?;
        match outcome {
            LessonOutcome::Scheduled => {
                if caller_first {
                    inner.count("lessons.caller_first", 1).await;
                }
                Ok(SmsOutcome::Scheduled)
            }
            LessonOutcome::Duplicate => {
                inner.count(Reason::Duplicate.counter(), 1).await;
                Ok(SmsOutcome::Duplicate)
            }
            LessonOutcome::Dropped(r) => {
                inner.drop_reason(r, Channel::Sms, &sms.to, &sms.from).await;
                Ok(SmsOutcome::Dropped(r))
            }
        }
    }

    async fn handle_call(&self, call: InboundCall) -> Result<VoiceScript> {
        let inner = self.inner();
        let now = inner.clock.now();
        inner.count("inbound.voice", 1).await;
        let Some(entry) = inner.numbers.entry(&call.to) else {
            inner
                .drop_reason(Reason::UnknownNumber, Channel::Voice, &call.to, &call.from)
                .await;
            return Ok(VoiceScript::reject(RejectReason::Rejected));
        };
        inner.check_owner(&entry, call.provider, "call").await?;
        match entry.config.status.refusal() {
            None => {}
            Some(Reason::NumberRetired) => {
                inner.count("calls.out_of_service", 1).await;
                return Ok(Inner::out_of_service_script(&entry));
            }
            Some(reason) => {
                inner
                    .drop_reason(reason, Channel::Voice, &call.to, &call.from)
                    .await;
                return Ok(VoiceScript::reject(RejectReason::Busy));
            }
        }
        let Caller::Number(from) = &call.from else {
            // A withheld caller cannot be texted nor recognised: the lesson, at once.
            inner.count("calls.lesson", 1).await;
            return Ok(Inner::lesson_script(&entry));
        };
        let hash = inner.hasher.hash(from);
        let prev = inner
            .store
            .record_contact(&hash, Channel::Voice, now)
            .await?;
        if let Decision::Deny(r) = inner
            .policy
            .check(&contact(from, &call.to, Channel::Voice, now))
        {
            inner
                .drop_reason(r, Channel::Voice, &call.to, &call.from)
                .await;
            inner.count("calls.rejected", 1).await;
            return Ok(VoiceScript::reject(RejectReason::Rejected));
        }
        // A call the policy let through: his text, if he sends one, ranks first (`callers`).
        inner.callers.note(&hash, now);
        let decoy = &entry.config.decoy;
        let is_new = prev.is_none_or(|p| now.since(p.first_seen) < decoy.window);
        let taught = prev
            .and_then(|p| p.last_lesson_at)
            .is_some_and(|t| now.since(t) < inner.config.lesson_window);
        if taught {
            // One lesson per sender, by voice too: a man taught within the lesson window (by a
            // text's lesson, sent or scheduled, or an earlier call) hears a busy line, which is
            // not answered and so not billed, instead of the lesson again.
            inner
                .drop_reason(Reason::AlreadyTaught, Channel::Voice, &call.to, &call.from)
                .await;
            inner.count("calls.already_taught", 1).await;
            return Ok(VoiceScript::reject(RejectReason::Busy));
        }
        if decoy.enabled && is_new {
            inner.count("calls.decoy", 1).await;
            tracing::info!(number = %call.to.masked(), from = %from.masked(), "first call: decoy greeting");
            inner
                .lesson_for_caller(&entry, &call, from, &hash, now)
                .await;
            return Ok(Inner::decoy_script(&entry));
        }
        // He hears the lesson now: take his lesson slot so that a text later costs nothing.
        if let Err(e) = inner
            .store
            .try_begin_lesson(&hash, inner.config.lesson_window, now)
            .await
        {
            tracing::warn!(from = %from.masked(), error = %e, "could not record the lesson given by voice");
        }
        inner.count("calls.lesson", 1).await;
        Ok(Inner::lesson_script(&entry))
    }

    async fn handle_delivery(&self, report: DeliveryReport) -> Result<()> {
        let inner = self.inner();
        let now = inner.clock.now();
        inner.count("delivery.reports", 1).await;
        inner.check_report_owner(&report).await?;
        let matched = inner
            .store
            .record_delivery(&report.message_id, report.state, now)
            .await?;
        if !matched {
            tracing::debug!(
                provider = report.provider.as_str(),
                "delivery report for an unknown message"
            );
            return Ok(());
        }
        if matches!(
            report.state,
            DeliveryState::Undelivered | DeliveryState::Failed | DeliveryState::Expired
        ) {
            inner.count("delivery.failed", 1).await;
        }
        if report.failure == Some(DeliveryFailure::OptedOut) {
            inner.record_reported_opt_out(&report, now).await?;
        }
        // A send settled at our estimate (the provider gave no price then) is corrected by the
        // real price when it comes. Sends settled at a known price, and estimates this process
        // no longer remembers, are left as they are.
        // A price in a currency without a rate is counted and dropped: the estimate stays.
        if let Some(price) = inner.ledger_price(report.price).await {
            let estimate = inner.estimates.lock().take(&report.message_id);
            if let Some(estimate) = estimate {
                inner
                    .prices
                    .observe(estimate.calling_code, price, estimate.segments);
                let diff = price - estimate.amount;
                if diff != Money::ZERO {
                    inner.store.record(diff, now).await?;
                }
            }
        }
        Ok(())
    }
}
