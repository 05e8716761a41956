//! # antirelou-abuse
//!
//! The abuse policies of antirelou: each decides, synchronously and without allocating, whether
//! an inbound contact may cost money. Each is its own type implementing
//! [`AbusePolicy`](antirelou_core::policy::AbusePolicy), testable alone, and they compose into a
//! [`PolicyChain`] (first denial wins, every decision counted by [`Reason`]).
//!
//! | policy | denies (or, marked *defers*, holds back under pressure) | channels |
//! | --- | --- | --- |
//! | [`OriginRules`] | senders outside the allowed countries or line types (never premium rate, shared cost, short codes, unknown) | SMS (calls optional) |
//! | [`Blocklist`] | numbers and prefixes blocked by the operator, with expiry and hit counters | SMS and calls |
//! | [`PrefixFloodGuard`] | number blocks sending from many distinct senders at once (blocked 12 h, renewed while it goes on) | SMS and calls |
//! | [`BurstGuard`] | senders each sending a burst of texts (3 within 10 minutes) while far more senders than normal do the same: a raid by many numbers | SMS |
//! | [`RecentSenders`] | senders that surely got their lesson within the window (the durable store decides the rest) | SMS |
//! | [`CopyPasteGuard`] | the same text (a keyed fingerprint of it) from many distinct senders at once: a copy-paste raid | SMS |
//! | [`FloodDetector`] | *defers* new senders while the number is in degraded mode after a flood | SMS |
//! | [`GlobalPace`] | *defers* lessons beyond the global pace (GCRA): a backstop sized from the daily cap | SMS |
//!
//! # The default chain
//! [`default_chain`] (or [`DefaultPolicies`], which also hands out each policy for the operator
//! console and the engine) builds them **in that order**: cheap static rules first (origin,
//! blocklist), then the prefix flood guard (which must see repeats to renew its blocks) and
//! the burst guard (which must see repeats to count a sender's burst), then the repeat filter (so that repeats are denied as [`Reason::AlreadyTaught`] before they can
//! touch the copy-paste guard's counts, the flood detector's count of new senders or the
//! global pace), then the copy-paste guard (it judges texts given with
//! [`check_text`](antirelou_core::policy::AbusePolicy::check_text), as the engine does), the
//! flood detector, and the global pace last (it only spends its tokens on contacts everyone else
//! allowed). A denial anywhere wins over a deferral ([`Decision::and`](antirelou_core::policy::Decision::and)).
//!
//! # Exactness and memory
//! "One lesson per sender" is exact because the durable store's
//! [`SenderHistory::try_begin_lesson`](antirelou_core::store::SenderHistory::try_begin_lesson)
//! decides it; [`RecentSenders`] stores full keys and only denies the repeats it is sure of.
//! Every structure has a fixed size chosen at construction (about 47 MiB for the default
//! settings: 36.5 MiB for the repeat filter, 8 MiB for the prefix flood guard's table, 2 MiB
//! for the copy-paste guard's, 64 KiB for the burst guard's; `cargo run --release -p antirelou-benches --bin abuse_memory`
//! measured 47 MB after a flood of 10 million distinct senders before the copy-paste guard was
//! added, against 285 MB for `governor`'s keyed limiter), so a flood of millions of distinct
//! senders or texts cannot grow memory.
//!
//! Spend caps are not a policy: the store's
//! [`SpendLedger`](antirelou_core::store::SpendLedger) enforces them atomically.
//!
//! # Feeding the budget
//! The flood detector tells a viral day from a flood of one-text SIMs by money, and the global
//! pace is sized from the daily cap, so whoever runs the engine must tell the policies the
//! spend: run the engine under the core [runtime](antirelou_core::runtime), which calls
//! [`AbusePolicy::on_spend`](antirelou_core::policy::AbusePolicy::on_spend) every few seconds
//! with the ledger's spend and the lesson's real segment count. Without
//! it the flood detector has no budget limit and the pace stays at its floor (see the
//! [`budget`] module).
//!
//! Time always comes from [`Contact::at`](antirelou_core::policy::Contact), never from the wall
//! clock, so the policies run the same under a virtual clock.
//!
//! ```
//! use antirelou_abuse::{AbuseConfig, default_chain};
//! use antirelou_core::phone::Region;
//! use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason};
//! use antirelou_core::{NumberKind, PhoneNumber, Timestamp, event::Channel};
//!
//! let fr = Region::new("FR").unwrap();
//! let config = AbuseConfig { recent_capacity: 1 << 12, ..AbuseConfig::default() };
//! let chain = default_chain(Some(fr), &config).unwrap();
//! let sender = PhoneNumber::parse("+33612345678").unwrap();
//! let contact = Contact {
//!     sender_key: sender.key(), sender_calling_code: 33, sender_region: sender.region(),
//!     sender_kind: sender.kind(), number_key: 33_937_000_000, number_region: Some(fr),
//!     channel: Channel::Sms, at: Timestamp::from_secs(1_700_000_000),
//! };
//! assert_eq!(chain.check(&contact), Decision::Allow);
//! assert_eq!(chain.check(&contact), Decision::Deny(Reason::AlreadyTaught));
//! ```
#![deny(missing_docs)]

