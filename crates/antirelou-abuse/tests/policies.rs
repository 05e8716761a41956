//! Each policy alone, on real numbers and generated traffic.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use antirelou_abuse::{
    AbuseConfig, AbuseError, AllowedCountries, BlockPattern, Blocklist, DefaultPolicies,
    FloodConfig, FloodDetector, GlobalPace, OriginRules, PolicyChain, PrefixFloodConfig,
    PrefixFloodGuard, RecentSenders, default_chain,
};
use antirelou_core::event::Channel;
use antirelou_core::phone::Region;
use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason};
use antirelou_core::{Money, NumberKind, PhoneNumber, Timestamp};

const T0: i64 = 1_700_000_000_000;

fn contact(sender: &str, number: &str, channel: Channel, at_ms: i64) -> Contact {
    let s = PhoneNumber::parse(sender).unwrap();
    let n = PhoneNumber::parse(number).unwrap();
    Contact {
        sender_key: s.key(),
        sender_calling_code: s.calling_code(),
        sender_region: s.region(),
        sender_kind: s.kind(),
        number_key: n.key(),
        number_region: n.region(),
        channel,
        at: Timestamp::from_millis(at_ms),
    }
}

/// A synthetic French mobile sender contact by key (no parsing, for volume).
fn raw(sender_key: u64, number_key: u64, channel: Channel, at_ms: i64) -> Contact {
    let fr = Region::new("FR").unwrap();
    Contact {
        sender_key,
        sender_calling_code: 33,
        sender_region: Some(fr),
        sender_kind: NumberKind::Mobile,
        number_key,
        number_region: Some(fr),
        channel,
        at: Timestamp::from_millis(at_ms),
    }
}

const FR_NUMBER: &str = "+33937000000";

#[test]
fn origin_rules_on_real_numbers_of_several_countries_and_kinds() {
    let fr = Region::new("FR").unwrap();
    let rules = OriginRules::for_region(Some(fr));
    let cases = [
        ("+33612345678", Decision::Allow),                    // FR mobile
        ("+33756789012", Decision::Allow),                    // FR mobile (07)
        ("+33142685300", Decision::Deny(Reason::OriginKind)), // FR fixed line
        ("+33899123456", Decision::Deny(Reason::OriginKind)), // FR premium rate
        ("+33800123456", Decision::Deny(Reason::OriginKind)), // FR toll free
        ("+33937000001", Decision::Deny(Reason::OriginKind)), // FR VoIP
        ("+32470123456", Decision::Deny(Reason::OriginCountry)), // BE mobile
        ("+447400123456", Decision::Deny(Reason::OriginCountry)), // GB mobile
        ("+4915123456789", Decision::Deny(Reason::OriginCountry)), // DE mobile
    ];
    for (sender, want) in cases {
        assert_eq!(
            rules.check(&contact(sender, FR_NUMBER, Channel::Sms, T0)),
            want,
            "{sender}"
        );
        assert_eq!(
            rules.recheck(&contact(sender, FR_NUMBER, Channel::Sms, T0)),
            want,
            "{sender}"
        );
    }
    // A list of countries.
    let be = Region::new("BE").unwrap();
    let rules =
        OriginRules::for_region(Some(fr)).with_countries(AllowedCountries::List(vec![fr, be]));
    assert!(
        rules
            .check(&contact("+32470123456", FR_NUMBER, Channel::Sms, T0))
            .is_allow()
    );
    assert_eq!(
        rules.check(&contact("+447400123456", FR_NUMBER, Channel::Sms, T0)),
        Decision::Deny(Reason::OriginCountry)
    );
    // A GB number teaches GB mobiles.
    let gb_rules = OriginRules::for_region(Region::new("GB").ok());
    assert!(
        gb_rules
            .check(&contact("+447400123456", "+447400123457", Channel::Sms, T0))
            .is_allow()
    );
    // In the North American plan mobile and fixed cannot be told apart: allowed by default there.
    let us = PhoneNumber::parse("+12015550123").unwrap();
    assert_eq!(us.kind(), NumberKind::FixedLineOrMobile);
    let us_rules = OriginRules::for_region(us.region());
    assert!(
        us_rules
            .check(&contact("+12015550123", "+12015550124", Channel::Sms, T0))
            .is_allow()
    );
    assert_eq!(
        rules.check(&contact("+12015550123", FR_NUMBER, Channel::Sms, T0)),
        Decision::Deny(Reason::OriginCountry)
    );
}

#[test]
fn origin_rules_never_allow_pumping_kinds_and_spare_calls_by_default() {
    let fr = Region::new("FR").unwrap();
    for k in [
        NumberKind::PremiumRate,
        NumberKind::SharedCost,
        NumberKind::ShortCode,
        NumberKind::Unknown,
    ] {
        let err = OriginRules::for_region(Some(fr))
            .with_kinds(&[NumberKind::Mobile, k])
            .unwrap_err();
        assert!(matches!(err, AbuseError::ForbiddenKind(_)), "{k:?}");
    }
    let rules = OriginRules::for_region(Some(fr))
        .with_kinds(&[NumberKind::Mobile, NumberKind::FixedLine])
        .unwrap();
    assert!(
        rules
            .check(&contact("+33142685300", FR_NUMBER, Channel::Sms, T0))
            .is_allow()
    );
    // Calls: allowed by default, checked on request.
    let premium_call = contact("+33899123456", FR_NUMBER, Channel::Voice, T0);
    assert!(
        OriginRules::for_region(Some(fr))
            .check(&premium_call)
            .is_allow()
    );
    assert_eq!(
        OriginRules::for_region(Some(fr))
            .with_voice(true)
            .check(&premium_call),
        Decision::Deny(Reason::OriginKind)
    );
    // Our number's region missing from the contact: the configured region is used.
    let mut c = contact("+33612345678", FR_NUMBER, Channel::Sms, T0);
    c.number_region = None;
    assert!(OriginRules::for_region(Some(fr)).check(&c).is_allow());
    assert_eq!(
        OriginRules::for_region(None).check(&c),
        Decision::Deny(Reason::OriginCountry)
    );
    // A sender without a region (non-geographic) is not from our country.
    let mut c = contact("+33612345678", FR_NUMBER, Channel::Sms, T0);
    c.sender_region = None;
    assert_eq!(
        OriginRules::for_region(Some(fr)).check(&c),
        Decision::Deny(Reason::OriginCountry)
    );
}

