//! Sending SMS through Telnyx's Messaging API v2: [`TelnyxTransport`], an [`SmsTransport`].
//!
//! `POST {api_base}/v2/messages` with `Authorization: Bearer {api_key}` and a JSON body
//! `{"from": E.164, "to": E.164, "text": …}` (plus `messaging_profile_id` when configured).
//!
//! | Answer | Result |
//! |---|---|
//! | 2xx with `data.id` | [`SendReceipt`]: `provider_id` = `data.id`, `segments` = `data.parts` (or ours), `price` = `data.cost` in its `currency` (the engine converts it) |
//! | 2xx without `data.id`, or unreadable | the kit's [`accepted_without_id`]: `Transient`, the outcome is unknown (a rare duplicate rather than a lost lesson, as the [`SmsTransport`] contract asks) |
//! | 408, 425, 429, 5xx | the kit's [`classify_status`]: `Transient`, with `Retry-After` (seconds or HTTP date; the dispatcher clamps it) |
//! | other 4xx | by the most telling code of `errors[]` ([`crate::codes`]): `40300` opted out, invalid recipient, transient or permanent; `http-<status>` when no code |
//!
//! Timeouts and connection errors are `Transient` (the kit's [`client::send`]). Numbers in
//! Telnyx's error texts are masked; the API key appears in no error and no `Debug` output.

use std::sync::Arc;
use std::time::Duration;

use antirelou_core::kit::client::{self, http_client};
use antirelou_core::kit::{accepted_without_id, classify_status};
use antirelou_core::{Clock, OutboundSms, SendReceipt, SmsTransport, SystemClock};
use async_trait::async_trait;
use serde_json::{Value, json};
use url::Url;

use crate::codes::{self, CodeClass};
use crate::config::TelnyxConfig;
use crate::error::TelnyxError;
use crate::webhook::parse_cost;

/// The provider's name in the kit's error messages and logs.
const PROVIDER_NAME: &str = "telnyx";

/// Sends SMS through Telnyx's Messaging API v2.
#[derive(Debug, Clone)]
pub struct TelnyxTransport {
    config: TelnyxConfig,
    endpoint: Url,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl TelnyxTransport {
    /// A sender with its own HTTP client (the configuration's timeout applies to each request).
    pub fn new(config: TelnyxConfig) -> Result<Self, TelnyxError> {
        let user_agent = concat!("antirelou-telnyx/", env!("CARGO_PKG_VERSION"));
        let http = http_client(user_agent, config.timeout, None)
            .map_err(|e| TelnyxError::Config(e.to_string()))?;
        Self::with_http_client(config, http)
    }

    /// A sender using `http` (to share a connection pool, or set a proxy).
    pub fn with_http_client(
        config: TelnyxConfig,
        http: reqwest::Client,
    ) -> Result<Self, TelnyxError> {
        config.validate()?;
        let endpoint = config.messages_endpoint()?;
        Ok(TelnyxTransport {
            config,
            endpoint,
            http,
            clock: Arc::new(SystemClock),
        })
    }

    /// Use `clock` to turn an HTTP-date `Retry-After` into a delay.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The URL requests go to: `{api_base}/v2/messages`.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The JSON body sent for `sms`.
    pub fn request_body(&self, sms: &OutboundSms) -> Value {
        let mut body = json!({
            "from": sms.from().e164(),
            "to": sms.to().e164(),
            "text": sms.body(),
        });
        if let Some(p) = &self.config.messaging_profile_id {
            body["messaging_profile_id"] = Value::String(p.clone());
        }
        body
    }

    async fn send_inner(&self, sms: &OutboundSms) -> antirelou_core::Result<SendReceipt> {
        let request = self
            .http
            .post(self.endpoint.clone())
            .bearer_auth(&self.config.api_key)
            .header(http::header::ACCEPT, "application/json")
            .json(&self.request_body(sms));
        let answer = client::send(PROVIDER_NAME, request, self.clock.now()).await?;
        let result = interpret(
            answer.status,
            answer.retry_after,
            &answer.body,
            sms.segments(),
        );
        client::log_send("Telnyx", sms.to(), &result);
        result
    }
}

#[async_trait]
impl SmsTransport for TelnyxTransport {
    async fn send(&self, sms: &OutboundSms) -> antirelou_core::Result<SendReceipt> {
        self.send_inner(sms).await
    }
}

/// Interpret Telnyx's answer to `POST /v2/messages` (see the module table). `our_segments` is
/// used when the body has no `parts`; `cost` is the receipt's price, in its currency.
pub fn interpret(
    status: http::StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    our_segments: u32,
) -> antirelou_core::Result<SendReceipt> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(e) = classify_status(PROVIDER_NAME, status, retry_after, "") {
        return Err(e);
    }
    if !status.is_success() {
        return Err(refusal(status, retry_after, parsed.as_ref()).into());
    }
    let data = parsed.as_ref().and_then(|v| v.get("data"));
    let Some(provider_id) = data
        .and_then(|d| d.get("id"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 128)
    else {
        return Err(accepted_without_id(PROVIDER_NAME));
    };
    let segments = data
        .and_then(|d| d.get("parts"))
        .and_then(Value::as_u64)
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(our_segments);
    // An unreadable cost does not undo an accepted send: it is only left out.
    let price = parse_cost(data.and_then(|d| d.get("cost"))).ok().flatten();
    Ok(SendReceipt {
        provider_id: provider_id.to_owned(),
        segments,
        price,
    })
}

/// The error of a refusal (a status that is neither a success nor a "try again"), by the most
/// telling code of its `errors[]`.
fn refusal(
    status: http::StatusCode,
    retry_after: Option<Duration>,
    body: Option<&Value>,
) -> TelnyxError {
    let errors = codes::parse_errors(body.and_then(|v| v.get("errors")));
    let Some(worst) = codes::worst(&errors) else {
        return TelnyxError::Rejected {
            code: format!("http-{}", status.as_u16()),
            message: format!("HTTP {} without an error code", status.as_u16()),
        };
    };
    let (code, message) = (worst.code.clone(), worst.message());
    match worst.class() {
        CodeClass::OptedOut => TelnyxError::OptedOut { code, message },
        CodeClass::InvalidRecipient => TelnyxError::InvalidRecipient { code, message },
        CodeClass::Transient => TelnyxError::Transient {
            message: format!("{message} (Telnyx code {code})"),
            retry_after,
        },
        CodeClass::Permanent => TelnyxError::Rejected { code, message },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use antirelou_core::{Currency, Money, Price};
    use http::StatusCode;

    #[test]
    fn accepted_reads_id_parts_and_cost_with_its_currency() {
        let body = br#"{"data":{"record_type":"message","id":"40385f64-5717-4562-b3fc-2c963f66afa6","parts":2,"cost":{"amount":"0.0051","currency":"usd"}}}"#;
        let r = interpret(StatusCode::OK, None, body, 1).unwrap();
        assert_eq!(r.provider_id, "40385f64-5717-4562-b3fc-2c963f66afa6");
        assert_eq!(r.segments, 2);
        assert_eq!(
            r.price,
            Some(Price::new(Money::from_micros(5_100), Currency::USD))
        );
        let no_currency = br#"{"data":{"id":"x","cost":{"amount":"0.0051"}}}"#;
        assert_eq!(
            interpret(StatusCode::OK, None, no_currency, 1)
                .unwrap()
                .price,
            None
        );
    }
}
