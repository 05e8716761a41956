//! Vonage signed SMS (`sig`): signing outbound requests and verifying inbound webhooks.
//!
//! The documented algorithm (Vonage "Signing messages"):
//!
//! 1. remove `sig`; keep the received `timestamp` (when sending, add `timestamp` = now, in unix
//!    seconds);
//! 2. sort the keys ordinally (byte order: `message-timestamp` sorts before `messageId`);
//! 3. in every **value**, replace each `&` and `=` with `_` (keys and separators are kept);
//! 4. build `&key1=value1&key2=value2…` (note the leading `&`) from the URL-decoded values;
//! 5. `md5hash` is `md5_hex(string + secret)`; the HMAC methods are
//!    `hmac_hex(alg, key = secret, msg = string)`.
//!
//! Verification compares hex case-insensitively (Node's SDK uses capitals, Java and Python lower
//! case) in constant time, and checks that `timestamp` is within a window of now (±5 minutes by
//! default, as the Java SDK does).
//!
//! The Node SDK's *outbound* `createSignatureHash` uses another, undocumented string
//! (`api_key_12345_timestamp_…`); its vectors are deliberately **not** accepted here (see the
//! tests): Vonage's own verifiers follow the documented string.
//!
//! ```
//! use antirelou_vonage::signature::{SignatureMethod, SmsSigner};
//! // Official vector (Python SDK v3): secret "secret", a=1, b=2, timestamp=1461605396.
//! let signer = SmsSigner::new("secret", SignatureMethod::Md5Hash);
//! let params = [("a", "1"), ("b", "2"), ("timestamp", "1461605396")];
//! assert_eq!(signer.sign(params), "6af838ef94998832dbfc29020b564830");
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use antirelou_core::Timestamp;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

use crate::error::VonageError;

/// The signature methods Vonage offers in the dashboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SignatureMethod {
    /// `md5(string + secret)`: the dashboard's default ("MD5 hash").
    #[default]
    Md5Hash,
    /// HMAC-MD5 (note: the Python v4 SDK's default `"md5"` means this one).
    Md5Hmac,
    /// HMAC-SHA1.
    Sha1Hmac,
    /// HMAC-SHA256.
    Sha256Hmac,
    /// HMAC-SHA512.
    Sha512Hmac,
}

impl SignatureMethod {
    /// The name this crate parses back: `md5hash`, `md5`, `sha1`, `sha256` or `sha512`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureMethod::Md5Hash => "md5hash",
            SignatureMethod::Md5Hmac => "md5",
            SignatureMethod::Sha1Hmac => "sha1",
            SignatureMethod::Sha256Hmac => "sha256",
            SignatureMethod::Sha512Hmac => "sha512",
        }
    }
}

impl fmt::Display for SignatureMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SignatureMethod {
    type Err = VonageError;

    /// Parse `md5hash`, `md5` (HMAC-MD5), `sha1`, `sha256` or `sha512`, case-insensitively. The
    /// Node SDK spellings (`MD5HASH`, `MD5HMAC`, `SHA1HMAC`, …) are accepted too.
    ///
    /// ```
    /// use antirelou_vonage::signature::SignatureMethod;
    /// assert_eq!("SHA256".parse::<SignatureMethod>().unwrap(), SignatureMethod::Sha256Hmac);
    /// assert_eq!("md5hash".parse::<SignatureMethod>().unwrap(), SignatureMethod::Md5Hash);
    /// assert!("crc32".parse::<SignatureMethod>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "md5hash" => Ok(SignatureMethod::Md5Hash),
            "md5" | "md5hmac" => Ok(SignatureMethod::Md5Hmac),
            "sha1" | "sha1hmac" => Ok(SignatureMethod::Sha1Hmac),
            "sha256" | "sha256hmac" => Ok(SignatureMethod::Sha256Hmac),
            "sha512" | "sha512hmac" => Ok(SignatureMethod::Sha512Hmac),
            other => Err(VonageError::Config(format!(
                "unknown signature method {other:?} (expected md5hash, md5, sha1, sha256 or sha512)"
            ))),
        }
    }
}

/// The default timestamp window: ±5 minutes, as the Java SDK enforces.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

/// Signs and verifies Vonage `sig` parameters with the account's signature secret.
#[derive(Clone)]
pub struct SmsSigner {
    secret: String,
    method: SignatureMethod,
    window: Duration,
    skip_empty_values: bool,
}

impl fmt::Debug for SmsSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsSigner")
            .field("secret", &antirelou_core::kit::client::REDACTED)
            .field("method", &self.method)
            .field("window", &self.window)
            .field("skip_empty_values", &self.skip_empty_values)
            .finish()
    }
}

impl SmsSigner {
    /// A signer with the signature secret (Dashboard > Settings; not the API secret) and the
    /// method chosen there. The timestamp window is [`DEFAULT_WINDOW`].
    pub fn new(secret: impl Into<String>, method: SignatureMethod) -> Self {
        SmsSigner {
            secret: secret.into(),
            method,
            window: DEFAULT_WINDOW,
            skip_empty_values: false,
        }
    }

