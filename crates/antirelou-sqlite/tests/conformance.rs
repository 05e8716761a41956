//! The core's conformance suite against SQLite: in memory, in a file, and with a fresh file per
//! test; plus the SQLite-specific guarantees (durability across reopen, orphan recovery,
//! retention purge and erasure).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use antirelou_core::Timestamp;
use antirelou_core::privacy::SenderHash;
use antirelou_core::store::{
    NewReply, ReplyKind, ReplyQueue, ReplyState, SenderHistory, SpendCaps, SpendLedger,
};
use antirelou_core::{Money, PhoneNumber};
use antirelou_sqlite::{Durability, SqliteConfig, SqliteStore};

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "antirelou-sqlite-{tag}-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("antirelou.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_in_memory() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    antirelou_core::conformance::run_store_suite(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_file() {
    let dir = TempDir::new("conf");
    let store = SqliteStore::open(dir.db()).await.unwrap();
    antirelou_core::conformance::run_store_suite(&store).await;
    // The suite is built to run again on a database that holds its leftovers.
    antirelou_core::conformance::run_store_suite(&store).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_fresh_file_per_test_normal_durability() {
    let dir = TempDir::new("fresh");
    let n = AtomicU32::new(0);
    antirelou_core::conformance::run_store_suite_fresh(|| {
        let path = dir
            .0
            .join(format!("db-{}.db", n.fetch_add(1, Ordering::SeqCst)));
        async move {
            SqliteStore::open_with(
                path,
                SqliteConfig::default().with_durability(Durability::Normal),
            )
            .await
            .unwrap()
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_fresh_file_per_test() {
    let dir = TempDir::new("fresh-default");
    let n = AtomicU32::new(0);
    antirelou_core::conformance::run_store_suite_fresh(|| {
        let path = dir
            .0
            .join(format!("db-{}.db", n.fetch_add(1, Ordering::SeqCst)));
        async move { SqliteStore::open(path).await.unwrap() }
    })
    .await;
}

/// Many concurrent lesson-slot claims for few senders, through group commit: exactly one per
/// sender, and every acknowledged write is there after a reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_keeps_one_slot_per_sender_and_durability() {
    let dir = TempDir::new("group-slots");
    let now = Timestamp::from_secs(1_700_000_000);
    let store = SqliteStore::open(dir.db()).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..400u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let sender = SenderHash([(i % 10) as u8; 16]);
            let taken = store
                .try_begin_lesson(&sender, Duration::from_secs(3600), now)
                .await
                .unwrap();
            let key = format!("g{i}");
            store.schedule(reply(&key, now), now).await.unwrap();
            antirelou_core::store::Counters::incr(&store, "test.writes", 1)
                .await
                .unwrap();
            taken
        }));
    }
    let mut taken = 0;
    for t in tasks {
        taken += u32::from(t.await.unwrap());
    }
    assert_eq!(taken, 10);
    // Counter increments are queued; a read waits for them.
    let counters = antirelou_core::store::Counters::counters(&store)
        .await
        .unwrap();
    assert_eq!(counters.get("test.writes"), Some(&400));
    drop(store);
    let store = SqliteStore::open(dir.db()).await.unwrap();
    let counters = antirelou_core::store::Counters::counters(&store)
        .await
        .unwrap();
    assert_eq!(counters.get("test.writes"), Some(&400));
    let stats = store.queue_stats(now).await.unwrap();
    assert_eq!(stats.pending, 400);
}

/// Concurrent schedules with repeated keys through group commit: one `Scheduled` per key, every
/// `Duplicate` names the same id, and each id holds its own reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_schedule_ids_and_duplicates() {
    use antirelou_core::store::ScheduleOutcome;
    let dir = TempDir::new("group-ids");
    let now = Timestamp::from_secs(1_700_000_000);
    let store = SqliteStore::open(dir.db()).await.unwrap();
    // One key scheduled before, so that the batch meets an existing row too.
    let before = store.schedule(reply("k0", now), now).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..300u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("k{}", i % 40);
            let mut r = reply(&key, now);
            r.sender = SenderHash([(i % 40) as u8; 16]);
            (key, store.schedule(r, now).await.unwrap())
        }));
    }
    let mut by_key: std::collections::HashMap<String, Vec<ScheduleOutcome>> = Default::default();
    for t in tasks {
        let (k, o) = t.await.unwrap();
        by_key.entry(k).or_default().push(o);
    }
    assert_eq!(by_key.len(), 40);
    for (k, outcomes) in &by_key {
        let scheduled: Vec<_> = outcomes
            .iter()
            .filter(|o| matches!(o, ScheduleOutcome::Scheduled(_)))
            .collect();
        let id = if k == "k0" {
            assert!(scheduled.is_empty(), "k0 existed before");
            before.id()
        } else {
            assert_eq!(scheduled.len(), 1, "{k}: {outcomes:?}");
            scheduled[0].id()
        };
        assert!(outcomes.iter().all(|o| o.id() == id), "{k}: {outcomes:?}");
        let rec = store.get(id).await.unwrap().unwrap();
        let n: u8 = k[1..].parse().unwrap();
        if k != "k0" {
            assert_eq!(rec.sender, SenderHash([n; 16]), "{k} -> id {id}");
        }
    }
}

