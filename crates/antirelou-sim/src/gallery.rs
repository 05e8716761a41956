//! The adversary gallery: every built-in scenario, run naive and antirelou, side by side.
//!
//! `antirelou-sim gallery` replays each scenario of [`BUILTIN`](crate::scenario::BUILTIN) with
//! the **default** defences (a scenario's `[abuse]` section is left as it is; the built-in
//! scenarios set none) and prints, for the legitimate senders and the attackers separately, who
//! got exactly one lesson (and how late), who got several, who got none and why, who was still
//! waiting at the end, and what the replies to each cost; then one line per scenario with the
//! scenario's targets (`[targets]`) and whether the antirelou run meets them.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::replay::{Replay, ReplayReport, RunReport, replay};
use crate::report::{euros, percent, table, thousands};
use crate::scenario::Scenario;

/// One target of a scenario, checked on the antirelou run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetCheck {
    /// What it asks.
    pub target: String,
    /// What the run did.
    pub measured: String,
    /// Whether the run meets it.
    pub met: bool,
}

/// One scenario of the gallery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GalleryEntry {
    /// What the scenario is.
    pub description: String,
    /// Why its targets are what they are.
    pub targets_why: String,
    /// The replay's figures (both runs, per group of senders).
    pub replay: ReplayReport,
    /// The targets, checked.
    pub targets: Vec<TargetCheck>,
}

/// The gallery's JSON: `{"defences": "default", "entries": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GalleryReport {
    /// Which defences the antirelou runs used (`"default"`, or `"tuned"` when a scenario has an
    /// `[abuse]` section).
    pub defences: String,
    /// One entry per scenario, in gallery order.
    pub entries: Vec<GalleryEntry>,
}

/// Replay every scenario of `scenarios` (with `seed`, or each scenario's own), two at a time.
pub fn run(scenarios: &[Scenario], seed: Option<u64>) -> Result<Vec<Replay>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 2);
    let mut slots: Vec<Option<Result<Replay>>> = (0..scenarios.len()).map(|_| None).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = parking_lot::Mutex::new(&mut slots);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(s) = scenarios.get(i) else { break };
                    let r = replay(s, seed);
                    results.lock()[i] = Some(r);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(crate::SimError::Chart("a gallery worker died".into()))))
        .collect()
}

/// Check a scenario's targets on its replay.
pub fn check(replay: &Replay) -> Vec<TargetCheck> {
    let r = &replay.report;
    let t = &replay.scenario.targets;
    let mut out = Vec::new();
    let (Some(naive), Some(anti)) = (
        r.naive_uncapped.as_ref().or(r.runs.first()),
        r.runs.iter().find(|x| x.policy.as_str() == "antirelou"),
    ) else {
        return out;
    };
    if let Some(cap) = r.daily_cap_eur {
        out.push(TargetCheck {
            target: format!(
                "replies never above the daily cap ({}) on any day",
                euros(cap)
            ),
            measured: format!("at most {} in a day", euros(anti.max_daily_reply_spend_eur)),
            met: anti.max_daily_reply_spend_eur <= cap + 1e-9,
        });
    }
    let several = anti.legit.several_lessons + anti.attack.several_lessons;
    out.push(TargetCheck {
        target: "nobody gets more than one lesson".into(),
        measured: format!("{} senders got several", thousands(several)),
        met: several == 0,
    });
    let l = &anti.legit;
    let frac = |n: u64| {
        if l.senders == 0 {
            1.0
        } else {
            n as f64 / l.senders as f64
        }
    };
    if let Some(want) = t.legit_one_lesson {
        out.push(TargetCheck {
            target: format!(
                "at least {} of legitimate senders get exactly one lesson",
                percent(want, 1.0)
            ),
            measured: format!(
                "{} of {} ({})",
                thousands(l.one_lesson),
                thousands(l.senders),
                percent(frac(l.one_lesson), 1.0)
            ),
            met: frac(l.one_lesson) >= want - 1e-12,
        });
    }
    if let Some(want) = t.legit_within_72h {
        out.push(TargetCheck {
            target: format!(
                "at least {} of legitimate senders get it at most 72 h late",
                percent(want, 1.0)
            ),
            measured: format!(
                "{} ({})",
                thousands(l.one_lesson_within_72h),
                percent(frac(l.one_lesson_within_72h), 1.0)
            ),
            met: frac(l.one_lesson_within_72h) >= want - 1e-12,
        });
    }
    if let Some(want) = t.attack_reply_share {
        let share = if naive.attack.reply_spend_eur > 0.0 {
            anti.attack.reply_spend_eur / naive.attack.reply_spend_eur
        } else {
            0.0
        };
        out.push(TargetCheck {
            target: format!(
                "replies to attackers cost at most {} of naive's",
                percent(want, 1.0)
            ),
            measured: format!(
                "{} of {} ({})",
                euros(anti.attack.reply_spend_eur),
                euros(naive.attack.reply_spend_eur),
                percent(share, 1.0)
            ),
            met: share <= want + 1e-12,
        });
    }
    out
}

