//! The abuse policy trait: decides, synchronously and without allocating, whether a contact may
//! cost us money.
//!
//! Implementations (one lesson per sender, origin rules, blocklist, prefix flood detection,
//! global pace, flood detector) live in the `antirelou-abuse` crate and compose into a chain.
//! Spend caps are not a policy: they are enforced atomically by the
//! [`SpendLedger`](crate::store::SpendLedger).

use std::fmt;

use crate::clock::Timestamp;
use crate::event::Channel;
use crate::phone::{NumberKind, Region};
use crate::spend::SpendUpdate;

mod reason;
pub use reason::PolicyReason;

/// Why a contact was not answered (or not answered by SMS). Every drop is counted under
/// [`Reason::counter`] (`drop.<label>`).
///
/// The built-in reasons are listed in [`Reason::ALL`]; a policy defined outside this workspace
/// reports its own with [`Reason::Policy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The sender opted out (STOP).
    OptedOut,
    /// The sender already got a lesson in the window.
    AlreadyTaught,
    /// A duplicate delivery of a webhook already handled.
    Duplicate,
    /// The sender's country is not allowed.
    OriginCountry,
    /// The sender's number type is not allowed (premium rate, landline, …).
    OriginKind,
    /// The sender is on the blocklist.
    Blocklisted,
    /// The sender's number block is flooding us.
    PrefixFlood,
    /// The global pace of lessons is exceeded.
    GlobalPace,
    /// The number is in degraded mode after a surge of new senders.
    FloodDegraded,
    /// A spend cap is reached.
    BudgetExhausted,
    /// The number is paused by its operator.
    NumberPaused,
    /// The number is retired.
    NumberRetired,
    /// The number called is not one of ours.
    UnknownNumber,
    /// The sender has no number we can text (withheld, short code, alphanumeric).
    NotDialable,
    /// The operator does not allow SMS lessons to callers.
    SmsToCallersDisabled,
    /// The reply could not be sent before its deadline.
    Expired,
    /// The text is a copy of one many distinct senders sent at once (a copy-paste raid),
    /// recognised from keyed fingerprints of the normalised texts.
    CopyPaste,
    /// A deferred lesson could not be sent before its horizon
    /// ([`EngineConfig::defer_horizon`](crate::engine::EngineConfig::defer_horizon)).
    DeferredTooLong,
    /// A lesson should have been deferred, but the engine already holds
    /// [`EngineConfig::max_deferred`](crate::engine::EngineConfig::max_deferred) deferred lessons.
    DeferLimit,
    /// The sender sent a burst of texts (several within minutes) while many distinct senders
    /// did the same at once: a raid by many numbers that each repeat, recognised from what the
    /// senders do together (one man's burst alone is never refused).
    BurstRaid,
    /// A reason of a policy that is not built in, with its own label (see [`PolicyReason`]).
    Policy(PolicyReason),
}

impl Reason {
    /// Every built-in reason, for statistics pages ([`Reason::Policy`] reasons are not listed:
    /// they are known only to the policies that report them).
    pub const ALL: [Reason; 20] = [
        Reason::OptedOut,
        Reason::AlreadyTaught,
        Reason::Duplicate,
        Reason::OriginCountry,
        Reason::OriginKind,
        Reason::Blocklisted,
        Reason::PrefixFlood,
        Reason::GlobalPace,
        Reason::FloodDegraded,
        Reason::BudgetExhausted,
        Reason::NumberPaused,
        Reason::NumberRetired,
        Reason::UnknownNumber,
        Reason::NotDialable,
        Reason::SmsToCallersDisabled,
        Reason::Expired,
        Reason::CopyPaste,
        Reason::DeferredTooLong,
        Reason::DeferLimit,
        Reason::BurstRaid,
    ];

    /// The [`Reason::index`] of every [`Reason::Policy`]: `Reason::ALL.len()`.
    pub const POLICY_INDEX: usize = Self::ALL.len();

    /// This reason's position in [`Reason::ALL`] (a table index for per-reason counters, with
    /// no search).
    ///
    /// ```
    /// use antirelou_core::policy::Reason;
    /// for (i, r) in Reason::ALL.iter().enumerate() {
    ///     assert_eq!(r.index(), i);
    /// }
    /// ```
    ///
    /// Every [`Reason::Policy`] has the index [`Reason::POLICY_INDEX`], one past the built-in
    /// ones: a table of `Reason::ALL.len() + 1` slots counts the built-in reasons one by one and
    /// the policies' own reasons together.
    #[inline]
    pub const fn index(self) -> usize {
        match self {
            Reason::OptedOut => 0,
            Reason::AlreadyTaught => 1,
            Reason::Duplicate => 2,
            Reason::OriginCountry => 3,
            Reason::OriginKind => 4,
            Reason::Blocklisted => 5,
            Reason::PrefixFlood => 6,
            Reason::GlobalPace => 7,
            Reason::FloodDegraded => 8,
            Reason::BudgetExhausted => 9,
            Reason::NumberPaused => 10,
            Reason::NumberRetired => 11,
            Reason::UnknownNumber => 12,
            Reason::NotDialable => 13,
            Reason::SmsToCallersDisabled => 14,
            Reason::Expired => 15,
            Reason::CopyPaste => 16,
            Reason::DeferredTooLong => 17,
            Reason::DeferLimit => 18,
            Reason::BurstRaid => 19,
            Reason::Policy(_) => Self::POLICY_INDEX,
        }
    }