pub mod blocklist;
pub mod budget;
pub mod burst;
pub mod chain;
pub mod copy_paste;
pub mod flood;
pub mod origin;
pub mod pace;
pub mod prefix_flood;
pub mod recent;
pub mod settings;
mod util;

use std::sync::Arc;
use std::time::Duration;

use antirelou_core::NumberKind;
use antirelou_core::phone::Region;
use antirelou_core::policy::Reason;

pub use blocklist::{BlockEntry, BlockPattern, Blocklist};
pub use burst::{BurstConfig, BurstGuard};
pub use chain::{ChainObserver, PolicyChain, Prefetch};
pub use copy_paste::{CopyPasteConfig, CopyPasteGuard};
pub use flood::{FloodConfig, FloodDetector, FloodStatus};
pub use origin::{AllowedCountries, FORBIDDEN_KINDS, OriginRules};
pub use pace::GlobalPace;
pub use prefix_flood::{PrefixFloodConfig, PrefixFloodGuard};
pub use recent::RecentSenders;
pub use settings::{DeferSettings, PolicySettings, SettingsError};

/// Everything that can go wrong when configuring the policies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AbuseError {
    /// A blocklist pattern could not be parsed.
    #[error("invalid block pattern {input:?}: {reason}")]
    InvalidPattern {
        /// The input, masked.
        input: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// The blocklist is full of live entries.
    #[error("the blocklist is full ({capacity} entries); remove or let some expire")]
    BlocklistFull {
        /// Its capacity.
        capacity: usize,
    },
    /// A line type that can never be allowed (premium rate, shared cost, short code, unknown).
    #[error("number kind {0} can never be allowed: replies to it cost money or pump it")]
    ForbiddenKind(&'static str),
    /// A setting out of range.
    #[error("invalid abuse configuration: {0}")]
    InvalidConfig(&'static str),
}

impl From<AbuseError> for antirelou_core::Error {
    /// Every abuse error is a permanent configuration error.
    fn from(e: AbuseError) -> Self {
        antirelou_core::Error::Config(e.to_string())
    }
}

/// Mask any input that may hold a number down to its last four characters.
pub(crate) fn mask(s: &str) -> String {
    antirelou_core::phone::mask_digits(s)
}

/// Settings of the default chain. Every field has a documented default.
#[derive(Clone, Debug, PartialEq)]
pub struct AbuseConfig {
    /// One lesson per sender per this window (default 30 days).
    pub lesson_window: Duration,
    /// Slots of the in-memory repeat filter, about 9 bytes each with its filters (default 4 Mi:
    /// 36.5 MiB).
    pub recent_capacity: usize,
    /// Allowed sender countries (default: the number's own).
    pub countries: AllowedCountries,
    /// Allowed line types (default `None`: mobile only, plus "fixed line or mobile" in the North
    /// American plan).
    pub kinds: Option<Vec<NumberKind>>,
    /// Whether calls from a disallowed origin are rejected too (default false).
    pub origin_applies_to_voice: bool,
    /// Blocklist capacity in entries (default 2,048).
    pub blocklist_capacity: usize,
    /// Prefix flood settings.
    pub prefix_flood: PrefixFloodConfig,
    /// Flood detector settings.
    pub flood: FloodConfig,
    /// Copy-paste guard settings.
    pub copy_paste: CopyPasteConfig,
    /// Burst guard settings.
    pub burst: BurstConfig,
    /// Global pace: SMS lessons per minute, a floor (default 60). When the daily cap is known
    /// ([`DefaultPolicies::refresh_budget`]), the pace is raised to spend the cap in
    /// `pace_cap_span`.
    pub lessons_per_minute: u32,
    /// Global pace: burst at the floor rate (default 20). Once raised from the budget, the burst
    /// is a minute's worth.
    pub pace_burst: u32,
    /// The global pace, once it knows the daily cap, allows lessons worth the whole cap within
    /// this long, and no faster (default two hours; zero: the pace stays at its floor). The pace
    /// is a backstop against spending the day's money in minutes, never the limit of a
    /// legitimate surge: a paced-out sender gets no lesson at all.
    pub pace_cap_span: Duration,
    /// Seed of every policy's hashes (default `None`: a random seed per policy, so that an
    /// attacker cannot predict table positions). Set it only for reproducible runs (the
    /// simulator, tests): each policy derives its own seed from it.
    pub hash_seed: Option<u64>,
}

impl Default for AbuseConfig {
    fn default() -> Self {
        AbuseConfig {
            lesson_window: Duration::from_secs(30 * 86_400),
            recent_capacity: 1 << 22,
            countries: AllowedCountries::OwnRegion,
            kinds: None,
            origin_applies_to_voice: false,
            blocklist_capacity: 2048,
            prefix_flood: PrefixFloodConfig::default(),
            flood: FloodConfig::default(),
            copy_paste: CopyPasteConfig::default(),
            burst: BurstConfig::default(),
            lessons_per_minute: 60,
            pace_burst: 20,
            pace_cap_span: Duration::from_secs(2 * 3600),
            hash_seed: None,
        }
    }
}

/// The policies of the default chain, each shared, so that the engine and the operator console
/// can reach them (add to the blocklist, warm the repeat filter), and the budget feed
/// ([`on_spend`](Self::on_spend)).
#[derive(Debug, Clone)]
pub struct DefaultPolicies {
    /// Origin rules.
    pub origin: Arc<OriginRules>,
    /// Blocklist.
    pub blocklist: Arc<Blocklist>,
    /// Prefix flood guard.
    pub prefix_flood: Arc<PrefixFloodGuard>,
    /// Burst guard.
    pub burst: Arc<BurstGuard>,
    /// Repeat filter.
    pub recent: Arc<RecentSenders>,
    /// Copy-paste guard.
    pub copy_paste: Arc<CopyPasteGuard>,
    /// Flood detector.
    pub flood: Arc<FloodDetector>,
    /// Global pace.
    pub pace: Arc<GlobalPace>,
    pace_cap_span: Duration,
}

impl DefaultPolicies {
    /// Build every policy for a number of `region` (used for the default line types).
    pub fn new(region: Option<Region>, config: &AbuseConfig) -> Result<Self, AbuseError> {
        let mut origin = OriginRules::for_region(region)
            .with_countries(config.countries.clone())
            .with_voice(config.origin_applies_to_voice);
        if let Some(kinds) = &config.kinds {
            origin = origin.with_kinds(kinds)?;
        }
        Ok(DefaultPolicies {
            origin: Arc::new(origin),
            blocklist: Arc::new(Blocklist::with_capacity_and_seed(
                config.blocklist_capacity,
                config.hash_seed,
            )),
            prefix_flood: Arc::new(PrefixFloodGuard::with_seed(
                config.prefix_flood,
                config.hash_seed,
            )?),
            burst: Arc::new(BurstGuard::with_seed(config.burst, config.hash_seed)?),
            recent: Arc::new(RecentSenders::with_seed(
                config.recent_capacity,
                config.lesson_window,
                config.hash_seed,
            )),
            copy_paste: Arc::new(CopyPasteGuard::with_seed(
                config.copy_paste,
                config.hash_seed,
            )?),
            flood: Arc::new(FloodDetector::with_seed(config.flood, config.hash_seed)?),
            pace: Arc::new(GlobalPace::new(
                config.lessons_per_minute,
                config.pace_burst,
            )?),
            pace_cap_span: config.pace_cap_span,
        })
    }

    /// The chain, in the documented order: origin rules, blocklist, prefix flood guard, burst
    /// guard, repeat filter, copy-paste guard, flood detector, global pace; the repeat filter
    /// and the flood detector observe each final decision, and the prefix flood guard's, burst
    /// guard's and repeat filter's tables are read ahead ([`Prefetch`]). The policies are called by their concrete
    /// types (no indirect call per policy); appending to the chain
    /// ([`then`](PolicyChain::then) and friends) keeps the same policies in the same order.
    pub fn chain(&self) -> PolicyChain {
        PolicyChain::of_defaults(self.clone())
    }
}

/// The default chain for a number of `region`; see the [crate documentation](crate).
pub fn default_chain(
    region: Option<Region>,
    config: &AbuseConfig,
) -> Result<PolicyChain, AbuseError> {
    Ok(DefaultPolicies::new(region, config)?.chain())
}

/// Every reason the default chain may give on `check` (denials, and the deferrals
/// [`Reason::FloodDegraded`] and [`Reason::GlobalPace`]).
pub const DEFAULT_CHAIN_REASONS: [Reason; 9] = [
    Reason::OriginCountry,
    Reason::OriginKind,
    Reason::Blocklisted,
    Reason::PrefixFlood,
    Reason::BurstRaid,
    Reason::AlreadyTaught,
    Reason::CopyPaste,
    Reason::FloodDegraded,
    Reason::GlobalPace,
];
