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
    /// A reason of a policy that is not built in, with its own label (see [`PolicyReason`]).
    Policy(PolicyReason),
}

impl Reason {
    /// Every built-in reason, for statistics pages ([`Reason::Policy`] reasons are not listed:
    /// they are known only to the policies that report them).
    pub const ALL: [Reason; 17] = [
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
            Reason::Policy(p) => p.counter(),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Go on (to the next policy, then to scheduling).
    Allow,
    /// Do not spend on this contact, for this reason. For a call, the caller gets a reject.
    Deny(Reason),
}

impl Decision {
    /// Whether this is [`Decision::Allow`].
    pub fn is_allow(self) -> bool {
        matches!(self, Decision::Allow)
    }

    /// The reason of a denial.
    pub fn reason(self) -> Option<Reason> {
        match self {
            Decision::Allow => None,
            Decision::Deny(r) => Some(r),
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
}

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