#[test]
fn blocklist_numbers_prefixes_expiry_hits_and_calls() {
    let list = Blocklist::with_capacity(8);
    let now = Timestamp::from_millis(T0);
    let num = PhoneNumber::parse("+33612345678").unwrap();
    list.add(BlockPattern::number(&num), None, now).unwrap();
    list.add(
        BlockPattern::parse("+33 7 56").unwrap(),
        Some(now.add(Duration::from_secs(3600))),
        now,
    )
    .unwrap();

    let blocked_sms = contact("+33612345678", FR_NUMBER, Channel::Sms, T0 + 1);
    let blocked_call = contact("+33756123456", FR_NUMBER, Channel::Voice, T0 + 2);
    let other = contact("+33612345679", FR_NUMBER, Channel::Sms, T0 + 3);
    assert_eq!(
        list.check(&blocked_sms),
        Decision::Deny(Reason::Blocklisted)
    );
    assert_eq!(
        list.check(&blocked_sms),
        Decision::Deny(Reason::Blocklisted)
    );
    assert_eq!(
        list.check(&blocked_call),
        Decision::Deny(Reason::Blocklisted),
        "calls are rejected too"
    );
    assert!(list.check(&other).is_allow());
    // Recheck does not count.
    assert_eq!(
        list.recheck(&blocked_sms),
        Decision::Deny(Reason::Blocklisted)
    );

    let entries = list.list();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].pattern.to_string(), "+33756");
    assert_eq!(entries[0].hits, 1);
    assert_eq!(
        entries[0].expires_at,
        Some(now.add(Duration::from_secs(3600)))
    );
    assert_eq!(entries[1].pattern.to_string(), "+33612345678");
    assert_eq!(entries[1].hits, 2);
    assert_eq!(entries[1].expires_at, None);
    assert!(
        !format!("{:?}", entries[1]).contains("612345678"),
        "debug output is masked"
    );

    // The prefix expires.
    let later = contact("+33756123456", FR_NUMBER, Channel::Voice, T0 + 3_600_000);
    assert!(list.check(&later).is_allow());
    assert_eq!(list.purge_expired(later.at), 1);
    assert_eq!(list.len(), 1);
    // Removal.
    assert!(list.remove(BlockPattern::number(&num)));
    assert!(!list.remove(BlockPattern::number(&num)));
    assert!(list.check(&blocked_sms).is_allow());
    assert!(list.is_empty());

    // Bounded: a full table refuses new entries instead of growing.
    let cap = list.capacity();
    for i in 0..cap as u64 {
        list.add(BlockPattern::from_key(33_600_000_000 + i), None, now)
            .unwrap();
    }
    let err = list
        .add(BlockPattern::from_key(33_699_999_999), None, now)
        .unwrap_err();
    assert_eq!(err, AbuseError::BlocklistFull { capacity: cap });
    assert!(BlockPattern::parse("+0033").is_err());
    assert!(BlockPattern::parse("").is_err());
    assert!(BlockPattern::parse("+1234567890123456").is_err());
}

fn guard() -> PrefixFloodGuard {
    PrefixFloodGuard::new(PrefixFloodConfig {
        capacity: 1 << 10,
        ..PrefixFloodConfig::default()
    })
    .unwrap()
}

#[test]
fn prefix_flood_blocks_a_number_block_and_recovers() {
    let g = guard();
    let number = 33_937_000_000;
    let block_base = 33_612_340_000u64;
    // One sender writing a hundred times is not a prefix flood.
    for i in 0..100 {
        assert!(
            g.check(&raw(block_base + 7, number, Channel::Sms, T0 + i * 1000))
                .is_allow()
        );
    }
    // Many distinct senders of the same block of 10,000 in a minute: blocked.
    let mut first_denied = None;
    for i in 0..40u64 {
        let d = g.check(&raw(
            block_base + 100 + i * 37,
            number,
            Channel::Sms,
            T0 + 200_000 + i as i64 * 1000,
        ));
        if !d.is_allow() && first_denied.is_none() {
            assert_eq!(d, Decision::Deny(Reason::PrefixFlood));
            first_denied = Some(i);
        }
    }
    let first = first_denied.expect("the block must be blocked");
    assert!(
        (8..=30).contains(&first),
        "blocked after {first} distinct senders (threshold 16)"
    );
    let attack_end = T0 + 240_000;
    // The whole block is blocked, calls included; a neighbour block is not.
    assert_eq!(
        g.check(&raw(block_base + 9_999, number, Channel::Voice, attack_end)),
        Decision::Deny(Reason::PrefixFlood)
    );
    assert!(
        g.check(&raw(block_base + 10_000, number, Channel::Sms, attack_end))
            .is_allow()
    );
    assert_eq!(
        g.recheck(&raw(block_base + 5, number, Channel::Sms, attack_end)),
        Decision::Deny(Reason::PrefixFlood)
    );
    assert_eq!(
        g.blocked(Timestamp::from_millis(attack_end)),
        vec![(
            3_361_234,
            Timestamp::from_millis(attack_end + 12 * 3_600_000)
        )]
    );
    // Still blocked 11 hours later, free after 12 hours of quiet.
    assert!(g.is_blocked(
        block_base + 1,
        Timestamp::from_millis(attack_end + 11 * 3_600_000)
    ));
    let after = attack_end + 12 * 3_600_000;
    assert!(
        g.check(&raw(block_base + 1, number, Channel::Sms, after))
            .is_allow()
    );
    assert!(g.blocked(Timestamp::from_millis(after)).is_empty());
}

