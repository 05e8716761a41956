//! Sending SMS through Vonage's SMS API: [`VonageTransport`], an [`SmsTransport`].
//!
//! `POST {api_base}/sms/json` with a form body: `api_key`, `from`, `to` (digits only),
//! `text`, `type=unicode` when the text is not GSM-7 (the SMS API does **not** detect it and
//! would garble the text), `client-ref` (≤ 40 characters), `callback`; authenticated with
//! `api_secret` or with `timestamp` + `sig` (signed with the documented algorithm over every
//! other field, `api_key` included).
//!
//! Vonage answers **HTTP 200 even on error**, with all values as strings and one `messages[]`
//! entry per segment. The status codes are read per message:
//!
//! | status | meaning | result |
//! |---|---|---|
//! | 0 | accepted | [`SendReceipt`]: `provider_id` = first `message-id`, `segments` = `message-count`, `price` = sum of `message-price` |
//! | 1 | throttled | `Transient` |
//! | 5 | internal error | `Transient` |
//! | 4 | invalid credentials | `Permanent` (code `4`) |
//! | 8 | account barred | `Permanent` (code `8`) |
//! | 9 | quota exceeded (no credit) | `Permanent` (code `9`) |
//! | 6 | invalid message (unrecognised prefix) | `InvalidRecipient` |
//! | 7 | number barred | `InvalidRecipient` |
//! | 33 | number de-activated | `InvalidRecipient` |
//! | 15 | invalid sender address | `Permanent` (code `15`): our sender, not the recipient |
//! | 14, 32 | invalid signature / signature and secret both sent | `Permanent`: configuration |
//! | 2, 3, 10, 11, 12, 22, 23, 29 and any unknown code | | `Permanent` with the code |
//!
//! **Partial failure** (some segments accepted, some not): the accepted segments are billed and
//! will be delivered; retrying would send and bill them again, and a flood of retries is exactly
//! what this project must not cause. So it counts as **sent**: the receipt has the accepted
//! segments' ids and price, and a warning is logged with the failed statuses.
//!
//! HTTP 408, 425, 429 and 5xx, timeouts and connection errors are `Transient` with `Retry-After`,
//! classified by the adapter kit ([`kit::classify_status`], [`client::send`]). A 2xx
//! whose body cannot be read, or whose accepted messages carry no `message-id`, leaves the
//! outcome unknown: `Transient`, as the [`SmsTransport`] contract asks. Other HTTP 4xx are
//! `Permanent` with the code `http-<status>`. Vonage's `error-text` is masked
//! ([`antirelou_core::phone::mask_numbers`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use antirelou_core::kit;
// Vonage sends every value as a string (or, defensively, a number).
use antirelou_core::kit::client::{self, REDACTED};
use antirelou_core::kit::params::json_field as text;
use antirelou_core::phone::mask_numbers;
use antirelou_core::{
    Clock, Currency, Money, OutboundSms, Price, SendReceipt, SmsTransport, SystemClock,
};
use async_trait::async_trait;
use serde_json::Value;
use url::Url;

use crate::error::VonageError;
use crate::signature::{SignatureMethod, SmsSigner};

/// The default API base.
pub const DEFAULT_API_BASE: &str = "https://rest.nexmo.com";

/// The longest `client-ref` the SMS API accepts.
pub const MAX_CLIENT_REF: usize = 40;

/// How requests are authenticated.
#[derive(Clone)]
#[non_exhaustive]
pub enum VonageAuth {
    /// `api_secret` in the body.
    Secret(String),
    /// `timestamp` + `sig` with the signature secret and method (the dashboard may enforce it).
    Signature {
        /// The signature secret (not the API secret).
        secret: String,
        /// The method chosen in the dashboard.
        method: SignatureMethod,
    },
}

impl fmt::Debug for VonageAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VonageAuth::Secret(_) => f.debug_tuple("Secret").field(&REDACTED).finish(),
            VonageAuth::Signature { method, .. } => f
                .debug_struct("Signature")
                .field("secret", &REDACTED)
                .field("method", method)
                .finish(),
        }
    }
}

