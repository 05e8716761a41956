//! `[twilio]`: the Twilio account, its sender and its webhooks (`/twilio/…`).

use std::any::Any;
use std::sync::Arc;

use antirelou_core::engine::RatePerSecond;
use antirelou_core::{ProviderId, SmsTransport};
use antirelou_twilio::router::TwilioWebhookState;
use antirelou_twilio::twiml::VoiceMap;
use antirelou_twilio::{Auth, SignatureValidator, TwilioConfig, TwilioTransport, WebhookConfig};
use axum::Router;
use serde::Deserialize;
use url::Url;

use super::{AdapterFactory, ConfiguredProvider, SectionContext, Wiring, deserialize};
use crate::app::ServerError;
use crate::config::{ConfigError, SecretSpec, http_url, pace, required, secret};

/// Environment variable that fills or overrides `twilio.auth_token`.
pub const ENV_TWILIO_AUTH_TOKEN: &str = "ANTIRELOU_TWILIO_AUTH_TOKEN";

const AUTH_TOKEN: SecretSpec = SecretSpec {
    key: "twilio.auth_token",
    env: ENV_TWILIO_AUTH_TOKEN,
    min_len: 16,
    how: "set it from the Twilio console (Account, API keys & tokens, Auth Token) here or in \
          ANTIRELOU_TWILIO_AUTH_TOKEN",
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTwilio {
    account_sid: Option<String>,
    auth_token: Option<String>,
    api_base: Option<String>,
    messaging_service_sid: Option<String>,
    status_callback: Option<bool>,
    pace_per_second: Option<f64>,
}

/// The Twilio adapter in the registry.
#[derive(Debug)]
pub struct TwilioFactory;

/// The registry's entry for Twilio.
pub static TWILIO: TwilioFactory = TwilioFactory;

/// The Twilio account.
#[derive(Clone)]
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
}

impl std::fmt::Debug for TwilioSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioSettings")
            .field("account_sid", &self.account_sid)
            .field("api_base", &self.api_base.as_str())
            .finish_non_exhaustive()
    }
}

impl AdapterFactory for TwilioFactory {
    fn id(&self) -> ProviderId {
        antirelou_twilio::PROVIDER
    }

    fn configure(
        &self,
        section: toml::Value,
        cx: &mut SectionContext<'_>,
    ) -> Result<Arc<dyn ConfiguredProvider>, ConfigError> {
        let t: RawTwilio = deserialize("twilio", section)?;
        let account_sid = required("twilio.account_sid", t.account_sid)?;
        if !account_sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ConfigError::Key {
                key: "twilio.account_sid".into(),
                message: "must be alphanumeric (AC…)".into(),
            });
        }
        let auth_token = secret(AUTH_TOKEN, t.auth_token, cx.env, cx.problems);
        let api_base = http_url(
            "twilio.api_base",
            t.api_base
                .as_deref()
                .unwrap_or(antirelou_twilio::client::DEFAULT_API_BASE),
        )?;
        if let Some(sid) = &t.messaging_service_sid
            && (sid.is_empty() || !sid.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(ConfigError::Key {
                key: "twilio.messaging_service_sid".into(),
                message: "must be alphanumeric (MG…)".into(),
            });
        }
        Ok(Arc::new(TwilioSettings {
            account_sid,
            auth_token,
            api_base,
            messaging_service_sid: t.messaging_service_sid,
            status_callback: t.status_callback.unwrap_or(true),
            pace_per_second: pace("twilio.pace_per_second", t.pace_per_second)?,
        }))
    }
}

impl ConfiguredProvider for TwilioSettings {
    fn id(&self) -> ProviderId {
        antirelou_twilio::PROVIDER
    }

    fn transport(
        &self,
        wiring: &Wiring<'_>,
    ) -> Result<(Arc<dyn SmsTransport>, Option<RatePerSecond>), ServerError> {
        let id = self.id();
        let mut tc = TwilioConfig::new(Auth::AccountToken {
            account_sid: self.account_sid.clone(),
            auth_token: self.auth_token.clone(),
        })
        .with_api_base(self.api_base.clone());
        if let Some(sid) = &self.messaging_service_sid {
            tc = tc.with_messaging_service(sid.clone());
        }
        if self.status_callback {
            tc = tc.with_status_callback(super::endpoint(wiring.public_url, "/twilio/status")?);
        }
        let sender = TwilioTransport::new(tc).map_err(|e| super::wiring_error(id, e))?;
        Ok((Arc::new(sender), super::rate(id, self.pace_per_second)?))
    }

    fn routes(&self, wiring: &Wiring<'_>) -> Result<Router, ServerError> {
        let wc = WebhookConfig::new(
            wiring.public_url_exact,
            SignatureValidator::new(self.auth_token.clone()),
        )
        .map_err(|e| super::wiring_error(self.id(), e))?;
        Ok(antirelou_twilio::router::router(TwilioWebhookState {
            handler: wiring.handler.clone(),
            config: wc,
            voices: VoiceMap::default(),
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
