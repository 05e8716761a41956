//! `[vonage]` in a server configuration: [`VonageSection`] as written (unknown keys refused),
//! validated by [`VonageSection::resolve`] into [`VonageSettings`]. Errors name the dotted key
//! (`vonage.api_secret`) and say what to do; secrets follow the adapter kit's one rule
//! ([`antirelou_core::kit::config`]).
//!
//! `billing_currency` is **required**: Vonage's SMS API and delivery receipts give prices with no
//! currency, in the account's, which only the operator knows (Vonage's dashboard, Billing).
//! Taking the ledger's currency by default would count dollars as euros the day the two differ.
//!
//! ```
//! use antirelou_core::kit::config::SectionContext;
//! use antirelou_vonage::section::VonageSection;
//! let section: VonageSection = toml::from_str(r#"
//!     api_key = "abcd1234"
//!     api_secret = "0123456789abcdef"
//!     signature_secret = "0123456789abcdef0123456789abcdef"
//!     billing_currency = "EUR"
//! "#).unwrap();
//! let env = |_: &str| None;
//! let mut cx = SectionContext::new(&env);
//! let settings = section.clone().resolve(&mut cx).unwrap();
//! assert_eq!(settings.billing_currency.as_str(), "EUR");
//! let mut no_currency = section;
//! no_currency.billing_currency = None;
//! let e = no_currency.resolve(&mut cx).unwrap_err();
//! assert_eq!(e.key, "vonage.billing_currency");
//! ```

use std::fmt;

use antirelou_core::Currency;
use antirelou_core::kit::config::{
    self, KeyError, SecretSpec, SectionContext, http_url, pace, required, secret,
};
use serde::Deserialize;
use url::Url;

use crate::SignatureMethod;

/// Environment variable that fills or overrides `vonage.api_secret`.
pub const ENV_API_SECRET: &str = "ANTIRELOU_VONAGE_API_SECRET";
/// Environment variable that fills or overrides `vonage.signature_secret`.
pub const ENV_SIGNATURE_SECRET: &str = "ANTIRELOU_VONAGE_SIGNATURE_SECRET";

const API_SECRET: SecretSpec = SecretSpec {
    key: "vonage.api_secret",
    env: ENV_API_SECRET,
    min_len: 8,
    how: "set it from the Vonage dashboard (API Settings, API secret) here or in \
          ANTIRELOU_VONAGE_API_SECRET",
};
const SIGNATURE_SECRET: SecretSpec = SecretSpec {
    key: "vonage.signature_secret",
    env: ENV_SIGNATURE_SECRET,
    min_len: 16,
    how: "set it from the Vonage dashboard (API Settings, Signature secret) here or in \
          ANTIRELOU_VONAGE_SIGNATURE_SECRET",
};

/// `[vonage]` as written.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VonageSection {
    /// `api_key`.
    pub api_key: Option<String>,
    /// `api_secret`; may come from [`ENV_API_SECRET`] instead.
    pub api_secret: Option<String>,
    /// The signature secret; may come from [`ENV_SIGNATURE_SECRET`] instead.
    pub signature_secret: Option<String>,
    /// `md5hash` (default), `md5`, `sha1`, `sha256` or `sha512`, as chosen in the dashboard.
    pub signature_method: Option<String>,
    /// The API base ([`DEFAULT_API_BASE`](crate::client::DEFAULT_API_BASE) when left out).
    pub api_base: Option<String>,
    /// Ask for delivery receipts (default true).
    pub delivery_receipts: Option<bool>,
    /// At most this many messages per second.
    pub pace_per_second: Option<f64>,
    /// The currency the account is billed in (required; see the module docs).
    pub billing_currency: Option<String>,
}

impl fmt::Debug for VonageSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VonageSection")
            .field("api_key", &self.api_key)
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

/// The Vonage account, validated.
#[derive(Clone)]
#[non_exhaustive]
pub struct VonageSettings {
    /// `api_key`.
    pub api_key: String,
    /// `api_secret` (REST API).
    pub api_secret: String,
    /// Signature secret (signed SMS webhooks and voice JWTs).
    pub signature_secret: String,
    /// Signature method chosen in the dashboard.
    pub signature_method: SignatureMethod,
    /// API base (`https://rest.nexmo.com`).
    pub api_base: Url,
    /// Ask for delivery receipts at `{public_url}/vonage/dlr` (default true).
    pub delivery_receipts: bool,
    /// At most this many messages per second (default none).
    pub pace_per_second: Option<f64>,
    /// The currency the account is billed in: Vonage's prices are in it.
    pub billing_currency: Currency,
}