/// `admit_text` through group commit: concurrent texts of 20 senders (5 each, distinct keys)
/// record every contact and schedule exactly one lesson per sender; exactly one call per
/// sender sees no previous record; a repeated key is a duplicate, answered without asking the
/// policy and without counting a contact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_admits_concurrent_texts() {
    use antirelou_core::policy::Decision;
    use antirelou_core::store::{LessonSchedule, Store, TextAdmission};
    let dir = TempDir::new("group-admit");
    let now = Timestamp::from_secs(1_700_000_000);
    let window = Duration::from_secs(86_400);
    let store = SqliteStore::open(dir.db()).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..100u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = reply(&format!("c{i}:lesson"), now);
            let s = (i % 20) as u8;
            r.sender = SenderHash([s; 16]);
            let out = store
                .admit_text(r, window, now, Box::new(|| Decision::Allow))
                .await
                .unwrap();
            (s, i, out)
        }));
    }
    let mut scheduled = [0u32; 20];
    let mut first = [0u32; 20];
    let mut taught0 = None;
    for t in tasks {
        let (s, i, out) = t.await.unwrap();
        let TextAdmission::Decided { previous, schedule } = out else {
            panic!("neither opted out nor a duplicate: {out:?}");
        };
        match schedule {
            LessonSchedule::Scheduled(_) => {
                scheduled[s as usize] += 1;
                if s == 0 {
                    taught0 = Some(i);
                }
            }
            LessonSchedule::AlreadyTaught => {}
            LessonSchedule::Duplicate(_) => panic!("distinct keys: {schedule:?}"),
        }
        if previous.is_none() {
            first[s as usize] += 1;
        }
    }
    assert_eq!(scheduled, [1; 20]);
    assert_eq!(first, [1; 20]);
    for s in 0..20u8 {
        let rec = store.sender(&SenderHash([s; 16])).await.unwrap().unwrap();
        assert_eq!(rec.contacts, 5, "sender {s}");
        assert_eq!(rec.last_lesson_at, Some(now));
    }
    // The key of a stored lesson again: a duplicate, the policy not asked, no contact counted.
    let mut r = reply(&format!("c{}:lesson", taught0.unwrap()), now);
    r.sender = SenderHash([0; 16]);
    let again = store
        .admit_text(r, window, now, Box::new(|| unreachable!()))
        .await
        .unwrap();
    assert!(matches!(again, TextAdmission::Duplicate(_)), "{again:?}");
    let rec = store.sender(&SenderHash([0; 16])).await.unwrap().unwrap();
    assert_eq!(rec.contacts, 5);
    store.close().await;
}

fn reply(key: &str, now: Timestamp) -> NewReply {
    NewReply {
        idempotency_key: key.into(),
        number: PhoneNumber::parse("+33757000000").unwrap(),
        recipient: PhoneNumber::parse("+33612345678").unwrap(),
        sender: SenderHash([9; 16]),
        kind: ReplyKind::Lesson,
        due_at: now,
        expires_at: now.add(Duration::from_secs(3600)),
    }
}

