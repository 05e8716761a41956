//! The scenarios' shape: counts, time span, share of the raid, distinct senders, line types.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use antirelou_core::NumberKind;
use antirelou_sim::scenario::{BUILTIN, Scenario};
use antirelou_sim::traffic::{Actor, ContactKind, Traffic};

fn distinct(t: &Traffic) -> usize {
    t.senders
        .iter()
        .map(|s| s.number.key())
        .collect::<HashSet<_>>()
        .len()
}

fn sorted(t: &Traffic) -> bool {
    t.events.windows(2).all(|w| w[0].at <= w[1].at)
}

#[test]
fn every_builtin_scenario_parses() {
    let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "paris-2017",
            "many-numbers",
            "slow-singles",
            "fast-singles",
            "spoofed-flood",
            "range-pumping",
            "sms-pumping",
            "copy-paste",
            "callers",
            "viral-day",
            "mix"
        ]
    );
    for s in Scenario::all_builtin().unwrap() {
        assert!(!s.description.is_empty(), "{}", s.name);
        assert!(s.start_time().is_ok());
        // No built-in scenario clamps the naive bill with a funds limit, and none tunes the
        // defences: the gallery runs the defaults.
        assert_eq!(s.budget.funds_eur, 0.0, "{}: funds limit", s.name);
        assert_eq!(s.abuse, Default::default(), "{}: tuned defences", s.name);
        assert!(
            !s.targets.why.is_empty(),
            "{}: targets without a reason",
            s.name
        );
    }
}

#[test]
fn paris_2017_has_the_published_shape() {
    let s = Scenario::builtin("paris-2017").unwrap().unwrap();
    let t = s.generate(s.seed).unwrap();
    let texts = t.texts();
    let raid = t.texts_of(Actor::Raid);
    // About 25,000 texts, about 16,000 of them from the raid.
    assert!((24_000..=26_000).contains(&texts), "{texts} texts");
    assert!((15_000..=17_000).contains(&raid), "{raid} raid texts");
    // About 6,000 in the first 48 hours.
    let first_48h = t
        .events
        .iter()
        .filter(|e| e.kind == ContactKind::Text && e.at.since(t.start).as_secs() < 48 * 3600)
        .count();
    assert!(
        (5_400..=6_600).contains(&first_48h),
        "{first_48h} texts in 48 h"
    );
    // About 10,000 on the Monday (Paris time, winter time since the Sunday).
    let summary = antirelou_sim::replay::TrafficSummary::of_scenario(&t, &s);
    let monday = summary.texts_by_local_day["2017-10-30"][0];
    assert!(
        (9_000..=11_000).contains(&monday),
        "{monday} texts on Monday"
    );
    assert_eq!(distinct(&t), t.senders.len());
    assert!(sorted(&t));
    // French mobiles only; some legitimate senders call first, and only they call.
    assert!(
        t.senders
            .iter()
            .all(|s| s.number.kind() == NumberKind::Mobile && s.number.calling_code() == 33)
    );
    assert!(
        t.events
            .iter()
            .filter(|e| e.kind == ContactKind::Call)
            .all(|e| t.sender(e).actor == Actor::Legit)
    );
    // The operators' switch-off is the story's end; no carrier funds limit.
    assert_eq!(s.budget.operator_shutoff_eur, 3_700.0);
    assert_eq!(s.budget.funds(), None);
}

#[test]
fn texts_carry_bodies_varied_for_men_copy_pasted_for_the_copy_paste_raid() {
    let s = Scenario::builtin("copy-paste").unwrap().unwrap();
    let t = s.generate(s.seed).unwrap();
    let mut legit = HashSet::new();
    let mut raid = HashSet::new();
    let (mut legit_texts, mut raid_texts) = (0, 0);
    for e in &t.events {
        let body = t.body(e);
        match (e.kind, t.sender(e).actor) {
            (ContactKind::Call, _) => assert!(body.is_empty()),
            (ContactKind::Text, Actor::Legit) => {
                assert!(!body.is_empty());
                legit_texts += 1;
                legit.insert(body);
            }
            (ContactKind::Text, _) => {
                raid_texts += 1;
                raid.insert(body);
            }
        }
    }
    assert_eq!(raid.len(), 1, "the raid pastes one text");
    assert!(raid_texts > 10_000);
    assert!(
        legit.len() * 2 > legit_texts,
        "{} distinct of {legit_texts} legitimate texts",
        legit.len()
    );
    // Another raid without fixed bodies varies its texts.
    let m = Scenario::builtin("many-numbers").unwrap().unwrap();
    let t = m.generate(m.seed).unwrap();
    let varied: HashSet<String> = t
        .events
        .iter()
        .filter(|e| t.sender(e).actor == Actor::Raid)
        .map(|e| t.body(e))
        .collect();
    assert!(varied.len() > 10_000, "{}", varied.len());
}

