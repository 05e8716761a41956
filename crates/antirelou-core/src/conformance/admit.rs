//! The test of a whole inbound text: [`Store::admit_text`], alone and concurrently.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::policy::{Decision, Reason};
use crate::store::{AdmitDecision, LessonSchedule, TextAdmission};

/// A verdict that counts how often it is asked.
fn verdict(asked: &Arc<AtomicUsize>, decision: Decision) -> AdmitDecision {
    let asked = Arc::clone(asked);
    Box::new(move || {
        asked.fetch_add(1, Ordering::SeqCst);
        decision
    })
}

/// The lesson window of these tests.
const WINDOW: Duration = Duration::from_secs(3600);

/// `admit_text` of `reply` at `at`, with a verdict that counts in `asked`.
async fn admit<S: Store + ?Sized>(
    store: &S,
    reply: &NewReply,
    at: Timestamp,
    asked: &Arc<AtomicUsize>,
    decision: Decision,
) -> crate::error::Result<TextAdmission> {
    store
        .admit_text(reply.clone(), WINDOW, at, verdict(asked, decision))
        .await
}

/// `admit_text`: an opted-out sender is answered `OptedOut` and a stored key `Duplicate`, both
/// without asking the policy and without recording anything; a denied text records its contact
/// and stores no lesson; an allowed one records its contact and goes through `schedule_lesson`
/// (a second key within the window is `AlreadyTaught`). Then, concurrently: deliveries of one
/// message schedule one lesson; texts of many senders, some opted out, some denied, each get
/// what they would get alone.
pub async fn store_admit_text<S: Store + ?Sized>(store: &S) {
    let ctx = Ctx::new("store_admit_text");
    ctx.sweep(store).await;
    let asked = Arc::new(AtomicUsize::new(0));
    let s = random_hash();
    let first = ctx.reply("first", s, 600);
    opted_out_is_not_asked(&ctx, store, &asked, s, &first).await;
    let id = opted_in_allowed_schedules(&ctx, store, &asked, s, &first).await;
    second_delivery_is_duplicate(&ctx, store, &asked, s, &first, id).await;
    second_text_is_already_taught(&ctx, store, &asked, s).await;
    denied_records_the_contact_only(&ctx, store, &asked).await;
    concurrent_deliveries_schedule_once(&ctx, store).await;
    many_senders_each_get_their_own(&ctx, store).await;
    ctx.sweep(store).await;
}

/// Opted out: `OptedOut`, nothing recorded, the policy not asked.
async fn opted_out_is_not_asked<S: Store + ?Sized>(
    ctx: &Ctx,
    store: &S,
    asked: &Arc<AtomicUsize>,
    s: SenderHash,
    first: &NewReply,
) {
    let n = ctx.name;
    let t0 = ctx.at(0);
    ctx.ok("set_opted_out", store.set_opted_out(&s, true, t0).await);
    let got = ctx.ok(
        "admit_text",
        admit(store, first, t0, asked, Decision::Allow).await,
    );
    assert_eq!(
        got,
        TextAdmission::OptedOut,
        "conformance::{n}: an opted-out sender"
    );
    assert_eq!(
        asked.load(Ordering::SeqCst),
        0,
        "conformance::{n}: the policy was asked about an opted-out sender"
    );
    assert_eq!(
        ctx.ok("sender", store.sender(&s).await),
        None,
        "conformance::{n}: an opted-out text recorded a contact"
    );
    assert_eq!(
        ctx.ok(
            "find_by_key",
            store.find_by_key(&first.idempotency_key).await
        ),
        None,
        "conformance::{n}: an opted-out text stored a lesson"
    );
}

