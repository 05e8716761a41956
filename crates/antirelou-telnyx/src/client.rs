//! Sending SMS through Telnyx's Messaging API v2: [`TelnyxSender`], an [`SmsSender`].
//!
//! `POST {api_base}/v2/messages` with `Authorization: Bearer {api_key}` and a JSON body
//! `{"from": E.164, "to": E.164, "text": …}` (plus `messaging_profile_id` when configured).
//!
//! | Answer | Result |
//! |---|---|
//! | 2xx with `data.id` | [`SendReceipt`]: `provider_id` = `data.id`, `segments` = `data.parts` (or ours), `price` = `data.cost.amount` when its currency is the ledger's |
//! | 2xx without `data.id`, or unreadable | `Transient`: the message may have been accepted, the outcome is unknown (a rare duplicate rather than a lost lesson, as the [`SmsSender`] contract asks) |
//! | 429, 5xx | `Transient`, with `Retry-After` (seconds or HTTP date, at most one hour) |
//! | other 4xx | by the most telling code of `errors[]` ([`crate::codes`]): `40300` opted out, invalid recipient, transient or permanent; `http-<status>` when no code |
//!
//! Timeouts and connection errors are `Transient`. Numbers in Telnyx's error texts are masked;
//! the API key appears in no error and no `Debug` output.

use std::sync::Arc;
use std::time::Duration;

use antirelou_core::{Clock, OutboundSms, SendReceipt, SmsSender, SystemClock, Timestamp};
use async_trait::async_trait;
use serde_json::{Value, json};
use url::Url;