#[test]
fn callers_call_many_times() {
    let s = Scenario::builtin("callers").unwrap().unwrap();
    let t = s.generate(s.seed).unwrap();
    let raid_calls = t
        .events
        .iter()
        .filter(|e| e.kind == ContactKind::Call && t.sender(e).actor == Actor::Raid)
        .count();
    assert_eq!(raid_calls, 300 * 25);
    assert!(s.prices.inbound_call_eur_per_minute > 0.0);
}

#[test]
fn raids_come_in_bursts() {
    let s = Scenario::builtin("paris-2017").unwrap().unwrap();
    let t = s.generate(1).unwrap();
    let raider = t
        .senders
        .iter()
        .position(|s| s.actor == Actor::Raid)
        .unwrap() as u32;
    let times: Vec<i64> = t
        .events
        .iter()
        .filter(|e| e.sender == raider)
        .map(|e| e.at.as_millis())
        .collect();
    let close = times.windows(2).filter(|w| w[1] - w[0] <= 6_000).count();
    assert!(
        close * 10 >= (times.len() - 1) * 7,
        "{close} of {} gaps are within a burst",
        times.len() - 1
    );
}

#[test]
fn daily_rhythm_quiet_nights() {
    let mut s = Scenario::builtin("viral-day").unwrap().unwrap();
    s.legit.spike.clear();
    s.legit.senders = 20_000;
    s.legit.repeat_share = 0.0;
    s.legit.call_first_share = 0.0;
    s.duration_hours = 72.0;
    let t = s.generate(5).unwrap();
    let mut by_hour = [0u32; 24];
    for e in &t.events {
        let local = e.at.as_secs() + s.utc_offset_secs_at(e.at);
        by_hour[(local.rem_euclid(86_400) / 3600) as usize] += 1;
    }
    // 20:00 (weight 1.3) against 04:00 (weight 0.05): about 26 times busier.
    assert!(by_hour[20] > 10 * by_hour[4], "{by_hour:?}");
}

#[test]
fn spoofed_flood_distinct_senders_in_one_hour() {
    let mut s = Scenario::builtin("spoofed-flood").unwrap().unwrap();
    assert_eq!(s.spoofed.as_ref().unwrap().senders, 1_000_000);
    s.spoofed.as_mut().unwrap().senders = 20_000; // the shape, smaller (debug builds parse slowly)
    let t = s.generate(s.seed).unwrap();
    assert_eq!(t.senders_of(Actor::Spoofed), 20_000);
    assert_eq!(
        t.texts_of(Actor::Spoofed),
        20_000,
        "each spoofed sender texts once"
    );
    assert_eq!(distinct(&t), t.senders.len());
    let spoofed: Vec<_> = t
        .events
        .iter()
        .filter(|e| t.sender(e).actor == Actor::Spoofed)
        .collect();
    let first = spoofed.first().unwrap().at;
    let last = spoofed.last().unwrap().at;
    assert!(last.since(first).as_secs() <= 3600 && last.since(first).as_secs() > 3500);
    assert_eq!(first.since(t.start).as_secs() / 3600, 8);
    assert!(sorted(&t));
}

