//! The tests of the lesson slot held together with its reply: [`ReplyQueue::schedule_lesson`],
//! [`ReplyQueue::find_by_key`], [`SenderHistory::release_lesson`] (also through
//! `expire_overdue`) and [`SenderHistory::purge_senders`].

use super::*;
use crate::store::LessonSchedule;

/// Claim this test's due replies up to `upto` and finish them as cancelled (each test leaves
/// its replies terminal).
async fn close_all<S: ReplyQueue + ?Sized>(ctx: &Ctx, store: &S, upto: Timestamp) {
    let claimed = ctx.ok("claim_due", store.claim_due(upto, LEASE, 500).await);
    for c in claimed {
        let _ = store
            .finish(c.token, TerminalState::Cancelled, "conformance: done", upto)
            .await;
    }
}

async fn last_lesson<S: SenderHistory + ?Sized>(
    ctx: &Ctx,
    s: &SenderHash,
    store: &S,
) -> Option<Timestamp> {
    ctx.ok("sender", store.sender(s).await)
        .and_then(|r| r.last_lesson_at)
}

/// The lesson window of [`queue_schedule_lesson`].
const WINDOW: Duration = Duration::from_secs(3600);

/// `schedule_lesson`: a fresh key for a sender with a free slot schedules and takes the slot at
/// `now`; the same key again is `Duplicate` (before "already taught", and changing nothing);
/// another key within the window is `AlreadyTaught` and stores nothing; after the window it
/// schedules again. `find_by_key` sees exactly the stored keys, and a claim carries
/// `created_at = now`.
pub async fn queue_schedule_lesson<S: ReplyQueue + SenderHistory + ?Sized>(store: &S) {
    let ctx = Ctx::new("queue_schedule_lesson");
    ctx.sweep(store).await;
    let s = random_hash();
    let first = ctx.reply("first", s, 600);
    let id = first_lesson_takes_the_slot(&ctx, store, s, &first).await;
    same_key_is_duplicate(&ctx, store, s, &first, id).await;
    another_key_within_the_window_is_already_taught(&ctx, store, s).await;
    after_the_window_schedules_again(&ctx, store, s, id).await;
    a_stranger_gets_his_lesson(&ctx, store).await;
    claims_carry_the_slot_instant(&ctx, store, id).await;
    close_all(&ctx, store, ctx.at(ZONE_SPAN_SECS)).await;
}

/// A fresh key for a sender with a free slot: scheduled, found by its key, the slot taken at
/// `now`; returns the lesson's id.
async fn first_lesson_takes_the_slot<S: ReplyQueue + SenderHistory + ?Sized>(
    ctx: &Ctx,
    store: &S,
    s: SenderHash,
    first: &NewReply,
) -> ReplyId {
    let n = ctx.name;
    let t0 = ctx.at(0);
    ctx.ok(
        "record_contact",
        store.record_contact(&s, Channel::Sms, t0).await,
    );
    assert_eq!(
        ctx.ok(
            "find_by_key",
            store.find_by_key(&first.idempotency_key).await
        ),
        None,
        "conformance::{n}: find_by_key of a key never stored"
    );
    let id = match ctx.ok(
        "schedule_lesson",
        store.schedule_lesson(first.clone(), WINDOW, t0).await,
    ) {
        LessonSchedule::Scheduled(id) => id,
        other => panic!("conformance::{n}: a first lesson must be Scheduled, got {other:?}"),
    };
    assert_eq!(
        ctx.ok(
            "find_by_key",
            store.find_by_key(&first.idempotency_key).await
        ),
        Some(id),
        "conformance::{n}: find_by_key must find the scheduled lesson"
    );
    assert_eq!(
        last_lesson(ctx, &s, store).await,
        Some(t0),
        "conformance::{n}: schedule_lesson must take the slot at now"
    );
    let rec = ctx.get(store, id).await;
    assert_eq!(
        (rec.state, rec.kind, rec.sender, rec.due_at),
        (ReplyState::Pending, ReplyKind::Lesson, s, first.due_at),
        "conformance::{n}: the stored lesson"
    );
    id
}

