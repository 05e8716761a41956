//! Scenarios: TOML files that describe a number, its prices, its funds and its traffic.
//!
//! Eleven are built in (embedded in the binary, so `replay paris-2017` works from any
//! directory); they are the adversary gallery ([`BUILTIN`]). Users write their own and pass the
//! file's path to `antirelou-sim replay`. Every parameter is documented on the field of the
//! struct it fills; the built-in files, in the crate's `scenarios/` folder, are commented
//! examples. Unknown keys are errors, so a typo does not silently fall back to a default.
//!
//! A minimal scenario:
//!
//! ```
//! use antirelou_sim::scenario::Scenario;
//! let s = Scenario::from_toml("mine", r#"
//!     name = "mine"
//!     start = "2024-03-01T08:00:00Z"
//!     duration_hours = 24
//!     [legit]
//!     senders = 200
//! "#).unwrap();
//! let traffic = s.generate(7).unwrap();
//! assert_eq!(traffic.senders_of(antirelou_sim::traffic::Actor::Legit), 200);
//! ```

use std::path::Path;

use std::time::Duration;

use antirelou_abuse::{AbuseConfig, DefaultPolicies, PolicySettings};
use antirelou_core::{Money, PhoneNumber, Timestamp};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::carrier::{FaultPlan, Outage, PriceOverride, Prices};
use crate::error::{Result, SimError};
pub use crate::model::{
    LegitModel, PumpingModel, RaidModel, SpikeModel, SpoofedModel, default_rhythm,
};
use crate::traffic::{self, Traffic, TrafficPlan};

/// The built-in scenarios: `(name, TOML text)`.
///
/// They are also the adversary gallery (`antirelou-sim gallery`), in this order: the 2017 raid as
/// sourced, then the raids the 2017 defences would not have recognised, then a legitimate surge
/// and a mix.
pub const BUILTIN: &[(&str, &str)] = &[
    ("paris-2017", include_str!("../scenarios/paris-2017.toml")),
    (
        "many-numbers",
        include_str!("../scenarios/many-numbers.toml"),
    ),
    (
        "slow-singles",
        include_str!("../scenarios/slow-singles.toml"),
    ),
    (
        "fast-singles",
        include_str!("../scenarios/fast-singles.toml"),
    ),
    (
        "spoofed-flood",
        include_str!("../scenarios/spoofed-flood.toml"),
    ),
    (
        "range-pumping",
        include_str!("../scenarios/range-pumping.toml"),
    ),
    ("sms-pumping", include_str!("../scenarios/sms-pumping.toml")),
    ("copy-paste", include_str!("../scenarios/copy-paste.toml")),
    ("callers", include_str!("../scenarios/callers.toml")),
    ("viral-day", include_str!("../scenarios/viral-day.toml")),
    ("mix", include_str!("../scenarios/mix.toml")),
];

/// A scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name (`paris-2017`).
    pub name: String,
    /// One paragraph: what this scenario shows and where its figures come from.
    #[serde(default)]
    pub description: String,
    /// Default seed of the random generators (`--seed` overrides it).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// First instant of the traffic, RFC 3339 (`2017-10-27T16:00:00Z`).
    pub start: String,
    /// Length of the traffic window, in hours. Replies still due after it are sent (the run goes
    /// on until the queue is empty or every reply expired).
    pub duration_hours: f64,
    /// Offset of the senders' local time from UTC, in hours, for the daily rhythm and the
    /// report's local times (`2` for Paris in summer time).
    #[serde(default)]
    pub utc_offset_hours: i32,
    /// A change of the local offset inside the window (summer time ending), if any.
    #[serde(default)]
    pub utc_offset_change: Option<OffsetChange>,
    /// The local time zone's name, for the report (`"Paris"`). Default: the offset itself.
    #[serde(default)]
    pub time_zone: String,
    /// Our number and how it is set up.
    #[serde(default)]
    pub number: NumberSection,
    /// What the carrier charges.
    #[serde(default)]
    pub prices: PriceSection,
    /// The money behind the number.
    #[serde(default)]
    pub budget: BudgetSection,
    /// Engine timing.
    #[serde(default)]
    pub engine: EngineSection,
    /// Tuning of the antirelou run's abuse policies: the keys and defaults of the reference
    /// server's `[abuse]` section ([`PolicySettings`], the one source of both), every key
    /// optional.
    #[serde(default)]
    pub abuse: PolicySettings,
    /// Provider faults.
    #[serde(default)]
    pub faults: FaultSection,
    /// Legitimate senders: men who were given the number.
    #[serde(default)]
    pub legit: LegitModel,
    /// Raids: a few hundred numbers each sending many texts in bursts.
    #[serde(default)]
    pub raid: Vec<RaidModel>,
    /// A flood of spoofed senders, each sending once.
    #[serde(default)]
    pub spoofed: Option<SpoofedModel>,
    /// SMS pumping: senders in premium-rate and foreign ranges.
    #[serde(default)]
    pub pumping: Vec<PumpingModel>,
    /// Published figures to compare the naive run with (the report prints both).
    #[serde(default)]
    pub published: Vec<PublishedFigure>,
    /// What the antirelou run should achieve here (the gallery checks it and says which it
    /// misses). Targets are not tuning: they change nothing in the run.
    #[serde(default)]
    pub targets: Targets,
}