#[test]
fn prefix_flood_block_is_renewed_while_the_attack_goes_on() {
    let g = guard();
    let number = 33_937_000_000;
    let base = 33_698_760_000u64;
    let mut sender = 0u64;
    let mut burst = |g: &PrefixFloodGuard, start: i64| {
        for i in 0..40 {
            sender += 1;
            let _ = g.check(&raw(
                base + sender * 13 % 10_000,
                number,
                Channel::Sms,
                start + i * 500,
            ));
        }
    };
    burst(&g, T0);
    assert!(g.is_blocked(base, Timestamp::from_millis(T0 + 20_000)));
    // The attack comes back after 10 hours: the block is renewed for 12 more hours.
    let again = T0 + 10 * 3_600_000;
    burst(&g, again);
    let renewed_end = again + 12 * 3_600_000;
    assert!(g.is_blocked(base, Timestamp::from_millis(T0 + 13 * 3_600_000)));
    assert!(g.is_blocked(base, Timestamp::from_millis(renewed_end - 60_000)));
    assert!(!g.is_blocked(base, Timestamp::from_millis(renewed_end + 20_000)));
}

/// A spoofed flood spread evenly over 200 blocks of 10,000 numbers: about 24 distinct senders
/// per block every 10 minutes for half an hour. Returns how many contacts were denied.
fn spread_flood(g: &PrefixFloodGuard, start: i64) -> usize {
    let number = 33_937_000_000;
    let mut x = 0x9e37_79b9_u64;
    let mut denied = 0;
    for i in 0..14_400i64 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let block = 33_612_000_000 + (x >> 40) % 200 * 10_000;
        let d = g.check(&raw(
            block + (x >> 20) % 10_000,
            number,
            Channel::Sms,
            start + i * 125,
        ));
        denied += usize::from(!d.is_allow());
    }
    denied
}

#[test]
fn prefix_flood_spares_ranges_that_are_only_as_busy_as_every_other() {
    // With the fixed count alone (the behaviour before), the flood blocks ordinary ranges by
    // chance: each is over 16 within its window.
    let fixed = PrefixFloodGuard::new(PrefixFloodConfig {
        capacity: 1 << 10,
        normal_factor: 0.0,
        ..PrefixFloodConfig::default()
    })
    .unwrap();
    assert!(spread_flood(&fixed, T0) > 1_000);
    assert!(fixed.blocked(Timestamp::from_millis(T0 + 1_800_000)).len() > 100);
    // Judged against the normal rate of ranges, few stand out. The table is as roomy as the
    // default one is for its ranges: in a small one (1,024 entries for 200 ranges), some seeds
    // put three ranges in one two-way set, they evict each other, each claim counts as one more
    // active range, the mean falls (9 instead of ~24) and ranges are blocked by chance.
    let g = PrefixFloodGuard::new(PrefixFloodConfig {
        capacity: 1 << 16,
        ..PrefixFloodConfig::default()
    })
    .unwrap();
    let denied = spread_flood(&g, T0);
    assert!(denied < 100, "denied {denied} of 14,400");
    assert!(g.blocked(Timestamp::from_millis(T0 + 1_800_000)).len() <= 2);
    assert!(g.spared() > 0);
    let (mean, global) = g.normal_rate(Timestamp::from_millis(T0 + 1_800_000));
    assert!(
        global,
        "a flood over every range is a global flood (mean {mean})"
    );
    assert!((10.0..40.0).contains(&mean), "mean {mean}");
}

#[test]
fn prefix_flood_still_blocks_one_pumped_range_among_ordinary_ones() {
    let g = guard();
    let number = 33_937_000_000;
    // Ordinary traffic: 1,000 senders from 500 blocks over 10 minutes ...
    for i in 0..1_000u64 {
        let block = 33_612_000_000 + (i * 7 % 500) * 10_000;
        let _ = g.check(&raw(
            block + i * 31 % 10_000,
            number,
            Channel::Sms,
            T0 + i as i64 * 600,
        ));
    }
    // ... then one range pumped: 40 distinct senders in a minute.
    let pumped = 33_699_990_000u64;
    let mut denied = 0;
    for i in 0..40u64 {
        let at = T0 + 600_000 + i as i64 * 1_500;
        denied += usize::from(
            !g.check(&raw(pumped + i * 37, number, Channel::Sms, at))
                .is_allow(),
        );
        // The ordinary ranges keep writing meanwhile, and are never blocked.
        let block = 33_612_000_000 + (i * 11 % 500) * 10_000;
        assert!(
            g.check(&raw(block + 5_000 + i, number, Channel::Sms, at))
                .is_allow()
        );
    }
    assert!(denied >= 10, "denied {denied}");
    assert!(g.is_blocked(pumped, Timestamp::from_millis(T0 + 700_000)));
    let (mean, global) = g.normal_rate(Timestamp::from_millis(T0 + 700_000));
    assert!(!global, "one pumped range is no global flood (mean {mean})");
}