/// Configuration of a [`VonageTransport`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VonageConfig {
    /// The API base, `https://rest.nexmo.com` by default (regional hosts and test servers can
    /// be set here).
    pub api_base: Url,
    /// `api_key`.
    pub api_key: String,
    /// How requests are authenticated.
    pub auth: VonageAuth,
    /// The sender: `None` sends from the number the man texted (in Vonage's digit form), which is
    /// what an anti-harassment number wants. `Some` overrides it (an alphanumeric sender ID, where
    /// the destination country allows it).
    pub from: Option<String>,
    /// `callback`: where Vonage sends delivery receipts (overrides the dashboard setting).
    pub callback: Option<Url>,
    /// The whole-request timeout.
    pub timeout: Duration,
    /// The currency the account is billed in. Vonage's `message-price` names none, so a receipt
    /// carries a price only when this is set; without it the price is left out (the engine keeps
    /// its estimate), never assumed to be in the ledger's currency.
    pub billing_currency: Option<Currency>,
}

impl VonageConfig {
    /// A configuration with the default API base, no sender override, no callback and a 10 s
    /// timeout.
    ///
    /// ```
    /// use antirelou_vonage::client::{VonageAuth, VonageConfig};
    /// let cfg = VonageConfig::new("abcd1234", VonageAuth::Secret("s3cr3t".into()));
    /// assert_eq!(cfg.api_base.as_str(), "https://rest.nexmo.com/");
    /// assert!(!format!("{cfg:?}").contains("s3cr3t"));
    /// ```
    pub fn new(api_key: impl Into<String>, auth: VonageAuth) -> Self {
        VonageConfig {
            // A constant, valid URL: this cannot fail.
            api_base: Url::parse(DEFAULT_API_BASE).expect("DEFAULT_API_BASE is a valid URL"),
            api_key: api_key.into(),
            auth,
            from: None,
            callback: None,
            timeout: Duration::from_secs(10),
            billing_currency: None,
        }
    }

    /// Use another API base (`http://127.0.0.1:port` for tests, a regional host…).
    pub fn with_api_base(mut self, base: Url) -> Self {
        self.api_base = base;
        self
    }

    /// Send from this sender ID or number instead of the texted number.
    pub fn with_from(mut self, from: impl Into<String>) -> Self {
        self.from = Some(from.into());
        self
    }

    /// Ask for delivery receipts at `url`.
    pub fn with_callback(mut self, url: Url) -> Self {
        self.callback = Some(url);
        self
    }

    /// Set the request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The currency the account is billed in (Vonage's dashboard, Billing), which its prices
    /// are in.
    pub fn with_billing_currency(mut self, currency: Currency) -> Self {
        self.billing_currency = Some(currency);
        self
    }
}

