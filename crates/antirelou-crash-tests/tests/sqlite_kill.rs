//! Crash safety, shown: the real dispatcher runs in a child process against a SQLite file and a
//! loopback fake provider; the test schedules 10,000 replies, kills the child with SIGKILL at
//! random moments, restarts it, and checks that every reply was delivered, that every extra
//! delivery is one the database never committed (the kill fell between the provider's
//! acceptance and the commit), and that there are no more of them than kills.
//!
//! Run with `--nocapture` to see the figures.
#![allow(clippy::unwrap_used)]

#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/queue.rs"]
mod queue;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use antirelou_core::store::Counters;
use antirelou_core::{Clock, SystemClock};
use antirelou_sqlite::SqliteStore;
use fake_provider::{FakeProvider, verdict};
use queue::{drain_committed, replies_due_now};
use rand::Rng;

/// One worker: a kill can then interrupt at most one send between acceptance and commit.
const WORKERS: usize = 1;
const LEASE_MS: u64 = 2_000;

fn spawn_child(
    db: &Path,
    provider: &FakeProvider,
    instance: u32,
    durability: &str,
    lookup: bool,
) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_antirelou-kill-child"));
    if lookup {
        command.env("KILL_CHILD_LOOKUP", "1");
    }
    command
        .arg(provider.addr().to_string())
        .arg(instance.to_string())
        .arg(WORKERS.to_string())
        .arg(LEASE_MS.to_string())
        .arg("sqlite")
        .arg(db)
        .arg(durability)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap()
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// With `slow_provider` the provider answers each send 20 ms after accepting it, so that the
/// kills fall between an acceptance and its commit.
fn kill_test(durability: &str, replies: u64, kills: usize, lookup: bool, slow_provider: bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = TempDir(std::env::temp_dir().join(format!(
        "antirelou-kill-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    )));
    std::fs::create_dir_all(&dir.0).unwrap();
    let db = dir.0.join("antirelou.db");

    // The replies, due now, each to its own recipient.
    let now = SystemClock.now();
    let ids: Vec<u64> = rt.block_on(async {
        let store = SqliteStore::open(&db).await.unwrap();
        let mut ids = Vec::new();
        for chunk in (0..replies).collect::<Vec<_>>().chunks(1_000) {
            let batch = replies_due_now("sqlite", chunk, now);
            ids.extend(
                store
                    .schedule_many(batch, now)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|o| o.id()),
            );
        }
        store.close().await;
        ids
    });
    assert_eq!(ids.len() as u64, replies);

    let provider = if slow_provider {
        FakeProvider::start_answering_after(Duration::from_millis(20))
    } else {
        FakeProvider::start()
    };
    let started = Instant::now();
    let mut rng = rand::rng();
    let mut killed_instances = Vec::new();
    let mut delivered_at_kill = Vec::new();
    for instance in 0..kills as u32 {
        let before = provider.count();
        let mut child = spawn_child(&db, &provider, instance, durability, lookup);
        // Wait until it sends, let it send for a random while, then SIGKILL it.
        let wait_start = Instant::now();
        while provider.count() == before {
            assert!(
                wait_start.elapsed() < Duration::from_secs(60),
                "child {instance} never sent"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(20..=400)));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        killed_instances.push(instance);
        delivered_at_kill.push(provider.count());
    }

    // Restart for good and wait until the queue is empty.
    let last = kills as u32;
    let mut child = spawn_child(&db, &provider, last, durability, lookup);
    let (committed, recovered): (HashMap<u64, String>, u64) = rt.block_on(async {
        let store = SqliteStore::open(&db).await.unwrap();
        let committed = drain_committed(&store, &ids).await;
        let recovered = Counters::counters(&store)
            .await
            .unwrap()
            .get("send.recovered")
            .copied()
            .unwrap_or(0);
        store.close().await;
        (committed, recovered)
    });
    drop(child.stdin.take()); // graceful shutdown
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "the last child must exit cleanly: {status}"
    );
    let elapsed = started.elapsed();

    let v = verdict(&provider.accepted(), &committed);
    println!(
        "sqlite kill test ({durability}, lookup={lookup}): replies={} kills={kills} deliveries={} duplicates={} \
         (replies delivered twice: {}) uncommitted by instance={:?} delivered before each kill={:?} \
         recovered by lookup={recovered} time={:.1}s",
        v.replies,
        v.acceptances,
        v.duplicates,
        v.replies_duplicated,
        v.uncommitted_by_instance,
        delivered_at_kill,
        elapsed.as_secs_f64()
    );
    std::io::stdout().flush().unwrap();
    assert_eq!(v.replies as u64, replies);
    // Every extra delivery comes from a killed child, at most one in flight per worker.
    for (instance, n) in &v.uncommitted_by_instance {
        assert!(
            killed_instances.contains(instance),
            "instance {instance} was not killed but left {n} uncommitted sends"
        );
        assert!(
            *n <= WORKERS,
            "instance {instance} left {n} uncommitted sends with {WORKERS} worker(s)"
        );
    }
    assert!(
        v.duplicates <= kills,
        "{} duplicates for {kills} kills",
        v.duplicates
    );
    if lookup {
        // The next claim of an interrupted send asks the provider, which had accepted it.
        assert_eq!(
            v.duplicates, 0,
            "a provider that can be asked must see no duplicate"
        );
    }
    if slow_provider {
        // The kills did fall inside sends: each was found (lookup) or sent again (none).
        assert!(
            recovered + v.duplicates as u64 > 0,
            "no kill fell between an acceptance and its commit"
        );
    }
    assert!(
        delivered_at_kill.last().copied().unwrap_or(0) > 0,
        "the kills never hit a sending child"
    );
}

/// 10,000 replies, 5 kills, `synchronous=NORMAL`: as safe as `FULL` against a process kill
/// (a commit that returned is in the OS page cache, which outlives the process; only a power
/// loss tells them apart) and fast enough for a debug build.
#[test]
fn sigkill_at_random_moments_loses_no_reply_and_duplicates_at_most_one_per_kill() {
    kill_test("normal", 10_000, 5, false, false);
}

/// The same with the default `synchronous=FULL` (an `fsync` per commit), on fewer replies.
#[test]
fn sigkill_with_full_durability() {
    kill_test("full", 2_000, 3, false, false);
}

/// Kills inside sends (the provider answers 20 ms after accepting), with a provider that can
/// tell whether it already accepted a message (`SmsTransport::find_accepted`, as the Twilio sender
/// does by listing its messages): every interrupted send is found by the next claim, and the
/// kills leave no duplicate at all.
#[test]
fn sigkill_inside_sends_with_a_provider_lookup_duplicates_nothing() {
    kill_test("normal", 300, 5, true, true);
}

/// The same kills inside sends with a provider that cannot be asked: the documented duplicate,
/// at most one per kill (one worker).
#[test]
fn sigkill_inside_sends_without_a_lookup_duplicates_at_most_one_per_kill() {
    kill_test("normal", 300, 5, false, true);
}
