//! The provider registry: every adapter the server can load, each owning its configuration
//! section (`[twilio]`, `[vonage]`, `[telnyx]`), its validation, its transport (the
//! [`SmsTransport`] the dispatcher sends through) and its webhook routes (`/{id}/…`). The
//! configuration and the application iterate [`REGISTRY`]; neither names a provider.
//!
//! Adding a provider to the server is one [`AdapterFactory`] in this list.

mod telnyx;
mod twilio;
mod vonage;

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use antirelou_core::engine::RatePerSecond;
use antirelou_core::kit::config::{KeyError, SectionContext};
use antirelou_core::{Currency, InboundHandler, ProviderId, SmsTransport};
use axum::Router;
use url::Url;

use crate::app::ServerError;
use crate::config::ConfigError;

pub use antirelou_twilio::section::{ENV_AUTH_TOKEN as ENV_TWILIO_AUTH_TOKEN, TwilioSettings};
pub use antirelou_vonage::section::{
    ENV_API_SECRET as ENV_VONAGE_API_SECRET, ENV_SIGNATURE_SECRET as ENV_VONAGE_SIGNATURE_SECRET,
    VonageSettings,
};
pub use telnyx::{TELNYX, TelnyxProvider};
pub use twilio::TWILIO;
pub use vonage::VONAGE;

/// Every adapter the server can load, in the order their routes are mounted.
pub static REGISTRY: [&dyn AdapterFactory; 3] = [&TWILIO, &VONAGE, &TELNYX];

/// The factory named `name` (`provider = "…"` of a `[[number]]`), if the registry has one.
pub fn factory(name: &str) -> Option<&'static dyn AdapterFactory> {
    REGISTRY.iter().copied().find(|f| f.id().as_str() == name)
}

/// The names the registry knows, quoted and comma-separated (for error messages).
pub fn known_names() -> String {
    REGISTRY
        .iter()
        .map(|f| format!("{:?}", f.id().as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One adapter as the server knows it before reading the configuration.
pub trait AdapterFactory: Sync {
    /// The provider's identity: `provider = "{id}"` in a `[[number]]`, its routes under
    /// `/{id}/`, its label in `/admin/stats` and `/metrics`.
    fn id(&self) -> ProviderId;

    /// The name of its TOML section (its id).
    fn section(&self) -> &'static str {
        self.id().as_str()
    }

    /// Deserialise and validate its section (the adapter's own type and rules, through the
    /// adapter kit's [`SectionContext`]); errors name the dotted key (`telnyx.api_key`).
    fn configure(
        &self,
        section: toml::Value,
        cx: &mut SectionContext<'_>,
    ) -> Result<Arc<dyn ConfiguredProvider>, ConfigError>;
}

/// What the wiring of a configured provider needs from the rest of the server.
#[allow(missing_debug_implementations)]
pub struct Wiring<'a> {
    /// `public_url`, parsed.
    pub public_url: &'a Url,
    /// `public_url` exactly as configured (some providers sign the URL as written).
    pub public_url_exact: &'a str,
    /// The server's `hash_secret` (keys derived message ids where a provider gives none).
    pub hash_secret: &'a str,
    /// Where verified webhooks go.
    pub handler: Arc<dyn InboundHandler>,
}

/// A provider whose section was read and validated: it builds its transport and its routes.
pub trait ConfiguredProvider: Debug + Send + Sync {
    /// The provider's identity.
    fn id(&self) -> ProviderId;

    /// The currencies the account bills in (its prices'): the server refuses to start unless
    /// each is the ledger's or has a rate in `[currency]`.
    fn billing_currencies(&self) -> Vec<Currency>;

    /// The client the dispatcher sends its numbers' lessons through, and its pace.
    fn transport(
        &self,
        wiring: &Wiring<'_>,
    ) -> Result<(Arc<dyn SmsTransport>, Option<RatePerSecond>), ServerError>;

    /// Its webhook routes, all under `/{id}/`.
    fn routes(&self, wiring: &Wiring<'_>) -> Result<Router, ServerError>;

    /// The settings themselves, for callers that know the concrete type (tests, tools).
    fn as_any(&self) -> &dyn Any;
}

/// `{public_url}{path}` (a callback URL given to a provider).
pub(crate) fn endpoint(public: &Url, path: &str) -> Result<Url, ServerError> {
    let base = public.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}{path}")).map_err(|e| ServerError::Provider {
        provider: "public_url",
        message: e.to_string(),
    })
}

/// A provider's error at wiring time.
pub(crate) fn wiring_error(id: ProviderId, e: impl std::fmt::Display) -> ServerError {
    ServerError::Provider {
        provider: id.as_str(),
        message: e.to_string(),
    }
}

/// `pace_per_second`, as the dispatcher's rate.
pub(crate) fn rate(id: ProviderId, v: Option<f64>) -> Result<Option<RatePerSecond>, ServerError> {
    v.map(|r| RatePerSecond::new(r).map_err(|e| wiring_error(id, format!("pace_per_second: {e}"))))
        .transpose()
}

/// Deserialise `section` into `T`, naming the faulty key as `{prefix}.{path}`.
pub(crate) fn deserialize<T: serde::de::DeserializeOwned>(
    prefix: &str,
    section: toml::Value,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(section).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().message().to_owned();
        let key = if path == "." || path.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{path}")
        };
        ConfigError::Key { key, message }
    })
}

impl From<KeyError> for ConfigError {
    fn from(e: KeyError) -> Self {
        ConfigError::Key {
            key: e.key,
            message: e.message,
        }
    }
}

#[cfg(test)]
mod tests;
