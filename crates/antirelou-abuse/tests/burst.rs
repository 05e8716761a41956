//! The burst guard in the default chain and from a settings file: many numbers each sending a
//! burst of texts at once are refused, on the spot and at send time; one man's burst on an
//! ordinary day, a man who writes once during a raid, and calls are not.
#![allow(clippy::unwrap_used)]

mod support;

use antirelou_abuse::{AbuseConfig, DefaultPolicies, PolicySettings};
use antirelou_core::event::Channel;
use antirelou_core::phone::Region;
use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason};

const T0: i64 = 1_700_000_000;
const NUMBER: u64 = 33_937_000_000;

fn text(sender: u64, at_s: i64) -> Contact {
    support::french_text(33_612_000_000 + sender * 7_919, NUMBER, (T0 + at_s) * 1000)
}

fn policies() -> DefaultPolicies {
    let config = AbuseConfig {
        recent_capacity: 1 << 12,
        hash_seed: Some(5),
        ..AbuseConfig::default()
    };
    DefaultPolicies::new(Region::new("FR").ok(), &config).unwrap()
}

#[test]
fn in_the_chain_a_raid_of_bursting_numbers_is_refused_and_counted() {
    let p = policies();
    let chain = p.chain();
    // An ordinary day: one man sends four texts in two minutes. He is one burst: allowed
    // (his repeats are the repeat filter's: already taught).
    assert!(chain.check(&text(1, 0)).is_allow());
    for k in 1..4 {
        assert_eq!(
            chain.check(&text(1, k * 40)),
            Decision::Deny(Reason::AlreadyTaught)
        );
    }
    assert!(chain.recheck(&text(1, 3600)).is_allow());
    // Two hours later, 60 numbers in an hour each send four texts within a minute and a half.
    let mut on_the_spot = 0;
    for s in 100..160u64 {
        let t0 = 7200 + (s as i64 - 100) * 60;
        assert!(chain.check(&text(s, t0)).is_allow(), "first text of {s}");
        for k in 1..4 {
            if chain.check(&text(s, t0 + k * 25)) == Decision::Deny(Reason::BurstRaid) {
                on_the_spot += 1;
            }
        }
    }
    assert!(on_the_spot >= 50 * 2, "{on_the_spot} refused on the spot");
    // A man who writes once while the raid is on.
    let d = chain.check(&text(2, 10_800));
    assert!(d.is_allow(), "{d:?}");
    // At send time, an hour after each first text: every raid number is refused, the first
    // bursts (before the count reached its limit) included; the man is not.
    for s in 100..160u64 {
        let at = 7200 + (s as i64 - 100) * 60 + 3600;
        assert_eq!(
            chain.recheck(&text(s, at)),
            Decision::Deny(Reason::BurstRaid),
            "sender {s}"
        );
    }
    assert!(chain.recheck(&text(2, 10_800 + 3600)).is_allow());
    assert_eq!(p.burst.refused(), 60);
    assert_eq!(p.burst.raids(), 1);
    assert!(chain.count(Reason::BurstRaid) >= 60 + 100);
    // Calls from a raid number are not this guard's business (they cost no SMS).
    let mut call = text(100, 7300);
    call.channel = Channel::Voice;
    assert!(chain.check(&call).is_allow());
}

#[test]
fn its_settings_are_read_from_the_abuse_section_under_their_names() {
    let s: PolicySettings = toml::from_str(
        "[burst]\ntexts = 4\nwithin = \"5m\"\nwindow = \"30m\"\nmin_bursts = 20\nnormal_factor = 6.0\nmark_for = \"48h\"\ncapacity = 1024\n",
    )
    .unwrap();
    let c = s
        .into_config(std::time::Duration::from_secs(86_400))
        .unwrap();
    assert_eq!(c.burst.texts, 4);
    assert_eq!(c.burst.within.as_secs(), 300);
    assert_eq!(c.burst.window.as_secs(), 1800);
    assert_eq!(c.burst.min_bursts, 20);
    assert_eq!(c.burst.mark_for.as_secs(), 48 * 3600);
    for (toml, key) in [
        ("[burst]\ntexts = 1\n", "burst.texts"),
        ("[burst]\nmin_bursts = 0\n", "burst.min_bursts"),
        ("[burst]\nnormal_factor = 0.0\n", "burst.normal_factor"),
        ("[burst]\nwithin = \"0s\"\n", "burst.within"),
    ] {
        let s: PolicySettings = toml::from_str(toml).unwrap();
        assert_eq!(s.validate().unwrap_err().key, key, "{toml}");
    }
    assert!(toml::from_str::<PolicySettings>("[burst]\nthreshold = 3\n").is_err());
}
