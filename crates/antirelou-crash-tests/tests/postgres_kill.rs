//! Crash safety with several servers: real dispatchers run in two child processes sharing one
//! PostgreSQL schema and a loopback fake provider.
//!
//! * Two live, no kills: every reply is delivered exactly once (no reply sent twice while both
//!   live).
//! * Three, SIGKILLed at random moments and replaced: every reply is delivered, every extra
//!   delivery is one the database never committed (the kill fell between the provider's
//!   acceptance and the commit), at most one per kill.
//!
//! Run with `--include-ignored --nocapture` and `DATABASE_URL` set to see the figures.
#![allow(clippy::unwrap_used)]

// The PostgreSQL tests' helpers (database URL, throw-away schemas), shared with that crate.
#[path = "../../antirelou-postgres/tests/common/mod.rs"]
mod common;
#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/queue.rs"]
mod queue;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use antirelou_core::{Clock, SystemClock};
use antirelou_postgres::PgStore;
use common::{database_url, drop_schema, fresh_schema, store_in};
use fake_provider::{FakeProvider, Verdict, verdict};
use queue::{drain_committed, replies_due_now};
use rand::Rng;

/// Long enough that a live dispatcher never loses a lease to a slow commit on a loaded machine
/// (a send starts with at least half of it left); short enough that orphans return quickly.
const LEASE_MS: u64 = 5_000;

fn spawn_child(schema: &str, provider: &FakeProvider, instance: u32, workers: usize) -> Child {
    Command::new(env!("CARGO_BIN_EXE_antirelou-kill-child"))
        .arg(provider.addr().to_string())
        .arg(instance.to_string())
        .arg(workers.to_string())
        .arg(LEASE_MS.to_string())
        .args(["postgres", &database_url(), schema])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Schedule `n` replies due now, keys prefixed by `tag`; returns their ids.
async fn schedule(store: &PgStore, tag: &str, n: u64) -> Vec<u64> {
    let now = SystemClock.now();
    let mut ids = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1_000) {
        let batch = replies_due_now(tag, chunk, now);
        ids.extend(
            store
                .schedule_many(batch, now)
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.id()),
        );
    }
    assert_eq!(ids.len() as u64, n);
    ids
}

fn stop(mut child: Child) {
    drop(child.stdin.take()); // graceful shutdown
    let status = child.wait().unwrap();
    assert!(status.success(), "a live child must exit cleanly: {status}");
}

fn instances(v: &Verdict) -> String {
    format!("{:?}", v.uncommitted_by_instance)
}

#[test]
#[ignore = "needs PostgreSQL: set DATABASE_URL (CI sets it)"]
fn two_live_dispatcher_processes_never_send_a_reply_twice() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let schema = fresh_schema("live");
    let store = rt.block_on(store_in(&schema));

    // Two live dispatchers (4 workers each), 10,000 replies, no kills.
    let replies = 10_000;
    let ids = rt.block_on(schedule(&store, "live", replies));
    let provider = FakeProvider::start();
    let started = Instant::now();
    let a = spawn_child(&schema, &provider, 0, 4);
    let b = spawn_child(&schema, &provider, 1, 4);
    let committed = rt.block_on(drain_committed(&store, &ids));
    stop(a);
    stop(b);
    let live = verdict(&provider.accepted(), &committed);
    let mut per_instance: HashMap<u32, usize> = HashMap::new();
    for acc in provider.accepted() {
        *per_instance.entry(acc.instance).or_insert(0) += 1;
    }
    println!(
        "postgres, two live dispatchers: replies={} deliveries={} duplicates={} sent by instance={per_instance:?} time={:.1}s",
        live.replies,
        live.acceptances,
        live.duplicates,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        live.duplicates, 0,
        "a reply was sent twice while both dispatchers lived"
    );
    assert_eq!(live.acceptances as u64, replies);
    assert!(
        per_instance.len() == 2,
        "both dispatchers must have sent: {per_instance:?}"
    );
    rt.block_on(async {
        store.close().await;
        drop_schema(&schema).await;
    });
}

#[test]
#[ignore = "needs PostgreSQL: set DATABASE_URL (CI sets it)"]
fn dispatcher_processes_killed_at_random_moments_lose_no_reply() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let schema = fresh_schema("kill");
    let store = rt.block_on(store_in(&schema));

    // Three dispatchers (1 worker each, so that a kill interrupts at most one send), 10,000
    // replies, 6 SIGKILLs at random moments, each killed child replaced at once.
    let replies = 10_000;
    let kills = 6;
    const CHILDREN: u32 = 3;
    let ids = rt.block_on(schedule(&store, "kill", replies));
    let provider = FakeProvider::start();
    let started = Instant::now();
    let mut rng = rand::rng();
    let mut children: Vec<(u32, Child)> = (0..CHILDREN)
        .map(|i| (i, spawn_child(&schema, &provider, i, 1)))
        .collect();
    for next_instance in CHILDREN..CHILDREN + kills as u32 {
        let before = provider.count();
        let wait_start = Instant::now();
        while provider.count() < before + 20 {
            assert!(
                wait_start.elapsed() < Duration::from_secs(60),
                "the children never sent"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(20..=400)));
        let victim = rng.random_range(0..children.len());
        let (_, mut child) = children.swap_remove(victim);
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        children.push((
            next_instance,
            spawn_child(&schema, &provider, next_instance, 1),
        ));
    }
    let committed = rt.block_on(drain_committed(&store, &ids));
    let live_instances: Vec<u32> = children.iter().map(|(i, _)| *i).collect();
    for (_, child) in children {
        stop(child);
    }
    let v = verdict(&provider.accepted(), &committed);
    println!(
        "postgres kill test: replies={} kills={kills} deliveries={} duplicates={} (replies delivered twice: {}) \
         uncommitted by instance={} time={:.1}s",
        v.replies,
        v.acceptances,
        v.duplicates,
        v.replies_duplicated,
        instances(&v),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(v.replies as u64, replies);
    // Every uncommitted send comes from a killed child, at most one (one worker) per kill.
    for (instance, n) in &v.uncommitted_by_instance {
        assert!(
            !live_instances.contains(instance),
            "instance {instance} was never killed but left {n} uncommitted sends"
        );
        assert!(
            *n <= 1,
            "instance {instance} left {n} uncommitted sends with one worker"
        );
    }
    assert!(
        v.duplicates <= kills,
        "{} duplicates for {kills} kills",
        v.duplicates
    );
    rt.block_on(async {
        store.close().await;
        drop_schema(&schema).await;
    });
}