    /// A stable snake_case label, used in counters (`drop.<label>`) and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::OptedOut => "opted_out",
            Reason::AlreadyTaught => "already_taught",
            Reason::Duplicate => "duplicate",
            Reason::OriginCountry => "origin_country",
            Reason::OriginKind => "origin_kind",
            Reason::Blocklisted => "blocklisted",
            Reason::PrefixFlood => "prefix_flood",
            Reason::GlobalPace => "global_pace",
            Reason::FloodDegraded => "flood_degraded",
            Reason::BudgetExhausted => "budget_exhausted",
            Reason::NumberPaused => "number_paused",
            Reason::NumberRetired => "number_retired",
            Reason::UnknownNumber => "unknown_number",
            Reason::NotDialable => "not_dialable",
            Reason::SmsToCallersDisabled => "sms_to_callers_disabled",
            Reason::Expired => "expired",
            Reason::CopyPaste => "copy_paste",
            Reason::DeferredTooLong => "deferred_too_long",
            Reason::DeferLimit => "defer_limit",
            Reason::BurstRaid => "burst_raid",
            Reason::Policy(p) => p.as_str(),
        }
    }

    /// The counter name of a drop for this reason: `drop.<label>`.
    pub const fn counter(self) -> &'static str {
        match self {
            Reason::OptedOut => "drop.opted_out",
            Reason::AlreadyTaught => "drop.already_taught",
            Reason::Duplicate => "drop.duplicate",
            Reason::OriginCountry => "drop.origin_country",
            Reason::OriginKind => "drop.origin_kind",
            Reason::Blocklisted => "drop.blocklisted",
            Reason::PrefixFlood => "drop.prefix_flood",
            Reason::GlobalPace => "drop.global_pace",
            Reason::FloodDegraded => "drop.flood_degraded",
            Reason::BudgetExhausted => "drop.budget_exhausted",
            Reason::NumberPaused => "drop.number_paused",
            Reason::NumberRetired => "drop.number_retired",
            Reason::UnknownNumber => "drop.unknown_number",
            Reason::NotDialable => "drop.not_dialable",
            Reason::SmsToCallersDisabled => "drop.sms_to_callers_disabled",
            Reason::Expired => "drop.expired",
            Reason::CopyPaste => "drop.copy_paste",
            Reason::DeferredTooLong => "drop.deferred_too_long",
            Reason::DeferLimit => "drop.defer_limit",
            Reason::BurstRaid => "drop.burst_raid",
            Reason::Policy(p) => p.counter(),
        }
    }

    /// The counter name of a lesson deferred for this reason: `deferred.<label>`.
    pub fn deferred_counter(self) -> &'static str {
        match self {
            Reason::GlobalPace => "deferred.global_pace",
            Reason::FloodDegraded => "deferred.flood_degraded",
            Reason::BudgetExhausted => "deferred.budget_exhausted",
            Reason::PrefixFlood => "deferred.prefix_flood",
            Reason::CopyPaste => "deferred.copy_paste",
            _ => "deferred.other",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy's verdict.
///
/// Composed in a chain, a [`Deny`](Decision::Deny) anywhere wins over a
/// [`Defer`](Decision::Defer), which wins over [`Allow`](Decision::Allow)
/// ([`Decision::and`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Go on (to the next policy, then to scheduling).
    Allow,
    /// Do not spend on this contact, for this reason. For a call, the caller gets a reject.
    Deny(Reason),
    /// Not now, not refused: the contact is under pressure (a flood, the pace, the budget), not
    /// judged bad. At admission the engine stores the SMS lesson as usual (the sender's lesson
    /// slot is taken) and counts it `deferred.<reason>`; at send time the dispatcher holds it back
    /// until the pressure lifts or its horizon passes. A call is answered as if allowed.
    Defer(Reason),
}

impl Decision {
    /// Whether this is [`Decision::Allow`].
    pub fn is_allow(self) -> bool {
        matches!(self, Decision::Allow)
    }

    /// Whether this is a [`Decision::Deny`].
    pub fn is_deny(self) -> bool {
        matches!(self, Decision::Deny(_))
    }

    /// The reason of a denial or a deferral.
    pub fn reason(self) -> Option<Reason> {
        match self {
            Decision::Allow => None,
            Decision::Deny(r) | Decision::Defer(r) => Some(r),
        }
    }

