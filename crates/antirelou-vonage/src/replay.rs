//! The `jti` replay cache of signed voice webhooks.
//!
//! A Vonage voice JWT has no audience and does not name the route it was sent to, so on its own
//! a captured token could be presented again: on the same route, or on another one (a token of
//! `/vonage/event` at `/vonage/answer`). [`ReplayCache`] remembers every `jti` the webhooks
//! accepted until the token's lifetime is over ([`JwtVerifier::valid_until`]), and refuses a
//! `jti` it has seen. One cache serves all the voice routes, which is what stops a token moving
//! from one route to another.
//!
//! A `jti` is **claimed** when the token is verified, and **kept** only when the webhook was
//! answered with success; a request that fails afterwards (bad input, an engine failure)
//! releases it, so that Vonage's retry of that very request is not taken for a replay.
//!
//! Limits, as they are:
//! * the cache is in memory: a restart forgets it, so a token captured before a restart can be
//!   presented once more within its lifetime ([`JwtVerifier::with_max_age`], two minutes by
//!   default). Several server processes behind one URL each have their own cache.
//! * it holds at most its capacity of live entries; when every entry is still live a new token is
//!   refused with `503` (Vonage retries events and falls back for answers) rather than forgetting
//!   an entry that could then be replayed. Only verified tokens enter the cache, so only
//!   Vonage's own traffic can fill it.
//!
//! [`JwtVerifier::valid_until`]: crate::jwt::JwtVerifier::valid_until
//! [`JwtVerifier::with_max_age`]: crate::jwt::JwtVerifier::with_max_age
//!
//! ```
//! use antirelou_vonage::replay::ReplayCache;
//! let cache = ReplayCache::new(10);
//! cache.claim("jti-1", 200, 100).unwrap().keep();
//! assert_eq!(cache.claim("jti-1", 200, 150).unwrap_err().status_code(), 403);
//! // Once its token has expired, the entry is forgotten.
//! assert!(cache.claim("jti-1", 400, 201).is_ok());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use crate::error::VonageError;

/// The default number of live `jti`s remembered.
pub const DEFAULT_CAPACITY: usize = 50_000;

/// The longest `jti` accepted (Vonage's are UUIDs, 36 characters).
pub const MAX_JTI_LEN: usize = 128;

/// Remembers the `jti`s of accepted tokens until they expire. Shared by every voice route.
pub struct ReplayCache {
    seen: Mutex<HashMap<String, i64>>,
    capacity: usize,
}

impl fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayCache")
            .field("entries", &self.lock().len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Default for ReplayCache {
    fn default() -> Self {
        ReplayCache::new(DEFAULT_CAPACITY)
    }
}

impl ReplayCache {
    /// A cache holding up to `capacity` live entries (at least one).
    pub fn new(capacity: usize) -> Self {
        ReplayCache {
            seen: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, i64>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many entries are held (expired ones included until the next purge).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Claim `jti`, valid until `until` (unix seconds), at `now`. Refused with
    /// [`VonageError::Replayed`] (`403`) when it was already claimed and has not expired, with
    /// [`VonageError::BadSignature`] when it is empty or longer than [`MAX_JTI_LEN`], and with
    /// [`VonageError::Overloaded`] (`503`) when the cache is full of live entries. The claim is
    /// released when the returned [`ReplayClaim`] is dropped, unless it is
    /// [kept](ReplayClaim::keep).
    pub fn claim(&self, jti: &str, until: i64, now: i64) -> Result<ReplayClaim<'_>, VonageError> {
        if jti.is_empty() || jti.len() > MAX_JTI_LEN {
            return Err(VonageError::BadSignature(
                "JWT `jti` is empty or too long".into(),
            ));
        }
        let mut seen = self.lock();
        if let Some(&expires) = seen.get(jti)
            && expires >= now
        {
            return Err(VonageError::Replayed(
                "this JWT (`jti`) was already used".into(),
            ));
        }
        if seen.len() >= self.capacity && !seen.contains_key(jti) {
            seen.retain(|_, expires| *expires >= now);
            if seen.len() >= self.capacity {
                return Err(VonageError::Overloaded(format!(
                    "the JWT replay cache holds {} live tokens",
                    seen.len()
                )));
            }
        }
        seen.insert(jti.to_owned(), until);
        Ok(ReplayClaim {
            cache: self,
            jti: Some(jti.to_owned()),
        })
    }

    fn release(&self, jti: &str) {
        self.lock().remove(jti);
    }
}

/// A claimed `jti`: released when dropped, unless [kept](ReplayClaim::keep).
#[must_use = "a claim is released when dropped; call keep() once the webhook succeeded"]
pub struct ReplayClaim<'a> {
    cache: &'a ReplayCache,
    jti: Option<String>,
}

impl fmt::Debug for ReplayClaim<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayClaim").finish_non_exhaustive()
    }
}

impl ReplayClaim<'_> {
    /// The webhook succeeded: the `jti` stays used until its token expires.
    pub fn keep(mut self) {
        self.jti = None;
    }
}

impl Drop for ReplayClaim<'_> {
    fn drop(&mut self) {
        if let Some(jti) = self.jti.take() {
            self.cache.release(&jti);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_claim_is_released_and_a_kept_one_is_not() {
        let c = ReplayCache::new(4);
        drop(c.claim("a", 100, 0).unwrap());
        c.claim("a", 100, 0).unwrap().keep();
        assert!(matches!(
            c.claim("a", 100, 50),
            Err(VonageError::Replayed(_))
        ));
    }

    #[test]
    fn a_full_cache_purges_expired_entries_then_refuses() {
        let c = ReplayCache::new(2);
        c.claim("a", 10, 0).unwrap().keep();
        c.claim("b", 100, 0).unwrap().keep();
        // "a" has expired at 20: purged to make room.
        c.claim("c", 100, 20).unwrap().keep();
        assert_eq!(c.len(), 2);
        let e = c.claim("d", 100, 20).unwrap_err();
        assert!(matches!(e, VonageError::Overloaded(_)), "{e}");
        assert_eq!(e.status_code(), 503);
        // Never forgotten while live: "b" and "c" are still refused.
        assert!(matches!(
            c.claim("b", 100, 30),
            Err(VonageError::Replayed(_))
        ));
        assert!(matches!(
            c.claim("c", 100, 30),
            Err(VonageError::Replayed(_))
        ));
    }

    #[test]
    fn bad_jtis_are_refused() {
        let c = ReplayCache::default();
        assert!(c.claim("", 1, 0).is_err());
        assert!(c.claim(&"x".repeat(MAX_JTI_LEN + 1), 1, 0).is_err());
        assert!(c.is_empty());
    }
}
