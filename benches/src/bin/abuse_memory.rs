//! `cargo run --release -p antirelou-benches --bin abuse_memory`
//!
//! Live heap bytes of the default abuse chain after a flood of 10 million distinct senders, then
//! of `governor`'s keyed limiter (one rule) after the same flood, measured with a counting global
//! allocator. Prints one JSON line per structure:
//! `{"structure":"antirelou","senders":N,"bytes":B,"bytes_per_sender":X}`.
//!
//! An optional argument sets the number of senders (default 10,000,000).
#![allow(clippy::print_stdout)]

use std::alloc::System;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use antirelou_abuse::{AbuseConfig, default_chain};
use antirelou_core::event::Channel;
use antirelou_core::phone::Region;
use antirelou_core::policy::{AbusePolicy, Contact, Reason};
use antirelou_core::{NumberKind, Timestamp};
use cap::Cap;
use governor::{Quota, RateLimiter};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const START_MS: i64 = 1_700_000_000_000;

/// The i-th distinct sender: a French mobile number (a bijection over 200 million numbers).
fn key(i: u64) -> u64 {
    33_600_000_000 + (i.wrapping_mul(1_234_567_891) % 200_000_000)
}

fn print(structure: &str, senders: u64, bytes: usize, secs: f64) {
    println!(
        "{{\"structure\":\"{structure}\",\"senders\":{senders},\"bytes\":{bytes},\"bytes_per_sender\":{:.3},\"seconds\":{secs:.2}}}",
        bytes as f64 / senders as f64
    );
}

fn main() {
    let senders: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let Ok(fr) = Region::new("FR") else { return };

    // The default chain. Texts arrive 1 ms apart: a flood of 1,000 distinct senders a second.
    let before = ALLOCATOR.allocated();
    let t = Instant::now();
    {
        let chain = match default_chain(Some(fr), &AbuseConfig::default()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return;
            }
        };
        for i in 0..senders {
            let c = Contact {
                sender_key: key(i),
                sender_calling_code: 33,
                sender_region: Some(fr),
                sender_kind: NumberKind::Mobile,
                number_key: 33_937_000_000,
                number_region: Some(fr),
                channel: Channel::Sms,
                at: Timestamp::from_millis(START_MS + i as i64),
            };
            std::hint::black_box(chain.check(&c));
        }
        let bytes = ALLOCATOR.allocated() - before;
        print("antirelou", senders, bytes, t.elapsed().as_secs_f64());
        let reasons: Vec<String> = chain
            .counts()
            .filter(|(_, n)| *n > 0)
            .map(|(r, n): (Reason, u64)| format!("{}={n}", r.as_str()))
            .collect();
        eprintln!(
            "antirelou decisions: allowed={} {}",
            chain.allowed(),
            reasons.join(" ")
        );
    }

    // governor's keyed GCRA limiter, one rule: one per sender per 30 days.
    let before = ALLOCATOR.allocated();
    let t = Instant::now();
    {
        let Some(quota) = Quota::with_period(Duration::from_secs(30 * 86_400)) else {
            return;
        };
        let lim = RateLimiter::keyed(quota.allow_burst(NonZeroU32::MIN));
        for i in 0..senders {
            std::hint::black_box(lim.check_key(&key(i)).is_ok());
        }
        let bytes = ALLOCATOR.allocated() - before;
        print("governor", senders, bytes, t.elapsed().as_secs_f64());
    }
}
