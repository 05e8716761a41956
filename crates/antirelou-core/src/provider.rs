//! The open identity of a telephony provider: [`ProviderId`].
//!
//! Core keeps no list of real providers. Each adapter crate declares its own identity as a
//! constant (`antirelou_twilio::PROVIDER`, `antirelou_vonage::PROVIDER`, …); the simulator and the
//! test doubles use [`stub::PROVIDER`](crate::stub::PROVIDER).
//!
//! The identity's text goes into stored idempotency keys (`{provider}:{message id}:lesson`), log
//! fields and metric labels, so it is restricted to a small alphabet and length, checked when the
//! identity is made; and it must never change for a provider once databases hold keys made with it.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::error::{Error, Result};

/// The identity of a provider (or provider account type): a short lowercase label such as
/// `"twilio"`.
///
/// Valid labels are 1 to [`ProviderId::MAX_LEN`] bytes of lowercase ASCII letters, digits and
/// `-`, starting with a letter and not ending with `-`. [`ProviderId::as_str`] returns the label
/// byte for byte: it is the `{provider}` part of idempotency keys.
///
/// ```
/// use antirelou_core::ProviderId;
///
/// const ACME: ProviderId = ProviderId::from_static("acme-sms");
/// assert_eq!(ACME.as_str(), "acme-sms");
/// assert_eq!(ProviderId::new("acme-sms").unwrap(), ACME);
/// assert!(ProviderId::new("Acme").is_err());
/// assert!(ProviderId::new("acme:sms").is_err());
/// assert!(ProviderId::new("").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderId(&'static str);

impl ProviderId {
    /// The longest label accepted, in bytes.
    pub const MAX_LEN: usize = 32;

    /// The identity labelled `label`, checked at compile time when used in a `const`.
    ///
    /// # Panics
    ///
    /// If `label` is not a valid label (see [`ProviderId`]); in a `const` item this is a
    /// compile error, which is how adapters declare their constant.
    pub const fn from_static(label: &'static str) -> Self {
        match check(label) {
            Ok(()) => ProviderId(label),
            Err(_) => panic!("invalid provider id: lowercase ascii letters, digits and '-' only"),
        }
    }

    /// The identity labelled `label`, or [`Error::InvalidLabel`] if it is not a valid label.
    pub fn new(label: &'static str) -> Result<Self> {
        match check(label) {
            Ok(()) => Ok(ProviderId(label)),
            Err(reason) => Err(Error::InvalidLabel {
                label: label.to_owned(),
                reason,
            }),
        }
    }

    /// The label, byte for byte as given.
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

/// Why `label` is not a valid provider label, if it is not.
const fn check(label: &str) -> std::result::Result<(), &'static str> {
    let b = label.as_bytes();
    if b.is_empty() {
        return Err("empty");
    }
    if b.len() > ProviderId::MAX_LEN {
        return Err("longer than 32 bytes");
    }
    if !b[0].is_ascii_lowercase() {
        return Err("does not start with a lowercase ascii letter");
    }
    if b[b.len() - 1] == b'-' {
        return Err("ends with '-'");
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-') {
            return Err("has a byte other than a-z, 0-9 and '-'");
        }
        i += 1;
    }
    Ok(())
}

impl fmt::Debug for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProviderId").field(&self.0).finish()
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for ProviderId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn labels_of_existing_databases_stay_valid_and_byte_identical() {
        for label in ["twilio", "vonage", "simulated"] {
            assert_eq!(ProviderId::new(label).unwrap().as_str(), label);
            assert_eq!(ProviderId::from_static(label).to_string(), label);
        }
    }

    #[test]
    fn labels_that_would_break_keys_or_metric_labels_are_refused() {
        let long: &'static str = "a123456789012345678901234567890123";
        for bad in [
            "", "Twilio", "twi lio", "twi:lio", "9lives", "-x", "x-", "té", "a_b", long,
        ] {
            assert!(
                matches!(ProviderId::new(bad), Err(Error::InvalidLabel { .. })),
                "{bad:?} accepted"
            );
        }
        assert!(ProviderId::new("a1-b2").is_ok());
        assert!(ProviderId::new(&long[..32]).is_ok());
    }

    #[test]
    #[should_panic(expected = "invalid provider id")]
    fn from_static_panics_on_a_bad_label() {
        let _ = ProviderId::from_static("Bad");
    }

    #[test]
    fn serializes_as_its_label() {
        let json = serde_json::to_string(&ProviderId::from_static("twilio")).unwrap();
        assert_eq!(json, "\"twilio\"");
    }
}