#[test]
fn prefix_flood_does_not_renew_blocks_during_a_global_flood() {
    let run = |renew: bool| {
        let g = PrefixFloodGuard::new(PrefixFloodConfig {
            capacity: 1 << 10,
            renew_in_global_flood: renew,
            ..PrefixFloodConfig::default()
        })
        .unwrap();
        // One range is pumped alone: blocked for 12 h.
        let pumped = 33_612_000_000 + 7 * 10_000;
        for i in 0..40u64 {
            let _ = g.check(&raw(
                pumped + i * 37,
                33_937_000_000,
                Channel::Sms,
                T0 + i as i64 * 1_000,
            ));
        }
        assert!(g.is_blocked(pumped, Timestamp::from_millis(T0 + 60_000)));
        // Ten hours later a flood over every range, that one included, keeps its count high.
        let later = T0 + 10 * 3_600_000;
        spread_flood(&g, later);
        // Enough distinct senders to fill the range's 64-bit counter, so that its count passes
        // every limit (at most 100) whatever the policy's random seed: then only the switch
        // decides whether the block is renewed.
        let mut burst = 0;
        for i in 0..400u64 {
            burst += usize::from(
                !g.check(&raw(
                    pumped + 5_000 + i,
                    33_937_000_000,
                    Channel::Sms,
                    later + 1_800_000 + i as i64 * 100,
                ))
                .is_allow(),
            );
        }
        assert_eq!(burst, 400, "still blocked while the block lasts");
        g.is_blocked(
            pumped,
            Timestamp::from_millis(T0 + 12 * 3_600_000 + 120_000),
        )
    };
    // By default the block ends 12 h after the pumping; renewed on request.
    assert!(!run(false));
    assert!(run(true));
}

#[test]
fn prefix_flood_guard_rejects_bad_settings() {
    let bad = |c: PrefixFloodConfig| PrefixFloodGuard::new(c).unwrap_err();
    assert!(matches!(
        bad(PrefixFloodConfig {
            threshold: 1,
            ..Default::default()
        }),
        AbuseError::InvalidConfig(_)
    ));
    assert!(matches!(
        bad(PrefixFloodConfig {
            block_digits: 0,
            ..Default::default()
        }),
        AbuseError::InvalidConfig(_)
    ));
    assert!(matches!(
        bad(PrefixFloodConfig {
            window: Duration::ZERO,
            ..Default::default()
        }),
        AbuseError::InvalidConfig(_)
    ));
    assert!(matches!(
        bad(PrefixFloodConfig {
            normal_factor: f64::NAN,
            ..Default::default()
        }),
        AbuseError::InvalidConfig(_)
    ));
}

#[test]
fn global_pace_is_a_gcra_and_spares_calls() {
    let pace = GlobalPace::new(30, 3).unwrap(); // one every 2 s, bursts of 3
    let mut allowed = 0;
    // Ten minutes of a contact every 100 ms: 300 + 2 (burst) lessons at most.
    for i in 0..6000 {
        if pace
            .check(&raw(33_612_345_678, 1, Channel::Sms, T0 + i * 100))
            .is_allow()
        {
            allowed += 1;
        }
    }
    assert!((300..=303).contains(&allowed), "{allowed}");
    assert!(
        pace.check(&raw(33_612_345_678, 1, Channel::Voice, T0 + 600_000))
            .is_allow()
    );
    assert!(
        pace.recheck(&raw(33_612_345_678, 1, Channel::Sms, T0 + 600_000))
            .is_allow()
    );
    assert!(GlobalPace::new(0, 1).is_err());
}

#[test]
fn recent_senders_never_deny_a_sender_they_do_not_know() {
    let window = Duration::from_secs(30 * 86_400);
    let recent = RecentSenders::new(1024, window);
    let t = Timestamp::from_millis(T0);
    // Far more senders than slots: evicted ones fall back to the durable store (allowed here).
    for k in 0..100_000u64 {
        recent.mark_taught(33_600_000_000 + k, t);
    }
    let remembered = (0..100_000u64)
        .filter(|k| recent.contains(33_600_000_000 + k, t))
        .count();
    assert!(remembered > 900 && remembered <= 1024, "{remembered}");
    // Never a false positive.
    for k in 100_000..200_000u64 {
        assert!(!recent.contains(33_600_000_000 + k, t));
    }
    // The window is respected, rounded on the safe side.
    let fresh = RecentSenders::new(1024, window);
    fresh.mark_taught(33_612_345_678, t);
    assert!(fresh.contains(
        33_612_345_678,
        t.add(window - Duration::from_secs(3 * 3600))
    ));
    assert!(!fresh.contains(33_612_345_678, t.add(window)));
    let c = raw(33_612_345_678, 1, Channel::Sms, T0 + 1000);
    assert_eq!(fresh.check(&c), Decision::Deny(Reason::AlreadyTaught));
    assert!(
        fresh.recheck(&c).is_allow(),
        "the lesson being sent is not a repeat"
    );
    assert!(
        fresh
            .check(&raw(33_612_345_678, 1, Channel::Voice, T0 + 1000))
            .is_allow()
    );
    fresh.forget(33_612_345_678);
    assert!(fresh.check(&c).is_allow());
}

