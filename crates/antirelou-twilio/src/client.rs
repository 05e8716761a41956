//! Send SMS through Twilio's Messages API: [`TwilioTransport`] implements the core's
//! [`SmsTransport`].
//!
//! `POST {api_base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP Basic
//! auth (account SID and auth token, or API key SID and secret), with `To`, `From` or
//! `MessagingServiceSid`, `Body` and optionally `StatusCallback`. The base URL is configurable
//! so tests can point it at a loopback server.
//!
//! Responses: `201` gives a [`SendReceipt`] (`sid`, `num_segments`, `price`); an error body
//! (`{"code": 21610, "message": …, "status": 400}`) is read and mapped as described on
//! [`TwilioError::to_core_error`](crate::TwilioError::to_core_error). A body that is not JSON
//! never breaks anything: a 5xx stays transient, anything else is permanent.
//!
//! ```
//! use antirelou_twilio::client::{Auth, TwilioConfig, TwilioTransport};
//! let cfg = TwilioConfig::new(Auth::AccountToken {
//!     account_sid: "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
//!     auth_token: "secret".into(),
//! })
//! .with_api_base("http://127.0.0.1:9/".parse().unwrap());
//! let sender = TwilioTransport::new(cfg).unwrap();
//! assert!(!format!("{sender:?}").contains("secret"));
//! ```

use std::fmt;
use std::time::Duration;

use antirelou_core::Price;
use antirelou_core::transport::{OutboundSms, SendReceipt, SmsTransport};
use async_trait::async_trait;
use serde_json::Value;
use url::Url;

use antirelou_core::kit::{self, client};
use antirelou_core::phone::mask_numbers;
use antirelou_core::{Clock, SystemClock};

use crate::error::TwilioError;

pub mod lookup;

/// The production API base.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";

/// How the adapter authenticates to Twilio's REST API (HTTP Basic).
#[derive(Clone)]
#[non_exhaustive]
pub enum Auth {
    /// The account SID and its auth token.
    AccountToken {
        /// `AC…`.
        account_sid: String,
        /// The auth token.
        auth_token: String,
    },
    /// An API key (recommended: it can be revoked alone).
    ApiKey {
        /// The account the messages belong to, `AC…`.
        account_sid: String,
        /// The API key SID, `SK…`.
        key_sid: String,
        /// The API key secret.
        secret: String,
    },
}

impl Auth {
    /// The account SID used in the URL.
    pub fn account_sid(&self) -> &str {
        match self {
            Auth::AccountToken { account_sid, .. } | Auth::ApiKey { account_sid, .. } => {
                account_sid
            }
        }
    }

    fn credentials(&self) -> (&str, &str) {
        match self {
            Auth::AccountToken {
                account_sid,
                auth_token,
            } => (account_sid, auth_token),
            Auth::ApiKey {
                key_sid, secret, ..
            } => (key_sid, secret),
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::AccountToken { account_sid, .. } => f
                .debug_struct("AccountToken")
                .field("account_sid", account_sid)
                .field("auth_token", &antirelou_core::kit::client::REDACTED)
                .finish(),
            Auth::ApiKey {
                account_sid,
                key_sid,
                ..
            } => f
                .debug_struct("ApiKey")
                .field("account_sid", account_sid)
                .field("key_sid", key_sid)
                .field("secret", &antirelou_core::kit::client::REDACTED)
                .finish(),
        }
    }
}

/// Who the message is sent from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendFrom {
    /// `From` = the message's own origin number ([`OutboundSms::from`]): the number the person
    /// texted, so the lesson comes back from it.
    #[default]
    Number,
    /// `MessagingServiceSid` = this service (`MG…`); Twilio picks the number.
    MessagingService(String),
}

/// Configuration of [`TwilioTransport`].
#[derive(Clone, Debug)]
pub struct TwilioConfig {
    /// The API base, `https://api.twilio.com` by default.
    pub api_base: Url,
    /// Credentials.
    pub auth: Auth,
    /// `From` or `MessagingServiceSid`.
    pub send_from: SendFrom,
    /// Sent as `StatusCallback` when set: where Twilio posts delivery updates.
    pub status_callback: Option<Url>,
    /// The whole-request timeout (10 s by default). A timeout is a transient error.
    pub timeout: Duration,
    /// The connection timeout (5 s by default).
    pub connect_timeout: Duration,
}

