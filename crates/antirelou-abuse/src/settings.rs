//! [`PolicySettings`]: every tunable of the default chain as a file writes it (TOML, JSON…),
//! the one source of the names and defaults that the reference server's `[abuse]` section and
//! the simulator's scenario files share.
//!
//! Every key is optional and defaults to [`AbuseConfig::default`]'s value; an unknown key is
//! refused; durations are humantime strings (`"10m"`, `"12h"`, `"1h 30m"`). The key names are
//! the field names of [`AbuseConfig`], [`PrefixFloodConfig`], [`FloodConfig`],
//! [`CopyPasteConfig`] and [`BurstConfig`] (the nested tables `prefix_flood`, `flood`,
//! `copy_paste` and `burst` deserialise straight into those types).
//!
//! Two settings are not in a file on purpose: the lesson window (the engine's, passed to
//! [`PolicySettings::into_config`]) and the hash seed (random in production; the simulator sets
//! it on the returned [`AbuseConfig`] for reproducible runs).
//!
//! ```
//! use std::time::Duration;
//! use antirelou_abuse::PolicySettings;
//!
//! let settings: PolicySettings = toml::from_str(r#"
//!     lessons_per_minute = 30
//!     [prefix_flood]
//!     threshold = 24
//!     block_for = "6h"
//! "#).unwrap();
//! let config = settings.into_config(Duration::from_secs(30 * 86_400)).unwrap();
//! assert_eq!(config.lessons_per_minute, 30);
//! assert_eq!(config.prefix_flood.threshold, 24);
//! assert_eq!(config.prefix_flood.block_for, Duration::from_secs(6 * 3600));
//! assert_eq!(config.flood.min_surge, 20); // untouched: the default
//! ```

use std::time::Duration;

use antirelou_core::NumberKind;
use antirelou_core::engine::EngineConfig;
use antirelou_core::phone::Region;
use serde::{Deserialize, Serialize};

use crate::{
    AbuseConfig, AllowedCountries, BurstConfig, CopyPasteConfig, FloodConfig, PrefixFloodConfig,
};

/// A setting that cannot be used: the dotted key at fault (relative to the settings' table,
/// e.g. `prefix_flood.threshold`) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SettingsError {
    /// The dotted key.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

fn bad(key: &str, message: impl Into<String>) -> SettingsError {
    SettingsError {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// Every tunable of the default chain, as written in a file; see the
/// [module documentation](self). Convert it with [`into_config`](Self::into_config) (checked,
/// errors name the key) or `AbuseConfig::try_from`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySettings {
    /// Allowed sender countries, two-letter codes (`["FR", "BE"]`), or `["any"]` (default: the
    /// number's own country).
    pub countries: Option<Vec<String>>,
    /// Allowed line types (`"mobile"`, `"fixed_line"`, `"fixed_line_or_mobile"`, `"voip"`,
    /// `"toll_free"`, `"other"`; never premium rate, shared cost, short codes; default: mobile
    /// only, plus "fixed line or mobile" in the North American plan).
    pub kinds: Option<Vec<String>>,
    /// Whether calls from a disallowed origin are rejected too (default false).
    pub origin_applies_to_voice: bool,
    /// Slots of the in-memory repeat filter (default 4 Mi: 36.5 MiB).
    pub recent_capacity: usize,
    /// Blocklist capacity in entries (default 2,048).
    pub blocklist_capacity: usize,
    /// Global pace floor, SMS lessons per minute (default 60).
    pub lessons_per_minute: u32,
    /// Global pace burst at the floor (default 20).
    pub pace_burst: u32,
    /// The pace, sized from the daily cap, may spend the whole cap within this long and no
    /// faster; `"0s"` keeps it at its floor (default `"2h"`).
    #[serde(with = "humantime_duration")]
    pub pace_cap_span: Duration,
    /// The prefix flood guard (`[…prefix_flood]`).
    pub prefix_flood: PrefixFloodConfig,
    /// The flood detector (`[…flood]`).
    pub flood: FloodConfig,
    /// The copy-paste guard (`[…copy_paste]`).
    pub copy_paste: CopyPasteConfig,
    /// The burst guard (`[…burst]`).
    pub burst: BurstConfig,
    /// How the engine holds the lessons these policies defer (`[…defer]`): engine settings, kept
    /// here so that both front doors read them under the same names and defaults.
    pub defer: DeferSettings,
}

/// How deferred lessons are held (`[abuse.defer]` in the server and in scenario files); the
/// defaults are [`EngineConfig`]'s. Apply them with [`DeferSettings::apply`].
///
/// ```
/// use std::time::Duration;
/// use antirelou_abuse::PolicySettings;
/// use antirelou_core::engine::EngineConfig;
///
/// let s: PolicySettings = toml::from_str("[defer]\nhorizon = \"48h\"\nmax_deferred = 10\n").unwrap();
/// let mut engine = EngineConfig::default();
/// s.defer.apply(&mut engine);
/// assert_eq!(engine.defer_horizon, Duration::from_secs(48 * 3600));
/// assert_eq!(engine.max_deferred, 10);
/// assert_eq!(engine.short_form_above, 0.5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeferSettings {
    /// [`EngineConfig::defer_horizon`] (default `"72h"`).
    #[serde(with = "humantime_duration")]
    pub horizon: Duration,
    /// [`EngineConfig::max_deferred`] (default 50,000, per process).
    pub max_deferred: usize,
    /// [`EngineConfig::defer_retry`] (default `"5m"`).
    #[serde(with = "humantime_duration")]
    pub retry: Duration,
    /// [`EngineConfig::short_form_above`] (default 0.5).
    pub short_form_above: f64,
    /// [`EngineConfig::caller_first_for`] (default `"24h"`; `"0s"`: never).
    #[serde(with = "humantime_duration")]
    pub caller_first_for: Duration,
}

