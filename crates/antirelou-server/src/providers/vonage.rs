//! `[vonage]`: the section is the adapter's own [`VonageSection`], validated by the adapter;
//! the server wires the transport and `/vonage/…`.

use std::any::Any;
use std::sync::Arc;

use antirelou_core::engine::RatePerSecond;
use antirelou_core::kit::config::SectionContext;
use antirelou_core::{Currency, ProviderId, SmsTransport};
use antirelou_vonage::jwt::JwtVerifier;
use antirelou_vonage::section::{VonageSection, VonageSettings};
use antirelou_vonage::{SmsSigner, VonageAuth, VonageConfig, VonageTransport, VonageWebhooks};
use axum::Router;

use super::{AdapterFactory, ConfiguredProvider, Wiring, deserialize};
use crate::app::ServerError;
use crate::config::ConfigError;

/// The Vonage adapter in the registry.
#[derive(Debug)]
pub struct VonageFactory;

/// The registry's entry for Vonage.
pub static VONAGE: VonageFactory = VonageFactory;

impl AdapterFactory for VonageFactory {
    fn id(&self) -> ProviderId {
        antirelou_vonage::PROVIDER
    }

    fn configure(
        &self,
        section: toml::Value,
        cx: &mut SectionContext<'_>,
    ) -> Result<Arc<dyn ConfiguredProvider>, ConfigError> {
        let section: VonageSection = deserialize("vonage", section)?;
        Ok(Arc::new(section.resolve(cx)?))
    }
}

impl ConfiguredProvider for VonageSettings {
    fn id(&self) -> ProviderId {
        antirelou_vonage::PROVIDER
    }

    fn billing_currencies(&self) -> Vec<Currency> {
        vec![self.billing_currency]
    }

    fn transport(
        &self,
        wiring: &Wiring<'_>,
    ) -> Result<(Arc<dyn SmsTransport>, Option<RatePerSecond>), ServerError> {
        let id = self.id();
        let mut vc = VonageConfig::new(
            self.api_key.clone(),
            VonageAuth::Secret(self.api_secret.clone()),
        )
        .with_api_base(self.api_base.clone())
        .with_billing_currency(self.billing_currency);
        if self.delivery_receipts {
            vc = vc.with_callback(super::endpoint(wiring.public_url, "/vonage/dlr")?);
        }
        let sender = VonageTransport::new(vc).map_err(|e| super::wiring_error(id, e))?;
        Ok((Arc::new(sender), super::rate(id, self.pace_per_second)?))
    }

    fn routes(&self, wiring: &Wiring<'_>) -> Result<Router, ServerError> {
        let hooks = VonageWebhooks::builder(wiring.handler.clone())
            .voice_jwt(JwtVerifier::new(self.signature_secret.as_bytes()))
            .sms_signer(SmsSigner::new(
                self.signature_secret.clone(),
                self.signature_method,
            ))
            .id_key(wiring.hash_secret.as_bytes())
            .billing_currency(self.billing_currency)
            .build()
            .map_err(|e| super::wiring_error(self.id(), e))?;
        Ok(antirelou_vonage::router::router(Arc::new(hooks)))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