impl TwilioConfig {
    /// Defaults: the production API, `From` = the message's number, no status callback, 10 s
    /// timeout.
    pub fn new(auth: Auth) -> Self {
        TwilioConfig {
            api_base: Url::parse(DEFAULT_API_BASE).unwrap_or_else(|_| unreachable!("constant URL")),
            auth,
            send_from: SendFrom::Number,
            status_callback: None,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// Use another API base (a test server, a Twilio edge).
    pub fn with_api_base(mut self, api_base: Url) -> Self {
        self.api_base = api_base;
        self
    }

    /// Send through a Messaging Service instead of `From`.
    pub fn with_messaging_service(mut self, sid: impl Into<String>) -> Self {
        self.send_from = SendFrom::MessagingService(sid.into());
        self
    }

    /// Ask Twilio for status callbacks at `url`.
    pub fn with_status_callback(mut self, url: Url) -> Self {
        self.status_callback = Some(url);
        self
    }

    /// Set the whole-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Sends SMS through Twilio's Messages API.
#[derive(Clone)]
pub struct TwilioTransport {
    http: reqwest::Client,
    messages_url: Url,
    config: TwilioConfig,
}

impl fmt::Debug for TwilioTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioTransport")
            .field("messages_url", &self.messages_url.as_str())
            .field("auth", &self.config.auth)
            .field("send_from", &self.config.send_from)
            .finish()
    }
}

fn is_sid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl TwilioTransport {
    /// Build a sender (and its HTTP client, rustls TLS). Fails on a base URL that cannot take
    /// a path or on SIDs that are not alphanumeric.
    pub fn new(config: TwilioConfig) -> Result<Self, TwilioError> {
        let account_sid = config.auth.account_sid();
        if !is_sid(account_sid) {
            return Err(TwilioError::Config(
                "account SID must be alphanumeric (AC…)".into(),
            ));
        }
        if let SendFrom::MessagingService(sid) = &config.send_from
            && !is_sid(sid)
        {
            return Err(TwilioError::Config(
                "messaging service SID must be alphanumeric (MG…)".into(),
            ));
        }
        let messages_url = kit::api_endpoint(
            &config.api_base,
            &format!("2010-04-01/Accounts/{account_sid}/Messages.json"),
        )
        .map_err(|e| TwilioError::Config(e.to_string()))?;
        let user_agent = concat!("antirelou-twilio/", env!("CARGO_PKG_VERSION"));
        let http = kit::http_client(user_agent, config.timeout, Some(config.connect_timeout))
            .map_err(|e| TwilioError::Config(e.to_string()))?;
        Ok(TwilioTransport {
            http,
            messages_url,
            config,
        })
    }

    /// The Messages endpoint this sender posts to.
    pub fn messages_url(&self) -> &Url {
        &self.messages_url
    }

    /// The form fields of a message, in the order sent (numbers in E.164 with `+`, as Twilio
    /// wants them everywhere).
    pub fn form_fields(&self, sms: &OutboundSms) -> Vec<(&'static str, String)> {
        let mut fields = vec![("To", sms.to().e164().to_owned())];
        match &self.config.send_from {
            SendFrom::Number => fields.push(("From", sms.from().e164().to_owned())),
            SendFrom::MessagingService(sid) => fields.push(("MessagingServiceSid", sid.clone())),
        }
        fields.push(("Body", sms.body().to_owned()));
        if let Some(cb) = &self.config.status_callback {
            fields.push(("StatusCallback", cb.as_str().to_owned()));
        }
        fields
    }

    /// Send one message; the error keeps Twilio's details (see [`SmsTransport::send`] for the core
    /// error).
    pub async fn send_message(&self, sms: &OutboundSms) -> Result<SendReceipt, TwilioError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.form_fields(sms))
            .finish();
        let (user, pass) = self.config.auth.credentials();
        let request = self
            .http
            .post(self.messages_url.clone())
            .basic_auth(user, Some(pass))
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(body);
        let answer = client::send("Twilio", request, SystemClock.now())
            .await
            .map_err(transport)?;
        if answer.status.is_success() {
            receipt_from_body(&answer.body, sms.segments())
        } else {
            Err(api_error(
                answer.status.as_u16(),
                &answer.body,
                answer.retry_after,
            ))
        }
    }
}

/// The kit's [`Unfinished`](client::Unfinished): the kind of failure and its causes, masked,
/// never the URL.
fn transport(u: client::Unfinished) -> TwilioError {
    TwilioError::Transport {
        message: u.message,
        timeout: u.timeout,
    }
}

