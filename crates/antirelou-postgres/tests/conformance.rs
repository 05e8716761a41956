//! The core's conformance suite against PostgreSQL (each run in a fresh schema), plus the
//! PostgreSQL-specific guarantees: orphan recovery, erasure and purge, several stores (servers)
//! sharing one database.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use antirelou_core::privacy::SenderHash;
use antirelou_core::store::{
    NewReply, OptOutStore, ReplyKind, ReplyQueue, ReplyState, SenderHistory, SpendCaps, SpendLedger,
};
use antirelou_core::{Error, Money, PhoneNumber, Timestamp};
use common::{drop_schema, fresh_schema, store_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set DATABASE_URL (CI sets it)"]
async fn conformance() {
    let schema = fresh_schema("conf");
    let store = store_in(&schema).await;
    antirelou_core::conformance::run_store_suite(&store).await;
    // Built to run again on a database that holds its leftovers.
    antirelou_core::conformance::run_store_suite(&store).await;
    store.close().await;
    drop_schema(&schema).await;
}

fn reply(key: &str, now: Timestamp) -> NewReply {
    NewReply {
        idempotency_key: key.into(),
        number: PhoneNumber::parse("+33757000000").unwrap(),
        recipient: PhoneNumber::parse("+33612345678").unwrap(),
        sender: SenderHash([3; 16]),
        kind: ReplyKind::Lesson,
        due_at: now,
        expires_at: now.add(Duration::from_secs(3600)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set DATABASE_URL (CI sets it)"]
async fn two_servers_share_queue_opt_outs_history_and_budget() {
    let schema = fresh_schema("share");
    let a = store_in(&schema).await;
    let b = store_in(&schema).await; // a second "server": its own pool, same tables
    let now = Timestamp::from_secs(1_700_000_000);

    // 400 replies claimed by both servers at once, in small batches: no reply goes to both.
    for i in 0..400 {
        a.schedule(reply(&format!("k{i}"), now), now).await.unwrap();
    }
    let claim_all = |s: antirelou_postgres::PgStore| async move {
        let mut ids = Vec::new();
        loop {
            let got = s.claim_due(now, Duration::from_secs(60), 7).await.unwrap();
            if got.is_empty() {
                break ids;
            }
            for c in got {
                s.complete(c.token, &format!("SM{}", c.token.id), now)
                    .await
                    .unwrap();
                ids.push(c.token.id);
            }
        }
    };
    let (ia, ib) = tokio::join!(
        tokio::spawn(claim_all(a.clone())),
        tokio::spawn(claim_all(b.clone()))
    );
    let (ia, ib) = (ia.unwrap(), ib.unwrap());
    let all: HashSet<u64> = ia.iter().chain(ib.iter()).copied().collect();
    assert_eq!(ia.len() + ib.len(), 400, "a={} b={}", ia.len(), ib.len());
    assert_eq!(all.len(), 400, "a reply was claimed by both servers");

    // Opt-outs and history written by one server are seen by the other.
    let h = SenderHash([42; 16]);
    a.set_opted_out(&h, true, now).await.unwrap();
    assert!(b.is_opted_out(&h).await.unwrap());
    assert!(
        a.try_begin_lesson(&h, Duration::from_secs(86_400), now)
            .await
            .unwrap()
    );
    assert!(
        !b.try_begin_lesson(&h, Duration::from_secs(86_400), now)
            .await
            .unwrap()
    );

    // One daily cap across both servers.
    let caps = SpendCaps {
        daily: Some(Money::from_micros(1_000_000)),
        monthly: None,
    };
    let reserve = |s: antirelou_postgres::PgStore| async move {
        let mut ok = 0u32;
        for _ in 0..30 {
            match s.reserve(Money::from_micros(76_270), &caps, now).await {
                Ok(_) => ok += 1,
                Err(Error::BudgetExceeded { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        ok
    };
    let (ra, rb) = tokio::join!(
        tokio::spawn(reserve(a.clone())),
        tokio::spawn(reserve(b.clone()))
    );
    assert_eq!(
        ra.unwrap() + rb.unwrap(),
        13,
        "1.000000 / 0.076270 = 13 reservations fit"
    );
    assert_eq!(
        a.spend(now).await.unwrap().day,
        Money::from_micros(13 * 76_270)
    );

    a.close().await;
    b.close().await;
    drop_schema(&schema).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set DATABASE_URL (CI sets it)"]
async fn orphaned_claims_are_recovered_and_the_dead_worker_is_fenced() {
    let schema = fresh_schema("orphan");
    let store = store_in(&schema).await;
    let now = Timestamp::from_secs(1_700_000_000);
    let lease = Duration::from_secs(30);
    let id = store
        .schedule(reply("orphan", now), now)
        .await
        .unwrap()
        .id();
    let first = store.claim_due(now, lease, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    // That worker dies. A restarted server (a new pool) recovers the claim once the lease ends.
    let restarted = store_in(&schema).await;
    assert!(
        restarted
            .claim_due(now.add(Duration::from_secs(29)), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let later = now.add(lease);
    let again = restarted.claim_due(later, lease, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].token.id, again[0].token.attempt), (id, 2));
    // The old worker wakes up: fenced.
    match store.complete(first[0].token, "SM-stale", later).await {
        Err(Error::LeaseLost { reply_id, attempt }) => assert_eq!((reply_id, attempt), (id, 1)),
        other => panic!("expected LeaseLost, got {other:?}"),
    }
    restarted
        .complete(again[0].token, "SM-new", later)
        .await
        .unwrap();
    let rec = store.get(id).await.unwrap().unwrap();
    assert_eq!(
        (rec.state, rec.provider_id.as_deref(), rec.recipient),
        (ReplyState::Sent, Some("SM-new"), None)
    );
    // Purged after the retention period, not before.
    assert_eq!(store.purge(later).await.unwrap(), 0);
    assert_eq!(
        store
            .purge(later.add(Duration::from_secs(1)))
            .await
            .unwrap(),
        1
    );
    assert!(store.get(id).await.unwrap().is_none());
    store.close().await;
    restarted.close().await;
    drop_schema(&schema).await;
}

#[tokio::test]
async fn invalid_schema_names_are_refused() {
    use antirelou_postgres::{PgConfig, PgError};
    for bad in ["", "Public", "a-b", "x\"; DROP TABLE t; --", "1abc"] {
        assert!(
            matches!(PgConfig::default().schema(bad), Err(PgError::Config(_))),
            "{bad:?}"
        );
    }
    assert!(PgConfig::default().schema("antirelou_prod").is_ok());
}