impl fmt::Debug for VonageSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VonageSettings")
            .field("api_key", &self.api_key)
            .field("signature_method", &self.signature_method)
            .field("api_base", &self.api_base.as_str())
            .field("billing_currency", &self.billing_currency)
            .finish_non_exhaustive()
    }
}

impl VonageSection {
    /// Validate. Bad secrets go to `cx.problems` (every bad secret is reported at once); the
    /// first other problem is the error.
    pub fn resolve(self, cx: &mut SectionContext<'_>) -> Result<VonageSettings, KeyError> {
        let api_key = required("vonage.api_key", self.api_key)?;
        let api_secret = secret(API_SECRET, self.api_secret, cx);
        let signature_secret = secret(SIGNATURE_SECRET, self.signature_secret, cx);
        let signature_method = match self.signature_method.as_deref() {
            None => SignatureMethod::Md5Hash,
            Some(m) => m.parse().map_err(|_| {
                KeyError::new(
                    "vonage.signature_method",
                    format!("{m:?}: expected md5hash, md5, sha1, sha256 or sha512"),
                )
            })?,
        };
        let api_base = http_url(
            "vonage.api_base",
            self.api_base
                .as_deref()
                .unwrap_or(crate::client::DEFAULT_API_BASE),
        )?;
        let billing_currency = match self.billing_currency.as_deref() {
            Some(c) => config::currency("vonage.billing_currency", c)?,
            None => {
                return Err(KeyError::new(
                    "vonage.billing_currency",
                    "missing: Vonage's prices name no currency; set the one your account is \
                     billed in (Vonage dashboard, Billing), such as \"EUR\"",
                ));
            }
        };
        Ok(VonageSettings {
            api_key,
            api_secret,
            signature_secret,
            signature_method,
            api_base,
            delivery_receipts: self.delivery_receipts.unwrap_or(true),
            pace_per_second: pace("vonage.pace_per_second", self.pace_per_second)?,
            billing_currency,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn section() -> VonageSection {
        VonageSection {
            api_key: Some("abcd1234".into()),
            api_secret: Some("0123456789abcdef".into()),
            signature_secret: Some("0123456789abcdef0123".into()),
            billing_currency: Some("usd".into()),
            ..VonageSection::default()
        }
    }

    #[test]
    fn every_key_is_checked_and_named() {
        let bad = |f: fn(&mut VonageSection)| {
            let mut s = section();
            f(&mut s);
            let env = |_: &str| None;
            s.resolve(&mut SectionContext::new(&env)).unwrap_err().key
        };
        assert_eq!(bad(|s| s.api_key = None), "vonage.api_key");
        assert_eq!(
            bad(|s| s.signature_method = Some("crc32".into())),
            "vonage.signature_method"
        );
        assert_eq!(bad(|s| s.api_base = Some("nope".into())), "vonage.api_base");
        assert_eq!(
            bad(|s| s.pace_per_second = Some(0.0)),
            "vonage.pace_per_second"
        );
        assert_eq!(
            bad(|s| s.billing_currency = None),
            "vonage.billing_currency"
        );
        assert_eq!(
            bad(|s| s.billing_currency = Some("€".into())),
            "vonage.billing_currency"
        );
        let env = |_: &str| None;
        let ok = section().resolve(&mut SectionContext::new(&env)).unwrap();
        assert_eq!(ok.billing_currency, Currency::USD);
        assert_eq!(ok.signature_method, SignatureMethod::Md5Hash);
    }

    #[test]
    fn bad_secrets_are_all_collected() {
        let env = |_: &str| None;
        let mut cx = SectionContext::new(&env);
        let mut s = section();
        s.api_secret = None;
        s.signature_secret = Some("short".into());
        assert!(s.resolve(&mut cx).is_ok());
        let keys: Vec<_> = cx.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["vonage.api_secret", "vonage.signature_secret"]);
    }
}
