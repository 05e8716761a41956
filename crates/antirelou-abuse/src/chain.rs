//! [`PolicyChain`]: policies in order, first denial wins, every decision counted by reason.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason};

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

const SLOTS: usize = Reason::ALL.len() + 2;
const ALLOWED: usize = SLOTS - 1;
const OTHER: usize = SLOTS - 2;

#[derive(Debug)]
#[repr(align(128))]
struct Counts([AtomicU64; SLOTS]);

fn slot(decision: Decision) -> usize {
    match decision {
        Decision::Allow => ALLOWED,
        Decision::Deny(r) => Reason::ALL.iter().position(|x| *x == r).unwrap_or(OTHER),
    }
}

/// Policies applied in order: the first denial wins and the rest are not asked. Every decision
/// of [`check`](AbusePolicy::check) and every denial of [`recheck`](AbusePolicy::recheck) is
/// counted by reason, in per-thread stripes (no shared cache line on the hot path).
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
/// assert_eq!(chain.check(&c), Decision::Deny(Reason::GlobalPace));
/// assert_eq!(chain.allowed(), 1);
/// assert_eq!(chain.count(Reason::GlobalPace), 1);
/// ```
pub struct PolicyChain {
    stages: Vec<Arc<dyn AbusePolicy>>,
    observers: Vec<Arc<dyn ChainObserver>>,
    prefetchers: Vec<Arc<dyn Prefetch>>,
    counts: Box<[Counts]>,
}

impl fmt::Debug for PolicyChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyChain")
            .field("stages", &self.stages)
            .field("observers", &self.observers.len())
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
            counts: (0..STRIPES)
                .map(|_| Counts(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
        }
    }

    /// Append a policy.
    pub fn then(mut self, policy: Arc<dyn AbusePolicy>) -> Self {
        self.stages.push(policy);
        self
    }

    /// Add an observer of final decisions.
    pub fn observe_with(mut self, observer: Arc<dyn ChainObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Add a prefetcher (see [`Prefetch`]).
    pub fn prefetch_with(mut self, prefetcher: Arc<dyn Prefetch>) -> Self {
        self.prefetchers.push(prefetcher);
        self
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// Whether the chain has no policy.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
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

    /// How many decisions denied for `reason` (checks and rechecks).
    pub fn count(&self, reason: Reason) -> u64 {
        self.total(slot(Decision::Deny(reason)))
    }

    /// Denials by reason, every reason listed (zeros included), in [`Reason::ALL`] order.
    pub fn counts(&self) -> impl Iterator<Item = (Reason, u64)> + '_ {
        Reason::ALL
            .iter()
            .enumerate()
            .map(move |(i, r)| (*r, self.total(i)))
    }
}

impl AbusePolicy for PolicyChain {
    #[inline]
    fn check(&self, contact: &Contact) -> Decision {
        if !self.prefetchers.is_empty() {
            let mut touched = 0;
            for p in &self.prefetchers {
                touched ^= p.prefetch(contact);
            }
            std::hint::black_box(touched);
        }
        let mut decision = Decision::Allow;
        for p in &self.stages {
            decision = p.check(contact);
            if !decision.is_allow() {
                break;
            }
        }
        for o in &self.observers {
            o.observe(contact, decision);
        }
        self.record(decision);
        decision
    }

    fn recheck(&self, contact: &Contact) -> Decision {
        for p in &self.stages {
            let d = p.recheck(contact);
            if !d.is_allow() {
                self.record(d);
                return d;
            }
        }
        Decision::Allow
    }
}
