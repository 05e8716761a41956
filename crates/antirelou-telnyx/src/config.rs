//! The adapter's configuration, validated before anything starts: an unusable key fails at
//! start-up, not at the first lesson.

use std::fmt;
use std::time::Duration;

use antirelou_core::Currency;
use ed25519_dalek::VerifyingKey;
use serde::Deserialize;
use url::Url;

use crate::error::TelnyxError;
use crate::signature::parse_public_key;

/// The default API base.
pub const DEFAULT_API_BASE: &str = "https://api.telnyx.com";

/// The shortest API key accepted (Telnyx's v2 keys are `KEY` followed by tens of characters).
const MIN_API_KEY_LEN: usize = 20;

/// Configuration of the Telnyx adapter: what `[telnyx]` in a server configuration holds.
///
/// ```
/// use antirelou_telnyx::TelnyxConfig;
/// let config = TelnyxConfig::new(
///     "KEY0123456789ABCDEF_abcdefghijkl",
///     "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
///     "https://api.telnyx.com",
/// ).unwrap();
/// assert!(!format!("{config:?}").contains("KEY0123"));
/// assert!(TelnyxConfig::new("KEY...", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", "https://api.telnyx.com").is_err());
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct TelnyxConfig {
    /// The API v2 key, sent as `Authorization: Bearer …`.
    pub api_key: String,
    /// The account's Ed25519 public key (base64, from the portal) that webhooks are verified with.
    pub public_key: VerifyingKey,
    /// The API base (`https://api.telnyx.com`; a loopback server in tests).
    pub api_base: Url,
    /// `messaging_profile_id` to send with, when the account wants one.
    pub messaging_profile_id: Option<String>,
    /// The currency the account is billed in (US dollars by default): what a server checks it
    /// has a rate for at start. Each cost carries its own currency all the same, and a cost in
    /// another one is converted by the engine only if it has a rate (never 1:1).
    pub billing_currency: Currency,
    /// The whole-request timeout of a send.
    pub timeout: Duration,
}

impl fmt::Debug for TelnyxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelnyxConfig")
            .field("api_key", &"<redacted>")
            .field("api_base", &self.api_base.as_str())
            .field("messaging_profile_id", &self.messaging_profile_id)
            .field("billing_currency", &self.billing_currency)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TelnyxConfig {
    /// A configuration with a 10 s timeout, validated (see [`TelnyxConfig::validate`]).
    pub fn new(api_key: &str, public_key: &str, api_base: &str) -> Result<Self, TelnyxError> {
        let api_base = Url::parse(api_base.trim())
            .map_err(|e| TelnyxError::Config(format!("api_base is not a URL: {e}")))?;
        let config = TelnyxConfig {
            api_key: api_key.trim().to_owned(),
            public_key: parse_public_key(public_key)?,
            api_base,
            messaging_profile_id: None,
            billing_currency: Currency::USD,
            timeout: Duration::from_secs(10),
        };
        config.validate()?;
        Ok(config)
    }

    /// Send with `messaging_profile_id`.
    pub fn with_messaging_profile(mut self, id: impl Into<String>) -> Self {
        self.messaging_profile_id = Some(id.into());
        self
    }

    /// The account bills in `currency`.
    pub fn with_billing_currency(mut self, currency: Currency) -> Self {
        self.billing_currency = currency;
        self
    }

    /// Set the request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Check every field: an API key that is long enough, without whitespace and not a
    /// placeholder (the adapter kit's rule); an `http(s)` API base without query or fragment; a
    /// non-zero timeout. (The public key was checked when parsed.)
    pub fn validate(&self) -> Result<(), TelnyxError> {
        let key = &self.api_key;
        if key.len() < MIN_API_KEY_LEN || key.chars().any(char::is_whitespace) {
            return Err(TelnyxError::Config(format!(
                "api_key must be at least {MIN_API_KEY_LEN} characters without spaces"
            )));
        }
        // The adapter kit's one placeholder rule, as for every adapter's secrets.
        if let Some(why) = antirelou_core::kit::config::placeholder_marker(key) {
            return Err(TelnyxError::Config(format!(
                "api_key {why}, from an example, not a real key"
            )));
        }
        if !matches!(self.api_base.scheme(), "http" | "https")
            || self.api_base.host_str().is_none()
            || self.api_base.query().is_some()
            || self.api_base.fragment().is_some()
        {
            return Err(TelnyxError::Config(
                "api_base must be an http(s) URL with a host and no query".into(),
            ));
        }
        if self.timeout.is_zero() {
            return Err(TelnyxError::Config("timeout must not be zero".into()));
        }
        if let Some(p) = &self.messaging_profile_id
            && (p.trim().is_empty() || p.len() > 128)
        {
            return Err(TelnyxError::Config(
                "messaging_profile_id must be 1 to 128 characters".into(),
            ));
        }
        Ok(())
    }

    /// `{api_base}/v2/messages`, keeping any path prefix of the base.
    pub fn messages_endpoint(&self) -> Result<Url, TelnyxError> {
        antirelou_core::kit::api_endpoint(&self.api_base, "v2/messages")
            .map_err(|e| TelnyxError::Config(e.to_string()))
    }
}

/// The environment variable that may hold the API key instead of the configuration file.
pub const API_KEY_ENV: &str = "ANTIRELOU_TELNYX_API_KEY";