/// The same message again, within and after the window: `Duplicate`, nothing changes.
async fn same_key_is_duplicate<S: ReplyQueue + SenderHistory + ?Sized>(
    ctx: &Ctx,
    store: &S,
    s: SenderHash,
    first: &NewReply,
    id: ReplyId,
) {
    let n = ctx.name;
    assert_eq!(
        ctx.ok(
            "schedule_lesson",
            store
                .schedule_lesson(first.clone(), WINDOW, ctx.at(60))
                .await
        ),
        LessonSchedule::Duplicate(id),
        "conformance::{n}: the same key within the window must be Duplicate"
    );
    assert_eq!(
        ctx.ok(
            "schedule_lesson",
            store
                .schedule_lesson(first.clone(), WINDOW, ctx.at(2 * 3600))
                .await
        ),
        LessonSchedule::Duplicate(id),
        "conformance::{n}: the same key after the window must be Duplicate (and take no slot)"
    );
    assert_eq!(
        last_lesson(ctx, &s, store).await,
        Some(ctx.at(0)),
        "conformance::{n}: a Duplicate must not move the slot"
    );
}

/// Another message within the window: `AlreadyTaught`, nothing stored.
async fn another_key_within_the_window_is_already_taught<S: ReplyQueue + SenderHistory + ?Sized>(
    ctx: &Ctx,
    store: &S,
    s: SenderHash,
) {
    let n = ctx.name;
    let second = ctx.reply("second", s, 700);
    assert_eq!(
        ctx.ok(
            "schedule_lesson",
            store
                .schedule_lesson(second.clone(), WINDOW, ctx.at(60))
                .await
        ),
        LessonSchedule::AlreadyTaught,
        "conformance::{n}: another key within the window must be AlreadyTaught"
    );
    assert_eq!(
        ctx.ok(
            "find_by_key",
            store.find_by_key(&second.idempotency_key).await
        ),
        None,
        "conformance::{n}: AlreadyTaught must store nothing"
    );
}

/// After the window: scheduled under a new id, the slot moves.
async fn after_the_window_schedules_again<S: ReplyQueue + SenderHistory + ?Sized>(
    ctx: &Ctx,
    store: &S,
    s: SenderHash,
    id: ReplyId,
) {
    let n = ctx.name;
    let late = ctx.at(2 * 3600);
    let third = ctx.reply("third", s, 2 * 3600 + 600);
    let id3 = match ctx.ok(
        "schedule_lesson",
        store.schedule_lesson(third, WINDOW, late).await,
    ) {
        LessonSchedule::Scheduled(id3) => id3,
        other => panic!("conformance::{n}: a lesson after the window must schedule, got {other:?}"),
    };
    assert_ne!(id3, id, "conformance::{n}: a new lesson needs a new id");
    assert_eq!(
        last_lesson(ctx, &s, store).await,
        Some(late),
        "conformance::{n}: the slot after the window"
    );
}

/// A sender with no record: the slot is taken, the lesson stored.
async fn a_stranger_gets_his_lesson<S: ReplyQueue + SenderHistory + ?Sized>(ctx: &Ctx, store: &S) {
    let n = ctx.name;
    let t0 = ctx.at(0);
    let stranger = random_hash();
    assert!(
        matches!(
            ctx.ok(
                "schedule_lesson",
                store
                    .schedule_lesson(ctx.reply("stranger", stranger, 600), WINDOW, t0)
                    .await
            ),
            LessonSchedule::Scheduled(_)
        ),
        "conformance::{n}: a sender never seen must get his lesson"
    );
    assert_eq!(
        last_lesson(ctx, &stranger, store).await,
        Some(t0),
        "conformance::{n}: the slot of a sender never seen"
    );
}

