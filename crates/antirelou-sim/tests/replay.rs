//! End to end: a shrunken paris-2017 through the real engine and policies, both policies.
#![allow(clippy::unwrap_used)]

use antirelou_sim::replay::{Policy, replay};
use antirelou_sim::scenario::Scenario;
use antirelou_sim::{chart, report};

/// paris-2017 at one tenth: a tenth of the men and of the raid's numbers, a tenth of the
/// operators' switch-off bill and of the daily cap.
fn paris_small() -> Scenario {
    let mut s = Scenario::builtin("paris-2017").unwrap().unwrap();
    s.legit.senders /= 10;
    for sp in &mut s.legit.spike {
        sp.senders /= 10;
    }
    for r in &mut s.raid {
        r.numbers = (r.numbers / 10).max(1);
    }
    s.budget.operator_shutoff_eur /= 10.0;
    s.budget.daily_cap_eur /= 10.0;
    s.published.clear();
    s
}

const INBOUND: f64 = 0.0075;
const SEGMENT: f64 = 0.07627;

#[test]
fn naive_bill_is_volumes_times_prices_with_nothing_clamping_it() {
    // The whole paris-2017: the naive run left on answers every text that was offered with a
    // two-segment lesson; its bill is exactly texts × €0.0075 + lessons × 2 × €0.07627. A funds
    // limit, a cap or any clamp on the naive run would break one of these equalities.
    let s = Scenario::builtin("paris-2017").unwrap().unwrap();
    let r = replay(&s, None).unwrap();
    let full = r
        .report
        .naive_uncapped
        .as_ref()
        .expect("an uncapped naive run");
    assert_eq!(full.policy, Policy::Naive);
    assert!(!full.stopped_for_budget);
    assert_eq!(
        full.inbound_texts, full.texts_offered,
        "every text reached the number"
    );
    assert_eq!(
        full.lessons_sent, full.inbound_texts,
        "every text was answered"
    );
    assert_eq!(full.segments_sent, 2 * full.lessons_sent);
    let expected = full.inbound_texts as f64 * INBOUND + full.segments_sent as f64 * SEGMENT;
    assert!(
        (full.spend_eur - expected).abs() < 1e-6,
        "{} != {expected}",
        full.spend_eur
    );
    // The published figures: about €4,000 for about 25,000 texts, over €2,700 by 17,400.
    assert!((24_000..=26_000).contains(&full.inbound_texts));
    assert!(
        (3_800.0..=4_200.0).contains(&full.spend_eur),
        "{}",
        full.spend_eur
    );
    let at_17400 = full.bill_at_published_texts[0].expect("17,400 texts reached");
    assert!(at_17400 > 2_700.0, "{at_17400}");
    // The story's end: the operators switch the number off once the bill reaches €3,700; the
    // bill stops there (within the last minute's replies).
    let naive = &r.report.runs[0];
    assert_eq!(naive.stopped_by.as_deref(), Some("operators"));
    assert!(
        (3_700.0..3_720.0).contains(&naive.spend_eur),
        "{}",
        naive.spend_eur
    );
    assert!(naive.inbound_texts < full.inbound_texts);
    assert!(
        naive
            .stopped_at_local
            .as_deref()
            .unwrap()
            .contains("(Paris, UTC+1)")
    );
    assert!(
        naive
            .attack
            .refused
            .get("number_switched_off")
            .copied()
            .unwrap_or(0)
            > 0
    );
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

    // Naive: every text bought a two-segment reply until the operators switched it off.
    assert!(naive.stopped_for_budget);
    assert_eq!(naive.stopped_by.as_deref(), Some("operators"));
    assert_eq!(naive.segments_sent, 2 * naive.lessons_sent);
    assert!(naive.legit.several_lessons > 0);
    assert!(naive.reply_spend_on_attack_eur > 0.5 * naive.spend_replies_eur);

    // antirelou: every legitimate sender exactly one lesson, on time; each raid number one.
    assert!(!anti.stopped_for_budget);
    let l = &anti.legit;
    assert_eq!(l.one_lesson, l.senders);
    assert_eq!(l.one_lesson_within_1h, l.senders);
    assert_eq!(
        (l.several_lessons, l.no_lesson, l.still_deferred),
        (0, 0, 0)
    );
    let raid_numbers = r.traffic_summary.senders["raid"];
    assert_eq!(anti.attack.senders, raid_numbers);
    assert_eq!(anti.attack.one_lesson, raid_numbers);
    assert_eq!(anti.lessons_sent, l.senders - voice(anti) + raid_numbers);
    // Each raid number's one two-segment lesson: €0.15254, exactly.
    assert!((anti.attack.reply_spend_eur - raid_numbers as f64 * 2.0 * SEGMENT).abs() < 1e-9);
    assert!(anti.spend_eur < naive.spend_eur);
    assert!(
        anti.dropped
            .get("drop.already_taught")
            .copied()
            .unwrap_or(0)
            > 1_000
    );
}