#[test]
fn recent_senders_restart_their_stamps_after_many_windows() {
    let window = Duration::from_secs(720); // one-second units
    let recent = RecentSenders::new(64, window);
    let t = Timestamp::from_millis(T0);
    recent.mark_taught(33_612_345_678, t);
    // 16,383 units later the stamps are exhausted: the table clears itself and starts over.
    let far = t.add(Duration::from_secs(20_000));
    recent.mark_taught(33_700_000_001, far);
    assert!(!recent.contains(33_612_345_678, far));
    recent.mark_taught(33_700_000_001, far);
    assert!(recent.contains(33_700_000_001, far.add(Duration::from_secs(60))));
    assert!(!recent.contains(33_700_000_001, far.add(window)));
}

fn flood_detector(budget: Option<u64>) -> FloodDetector {
    let d = FloodDetector::new(FloodConfig::default()).unwrap();
    d.set_affordable_per_bucket(budget);
    d
}

/// Drive a detector through the default chain's logic (repeats are seen as AlreadyTaught by the
/// observer). Returns the decisions on new senders' first texts, and the status at the end.
struct Traffic {
    next_sender: u64,
    lessons: u64,
    degraded_denials: u64,
}

impl Traffic {
    fn new() -> Self {
        Traffic {
            next_sender: 33_600_000_000,
            lessons: 0,
            degraded_denials: 0,
        }
    }

    /// One minute with `senders` new senders writing `per_sender` texts each.
    fn minute(&mut self, d: &FloodDetector, minute: i64, senders: u64, per_sender: u64) {
        use antirelou_abuse::ChainObserver;
        let number = 33_937_000_000;
        let start = T0 + minute * 60_000;
        let step = 60_000 / (senders * per_sender).max(1) as i64;
        let mut t = start;
        for _ in 0..senders {
            // Spread senders over the whole French mobile range (no prefix concentration).
            self.next_sender += 7_919;
            let key = self.next_sender;
            let mut taught = false;
            for _ in 0..per_sender {
                let c = raw(key, number, Channel::Sms, t);
                t += step;
                if taught {
                    d.observe(&c, Decision::Deny(Reason::AlreadyTaught));
                    continue;
                }
                match d.check(&c) {
                    Decision::Allow => {
                        taught = true;
                        self.lessons += 1;
                    }
                    Decision::Defer(Reason::FloodDegraded) => self.degraded_denials += 1,
                    other => panic!("{other:?}"),
                }
            }
        }
    }
}

#[test]
fn viral_day_is_not_a_flood_while_the_budget_allows() {
    let d = flood_detector(Some(5_000));
    let number = 33_937_000_000;
    let mut traffic = Traffic::new();
    // A quiet hour, then the number goes viral: 300 new people a minute for two hours, most
    // writing once, some twice.
    for m in 0..60 {
        traffic.minute(&d, m, 2, 1);
    }
    for m in 60..180 {
        traffic.minute(&d, m, 300, if m % 3 == 0 { 2 } else { 1 });
    }
    let s = d.status(number);
    assert!(!s.degraded);
    assert_eq!(s.trips, 0);
    assert_eq!(traffic.degraded_denials, 0);
    assert_eq!(traffic.lessons, 120 + 120 * 300);
    assert!(
        s.baseline > 200.0,
        "the baseline follows the viral level: {}",
        s.baseline
    );
}

#[test]
fn troll_flood_degrades_sms_spares_calls_and_recovers() {
    let d = flood_detector(Some(5_000));
    let number = 33_937_000_000;
    let mut traffic = Traffic::new();
    for m in 0..60 {
        traffic.minute(&d, m, 2, 1);
    }
    let before = traffic.lessons;
    // 300 new senders a minute writing 8 texts each, for 30 minutes.
    for m in 60..90 {
        traffic.minute(&d, m, 300, 8);
    }
    let s = d.status(number);
    assert!(s.degraded);
    assert_eq!(s.trips, 1);
    let flood_lessons = traffic.lessons - before;
    assert!(
        flood_lessons < 400,
        "only the first seconds got through: {flood_lessons}"
    );
    assert!(
        traffic.degraded_denials > 8_000,
        "{}",
        traffic.degraded_denials
    );
    // Calls go on.
    assert!(
        d.check(&raw(
            33_611_111_111,
            number,
            Channel::Voice,
            T0 + 89 * 60_000
        ))
        .is_allow()
    );
    // A pending lesson rechecked during the flood is held.
    assert_eq!(
        d.recheck(&raw(33_611_111_112, number, Channel::Sms, T0 + 89 * 60_000)),
        Decision::Defer(Reason::FloodDegraded)
    );
    // Another of our numbers is not affected.
    assert!(
        d.check(&raw(
            33_611_111_113,
            33_937_000_001,
            Channel::Sms,
            T0 + 89 * 60_000
        ))
        .is_allow()
    );
    // The flood ends; normal traffic comes back by itself after the calm period.
    for m in 90..100 {
        traffic.minute(&d, m, 2, 1);
    }
    let s = d.status(number);
    assert!(!s.degraded);
    assert!(
        d.recheck(&raw(
            33_611_111_112,
            number,
            Channel::Sms,
            T0 + 100 * 60_000
        ))
        .is_allow()
    );
    let l = traffic.lessons;
    traffic.minute(&d, 100, 2, 1);
    assert_eq!(traffic.lessons, l + 2);
}