    /// Accept inbound `timestamp`s up to `window` away from now (either direction).
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Leave parameters whose value is empty or blank out of the signed string, as the Java SDK
    /// does (`RequestSigning.java`). Off by default: the documented algorithm, Python and Node
    /// include empty values.
    pub fn skip_empty_values(mut self, skip: bool) -> Self {
        self.skip_empty_values = skip;
        self
    }

    /// The method.
    pub fn method(&self) -> SignatureMethod {
        self.method
    }

    /// The timestamp window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The string that is signed: `&k1=v1&k2=v2…`, keys sorted ordinally, `sig` removed, `&` and
    /// `=` in values replaced with `_`.
    ///
    /// ```
    /// use antirelou_vonage::signature::{SignatureMethod, SmsSigner};
    /// let s = SmsSigner::new("x", SignatureMethod::Md5Hash);
    /// let p = [("param2", "value=2"), ("param1", "value&1"), ("sig", "ignored")];
    /// assert_eq!(s.string_to_sign(p), "&param1=value_1&param2=value_2");
    /// ```
    pub fn string_to_sign<'a, I>(&self, params: I) -> String
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut pairs: Vec<(&str, &str)> = params
            .into_iter()
            .filter(|(k, _)| *k != "sig")
            .filter(|(_, v)| !(self.skip_empty_values && v.trim().is_empty()))
            .collect();
        // Stable sort by key bytes: ordinal order, as every SDK sorts.
        pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut out = String::new();
        for (k, v) in pairs {
            out.push('&');
            out.push_str(k);
            out.push('=');
            out.extend(
                v.chars()
                    .map(|c| if c == '&' || c == '=' { '_' } else { c }),
            );
        }
        out
    }

    /// The signature of `params` (which must already contain `timestamp` when it is to be
    /// verified by Vonage), as lowercase hex.
    pub fn sign<'a, I>(&self, params: I) -> String
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let string = self.string_to_sign(params);
        digest_hex(self.method, self.secret.as_bytes(), string.as_bytes())
    }

    /// Check the `sig` parameter against the others, without looking at the timestamp. Prefer
    /// [`SmsSigner::verify`] for webhooks: without the window, a captured request can be
    /// replayed.
    ///
    /// A parameter **name** containing `&` or `=` is refused with [`VonageError::BadRequest`]
    /// (`400`) before anything is signed: the signed string keeps names as they are, so
    /// `a=1&b` = `2` and `a` = `1`, `b` = `2` would sign alike, and two signed parameters could
    /// be folded into one. No Vonage webhook has such a name, so the request is malformed
    /// whatever its signature (which is why it is a `400`, not a `403`).
    ///
    /// ```
    /// use antirelou_vonage::signature::{SignatureMethod, SmsSigner};
    /// let s = SmsSigner::new("abcde", SignatureMethod::Md5Hash);
    /// // Signed as a=alphabet, b=bananas, timestamp=2100 (Java SDK vector)...
    /// let folded = [("a=alphabet&b", "bananas"), ("timestamp", "2100"),
    ///               ("sig", "7d43241108912b32cc315b48ce681acf")];
    /// // ...and the same string from one folded name: refused.
    /// assert_eq!(s.check_signature(folded).unwrap_err().status_code(), 400);
    /// ```
    pub fn check_signature<'a, I>(&self, params: I) -> Result<(), VonageError>
    where
        I: IntoIterator<Item = (&'a str, &'a str)> + Clone,
    {
        check_names(params.clone())?;
        let provided = params
            .clone()
            .into_iter()
            .find(|(k, _)| *k == "sig")
            .map(|(_, v)| v)
            .ok_or(VonageError::MissingSignature("no `sig` parameter"))?;
        let expected = self.sign(params);
        if hex_eq_ignore_case(&expected, provided) {
            Ok(())
        } else {
            Err(VonageError::BadSignature(
                "`sig` does not match the parameters".into(),
            ))
        }
    }

    /// Verify an inbound webhook: no parameter name may contain `&` or `=` (`400`, see
    /// [`SmsSigner::check_signature`]), `timestamp` (unix seconds) must be present and within the
    /// window of `now`, and `sig` must match.
    ///
    /// ```
    /// use antirelou_core::Timestamp;
    /// use antirelou_vonage::signature::{SignatureMethod, SmsSigner};
    /// let s = SmsSigner::new("abcde", SignatureMethod::Md5Hash);
    /// let p = [("a", "alphabet"), ("b", "bananas"), ("timestamp", "2100"),
    ///          ("sig", "7D43241108912B32CC315B48CE681ACF")];
    /// assert!(s.verify(p, Timestamp::from_secs(2100)).is_ok());
    /// // Ten minutes later, the same request is a replay.
    /// assert!(s.verify(p, Timestamp::from_secs(2700)).is_err());
    /// ```
    pub fn verify<'a, I>(&self, params: I, now: Timestamp) -> Result<(), VonageError>
    where
        I: IntoIterator<Item = (&'a str, &'a str)> + Clone,
    {
        check_names(params.clone())?;
        if !params.clone().into_iter().any(|(k, _)| k == "sig") {
            return Err(VonageError::MissingSignature("no `sig` parameter"));
        }
        let ts = params
            .clone()
            .into_iter()
            .find(|(k, _)| *k == "timestamp")
            .map(|(_, v)| v)
            .ok_or(VonageError::MissingSignature(
                "signed webhook without `timestamp`",
            ))?;
        let ts: i64 = ts
            .trim()
            .parse()
            .map_err(|_| VonageError::BadSignature("`timestamp` is not unix seconds".into()))?;
        let now_s = now.as_secs();
        let skew = now_s.abs_diff(ts);
        // Check the signature first: a wrong signature is the more useful diagnosis.
        self.check_signature(params)?;
        if skew > self.window.as_secs() {
            return Err(VonageError::StaleSignature(format!(
                "timestamp is {skew} s away from now (window {} s)",
                self.window.as_secs()
            )));
        }
        Ok(())
    }
}

