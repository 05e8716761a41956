//! One lesson per sender under duplicates, races and restarts: the default chain in front of the
//! durable store's `try_begin_lesson` (the in-memory store here), as the engine uses them.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use antirelou_abuse::{AbuseConfig, DefaultPolicies, FloodConfig, PolicyChain};
use antirelou_core::event::Channel;
use antirelou_core::memory::InMemoryStore;
use antirelou_core::phone::Region;
use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason};
use antirelou_core::privacy::NumberHasher;
use antirelou_core::{PhoneNumber, Timestamp};
use parking_lot::Mutex;

const DAY_MS: i64 = 86_400_000;
const T0: i64 = 1_700_000_000_000;

fn config(recent_capacity: usize) -> AbuseConfig {
    AbuseConfig {
        recent_capacity,
        lessons_per_minute: 1_000_000,
        pace_burst: 1_000_000,
        // This test is about repeats, not floods.
        flood: FloodConfig {
            min_surge: 1_000_000,
            ..FloodConfig::default()
        },
        ..AbuseConfig::default()
    }
}

fn senders(n: u64) -> Vec<PhoneNumber> {
    // Spread over the French mobile range so that no number block looks like a prefix flood.
    (0..)
        .filter_map(|i: u64| {
            PhoneNumber::parse(&format!("+336{:08}", (i * 7_919_993) % 100_000_000)).ok()
        })
        .filter(|p| p.kind() == antirelou_core::NumberKind::Mobile)
        .take(n as usize)
        .collect()
}

struct Harness {
    store: Arc<InMemoryStore>,
    hasher: NumberHasher,
    number: PhoneNumber,
}

impl Harness {
    fn new() -> Self {
        Harness {
            store: Arc::new(InMemoryStore::new()),
            hasher: NumberHasher::new(b"a test secret of 32 bytes.......").unwrap(),
            number: PhoneNumber::parse("+33937000000").unwrap(),
        }
    }

    fn contact(&self, s: &PhoneNumber, at: i64) -> Contact {
        Contact {
            sender_key: s.key(),
            sender_calling_code: s.calling_code(),
            sender_region: s.region(),
            sender_kind: s.kind(),
            number_key: self.number.key(),
            number_region: self.number.region(),
            channel: Channel::Sms,
            at: Timestamp::from_millis(at),
        }
    }

