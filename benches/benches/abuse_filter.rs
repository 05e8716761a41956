//! `cargo bench -p antirelou-benches --bench abuse_filter`
//!
//! The default abuse chain of `antirelou-abuse` against `governor`'s keyed GCRA limiter (one rule:
//! one lesson per sender per 30 days), on the same stream of inbound texts over 10k, 1M and 10M
//! distinct senders.
//!
//! The stream is realistic and pre-generated outside the timed loop: about 70 % of the texts are
//! first contacts, the rest repeat a recent sender (a Zipf-like distance: most repeats are very
//! recent). A pass over the pre-generated items shifts every sender index, so that across passes
//! the whole key space of N senders is visited; the key of index `i` is a French mobile number
//! from a fixed bijection (`33 6xx xxx xxx`–`33 7xx xxx xxx`), computed with constant divisors.
//! Texts arrive 10 ms apart in virtual time (a flood of 100 a second). Each structure is warmed
//! up over the whole key space before it is measured. The chain decides through `check_text`
//! with each text's own fingerprint, as the engine calls it, so the copy-paste guard judges
//! every text (every text is distinct: no raid text is ever marked).
//!
//! Timing: wall-clock by default. On a shared, busy machine (other jobs competing for the
//! cores) set `ABUSE_BENCH_CLOCK=cpu` to time with each thread's own CPU time instead: the
//! `*_2threads` ids then report the CPU time per decision summed over both threads, so that
//! two threads scale by `2 × (one-thread time / two-thread time)` once two cores are free.
//!
//! Ids: `antirelou/{10k,1M,10M}`, `governor/{10k,1M,10M}`, and `antirelou_2threads/{1M,10M}`,
//! `governor_2threads/{1M,10M}` (two threads sharing one structure, contacts dealt alternately).
//!
//! A third peer, `one_miss/{1M,10M}` and `one_miss_2threads/{1M,10M}`, is the floor the issue
//! names ("about one memory miss per decision"): per contact, one relaxed read-modify-write of a
//! random `u32` in a table of 4 bytes per sender (the chain's size), nothing shared but the
//! table. It times the machine, not a policy: its one-thread time is the latency floor, and its
//! two-thread scaling is what this host gives a memory-bound loop with no contention at all,
//! measured in the same run as the others.
//!
//! Two-thread scaling is also measured in pairs (one thread, then two, a fraction of a second
//! apart, over many rounds) by `cargo run --release -p antirelou-benches --bin abuse_scaling`,
//! on the same workload (`antirelou_benches::abuse_stream`): on a machine whose speed drifts, a
//! ratio of two ids measured seconds apart swings with the drift.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use antirelou_benches::abuse_stream::{
    Stream, new_chain, new_governor, new_one_miss, run_chain, run_governor, run_one_miss, stream,
    warm_up_items,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn cpu_clock() -> bool {
    std::env::var("ABUSE_BENCH_CLOCK").is_ok_and(|v| v == "cpu")
}

/// Run `f` and return its duration: wall-clock, or this thread's CPU time.
fn timed(f: impl FnOnce()) -> Duration {
    if cpu_clock() {
        let t = cpu_time::ThreadTime::now();
        f();
        t.elapsed()
    } else {
        let t = Instant::now();
        f();
        t.elapsed()
    }
}

