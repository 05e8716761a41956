//! Deferred lessons: "not now, not refused", held in the ordinary reply queue.
//!
//! A lesson is deferred when the abuse policy answers [`Decision::Defer`](crate::policy::Decision::Defer)
//! (at admission or at send time) or when a spend cap has no room for it. It stays a pending reply
//! in the store, due again later, with no new store method nor column:
//!
//! * **Deadline.** Any lesson may be deferred at send time, so every lesson is stored with the
//!   later of `due + reply_deadline` and `received + defer_horizon` as its deadline
//!   ([`lesson_deadline`]). A lesson that would be deferred to an instant at or past it is
//!   dropped at once, counted `drop.deferred_too_long`, and its sender's slot given back (one the
//!   dispatcher did not get to in time is expired in bulk, counted `drop.expired`).
//! * **Priority, durable.** The lesson's rank (0 first, [`MAX_DEFER_RANK`] last) is decided at
//!   admission and written into the milliseconds of its deadline: the deadline is rounded down to
//!   the second, plus the rank in milliseconds ([`rank_of`]). A deferred lesson is due again on a
//!   grid instant (the start of the next budget period, or the next multiple of
//!   [`EngineConfig::defer_retry`](super::EngineConfig::defer_retry)) plus its rank in seconds
//!   ([`release_at`]); stores claim in due order, so when the pressure lifts the lessons of rank 0
//!   are claimed (and take the budget) before those of rank 1, and so on.
//! * **Bound.** [`DeferredLessons`] counts the lessons this process holds deferred, at most
//!   [`EngineConfig::max_deferred`](super::EngineConfig::max_deferred). The count is **per
//!   process** and in memory: several processes sharing a store hold up to that many each, and
//!   after a restart the count starts empty and relearns the lessons as it defers them again.
//! * **A full bound keeps the best ranks.** When it is full, a lesson of a strictly better rank
//!   than the worst held takes that one's place (the worst rank, and among those the latest
//!   deadline). The displaced lesson stays pending in the store until its next release: if the
//!   pressure has lifted it is sent then; if it must wait again it asks for a place like a
//!   newcomer, and with none free for its rank it is cancelled, counted `drop.defer_limit`. So
//!   the store may hold, besides the bound, the lessons displaced since their last release
//!   (at it each is sent, held again if a place is free for its rank, or cancelled). A lesson of equal or worse rank than every held one is refused at once,
//!   as before: a full bound never reorders lessons of one rank.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::clock::Timestamp;
use crate::policy::MAX_DEFER_RANK;
use crate::store::ReplyId;

/// The stored deadline of a lesson received at `received` and due at `due`: the later of
/// `due + reply_deadline` and `received + defer_horizon`, rounded down to the second, plus
/// `rank` milliseconds (clamped to [`MAX_DEFER_RANK`]).
pub(crate) fn lesson_deadline(
    received: Timestamp,
    due: Timestamp,
    reply_deadline: Duration,
    defer_horizon: Duration,
    rank: u8,
) -> Timestamp {
    let latest = due.add(reply_deadline).max(received.add(defer_horizon));
    let ms = latest.as_millis();
    Timestamp::from_millis(ms - ms.rem_euclid(1000) + i64::from(rank.min(MAX_DEFER_RANK)))
}

/// The rank written into a lesson's deadline by [`lesson_deadline`].
pub(crate) fn rank_of(expires_at: Timestamp) -> u8 {
    u8::try_from(expires_at.as_millis().rem_euclid(1000))
        .unwrap_or(MAX_DEFER_RANK)
        .min(MAX_DEFER_RANK)
}

/// When a lesson of rank `rank` deferred from `base` (a grid instant) is due again: `rank`
/// seconds after it.
pub(crate) fn release_at(base: Timestamp, rank: u8) -> Timestamp {
    base.add(Duration::from_secs(u64::from(rank.min(MAX_DEFER_RANK))))
}

/// The first multiple of `step` strictly after `now` (the grid the policy deferrals share).
pub(crate) fn next_grid(now: Timestamp, step: Duration) -> Timestamp {
    let step = i64::try_from(step.as_millis()).unwrap_or(i64::MAX).max(1);
    let ms = now.as_millis();
    Timestamp::from_millis((ms.div_euclid(step) + 1).saturating_mul(step))
}

/// The lessons this process holds deferred, by reply, with their deadlines; at most `max`.
#[derive(Debug)]
pub(crate) struct DeferredLessons {
    held: Mutex<Held>,
    max: usize,
    /// Lessons displaced by better-ranked ones, not yet counted.
    displaced: AtomicU64,
}

#[derive(Debug, Default)]
struct Held {
    deadlines: HashMap<ReplyId, Timestamp>,
    /// The same lessons, earliest deadline first, so that pruning a full bound costs the
    /// lessons it forgets, not a scan of every lesson held.
    by_deadline: BTreeSet<(Timestamp, ReplyId)>,
    /// The same lessons, best rank first (then earliest deadline): the last is the one a
    /// better-ranked newcomer displaces.
    by_rank: BTreeSet<(u8, Timestamp, ReplyId)>,
    /// Places taken by admissions whose reply id is not known yet.
    reserved: usize,
}