#[test]
fn one_text_sim_flood_beyond_the_budget_degrades() {
    // Same shape as a viral day, but the budget cannot pay for it: 20 lessons a minute at most.
    let d = flood_detector(None);
    d.update_budget(Money::from_units_f64(100.0), Money::from_units_f64(0.08));
    assert_eq!(d.affordable_per_bucket(), Some(20));
    let number = 33_937_000_000;
    let mut traffic = Traffic::new();
    for m in 0..60 {
        traffic.minute(&d, m, 2, 1);
    }
    for m in 60..70 {
        traffic.minute(&d, m, 300, 1);
    }
    assert!(d.status(number).degraded);
    // With an ample budget the same traffic is a viral day.
    let d2 = flood_detector(None);
    d2.update_budget(
        Money::from_units_f64(100_000.0),
        Money::from_units_f64(0.08),
    );
    let mut traffic = Traffic::new();
    for m in 0..60 {
        traffic.minute(&d2, m, 2, 1);
    }
    for m in 60..70 {
        traffic.minute(&d2, m, 300, 1);
    }
    assert!(!d2.status(number).degraded);
}

#[test]
fn degraded_mode_can_thin_instead_of_pausing() {
    let d = FloodDetector::new(FloodConfig {
        degraded_keep_one_in: 4,
        ..FloodConfig::default()
    })
    .unwrap();
    let mut traffic = Traffic::new();
    for m in 0..30 {
        traffic.minute(&d, m, 2, 1);
    }
    let before = traffic.lessons;
    for m in 30..40 {
        traffic.minute(&d, m, 300, 6);
    }
    let taught = traffic.lessons - before;
    // About a quarter of the 3,000 senders, plus the first seconds.
    assert!((500..=1200).contains(&taught), "{taught}");
}

#[test]
fn default_chain_counts_every_reason() {
    let fr = Region::new("FR").unwrap();
    let config = AbuseConfig {
        recent_capacity: 1 << 12,
        ..AbuseConfig::default()
    };
    let chain = default_chain(Some(fr), &config).unwrap();
    assert_eq!(chain.len(), 8);
    let allowed = contact("+33612345678", FR_NUMBER, Channel::Sms, T0);
    assert!(chain.check(&allowed).is_allow());
    assert_eq!(chain.check(&allowed), Decision::Deny(Reason::AlreadyTaught));
    assert!(
        chain.recheck(&allowed).is_allow(),
        "send-time recheck of the lesson allows it"
    );
    assert_eq!(
        chain.check(&contact("+32470123456", FR_NUMBER, Channel::Sms, T0)),
        Decision::Deny(Reason::OriginCountry)
    );
    assert_eq!(
        chain.check(&contact("+33899123456", FR_NUMBER, Channel::Sms, T0)),
        Decision::Deny(Reason::OriginKind)
    );
    // Calls are answered and not remembered as lessons.
    let call = contact("+33612345679", FR_NUMBER, Channel::Voice, T0);
    assert!(chain.check(&call).is_allow());
    assert!(
        chain
            .check(&contact("+33612345679", FR_NUMBER, Channel::Sms, T0))
            .is_allow()
    );
    // Global pace: burst of 20 at its floor (the budget is not known), then deferred.
    let mut paced = 0;
    for i in 0..50u64 {
        let mut c = raw(
            33_700_000_000 + i * 104_729,
            33_937_000_000,
            Channel::Sms,
            T0 + 1,
        );
        c.number_region = Some(fr);
        if chain.check(&c) == Decision::Defer(Reason::GlobalPace) {
            paced += 1;
        }
    }
    // Two lessons above took two of the 20 tokens.
    assert_eq!(paced, 50 - 18);
    let counts: Vec<(Reason, u64)> = chain.counts().filter(|(_, n)| *n > 0).collect();
    assert_eq!(
        counts,
        vec![
            (Reason::AlreadyTaught, 1),
            (Reason::OriginCountry, 1),
            (Reason::OriginKind, 1),
        ]
    );
    assert_eq!(chain.deferred(Reason::GlobalPace), paced);
    assert_eq!(chain.allowed(), 3 + (50 - paced));
    assert!(
        default_chain(
            Some(fr),
            &AbuseConfig {
                lessons_per_minute: 0,
                ..AbuseConfig::default()
            }
        )
        .is_err()
    );
    let forbidden = AbuseConfig {
        kinds: Some(vec![NumberKind::PremiumRate]),
        ..AbuseConfig::default()
    };
    assert!(matches!(
        default_chain(Some(fr), &forbidden),
        Err(AbuseError::ForbiddenKind(_))
    ));
}

#[test]
fn recent_senders_keep_a_sender_across_a_filter_generation_change() {
    let window = Duration::from_secs(1000);
    let recent = RecentSenders::new(1024, window);
    // Generations are whole windows since the epoch: this is the last second of one.
    let end_of_gen = Timestamp::from_millis(1_700_000_000_000 / 1_000_000 * 1_000_000 + 999_000);
    recent.mark_taught(33_612_345_678, end_of_gen);
    // Next generation: another insertion clears the other half; the sender is still known.
    let next = end_of_gen.add(Duration::from_secs(900));
    recent.mark_taught(33_612_345_679, next);
    assert!(recent.contains(33_612_345_678, end_of_gen.add(Duration::from_secs(900))));
    assert!(recent.contains(33_612_345_679, next.add(Duration::from_secs(90))));
    // Two generations on, the first one is gone (it was older than the window anyway).
    let later = end_of_gen.add(Duration::from_secs(1_002));
    recent.mark_taught(33_612_345_670, later);
    assert!(!recent.contains(33_612_345_678, later));
    assert!(recent.contains(33_612_345_679, later));
    assert!(recent.contains(33_612_345_670, later));
}

