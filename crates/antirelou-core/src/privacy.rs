//! Privacy: numbers are stored as keyed hashes wherever the plain number is not needed.
//!
//! [`NumberHasher`] computes HMAC-SHA-256 with the operator's secret and keeps 16 bytes: a
//! [`SenderHash`]. History, opt-outs and counters are keyed by it, so a stolen database does not
//! list the men who texted (and, without the secret, the hashes of the 10⁹ possible numbers of a
//! country cannot be precomputed). Only a pending reply keeps the plain number, until it is sent
//! or expired.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::phone::PhoneNumber;
use crate::policy::TextFingerprint;

/// A keyed hash of a phone number: 16 bytes, printed as 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SenderHash(pub [u8; 16]);

impl SenderHash {
    /// Lowercase hex, the form backends store.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parse 32 hex digits.
    pub fn from_hex(s: &str) -> Result<Self> {
        let mut out = [0u8; 16];
        hex::decode_to_slice(s, &mut out)
            .map_err(|e| Error::storage_permanent(format!("bad sender hash {s:?}: {e}")))?;
        Ok(SenderHash(out))
    }

    /// From the 16 bytes a backend stored; any other length is a permanent storage error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        <[u8; 16]>::try_from(bytes)
            .map(SenderHash)
            .map_err(|_| Error::storage_permanent(format!("sender hash of {} bytes", bytes.len())))
    }

    /// The first eight bytes as an integer, for in-memory maps.
    pub fn short(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(b)
    }
}

impl fmt::Debug for SenderHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SenderHash({})", &self.to_hex()[..8])
    }
}

impl fmt::Display for SenderHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for SenderHash {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for SenderHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SenderHash::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// Hashes numbers with the operator's secret.
///
/// ```
/// use antirelou_core::{PhoneNumber, privacy::NumberHasher};
/// let h = NumberHasher::new(b"operator secret, at least 16 bytes").unwrap();
/// let n = PhoneNumber::parse("+33612345678").unwrap();
/// assert_eq!(h.hash(&n), h.hash(&n));
/// let other = NumberHasher::new(b"another secret of sixteen bytes").unwrap();
/// assert_ne!(h.hash(&n), other.hash(&n));
/// ```
#[derive(Clone)]
pub struct NumberHasher {
    mac: Hmac<Sha256>,
}

impl NumberHasher {
    /// A hasher keyed with `secret`, which must be at least 16 bytes.
    pub fn new(secret: &[u8]) -> Result<Self> {
        if secret.len() < 16 {
            return Err(Error::Config(
                "hash_secret must be at least 16 bytes".into(),
            ));
        }
        let mac = Hmac::<Sha256>::new_from_slice(secret)
            .map_err(|e| Error::Config(format!("hash_secret: {e}")))?;
        Ok(NumberHasher { mac })
    }

    /// The keyed hash of a number.
    pub fn hash(&self, number: &PhoneNumber) -> SenderHash {
        let mut mac = self.mac.clone();
        mac.update(number.e164().as_bytes());
        let out = mac.finalize().into_bytes();
        let mut h = [0u8; 16];
        h.copy_from_slice(&out[..16]);
        SenderHash(h)
    }

    /// The keyed fingerprint of a text's body, for recognising copies of one text sent by many
    /// senders ([`TextFingerprint`]). The body is normalised to its letters, lower case (case,
    /// spacing, punctuation, digits and emoji do not count), then hashed with the same key as
    /// the numbers (in a separate domain: the input starts with a byte no E.164 number has).
    /// Nothing of the text is kept.
    ///
    /// ```
    /// use antirelou_core::privacy::NumberHasher;
    /// let h = NumberHasher::new(b"operator secret, at least 16 bytes").unwrap();
    /// let a = h.text_fingerprint("T'es trop BELLE, réponds-moi !!! 😍 #42");
    /// let b = h.text_fingerprint("tes trop belle reponds moi");
    /// let c = h.text_fingerprint("tes trop belle réponds moi");
    /// assert_ne!(a, b); // accents count: é is not e
    /// assert_eq!(a, c);
    /// assert_eq!(a.letters, 22);
    /// ```
    pub fn text_fingerprint(&self, body: &str) -> TextFingerprint {
        let mut mac = self.mac.clone();
        mac.update(b"\0text:");
        let mut letters = 0u32;
        let mut buf = [0u8; 4];
        for c in body.chars().filter(|c| c.is_alphabetic()) {
            for l in c.to_lowercase() {
                mac.update(l.encode_utf8(&mut buf).as_bytes());
                letters = letters.saturating_add(1);
            }
        }
        let out = mac.finalize().into_bytes();
        let mut h = [0u8; 8];
        h.copy_from_slice(&out[..8]);
        TextFingerprint {
            hash: u64::from_le_bytes(h),
            letters,
        }
    }
}

impl fmt::Debug for NumberHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NumberHasher(..)")
    }
}