/// Legitimate senders taught by voice (none here: paris-2017 texts the callers).
fn voice(run: &antirelou_sim::RunReport) -> u64 {
    run.voice_lessons
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
        for group in ["legit", "attack"] {
            let g = &run[group];
            for field in [
                "senders",
                "texts",
                "calls",
                "one_lesson",
                "one_lesson_within_1h",
                "one_lesson_within_24h",
                "one_lesson_within_72h",
                "several_lessons",
                "no_lesson",
                "still_deferred",
            ] {
                assert!(g[field].is_u64(), "{group}.{field}");
            }
            assert!(g["refused"].is_object());
            assert!(g["reply_spend_eur"].is_number());
        }
        assert!(run["text_outcomes"]["scheduled"].is_u64());
    }
    // The uncapped naive run, the traffic summary, the chart's path (set by the command line).
    assert_eq!(v["naive_uncapped"]["policy"], "naive");
    assert!(v["traffic"]["texts"]["raid"].is_u64());
    assert!(v["traffic"]["texts_by_local_day"]["2017-10-30"].is_array());
    assert_eq!(v["traffic"]["time_zone"], "Paris, UTC+2");
    assert!(v["chart"].is_null());
    assert!(v["daily_cap_eur"].is_number());
}

#[test]
fn table_and_svg_chart_are_written() {
    let s = paris_small();
    let r = replay(&s, None).unwrap();
    let table = report::table(&r);
    assert!(table.contains("naive") && table.contains("antirelou"));
    assert!(table.contains("naive, left on"));
    assert!(table.contains("number stopped"));
    assert!(table.contains("operators"));
    // The conclusion says why naive stopped, with a local time and its zone.
    assert!(table.contains("In plain words:"), "{table}");
    assert!(table.contains("operators switched the number off on"));
    assert!(table.contains("(Paris, UTC+"));
    assert!(
        table.contains("callers who heard the decoy greeting"),
        "{table}"
    );
    assert!(table.contains("events, not replies"));
    let dir = std::env::temp_dir().join(format!("antirelou-sim-test-{}", std::process::id()));
    let file = dir.join("paris-small.svg");
    chart::write_spend_chart(&file, &r, Some(370.0)).unwrap();
    let svg = std::fs::read_to_string(&file).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains("cumulative spend"));
    assert!(svg.contains(">\nnaive\n<") || svg.contains("naive"));
    assert!(svg.matches("<polyline").count() >= 3, "the curves");
    // Days and local times on the axis, the raid's window, the switch-off, the cap, a legend.
    assert!(
        svg.contains("Sat 28 Oct") && svg.contains("Mon 30 Oct"),
        "day labels"
    );
    assert!(svg.contains("local time (Paris, UTC+2"));
    assert!(
        svg.contains(">\nraid\n<") || svg.contains(">raid<"),
        "raid window label"
    );
    assert!(svg.contains("naive switched off"));
    assert!(svg.contains("daily cap"));
    assert!(svg.contains("operators switch off at"));
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
    assert_eq!(anti.legit.one_lesson_within_1h, 6_300);
}

