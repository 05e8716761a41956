//! The traffic models a scenario describes (`[legit]`, `[[raid]]`, `[spoofed]`, `[[pumping]]`):
//! plain data, read from TOML, that [`traffic`](crate::traffic) turns into contacts.

use serde::{Deserialize, Serialize};

/// `[legit]`: men who were given the number and text it (some call first).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegitModel {
    /// Senders spread over the whole window, following the daily rhythm.
    #[serde(default)]
    pub senders: u32,
    /// Share of senders who text more than once (`0.15`).
    #[serde(default)]
    pub repeat_share: f64,
    /// Most texts one repeating sender sends (at least 2). Default 3.
    #[serde(default = "default_max_texts")]
    pub max_texts: u32,
    /// Share of senders who call first to check the number, then text.
    #[serde(default)]
    pub call_first_share: f64,
    /// Relative weight of each local hour of the day (24 numbers). Default: quiet nights,
    /// busy evenings.
    #[serde(default = "default_rhythm")]
    pub rhythm: Vec<f64>,
    /// Media spikes: extra senders arriving after a press article or a broadcast.
    #[serde(default)]
    pub spike: Vec<SpikeModel>,
}

impl Default for LegitModel {
    fn default() -> Self {
        LegitModel {
            senders: 0,
            repeat_share: 0.0,
            max_texts: default_max_texts(),
            call_first_share: 0.0,
            rhythm: default_rhythm(),
            spike: Vec::new(),
        }
    }
}

fn default_max_texts() -> u32 {
    3
}

/// Relative traffic per local hour: night trough, evening peak.
pub fn default_rhythm() -> Vec<f64> {
    vec![
        0.35, 0.2, 0.1, 0.06, 0.05, 0.06, 0.15, 0.35, 0.55, 0.65, 0.7, 0.75, 0.85, 0.8, 0.75, 0.8,
        0.9, 1.0, 1.1, 1.2, 1.3, 1.25, 1.0, 0.65,
    ]
}

/// `[[legit.spike]]`: a media surge of legitimate senders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpikeModel {
    /// When the article or broadcast comes out, in hours from the start.
    pub at_hour: f64,
    /// How many extra senders it brings.
    pub senders: u32,
    /// Interest halves every this many hours after it (exponential decay).
    #[serde(default = "default_half_life")]
    pub half_life_hours: f64,
}

fn default_half_life() -> f64 {
    2.0
}

/// `[[raid]]`: a coordinated raid from a forum: a few hundred numbers, each sending many texts
/// in bursts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaidModel {
    /// Start, in hours from the scenario's start.
    pub start_hour: f64,
    /// Length, in hours.
    pub duration_hours: f64,
    /// Distinct raiding numbers (French mobiles).
    pub numbers: u32,
    /// Texts per number, on average (each number sends between half and one and a half times
    /// this).
    pub texts_per_number: u32,
    /// Texts per burst. Default 20.
    #[serde(default = "default_burst")]
    pub burst_size: u32,
    /// Seconds between two texts of a burst, at most. Default 6.
    #[serde(default = "default_burst_gap")]
    pub burst_gap_seconds: f64,
    /// The texts the raiders copy-paste: each raid text is one of these, drawn at random.
    /// Empty (default): every raid text is its own (typed by hand, or varied by a script).
    #[serde(default)]
    pub bodies: Vec<String>,
    /// Calls each raiding number makes, spread over the raid's window (answered calls are billed
    /// per started minute at `prices.inbound_call_eur_per_minute`). Default 0.
    #[serde(default)]
    pub calls_per_number: u32,
}

fn default_burst() -> u32 {
    20
}
fn default_burst_gap() -> f64 {
    6.0
}

/// `[spoofed]`: a flood of spoofed senders (random real-looking mobile numbers, innocent third
/// parties), each sending once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoofedModel {
    /// Start, in hours from the scenario's start.
    pub start_hour: f64,
    /// Length, in hours.
    pub duration_hours: f64,
    /// Distinct senders (each sends one text).
    pub senders: u32,
    /// Ranges the spoofed numbers are drawn from: each is a prefix plus `suffix_digits` random
    /// digits; numbers libphonenumber does not call valid are drawn again. Default
    /// `["+336", "+337"]` (French mobiles).
    #[serde(default = "default_fr_mobile")]
    pub prefixes: Vec<String>,
    /// Random digits after the prefix. Default 8.
    #[serde(default = "default_suffix")]
    pub suffix_digits: u32,
    /// The texts the flood sends, drawn at random. Empty (default): every text is its own.
    #[serde(default)]
    pub bodies: Vec<String>,
}

fn default_fr_mobile() -> Vec<String> {
    vec!["+336".into(), "+337".into()]
}
fn default_suffix() -> u32 {
    8
}

/// `[[pumping]]`: SMS pumping from a block of consecutive numbers in a premium-rate or foreign
/// range: each reply earns the range's owner a share of the termination fee.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PumpingModel {
    /// The block's prefix, E.164 with `+` (`"+3389912"`, `"+2348035"`). Generated numbers are
    /// this prefix plus `suffix_digits` digits, consecutive from a random start; invalid ones
    /// (per libphonenumber) are skipped.
    pub prefix: String,
    /// Digits after the prefix.
    pub suffix_digits: u32,
    /// How many numbers of the block send.
    pub senders: u32,
    /// Texts per number.
    #[serde(default = "one")]
    pub texts_each: u32,
    /// Start, in hours from the scenario's start.
    pub start_hour: f64,
    /// Length, in hours.
    pub duration_hours: f64,
    /// The texts the block sends, drawn at random. Empty (default): every text is its own.
    #[serde(default)]
    pub bodies: Vec<String>,
}

fn one() -> u32 {
    1
}