/// Decisions of a default chain on a stream near every hash-dependent threshold: 200 blocks of
/// 10,000 numbers each sending about the prefix guard's threshold within its window, and a
/// surge of new senders for the flood detector's estimate.
fn decisions_near_thresholds(hash_seed: Option<u64>) -> Vec<Decision> {
    let config = AbuseConfig {
        recent_capacity: 1 << 16,
        hash_seed,
        // Every block near the fixed threshold at once is a global flood that the normal rate
        // would spare: judge by the fixed count, whose decisions depend on the hashes.
        prefix_flood: PrefixFloodConfig {
            normal_factor: 0.0,
            ..PrefixFloodConfig::default()
        },
        ..AbuseConfig::default()
    };
    let chain = default_chain(Region::new("FR").ok(), &config).unwrap();
    let number = PhoneNumber::parse(FR_NUMBER).unwrap().key();
    let mut x = 0x1234_5678_u64;
    (0..40_000)
        .map(|i| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let block = 33_612_000_000 + (x >> 40) % 200 * 10_000;
            let sender = block + (x >> 20) % 10_000;
            chain.check(&raw(sender, number, Channel::Sms, T0 + i * 90))
        })
        .collect()
}

#[test]
fn a_hash_seed_makes_every_decision_reproducible() {
    let a = decisions_near_thresholds(Some(7));
    assert_eq!(a, decisions_near_thresholds(Some(7)));
    // The stream does sit on the thresholds: both answers occur, and the seed matters.
    assert!(a.contains(&Decision::Deny(Reason::PrefixFlood)));
    assert!(a.contains(&Decision::Allow));
    assert_ne!(a, decisions_near_thresholds(Some(8)));
}

/// The default chain calls its policies by their concrete types; it must decide exactly as the
/// documented list of the same policies run through the generic chain.
#[test]
fn the_default_chain_decides_as_its_documented_list() {
    use antirelou_abuse::{DefaultPolicies, PolicyChain};
    use std::sync::Arc;
    let config = AbuseConfig {
        recent_capacity: 1 << 16,
        hash_seed: Some(11),
        ..AbuseConfig::default()
    };
    let fr = Region::new("FR").ok();
    let fused = DefaultPolicies::new(fr, &config).unwrap().chain();
    let p = DefaultPolicies::new(fr, &config).unwrap();
    let listed = PolicyChain::new()
        .then(p.origin.clone())
        .then(p.blocklist.clone())
        .then(p.prefix_flood.clone())
        .then(p.burst.clone())
        .then(p.recent.clone())
        .then(p.copy_paste.clone())
        .then(p.flood.clone())
        .then(p.pace.clone())
        .observe_with(p.recent.clone())
        .observe_with(p.flood.clone())
        .prefetch_with(p.prefix_flood.clone())
        .prefetch_with(p.burst.clone())
        .prefetch_with(p.recent.clone());
    assert_eq!(fused.len(), listed.len());
    let number = PhoneNumber::parse(FR_NUMBER).unwrap().key();
    let mut x = 0x1234_5678_u64;
    let mut seen = std::collections::HashSet::new();
    for i in 0..40_000i64 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let block = 33_612_000_000 + (x >> 40) % 200 * 10_000;
        let sender = block + (x >> 20) % 10_000;
        let channel = if x.is_multiple_of(7) {
            Channel::Voice
        } else {
            Channel::Sms
        };
        let c = raw(sender, number, channel, T0 + i * 90);
        // One text in three is one of a few copy-pasted texts.
        let d = if x.is_multiple_of(3) {
            let text = Some(antirelou_core::policy::TextFingerprint {
                hash: x >> 60,
                letters: 40,
            });
            let d = fused.check_text(&c, text);
            assert_eq!(d, listed.check_text(&c, text), "text {i}");
            d
        } else {
            let d = fused.check(&c);
            assert_eq!(d, listed.check(&c), "contact {i}");
            d
        };
        assert_eq!(fused.recheck(&c), listed.recheck(&c), "recheck {i}");
        seen.insert(d);
    }
    // Ten days later (the flood detector's baseline has decayed), 25 new senders a minute who
    // text four times each: the repeats, denied as already taught (or, once their bursts are
    // a raid, by the burst guard), reach the flood detector only as observed decisions, and
    // make it a flood.
    let later = T0 + 10 * 86_400_000;
    for m in 0..4i64 {
        for k in 0..4i64 {
            for s in 0..25i64 {
                let sender = 33_700_000_000 + (m * 25 + s) as u64 * 7_919;
                let at = later + m * 60_000 + k * 10_000 + s * 100;
                let c = raw(sender, number, Channel::Sms, at);
                let d = fused.check(&c);
                assert_eq!(d, listed.check(&c), "minute {m}, text {k} of sender {s}");
                seen.insert(d);
            }
        }
    }
    assert!(
        seen.contains(&Decision::Defer(Reason::FloodDegraded)),
        "the repeats made a flood: {seen:?}"
    );
    assert!(
        seen.contains(&Decision::Deny(Reason::CopyPaste)),
        "the copies were recognised: {seen:?}"
    );
    assert!(
        seen.contains(&Decision::Deny(Reason::BurstRaid)),
        "100 numbers sending four texts each within a minute are a burst raid: {seen:?}"
    );
    assert!(
        seen.len() >= 4,
        "the stream reaches several reasons: {seen:?}"
    );
    assert_eq!(fused.allowed(), listed.allowed());
    assert!(fused.counts().eq(listed.counts()));
    // Appending to the default chain keeps its eight policies, in order, before the new one.
    let longer = DefaultPolicies::new(fr, &config)
        .unwrap()
        .chain()
        .then(Arc::new(GlobalPace::new(1, 1).unwrap()));
    assert_eq!(longer.len(), 9);
}

/// Always answers the same verdict (check and recheck).
#[derive(Debug)]
struct Fixed(Decision);

