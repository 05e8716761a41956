//! `cargo run --release -p antirelou-benches --bin abuse_scaling`
//!
//! Two-thread scaling of the default abuse chain, of `governor`'s keyed limiter, of the
//! one-miss floor and of the no-share ceiling (the same stream hashed in registers, nothing
//! written: what this machine gives two threads that share nothing), on the workload of the
//! `abuse_filter` bench, measured in **pairs**: a pair times one thread on `M` contacts, then
//! two threads sharing the structure on the next `M` (contacts dealt alternately), or the same
//! the other way round, and its scaling is `one-thread time / two-thread time`. On a shared
//! machine whose speed drifts by tens of percent within a minute, a ratio of two criterion ids
//! measured seconds apart swings with the drift; a ratio of runs a fraction of a second apart,
//! taken over many rounds, does not.
//!
//! Each round runs one pair of **every** structure, one after the other, so that the
//! structures share the host's phases: on a virtual machine, what a cache line costs to move
//! from one core to the other changes from minute to minute (with where the hypervisor puts the
//! two virtual CPUs), and a structure measured alone during a slow phase would look worse than
//! its peers for a reason that is not its own. The no-share ceiling's rounds show the phases
//! that slow even threads that share nothing.
//!
//! Prints one JSON line per structure and size:
//! `{"structure":"antirelou","senders":N,"rounds":R,"one_thread_ns":…,"two_threads_ns":…,
//! "scaling_median":…,"scaling_min":…,"scaling_max":…,"scaling_rounds":[…]}` (times: medians,
//! ns per decision; `scaling_rounds`: each round's scaling, in order, so that a structure's
//! round can be read beside the ceiling's round of the same moment).
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

/// One structure's decision loop `run(from, stride, count)`, the stream item it starts at, and
/// its pairs so far.
struct Measured<'a> {
    name: &'static str,
    run: Box<dyn Fn(u64, u64, u64) + Sync + 'a>,
    from: u64,
    one: Vec<f64>,
    two: Vec<f64>,
}

impl<'a> Measured<'a> {
    /// A structure named `name` whose pairs start at stream item `from`, for `rounds` rounds.
    fn new(
        name: &'static str,
        from: u64,
        rounds: usize,
        run: Box<dyn Fn(u64, u64, u64) + Sync + 'a>,
    ) -> Self {
        Measured {
            name,
            run,
            from,
            one: Vec::with_capacity(rounds),
            two: Vec::with_capacity(rounds),
        }
    }

    /// Time one pair of `m` contacts each, the single thread first when `single_first`.
    fn pair(&mut self, m: u64, single_first: bool) {
        let run = &self.run;
        let single = |from: u64| secs(|| run(from, 1, m));
        let double = |from: u64| secs2(|| run(from, 2, m / 2), || run(from + 1, 2, m - m / 2));
        let (a, b) = if single_first {
            let a = single(self.from);
            (a, double(self.from + m))
        } else {
            let b = double(self.from);
            (single(self.from + m), b)
        };
        self.from += 2 * m;
        self.one.push(a);
        self.two.push(b);
    }

    /// The JSON line of this structure.
    fn print(&self, senders: u64, m: u64) {
        let ratios: Vec<f64> = self.one.iter().zip(&self.two).map(|(a, b)| a / b).collect();
        let ns = |s: f64| s * 1e9 / m as f64;
        let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let max = ratios.iter().copied().fold(0.0, f64::max);
        println!(
            "{{\"structure\":\"{}\",\"senders\":{senders},\"rounds\":{},\"one_thread_ns\":{:.1},\"two_threads_ns\":{:.1},\"scaling_median\":{:.2},\"scaling_min\":{min:.2},\"scaling_max\":{max:.2},\"scaling_rounds\":[{}]}}",
            self.name,
            ratios.len(),
            ns(median(self.one.clone())),
            ns(median(self.two.clone())),
            median(ratios.clone()),
            ratios
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(","),
        );
    }
}

fn size<const N: u64>(s: &Stream, rounds: usize, m: u64) {
    let warm = warm_up_items::<N>(s);
    let chain = new_chain();
    run_chain::<N>(&chain, s, 0, 1, warm);
    let lim = new_governor();
    run_governor::<N>(&lim, s, 0, 1, warm);
    let table = new_one_miss::<N>();
    run_one_miss::<N>(&table, s, 0, 1, table.len() as u64);
    let measured = |name, from, run| Measured::new(name, from, rounds, run);
    let mut all = [
        measured(
            "antirelou",
            warm,
            Box::new(|f, st, c| run_chain::<N>(&chain, s, f, st, c)),
        ),
        measured(
            "governor",
            warm,
            Box::new(|f, st, c| run_governor::<N>(&lim, s, f, st, c)),
        ),
        measured(
            "one_miss",
            0,
            Box::new(|f, st, c| run_one_miss::<N>(&table, s, f, st, c)),
        ),
        measured(
            "no_share",
            0,
            Box::new(|f, st, c| run_no_share::<N>(s, f, st, c)),
        ),
    ];
    for r in 0..rounds {
        for x in &mut all {
            // Alternate the order within a pair so that a drift favours neither side.
            x.pair(m, r % 2 == 0);
        }
    }
    for x in &all {
        x.print(N, m);
    }
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