impl Default for DeferSettings {
    fn default() -> Self {
        let e = EngineConfig::default();
        DeferSettings {
            horizon: e.defer_horizon,
            max_deferred: e.max_deferred,
            retry: e.defer_retry,
            short_form_above: e.short_form_above,
            caller_first_for: e.caller_first_for,
        }
    }
}

impl DeferSettings {
    /// Write these settings into `engine`.
    pub fn apply(&self, engine: &mut EngineConfig) {
        engine.defer_horizon = self.horizon;
        engine.max_deferred = self.max_deferred;
        engine.defer_retry = self.retry;
        engine.short_form_above = self.short_form_above;
        engine.caller_first_for = self.caller_first_for;
    }
}

impl Default for PolicySettings {
    fn default() -> Self {
        let d = AbuseConfig::default();
        PolicySettings {
            countries: None,
            kinds: None,
            origin_applies_to_voice: d.origin_applies_to_voice,
            recent_capacity: d.recent_capacity,
            blocklist_capacity: d.blocklist_capacity,
            lessons_per_minute: d.lessons_per_minute,
            pace_burst: d.pace_burst,
            pace_cap_span: d.pace_cap_span,
            prefix_flood: d.prefix_flood,
            flood: d.flood,
            copy_paste: d.copy_paste,
            burst: d.burst,
            defer: DeferSettings::default(),
        }
    }
}

/// The line types a file may name, with their names.
const KINDS: [NumberKind; 6] = [
    NumberKind::Mobile,
    NumberKind::FixedLine,
    NumberKind::FixedLineOrMobile,
    NumberKind::Voip,
    NumberKind::TollFree,
    NumberKind::Other,
];

impl PolicySettings {
    /// The allowed countries these settings name (`None`: the default, the number's own).
    pub fn allowed_countries(&self) -> Result<Option<AllowedCountries>, SettingsError> {
        let Some(list) = &self.countries else {
            return Ok(None);
        };
        if list.iter().any(|c| c.trim().eq_ignore_ascii_case("any")) {
            return Ok(Some(AllowedCountries::Any));
        }
        if list.is_empty() {
            return Err(bad(
                "countries",
                "an empty list allows nobody; leave it out (the number's own country) or name some",
            ));
        }
        let mut out = Vec::with_capacity(list.len());
        for (i, c) in list.iter().enumerate() {
            out.push(Region::new(c.trim()).map_err(|_| {
                bad(
                    &format!("countries[{i}]"),
                    format!("{c:?} is not a two-letter region code such as \"FR\", nor \"any\""),
                )
            })?);
        }
        Ok(Some(AllowedCountries::List(out)))
    }

