//! The [`ReplyQueue`] tests.

use super::*;

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
    let sender = random_hash();
    let id = ctx.schedule(store, ctx.reply("a", sender, 0)).await;
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
    assert_eq!(
        ctx.ok("sent_from", store.sent_from(&pid).await),
        Some(ctx.number.clone()),
        "conformance::{n}: sent_from must give the number that sent the reply"
    );
    assert_eq!(
        ctx.ok("sent_to", store.sent_to(&pid).await),
        Some(sender),
        "conformance::{n}: sent_to must give the sender the reply was sent to, after its number is erased"
    );
    let unknown = format!("conf-{}-unknown", ctx.tag);
    assert_eq!(
        ctx.ok("sent_from", store.sent_from(&unknown).await),
        None,
        "conformance::{n}: sent_from of an unknown provider id must be None"
    );
    assert_eq!(
        ctx.ok("sent_to", store.sent_to(&unknown).await),
        None,
        "conformance::{n}: sent_to of an unknown provider id must be None"
    );
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