/// Run `a` and `b` on two threads; wall-clock time, or the sum of both threads' CPU times.
fn timed2(a: impl FnOnce() + Send, b: impl FnOnce() + Send) -> Duration {
    let t = Instant::now();
    let (da, db) = std::thread::scope(|sc| {
        let ha = sc.spawn(|| timed(a));
        let hb = sc.spawn(|| timed(b));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    if cpu_clock() { da + db } else { t.elapsed() }
}

/// Whether a benchmark id may run under the command line's filters (so that setting up the other
/// structures, which takes seconds at 10M, is skipped when filtering). An over-approximation of
/// criterion's regex match: an id it sets up and criterion then filters out costs only set-up time.
fn wanted(id: &str) -> bool {
    const WITH_VALUE: [&str; 8] = [
        "--profile-time",
        "--save-baseline",
        "--baseline",
        "--measurement-time",
        "--warm-up-time",
        "--sample-size",
        "--output-format",
        "--color",
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut filters = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let after_option = i > 0 && WITH_VALUE.contains(&args[i - 1].as_str());
        if !a.starts_with('-') && !after_option {
            filters.push(a.as_str());
        }
    }
    // Criterion reads a filter as a regular expression; here each `|`-separated alternative,
    // without its `^`/`$` anchors, is a substring, so that `antirelou/1M|governor/1M` sets up
    // both structures (a plain substring match would set up neither).
    filters.is_empty()
        || filters
            .iter()
            .flat_map(|f| f.split('|'))
            .map(|alt| alt.trim_start_matches('^').trim_end_matches('$'))
            .any(|alt| !alt.is_empty() && id.contains(alt))
}

fn bench_size<const N: u64>(c: &mut Criterion, s: &Stream, label: &str, two_threads: bool) {
    let mut group = c.benchmark_group("abuse_filter");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));

    if wanted(&format!("abuse_filter/antirelou/{label}"))
        || wanted(&format!("abuse_filter/antirelou_2threads/{label}"))
    {
        let chain = new_chain();
        let warm = warm_up_items::<N>(s);
        run_chain::<N>(&chain, s, 0, 1, warm);
        let mut g = warm;
        group.bench_function(BenchmarkId::new("antirelou", label), |b| {
            b.iter_custom(|iters| {
                let d = timed(|| run_chain::<N>(&chain, s, g, 1, iters));
                g += iters;
                d
            })
        });
        if two_threads {
            group.bench_function(BenchmarkId::new("antirelou_2threads", label), |b| {
                b.iter_custom(|iters| {
                    let half = iters / 2;
                    let chain = &chain;
                    let d = timed2(
                        move || run_chain::<N>(chain, s, g, 2, half),
                        move || run_chain::<N>(chain, s, g + 1, 2, iters - half),
                    );
                    g += iters;
                    d
                })
            });
        }
    }
    if wanted(&format!("abuse_filter/governor/{label}"))
        || wanted(&format!("abuse_filter/governor_2threads/{label}"))
    {
        let lim = new_governor();
        let warm = warm_up_items::<N>(s);
        run_governor::<N>(&lim, s, 0, 1, warm);
        let mut g = warm;
        group.bench_function(BenchmarkId::new("governor", label), |b| {
            b.iter_custom(|iters| {
                let d = timed(|| run_governor::<N>(&lim, s, g, 1, iters));
                g += iters;
                d
            })
        });
        if two_threads {
            group.bench_function(BenchmarkId::new("governor_2threads", label), |b| {
                b.iter_custom(|iters| {
                    let half = iters / 2;
                    let lim = &lim;
                    let d = timed2(
                        move || run_governor::<N>(lim, s, g, 2, half),
                        move || run_governor::<N>(lim, s, g + 1, 2, iters - half),
                    );
                    g += iters;
                    d
                })
            });
        }
    }
    if two_threads
        && (wanted(&format!("abuse_filter/one_miss/{label}"))
            || wanted(&format!("abuse_filter/one_miss_2threads/{label}")))
    {
        let table = new_one_miss::<N>();
        run_one_miss::<N>(&table, s, 0, 1, table.len() as u64);
        let mut g = 0;
        group.bench_function(BenchmarkId::new("one_miss", label), |b| {
            b.iter_custom(|iters| {
                let d = timed(|| run_one_miss::<N>(&table, s, g, 1, iters));
                g += iters;
                d
            })
        });
        group.bench_function(BenchmarkId::new("one_miss_2threads", label), |b| {
            b.iter_custom(|iters| {
                let half = iters / 2;
                let table = &table;
                let d = timed2(
                    move || run_one_miss::<N>(table, s, g, 2, half),
                    move || run_one_miss::<N>(table, s, g + 1, 2, iters - half),
                );
                g += iters;
                d
            })
        });
    }
    group.finish();
}

fn abuse_filter(c: &mut Criterion) {
    let s = stream();
    bench_size::<10_000>(c, &s, "10k", false);
    bench_size::<1_000_000>(c, &s, "1M", true);
    bench_size::<10_000_000>(c, &s, "10M", true);
}

criterion_group!(benches, abuse_filter);
criterion_main!(benches);