    /// The two verdicts composed: a denial wins over a deferral, a deferral over an allowance;
    /// between two of a kind, `self` (the earlier) wins.
    ///
    /// ```
    /// use antirelou_core::policy::{Decision, Reason};
    /// let defer = Decision::Defer(Reason::FloodDegraded);
    /// let deny = Decision::Deny(Reason::Blocklisted);
    /// assert_eq!(defer.and(deny), deny);
    /// assert_eq!(deny.and(defer), deny);
    /// assert_eq!(Decision::Allow.and(defer), defer);
    /// assert_eq!(defer.and(Decision::Defer(Reason::GlobalPace)), defer);
    /// ```
    #[inline]
    pub fn and(self, later: Decision) -> Decision {
        match (self, later) {
            (Decision::Deny(_), _) => self,
            (_, Decision::Deny(_)) => later,
            (Decision::Defer(_), _) => self,
            (Decision::Allow, _) => later,
        }
    }
}

/// What a policy sees of a contact: plain `Copy` data, no number in clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contact {
    /// The sender's compact key ([`PhoneNumber::key`](crate::PhoneNumber::key)).
    pub sender_key: u64,
    /// The sender's country calling code.
    pub sender_calling_code: u16,
    /// The sender's region, when known.
    pub sender_region: Option<Region>,
    /// The sender's line type.
    pub sender_kind: NumberKind,
    /// Our number's compact key.
    pub number_key: u64,
    /// Our number's region, when known.
    pub number_region: Option<Region>,
    /// Text or call.
    pub channel: Channel,
    /// When.
    pub at: Timestamp,
}

/// A keyed fingerprint of an inbound text's normalised body
/// ([`NumberHasher::text_fingerprint`](crate::privacy::NumberHasher::text_fingerprint)): equal
/// for two copies of one text, whatever their case, spacing, punctuation, digits or emoji, and
/// meaningless without the operator's secret. The text itself is never kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TextFingerprint {
    /// The keyed hash of the normalised text.
    pub hash: u64,
    /// How many letters the normalised text has (a short text such as "salut" is no
    /// evidence of a copy).
    pub letters: u32,
}

/// Decides whether a contact may cost us money.
///
/// # Contract
/// * `check` is called once per inbound contact, on the webhook's hot path: it must be
///   synchronous, must not block on I/O and should not allocate. It may update the policy's own
///   state (counting the contact).
/// * `recheck` is called at send time, an hour later, for a contact already counted: it must not
///   count it again. The default allows.
/// * A denial for [`Channel::Voice`] makes the engine reject the call; policies that only guard
///   SMS spend return [`Decision::Allow`] for voice.
/// * A [`Decision::Defer`] from `check` or `recheck` holds the SMS lesson back (see
///   [`Decision::Defer`]); policies return it for pressure (a flood, a pace), never for a sender
///   judged bad.
/// * `on_spend` tells the policy the money (see [`SpendUpdate`]); the default ignores it.
/// * `defer_rank` orders the deferred lessons when the pressure lifts; the default ranks every
///   contact 0 (first).
/// * Implementations are `Send + Sync`; they are shared by all requests.
pub trait AbusePolicy: Send + Sync + fmt::Debug {
    /// Decide on a new contact.
    fn check(&self, contact: &Contact) -> Decision;

    /// Decide again at send time, without counting.
    fn recheck(&self, contact: &Contact) -> Decision {
        let _ = contact;
        Decision::Allow
    }

    /// Decide on a new inbound text whose body has the fingerprint `text` (the engine calls
    /// this for texts instead of [`check`](Self::check), with the same contract). The default
    /// ignores the text.
    fn check_text(&self, contact: &Contact, text: Option<TextFingerprint>) -> Decision {
        let _ = text;
        self.check(contact)
    }

    /// Where a lesson to `contact` (a text with the fingerprint `text`, when known) would stand
    /// among deferred lessons when the pressure lifts, without counting: lower goes first. The
    /// engine asks it at admission, before [`check_text`](Self::check_text). A chain answers the
    /// highest rank of its policies. The default is 0.
    fn defer_rank(&self, contact: &Contact, text: Option<TextFingerprint>) -> u8 {
        let _ = (contact, text);
        0
    }

    /// Learn the money: the caps, the spend so far and the real cost of a lesson. The
    /// [runtime](crate::runtime) calls it periodically (never on the webhook's hot path); it
    /// must be cheap and must not block. The default does nothing.
    fn on_spend(&self, spend: &SpendUpdate) {
        let _ = spend;
    }
}

/// The highest [`AbusePolicy::defer_rank`] (the engine clamps higher answers to it).
pub const MAX_DEFER_RANK: u8 = 3;

impl<P: AbusePolicy + ?Sized> AbusePolicy for std::sync::Arc<P> {
    fn check(&self, contact: &Contact) -> Decision {
        (**self).check(contact)
    }
    fn recheck(&self, contact: &Contact) -> Decision {
        (**self).recheck(contact)
    }
    fn check_text(&self, contact: &Contact, text: Option<TextFingerprint>) -> Decision {
        (**self).check_text(contact, text)
    }
    fn defer_rank(&self, contact: &Contact, text: Option<TextFingerprint>) -> u8 {
        (**self).defer_rank(contact, text)
    }
    fn on_spend(&self, spend: &SpendUpdate) {
        (**self).on_spend(spend)
    }
}

/// A policy that allows everything: the `naive` behaviour of 2017, and a neutral element for
/// tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl AbusePolicy for AllowAll {
    fn check(&self, _: &Contact) -> Decision {
        Decision::Allow
    }
}
