//! Same scenario, same seed, same JSON: for every built-in scenario (shrunken where the full one
//! is too slow for a debug build), with the abuse policies' hashes and the engine's jitter all
//! derived from the scenario's seed.
#![allow(clippy::unwrap_used)]

use antirelou_sim::replay::replay;
use antirelou_sim::scenario::Scenario;

/// The built-in scenario `name`, shrunken for debug builds where it is large.
fn debug_sized(name: &str) -> Scenario {
    let mut s = Scenario::builtin(name).unwrap().unwrap();
    if let Some(sp) = s.spoofed.as_mut() {
        // 10^6 senders parse too slowly in debug; 60,000 in the hour still trips every defence
        // whose decision depends on a hash (the flood detector's HyperLogLog, the prefix guard's
        // bitmaps).
        sp.senders = 60_000;
    }
    s
}

fn json(s: &Scenario, seed: Option<u64>) -> String {
    serde_json::to_string(&replay(s, seed).unwrap().report).unwrap()
}

#[test]
fn every_builtin_scenario_gives_the_same_json_twice() {
    for name in ["paris-2017", "spoofed-flood", "viral-day", "sms-pumping"] {
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
    assert_eq!(
        still.report.runs, a.report.runs,
        "jitter moves replies, not counts"
    );
    assert_ne!(still.curves, a.curves, "reply_jitter_minutes is ignored");
}
