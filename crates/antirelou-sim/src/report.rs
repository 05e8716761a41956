//! The replay's side-by-side table and its plain conclusion.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use antirelou_core::Timestamp;

use crate::replay::{Replay, RunReport, SenderOutcomes};

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

/// `part` as a percentage of `whole` (`"—"` when `whole` is zero).
pub fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.1} %", 100.0 * part / whole)
    } else {
        "—".into()
    }
}

/// The runs of a replay as table columns: naive, the uncapped naive run when there is one,
/// antirelou.
pub fn columns(replay: &Replay) -> Vec<(String, &RunReport)> {
    let r = &replay.report;
    let mut cols = Vec::new();
    for run in &r.runs {
        cols.push((run.policy.as_str().to_owned(), run));
        if run.policy == crate::replay::Policy::Naive
            && let Some(u) = &r.naive_uncapped
        {
            cols.push(("naive, left on".to_owned(), u));
        }
    }
    cols
}

type Cell<'a> = &'a dyn Fn(&RunReport) -> String;

struct Table<'a> {
    out: String,
    cols: Vec<(String, &'a RunReport)>,
}

impl Table<'_> {
    fn row(&mut self, label: &str, f: Cell<'_>) {
        let _ = write!(self.out, "{label:<58}");
        for (_, run) in &self.cols {
            let _ = write!(self.out, "{:>16}", f(run));
        }
        let _ = writeln!(self.out);
    }

    fn header(&mut self) {
        let _ = write!(self.out, "{:<58}", "");
        for (name, _) in &self.cols {
            let _ = write!(self.out, "{name:>16}");
        }
        let _ = writeln!(self.out);
    }

    /// The rows of one group of senders.
    fn group(&mut self, title: &str, g: fn(&RunReport) -> &SenderOutcomes) {
        self.row(&format!("{title} (distinct numbers)"), &|r| {
            thousands(g(r).senders)
        });
        self.row("  ... with exactly one lesson", &|r| {
            thousands(g(r).one_lesson)
        });
        self.row("      ... at most 1 h later than intended", &|r| {
            thousands(g(r).one_lesson_within_1h)
        });
        self.row("      ... at most 24 h later than intended", &|r| {
            thousands(g(r).one_lesson_within_24h)
        });
        self.row("      ... at most 72 h later than intended", &|r| {
            thousands(g(r).one_lesson_within_72h)
        });
        self.row("  ... with several lessons", &|r| {
            thousands(g(r).several_lessons)
        });
        let reasons: BTreeSet<String> = self
            .cols
            .iter()
            .flat_map(|(_, r)| g(r).refused.keys().cloned())
            .collect();
        for reason in reasons {
            self.row(&format!("  ... with none: {reason}"), &|r| {
                thousands(g(r).refused.get(&reason).copied().unwrap_or(0))
            });
        }
        self.row("  ... with none: lesson still deferred at the end", &|r| {
            thousands(g(r).still_deferred)
        });
        self.row("  SMS replies to them cost", &|r| {
            euros(g(r).reply_spend_eur)
        });
        if self.cols.iter().any(|(_, r)| g(r).calls > 0) {
            self.row("  their answered calls cost", &|r| {
                euros(g(r).call_spend_eur)
            });
        }
    }
}

/// A label for the local time `hours` after the replay's start: `"Mon 30 Oct 20:14 (Paris,
/// UTC+1)"`.
pub fn local_at(replay: &Replay, hours: f64) -> String {
    let s = &replay.scenario;
    let start = s.start_time().unwrap_or(Timestamp::from_millis(0));
    let t = Timestamp::from_millis(start.as_millis() + (hours * 3_600_000.0) as i64);
    s.local_label(t)
}

