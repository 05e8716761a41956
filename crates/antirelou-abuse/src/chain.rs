//! [`PolicyChain`]: policies in order, first denial wins (over any deferral), every decision
//! counted by reason.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason, TextFingerprint};
use antirelou_core::runtime::SpendUpdate;

use crate::DefaultPolicies;
use crate::util::{STRIPES, stripe};

/// Something that wants to see the chain's final decision on each checked contact (not on
/// rechecks). [`RecentSenders`](crate::RecentSenders) remembers allowed senders this way;
/// [`FloodDetector`](crate::FloodDetector) counts the repeats that an earlier policy denied.
pub trait ChainObserver: Send + Sync + fmt::Debug {
    /// The chain decided `decision` on `contact`.
    fn observe(&self, contact: &Contact, decision: Decision);
}

/// A policy whose state for a contact lives in a large table: `prefetch` reads that memory
/// before the chain runs, so that the cache misses of every such policy overlap instead of
/// adding up (one memory latency per decision instead of one per policy).
pub trait Prefetch: Send + Sync + fmt::Debug {
    /// Load the memory `check` will read for `contact`; the value returned is ignored.
    fn prefetch(&self, contact: &Contact) -> u64;
}

/// One slot per built-in reason plus one for every [`Reason::Policy`] together
/// ([`Reason::POLICY_INDEX`]).
const REASONS: usize = Reason::ALL.len() + 1;
/// Denials by reason, then deferrals by reason, then allowances.
const SLOTS: usize = 2 * REASONS + 1;
const ALLOWED: usize = SLOTS - 1;

#[derive(Debug)]
#[repr(align(128))]
struct Counts([AtomicU64; SLOTS]);

#[inline]
fn slot(decision: Decision) -> usize {
    match decision {
        Decision::Allow => ALLOWED,
        Decision::Deny(r) => r.index(),
        Decision::Defer(r) => REASONS + r.index(),
    }
}

/// Policies applied in order: the first denial wins and the rest are not asked. A deferral does
/// not stop the chain: the policies after it are still asked, and a denial among them wins over
/// it ([`Decision::and`]); otherwise the first deferral is the verdict. Every decision of
/// [`check`](AbusePolicy::check) and every denial or deferral of
/// [`recheck`](AbusePolicy::recheck) is counted by reason, in per-thread stripes (no shared
/// cache line on the hot path).
///
/// ```
/// use antirelou_abuse::{PolicyChain, GlobalPace};
/// use antirelou_core::policy::{AbusePolicy, AllowAll, Contact, Decision, Reason};
/// use antirelou_core::{NumberKind, Timestamp, event::Channel};
/// use std::sync::Arc;
///
/// let chain = PolicyChain::new().then(Arc::new(AllowAll)).then(Arc::new(GlobalPace::new(1, 1).unwrap()));
/// let c = Contact {
///     sender_key: 33_612_345_678, sender_calling_code: 33, sender_region: None,
///     sender_kind: NumberKind::Mobile, number_key: 1, number_region: None,
///     channel: Channel::Sms, at: Timestamp::from_secs(100),
/// };
/// assert!(chain.check(&c).is_allow());
/// // The pace defers (pressure), it does not refuse.
/// assert_eq!(chain.check(&c), Decision::Defer(Reason::GlobalPace));
/// assert_eq!(chain.allowed(), 1);
/// assert_eq!(chain.deferred(Reason::GlobalPace), 1);
/// ```
pub struct PolicyChain {
    stages: Vec<Arc<dyn AbusePolicy>>,
    observers: Vec<Arc<dyn ChainObserver>>,
    prefetchers: Vec<Arc<dyn Prefetch>>,
    /// The default chain's policies when this chain is exactly [`DefaultPolicies::chain`] (the
    /// lists above then spell out the same policies): `check` calls them by their concrete
    /// types, one inlined function rather than ten indirect calls, since the default chain
    /// decides on every inbound text, floods included. Appending to the chain clears it.
    defaults: Option<DefaultPolicies>,
    counts: Box<[Counts]>,
}

impl fmt::Debug for PolicyChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyChain")
            .field("stages", &self.stages)
            .field("observers", &self.observers.len())
            .field("direct_calls", &self.defaults.is_some())
            .finish()
    }
}

impl Default for PolicyChain {
    fn default() -> Self {
        Self::new()
    }
}