/// Opted in again, allowed: the contact and the lesson; returns the lesson's id.
async fn opted_in_allowed_schedules<S: Store + ?Sized>(
    ctx: &Ctx,
    store: &S,
    asked: &Arc<AtomicUsize>,
    s: SenderHash,
    first: &NewReply,
) -> ReplyId {
    let n = ctx.name;
    let t0 = ctx.at(0);
    ctx.ok("set_opted_out", store.set_opted_out(&s, false, t0).await);
    let id = match ctx.ok(
        "admit_text",
        admit(store, first, t0, asked, Decision::Allow).await,
    ) {
        TextAdmission::Decided {
            previous: None,
            schedule: LessonSchedule::Scheduled(id),
        } => id,
        other => panic!(
            "conformance::{n}: a first allowed text must be Decided/Scheduled with no previous record, got {other:?}"
        ),
    };
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "conformance::{n}: the policy must be asked once"
    );
    assert_eq!(
        ctx.ok(
            "find_by_key",
            store.find_by_key(&first.idempotency_key).await
        ),
        Some(id),
        "conformance::{n}: the lesson is stored under its key"
    );
    let record = ctx.ok("sender", store.sender(&s).await);
    assert!(
        record.is_some_and(|r| r.contacts == 1 && r.last_lesson_at == Some(t0)),
        "conformance::{n}: an allowed text records one contact and takes the slot, got {record:?}"
    );
    id
}

/// The same message again: `Duplicate`, nothing asked, nothing counted.
async fn second_delivery_is_duplicate<S: Store + ?Sized>(
    ctx: &Ctx,
    store: &S,
    asked: &Arc<AtomicUsize>,
    s: SenderHash,
    first: &NewReply,
    id: ReplyId,
) {
    let n = ctx.name;
    let got = ctx.ok(
        "admit_text",
        admit(store, first, ctx.at(5), asked, Decision::Allow).await,
    );
    assert_eq!(
        got,
        TextAdmission::Duplicate(id),
        "conformance::{n}: a second delivery"
    );
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "conformance::{n}: the policy was asked about a second delivery"
    );
    let again = ctx.ok("sender", store.sender(&s).await);
    assert_eq!(
        again.map(|r| r.contacts),
        Some(1),
        "conformance::{n}: a second delivery counted a contact"
    );
}

/// Another message of his within the window: allowed by the policy, already taught.
async fn second_text_is_already_taught<S: Store + ?Sized>(
    ctx: &Ctx,
    store: &S,
    asked: &Arc<AtomicUsize>,
    s: SenderHash,
) {
    let n = ctx.name;
    let t0 = ctx.at(0);
    let second = ctx.reply("second", s, 600);
    let got = ctx.ok(
        "admit_text",
        admit(store, &second, ctx.at(10), asked, Decision::Allow).await,
    );
    match got {
        TextAdmission::Decided {
            previous: Some(p),
            schedule: LessonSchedule::AlreadyTaught,
        } if p.contacts == 1 => {}
        other => panic!(
            "conformance::{n}: a second text within the window must be Decided/AlreadyTaught with the previous record, got {other:?}"
        ),
    }
    assert_eq!(
        ctx.ok(
            "find_by_key",
            store.find_by_key(&second.idempotency_key).await
        ),
        None,
        "conformance::{n}: an already-taught text stored a lesson"
    );
    let record = ctx.ok("sender", store.sender(&s).await);
    assert_eq!(
        record.map(|r| (r.contacts, r.first_seen, r.last_seen, r.last_lesson_at)),
        Some((2, t0, ctx.at(10), Some(t0))),
        "conformance::{n}: a second text counts a contact, keeps the first slot"
    );
}

