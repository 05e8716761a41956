//! Same scenario, same seed, same JSON: for every built-in scenario (shrunken where the full one
//! is too slow for a debug build), with the abuse policies' hashes and the engine's jitter all
//! derived from the scenario's seed.
#![allow(clippy::unwrap_used)]

use antirelou_sim::replay::replay;
use antirelou_sim::scenario::Scenario;

/// The built-in scenario `name`, shrunken for debug builds: a tenth of the men and of the
/// raiding numbers, and at most 60,000 spoofed senders.
fn debug_sized(name: &str) -> Scenario {
    let mut s = Scenario::builtin(name).unwrap().unwrap();
    if let Some(sp) = s.spoofed.as_mut() {
        // 10^6 senders parse too slowly in debug; 60,000 in the hour still trips every defence
        // whose decision depends on a hash (the flood detector's HyperLogLog, the prefix guard's
        // bitmaps).
        sp.senders = sp.senders.min(60_000);
    }
    s.legit.senders /= 10;
    for sp in &mut s.legit.spike {
        sp.senders /= 10;
    }
    for r in &mut s.raid {
        r.numbers = (r.numbers / 10).max(1);
    }
    s
}

fn json(s: &Scenario, seed: Option<u64>) -> String {
    serde_json::to_string(&replay(s, seed).unwrap().report).unwrap()
}

#[test]
fn every_builtin_scenario_gives_the_same_json_twice() {
    for (name, _) in antirelou_sim::scenario::BUILTIN {
        let s = debug_sized(name);
        let a = json(&s, None);
        let b = json(&s, None);
        assert_eq!(a, b, "{name}: two runs with the same seed differ");
    }
}

#[test]
fn a_flood_near_the_prefix_threshold_gives_the_same_json_twice() {
    // 100 number blocks each sending about the prefix guard's threshold in its window: whether a
    // block trips depends on which senders share a bit of its counter, that is on the hash seed.
    let mut s = debug_sized("spoofed-flood");
    let sp = s.spoofed.as_mut().unwrap();
    sp.prefixes = vec!["+33612".into()];
    sp.suffix_digits = 6;
    sp.senders = 9_000;
    let a = json(&s, None);
    for _ in 0..3 {
        assert_eq!(a, json(&s, None));
    }
}

#[test]
fn reply_jitter_is_applied_and_seeded() {
    // With jitter the replies leave at seeded random instants: another seed gives other
    // figures, the same seed the same ones.
    let mut s = Scenario::builtin("viral-day").unwrap().unwrap();
    s.legit.spike.clear();
    s.legit.senders = 200;
    s.engine.reply_jitter_minutes = 30.0;
    let a = replay(&s, Some(3)).unwrap();
    let b = replay(&s, Some(3)).unwrap();
    assert_eq!(a.report, b.report);
    assert_eq!(a.curves, b.curves);
    // The jitter is really applied: without it the lessons leave at other instants.
    s.engine.reply_jitter_minutes = 0.0;
    let still = replay(&s, Some(3)).unwrap();
    // (A reply moved across midnight moves its cost to the next day: the daily maximum aside.)
    let counts = |r: &antirelou_sim::Replay| {
        let mut runs = r.report.runs.clone();
        for run in &mut runs {
            run.max_daily_reply_spend_eur = 0.0;
        }
        runs
    };
    assert_eq!(
        counts(&still),
        counts(&a),
        "jitter moves replies, not counts"
    );
    assert_ne!(still.curves, a.curves, "reply_jitter_minutes is ignored");
}