/// The side-by-side table of a replay, as plain text, ending with its conclusion.
///
/// ```
/// # use antirelou_sim::report::thousands;
/// assert_eq!(thousands(1_000_000), "1,000,000");
/// assert_eq!(antirelou_sim::report::euros(3699.956), "€3,699.96");
/// ```
pub fn table(replay: &Replay) -> String {
    let r = &replay.report;
    let s = &replay.scenario;
    let t = &replay.traffic_summary;
    let mut out = String::new();
    let texts: u64 = t.texts.values().sum();
    let parts: Vec<String> = t
        .texts
        .iter()
        .map(|(actor, n)| format!("{} {actor}", thousands(*n)))
        .collect();
    let _ = writeln!(
        out,
        "{} (seed {}): {} texts offered ({}; {} distinct texts), {} calls, from {} to {}",
        r.scenario,
        r.seed,
        thousands(texts),
        parts.join(", "),
        thousands(t.distinct_bodies),
        thousands(t.calls),
        local_at(replay, 0.0),
        local_at(replay, s.duration_hours),
    );
    if t.texts_by_local_day.len() > 1 {
        let days: Vec<String> = t
            .texts_by_local_day
            .iter()
            .map(|(d, [all, attack])| {
                format!("{d} {} ({} attack)", thousands(*all), thousands(*attack))
            })
            .collect();
        let _ = writeln!(out, "texts per local day: {}", days.join(", "));
    }
    let _ = writeln!(out);
    let mut tab = Table {
        out,
        cols: columns(replay),
    };
    tab.header();
    tab.row("inbound texts received", &|r| thousands(r.inbound_texts));
    if t.calls > 0 {
        tab.row("calls that reached the number", &|r| {
            thousands(r.legit.calls + r.attack.calls)
        });
    }
    tab.group("legitimate senders", |r| &r.legit);
    if t.senders.keys().any(|a| a != "legit") {
        tab.group("attackers", |r| &r.attack);
        let kinds: BTreeSet<String> = tab
            .cols
            .iter()
            .flat_map(|(_, r)| r.reply_spend_by_attacker_eur.keys().cloned())
            .collect();
        if kinds.len() > 1 {
            for kind in kinds {
                tab.row(
                    &format!("    ... of which to {}", attacker_label(&kind)),
                    &|r| {
                        euros(
                            r.reply_spend_by_attacker_eur
                                .get(&kind)
                                .copied()
                                .unwrap_or(0.0),
                        )
                    },
                );
            }
        }
    }
    tab.row("SMS lessons delivered", &|r| thousands(r.lessons_sent));
    tab.row("lessons heard on a call", &|r| thousands(r.voice_lessons));
    tab.row("segments delivered", &|r| thousands(r.segments_sent));
    tab.row("spend, total", &|r| euros(r.spend_eur));
    tab.row("  ... on inbound texts", &|r| euros(r.spend_inbound_eur));
    tab.row("  ... on answered calls", &|r| euros(r.spend_calls_eur));
    tab.row("  ... on replies", &|r| euros(r.spend_replies_eur));
    tab.row("most spent on replies in one day (UTC day)", &|r| {
        euros(r.max_daily_reply_spend_eur)
    });
    tab.row(
        "reply deferrals by the spend cap (events, not replies)",
        &|r| thousands(r.replies_deferred_by_cap),
    );
    tab.row("number stopped (by whom; when: see below)", &|r| {
        r.stopped_by.clone().unwrap_or_else(|| "no".into())
    });
    let drops: BTreeSet<String> = tab
        .cols
        .iter()
        .flat_map(|(_, r)| r.dropped.keys().cloned())
        .collect();
    if !drops.is_empty() {
        tab.row(
            "engine drop counters (texts and calls, not senders):",
            &|_| String::new(),
        );
    }
    for d in drops {
        let reason = d.trim_start_matches("drop.");
        let label = match reason {
            "sms_to_callers_disabled" => {
                "  callers who heard the decoy greeting, not texted".to_owned()
            }
            "already_taught" => "  contacts from senders already taught".to_owned(),
            other => format!("  contacts refused: {other}"),
        };
        tab.row(&label, &|r| {
            thousands(r.dropped.get(&d).copied().unwrap_or(0))
        });
    }
    let mut out = tab.out;
    let _ = writeln!(out);
    out.push_str(&conclusion(replay));
    out
}

fn share(part: u64, whole: u64) -> String {
    percent(part as f64, whole as f64)
}

