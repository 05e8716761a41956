//! The replay's side-by-side table.

use std::fmt::Write as _;

use crate::replay::{Replay, RunReport};

/// `12345` → `"12,345"`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1234.5` → `"€1,234.50"`.
pub fn euros(x: f64) -> String {
    let cents = (x * 100.0).round().max(0.0) as u64;
    format!("€{}.{:02}", thousands(cents / 100), cents % 100)
}

/// The side-by-side table of a replay, as plain text.
///
/// ```
/// # use antirelou_sim::report::thousands;
/// assert_eq!(thousands(1_000_000), "1,000,000");
/// assert_eq!(antirelou_sim::report::euros(3699.956), "€3,699.96");
/// ```
pub fn table(replay: &Replay) -> String {
    let r = &replay.report;
    let mut out = String::new();
    let t = &replay.traffic_summary;
    let texts: u64 = t.texts.values().sum();
    let parts: Vec<String> = t
        .texts
        .iter()
        .map(|(actor, n)| format!("{} {actor}", thousands(*n)))
        .collect();
    let _ = writeln!(
        out,
        "{} (seed {}): {} texts offered ({}), {} calls, over {:.0} h",
        r.scenario,
        r.seed,
        thousands(texts),
        parts.join(", "),
        thousands(t.calls),
        replay.hours
    );
    let _ = writeln!(out);
    let runs: Vec<&RunReport> = r.runs.iter().collect();
    let mut row = |label: &str, f: &dyn Fn(&RunReport) -> String| {
        let _ = write!(out, "{label:<44}");
        for run in &runs {
            let _ = write!(out, "{:>18}", f(run));
        }
        let _ = writeln!(out);
    };
    row("", &|run| run.policy.as_str().to_owned());
    row("inbound texts received", &|run| {
        thousands(run.inbound_texts)
    });
    row("distinct legitimate senders", &|run| {
        thousands(run.legit_senders)
    });
    row("  ... who got exactly one lesson", &|run| {
        thousands(run.legit_senders_with_one_lesson)
    });
    row("  ... who got several lessons", &|run| {
        thousands(run.legit_senders_with_several_lessons)
    });
    row("  ... who got none", &|run| {
        thousands(run.legit_senders_without_lesson)
    });
    row("lessons sent (SMS)", &|run| thousands(run.lessons_sent));
    row("segments sent", &|run| thousands(run.segments_sent));
    row("spend", &|run| euros(run.spend_eur));
    row("  ... on inbound texts", &|run| {
        euros(run.spend_inbound_eur)
    });
    row("  ... on replies", &|run| euros(run.spend_replies_eur));
    row("  ... on replies to the attack", &|run| {
        euros(run.reply_spend_on_attack_eur)
    });
    row("replies deferred by the spend cap", &|run| {
        thousands(run.replies_deferred_by_cap)
    });
    row("number stopped for money", &|run| match &run.stopped_at {
        Some(at) => format!("YES {}", &at[5..16].replace('T', " ")),
        None => "no".into(),
    });
    let drops: std::collections::BTreeSet<&String> =
        runs.iter().flat_map(|r| r.dropped.keys()).collect();
    for d in drops {
        let label = format!("contacts dropped: {}", d.trim_start_matches("drop."));
        row(&label, &|run| {
            thousands(run.dropped.get(d).copied().unwrap_or(0))
        });
    }
    out
}