/// Claims carry the instant the slot was taken (the first lesson's `created_at` is its
/// `schedule_lesson` now); every claimed lesson is then finished.
async fn claims_carry_the_slot_instant<S: ReplyQueue + SenderHistory + ?Sized>(
    ctx: &Ctx,
    store: &S,
    id: ReplyId,
) {
    let n = ctx.name;
    let claimed = ctx.ok("claim_due", store.claim_due(ctx.at(600), LEASE, 10).await);
    let mine = claimed
        .iter()
        .find(|c| c.token.id == id)
        .unwrap_or_else(|| panic!("conformance::{n}: the first lesson was not claimed when due"));
    assert_eq!(
        mine.created_at,
        ctx.at(0),
        "conformance::{n}: a claimed lesson's created_at must be the schedule_lesson now"
    );
    for c in claimed {
        ctx.ok(
            "finish",
            store
                .finish(
                    c.token,
                    TerminalState::Cancelled,
                    "conformance",
                    ctx.at(600),
                )
                .await,
        );
    }
}

/// Under concurrency: 16 different messages from one sender → exactly one `Scheduled`, 15
/// `AlreadyTaught`; 16 deliveries of one message → one `Scheduled`, 15 `Duplicate` of its id;
/// 8 deliveries each of two messages from one sender → one `Scheduled`, the other deliveries of
/// that message `Duplicate`, the other message's `AlreadyTaught`.
pub async fn queue_schedule_lesson_concurrent<S: ReplyQueue + SenderHistory + ?Sized>(store: &S) {
    let ctx = Ctx::new("queue_schedule_lesson_concurrent");
    let n = ctx.name;
    ctx.sweep(store).await;
    let window = Duration::from_secs(86_400);
    let now = ctx.at(0);

    // Different messages, one known sender.
    let s = random_hash();
    ctx.ok(
        "record_contact",
        store.record_contact(&s, Channel::Sms, now).await,
    );
    let results = join_all(
        (0..16)
            .map(|i| store.schedule_lesson(ctx.reply(&format!("m{i}"), s, 600), window, now))
            .collect(),
    )
    .await;
    let results: Vec<_> = results
        .into_iter()
        .map(|r| ctx.ok("schedule_lesson", r))
        .collect();
    let scheduled = results
        .iter()
        .filter(|r| matches!(r, LessonSchedule::Scheduled(_)))
        .count();
    let taught = results
        .iter()
        .filter(|r| **r == LessonSchedule::AlreadyTaught)
        .count();
    assert_eq!(
        (scheduled, taught),
        (1, 15),
        "conformance::{n}: 16 concurrent messages from one sender: {results:?}"
    );

    // One message delivered 16 times, by a sender never seen.
    let s = random_hash();
    let reply = ctx.reply("same", s, 600);
    let results = join_all(
        (0..16)
            .map(|_| store.schedule_lesson(reply.clone(), window, now))
            .collect(),
    )
    .await;
    let results: Vec<_> = results
        .into_iter()
        .map(|r| ctx.ok("schedule_lesson", r))
        .collect();
    let ids: Vec<ReplyId> = results
        .iter()
        .filter_map(|r| match r {
            LessonSchedule::Scheduled(id) => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "conformance::{n}: 16 concurrent deliveries of one message: {results:?}"
    );
    let dups = results
        .iter()
        .filter(|r| **r == LessonSchedule::Duplicate(ids[0]))
        .count();
    assert_eq!(
        dups, 15,
        "conformance::{n}: the other deliveries must be Duplicate of the scheduled id: {results:?}"
    );

    // Two messages, 8 deliveries each, interleaved.
    let s = random_hash();
    let a = ctx.reply("a", s, 600);
    let b = ctx.reply("b", s, 600);
    let results = join_all(
        (0..16)
            .map(|i| {
                store.schedule_lesson(if i % 2 == 0 { a.clone() } else { b.clone() }, window, now)
            })
            .collect(),
    )
    .await;
    let results: Vec<_> = results
        .into_iter()
        .map(|r| ctx.ok("schedule_lesson", r))
        .collect();
    let winner = results
        .iter()
        .position(|r| matches!(r, LessonSchedule::Scheduled(_)))
        .unwrap_or_else(|| panic!("conformance::{n}: nothing scheduled: {results:?}"));
    let LessonSchedule::Scheduled(id) = results[winner] else {
        unreachable!()
    };
    for (i, r) in results.iter().enumerate() {
        if i == winner {
            continue;
        }
        let expected = if i % 2 == winner % 2 {
            LessonSchedule::Duplicate(id)
        } else {
            LessonSchedule::AlreadyTaught
        };
        assert_eq!(
            *r, expected,
            "conformance::{n}: two messages from one sender, concurrently (call {i}): {results:?}"
        );
    }
    close_all(&ctx, store, ctx.at(ZONE_SPAN_SECS)).await;
}

/// `release_lesson` frees the slot only while it holds the lesson begun at `began_at`, and
/// `expire_overdue` releases the slot of the lessons it expires, never a newer one.
pub async fn history_release_lesson<S: ReplyQueue + SenderHistory + ?Sized>(store: &S) {
    let ctx = Ctx::new("history_release_lesson");
    let n = ctx.name;
    ctx.sweep(store).await;
    let window = Duration::from_secs(60);
    let s = random_hash();
    assert!(
        !ctx.ok("release_lesson", store.release_lesson(&s, ctx.at(0)).await),
        "conformance::{n}: releasing the slot of a sender never seen"
    );
    let t0 = ctx.at(0);
    let first = ctx.reply("first", s, 3600);
    let expires0 = first.expires_at;
    ctx.ok(
        "schedule_lesson",
        store.schedule_lesson(first, window, t0).await,
    );
    assert!(
        !ctx.ok("release_lesson", store.release_lesson(&s, ctx.at(1)).await),
        "conformance::{n}: release with another began_at must not free the slot"
    );
    assert_eq!(
        last_lesson(&ctx, &s, store).await,
        Some(t0),
        "conformance::{n}: slot kept"
    );
    assert!(
        ctx.ok("release_lesson", store.release_lesson(&s, t0).await),
        "conformance::{n}: release of the lesson the slot holds"
    );
    assert_eq!(
        last_lesson(&ctx, &s, store).await,
        None,
        "conformance::{n}: the released slot must be free"
    );
    // A new lesson at once (the window has not passed, but the slot is free).
    let t1 = ctx.at(10);
    let second = ctx.reply("second", s, 3610);
    assert!(
        matches!(
            ctx.ok(
                "schedule_lesson",
                store.schedule_lesson(second, window, t1).await
            ),
            LessonSchedule::Scheduled(_)
        ),
        "conformance::{n}: a released slot must be taken again"
    );
    assert!(
        !ctx.ok("release_lesson", store.release_lesson(&s, t0).await),
        "conformance::{n}: releasing the old lesson must not free the newer one"
    );
    assert_eq!(
        last_lesson(&ctx, &s, store).await,
        Some(t1),
        "conformance::{n}: newer slot kept"
    );

    // Expiry: the first lesson (slot already released and taken again) expires first: the
    // newer slot stays; then the second expires: its slot is freed.
    let expired = ctx.ok("expire_overdue", store.expire_overdue(expires0).await);
    assert!(
        expired >= 1,
        "conformance::{n}: the first lesson must expire"
    );
    assert_eq!(
        last_lesson(&ctx, &s, store).await,
        Some(t1),
        "conformance::{n}: expiring an older lesson must not free the newer slot"
    );
    let expires1 = expires0.add(Duration::from_secs(10));
    ctx.ok("expire_overdue", store.expire_overdue(expires1).await);
    assert_eq!(
        last_lesson(&ctx, &s, store).await,
        None,
        "conformance::{n}: expire_overdue must release the slot of the lesson it expires"
    );
    // A neutral reply scheduled at the same instant as a lesson slot does not free it.
    let u = random_hash();
    let t2 = ctx.at(100);
    ctx.ok(
        "try_begin_lesson",
        store.try_begin_lesson(&u, window, t2).await,
    );
    let mut neutral = ctx.reply("neutral", u, 100);
    neutral.kind = ReplyKind::Neutral;
    let neutral_expiry = neutral.expires_at;
    match ctx.ok("schedule", store.schedule(neutral, t2).await) {
        ScheduleOutcome::Scheduled(_) => {}
        other => panic!("conformance::{n}: schedule of a neutral reply: {other:?}"),
    }
    ctx.ok("expire_overdue", store.expire_overdue(neutral_expiry).await);
    assert_eq!(
        last_lesson(&ctx, &u, store).await,
        Some(t2),
        "conformance::{n}: an expired neutral reply must not free the lesson slot"
    );
    close_all(&ctx, store, ctx.at(ZONE_SPAN_SECS)).await;
}

/// `purge_senders(before)` deletes the senders whose last contact and last lesson are both
/// before `before`, keeps recent ones and every opted-out sender.
pub async fn history_purge_senders<S: SenderHistory + OptOutStore + ?Sized>(store: &S) {
    let ctx = Ctx::new("history_purge_senders");
    let n = ctx.name;
    let window = Duration::from_secs(60);
    let (t0, before, t2) = (ctx.at(0), ctx.at(DAY), ctx.at(2 * DAY));
    let old = random_hash();
    let old_lesson_recent = random_hash();
    let recent = random_hash();
    let opted = random_hash();
    let opted_in_again = random_hash();
    let lesson_only_old = random_hash();
    for s in [&old, &old_lesson_recent, &opted, &opted_in_again] {
        ctx.ok(
            "record_contact",
            store.record_contact(s, Channel::Sms, t0).await,
        );
    }
    ctx.ok(
        "record_contact",
        store.record_contact(&recent, Channel::Sms, t2).await,
    );
    ctx.ok(
        "try_begin_lesson",
        store.try_begin_lesson(&old_lesson_recent, window, t2).await,
    );
    ctx.ok(
        "try_begin_lesson",
        store.try_begin_lesson(&lesson_only_old, window, t0).await,
    );
    ctx.ok("set_opted_out", store.set_opted_out(&opted, true, t0).await);
    ctx.ok(
        "set_opted_out",
        store.set_opted_out(&opted_in_again, true, t0).await,
    );
    ctx.ok(
        "set_opted_out",
        store.set_opted_out(&opted_in_again, false, t0).await,
    );
    let purged = ctx.ok("purge_senders", store.purge_senders(before).await);
    assert!(
        purged >= 3,
        "conformance::{n}: purge_senders returned {purged}, expected at least the 3 old senders"
    );
    for (label, s, kept) in [
        ("an old sender", old, false),
        (
            "an old sender with only an old lesson",
            lesson_only_old,
            false,
        ),
        ("an old sender opted in again", opted_in_again, false),
        (
            "an old sender with a recent lesson",
            old_lesson_recent,
            true,
        ),
        ("a recent sender", recent, true),
        ("an opted-out sender", opted, true),
    ] {
        assert_eq!(
            ctx.ok("sender", store.sender(&s).await).is_some(),
            kept,
            "conformance::{n}: {label} must be {}",
            if kept { "kept" } else { "purged" }
        );
    }
    assert!(
        ctx.ok("is_opted_out", store.is_opted_out(&opted).await),
        "conformance::{n}: the opt-out must survive the purge"
    );
    // A purged sender is a stranger again.
    assert_eq!(
        ctx.ok(
            "record_contact",
            store.record_contact(&old, Channel::Sms, t2).await
        ),
        None,
        "conformance::{n}: a purged sender's next contact is a first contact"
    );
}