impl PolicyChain {
    /// An empty chain (it allows everything).
    pub fn new() -> Self {
        PolicyChain {
            stages: Vec::new(),
            observers: Vec::new(),
            prefetchers: Vec::new(),
            defaults: None,
            counts: (0..STRIPES)
                .map(|_| Counts(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
        }
    }

    /// The default chain of `policies` (see [`DefaultPolicies::chain`]).
    pub(crate) fn of_defaults(p: DefaultPolicies) -> Self {
        let mut chain = PolicyChain::new()
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
        chain.defaults = Some(p);
        chain
    }

    /// Append a policy.
    pub fn then(mut self, policy: Arc<dyn AbusePolicy>) -> Self {
        self.defaults = None;
        self.stages.push(policy);
        self
    }

    /// Add an observer of final decisions.
    pub fn observe_with(mut self, observer: Arc<dyn ChainObserver>) -> Self {
        self.defaults = None;
        self.observers.push(observer);
        self
    }

    /// Add a prefetcher (see [`Prefetch`]).
    pub fn prefetch_with(mut self, prefetcher: Arc<dyn Prefetch>) -> Self {
        self.defaults = None;
        self.prefetchers.push(prefetcher);
        self
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// Whether the chain has no policy.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The decision of the listed policies, prefetchers first and observers last.
    fn check_listed(&self, contact: &Contact, text: Option<TextFingerprint>) -> Decision {
        if !self.prefetchers.is_empty() {
            let mut touched = 0;
            for p in &self.prefetchers {
                touched ^= p.prefetch(contact);
            }
            std::hint::black_box(touched);
        }
        let mut decision = Decision::Allow;
        for p in &self.stages {
            decision = decision.and(p.check_text(contact, text));
            if decision.is_deny() {
                break;
            }
        }
        for o in &self.observers {
            o.observe(contact, decision);
        }
        decision
    }

    #[inline]
    fn record(&self, decision: Decision) {
        self.counts[stripe()].0[slot(decision)].fetch_add(1, Ordering::Relaxed);
    }

    fn total(&self, i: usize) -> u64 {
        self.counts
            .iter()
            .map(|c| c.0[i].load(Ordering::Relaxed))
            .sum()
    }

    /// How many contacts `check` allowed.
    pub fn allowed(&self) -> u64 {
        self.total(ALLOWED)
    }

    /// How many decisions denied for `reason` (checks and rechecks). For a [`Reason::Policy`],
    /// the denials of every policy reason together: the engine's `drop.<label>` counters tell
    /// them apart.
    pub fn count(&self, reason: Reason) -> u64 {
        self.total(slot(Decision::Deny(reason)))
    }

    /// How many decisions deferred for `reason` (checks and rechecks).
    pub fn deferred(&self, reason: Reason) -> u64 {
        self.total(slot(Decision::Defer(reason)))
    }

    /// Denials for the reasons of policies that are not built in ([`Reason::Policy`]), all
    /// labels together (the engine's `drop.<label>` counters count each label).
    pub fn policy_denials(&self) -> u64 {
        self.total(Reason::POLICY_INDEX)
    }

    /// Denials by built-in reason, every one listed (zeros included), in [`Reason::ALL`] order;
    /// the policies' own reasons are in [`policy_denials`](Self::policy_denials).
    pub fn counts(&self) -> impl Iterator<Item = (Reason, u64)> + '_ {
        Reason::ALL
            .iter()
            .enumerate()
            .map(move |(i, r)| (*r, self.total(i)))
    }
}

/// The default chain's decision: the order of [`DefaultPolicies::chain`], each policy called by
/// its concrete type.
#[inline]
fn check_defaults(p: &DefaultPolicies, c: &Contact, text: Option<TextFingerprint>) -> Decision {
    std::hint::black_box(p.prefix_flood.prefetch(c) ^ p.burst.prefetch(c) ^ p.recent.prefetch(c));
    let mut decision = p.origin.check(c);
    if !decision.is_deny() {
        decision = decision.and(p.blocklist.check(c));
    }
    if !decision.is_deny() {
        decision = decision.and(p.prefix_flood.check(c));
    }
    if !decision.is_deny() {
        decision = decision.and(p.burst.check(c));
    }
    if !decision.is_deny() {
        decision = decision.and(p.recent.check(c));
    }
    if !decision.is_deny()
        && let Some(t) = text
    {
        decision = decision.and(p.copy_paste.check_text(c, Some(t)));
    }
    if !decision.is_deny() {
        decision = decision.and(p.flood.check(c));
    }
    // The pace spends its tokens only on contacts everyone else allowed (it never denies, so
    // skipping it after a deferral changes no verdict).
    if decision.is_allow() {
        decision = p.pace.check(c);
    }
    p.recent.observe(c, decision);
    p.flood.observe(c, decision);
    decision
}

impl AbusePolicy for PolicyChain {
    #[inline]
    fn check(&self, contact: &Contact) -> Decision {
        self.check_text(contact, None)
    }

    #[inline]
    fn check_text(&self, contact: &Contact, text: Option<TextFingerprint>) -> Decision {
        let decision = match &self.defaults {
            Some(p) => check_defaults(p, contact, text),
            None => self.check_listed(contact, text),
        };
        self.record(decision);
        decision
    }

    fn recheck(&self, contact: &Contact) -> Decision {
        let mut decision = Decision::Allow;
        for p in &self.stages {
            decision = decision.and(p.recheck(contact));
            if decision.is_deny() {
                break;
            }
        }
        if !decision.is_allow() {
            self.record(decision);
        }
        decision
    }

    /// The default chain tells its flood detector and its pace
    /// ([`DefaultPolicies::on_spend`]); a listed chain forwards to every stage.
    fn on_spend(&self, spend: &SpendUpdate) {
        match &self.defaults {
            Some(p) => p.on_spend(spend),
            None => self.stages.iter().for_each(|p| p.on_spend(spend)),
        }
    }

    fn defer_rank(&self, contact: &Contact, text: Option<TextFingerprint>) -> u8 {
        self.stages
            .iter()
            .map(|p| p.defer_rank(contact, text))
            .max()
            .unwrap_or(0)
    }
}