/// The `[telnyx]` section of a server configuration, as written; [`TelnyxSection::resolve`]
/// validates it into a [`TelnyxConfig`]. Unknown keys are refused.
///
/// ```
/// use antirelou_telnyx::config::TelnyxSection;
/// let section: TelnyxSection = toml::from_str(r#"
///     public_key = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
///     api_base = "https://api.telnyx.com"
/// "#).unwrap();
/// // No api_key in the file: it comes from ANTIRELOU_TELNYX_API_KEY.
/// let config = section.resolve(Some("KEY0123456789ABCDEF_abcdefghijkl".into())).unwrap();
/// assert_eq!(config.api_base.as_str(), "https://api.telnyx.com/");
/// assert!(toml::from_str::<TelnyxSection>("public_key = \"x\"\napi_secret = \"y\"").is_err());
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TelnyxSection {
    /// The API key; may be left out when [`API_KEY_ENV`] is set.
    pub api_key: Option<String>,
    /// The base64 Ed25519 public key from the Telnyx portal.
    pub public_key: String,
    /// The API base; [`DEFAULT_API_BASE`] when left out.
    pub api_base: Option<String>,
    /// `messaging_profile_id` to send with.
    pub messaging_profile_id: Option<String>,
    /// The account's billing currency (see [`TelnyxConfig::billing_currency`]; `USD` when left
    /// out).
    pub billing_currency: Option<String>,
    /// The request timeout, in seconds (10 when left out).
    pub timeout_secs: Option<u64>,
}

impl fmt::Debug for TelnyxSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelnyxSection")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

impl TelnyxSection {
    /// Validate into a [`TelnyxConfig`]. `env_api_key` is the value of [`API_KEY_ENV`], if set;
    /// a key in both places is refused as ambiguous, a key in neither as missing.
    pub fn resolve(self, env_api_key: Option<String>) -> Result<TelnyxConfig, TelnyxError> {
        let api_key = match (self.api_key, env_api_key.filter(|k| !k.trim().is_empty())) {
            (Some(_), Some(_)) => {
                return Err(TelnyxError::Config(format!(
                    "api_key is set both in [telnyx] and in {API_KEY_ENV}: keep one"
                )));
            }
            (Some(k), None) | (None, Some(k)) => k,
            (None, None) => {
                return Err(TelnyxError::Config(format!(
                    "no api_key: set it in [telnyx] or in {API_KEY_ENV}"
                )));
            }
        };
        let mut config = TelnyxConfig::new(
            &api_key,
            &self.public_key,
            self.api_base.as_deref().unwrap_or(DEFAULT_API_BASE),
        )?;
        config.messaging_profile_id = self.messaging_profile_id;
        if let Some(c) = self.billing_currency {
            let c = Currency::parse(&c)
                .map_err(|e| TelnyxError::Config(format!("billing_currency: {e}")))?;
            config = config.with_billing_currency(c);
        }
        if let Some(t) = self.timeout_secs {
            config.timeout = Duration::from_secs(t);
        }
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const PK: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    const KEY: &str = "KEY0123456789ABCDEF_abcdefghijkl";

    #[test]
    fn refuses_unusable_values() {
        for bad in [
            "",
            "short",
            "KEY...",
            "YOUR_API_KEY_HERE_0123456",
            "KEY0123456789 ABCDEFGHIJ",
        ] {
            assert!(
                TelnyxConfig::new(bad, PK, DEFAULT_API_BASE).is_err(),
                "{bad:?}"
            );
        }
        for base in [
            "ftp://api.telnyx.com",
            "not a url",
            "https://api.telnyx.com/?a=b",
        ] {
            assert!(TelnyxConfig::new(KEY, PK, base).is_err(), "{base}");
        }
        assert!(TelnyxConfig::new(KEY, "AAAA", DEFAULT_API_BASE).is_err());
        let c = TelnyxConfig::new(KEY, PK, DEFAULT_API_BASE).unwrap();
        assert!(c.clone().with_timeout(Duration::ZERO).validate().is_err());
        assert_eq!(c.billing_currency, Currency::USD);
    }

    #[test]
    fn section_takes_the_key_from_one_place_only() {
        let section = |key: Option<&str>| TelnyxSection {
            api_key: key.map(str::to_owned),
            public_key: PK.into(),
            api_base: None,
            messaging_profile_id: None,
            billing_currency: Some("eur".into()),
            timeout_secs: Some(0),
        };
        assert!(section(Some(KEY)).resolve(Some(KEY.into())).is_err());
        assert!(section(None).resolve(None).is_err());
        // A zero timeout is refused after the key is found.
        assert!(section(Some(KEY)).resolve(None).is_err());
        let mut ok = section(None);
        ok.timeout_secs = None;
        let c = ok.resolve(Some(KEY.into())).unwrap();
        assert_eq!(c.billing_currency, Currency::EUR);
        let mut euro = section(None);
        euro.timeout_secs = None;
        euro.billing_currency = Some("euro".into());
        assert!(euro.resolve(Some(KEY.into())).is_err());
        assert!(!format!("{:?}", section(Some(KEY))).contains(KEY));
    }

    #[test]
    fn endpoint_keeps_prefix() {
        let c = TelnyxConfig::new(KEY, PK, "http://127.0.0.1:9/prefix").unwrap();
        assert_eq!(
            c.messages_endpoint().unwrap().as_str(),
            "http://127.0.0.1:9/prefix/v2/messages"
        );
    }
}
