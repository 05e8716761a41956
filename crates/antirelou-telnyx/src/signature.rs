//! Verification of Telnyx's Ed25519 webhook signatures.
//!
//! Telnyx signs every webhook (messaging events as JSON, TeXML requests as forms) with its
//! account's Ed25519 key:
//!
//! * `telnyx-timestamp`: Unix seconds when the webhook was sent;
//! * `telnyx-signature-ed25519`: base64 of the 64-byte Ed25519 signature of
//!   `{telnyx-timestamp}|{raw body}`: the timestamp header's bytes as received, a `|`, then the
//!   body's bytes exactly as received (never a re-serialisation).
//!
//! [`WebhookVerifier::verify`] accepts a request only when both headers are present once, the
//! timestamp is decimal digits, the signature is 64 bytes of standard base64, it verifies under
//! the configured public key ([`ed25519_dalek::VerifyingKey::verify_strict`]: non-canonical
//! signatures and weak keys are refused), and the timestamp is within ±300 s (by default) of the
//! injected [`Clock`]. A genuine but old or future-dated request is a
//! [`TelnyxError::StaleSignature`]; everything else a [`TelnyxError::BadSignature`] or
//! [`TelnyxError::MissingSignature`]. All of them answer `403`.
//!
//! The window bounds how long a captured webhook can be replayed; within it, replays are
//! harmless because the engine is idempotent on message ids.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use antirelou_core::{Clock, SystemClock};
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};

use crate::error::TelnyxError;

/// The header carrying the base64 Ed25519 signature.
pub const SIGNATURE_HEADER: &str = "telnyx-signature-ed25519";
/// The header carrying the signing time, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "telnyx-timestamp";
/// The default tolerance between the signing time and our clock, both ways (the official SDKs'
/// `TIMESTAMP_TOLERANCE_SECONDS`).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The public key example printed in Telnyx's SDK documentation: refused as a configuration
/// value, it is nobody's real key.
const DOCUMENTED_EXAMPLE_KEY: &str = "eu2zvPjhY6odxV34Z/EsRiERvTodkev4Fq0SlK90Izg=";

/// Parse the base64 public key shown in the Telnyx portal: standard base64 of exactly 32 bytes
/// that form a valid Ed25519 point, not the documentation's example key.
///
/// ```
/// use antirelou_telnyx::signature::parse_public_key;
/// // RFC 8032 test 1's public key.
/// assert!(parse_public_key("11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=").is_ok());
/// assert!(parse_public_key("not base64!").is_err());
/// assert!(parse_public_key("AAAA").is_err());
/// ```
pub fn parse_public_key(b64: &str) -> Result<VerifyingKey, TelnyxError> {
    let b64 = b64.trim();
    if b64 == DOCUMENTED_EXAMPLE_KEY {
        return Err(TelnyxError::Config(
            "public_key is the example from Telnyx's documentation, not your account's key".into(),
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| TelnyxError::Config("public_key is not valid base64".into()))?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|v: Vec<u8>| {
        TelnyxError::Config(format!(
            "public_key must decode to 32 bytes, not {}",
            v.len()
        ))
    })?;
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| TelnyxError::Config("public_key is not a valid Ed25519 key".into()))?;
    if key.is_weak() {
        return Err(TelnyxError::Config(
            "public_key is a weak (small-order) Ed25519 key".into(),
        ));
    }
    Ok(key)
}

/// Verifies the signature and freshness of Telnyx webhooks.
#[derive(Clone)]
pub struct WebhookVerifier {
    key: VerifyingKey,
    tolerance: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

impl WebhookVerifier {
    /// A verifier for `key`, with the default ±300 s window on the system clock.
    pub fn new(key: VerifyingKey) -> Self {
        WebhookVerifier {
            key,
            tolerance: DEFAULT_TOLERANCE,
            clock: Arc::new(SystemClock),
        }
    }

    /// A verifier for the portal's base64 public key (see [`parse_public_key`]).
    pub fn from_base64(public_key: &str) -> Result<Self, TelnyxError> {
        parse_public_key(public_key).map(Self::new)
    }

    /// Judge freshness on `clock` (the engine's clock; a [`antirelou_core::ManualClock`] in
    /// tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Accept timestamps up to `tolerance` before or after the clock's time.
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Verify a webhook's headers against its raw body (see the module docs).
    pub fn verify(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<(), TelnyxError> {
        let timestamp = single_header(headers, TIMESTAMP_HEADER)?;
        let signature = single_header(headers, SIGNATURE_HEADER)?;
        if timestamp.is_empty() || timestamp.len() > 12 || !timestamp.iter().all(u8::is_ascii_digit)
        {
            return Err(TelnyxError::BadSignature(
                "telnyx-timestamp is not a Unix time in seconds".into(),
            ));
        }
        let sig = base64::engine::general_purpose::STANDARD
            .decode(signature.trim_ascii())
            .map_err(|_| TelnyxError::BadSignature("signature is not valid base64".into()))?;
        let sig: [u8; 64] = sig.try_into().map_err(|v: Vec<u8>| {
            TelnyxError::BadSignature(format!("signature is {} bytes, not 64", v.len()))
        })?;
        let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
        message.extend_from_slice(timestamp);
        message.push(b'|');
        message.extend_from_slice(body);
        self.key
            .verify_strict(&message, &Signature::from_bytes(&sig))
            .map_err(|_| TelnyxError::BadSignature("signature does not verify".into()))?;
        self.check_fresh(timestamp)
    }

    fn check_fresh(&self, timestamp: &[u8]) -> Result<(), TelnyxError> {
        // At most 12 ASCII digits: always parses into an i64.
        let signed_at: i64 = std::str::from_utf8(timestamp)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| TelnyxError::BadSignature("unreadable telnyx-timestamp".into()))?;
        let now = self.clock.now().as_secs();
        let tolerance = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
        let skew = now.saturating_sub(signed_at);
        if skew > tolerance {
            return Err(TelnyxError::StaleSignature(format!(
                "signed {skew} s ago, more than {tolerance} s"
            )));
        }
        if skew < -tolerance {
            return Err(TelnyxError::StaleSignature(format!(
                "signed {} s in the future, more than {tolerance} s",
                skew.saturating_neg()
            )));
        }
        Ok(())
    }
}

/// The value of `name`, present exactly once (two values would let the verified value and the
/// used value differ).
fn single_header<'h>(
    headers: &'h http::HeaderMap,
    name: &'static str,
) -> Result<&'h [u8], TelnyxError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next().ok_or(TelnyxError::MissingSignature(name))?;
    if values.next().is_some() {
        return Err(TelnyxError::BadSignature(format!("{name} sent twice")));
    }
    Ok(first.as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn example_and_malformed_keys_are_refused() {
        assert!(matches!(
            parse_public_key(DOCUMENTED_EXAMPLE_KEY),
            Err(TelnyxError::Config(_))
        ));
        // 32 zero bytes: a small-order point.
        assert!(parse_public_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_err());
        // 33 bytes.
        assert!(parse_public_key("11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURoA").is_err());
    }
}
