//! `[telnyx]`: the section is the adapter's own [`TelnyxSection`], validated by the adapter;
//! the server adds its placeholder check and wires the sender and `/telnyx/…`.

use std::any::Any;
use std::sync::Arc;

use antirelou_core::engine::RatePerSecond;
use antirelou_core::kit::config::SectionContext;
use antirelou_core::{Currency, ProviderId, SmsTransport};
use antirelou_telnyx::config::{API_KEY_ENV, TelnyxSection};
use antirelou_telnyx::{TelnyxConfig, TelnyxError, TelnyxTransport, TelnyxWebhooks};
use axum::Router;

use super::{AdapterFactory, ConfiguredProvider, Wiring, deserialize};
use crate::app::ServerError;
use crate::config::ConfigError;

/// The Telnyx adapter in the registry.
#[derive(Debug)]
pub struct TelnyxFactory;

/// The registry's entry for Telnyx.
pub static TELNYX: TelnyxFactory = TelnyxFactory;

/// The Telnyx account, validated by the adapter.
#[derive(Debug, Clone)]
pub struct TelnyxProvider {
    /// The adapter's configuration.
    pub config: TelnyxConfig,
}

/// The keys of `[telnyx]`, to name the one a [`TelnyxError::Config`] is about.
const KEYS: [&str; 6] = [
    "api_key",
    "public_key",
    "api_base",
    "messaging_profile_id",
    "billing_currency",
    "timeout",
];

fn config_error(e: TelnyxError) -> ConfigError {
    let message = match e {
        TelnyxError::Config(m) => m,
        other => other.to_string(),
    };
    let field = KEYS
        .iter()
        .find(|k| message.starts_with(*k) || message.contains(&format!("no {k}")))
        .map_or("", |k| k);
    let key = match field {
        "" => "telnyx".to_owned(),
        "timeout" => "telnyx.timeout_secs".to_owned(),
        k => format!("telnyx.{k}"),
    };
    ConfigError::Key { key, message }
}

impl AdapterFactory for TelnyxFactory {
    fn id(&self) -> ProviderId {
        antirelou_telnyx::PROVIDER
    }

    fn configure(
        &self,
        section: toml::Value,
        cx: &mut SectionContext<'_>,
    ) -> Result<Arc<dyn ConfiguredProvider>, ConfigError> {
        let section: TelnyxSection = deserialize("telnyx", section)?;
        let env_key = (cx.env)(API_KEY_ENV);
        let origin = if env_key.as_deref().is_some_and(|k| !k.trim().is_empty()) {
            format!(" (from {API_KEY_ENV})")
        } else {
            String::new()
        };
        let config = section.resolve(env_key).map_err(config_error)?;
        if let Some(why) = cx.placeholder_reason(&config.api_key) {
            return Err(ConfigError::Key {
                key: "telnyx.api_key".into(),
                message: format!(
                    "{why}{origin}; set it from the Telnyx portal (API Keys) here or in \
                     {API_KEY_ENV}"
                ),
            });
        }
        Ok(Arc::new(TelnyxProvider { config }))
    }
}

impl ConfiguredProvider for TelnyxProvider {
    fn id(&self) -> ProviderId {
        antirelou_telnyx::PROVIDER
    }

    fn billing_currencies(&self) -> Vec<Currency> {
        vec![self.config.billing_currency]
    }

    fn transport(
        &self,
        _wiring: &Wiring<'_>,
    ) -> Result<(Arc<dyn SmsTransport>, Option<RatePerSecond>), ServerError> {
        let sender = TelnyxTransport::new(self.config.clone())
            .map_err(|e| super::wiring_error(self.id(), e))?;
        Ok((Arc::new(sender), None))
    }

    fn routes(&self, wiring: &Wiring<'_>) -> Result<Router, ServerError> {
        let hooks = TelnyxWebhooks::from_config(wiring.handler.clone(), &self.config).build();
        Ok(antirelou_telnyx::router::router(Arc::new(hooks)))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
