//! `[vonage]`: the Vonage account, its sender and its webhooks (`/vonage/…`).

use std::any::Any;
use std::sync::Arc;

use antirelou_core::engine::RatePerSecond;
use antirelou_core::{ProviderId, SmsTransport};
use antirelou_vonage::jwt::JwtVerifier;
use antirelou_vonage::{
    SignatureMethod, SmsSigner, VonageAuth, VonageConfig, VonageTransport, VonageWebhooks,
};
use axum::Router;
use serde::Deserialize;
use url::Url;

use super::{AdapterFactory, ConfiguredProvider, SectionContext, Wiring, deserialize};
use crate::app::ServerError;
use crate::config::{ConfigError, SecretSpec, http_url, pace, required, secret};

/// Environment variable that fills or overrides `vonage.api_secret`.
pub const ENV_VONAGE_API_SECRET: &str = "ANTIRELOU_VONAGE_API_SECRET";
/// Environment variable that fills or overrides `vonage.signature_secret`.
pub const ENV_VONAGE_SIGNATURE_SECRET: &str = "ANTIRELOU_VONAGE_SIGNATURE_SECRET";

const API_SECRET: SecretSpec = SecretSpec {
    key: "vonage.api_secret",
    env: ENV_VONAGE_API_SECRET,
    min_len: 8,
    how: "set it from the Vonage dashboard (API Settings, API secret) here or in \
          ANTIRELOU_VONAGE_API_SECRET",
};
const SIGNATURE_SECRET: SecretSpec = SecretSpec {
    key: "vonage.signature_secret",
    env: ENV_VONAGE_SIGNATURE_SECRET,
    min_len: 16,
    how: "set it from the Vonage dashboard (API Settings, Signature secret) here or in \
          ANTIRELOU_VONAGE_SIGNATURE_SECRET",
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVonage {
    api_key: Option<String>,
    api_secret: Option<String>,
    signature_secret: Option<String>,
    signature_method: Option<String>,
    api_base: Option<String>,
    delivery_receipts: Option<bool>,
    pace_per_second: Option<f64>,
}

/// The Vonage adapter in the registry.
#[derive(Debug)]
pub struct VonageFactory;

/// The registry's entry for Vonage.
pub static VONAGE: VonageFactory = VonageFactory;

/// The Vonage account.
#[derive(Clone)]
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
}

impl std::fmt::Debug for VonageSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VonageSettings")
            .field("api_key", &self.api_key)
            .field("signature_method", &self.signature_method)
            .field("api_base", &self.api_base.as_str())
            .finish_non_exhaustive()
    }
}

impl AdapterFactory for VonageFactory {
    fn id(&self) -> ProviderId {
        antirelou_vonage::PROVIDER
    }

    fn configure(
        &self,
        section: toml::Value,
        cx: &mut SectionContext<'_>,
    ) -> Result<Arc<dyn ConfiguredProvider>, ConfigError> {
        let v: RawVonage = deserialize("vonage", section)?;
        let api_key = required("vonage.api_key", v.api_key)?;
        let api_secret = secret(API_SECRET, v.api_secret, cx.env, cx.problems);
        let signature_secret = secret(SIGNATURE_SECRET, v.signature_secret, cx.env, cx.problems);
        let signature_method = match v.signature_method.as_deref() {
            None => SignatureMethod::Md5Hash,
            Some(m) => m.parse().map_err(|_| ConfigError::Key {
                key: "vonage.signature_method".into(),
                message: format!("{m:?}: expected md5hash, md5, sha1, sha256 or sha512"),
            })?,
        };
        let api_base = http_url(
            "vonage.api_base",
            v.api_base
                .as_deref()
                .unwrap_or(antirelou_vonage::client::DEFAULT_API_BASE),
        )?;
        Ok(Arc::new(VonageSettings {
            api_key,
            api_secret,
            signature_secret,
            signature_method,
            api_base,
            delivery_receipts: v.delivery_receipts.unwrap_or(true),
            pace_per_second: pace("vonage.pace_per_second", v.pace_per_second)?,
        }))
    }
}

impl ConfiguredProvider for VonageSettings {
    fn id(&self) -> ProviderId {
        antirelou_vonage::PROVIDER
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
        .with_api_base(self.api_base.clone());
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
            .build()
            .map_err(|e| super::wiring_error(self.id(), e))?;
        Ok(antirelou_vonage::router::router(Arc::new(hooks)))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