/// Denied: the contact, no lesson, no slot.
async fn denied_records_the_contact_only<S: Store + ?Sized>(
    ctx: &Ctx,
    store: &S,
    asked: &Arc<AtomicUsize>,
) {
    let n = ctx.name;
    let d = random_hash();
    let denied = ctx.reply("denied", d, 600);
    let got = ctx.ok(
        "admit_text",
        admit(
            store,
            &denied,
            ctx.at(0),
            asked,
            Decision::Deny(Reason::GlobalPace),
        )
        .await,
    );
    assert_eq!(
        got,
        TextAdmission::Denied(Reason::GlobalPace),
        "conformance::{n}: a denied text"
    );
    let record = ctx.ok("sender", store.sender(&d).await);
    assert!(
        record.is_some_and(|r| r.contacts == 1 && r.last_lesson_at.is_none()),
        "conformance::{n}: a denied text records its contact and no lesson slot, got {record:?}"
    );
    assert_eq!(
        ctx.ok(
            "find_by_key",
            store.find_by_key(&denied.idempotency_key).await
        ),
        None,
        "conformance::{n}: a denied text stored a lesson"
    );
}

/// Concurrent deliveries of one message: one lesson.
async fn concurrent_deliveries_schedule_once<S: Store + ?Sized>(ctx: &Ctx, store: &S) {
    let n = ctx.name;
    let c = random_hash();
    let message = ctx.reply("concurrent", c, 600);
    let results = join_all(
        (0..8)
            .map(|_| {
                store.admit_text(
                    message.clone(),
                    WINDOW,
                    ctx.at(0),
                    Box::new(|| Decision::Allow),
                )
            })
            .collect(),
    )
    .await;
    let mut scheduled = 0;
    for r in results {
        match ctx.ok("admit_text", r) {
            TextAdmission::Decided {
                schedule: LessonSchedule::Scheduled(_),
                ..
            } => scheduled += 1,
            TextAdmission::Duplicate(_)
            | TextAdmission::Decided {
                schedule: LessonSchedule::Duplicate(_),
                ..
            } => {}
            other => panic!("conformance::{n}: a concurrent delivery got {other:?}"),
        }
    }
    assert_eq!(
        scheduled, 1,
        "conformance::{n}: concurrent deliveries of one message must schedule exactly one lesson"
    );
}

/// Many senders at once, every third opted out and every third denied: each gets what he would
/// get alone, and the policy is asked once per text not opted out.
async fn many_senders_each_get_their_own<S: Store + ?Sized>(ctx: &Ctx, store: &S) {
    let n = ctx.name;
    let t0 = ctx.at(0);
    let senders: Vec<SenderHash> = (0..48).map(|_| random_hash()).collect();
    for (i, s) in senders.iter().enumerate() {
        if i % 3 == 0 {
            ctx.ok("set_opted_out", store.set_opted_out(s, true, t0).await);
        }
    }
    let asked = Arc::new(AtomicUsize::new(0));
    let texts: Vec<NewReply> = senders
        .iter()
        .enumerate()
        .map(|(i, s)| ctx.reply(&format!("many-{i}"), *s, 600))
        .collect();
    let results = join_all(
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let decision = if i % 3 == 1 {
                    Decision::Deny(Reason::FloodDegraded)
                } else {
                    Decision::Allow
                };
                store.admit_text(t.clone(), WINDOW, t0, verdict(&asked, decision))
            })
            .collect(),
    )
    .await;
    for (i, r) in results.into_iter().enumerate() {
        let got = ctx.ok("admit_text", r);
        let ok = match i % 3 {
            0 => got == TextAdmission::OptedOut,
            1 => got == TextAdmission::Denied(Reason::FloodDegraded),
            _ => matches!(
                got,
                TextAdmission::Decided {
                    previous: None,
                    schedule: LessonSchedule::Scheduled(_)
                }
            ),
        };
        assert!(
            ok,
            "conformance::{n}: concurrent text {i} (kind {}) got {got:?}",
            i % 3
        );
        let stored = ctx.ok(
            "find_by_key",
            store.find_by_key(&texts[i].idempotency_key).await,
        );
        assert_eq!(
            stored.is_some(),
            i % 3 == 2,
            "conformance::{n}: concurrent text {i}: lesson stored?"
        );
    }
    assert_eq!(
        asked.load(Ordering::SeqCst),
        32,
        "conformance::{n}: the policy must be asked once per text not opted out"
    );
}
