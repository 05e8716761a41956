//! Storage throughput: `schedule`, and `claim_due` + `complete`, per second, for the in-memory
//! store, SQLite (one file, `synchronous=FULL` the default, and `NORMAL`) and PostgreSQL (only
//! when `DATABASE_URL` is set; a fresh schema, dropped at the end), in one run.
//!
//! `cargo bench -p antirelou-benches --bench storage`
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use antirelou_core::memory::InMemoryStore;
use antirelou_core::privacy::SenderHash;
use antirelou_core::store::{NewReply, ReplyKind, Store};
use antirelou_core::{PhoneNumber, Timestamp};
use antirelou_postgres::{PgConfig, PgStore};
use antirelou_sqlite::{Durability, SqliteConfig, SqliteStore};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

/// Replies claimed per `claim_due` call, as the dispatcher's default `claim_batch`.
const CLAIM_BATCH: usize = 16;
const LEASE: Duration = Duration::from_secs(60);

struct Backend {
    name: &'static str,
    store: Arc<dyn Store>,
    /// Batched scheduling, where the backend has it (one transaction for many replies).
    batch: Option<BatchFn>,
}

type BatchFn = Box<
    dyn Fn(
        Vec<NewReply>,
        Timestamp,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
>;

static KEY: AtomicU64 = AtomicU64::new(0);

fn reply(now: Timestamp) -> NewReply {
    let k = KEY.fetch_add(1, Ordering::Relaxed);
    NewReply {
        idempotency_key: format!("bench:{}:{k}", std::process::id()),
        number: PhoneNumber::parse("+33937000000").unwrap(),
        recipient: PhoneNumber::parse(&format!("+3361{:07}", k % 10_000_000)).unwrap(),
        sender: SenderHash(u128::from(k).to_le_bytes()),
        kind: ReplyKind::Lesson,
        due_at: now,
        expires_at: now.add(Duration::from_secs(3600)),
    }
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "antirelou-bench-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sqlite(
    rt: &Runtime,
    dir: &std::path::Path,
    name: &'static str,
    durability: Durability,
) -> Backend {
    let store = rt
        .block_on(SqliteStore::open_with(
            dir.join(format!("{name}.db")),
            SqliteConfig::default().with_durability(durability),
        ))
        .unwrap();
    let s = store.clone();
    Backend {
        name,
        store: Arc::new(store),
        batch: Some(Box::new(move |replies, now| {
            let s = s.clone();
            Box::pin(async move {
                s.schedule_many(replies, now).await.unwrap();
            })
        })),
    }
}

fn backends(rt: &Runtime, dir: &std::path::Path) -> (Vec<Backend>, Option<(String, String)>) {
    let mut out = vec![
        Backend {
            name: "memory",
            store: Arc::new(InMemoryStore::new()),
            batch: None,
        },
        sqlite(rt, dir, "sqlite", Durability::Full),
        sqlite(rt, dir, "sqlite_normal", Durability::Normal),
    ];
    let mut pg_schema = None;
    match std::env::var("DATABASE_URL") {
        Ok(url) => {
            let schema = format!("antirelou_bench_{:08x}", rand::random::<u32>());
            let store = rt
                .block_on(PgStore::connect_with(
                    &url,
                    PgConfig::default().schema(&schema).unwrap(),
                ))
                .unwrap();
            let s = store.clone();
            out.push(Backend {
                name: "postgres",
                store: Arc::new(store),
                batch: Some(Box::new(move |replies, now| {
                    let s = s.clone();
                    Box::pin(async move {
                        s.schedule_many(replies, now).await.unwrap();
                    })
                })),
            });
            pg_schema = Some((url, schema));
        }
        Err(_) => println!("storage bench: DATABASE_URL is not set: PostgreSQL skipped"),
    }
    (out, pg_schema)
}

fn bench_storage(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempdir();
    let (backends, pg_schema) = backends(&rt, &dir);
    let now = Timestamp::from_secs(1_700_000_000);

    let mut group = c.benchmark_group("schedule");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(1));
    for b in &backends {
        group.bench_function(b.name, |bench| {
            bench.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        b.store.schedule(reply(now), now).await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("schedule_batch100");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(100));
    for b in &backends {
        let Some(batch) = &b.batch else { continue };
        group.bench_function(b.name, |bench| {
            bench.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        batch((0..100).map(|_| reply(now)).collect(), now).await;
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();

    // One iteration: claim a batch of 16 due replies and complete each (17 commits on a
    // durable store). The replies are scheduled beforehand, untimed.
    let mut group = c.benchmark_group("claim_complete");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(CLAIM_BATCH as u64));
    for b in &backends {
        group.bench_function(b.name, |bench| {
            bench.iter_custom(|iters| {
                rt.block_on(async {
                    let n = iters as usize * CLAIM_BATCH;
                    match &b.batch {
                        Some(batch) => {
                            for chunk in 0..n.div_ceil(1_000) {
                                let size = (n - chunk * 1_000).min(1_000);
                                batch((0..size).map(|_| reply(now)).collect(), now).await;
                            }
                        }
                        None => {
                            for _ in 0..n {
                                b.store.schedule(reply(now), now).await.unwrap();
                            }
                        }
                    }
                    let start = Instant::now();
                    for _ in 0..iters {
                        let claimed = b.store.claim_due(now, LEASE, CLAIM_BATCH).await.unwrap();
                        assert_eq!(claimed.len(), CLAIM_BATCH);
                        for c in claimed {
                            b.store.complete(c.token, "SM-bench", now).await.unwrap();
                        }
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();

    rt.block_on(async {
        if let Some((url, schema)) = pg_schema {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    });
    drop(backends);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench_storage);
criterion_main!(benches);