impl Held {
    fn full(&self, max: usize) -> bool {
        self.deadlines.len() + self.reserved >= max
    }

    fn insert(&mut self, id: ReplyId, deadline: Timestamp) {
        if let Some(old) = self.deadlines.insert(id, deadline) {
            self.by_deadline.remove(&(old, id));
            self.by_rank.remove(&(rank_of(old), old, id));
        }
        self.by_deadline.insert((deadline, id));
        self.by_rank.insert((rank_of(deadline), deadline, id));
    }

    fn remove(&mut self, id: ReplyId) -> bool {
        match self.deadlines.remove(&id) {
            Some(d) => {
                self.by_deadline.remove(&(d, id));
                self.by_rank.remove(&(rank_of(d), d, id));
                true
            }
            None => false,
        }
    }

    /// Make room for a lesson of `rank` in a full bound: forget the lessons past their
    /// deadline, then, if still full, displace the worst-ranked held lesson when `rank` is
    /// strictly better. Whether there is room now, and the lesson displaced, if any.
    fn make_room(&mut self, max: usize, rank: u8, now: Timestamp) -> (bool, Option<ReplyId>) {
        if !self.full(max) {
            return (true, None);
        }
        self.prune(now);
        if !self.full(max) {
            return (true, None);
        }
        match self.by_rank.last() {
            Some(&(worst, _, id)) if worst > rank => {
                self.remove(id);
                (!self.full(max), Some(id))
            }
            _ => (false, None),
        }
    }

    /// Forget the lessons past their deadline (ended by the bulk expiry or an opt-out).
    fn prune(&mut self, now: Timestamp) {
        while let Some(&(d, id)) = self.by_deadline.first() {
            if d > now {
                break;
            }
            self.by_deadline.pop_first();
            self.deadlines.remove(&id);
            self.by_rank.remove(&(rank_of(d), d, id));
        }
    }
}

impl DeferredLessons {
    pub(crate) fn new(max: usize) -> Self {
        DeferredLessons {
            held: Mutex::new(Held::default()),
            max,
            displaced: AtomicU64::new(0),
        }
    }

    /// Take a place for a lesson of `rank` about to be stored (its id comes with
    /// [`Self::fill`]); false when `max` are held and none of them ranks worse.
    pub(crate) fn reserve(&self, rank: u8, now: Timestamp) -> bool {
        let mut h = self.held.lock();
        let (room, displaced) = h.make_room(self.max, rank, now);
        if displaced.is_some() {
            self.displaced.fetch_add(1, Ordering::Relaxed);
        }
        if room {
            h.reserved += 1;
        }
        room
    }

    /// Give back a place taken by [`Self::reserve`] (the lesson was not stored).
    pub(crate) fn unreserve(&self) {
        let mut h = self.held.lock();
        h.reserved = h.reserved.saturating_sub(1);
    }

    /// Turn a reserved place into the stored lesson `id`.
    pub(crate) fn fill(&self, id: ReplyId, deadline: Timestamp) {
        let mut h = self.held.lock();
        h.reserved = h.reserved.saturating_sub(1);
        h.insert(id, deadline);
    }

    /// Hold `id` (deferred at send time; its rank is the one written in `deadline`):
    /// `Some(true)` when newly held, `Some(false)` when it already was, `None` when `max` are
    /// held and none of them ranks worse.
    pub(crate) fn hold(&self, id: ReplyId, deadline: Timestamp, now: Timestamp) -> Option<bool> {
        let mut h = self.held.lock();
        if h.deadlines.contains_key(&id) {
            return Some(false);
        }
        let (room, displaced) = h.make_room(self.max, rank_of(deadline), now);
        if displaced.is_some() {
            self.displaced.fetch_add(1, Ordering::Relaxed);
        }
        if !room {
            return None;
        }
        h.insert(id, deadline);
        Some(true)
    }

    /// How many held lessons better-ranked newcomers displaced since the last call (each
    /// then waits in the store for its next release; see the module's notes).
    pub(crate) fn take_displaced(&self) -> u64 {
        self.displaced.swap(0, Ordering::Relaxed)
    }

    /// `id` is no longer deferred (sent, dropped or cancelled); whether it was held.
    pub(crate) fn release(&self, id: ReplyId) -> bool {
        self.held.lock().remove(id)
    }