    /// Send every sender `copies` texts concurrently (shuffled, on several threads); returns the
    /// lessons begun per sender and the chain's denial reasons.
    async fn burst(
        &self,
        policies: &DefaultPolicies,
        chain: &Arc<PolicyChain>,
        senders: &[PhoneNumber],
        copies: usize,
        at: i64,
    ) -> HashMap<u64, u32> {
        let lessons: Arc<Mutex<HashMap<u64, u32>>> = Arc::default();
        let mut contacts: Vec<&PhoneNumber> = senders
            .iter()
            .flat_map(|s| std::iter::repeat_n(s, copies))
            .collect();
        // A fixed shuffle: interleave the copies.
        let len = contacts.len();
        for i in 0..len {
            contacts.swap(i, (i * 7_919 + 13) % len);
        }
        let mut tasks = Vec::new();
        for (i, s) in contacts.into_iter().enumerate() {
            let contact = self.contact(s, at + (i as i64 % 50));
            let hash = self.hasher.hash(s);
            let (store, chain, recent, lessons) = (
                self.store.clone(),
                chain.clone(),
                policies.recent.clone(),
                lessons.clone(),
            );
            tasks.push(tokio::spawn(async move {
                match chain.check(&contact) {
                    // A deferred lesson is admitted like an allowed one (the engine holds it).
                    Decision::Allow | Decision::Defer(_) => {
                        if recent.begin_lesson(&*store, &hash, &contact).await.unwrap() {
                            *lessons.lock().entry(contact.sender_key).or_default() += 1;
                        }
                    }
                    // Many senders sending copies at once is also a burst raid for the burst
                    // guard: a repeat it refuses begins no lesson either.
                    Decision::Deny(Reason::AlreadyTaught | Reason::BurstRaid) => {}
                    other => panic!("unexpected {other:?}"),
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        Arc::try_unwrap(lessons).unwrap().into_inner()
    }
}

fn fr() -> Option<Region> {
    Region::new("FR").ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_lesson_per_sender_under_duplicates_races_and_restarts() {
    let h = Harness::new();
    let senders = senders(300);
    let policies = DefaultPolicies::new(fr(), &config(1 << 12)).unwrap();
    let chain = Arc::new(policies.chain());

    // Five duplicates of each, all at once.
    let lessons = h.burst(&policies, &chain, &senders, 5, T0).await;
    assert_eq!(lessons.len(), senders.len(), "every sender got a lesson");
    assert!(
        lessons.values().all(|&n| n == 1),
        "{:?}",
        lessons.values().filter(|&&n| n != 1).count()
    );
    assert!(
        chain.count(Reason::AlreadyTaught) > 0,
        "the in-memory filter short-cut repeats"
    );

    // Later the same day: nothing new.
    let again = h
        .burst(&policies, &chain, &senders, 2, T0 + 3_600_000)
        .await;
    assert!(again.is_empty());

    // Restart: a new chain over the same store. Memory is empty, the store still knows.
    let restarted = DefaultPolicies::new(fr(), &config(1 << 12)).unwrap();
    let chain2 = Arc::new(restarted.chain());
    let after_restart = h.burst(&restarted, &chain2, &senders, 3, T0 + DAY_MS).await;
    assert!(
        after_restart.is_empty(),
        "the durable store keeps the window across restarts"
    );
    // The store's answer warmed the new filter: repeats are short-cut again.
    // (Asked of the filter itself: 300 senders sending copies at once is also a burst raid,
    // which the burst guard, before the filter in the chain, refuses first.)
    let c = h.contact(&senders[0], T0 + DAY_MS + 1000);
    assert!(restarted.recent.contains(senders[0].key(), c.at));

    // After the window, exactly one lesson each again.
    let next_window = h
        .burst(&restarted, &chain2, &senders, 4, T0 + 31 * DAY_MS)
        .await;
    assert_eq!(next_window.len(), senders.len());
    assert!(next_window.values().all(|&n| n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_lesson_when_the_memory_filter_is_far_too_small() {
    // 64 slots for 1,000 senders: evicted senders fall back to the store, which stays exact.
    let h = Harness::new();
    let senders = senders(1_000);
    let policies = DefaultPolicies::new(fr(), &config(64)).unwrap();
    let chain = Arc::new(policies.chain());
    let lessons = h.burst(&policies, &chain, &senders, 3, T0).await;
    assert_eq!(lessons.len(), senders.len());
    assert!(lessons.values().all(|&n| n == 1));
    let again = h.burst(&policies, &chain, &senders, 1, T0 + DAY_MS).await;
    assert!(again.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_simultaneous_copies_give_one_lesson() {
    let h = Harness::new();
    let senders = senders(1);
    for round in 0..20 {
        let policies = DefaultPolicies::new(fr(), &config(1 << 10)).unwrap();
        let chain = Arc::new(policies.chain());
        let lessons = h
            .burst(&policies, &chain, &senders, 64, T0 + round * 31 * DAY_MS)
            .await;
        assert_eq!(lessons.get(&senders[0].key()), Some(&1), "round {round}");
    }
}

#[test]
fn windows_are_measured_from_the_contact_time_not_the_wall_clock() {
    let policies = DefaultPolicies::new(fr(), &config(1 << 10)).unwrap();
    let chain = policies.chain();
    let h = Harness::new();
    let s = &senders(1)[0];
    assert!(chain.check(&h.contact(s, T0)).is_allow());
    assert_eq!(
        chain.check(&h.contact(s, T0 + 29 * DAY_MS)),
        Decision::Deny(Reason::AlreadyTaught)
    );
    assert!(
        chain
            .check(&h.contact(s, T0 + 30 * DAY_MS + 3_600_000))
            .is_allow()
    );
    let _ = Duration::ZERO;
}

/// The repeat filter remembers a sender only when the **whole** chain allowed him: a sender the
/// global pace (or the flood detector) denied never got a lesson, so a later text of his must
/// reach the durable check and get one, not be denied as [`Reason::AlreadyTaught`].
#[tokio::test]
async fn a_sender_denied_after_the_repeat_filter_gets_his_lesson_later() {
    let h = Harness::new();
    let config = AbuseConfig {
        recent_capacity: 1 << 10,
        lessons_per_minute: 1,
        pace_burst: 1,
        flood: FloodConfig {
            min_surge: 1_000_000,
            ..FloodConfig::default()
        },
        ..AbuseConfig::default()
    };
    let policies = DefaultPolicies::new(fr(), &config).unwrap();
    let chain = policies.chain();
    let [first, second] = &senders(2)[..] else {
        panic!("two senders")
    };
    // The first sender takes the pace's only token; the second is paced out: deferred, not
    // refused, so his lesson is admitted and his slot taken like an allowed one.
    let c1 = h.contact(first, T0);
    assert_eq!(chain.check(&c1), Decision::Allow);
    assert!(
        policies
            .recent
            .begin_lesson(&*h.store, &h.hasher.hash(first), &c1)
            .await
            .unwrap()
    );
    let paced = h.contact(second, T0 + 1_000);
    assert_eq!(chain.check(&paced), Decision::Defer(Reason::GlobalPace));
    assert!(policies.recent.contains(second.key(), paced.at));
    assert!(
        policies
            .recent
            .begin_lesson(&*h.store, &h.hasher.hash(second), &paced)
            .await
            .unwrap()
    );
    // He texts again: already taught (his deferred lesson is waiting), not paced again.
    assert_eq!(
        chain.check(&h.contact(second, T0 + 30_000)),
        Decision::Deny(Reason::AlreadyTaught)
    );
    assert_eq!(chain.count(Reason::AlreadyTaught), 1);
    assert_eq!(chain.deferred(Reason::GlobalPace), 1);
    assert_eq!(chain.count(Reason::GlobalPace), 0);
}

/// The same for the flood detector: a new sender in degraded mode is deferred (his lesson
/// waits), remembered as taught, and a sender after the flood is taught at once.
#[test]
fn senders_deferred_in_degraded_mode_keep_their_slot() {
    let h = Harness::new();
    let config = AbuseConfig {
        recent_capacity: 1 << 12,
        lessons_per_minute: 1_000_000,
        pace_burst: 1_000_000,
        ..AbuseConfig::default()
    };
    let policies = DefaultPolicies::new(fr(), &config).unwrap();
    let chain = policies.chain();
    // A troll flood: 100 senders, 10 texts each within one minute.
    let trolls = senders(100);
    for round in 0..10 {
        for (i, s) in trolls.iter().enumerate() {
            chain.check(&h.contact(s, T0 + round * 5_000 + i as i64));
        }
    }
    assert!(policies.flood.status(h.number.key()).degraded);
    let man = PhoneNumber::parse("+33687654321").unwrap();
    assert_eq!(
        chain.check(&h.contact(&man, T0 + 70_000)),
        Decision::Defer(Reason::FloodDegraded)
    );
    // His lesson waits: a second text is a repeat.
    assert_eq!(
        chain.check(&h.contact(&man, T0 + 80_000)),
        Decision::Deny(Reason::AlreadyTaught)
    );
    // Ten quiet minutes later a new man is taught at once.
    let other = PhoneNumber::parse("+33687654322").unwrap();
    assert_eq!(
        chain.check(&h.contact(&other, T0 + 11 * 60_000)),
        Decision::Allow
    );
}