/// `[targets]`: what the antirelou run should achieve in this scenario. Two targets hold in
/// every scenario and need no key: reply spend never above the daily cap on any day, and nobody
/// (legitimate or attacker) gets more than one lesson.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Least share of legitimate senders with exactly one lesson (`1.0`: all of them).
    pub legit_one_lesson: Option<f64>,
    /// Least share of legitimate senders with exactly one lesson at most 72 h later than
    /// intended.
    pub legit_within_72h: Option<f64>,
    /// Most the replies to attackers may cost, as a share of the naive run's.
    pub attack_reply_share: Option<f64>,
    /// Why these targets (can the attack be told apart from legitimate traffic, and by what).
    #[serde(default)]
    pub why: String,
}

/// `[[published]]`: a figure the press or the operators published, e.g. "17,400 texts cost over
/// €2,700". The report prints it beside the naive run's bill once that many texts were answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedFigure {
    /// Inbound texts received.
    pub texts: u64,
    /// The bill published for them, in euros.
    pub bill_eur: f64,
    /// How the source phrased it: `"about"`, `"over"`.
    #[serde(default = "default_about")]
    pub qualifier: String,
    /// Where it was published.
    #[serde(default)]
    pub source: String,
}

fn default_about() -> String {
    "about".into()
}

fn default_seed() -> u64 {
    1
}

/// `[utc_offset_change]`: the local clock moves (e.g. summer time ends) inside the window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffsetChange {
    /// The instant of the change, RFC 3339.
    pub at: String,
    /// The offset from UTC after it, in hours.
    pub utc_offset_hours: i32,
}

/// `[number]`: our number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberSection {
    /// Our number, E.164 (default `+33939990042`, a made-up French platform number; nothing is
    /// ever sent, the carrier is simulated).
    #[serde(default = "default_number")]
    pub e164: String,
    /// The locale of the lesson (`fr-FR`).
    #[serde(default = "default_locale")]
    pub locale: String,
    /// The SMS lesson. Defaults to the 2017 lesson (from the seed article), written in GSM-7 so
    /// it takes two segments, as in 2017.
    #[serde(default = "default_lesson")]
    pub lesson: String,
    /// The lesson's one-segment short form, sent under budget pressure (the antirelou run).
    /// Defaults to the built-in catalogue's short form for the number's locale.
    #[serde(default)]
    pub short_lesson: Option<String>,
    /// The neutral first reply, when the antirelou run sends one.
    #[serde(default = "default_neutral")]
    pub neutral_reply: String,
    /// Whether the antirelou run sends the neutral first reply at once (decoy mode).
    #[serde(default)]
    pub neutral_first_reply: bool,
}

impl Default for NumberSection {
    fn default() -> Self {
        NumberSection {
            e164: default_number(),
            locale: default_locale(),
            lesson: default_lesson(),
            short_lesson: None,
            neutral_reply: default_neutral(),
            neutral_first_reply: false,
        }
    }
}

