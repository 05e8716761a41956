//! `cargo run --release -p antirelou-benches --bin abuse_scaling`
//!
//! Two-thread scaling of the default abuse chain, of `governor`'s keyed limiter, of the
//! one-miss floor and of the no-share ceiling (the same stream hashed in registers, nothing
//! written: what this machine gives two threads that share nothing), on the workload of the
//! `abuse_filter` bench, measured in **pairs**: each round times one thread on `M` contacts,
//! then two threads sharing the structure on the next `M` (contacts dealt alternately), then
//! the same the other way round, and the scaling of a round is `one-thread time / two-thread
//! time`. On a shared machine whose speed drifts by tens of
//! percent within a minute, a ratio of two criterion ids measured seconds apart swings with the
//! drift; a ratio of runs a fraction of a second apart, taken over many rounds, does not.
//!
//! Prints one JSON line per structure and size:
//! `{"structure":"antirelou","senders":N,"rounds":R,"one_thread_ns":…,"two_threads_ns":…,
//! "scaling_median":…,"scaling_min":…,"scaling_max":…}` (times: medians, ns per decision).
//!
//! Arguments: `[rounds] [contacts per timing]` (default 15 and 2,000,000).
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use antirelou_benches::abuse_stream::{
    Stream, new_chain, new_governor, new_one_miss, run_chain, run_governor, run_no_share,
    run_one_miss, stream, warm_up_items,
};

/// Seconds taken by `f`.
fn secs(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

/// Seconds taken by `a` and `b` on two threads (wall clock, both started together).
fn secs2(a: impl FnOnce() + Send, b: impl FnOnce() + Send) -> f64 {
    let t = Instant::now();
    std::thread::scope(|sc| {
        sc.spawn(a);
        sc.spawn(b);
    });
    t.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Time `rounds` pairs with `one(from, stride, count)` as the decision loop, starting at stream
/// item `from`, and print the JSON line.
fn pairs(
    structure: &str,
    senders: u64,
    rounds: usize,
    m: u64,
    mut from: u64,
    one: &(dyn Fn(u64, u64, u64) + Sync),
) {
    let mut t1 = Vec::with_capacity(rounds);
    let mut t2 = Vec::with_capacity(rounds);
    let mut ratios = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let single = |from: u64| secs(|| one(from, 1, m));
        let double = |from: u64| secs2(|| one(from, 2, m / 2), || one(from + 1, 2, m - m / 2));
        // Alternate the order so that a drift within a round favours neither side.
        let (a, b) = if r % 2 == 0 {
            let a = single(from);
            let b = double(from + m);
            (a, b)
        } else {
            let b = double(from);
            let a = single(from + m);
            (a, b)
        };
        from += 2 * m;
        t1.push(a);
        t2.push(b);
        ratios.push(a / b);
    }
    let ns = |s: f64| s * 1e9 / m as f64;
    let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let max = ratios.iter().copied().fold(0.0, f64::max);
    println!(
        "{{\"structure\":\"{structure}\",\"senders\":{senders},\"rounds\":{rounds},\"one_thread_ns\":{:.1},\"two_threads_ns\":{:.1},\"scaling_median\":{:.2},\"scaling_min\":{min:.2},\"scaling_max\":{max:.2}}}",
        ns(median(t1)),
        ns(median(t2)),
        median(ratios),
    );
}

fn size<const N: u64>(s: &Stream, rounds: usize, m: u64) {
    let warm = warm_up_items::<N>(s);
    {
        let chain = new_chain();
        run_chain::<N>(&chain, s, 0, 1, warm);
        pairs("antirelou", N, rounds, m, warm, &|from, stride, count| {
            run_chain::<N>(&chain, s, from, stride, count);
        });
    }
    {
        let lim = new_governor();
        run_governor::<N>(&lim, s, 0, 1, warm);
        pairs("governor", N, rounds, m, warm, &|from, stride, count| {
            run_governor::<N>(&lim, s, from, stride, count);
        });
    }
    {
        let table = new_one_miss::<N>();
        run_one_miss::<N>(&table, s, 0, 1, table.len() as u64);
        pairs("one_miss", N, rounds, m, 0, &|from, stride, count| {
            run_one_miss::<N>(&table, s, from, stride, count);
        });
    }
    pairs("no_share", N, rounds, m, 0, &|from, stride, count| {
        run_no_share::<N>(s, from, stride, count);
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds = args.first().and_then(|a| a.parse().ok()).unwrap_or(15usize);
    let m = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000u64);
    let s = stream();
    size::<1_000_000>(&s, rounds, m);
    size::<10_000_000>(&s, rounds, m);
}