#[test]
fn pumping_blocks_are_consecutive_premium_and_foreign() {
    let s = Scenario::builtin("sms-pumping").unwrap().unwrap();
    let t = s.generate(s.seed).unwrap();
    assert_eq!(t.senders_of(Actor::Pumping), 1_300);
    assert_eq!(t.texts_of(Actor::Pumping), 2_600);
    let pumpers: Vec<_> = t
        .senders
        .iter()
        .filter(|s| s.actor == Actor::Pumping)
        .collect();
    let premium = pumpers
        .iter()
        .filter(|s| s.number.kind() == NumberKind::PremiumRate)
        .count();
    let foreign = pumpers
        .iter()
        .filter(|s| s.number.calling_code() != 33)
        .count();
    assert_eq!((premium, foreign), (300, 1_000));
    // Consecutive: most neighbours in a block differ by one.
    let keys: Vec<u64> = pumpers.iter().map(|s| s.number.key()).collect();
    let consecutive = keys.windows(2).filter(|w| w[1] == w[0] + 1).count();
    assert!(consecutive >= 1_290, "{consecutive}");
}

#[test]
fn same_seed_same_traffic_other_seed_other_traffic() {
    let s = Scenario::builtin("paris-2017").unwrap().unwrap();
    let a = s.generate(11).unwrap();
    let b = s.generate(11).unwrap();
    let c = s.generate(12).unwrap();
    assert_eq!(a.events, b.events);
    assert_eq!(a.senders, b.senders);
    assert_ne!(a.events, c.events);
}

#[test]
fn bad_scenarios_are_rejected_with_a_reason() {
    let err = |toml: &str| Scenario::from_toml("t", toml).unwrap_err().to_string();
    let base = "name = \"t\"\nstart = \"2024-01-01T00:00:00Z\"\nduration_hours = 24\n";
    assert!(err(&format!("{base}typo = 1")).contains("unknown field"));
    assert!(err("name = \"t\"\nstart = \"yesterday\"\nduration_hours = 1").contains("start"));
    assert!(err(&format!("{base}[legit]\nrepeat_share = 1.5")).contains("repeat_share"));
    assert!(err(&format!("{base}[number]\ne164 = \"+33 1\"")).contains("number.e164"));
    assert!(err(&format!("{base}[[pumping]]\nprefix = \"44\"\nsuffix_digits = 4\nsenders = 1\nstart_hour = 0\nduration_hours = 1")).contains("prefix"));
    assert!(matches!(
        Scenario::load("no-such-scenario"),
        Err(antirelou_sim::SimError::UnknownScenario(_))
    ));
}

#[test]
fn the_abuse_section_tunes_the_chain_and_is_checked() {
    let base = "name = \"t\"\nstart = \"2024-01-01T00:00:00Z\"\nduration_hours = 24\n";
    let s = Scenario::from_toml(
        "t",
        &format!(
            "{base}[abuse]\ncountries = [\"FR\", \"BE\"]\nlessons_per_minute = 5\npace_cap_span = \"0s\"\n[abuse.prefix_flood]\nthreshold = 40\n[abuse.flood]\nmin_surge = 100\ndegraded_keep_one_in = 4\n"
        ),
    )
    .unwrap();
    let c = antirelou_abuse::AbuseConfig::try_from(&s.abuse).unwrap();
    assert_eq!(c.lessons_per_minute, 5);
    assert!(c.pace_cap_span.is_zero());
    assert_eq!(c.prefix_flood.threshold, 40);
    assert_eq!((c.flood.min_surge, c.flood.degraded_keep_one_in), (100, 4));
    assert_eq!(
        c.countries,
        antirelou_abuse::AllowedCountries::List(vec![
            antirelou_core::phone::Region::new("FR").unwrap(),
            antirelou_core::phone::Region::new("BE").unwrap()
        ])
    );
    // Absent: the library's defaults.
    let plain = Scenario::from_toml("t", base).unwrap();
    assert_eq!(
        antirelou_abuse::AbuseConfig::try_from(&plain.abuse).unwrap(),
        antirelou_abuse::AbuseConfig::default()
    );
    let err = |toml: &str| {
        Scenario::from_toml("t", &format!("{base}[abuse]\n{toml}"))
            .unwrap_err()
            .to_string()
    };
    assert!(err("pace = 3").contains("unknown field"));
    assert!(err("prefix_threshold = 40").contains("unknown field"));
    assert!(err("[abuse.prefix_flood]\nthreshold = 1").contains("abuse.prefix_flood.threshold"));
    assert!(err("lessons_per_minute = 0").contains("abuse.lessons_per_minute"));
    assert!(err("countries = [\"France\"]").contains("abuse.countries"));
    assert!(err("[abuse.prefix_flood]\nblock_for = \"soon\"").contains("block_for"));
}