fn default_number() -> String {
    "+33939990042".into()
}
fn default_locale() -> String {
    "fr-FR".into()
}
/// The lesson of the seed article, in GSM-7 (the typographic apostrophe replaced): 300 septets,
/// two segments.
pub const LESSON_2017: &str = "Oh, bonjour ! Si vous lisez ce message, c'est que vous avez mis une femme mal a l'aise. Avec vous, elle ne s'est pas sentie en securite, elle ne s'est pas sentie respectee. Apprenez s'il vous plait a accepter un non comme reponse. Respectez l'autonomie des femmes dans leurs actes et decisions. Merci.";
fn default_lesson() -> String {
    LESSON_2017.into()
}
fn default_neutral() -> String {
    "Coucou, c'est qui ?".into()
}

/// `[prices]`: what the carrier charges, in euros.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceSection {
    /// One inbound text. Default €0.0075 (2017).
    #[serde(default = "default_inbound")]
    pub inbound_sms_eur: f64,
    /// One outbound segment. Default €0.07627 (2017).
    #[serde(default = "default_segment")]
    pub outbound_segment_eur: f64,
    /// One minute of an answered inbound call. Default 0.
    #[serde(default)]
    pub inbound_call_eur_per_minute: f64,
    /// How long an answered call lasts, in seconds (the spoken lesson). Default 30.
    #[serde(default = "default_call_seconds")]
    pub call_seconds: u32,
    /// Outbound prices by destination prefix: `[[prices.outbound]] prefix = "+234",
    /// segment_eur = 0.30`.
    #[serde(default)]
    pub outbound: Vec<PriceOverrideSection>,
}

impl Default for PriceSection {
    fn default() -> Self {
        PriceSection {
            inbound_sms_eur: default_inbound(),
            outbound_segment_eur: default_segment(),
            inbound_call_eur_per_minute: 0.0,
            call_seconds: default_call_seconds(),
            outbound: Vec::new(),
        }
    }
}

fn default_inbound() -> f64 {
    0.0075
}
fn default_segment() -> f64 {
    0.07627
}
fn default_call_seconds() -> u32 {
    30
}

/// `[[prices.outbound]]`: the price of a segment to a destination prefix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceOverrideSection {
    /// E.164 prefix with its `+`.
    pub prefix: String,
    /// Price of one segment, in euros.
    pub segment_eur: f64,
}

/// `[budget]`: the money behind the number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSection {
    /// The funds on a prepaid carrier account: when the bill would pass them, the carrier
    /// suspends the number and refuses everything afterwards (both runs). `0` or absent:
    /// unlimited (the built-in scenarios set none, so that no limit clamps the naive bill).
    #[serde(default)]
    pub funds_eur: f64,
    /// The operators switch the number off themselves once the bill reaches this (both runs; in
    /// 2017 the founders did so when the crowdfunding was spent). The replay then also runs the
    /// naive policy without it, to show the bill nobody stopped. `0` or absent: never.
    #[serde(default)]
    pub operator_shutoff_eur: f64,
    /// The antirelou run's daily spend cap on replies (the engine's ledger). Default 20; `0`:
    /// none.
    #[serde(default = "default_daily_cap")]
    pub daily_cap_eur: f64,
    /// The antirelou run's monthly spend cap on replies. `0`: none.
    #[serde(default)]
    pub monthly_cap_eur: f64,
}

impl Default for BudgetSection {
    fn default() -> Self {
        BudgetSection {
            funds_eur: 0.0,
            operator_shutoff_eur: 0.0,
            daily_cap_eur: default_daily_cap(),
            monthly_cap_eur: 0.0,
        }
    }
}

fn default_daily_cap() -> f64 {
    20.0
}

impl BudgetSection {
    /// The funds, if limited.
    pub fn funds(&self) -> Option<Money> {
        positive(self.funds_eur)
    }

    /// The bill at which the operators switch the number off, if any.
    pub fn operator_shutoff(&self) -> Option<Money> {
        positive(self.operator_shutoff_eur)
    }
}

fn positive(eur: f64) -> Option<Money> {
    (eur > 0.0).then(|| Money::from_units_f64(eur))
}

