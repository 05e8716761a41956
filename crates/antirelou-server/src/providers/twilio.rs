//! `[twilio]`: the section is the adapter's own [`TwilioSection`], validated by the adapter;
//! the server wires the transport and `/twilio/…`.

use std::any::Any;
use std::sync::Arc;

use antirelou_core::engine::RatePerSecond;
use antirelou_core::kit::config::SectionContext;
use antirelou_core::{Currency, ProviderId, SmsTransport};
use antirelou_twilio::router::TwilioWebhookState;
use antirelou_twilio::section::{TwilioSection, TwilioSettings};
use antirelou_twilio::twiml::VoiceMap;
use antirelou_twilio::{Auth, SignatureValidator, TwilioConfig, TwilioTransport, WebhookConfig};
use axum::Router;

use super::{AdapterFactory, ConfiguredProvider, Wiring, deserialize};
use crate::app::ServerError;
use crate::config::ConfigError;

/// The Twilio adapter in the registry.
#[derive(Debug)]
pub struct TwilioFactory;

/// The registry's entry for Twilio.
pub static TWILIO: TwilioFactory = TwilioFactory;

impl AdapterFactory for TwilioFactory {
    fn id(&self) -> ProviderId {
        antirelou_twilio::PROVIDER
    }

    fn configure(
        &self,
        section: toml::Value,
        cx: &mut SectionContext<'_>,
    ) -> Result<Arc<dyn ConfiguredProvider>, ConfigError> {
        let section: TwilioSection = deserialize("twilio", section)?;
        Ok(Arc::new(section.resolve(cx)?))
    }
}

impl ConfiguredProvider for TwilioSettings {
    fn id(&self) -> ProviderId {
        antirelou_twilio::PROVIDER
    }

    fn billing_currencies(&self) -> Vec<Currency> {
        vec![self.billing_currency]
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