/// The gallery's JSON object.
pub fn report(scenarios: &[Scenario], replays: &[Replay]) -> GalleryReport {
    let tuned = scenarios.iter().any(|s| s.abuse != Default::default());
    GalleryReport {
        defences: if tuned { "tuned" } else { "default" }.into(),
        entries: scenarios
            .iter()
            .zip(replays)
            .map(|(s, r)| GalleryEntry {
                description: s.description.clone(),
                targets_why: s.targets.why.clone(),
                replay: r.report.clone(),
                targets: check(r),
            })
            .collect(),
    }
}

fn anti(r: &Replay) -> Option<&RunReport> {
    r.report
        .runs
        .iter()
        .find(|x| x.policy.as_str() == "antirelou")
}

/// The gallery as plain text: each scenario's table and conclusion, then a summary with the
/// targets met and missed.
pub fn text(replays: &[Replay]) -> String {
    let mut out = String::new();
    for r in replays {
        let _ = writeln!(out, "==== {} ====", r.report.scenario);
        let _ = writeln!(out, "{}", r.scenario.description);
        let _ = writeln!(out);
        out.push_str(&table(r));
        let checks = check(r);
        if !checks.is_empty() {
            let _ = writeln!(out, "Targets (antirelou run): {}", r.scenario.targets.why);
            for c in checks {
                let _ = writeln!(
                    out,
                    "  [{}] {}: {}",
                    if c.met { "met" } else { "MISSED" },
                    c.target,
                    c.measured
                );
            }
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "==== summary (antirelou with the default defences) ===="
    );
    let _ = writeln!(
        out,
        "{:<16}{:>13}{:>13}{:>17}{:>14}{:>14}{:>10}",
        "scenario",
        "naive spent",
        "antirelou",
        "men taught 1×",
        "to attackers",
        "of naive's",
        "targets"
    );
    for r in replays {
        let Some(a) = anti(r) else { continue };
        let naive = r.report.naive_uncapped.as_ref().or(r.report.runs.first());
        let naive_attack = naive.map_or(0.0, |n| n.attack.reply_spend_eur);
        let checks = check(r);
        let met = checks.iter().filter(|c| c.met).count();
        let _ = writeln!(
            out,
            "{:<16}{:>13}{:>13}{:>17}{:>14}{:>14}{:>10}",
            r.report.scenario,
            euros(naive.map_or(0.0, |n| n.spend_eur)),
            euros(a.spend_eur),
            percent(a.legit.one_lesson as f64, a.legit.senders as f64),
            euros(a.attack.reply_spend_eur),
            percent(a.attack.reply_spend_eur, naive_attack),
            format!("{met}/{}", checks.len()),
        );
    }
    let _ = writeln!(
        out,
        "(naive spent: the naive run left on, with no switch-off or funds limit. \"of naive's\": the antirelou run's replies to attackers as a share of the naive run's.)"
    );
    out
}