/// `[engine]`: engine timing for the antirelou run (the naive run replies to every text after
/// the same delay).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// Delay before the lesson, in minutes. Default 60.
    #[serde(default = "default_delay")]
    pub reply_delay_minutes: f64,
    /// Random jitter added to the delay, in minutes. Default 10.
    #[serde(default = "default_jitter")]
    pub reply_jitter_minutes: f64,
    /// A reply not sent this long after its due time expires, in hours. Default 24.
    #[serde(default = "default_deadline")]
    pub reply_deadline_hours: f64,
    /// One lesson per sender in this window, in days (antirelou run). Default 365.
    #[serde(default = "default_window")]
    pub lesson_window_days: f64,
    /// How often the simulated dispatcher wakes up, in virtual seconds. Default 60.
    #[serde(default = "default_tick")]
    pub tick_seconds: u64,
}

impl Default for EngineSection {
    fn default() -> Self {
        EngineSection {
            reply_delay_minutes: default_delay(),
            reply_jitter_minutes: default_jitter(),
            reply_deadline_hours: default_deadline(),
            lesson_window_days: default_window(),
            tick_seconds: default_tick(),
        }
    }
}

fn default_delay() -> f64 {
    60.0
}
fn default_jitter() -> f64 {
    10.0
}
fn default_deadline() -> f64 {
    24.0
}
fn default_window() -> f64 {
    365.0
}
fn default_tick() -> u64 {
    60
}

/// `[faults]`: provider faults injected into the simulated carrier.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSection {
    /// Probability that a send fails transiently. Default 0.
    #[serde(default)]
    pub transient_error_rate: f64,
    /// At most this many sends per virtual second (429 beyond). `0`: no limit.
    #[serde(default)]
    pub rate_limit_per_second: u32,
    /// Outage windows.
    #[serde(default)]
    pub outage: Vec<OutageSection>,
}

/// `[[faults.outage]]`: the provider is down for a while.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageSection {
    /// Start, in hours from the scenario's start.
    pub start_hour: f64,
    /// Length, in minutes.
    pub minutes: f64,
}

