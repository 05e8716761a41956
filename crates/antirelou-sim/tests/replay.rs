//! End to end: a shrunken paris-2017 through the real engine and policies, both policies.
#![allow(clippy::unwrap_used)]

use antirelou_sim::replay::{Policy, replay};
use antirelou_sim::scenario::Scenario;
use antirelou_sim::{chart, report};

/// paris-2017 at one tenth: 720 legitimate senders, 20 raid numbers × 80 texts, €370 of funds.
fn paris_small() -> Scenario {
    let mut s = Scenario::builtin("paris-2017").unwrap().unwrap();
    s.legit.senders /= 10;
    for sp in &mut s.legit.spike {
        sp.senders /= 10;
    }
    for r in &mut s.raid {
        r.numbers /= 10;
    }
    s.budget.funds_eur /= 10.0;
    s.budget.daily_cap_eur /= 10.0;
    s
}

#[test]
fn shrunken_paris_keeps_the_calibration() {
    let s = paris_small();
    let r = replay(&s, None).unwrap();
    let [naive, anti] = &r.report.runs[..] else {
        panic!("two runs")
    };
    assert_eq!(
        (naive.policy, anti.policy),
        (Policy::Naive, Policy::Antirelou)
    );

    // Naive: every text bought a two-segment reply until the money ran out.
    assert!(naive.stopped_for_budget);
    assert!(
        (270.0..=400.0).contains(&naive.spend_eur),
        "naive spent {}",
        naive.spend_eur
    );
    assert_eq!(naive.segments_sent, 2 * naive.lessons_sent);
    assert!(naive.legit_senders_with_several_lessons > 0);
    assert!(naive.reply_spend_on_attack_eur > 0.5 * naive.spend_replies_eur);

    // antirelou: every legitimate sender exactly one lesson, the raid one lesson per number.
    assert!(!anti.stopped_for_budget);
    assert_eq!(anti.legit_senders, 720);
    assert_eq!(anti.legit_senders_with_one_lesson, anti.legit_senders);
    assert_eq!(anti.legit_senders_with_several_lessons, 0);
    assert_eq!(anti.lessons_sent, 720 + 20);
    assert!(
        anti.reply_spend_on_attack_eur < 0.05 * naive.reply_spend_on_attack_eur,
        "{} vs {}",
        anti.reply_spend_on_attack_eur,
        naive.reply_spend_on_attack_eur
    );
    // 20 raid numbers × one two-segment lesson = €3.0508, exactly.
    assert!((anti.reply_spend_on_attack_eur - 3.0508).abs() < 1e-9);
    assert!(anti.spend_eur < naive.spend_eur);
    assert!(
        anti.dropped
            .get("drop.already_taught")
            .copied()
            .unwrap_or(0)
            > 1_000
    );
}

#[test]
fn same_seed_same_json_other_seed_other_json() {
    let s = paris_small();
    let a = serde_json::to_string(&replay(&s, Some(5)).unwrap().report).unwrap();
    let b = serde_json::to_string(&replay(&s, Some(5)).unwrap().report).unwrap();
    let c = serde_json::to_string(&replay(&s, Some(6)).unwrap().report).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn json_has_the_documented_fields() {
    let s = paris_small();
    let v: serde_json::Value = serde_json::to_value(replay(&s, Some(1)).unwrap().report).unwrap();
    assert_eq!(v["scenario"], "paris-2017");
    assert_eq!(v["seed"], 1);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["policy"], "naive");
    assert_eq!(runs[1]["policy"], "antirelou");
    for run in runs {
        for field in [
            "inbound_texts",
            "legit_senders",
            "legit_senders_with_one_lesson",
            "legit_senders_with_several_lessons",
            "lessons_sent",
            "segments_sent",
        ] {
            assert!(run[field].is_u64(), "{field}");
        }
        for field in ["spend_eur", "reply_spend_on_attack_eur"] {
            assert!(run[field].is_f64(), "{field}");
        }
        assert!(run["stopped_for_budget"].is_boolean());
    }
}

#[test]
fn table_and_svg_chart_are_written() {
    let s = paris_small();
    let r = replay(&s, None).unwrap();
    let table = report::table(&r);
    assert!(table.contains("naive") && table.contains("antirelou"));
    assert!(table.contains("number stopped for money"));
    assert!(table.contains("YES"));
    let dir = std::env::temp_dir().join(format!("antirelou-sim-test-{}", std::process::id()));
    let file = dir.join("paris-small.svg");
    chart::write_spend_chart(&file, &r, Some(370.0)).unwrap();
    let svg = std::fs::read_to_string(&file).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains("cumulative spend"));
    assert!(svg.contains(">\nnaive\n<") || svg.contains("naive"));
    assert!(
        svg.matches("<polyline").count() >= 3,
        "two curves and the funds line"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn users_scenario_files_load_by_path() {
    let dir = std::env::temp_dir().join(format!("antirelou-sim-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mine.toml");
    std::fs::write(
        &file,
        "name = \"mine\"\nstart = \"2024-01-01T08:00:00Z\"\nduration_hours = 6\n[legit]\nsenders = 30\n",
    )
    .unwrap();
    let s = Scenario::load(file.to_str().unwrap()).unwrap();
    let r = replay(&s, None).unwrap();
    let anti = &r.report.runs[1];
    assert_eq!(anti.legit_senders, 30);
    assert_eq!(anti.legit_senders_with_one_lesson, 30);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn viral_day_every_legitimate_sender_gets_exactly_one_lesson() {
    // The whole scenario (6,300 senders, a TV surge peaking near 50 new senders a minute): a
    // viral day is not a flood while the budget allows, and the pace, sized from the daily cap,
    // drops nobody.
    let s = Scenario::builtin("viral-day").unwrap().unwrap();
    let r = replay(&s, None).unwrap();
    let anti = &r.report.runs[1];
    assert_eq!(anti.legit_senders, 6_300);
    assert_eq!(anti.legit_senders_with_one_lesson, 6_300);
    assert_eq!(anti.legit_senders_without_lesson, 0);
    assert_eq!(anti.legit_senders_with_several_lessons, 0);
    assert_eq!(anti.lessons_sent, 6_300);
    for reason in [
        "drop.global_pace",
        "drop.flood_degraded",
        "drop.prefix_flood",
    ] {
        assert_eq!(anti.dropped.get(reason), None, "{reason}");
    }
    assert_eq!(anti.replies_deferred_by_cap, 0);
}

#[test]
fn the_abuse_section_reaches_the_antirelou_run() {
    // 30 men in an hour against a pace of one lesson a minute that the budget may not raise:
    // some are paced out. With the defaults, none is.
    let base = "name = \"paced\"\nstart = \"2024-01-01T18:00:00Z\"\nduration_hours = 0.5\n[legit]\nsenders = 60\n";
    let tuned =
        format!("{base}[abuse]\nlessons_per_minute = 1\npace_burst = 1\npace_cap_hours = 0\n");
    let anti = |toml: &str| {
        let s = Scenario::from_toml("paced", toml).unwrap();
        replay(&s, Some(1)).unwrap().report.runs[1].clone()
    };
    let paced = anti(&tuned);
    let dropped = paced.dropped.get("drop.global_pace").copied().unwrap_or(0);
    assert!(dropped > 0, "{:?}", paced.dropped);
    assert!(paced.legit_senders_without_lesson > 0);
    let free = anti(base);
    assert_eq!(free.dropped.get("drop.global_pace"), None);
    assert_eq!(free.legit_senders_without_lesson, 0);
}