#[tokio::test]
async fn everything_survives_a_reopen() {
    let dir = TempDir::new("reopen");
    let now = Timestamp::from_secs(1_700_000_000);
    let id = {
        let store = SqliteStore::open(dir.db()).await.unwrap();
        let id = store.schedule(reply("k1", now), now).await.unwrap().id();
        store
            .try_begin_lesson(&SenderHash([9; 16]), Duration::from_secs(86_400), now)
            .await
            .unwrap();
        store
            .reserve(
                Money::from_micros(76_270),
                &SpendCaps {
                    daily: Some(Money::from_micros(100_000)),
                    monthly: None,
                },
                now,
            )
            .await
            .unwrap();
        // No close: dropped as a crashing process would leave it.
        id
    };
    let store = SqliteStore::open(dir.db()).await.unwrap();
    let rec = store.get(id).await.unwrap().unwrap();
    assert_eq!(rec.state, ReplyState::Pending);
    assert_eq!(rec.recipient.unwrap().e164(), "+33612345678");
    assert!(
        !store
            .try_begin_lesson(&SenderHash([9; 16]), Duration::from_secs(86_400), now)
            .await
            .unwrap()
    );
    assert_eq!(
        store.spend(now).await.unwrap().day,
        Money::from_micros(76_270)
    );
    // The same key is still a duplicate after the restart.
    assert_eq!(
        store.schedule(reply("k1", now), now).await.unwrap().id(),
        id
    );
}

#[tokio::test]
async fn orphaned_claims_are_recovered_without_an_operator() {
    let dir = TempDir::new("orphan");
    let now = Timestamp::from_secs(1_700_000_000);
    let lease = Duration::from_secs(30);
    let id = {
        let store = SqliteStore::open(dir.db()).await.unwrap();
        let id = store
            .schedule(reply("orphan", now), now)
            .await
            .unwrap()
            .id();
        let claimed = store.claim_due(now, lease, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        // The worker "dies" here, holding the claim.
        id
    };
    let store = SqliteStore::open(dir.db()).await.unwrap();
    // Still leased: nobody else may take it.
    assert!(
        store
            .claim_due(now.add(Duration::from_secs(29)), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Lease over: the next claim takes it, with attempt 2, and can complete it.
    let later = now.add(lease);
    let again = store.claim_due(later, lease, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].token.id, id);
    assert_eq!(again[0].token.attempt, 2);
    store
        .complete(again[0].token, "SM-recovered", later)
        .await
        .unwrap();
    let rec = store.get(id).await.unwrap().unwrap();
    assert_eq!(rec.state, ReplyState::Sent);
    assert_eq!(rec.recipient, None);
}

#[tokio::test]
async fn purge_after_retention_deletes_only_terminal_replies() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let now = Timestamp::from_secs(1_700_000_000);
    let sent = store.schedule(reply("sent", now), now).await.unwrap().id();
    let mut r = reply("pending", now);
    r.due_at = now.add(Duration::from_secs(60));
    let pending = store.schedule(r, now).await.unwrap().id();
    let c = store
        .claim_due(now, Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(c.len(), 1);
    store.complete(c[0].token, "SM1", now).await.unwrap();
    let expired = {
        let mut r = reply("expired", now);
        r.expires_at = now;
        r.due_at = now.add(Duration::from_secs(10));
        store.schedule(r, now).await.unwrap().id()
    };
    assert_eq!(store.expire_overdue(now).await.unwrap(), 1);
    assert_eq!(store.get(expired).await.unwrap().unwrap().recipient, None);
    // Retention of 7 days: nothing is old enough yet.
    assert_eq!(store.purge(now).await.unwrap(), 0);
    let week = now.add(Duration::from_secs(7 * 86_400));
    assert_eq!(store.purge(week).await.unwrap(), 2);
    assert!(store.get(sent).await.unwrap().is_none());
    assert!(store.get(expired).await.unwrap().is_none());
    assert_eq!(
        store.get(pending).await.unwrap().unwrap().state,
        ReplyState::Pending
    );
}