fn is_prefix(p: &str) -> bool {
    p.strip_prefix('+')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

impl Scenario {
    /// Parse a scenario from TOML. `origin` names it in errors.
    pub fn from_toml(origin: &str, text: &str) -> Result<Self> {
        let s: Scenario =
            toml::from_str(text).map_err(|e| SimError::scenario(origin, e.to_string()))?;
        s.validate()?;
        Ok(s)
    }

    /// A built-in scenario by name.
    pub fn builtin(name: &str) -> Option<Result<Self>> {
        BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, t)| Scenario::from_toml(n, t))
    }

    /// A built-in scenario by name, or else a scenario file at that path.
    pub fn load(name_or_path: &str) -> Result<Self> {
        if let Some(s) = Scenario::builtin(name_or_path) {
            return s;
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            return Err(SimError::UnknownScenario(name_or_path.to_owned()));
        }
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Io {
            path: path.to_owned(),
            source,
        })?;
        Scenario::from_toml(name_or_path, &text)
    }

    /// Every built-in scenario, parsed.
    pub fn all_builtin() -> Result<Vec<Scenario>> {
        BUILTIN
            .iter()
            .map(|(n, t)| Scenario::from_toml(n, t))
            .collect()
    }

    fn validate(&self) -> Result<()> {
        let bad = |r: String| Err(SimError::scenario(&self.name, r));
        self.start_time()?;
        self.our_number()?;
        if let Some(c) = &self.utc_offset_change {
            DateTime::parse_from_rfc3339(&c.at).map_err(|e| {
                SimError::scenario(&self.name, format!("utc_offset_change.at {:?}: {e}", c.at))
            })?;
        }
        for (what, h) in std::iter::once(("utc_offset_hours", self.utc_offset_hours)).chain(
            self.utc_offset_change
                .as_ref()
                .map(|c| ("utc_offset_change.utc_offset_hours", c.utc_offset_hours)),
        ) {
            if !(-12..=14).contains(&h) {
                return bad(format!("{what} must be in -12..=14, not {h}"));
            }
        }
        if !(self.duration_hours > 0.0 && self.duration_hours <= 24.0 * 366.0) {
            return bad(format!(
                "duration_hours must be in (0, 8784], not {}",
                self.duration_hours
            ));
        }
        if self.legit.rhythm.len() != 24 || self.legit.rhythm.iter().any(|w| w.is_nan() || *w < 0.0)
        {
            return bad("legit.rhythm must be 24 non-negative weights".into());
        }
        if self.legit.rhythm.iter().all(|w| *w == 0.0) && self.legit.senders > 0 {
            return bad("legit.rhythm is all zero".into());
        }
        for (what, p) in [
            ("legit.repeat_share", self.legit.repeat_share),
            ("legit.call_first_share", self.legit.call_first_share),
            (
                "faults.transient_error_rate",
                self.faults.transient_error_rate,
            ),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{what} must be in [0, 1], not {p}"));
            }
        }
        for (what, v) in [
            ("prices.inbound_sms_eur", self.prices.inbound_sms_eur),
            (
                "prices.outbound_segment_eur",
                self.prices.outbound_segment_eur,
            ),
            (
                "prices.inbound_call_eur_per_minute",
                self.prices.inbound_call_eur_per_minute,
            ),
            ("budget.funds_eur", self.budget.funds_eur),
            (
                "budget.operator_shutoff_eur",
                self.budget.operator_shutoff_eur,
            ),
            ("budget.daily_cap_eur", self.budget.daily_cap_eur),
            ("budget.monthly_cap_eur", self.budget.monthly_cap_eur),
            (
                "engine.reply_delay_minutes",
                self.engine.reply_delay_minutes,
            ),
            (
                "engine.reply_jitter_minutes",
                self.engine.reply_jitter_minutes,
            ),
            (
                "engine.reply_deadline_hours",
                self.engine.reply_deadline_hours,
            ),
            ("engine.lesson_window_days", self.engine.lesson_window_days),
        ] {
            if !(v.is_finite() && (0.0..1e9).contains(&v)) {
                return bad(format!("{what} must be a non-negative number, not {v}"));
            }
        }
        // The abuse section: every setting the policies accept (on a tiny repeat filter).
        let abuse = self
            .abuse
            .into_config(Duration::ZERO)
            .map_err(|e| SimError::scenario(&self.name, format!("abuse.{e}")))?;
        if let Err(e) = DefaultPolicies::new(
            None,
            &AbuseConfig {
                recent_capacity: 8,
                ..abuse
            },
        ) {
            return bad(format!("[abuse]: {e}"));
        }
        if self.engine.tick_seconds == 0 {
            return bad("engine.tick_seconds must be at least 1".into());
        }
        for (i, r) in self.raid.iter().enumerate() {
            if r.duration_hours <= 0.0 || r.start_hour < 0.0 || r.burst_size == 0 {
                return bad(format!(
                    "raid[{i}]: start_hour >= 0, duration_hours > 0, burst_size > 0"
                ));
            }
        }
        if let Some(s) = &self.spoofed {
            if s.duration_hours <= 0.0 || s.start_hour < 0.0 {
                return bad("spoofed: start_hour >= 0 and duration_hours > 0".into());
            }
            if s.senders > 20_000_000 {
                return bad("spoofed.senders: at most 20,000,000".into());
            }
            if s.prefixes.is_empty()
                || !(1..=10).contains(&s.suffix_digits)
                || s.prefixes.iter().any(|p| !is_prefix(p))
            {
                return bad("spoofed: prefixes are + and digits, suffix_digits in 1..=10".into());
            }
        }
        for (i, p) in self.pumping.iter().enumerate() {
            if !is_prefix(&p.prefix) {
                return bad(format!("pumping[{i}].prefix must be + and digits"));
            }
            if !(1..=8).contains(&p.suffix_digits) || p.duration_hours <= 0.0 {
                return bad(format!(
                    "pumping[{i}]: suffix_digits in 1..=8, duration_hours > 0"
                ));
            }
        }
        for (i, o) in self.prices.outbound.iter().enumerate() {
            if !o.prefix.starts_with('+') || o.segment_eur.is_nan() || o.segment_eur < 0.0 {
                return bad(format!(
                    "prices.outbound[{i}]: prefix starts with +, price >= 0"
                ));
            }
        }
        Ok(())
    }

    /// The offset of local time from UTC at `t`, in seconds.
    pub fn utc_offset_secs_at(&self, t: Timestamp) -> i64 {
        let changed = self.utc_offset_change.as_ref().and_then(|c| {
            let at = DateTime::parse_from_rfc3339(&c.at).ok()?;
            (t.as_millis() >= at.timestamp_millis()).then_some(c.utc_offset_hours)
        });
        3600 * i64::from(changed.unwrap_or(self.utc_offset_hours))
    }

    /// `t` as local wall-clock time with its zone: `"Mon 30 Oct 20:14 (Paris, UTC+1)"`.
    pub fn local_label(&self, t: Timestamp) -> String {
        let off = self.utc_offset_secs_at(t);
        let local =
            DateTime::<Utc>::from_timestamp_millis(t.as_millis() + off * 1000).unwrap_or_default();
        format!(
            "{} ({})",
            local.format("%a %d %b %H:%M"),
            self.zone_label(off)
        )
    }

    /// The zone of an offset, for labels: `"Paris, UTC+1"`, or `"UTC+1"` when the scenario names
    /// no zone.
    pub fn zone_label(&self, offset_secs: i64) -> String {
        let h = offset_secs / 3600;
        let m = (offset_secs.abs() % 3600) / 60;
        let utc = match (h, m) {
            (0, 0) => "UTC".to_owned(),
            (_, 0) => format!("UTC{h:+}"),
            _ => format!("UTC{h:+}:{m:02}"),
        };
        if self.time_zone.is_empty() {
            utc
        } else {
            format!("{}, {utc}", self.time_zone)
        }
    }

    /// The first instant.
    pub fn start_time(&self) -> Result<Timestamp> {
        let dt = DateTime::parse_from_rfc3339(&self.start)
            .map_err(|e| SimError::scenario(&self.name, format!("start {:?}: {e}", self.start)))?;
        Ok(Timestamp::from_datetime(dt.with_timezone(&Utc)))
    }

    /// Our number.
    pub fn our_number(&self) -> Result<PhoneNumber> {
        PhoneNumber::parse(&self.number.e164)
            .map_err(|e| SimError::scenario(&self.name, format!("number.e164: {e}")))
    }

    /// The carrier's prices.
    pub fn carrier_prices(&self) -> Prices {
        let mut overrides: Vec<PriceOverride> = self
            .prices
            .outbound
            .iter()
            .map(|o| PriceOverride {
                prefix: o.prefix.clone(),
                per_segment: Money::from_units_f64(o.segment_eur),
            })
            .collect();
        overrides.sort_by_key(|o| std::cmp::Reverse(o.prefix.len()));
        Prices {
            inbound_sms: Money::from_units_f64(self.prices.inbound_sms_eur),
            outbound_segment: Money::from_units_f64(self.prices.outbound_segment_eur),
            inbound_call_per_minute: Money::from_units_f64(self.prices.inbound_call_eur_per_minute),
            overrides,
        }
    }

    /// The carrier's faults, seeded from `seed`.
    pub fn fault_plan(&self, seed: u64) -> Result<FaultPlan> {
        let start = self.start_time()?;
        Ok(FaultPlan {
            transient_error_rate: self.faults.transient_error_rate,
            rate_limit_per_second: (self.faults.rate_limit_per_second > 0)
                .then_some(self.faults.rate_limit_per_second),
            outages: self
                .faults
                .outage
                .iter()
                .map(|o| {
                    let s = start.add(traffic::hours(o.start_hour));
                    Outage {
                        start: s,
                        end: s.add(traffic::hours(o.minutes / 60.0)),
                    }
                })
                .collect(),
            seed: seed ^ 0xFA17,
        })
    }

    /// Generate the traffic for `seed`. Same scenario and seed, same traffic.
    pub fn generate(&self, seed: u64) -> Result<Traffic> {
        let offset = |t: Timestamp| self.utc_offset_secs_at(t);
        let plan = TrafficPlan {
            start: self.start_time()?,
            duration_hours: self.duration_hours,
            number: self.our_number()?,
            legit: &self.legit,
            raids: &self.raid,
            spoofed: self.spoofed.as_ref(),
            pumping: &self.pumping,
            utc_offset_secs_at: &offset,
        };
        traffic::generate(&plan, seed)
    }
}