/// Sends SMS through Vonage's SMS API.
#[derive(Debug, Clone)]
pub struct VonageTransport {
    config: VonageConfig,
    endpoint: Url,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl VonageTransport {
    /// A sender with its own HTTP client.
    pub fn new(config: VonageConfig) -> Result<Self, VonageError> {
        let user_agent = concat!("antirelou-vonage/", env!("CARGO_PKG_VERSION"));
        let http = kit::http_client(user_agent, config.timeout, None)
            .map_err(|e| VonageError::Config(e.to_string()))?;
        Self::with_http_client(config, http)
    }

    /// A sender using `http` (to share a connection pool, or set a proxy).
    pub fn with_http_client(
        config: VonageConfig,
        http: reqwest::Client,
    ) -> Result<Self, VonageError> {
        if config.api_key.trim().is_empty() {
            return Err(VonageError::Config("empty api_key".into()));
        }
        match &config.auth {
            VonageAuth::Secret(s) | VonageAuth::Signature { secret: s, .. } if s.is_empty() => {
                return Err(VonageError::Config("empty API or signature secret".into()));
            }
            _ => {}
        }
        let endpoint = kit::api_endpoint(&config.api_base, "sms/json")
            .map_err(|e| VonageError::Config(e.to_string()))?;
        Ok(VonageTransport {
            config,
            endpoint,
            http,
            clock: Arc::new(SystemClock),
        })
    }

    /// Use `clock` for signature timestamps.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The URL requests go to: `{api_base}/sms/json`.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The form fields for `sms`, authentication included, in the order sent.
    pub fn form_fields(&self, sms: &OutboundSms) -> Vec<(&'static str, String)> {
        let mut fields: Vec<(&'static str, String)> = vec![
            ("api_key", self.config.api_key.clone()),
            (
                "from",
                self.config
                    .from
                    .clone()
                    .unwrap_or_else(|| crate::wire_number(sms.from()).to_owned()),
            ),
            ("to", crate::wire_number(sms.to()).to_owned()),
            ("text", sms.body().to_owned()),
        ];
        if sms.is_unicode() {
            fields.push(("type", "unicode".to_owned()));
        }
        let client_ref: String = sms.client_ref().chars().take(MAX_CLIENT_REF).collect();
        if !client_ref.is_empty() {
            fields.push(("client-ref", client_ref));
        }
        if let Some(cb) = &self.config.callback {
            fields.push(("callback", cb.to_string()));
        }
        match &self.config.auth {
            VonageAuth::Secret(secret) => fields.push(("api_secret", secret.clone())),
            VonageAuth::Signature { secret, method } => {
                fields.push(("timestamp", self.clock.now().as_secs().to_string()));
                let signer = SmsSigner::new(secret.clone(), *method);
                let sig = signer.sign(fields.iter().map(|(k, v)| (*k, v.as_str())));
                fields.push(("sig", sig));
            }
        }
        fields
    }

    async fn send_inner(&self, sms: &OutboundSms) -> Result<SendReceipt, VonageError> {
        let fields = self.form_fields(sms);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let request = self
            .http
            .post(self.endpoint.clone())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(body);
        let answer = client::send("Vonage", request, self.clock.now())
            .await
            .map_err(|u| VonageError::from_core(u.into()))?;
        let result = interpret(
            answer.status,
            answer.retry_after,
            &answer.body,
            sms.segments(),
            self.config.billing_currency,
        );
        client::log_send("Vonage", sms.to(), &result);
        result
    }
}

#[async_trait]
impl SmsTransport for VonageTransport {
    async fn send(&self, sms: &OutboundSms) -> antirelou_core::Result<SendReceipt> {
        self.send_inner(sms).await.map_err(Into::into)
    }
}

/// Map a non-zero SMS API status to an error.
///
/// ```
/// use antirelou_vonage::client::status_error;
/// assert!(status_error("1", "Throttled").is_transient());
/// let e: antirelou_core::Error = status_error("7", "Number barred.").into();
/// assert!(matches!(e, antirelou_core::Error::InvalidRecipient { .. }));
/// ```
pub fn status_error(code: &str, error_text: &str) -> VonageError {
    let message: String = if error_text.is_empty() {
        format!("status {code}")
    } else {
        mask_numbers(&error_text.chars().take(200).collect::<String>())
    };
    match code {
        "1" | "5" => VonageError::Transient {
            message,
            retry_after: None,
        },
        "6" | "7" | "33" => VonageError::InvalidRecipient {
            code: code.to_owned(),
            message,
        },
        _ => VonageError::Rejected {
            code: code.chars().take(16).collect(),
            message,
        },
    }
}

/// Interpret Vonage's answer to `POST /sms/json` (exposed for tests and for embedders who send
/// by other means). `our_segments` is used when the body has no `message-count`; the parts'
/// `message-price`s, summed, are the receipt's price in `billing_currency` (none without it).
pub fn interpret(
    status: http::StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    our_segments: u32,
    billing_currency: Option<Currency>,
) -> Result<SendReceipt, VonageError> {
    let detail = || {
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| text(&v, "error-text").or_else(|| text(&v, "title")))
            .map(|d| mask_numbers(&d))
            .unwrap_or_default()
    };
    if let Some(e) = kit::classify_status("Vonage", status, retry_after, &detail()) {
        return Err(VonageError::from_core(e));
    }
    if !status.is_success() {
        let detail = detail();
        return Err(VonageError::Rejected {
            code: format!("http-{}", status.as_u16()),
            message: format!(
                "HTTP {} {}",
                status.as_u16(),
                detail.chars().take(200).collect::<String>()
            ),
        });
    }
    let unknown = |why: &str| VonageError::Transient {
        message: format!(
            "HTTP {} with an unreadable body ({why}): outcome unknown",
            status.as_u16()
        ),
        retry_after,
    };
    let v: Value = serde_json::from_slice(body).map_err(|_| unknown("not JSON"))?;
    let messages = v
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| unknown("no messages"))?;
    if messages.is_empty() {
        return Err(unknown("empty messages"));
    }
    let mut accepted = Vec::new();
    let mut failed = Vec::new();
    for m in messages {
        match text(m, "status").as_deref() {
            Some("0") => accepted.push(m),
            Some(code) => failed.push((code.to_owned(), text(m, "error-text").unwrap_or_default())),
            None => return Err(unknown("a message without status")),
        }
    }
    if accepted.is_empty() {
        let (code, text) = &failed[0];
        return Err(status_error(code, text));
    }
    if !failed.is_empty() {
        tracing::warn!(
            accepted = accepted.len(),
            failed = ?failed.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
            "Vonage accepted only part of a multipart SMS; counted as sent (a retry would re-send and re-bill the accepted parts)"
        );
    }
    let provider_id = accepted
        .iter()
        .find_map(|m| text(m, "message-id").filter(|id| !id.is_empty()))
        .ok_or_else(|| VonageError::from_core(kit::accepted_without_id("Vonage")))?;
    let mut price: Option<Money> = None;
    for m in &accepted {
        if let Some(p) = text(m, "message-price")
            .as_deref()
            .and_then(Money::parse_decimal)
        {
            price = Some(price.unwrap_or(Money::ZERO) + p);
        }
    }
    let segments = if failed.is_empty() {
        text(&v, "message-count")
            .and_then(|c| c.parse::<u32>().ok())
            .filter(|c| *c > 0)
            .unwrap_or_else(|| u32::try_from(messages.len()).unwrap_or(our_segments))
    } else {
        u32::try_from(accepted.len()).unwrap_or(our_segments)
    };
    Ok(SendReceipt {
        provider_id,
        segments,
        price: price
            .zip(billing_currency)
            .map(|(amount, currency)| Price::new(amount, currency)),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http::StatusCode;

    const OK: &str = r#"{"message-count":"1","messages":[{"to":"447700900000","message-id":"0C000000217B7F02","status":"0","remaining-balance":"15.53590000","message-price":"0.03330000","network":"23410"}]}"#;

    #[test]
    fn success_reads_id_segments_price() {
        let r = interpret(StatusCode::OK, None, OK.as_bytes(), 9, Some(Currency::EUR)).unwrap();
        assert_eq!(r.provider_id, "0C000000217B7F02");
        assert_eq!(r.segments, 1);
        assert_eq!(
            r.price,
            Some(Price::new(Money::from_micros(33_300), Currency::EUR))
        );
        // No billing currency, no price: never assumed to be the ledger's.
        let r = interpret(StatusCode::OK, None, OK.as_bytes(), 9, None).unwrap();
        assert_eq!(r.price, None);
    }

    #[test]
    fn partial_failure_counts_as_sent_with_accepted_price() {
        let body = r#"{"message-count":"2","messages":[{"to":"447700900000","message-id":"A1","status":"0","message-price":"0.05"},{"status":"1","error-text":"Throttled"}]}"#;
        let r = interpret(
            StatusCode::OK,
            None,
            body.as_bytes(),
            2,
            Some(Currency::EUR),
        )
        .unwrap();
        assert_eq!(r.provider_id, "A1");
        assert_eq!(r.segments, 1);
        assert_eq!(
            r.price,
            Some(Price::new(Money::from_micros(50_000), Currency::EUR))
        );
    }

    #[test]
    fn status_table() {
        let core = |c: &str| -> antirelou_core::Error { status_error(c, "x").into() };
        assert!(core("1").is_transient());
        assert!(core("5").is_transient());
        for c in [
            "4", "8", "9", "15", "14", "32", "2", "3", "29", "99", "1234",
        ] {
            let e = core(c);
            assert!(
                matches!(&e, antirelou_core::Error::Permanent { code: Some(k), .. } if k == c),
                "{c}: {e:?}"
            );
        }
        for c in ["6", "7", "33"] {
            assert!(
                matches!(core(c), antirelou_core::Error::InvalidRecipient { .. }),
                "{c}"
            );
        }
    }

    #[test]
    fn http_errors() {
        let e = interpret(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(Duration::from_secs(7)),
            b"oops",
            1,
            None,
        )
        .unwrap_err();
        assert!(e.is_transient());
        assert_eq!(
            antirelou_core::Error::from(e).retry_after(),
            Some(Duration::from_secs(7))
        );
        assert!(
            interpret(StatusCode::TOO_MANY_REQUESTS, None, b"", 1, None)
                .unwrap_err()
                .is_transient()
        );
        let e: antirelou_core::Error = interpret(StatusCode::UNAUTHORIZED, None, b"{}", 1, None)
            .unwrap_err()
            .into();
        assert!(
            matches!(e, antirelou_core::Error::Permanent { code: Some(ref c), .. } if c == "http-401")
        );
        assert!(
            interpret(StatusCode::OK, None, b"<html>", 1, None)
                .unwrap_err()
                .is_transient()
        );
        assert!(
            interpret(StatusCode::OK, None, br#"{"messages":[]}"#, 1, None)
                .unwrap_err()
                .is_transient()
        );
    }
}