/// The plain conclusion: what naive spent and why it stopped, what antirelou spent, how many men
/// were taught, how much went to attackers, and what the defences did not catch.
pub fn conclusion(replay: &Replay) -> String {
    let r = &replay.report;
    let s = &replay.scenario;
    let mut out = String::new();
    let naive = r.runs.iter().find(|x| x.policy.as_str() == "naive");
    let anti = r.runs.iter().find(|x| x.policy.as_str() == "antirelou");
    let (Some(naive), Some(anti)) = (naive, anti) else {
        return out;
    };
    let inbound = s.prices.inbound_sms_eur;
    let segments = antirelou_core::encoding::plan(&s.number.lesson).segments;
    let reply = s.prices.outbound_segment_eur * f64::from(segments);
    let _ = writeln!(out, "In plain words:");
    let stop = match (&naive.stopped_by, &naive.stopped_at_local) {
        (Some(by), Some(at)) if by == "operators" => format!(
            "and stopped because the operators switched the number off on {at}, when the bill \
             reached {}",
            euros(r.operator_shutoff_eur.unwrap_or(0.0))
        ),
        (Some(_), Some(at)) => format!(
            "and stopped because the carrier suspended the number on {at}: the prepaid funds \
             ({}) were spent",
            euros(s.budget.funds_eur)
        ),
        _ => "and ran to the end: nothing stopped it".to_owned(),
    };
    let _ = writeln!(
        out,
        "- naive (every text answered, as in 2017) spent {} {stop}.",
        euros(naive.spend_eur)
    );
    let full = r.naive_uncapped.as_ref().unwrap_or(naive);
    let _ = writeln!(
        out,
        "  {} the traffic cost {}: {} texts × {} + {} lessons of {} segment(s) × {} = volumes × prices; no cap or funds limit clamps it.",
        if r.naive_uncapped.is_some() {
            "Left on,"
        } else {
            "In all,"
        },
        euros(full.spend_eur),
        thousands(full.inbound_texts),
        euros_precise(inbound),
        thousands(full.lessons_sent),
        segments,
        euros_precise(reply),
    );
    for (p, bill) in s.published.iter().zip(&full.bill_at_published_texts) {
        let sim = match bill {
            Some(b) => format!(
                "simulated naive, once the reply to text {} was due: {}",
                thousands(p.texts),
                euros(*b)
            ),
            None => format!(
                "the simulated traffic has {} texts, all answered: {}",
                thousands(full.inbound_texts),
                euros(full.spend_eur)
            ),
        };
        let _ = writeln!(
            out,
            "  Published: {} texts cost {} {} ({}); {sim}.",
            thousands(p.texts),
            p.qualifier,
            euros(p.bill_eur),
            if p.source.is_empty() {
                "no source given"
            } else {
                &p.source
            },
        );
    }
    let l = &anti.legit;
    let a = &anti.attack;
    let _ = writeln!(
        out,
        "- antirelou (default defences, daily cap {}) spent {}: {} on inbound texts (billed by the carrier, refused by no software), {} on answered calls, {} on replies.",
        r.daily_cap_eur.map_or("none".to_owned(), euros),
        euros(anti.spend_eur),
        euros(anti.spend_inbound_eur),
        euros(anti.spend_calls_eur),
        euros(anti.spend_replies_eur),
    );
    let _ = writeln!(
        out,
        "- it taught {} of {} legitimate senders exactly once ({}; {} at most 1 h later than intended, {} at most 72 h); {} got several lessons; {} got none{}.",
        thousands(l.one_lesson),
        thousands(l.senders),
        share(l.one_lesson, l.senders),
        thousands(l.one_lesson_within_1h),
        thousands(l.one_lesson_within_72h),
        thousands(l.several_lessons),
        thousands(l.no_lesson),
        reasons(l),
    );
    if a.senders > 0 {
        let _ = writeln!(
            out,
            "- attackers: {} numbers; replies to them cost {} ({} of naive's {}){}. Not caught: {} attacking numbers got a lesson ({} of them), {} several.",
            thousands(a.senders),
            euros(a.reply_spend_eur),
            percent(a.reply_spend_eur, full.attack.reply_spend_eur),
            euros(full.attack.reply_spend_eur),
            if a.calls > 0 {
                format!(", their answered calls {}", euros(a.call_spend_eur))
            } else {
                String::new()
            },
            thousands(a.one_lesson + a.several_lessons),
            share(a.one_lesson + a.several_lessons, a.senders),
            thousands(a.several_lessons),
        );
        if anti.reply_spend_by_attacker_eur.len() > 1 {
            let parts: Vec<String> = anti
                .reply_spend_by_attacker_eur
                .iter()
                .map(|(kind, eur)| {
                    let naive = full
                        .reply_spend_by_attacker_eur
                        .get(kind)
                        .copied()
                        .unwrap_or(0.0);
                    format!(
                        "{} {} ({} of naive's {})",
                        attacker_label(kind),
                        euros(*eur),
                        percent(*eur, naive),
                        euros(naive)
                    )
                })
                .collect();
            let _ = writeln!(out, "  Replies by attacker kind: {}.", parts.join("; "));
        }
    } else {
        let _ = writeln!(out, "- no attack in this scenario.");
    }
    if let Some(h) = replay.stopped_hours.first().copied().flatten() {
        let _ = writeln!(out, "  (naive stopped {h:.1} h after the start.)");
    }
    out
}

/// What an attacker kind of the traffic is, in words.
fn attacker_label(kind: &str) -> &str {
    match kind {
        "raid" => "raid numbers",
        "spoofed" => "spoofed senders",
        "pumping" => "pumped numbers",
        other => other,
    }
}

fn reasons(o: &SenderOutcomes) -> String {
    let mut parts: Vec<String> = o
        .refused
        .iter()
        .map(|(k, v)| format!("{} {k}", thousands(*v)))
        .collect();
    if o.still_deferred > 0 {
        parts.push(format!(
            "{} still deferred at the end",
            thousands(o.still_deferred)
        ));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// Euros with up to five decimals, for unit prices (`€0.07627`).
fn euros_precise(x: f64) -> String {
    let s = format!("{x:.5}");
    let s = s.trim_end_matches('0');
    let s = s.strip_suffix('.').unwrap_or(s);
    format!("€{s}")
}