/// A JSON value that Twilio sends as a string or a number, as an integer.
fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The receipt of a `2xx` response. A missing `sid` is [`TwilioError::AcceptedWithoutId`] (the
/// outcome is unknown: a transient error); a missing or `"0"` `num_segments` (Messaging
/// Service at creation) gives our own count.
pub fn receipt_from_body(body: &[u8], our_segments: u32) -> Result<SendReceipt, TwilioError> {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let provider_id = json
        .get("sid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .take(64)
        .collect::<String>();
    if provider_id.is_empty() {
        return Err(TwilioError::AcceptedWithoutId);
    }
    let segments = json
        .get("num_segments")
        .and_then(as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(our_segments);
    // `price` comes with `price_unit` (ISO 4217); a price without its unit is no price.
    let unit = json.get("price_unit").and_then(Value::as_str).unwrap_or("");
    let price = json
        .get("price")
        .and_then(|p| match p {
            Value::String(s) => Price::parse(s, unit),
            Value::Number(n) => Price::parse(&n.to_string(), unit),
            _ => None,
        })
        .map(Price::abs);
    Ok(SendReceipt {
        provider_id,
        segments,
        price,
    })
}

/// The error of a non-`2xx` response, from Twilio's error JSON when there is one.
pub fn api_error(http_status: u16, body: &[u8], retry_after: Option<Duration>) -> TwilioError {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = json
        .get("code")
        .and_then(as_u64)
        .and_then(|c| u32::try_from(c).ok());
    let message = match json.get("message").and_then(Value::as_str) {
        Some(m) => mask_numbers(&m.chars().take(300).collect::<String>()),
        None if json.is_object() => "no message in Twilio's error body".to_owned(),
        None => {
            let text: String = String::from_utf8_lossy(body).chars().take(120).collect();
            if text.trim().is_empty() {
                "empty body".to_owned()
            } else {
                format!("non-JSON body: {}", mask_numbers(&text))
            }
        }
    };
    TwilioError::Api {
        http_status,
        code,
        message,
        retry_after,
    }
}

#[async_trait]
impl SmsTransport for TwilioTransport {
    async fn send(&self, sms: &OutboundSms) -> antirelou_core::Result<SendReceipt> {
        match self.send_message(sms).await {
            Ok(r) => Ok(r),
            Err(e) => {
                tracing::warn!(to = %sms.to().masked(), client_ref = sms.client_ref(), error = %e, "Twilio send failed");
                Err(e.into())
            }
        }
    }

    async fn find_accepted(
        &self,
        sms: &OutboundSms,
        since: antirelou_core::Timestamp,
    ) -> antirelou_core::Result<antirelou_core::PriorSend> {
        self.find_message(sms, since).await.map_err(Into::into)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn receipt_parsing_tolerates_everything() {
        let r = receipt_from_body(
            br#"{"sid":"SMa","num_segments":"5","price":"-0.0762","price_unit":"USD"}"#,
            2,
        )
        .unwrap();
        assert_eq!(
            (r.provider_id.as_str(), r.segments, r.price),
            (
                "SMa",
                5,
                Some(Price::new(
                    antirelou_core::Money::from_micros(76_200),
                    antirelou_core::Currency::USD
                ))
            )
        );
        // A price without its unit is no price: never taken as the ledger's currency.
        let r = receipt_from_body(br#"{"sid":"SMa","price":"-0.0762"}"#, 2).unwrap();
        assert_eq!(r.price, None);
        let r = receipt_from_body(br#"{"sid":"SMa","num_segments":"0","price":null}"#, 2).unwrap();
        assert_eq!((r.segments, r.price), (2, None));
        for no_sid in [&b"<html>"[..], br#"{"sid":5,"num_segments":2}"#] {
            let e = receipt_from_body(no_sid, 3).unwrap_err();
            assert!(antirelou_core::Error::from(e).is_transient());
        }
    }

    #[test]
    fn error_parsing_tolerates_everything() {
        match api_error(400, br#"{"code":"21610","message":"x"}"#, None) {
            TwilioError::Api { code, .. } => assert_eq!(code, Some(21610)),
            e => panic!("{e:?}"),
        }
        match api_error(400, br#"{"code":99999999999,"message":7}"#, None) {
            TwilioError::Api { code, message, .. } => {
                assert_eq!(code, None);
                assert_eq!(message, "no message in Twilio's error body");
            }
            e => panic!("{e:?}"),
        }
        assert!(api_error(502, b"Bad gateway", None).is_transient());
        assert!(!api_error(400, b"", None).is_transient());
    }

    #[test]
    fn messages_url_is_built_from_the_base() {
        let auth = Auth::AccountToken {
            account_sid: "AC123".into(),
            auth_token: "t".into(),
        };
        let s = TwilioTransport::new(TwilioConfig::new(auth.clone())).unwrap();
        assert_eq!(
            s.messages_url().as_str(),
            "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
        );
        let s = TwilioTransport::new(
            TwilioConfig::new(auth.clone())
                .with_api_base("http://127.0.0.1:8080/prefix/".parse().unwrap()),
        )
        .unwrap();
        assert_eq!(
            s.messages_url().as_str(),
            "http://127.0.0.1:8080/prefix/2010-04-01/Accounts/AC123/Messages.json"
        );
        let bad = Auth::AccountToken {
            account_sid: "AC/../x".into(),
            auth_token: "t".into(),
        };
        assert!(matches!(
            TwilioTransport::new(TwilioConfig::new(bad)),
            Err(TwilioError::Config(_))
        ));
        let bad = TwilioConfig::new(auth).with_api_base("mailto:x@y".parse().unwrap());
        assert!(matches!(
            TwilioTransport::new(bad),
            Err(TwilioError::Config(_))
        ));
    }
}
