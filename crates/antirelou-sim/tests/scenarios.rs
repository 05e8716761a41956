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
        ["paris-2017", "spoofed-flood", "viral-day", "sms-pumping"]
    );
    for s in Scenario::all_builtin().unwrap() {
        assert!(!s.description.is_empty(), "{}", s.name);
        assert!(s.start_time().is_ok());
    }
}

#[test]
fn paris_2017_has_the_published_shape() {
    let s = Scenario::builtin("paris-2017").unwrap().unwrap();
    let t = s.generate(s.seed).unwrap();
    let texts = t.texts();
    let raid = t.texts_of(Actor::Raid);
    // About 25,000 texts in three days, about 16,000 of them from the raid.
    assert!((24_000..=26_500).contains(&texts), "{texts} texts");
    assert!((15_000..=17_500).contains(&raid), "{raid} raid texts");
    let share = raid as f64 / texts as f64;
    assert!((0.6..0.7).contains(&share), "raid share {share}");
    assert_eq!(t.senders_of(Actor::Raid), 200);
    assert_eq!(t.senders_of(Actor::Legit), 7_200);
    assert_eq!(t.texting_senders_of(Actor::Legit), 7_200);
    assert_eq!(distinct(&t), t.senders.len());
    assert!(sorted(&t));
    // Three days: nothing before the start, the raid inside its windows, spill-over small.
    assert_eq!(t.events[0].at.max(t.start), t.events[0].at);
    let span_h = t.events.last().unwrap().at.since(t.start).as_secs_f64() / 3600.0;
    assert!((71.5..72.3).contains(&span_h), "span {span_h} h");
    let first_raid = t
        .events
        .iter()
        .find(|e| t.sender(e).actor == Actor::Raid)
        .unwrap();
    let h = first_raid.at.since(t.start).as_secs_f64() / 3600.0;
    assert!((30.0..31.0).contains(&h), "raid starts at {h} h");
    // French mobiles only; some legitimate senders call first, and only they call.
    assert!(
        t.senders
            .iter()
            .all(|s| s.number.kind() == NumberKind::Mobile && s.number.calling_code() == 33)
    );
    let calls = t.calls();
    assert!((500..900).contains(&calls), "{calls} calls");
    assert!(
        t.events
            .iter()
            .filter(|e| e.kind == ContactKind::Call)
            .all(|e| t.sender(e).actor == Actor::Legit)
    );
    // Texts per raid number: between half and one and a half times 80.
    let mut per = vec![0u32; t.senders.len()];
    for e in &t.events {
        per[e.sender as usize] += 1;
    }
    for (i, s) in t.senders.iter().enumerate() {
        if s.actor == Actor::Raid {
            assert!((40..=120).contains(&per[i]), "raid number sent {}", per[i]);
        }
    }
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
        let local = e.at.as_secs() + 3600 * i64::from(s.utc_offset_hours);
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
            "{base}[abuse]\ncountries = [\"FR\", \"BE\"]\nlessons_per_minute = 5\npace_cap_hours = 0\nprefix_threshold = 40\nflood_min_surge = 100\nflood_keep_one_in = 4\n"
        ),
    )
    .unwrap();
    let c = s.abuse.config().unwrap();
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
        plain.abuse.config().unwrap(),
        antirelou_abuse::AbuseConfig::default()
    );
    let err = |toml: &str| {
        Scenario::from_toml("t", &format!("{base}[abuse]\n{toml}"))
            .unwrap_err()
            .to_string()
    };
    assert!(err("pace = 3").contains("unknown field"));
    assert!(err("prefix_threshold = 1").contains("threshold"));
    assert!(err("lessons_per_minute = 0").contains("lessons per minute"));
    assert!(err("countries = [\"France\"]").contains("abuse.countries"));
    assert!(err("prefix_block_hours = -1").contains("prefix_block_hours"));
}
