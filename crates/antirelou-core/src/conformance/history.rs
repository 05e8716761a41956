//! The [`SenderHistory`], [`OptOutStore`] and [`Counters`] tests.

use super::*;

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