    /// How many lessons are held (reserved places included).
    pub(crate) fn len(&self) -> usize {
        let h = self.held.lock();
        h.deadlines.len() + h.reserved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rank_survives_in_the_deadline() {
        let received = Timestamp::from_millis(1_700_000_000_123);
        let due = received.add(Duration::from_secs(3600));
        let day = Duration::from_secs(86_400);
        for rank in 0..=MAX_DEFER_RANK {
            let d = lesson_deadline(received, due, day, 3 * day, rank);
            assert_eq!(rank_of(d), rank);
            assert!(
                d <= received.add(3 * day) && d > received.add(3 * day - Duration::from_secs(1))
            );
        }
        // A horizon shorter than the ordinary deadline leaves the ordinary one.
        let d = lesson_deadline(received, due, day, Duration::from_secs(60), 0);
        assert!(d > due.add(day - Duration::from_secs(1)) && d <= due.add(day));
    }

    #[test]
    fn the_grid_is_shared_and_ranks_follow_it() {
        let step = Duration::from_secs(300);
        let a = next_grid(Timestamp::from_secs(1_000), step);
        let b = next_grid(Timestamp::from_secs(1_150), step);
        assert_eq!(a, b);
        assert_eq!(a, Timestamp::from_secs(1_200));
        assert!(release_at(a, 0) < release_at(a, 1));
    }

    #[test]
    fn pruning_forgets_exactly_the_lessons_past_their_deadline() {
        let d = DeferredLessons::new(100);
        let now = Timestamp::from_secs(0);
        // Deadlines out of id order; one lesson re-held with a later deadline is a new hold
        // only after its release.
        for id in 0..100u64 {
            let deadline = Timestamp::from_secs(1_000 + ((id * 37) % 100) as i64);
            assert_eq!(d.hold(id, deadline, now), Some(true));
        }
        assert!(d.release(5));
        assert!(!d.release(5));
        assert_eq!(d.hold(5, Timestamp::from_secs(5_000), now), Some(true));
        // Full: at 1,049 s the 50 lessons with deadlines 1,000..=1,049 s are forgotten (lesson 5,
        // re-held to 5,000 s, is kept), the others are not.
        assert_eq!(d.hold(100, Timestamp::from_secs(9_000), now), None);
        let at = Timestamp::from_secs(1_049);
        assert_eq!(d.hold(100, Timestamp::from_secs(9_000), at), Some(true));
        assert_eq!(d.len(), 51);
        for id in 0..100u64 {
            let past = id != 5 && 1_000 + (id * 37) % 100 <= 1_049;
            assert_eq!(d.release(id), !past, "lesson {id}");
        }
        assert!(d.release(100));
        assert_eq!(d.len(), 0);
    }

    #[test]
    fn the_bound_holds_and_frees_past_deadlines() {
        let d = DeferredLessons::new(2);
        let now = Timestamp::from_secs(10);
        assert_eq!(d.hold(1, Timestamp::from_secs(20), now), Some(true));
        assert_eq!(d.hold(1, Timestamp::from_secs(20), now), Some(false));
        assert!(d.reserve(0, now));
        assert_eq!(d.hold(2, Timestamp::from_secs(30), now), None);
        assert!(!d.reserve(0, now));
        d.fill(3, Timestamp::from_secs(40));
        assert_eq!(d.len(), 2);
        // Past the first deadline, its place is free again.
        assert_eq!(
            d.hold(2, Timestamp::from_secs(30), Timestamp::from_secs(25)),
            Some(true)
        );
        assert!(d.release(3));
        assert_eq!(d.len(), 1);
    }

    /// A deadline at `secs` carrying `rank`.
    fn at(secs: i64, rank: u8) -> Timestamp {
        Timestamp::from_millis(secs * 1000 + i64::from(rank))
    }

    #[test]
    fn a_full_bound_gives_the_worst_ranked_place_to_a_better_rank_only() {
        let d = DeferredLessons::new(3);
        let now = Timestamp::from_secs(10);
        assert_eq!(d.hold(1, at(100, 3), now), Some(true));
        assert_eq!(d.hold(2, at(200, 3), now), Some(true));
        assert_eq!(d.hold(3, at(150, 1), now), Some(true));
        // Equal or worse rank: refused, nothing displaced.
        assert_eq!(d.hold(4, at(300, 3), now), None);
        assert_eq!(d.take_displaced(), 0);
        // Better: the worst rank with the latest deadline (lesson 2) leaves.
        assert_eq!(d.hold(5, at(300, 2), now), Some(true));
        assert_eq!(d.take_displaced(), 1);
        assert!(!d.release(2));
        // A reservation displaces the same way: rank 3 (lesson 1) goes before rank 2 (lesson 5).
        assert!(d.reserve(1, now));
        assert!(!d.release(1));
        assert!(d.reserve(1, now));
        assert!(!d.release(5));
        assert_eq!(d.take_displaced(), 2);
        assert_eq!(d.len(), 3);
        // A held lesson of the rank asked for is not displaced by it.
        assert_eq!(d.hold(6, at(400, 1), now), None);
        // Rank 0 displaces the last held lesson; reserved places (no id yet) are never displaced.
        assert!(d.reserve(0, now));
        assert!(!d.release(3));
        assert_eq!(d.take_displaced(), 1);
        assert_eq!(d.hold(7, at(400, 0), now), None);
        // Displaced lesson 2 comes back: it asks like a newcomer and finds no worse rank.
        assert_eq!(d.hold(2, at(200, 3), now), None);
        assert_eq!(d.take_displaced(), 0);
        assert_eq!(d.len(), 3);
    }
}