    fn allowed_kinds(&self) -> Result<Option<Vec<NumberKind>>, SettingsError> {
        let Some(list) = &self.kinds else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(list.len());
        for (i, k) in list.iter().enumerate() {
            let kind = KINDS
                .into_iter()
                .find(|kind| kind.as_str().eq_ignore_ascii_case(k.trim()))
                .ok_or_else(|| {
                    let names: Vec<&str> = KINDS.iter().map(|kind| kind.as_str()).collect();
                    bad(
                        &format!("kinds[{i}]"),
                        format!(
                            "{k:?} is not a line type that can be allowed (one of {})",
                            names.join(", ")
                        ),
                    )
                })?;
            out.push(kind);
        }
        Ok(Some(out))
    }

    /// Check every value; the first problem, naming its key.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.allowed_countries()?;
        self.allowed_kinds()?;
        if self.recent_capacity == 0 {
            return Err(bad("recent_capacity", "must be at least 1"));
        }
        if self.blocklist_capacity == 0 {
            return Err(bad("blocklist_capacity", "must be at least 1"));
        }
        if self.lessons_per_minute == 0 {
            return Err(bad("lessons_per_minute", "must be at least 1"));
        }
        if self.pace_burst == 0 {
            return Err(bad("pace_burst", "must be at least 1"));
        }
        let p = &self.prefix_flood;
        if !(1..=12).contains(&p.block_digits) {
            return Err(bad("prefix_flood.block_digits", "must be within 1..=12"));
        }
        if !(2..=100).contains(&p.threshold) {
            return Err(bad(
                "prefix_flood.threshold",
                "must be within 2..=100 (the range a 64-bit linear counter estimates well)",
            ));
        }
        if p.window < Duration::from_secs(1) {
            return Err(bad("prefix_flood.window", "must be at least a second"));
        }
        if p.capacity == 0 {
            return Err(bad("prefix_flood.capacity", "must be at least 1"));
        }
        if !(p.normal_factor.is_finite() && p.normal_factor >= 0.0) {
            return Err(bad(
                "prefix_flood.normal_factor",
                "must be a finite number, at least 0 (0: the fixed threshold alone)",
            ));
        }
        let f = &self.flood;
        if f.bucket < Duration::from_secs(1) {
            return Err(bad("flood.bucket", "must be at least a second"));
        }
        if !(f.baseline_alpha > 0.0 && f.baseline_alpha <= 1.0) {
            return Err(bad("flood.baseline_alpha", "must be within (0, 1]"));
        }
        if !(f.surge_factor.is_finite() && f.surge_factor >= 1.0) {
            return Err(bad("flood.surge_factor", "must be at least 1"));
        }
        if !(f.flood_messages_per_sender.is_finite() && f.flood_messages_per_sender >= 1.0) {
            return Err(bad("flood.flood_messages_per_sender", "must be at least 1"));
        }
        if !(f.initial_baseline.is_finite() && f.initial_baseline >= 0.0) {
            return Err(bad("flood.initial_baseline", "must be at least 0"));
        }
        if f.max_numbers == 0 {
            return Err(bad("flood.max_numbers", "must be at least 1"));
        }
        let c = &self.copy_paste;
        if !(2..=100).contains(&c.threshold) {
            return Err(bad("copy_paste.threshold", "must be within 2..=100"));
        }
        if c.window < Duration::from_secs(1) {
            return Err(bad("copy_paste.window", "must be at least a second"));
        }
        if c.capacity == 0 {
            return Err(bad("copy_paste.capacity", "must be at least 1"));
        }
        let b = &self.burst;
        if !(2..=100).contains(&b.texts) {
            return Err(bad("burst.texts", "must be within 2..=100"));
        }
        if b.within < Duration::from_secs(1) {
            return Err(bad("burst.within", "must be at least a second"));
        }
        if b.window < Duration::from_secs(1) {
            return Err(bad("burst.window", "must be at least a second"));
        }
        if b.min_bursts < 2 {
            return Err(bad("burst.min_bursts", "must be at least 2"));
        }
        if !(1.0..=100.0).contains(&b.normal_factor) {
            return Err(bad("burst.normal_factor", "must be within 1..=100"));
        }
        if b.capacity == 0 {
            return Err(bad("burst.capacity", "must be at least 1"));
        }
        let d = &self.defer;
        if d.horizon.is_zero() {
            return Err(bad("defer.horizon", "must be longer than zero"));
        }
        if d.retry.is_zero() {
            return Err(bad("defer.retry", "must be longer than zero"));
        }
        if !(0.0..=1.0).contains(&d.short_form_above) {
            return Err(bad("defer.short_form_above", "must be within 0..=1"));
        }
        Ok(())
    }

    /// The checked [`AbuseConfig`], with the engine's `lesson_window` (one lesson per sender
    /// per window) and a random hash seed (set [`AbuseConfig::hash_seed`] afterwards for a
    /// reproducible run).
    pub fn into_config(&self, lesson_window: Duration) -> Result<AbuseConfig, SettingsError> {
        self.validate()?;
        let d = AbuseConfig::default();
        Ok(AbuseConfig {
            lesson_window,
            recent_capacity: self.recent_capacity,
            countries: self.allowed_countries()?.unwrap_or(d.countries),
            kinds: self.allowed_kinds()?,
            origin_applies_to_voice: self.origin_applies_to_voice,
            blocklist_capacity: self.blocklist_capacity,
            prefix_flood: self.prefix_flood,
            flood: self.flood,
            copy_paste: self.copy_paste,
            burst: self.burst,
            lessons_per_minute: self.lessons_per_minute,
            pace_burst: self.pace_burst,
            pace_cap_span: self.pace_cap_span,
            hash_seed: None,
        })
    }
}

