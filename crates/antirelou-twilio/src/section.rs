//! `[twilio]` in a server configuration: [`TwilioSection`] as written (unknown keys refused),
//! validated by [`TwilioSection::resolve`] into [`TwilioSettings`]. Errors name the dotted key
//! (`twilio.auth_token`) and say what to do; the secret follows the adapter kit's one rule
//! ([`antirelou_core::kit::config`]).
//!
//! ```
//! use antirelou_core::kit::config::SectionContext;
//! use antirelou_twilio::section::TwilioSection;
//! let section: TwilioSection = toml::from_str(r#"
//!     account_sid = "AC0123456789abcdef0123456789abcdef"
//!     auth_token = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
//! "#).unwrap();
//! let env = |_: &str| None;
//! let mut cx = SectionContext::new(&env);
//! let settings = section.resolve(&mut cx).unwrap();
//! assert!(cx.problems.is_empty());
//! assert_eq!(settings.billing_currency.as_str(), "USD");
//! assert!(!format!("{settings:?}").contains("f0e1d2c3b4a5968778695a4b3c2d1e0f"));
//! ```

use std::fmt;

use antirelou_core::Currency;
use antirelou_core::kit::config::{
    self, KeyError, SecretSpec, SectionContext, http_url, pace, required, secret,
};
use serde::Deserialize;
use url::Url;

/// Environment variable that fills or overrides `twilio.auth_token`.
pub const ENV_AUTH_TOKEN: &str = "ANTIRELOU_TWILIO_AUTH_TOKEN";

const AUTH_TOKEN: SecretSpec = SecretSpec {
    key: "twilio.auth_token",
    env: ENV_AUTH_TOKEN,
    min_len: 16,
    how: "set it from the Twilio console (Account, API keys & tokens, Auth Token) here or in \
          ANTIRELOU_TWILIO_AUTH_TOKEN",
};

/// `[twilio]` as written.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TwilioSection {
    /// `AC…`.
    pub account_sid: Option<String>,
    /// The auth token; may come from [`ENV_AUTH_TOKEN`] instead.
    pub auth_token: Option<String>,
    /// The API base ([`DEFAULT_API_BASE`](crate::client::DEFAULT_API_BASE) when left out).
    pub api_base: Option<String>,
    /// Send through this Messaging Service (`MG…`) instead of `From`.
    pub messaging_service_sid: Option<String>,
    /// Ask for status callbacks (default true).
    pub status_callback: Option<bool>,
    /// At most this many messages per second.
    pub pace_per_second: Option<f64>,
    /// The currency the account is billed in (`USD` when left out, Twilio's usual one). Each
    /// price names its own (`price_unit`); this is what a server checks it has a rate for.
    pub billing_currency: Option<String>,
}

impl fmt::Debug for TwilioSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSection")
            .field("account_sid", &self.account_sid)
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

/// The Twilio account, validated.
#[derive(Clone)]
#[non_exhaustive]
pub struct TwilioSettings {
    /// `AC…`.
    pub account_sid: String,
    /// Auth token (REST API and webhook signatures).
    pub auth_token: String,
    /// API base (`https://api.twilio.com`).
    pub api_base: Url,
    /// Send through this Messaging Service instead of `From`.
    pub messaging_service_sid: Option<String>,
    /// Ask for status callbacks at `{public_url}/twilio/status` (default true).
    pub status_callback: bool,
    /// At most this many messages per second (default none).
    pub pace_per_second: Option<f64>,
    /// The currency the account is billed in.
    pub billing_currency: Currency,
}

impl fmt::Debug for TwilioSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSettings")
            .field("account_sid", &self.account_sid)
            .field("api_base", &self.api_base.as_str())
            .field("billing_currency", &self.billing_currency)
            .finish_non_exhaustive()
    }
}

fn alphanumeric(key: &str, value: &str, what: &str) -> Result<(), KeyError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(KeyError::new(key, format!("must be alphanumeric ({what})")));
    }
    Ok(())
}

impl TwilioSection {
    /// Validate. A bad auth token goes to `cx.problems` (every bad secret is reported at once);
    /// the first other problem is the error.
    pub fn resolve(self, cx: &mut SectionContext<'_>) -> Result<TwilioSettings, KeyError> {
        let account_sid = required("twilio.account_sid", self.account_sid)?;
        alphanumeric("twilio.account_sid", &account_sid, "AC…")?;
        let auth_token = secret(AUTH_TOKEN, self.auth_token, cx);
        let api_base = http_url(
            "twilio.api_base",
            self.api_base
                .as_deref()
                .unwrap_or(crate::client::DEFAULT_API_BASE),
        )?;
        if let Some(sid) = &self.messaging_service_sid {
            alphanumeric("twilio.messaging_service_sid", sid, "MG…")?;
        }
        let billing_currency = match self.billing_currency.as_deref() {
            None => Currency::USD,
            Some(c) => config::currency("twilio.billing_currency", c)?,
        };
        Ok(TwilioSettings {
            account_sid,
            auth_token,
            api_base,
            messaging_service_sid: self.messaging_service_sid,
            status_callback: self.status_callback.unwrap_or(true),
            pace_per_second: pace("twilio.pace_per_second", self.pace_per_second)?,
            billing_currency,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn section() -> TwilioSection {
        TwilioSection {
            account_sid: Some("AC0123456789abcdef".into()),
            auth_token: Some("0123456789abcdef0123".into()),
            ..TwilioSection::default()
        }
    }

    #[test]
    fn every_key_is_checked_and_named() {
        let env = |_: &str| None;
        let mut cx = SectionContext::new(&env);
        let bad = |f: fn(&mut TwilioSection)| {
            let mut s = section();
            f(&mut s);
            let env = |_: &str| None;
            s.resolve(&mut SectionContext::new(&env)).unwrap_err().key
        };
        assert_eq!(bad(|s| s.account_sid = None), "twilio.account_sid");
        assert_eq!(
            bad(|s| s.account_sid = Some("AC-1".into())),
            "twilio.account_sid"
        );
        assert_eq!(
            bad(|s| s.messaging_service_sid = Some(String::new())),
            "twilio.messaging_service_sid"
        );
        assert_eq!(
            bad(|s| s.api_base = Some("ftp://x".into())),
            "twilio.api_base"
        );
        assert_eq!(
            bad(|s| s.pace_per_second = Some(-1.0)),
            "twilio.pace_per_second"
        );
        assert_eq!(
            bad(|s| s.billing_currency = Some("dollars".into())),
            "twilio.billing_currency"
        );
        let mut eur = section();
        eur.billing_currency = Some("eur".into());
        assert_eq!(
            eur.resolve(&mut cx).unwrap().billing_currency,
            Currency::EUR
        );
    }

    #[test]
    fn a_bad_token_is_collected_not_returned() {
        let env = |_: &str| None;
        let mut cx = SectionContext::new(&env);
        let mut s = section();
        s.auth_token = Some("your_auth_token_here".into());
        assert!(s.resolve(&mut cx).is_ok());
        assert_eq!(cx.problems.len(), 1);
        assert_eq!(cx.problems[0].key, "twilio.auth_token");
        assert!(cx.problems[0].message.contains(ENV_AUTH_TOKEN));
    }
}
