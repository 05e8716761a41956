//! Recent callers: "a sender who also called" goes first among deferred lessons.
//!
//! A man pressed for a number often calls it on the spot, hears the decoy greeting, and texts
//! later. A flood of texts (spoofed senders, one-text SIMs) does not call from each of its
//! numbers, so among lessons deferred together, the text of a sender who called
//! [`EngineConfig::caller_first_for`](super::EngineConfig::caller_first_for) before ranks first
//! (rank 0, as a caller's own lesson), whatever the policy ranks it.
//!
//! This is a priority, never an allowance: every policy still decides on the text, and the
//! spend caps still bound what goes out. A raid that calls from each of its numbers before
//! texting gets the same rank as the men who called, no better: it costs the number an answered
//! call each (the decoy greeting), and the calls are counted and judged as any other.
//!
//! The table is in memory and per process, of fixed size (`SLOTS` slots of 8 bytes: 512 KiB):
//! each slot keeps 32 bits of a caller's keyed hash and the second of his last call. A slot is
//! overwritten by the next caller that maps to it, so under a flood of calls a man's call may be
//! forgotten (his text then ranks as the policy says); after a restart, or when his call and his
//! text reach different processes, it is not known. A false match needs another caller of the
//! same slot with the same tag (32 bits of the hash, the lowest forced to 1: one in two
//! billion).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::Timestamp;
use crate::privacy::SenderHash;

/// Slots of the table (a power of two).
const SLOTS: usize = 1 << 16;

/// The callers this process saw lately; see the [module documentation](self).
#[derive(Debug)]
pub(crate) struct RecentCallers {
    slots: Box<[AtomicU64]>,
}

impl Default for RecentCallers {
    fn default() -> Self {
        RecentCallers {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn slot_and_tag(sender: &SenderHash) -> (usize, u64) {
    let h = sender.short();
    ((h as usize) & (SLOTS - 1), (h >> 32) | 1)
}

fn secs(at: Timestamp) -> u64 {
    u64::try_from(at.as_millis().max(0) / 1000)
        .unwrap_or(0)
        .min(u64::from(u32::MAX))
}

impl RecentCallers {
    /// `sender` called at `at`.
    pub(crate) fn note(&self, sender: &SenderHash, at: Timestamp) {
        let (slot, tag) = slot_and_tag(sender);
        self.slots[slot].store((tag << 32) | secs(at), Ordering::Relaxed);
    }

    /// Whether `sender` called at or after `since` (and this process still remembers it).
    pub(crate) fn called_since(&self, sender: &SenderHash, since: Timestamp) -> bool {
        let (slot, tag) = slot_and_tag(sender);
        let v = self.slots[slot].load(Ordering::Relaxed);
        v >> 32 == tag && (v & u64::from(u32::MAX)) >= secs(since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: u8) -> SenderHash {
        SenderHash([i; 16])
    }

    #[test]
    fn a_call_is_remembered_from_its_second_on_and_for_its_caller_only() {
        let c = RecentCallers::default();
        let t = Timestamp::from_secs(1_700_000_000);
        assert!(!c.called_since(&hash(1), Timestamp::from_secs(0)));
        c.note(&hash(1), t);
        assert!(c.called_since(&hash(1), t));
        assert!(c.called_since(&hash(1), Timestamp::from_secs(1_699_990_000)));
        assert!(!c.called_since(&hash(1), Timestamp::from_secs(1_700_000_001)));
        assert!(!c.called_since(&hash(2), Timestamp::from_secs(0)));
    }
}