/// Refuse parameter names the signed string could not tell apart from two parameters.
fn check_names<'a, I>(params: I) -> Result<(), VonageError>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    // The name is not echoed: a folded name carries the values of the parameters it folds.
    if params.into_iter().any(|(k, _)| k.contains(['&', '='])) {
        return Err(VonageError::BadRequest(
            "a parameter name contains `&` or `=`: refused before signing".into(),
        ));
    }
    Ok(())
}

/// Hex digest of `msg` with `secret` under `method`, lowercase.
fn digest_hex(method: SignatureMethod, secret: &[u8], msg: &[u8]) -> String {
    fn hmac_hex<M: Mac + hmac::digest::KeyInit>(secret: &[u8], msg: &[u8]) -> String {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        match <M as hmac::digest::KeyInit>::new_from_slice(secret) {
            Ok(mut mac) => {
                mac.update(msg);
                hex::encode(mac.finalize().into_bytes())
            }
            Err(_) => String::new(),
        }
    }
    match method {
        SignatureMethod::Md5Hash => {
            let mut h = Md5::new();
            h.update(msg);
            h.update(secret);
            hex::encode(h.finalize())
        }
        SignatureMethod::Md5Hmac => hmac_hex::<Hmac<Md5>>(secret, msg),
        SignatureMethod::Sha1Hmac => hmac_hex::<Hmac<sha1::Sha1>>(secret, msg),
        SignatureMethod::Sha256Hmac => hmac_hex::<Hmac<sha2::Sha256>>(secret, msg),
        SignatureMethod::Sha512Hmac => hmac_hex::<Hmac<sha2::Sha512>>(secret, msg),
    }
}

/// Compare a lowercase hex digest with a provided hex string, ignoring the provided string's
/// case, in constant time (for equal lengths; the length of a digest is public).
pub(crate) fn hex_eq_ignore_case(expected_lower: &str, provided: &str) -> bool {
    let provided = provided.trim();
    if expected_lower.is_empty() || provided.len() != expected_lower.len() {
        return false;
    }
    let lowered: Vec<u8> = provided.bytes().map(|b| b.to_ascii_lowercase()).collect();
    expected_lower.as_bytes().ct_eq(&lowered).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn string_to_sign_sorts_ordinally_with_leading_ampersand() {
        let s = SmsSigner::new("k", SignatureMethod::Md5Hash);
        let p = [
            ("messageId", "1"),
            ("message-timestamp", "2013-11-21 15:27:30"),
            ("a", "x=y&z"),
        ];
        assert_eq!(
            s.string_to_sign(p),
            "&a=x_y_z&message-timestamp=2013-11-21 15:27:30&messageId=1"
        );
    }

    #[test]
    fn hex_compare_is_case_insensitive_and_length_strict() {
        assert!(hex_eq_ignore_case("abcd", "ABCD"));
        assert!(hex_eq_ignore_case("abcd", "aBcD"));
        assert!(!hex_eq_ignore_case("abcd", "abc"));
        assert!(!hex_eq_ignore_case("abcd", "abce"));
        assert!(!hex_eq_ignore_case("", ""));
    }

    #[test]
    fn method_names_round_trip() {
        for m in [
            SignatureMethod::Md5Hash,
            SignatureMethod::Md5Hmac,
            SignatureMethod::Sha1Hmac,
            SignatureMethod::Sha256Hmac,
            SignatureMethod::Sha512Hmac,
        ] {
            assert_eq!(m.as_str().parse::<SignatureMethod>().unwrap(), m);
            assert_eq!(
                m.as_str()
                    .to_uppercase()
                    .parse::<SignatureMethod>()
                    .unwrap(),
                m
            );
        }
    }

    #[test]
    fn debug_redacts_the_secret() {
        let s = SmsSigner::new("hunter2-secret", SignatureMethod::Sha256Hmac);
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