impl AbusePolicy for Fixed {
    fn check(&self, _: &Contact) -> Decision {
        self.0
    }
    fn recheck(&self, _: &Contact) -> Decision {
        self.0
    }
}

#[test]
fn in_a_chain_a_denial_anywhere_wins_over_a_deferral_which_wins_over_allow() {
    use std::sync::Arc;
    let c = contact("+33612345678", "+33937000000", Channel::Sms, T0);
    let defer = Decision::Defer(Reason::FloodDegraded);
    let deny = Decision::Deny(Reason::Blocklisted);
    let allow = Arc::new(Fixed(Decision::Allow));
    // Deferral first, denial later: the denial wins (the chain does not stop at a deferral).
    let chain = PolicyChain::new()
        .then(Arc::new(Fixed(defer)))
        .then(allow.clone())
        .then(Arc::new(Fixed(deny)));
    assert_eq!(chain.check(&c), deny);
    assert_eq!(chain.recheck(&c), deny);
    assert_eq!(chain.count(Reason::Blocklisted), 2);
    assert_eq!(chain.deferred(Reason::FloodDegraded), 0);
    // Denial first: it wins too.
    let chain = PolicyChain::new()
        .then(Arc::new(Fixed(deny)))
        .then(Arc::new(Fixed(defer)));
    assert_eq!(chain.check(&c), deny);
    // Deferral and allowances: deferred, counted as such, not as a denial.
    let chain = PolicyChain::new()
        .then(allow.clone())
        .then(Arc::new(Fixed(defer)))
        .then(Arc::new(Fixed(Decision::Defer(Reason::GlobalPace))))
        .then(allow);
    assert_eq!(chain.check(&c), defer);
    assert_eq!(chain.recheck(&c), defer);
    assert_eq!(chain.deferred(Reason::FloodDegraded), 2);
    assert_eq!(chain.count(Reason::FloodDegraded), 0);
    assert_eq!(chain.allowed(), 0);
}

#[test]
fn the_default_chain_denies_a_blocklisted_sender_even_in_degraded_mode() {
    // A flood puts the number in degraded mode (new senders deferred); a blocklisted sender is
    // still denied, and a repeat is still "already taught", whatever the deferral.
    let config = AbuseConfig {
        recent_capacity: 1 << 12,
        lessons_per_minute: 1_000_000,
        pace_burst: 1_000_000,
        ..AbuseConfig::default()
    };
    let p = DefaultPolicies::new(Region::new("FR").ok(), &config).unwrap();
    let chain = p.chain();
    let number = "+33937000000";
    for round in 0..10i64 {
        for i in 0..100i64 {
            let s = format!("+336{:08}", 20_000_000 + i * 7_919);
            chain.check(&contact(&s, number, Channel::Sms, T0 + round * 5_000 + i));
        }
    }
    let man = "+33687654321";
    let bad = "+33687654329";
    p.blocklist
        .add(
            BlockPattern::number(&PhoneNumber::parse(bad).unwrap()),
            None,
            Timestamp::from_millis(T0),
        )
        .unwrap();
    assert_eq!(
        chain.check(&contact(man, number, Channel::Sms, T0 + 70_000)),
        Decision::Defer(Reason::FloodDegraded)
    );
    assert_eq!(
        chain.check(&contact(bad, number, Channel::Sms, T0 + 70_000)),
        Decision::Deny(Reason::Blocklisted)
    );
    // Calls are not deferred.
    assert_eq!(
        chain.check(&contact(
            "+33687654300",
            number,
            Channel::Voice,
            T0 + 71_000
        )),
        Decision::Allow
    );
    // A text during the flood ranks behind texts of ordinary times; another number is calm.
    assert_eq!(
        p.flood
            .defer_rank(&contact(man, number, Channel::Sms, T0 + 71_000), None),
        1
    );
    assert_eq!(
        p.flood.defer_rank(
            &contact(man, "+33937000001", Channel::Sms, T0 + 71_000),
            None
        ),
        0
    );
    // At send time the number is still degraded: deferred again, not cancelled.
    assert_eq!(
        chain.recheck(&contact(man, number, Channel::Sms, T0 + 72_000)),
        Decision::Defer(Reason::FloodDegraded)
    );
}

#[test]
fn a_busy_range_ranks_behind_an_ordinary_one_among_deferred_lessons() {
    // Seeded: a range's count is an estimate from hashed bits, and with a random seed nine
    // senders' hashes may collide into an estimate under half the threshold (a flaky test).
    let seeded = || {
        PrefixFloodGuard::with_seed(
            PrefixFloodConfig {
                capacity: 1 << 10,
                ..PrefixFloodConfig::default()
            },
            Some(7),
        )
        .unwrap()
    };
    let g = seeded();
    let number = "+33937000000";
    // Nine distinct senders of one block of 10,000 in a minute: half-way to the threshold of 16.
    for i in 0..9 {
        let s = format!("+3361234{:04}", i * 7);
        assert!(
            g.check(&contact(&s, number, Channel::Sms, T0 + i))
                .is_allow()
        );
    }
    let same_block = contact("+33612349999", number, Channel::Sms, T0 + 1_000);
    let other_block = contact("+33698760000", number, Channel::Sms, T0 + 1_000);
    assert_eq!(g.defer_rank(&same_block, None), 1);
    assert_eq!(g.defer_rank(&other_block, None), 0);
    // One sender alone does not make a range unusual.
    let g = guard();
    assert!(
        g.check(&contact("+33612340000", number, Channel::Sms, T0))
            .is_allow()
    );
    assert_eq!(g.defer_rank(&same_block, None), 0);
}