/// With the default lesson window (30 days) and a random hash seed.
impl TryFrom<&PolicySettings> for AbuseConfig {
    type Error = SettingsError;

    fn try_from(s: &PolicySettings) -> Result<Self, Self::Error> {
        s.into_config(AbuseConfig::default().lesson_window)
    }
}

/// Serde support for a [`Duration`] written as a humantime string (`"10m"`, `"12h"`).
pub(crate) mod humantime_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim()).map_err(|e| {
            serde::de::Error::custom(format!(
                "{e} (expected a duration such as \"10m\", \"12h\" or \"90s\")"
            ))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<PolicySettings, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_settings_are_the_library_defaults() {
        let s = parse("{}").unwrap();
        assert_eq!(s, PolicySettings::default());
        let window = Duration::from_secs(7 * 86_400);
        let c = s.into_config(window).unwrap();
        assert_eq!(
            c,
            AbuseConfig {
                lesson_window: window,
                ..AbuseConfig::default()
            }
        );
    }

    #[test]
    fn every_nested_key_reaches_the_config() {
        let s = parse(
            r#"{"countries": ["fr", "BE"], "kinds": ["mobile", "voip"], "pace_cap_span": "0s",
                "prefix_flood": {"block_digits": 3, "window": "5m", "threshold": 30,
                                 "block_for": "1h", "capacity": 1024, "normal_factor": 8.0,
                                 "normal_min_blocks": 3,
                                 "renew_in_global_flood": true},
                "flood": {"bucket": "30s", "min_surge": 50, "budget_horizon": "2h",
                          "degraded_keep_one_in": 4, "flood_messages_per_sender": 2.5}}"#,
        )
        .unwrap();
        let c = s.into_config(Duration::from_secs(1)).unwrap();
        assert_eq!(
            c.countries,
            AllowedCountries::List(vec![Region::new("FR").unwrap(), Region::new("BE").unwrap()])
        );
        assert_eq!(c.kinds, Some(vec![NumberKind::Mobile, NumberKind::Voip]));
        assert_eq!(c.pace_cap_span, Duration::ZERO);
        assert_eq!(c.prefix_flood.block_digits, 3);
        assert_eq!(c.prefix_flood.window, Duration::from_secs(300));
        assert_eq!(c.prefix_flood.threshold, 30);
        assert_eq!(c.prefix_flood.block_for, Duration::from_secs(3600));
        assert_eq!(c.prefix_flood.capacity, 1024);
        assert_eq!(c.prefix_flood.normal_factor, 8.0);
        assert_eq!(c.prefix_flood.normal_min_blocks, 3);
        assert!(c.prefix_flood.renew_in_global_flood);
        assert_eq!(c.flood.bucket, Duration::from_secs(30));
        assert_eq!(c.flood.min_surge, 50);
        assert_eq!(c.flood.budget_horizon, Duration::from_secs(7200));
        assert_eq!(c.flood.degraded_keep_one_in, 4);
        assert_eq!(c.flood.flood_messages_per_sender, 2.5);
        assert_eq!(c.flood.calm_buckets, FloodConfig::default().calm_buckets);
        assert_eq!(
            parse(r#"{"countries": ["any"]}"#)
                .unwrap()
                .into_config(Duration::ZERO)
                .unwrap()
                .countries,
            AllowedCountries::Any
        );
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_refused() {
        let e = parse(r#"{"prefix_flood": {"treshold": 3}}"#).unwrap_err();
        assert!(e.contains("treshold"), "{e}");
        let e = parse(r#"{"lesson_per_minute": 3}"#).unwrap_err();
        assert!(e.contains("lesson_per_minute"), "{e}");
        let e = parse(r#"{"flood": {"bucket": "a minute"}}"#).unwrap_err();
        assert!(e.contains("expected a duration"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (json, key) in [
            (r#"{"countries": ["France"]}"#, "countries[0]"),
            (r#"{"countries": []}"#, "countries"),
            (r#"{"kinds": ["mobile", "premium_rate"]}"#, "kinds[1]"),
            (r#"{"lessons_per_minute": 0}"#, "lessons_per_minute"),
            (r#"{"pace_burst": 0}"#, "pace_burst"),
            (r#"{"recent_capacity": 0}"#, "recent_capacity"),
            (
                r#"{"prefix_flood": {"threshold": 1}}"#,
                "prefix_flood.threshold",
            ),
            (
                r#"{"prefix_flood": {"block_digits": 0}}"#,
                "prefix_flood.block_digits",
            ),
            (
                r#"{"prefix_flood": {"window": "10ms"}}"#,
                "prefix_flood.window",
            ),
            (
                r#"{"prefix_flood": {"normal_factor": -1.0}}"#,
                "prefix_flood.normal_factor",
            ),
            (r#"{"flood": {"bucket": "100ms"}}"#, "flood.bucket"),
            (
                r#"{"copy_paste": {"threshold": 1}}"#,
                "copy_paste.threshold",
            ),
            (r#"{"copy_paste": {"window": "0s"}}"#, "copy_paste.window"),
            (
                r#"{"flood": {"baseline_alpha": 0.0}}"#,
                "flood.baseline_alpha",
            ),
            (r#"{"flood": {"surge_factor": 0.5}}"#, "flood.surge_factor"),
            (
                r#"{"flood": {"flood_messages_per_sender": 0.5}}"#,
                "flood.flood_messages_per_sender",
            ),
        ] {
            let e = parse(json)
                .unwrap()
                .into_config(Duration::ZERO)
                .unwrap_err();
            assert_eq!(e.key, key, "{json}: {e}");
        }
    }

    #[test]
    fn every_valid_setting_builds_the_policies() {
        // What `validate` accepts, `DefaultPolicies::new` accepts: no second, unnamed error.
        let s = parse(
            r#"{"recent_capacity": 64, "prefix_flood": {"threshold": 2, "block_digits": 12,
                "window": "1s"}, "flood": {"bucket": "1s", "baseline_alpha": 1.0,
                "surge_factor": 1.0, "flood_messages_per_sender": 1.0, "initial_baseline": 0.0}}"#,
        )
        .unwrap();
        let c = s.into_config(Duration::ZERO).unwrap();
        assert!(crate::DefaultPolicies::new(None, &c).is_ok());
    }

    #[test]
    fn settings_round_trip_through_a_file() {
        let s = PolicySettings::default();
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains(r#""block_for":"12h""#), "{text}");
        assert_eq!(parse(&text).unwrap(), s);
    }
}