#[test]
fn gallery_runs_a_tiny_scenario_and_checks_its_targets() {
    use antirelou_sim::gallery;
    let tiny = Scenario::from_toml(
        "tiny",
        r#"
        name = "tiny"
        description = "a few men and a small copy-paste raid"
        start = "2024-01-01T08:00:00Z"
        duration_hours = 6
        [budget]
        daily_cap_eur = 50
        [targets]
        legit_one_lesson = 1.0
        attack_reply_share = 0.10
        why = "the raid repeats"
        [legit]
        senders = 40
        [[raid]]
        start_hour = 1
        duration_hours = 2
        numbers = 5
        texts_per_number = 20
        bodies = ["copie"]
        "#,
    )
    .unwrap();
    let replays = gallery::run(std::slice::from_ref(&tiny), None).unwrap();
    assert_eq!(replays.len(), 1);
    let text = gallery::text(&replays);
    assert!(text.contains("==== tiny ===="));
    assert!(text.contains("summary"));
    let report = gallery::report(std::slice::from_ref(&tiny), &replays);
    assert_eq!(report.defences, "default");
    let v = serde_json::to_value(&report).unwrap();
    let entry = &v["entries"][0];
    assert_eq!(entry["replay"]["scenario"], "tiny");
    assert_eq!(entry["replay"]["runs"][1]["legit"]["senders"], 40);
    assert_eq!(entry["replay"]["runs"][1]["attack"]["senders"], 5);
    let checks = entry["targets"].as_array().unwrap();
    assert_eq!(
        checks.len(),
        4,
        "cap, one lesson each, legit share, attack share"
    );
    for c in checks {
        assert!(c["met"].is_boolean() && c["target"].is_string() && c["measured"].is_string());
    }
    // 5 raid numbers × 1 lesson against 5 × ~20: the attack share target is met, and the men
    // are all taught.
    assert!(
        report.entries[0].targets.iter().all(|c| c.met),
        "{:?}",
        report.entries[0].targets
    );
}

#[test]
fn still_deferred_and_refusals_come_from_the_engine() {
    // A cap too small for the men of one day: lessons the cap defers past the end of the run are
    // read from the store as still deferred (or as expired, with the store's reason); none is
    // invented.
    let s = Scenario::from_toml(
        "tight",
        r#"
        name = "tight"
        start = "2024-01-01T08:00:00Z"
        duration_hours = 4
        [budget]
        daily_cap_eur = 1
        [engine]
        reply_deadline_hours = 100
        [legit]
        senders = 60
        "#,
    )
    .unwrap();
    let r = replay(&s, Some(1)).unwrap();
    let anti = &r.report.runs[1];
    let l = &anti.legit;
    assert_eq!(l.senders, 60);
    assert!(l.one_lesson < 60);
    let refused: u64 = l.refused.values().sum();
    assert_eq!(l.no_lesson, refused + l.still_deferred, "{l:?}");
    assert!(anti.replies_deferred_by_cap > 0);
    // Lessons sent on the next days count as one lesson, late.
    assert!(l.one_lesson_within_24h > l.one_lesson_within_1h, "{l:?}");
}

#[test]
fn the_abuse_section_reaches_the_antirelou_run() {
    // 60 men in half an hour against a pace of one lesson a minute that the budget may not
    // raise: some are paced, deferred rather than refused, and still taught. With the defaults,
    // none is paced.
    let base = "name = \"paced\"\nstart = \"2024-01-01T18:00:00Z\"\nduration_hours = 0.5\n[legit]\nsenders = 60\n";
    let tuned =
        format!("{base}[abuse]\nlessons_per_minute = 1\npace_burst = 1\npace_cap_span = \"0s\"\n");
    let anti = |toml: &str| {
        let s = Scenario::from_toml("paced", toml).unwrap();
        replay(&s, Some(1)).unwrap().report.runs[1].clone()
    };
    let paced = anti(&tuned);
    let deferred = paced
        .deferred
        .get("deferred.global_pace")
        .copied()
        .unwrap_or(0);
    assert!(deferred > 0, "{:?}", paced.deferred);
    assert_eq!(paced.dropped.get("drop.global_pace"), None);
    assert_eq!(paced.legit_senders_without_lesson, 0);
    // `[abuse.defer]` reaches the engine too: with room for one deferred lesson, the others
    // are refused, counted.
    let bounded = anti(&format!("{tuned}[abuse.defer]\nmax_deferred = 1\n"));
    assert!(
        bounded
            .dropped
            .get("drop.defer_limit")
            .copied()
            .unwrap_or(0)
            > 0
    );
    let free = anti(base);
    assert_eq!(free.deferred.get("deferred.global_pace"), None);
    assert_eq!(free.legit_senders_without_lesson, 0);
}