use crate::codes::{self, CodeClass};
use crate::config::TelnyxConfig;
use crate::error::TelnyxError;
use crate::webhook::parse_cost;

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Sends SMS through Telnyx's Messaging API v2.
#[derive(Debug, Clone)]
pub struct TelnyxSender {
    config: TelnyxConfig,
    endpoint: Url,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl TelnyxSender {
    /// A sender with its own HTTP client (the configuration's timeout applies to each request).
    pub fn new(config: TelnyxConfig) -> Result<Self, TelnyxError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("antirelou-telnyx/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TelnyxError::Config(format!("HTTP client: {e}")))?;
        Self::with_http_client(config, http)
    }

    /// A sender using `http` (to share a connection pool, or set a proxy).
    pub fn with_http_client(
        config: TelnyxConfig,
        http: reqwest::Client,
    ) -> Result<Self, TelnyxError> {
        config.validate()?;
        let endpoint = config.messages_endpoint()?;
        Ok(TelnyxSender {
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

    async fn send_inner(&self, sms: &OutboundSms) -> Result<SendReceipt, TelnyxError> {
        let response = self
            .http
            .post(self.endpoint.clone())
            .bearer_auth(&self.config.api_key)
            .header(http::header::ACCEPT, "application/json")
            .json(&self.request_body(sms))
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        let retry_after = retry_after(response.headers(), self.clock.now());
        let bytes = response.bytes().await.map_err(|e| transport_error(&e))?;
        let result = interpret(
            status,
            retry_after,
            &bytes,
            sms.segments(),
            self.config.ledger_currency.as_deref(),
        );
        match &result {
            Ok(r) => {
                tracing::debug!(to = %sms.to().masked(), id = %r.provider_id, segments = r.segments, "Telnyx accepted the SMS")
            }
            Err(e) => {
                tracing::info!(to = %sms.to().masked(), error = %e, "Telnyx did not accept the SMS")
            }
        }
        result
    }
}

#[async_trait]
impl SmsSender for TelnyxSender {
    async fn send(&self, sms: &OutboundSms) -> antirelou_core::Result<SendReceipt> {
        self.send_inner(sms).await.map_err(Into::into)
    }
}

// TODO(kit): the adapter kit's transport classification replaces this once h-kit is merged.
fn transport_error(e: &reqwest::Error) -> TelnyxError {
    // The request may or may not have reached Telnyx: transient, as the contract asks. The
    // message names the failure only (reqwest's text would repeat the URL, never the key).
    let what = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "transport error"
    };
    TelnyxError::Transient {
        message: what.to_owned(),
        retry_after: None,
    }
}

/// Parse `Retry-After` (seconds or an HTTP date), capped at one hour.
// TODO(kit): the adapter kit's Retry-After parsing replaces this once h-kit is merged.
fn retry_after(headers: &http::HeaderMap, now: Timestamp) -> Option<Duration> {
    let v = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let d = if let Ok(secs) = v.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
        Timestamp::from_millis(at.timestamp_millis()).since(now)
    };
    Some(d.min(MAX_RETRY_AFTER))
}

/// Interpret Telnyx's answer to `POST /v2/messages` (see the module table). `our_segments` is
/// used when the body has no `parts`; `ledger_currency` decides whether `cost` becomes the
/// receipt's price.
pub fn interpret(
    status: http::StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    our_segments: u32,
    ledger_currency: Option<&str>,
) -> Result<SendReceipt, TelnyxError> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if status == http::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Err(TelnyxError::Transient {
            message: format!("HTTP {}", status.as_u16()),
            retry_after,
        });
    }
    if !status.is_success() {
        let errors = codes::parse_errors(parsed.as_ref().and_then(|v| v.get("errors")));
        let Some(worst) = codes::worst(&errors) else {
            return Err(TelnyxError::Rejected {
                code: format!("http-{}", status.as_u16()),
                message: format!("HTTP {} without an error code", status.as_u16()),
            });
        };
        let (code, message) = (worst.code.clone(), worst.message());
        return Err(match worst.class() {
            CodeClass::OptedOut => TelnyxError::OptedOut { code, message },
            CodeClass::InvalidRecipient => TelnyxError::InvalidRecipient { code, message },
            CodeClass::Transient => TelnyxError::Transient {
                message: format!("{message} (Telnyx code {code})"),
                retry_after,
            },
            CodeClass::Permanent => TelnyxError::Rejected { code, message },
        });
    }
    let unknown = |why: &str| TelnyxError::Transient {
        message: format!("HTTP {} {why}: outcome unknown", status.as_u16()),
        retry_after,
    };
    let data = parsed
        .as_ref()
        .ok_or_else(|| unknown("with a body that is not JSON"))?
        .get("data")
        .ok_or_else(|| unknown("without data"))?;
    let provider_id = data
        .get("id")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 128)
        .ok_or_else(|| unknown("without a message id"))?
        .to_owned();
    let segments = data
        .get("parts")
        .and_then(Value::as_u64)
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(our_segments);
    // An unreadable cost does not undo an accepted send: it is only left out.
    let price = parse_cost(data.get("cost"))
        .ok()
        .flatten()
        .filter(|c| ledger_currency.is_some_and(|l| l.eq_ignore_ascii_case(&c.currency)))
        .map(|c| c.amount);
    Ok(SendReceipt {
        provider_id,
        segments,
        price,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use antirelou_core::Money;
    use http::StatusCode;

    #[test]
    fn accepted_reads_id_parts_and_cost_in_the_ledger_currency_only() {
        let body = br#"{"data":{"record_type":"message","id":"40385f64-5717-4562-b3fc-2c963f66afa6","parts":2,"cost":{"amount":"0.0051","currency":"USD"}}}"#;
        let r = interpret(StatusCode::OK, None, body, 1, Some("USD")).unwrap();
        assert_eq!(r.provider_id, "40385f64-5717-4562-b3fc-2c963f66afa6");
        assert_eq!(r.segments, 2);
        assert_eq!(r.price, Some(Money::from_micros(5_100)));
        assert_eq!(
            interpret(StatusCode::OK, None, body, 1, Some("EUR"))
                .unwrap()
                .price,
            None
        );
        assert_eq!(
            interpret(StatusCode::OK, None, body, 1, None)
                .unwrap()
                .price,
            None
        );
    }

    #[test]
    fn retry_after_forms() {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "12".parse().unwrap());
        assert_eq!(
            retry_after(&h, Timestamp::EPOCH),
            Some(Duration::from_secs(12))
        );
        h.insert(
            http::header::RETRY_AFTER,
            "Thu, 01 Jan 1970 00:00:30 GMT".parse().unwrap(),
        );
        assert_eq!(
            retry_after(&h, Timestamp::from_secs(10)),
            Some(Duration::from_secs(20))
        );
        h.insert(http::header::RETRY_AFTER, "999999".parse().unwrap());
        assert_eq!(retry_after(&h, Timestamp::EPOCH), Some(MAX_RETRY_AFTER));
    }
}
