//! The client half every adapter writes the same way: its HTTP client, the endpoint under a
//! configurable API base, one request read whole (status, `Retry-After`, body) and one log
//! line per send. Helpers, not a framework: the adapter builds its request (auth, body) and
//! reads the answer itself.
//!
//! ```
//! use std::time::Duration;
//! use antirelou_core::kit::client::{api_endpoint, http_client};
//! let base = url::Url::parse("http://127.0.0.1:9/prefix").unwrap();
//! assert_eq!(api_endpoint(&base, "v2/messages").unwrap().as_str(), "http://127.0.0.1:9/prefix/v2/messages");
//! assert!(api_endpoint(&url::Url::parse("https://h/?key=1").unwrap(), "x").is_err());
//! let http = http_client("acme-adapter/1.0", Duration::from_secs(10), None).unwrap();
//! # let _ = http;
//! ```

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use url::Url;

use crate::clock::Timestamp;
use crate::kit::retry_after::retry_after_header;
use crate::phone::{PhoneNumber, mask_numbers};
use crate::transport::SendReceipt;

/// What `Debug` shows in place of a secret (API keys, tokens, signature secrets).
pub const REDACTED: &str = "<redacted>";

/// A client or endpoint that cannot be built from the adapter's configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The HTTP client could not be built (TLS back-end…).
    #[error("HTTP client: {0}")]
    HttpClient(String),
    /// The API base is not an `http(s)` URL with a host and without query or fragment, or the
    /// endpoint cannot be joined to it.
    #[error("api_base {0}")]
    ApiBase(String),
}

/// An HTTP client for a provider's API (rustls TLS): `timeout` for the whole request,
/// `connect_timeout` for the connection when given, `user_agent` naming the adapter and its
/// version (`concat!("antirelou-acme/", env!("CARGO_PKG_VERSION"))`).
pub fn http_client(
    user_agent: &str,
    timeout: Duration,
    connect_timeout: Option<Duration>,
) -> Result<reqwest::Client, ClientError> {
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(user_agent);
    if let Some(c) = connect_timeout {
        b = b.connect_timeout(c);
    }
    b.build()
        .map_err(|e| ClientError::HttpClient(e.to_string()))
}

/// `{base}/{path}`, keeping any path prefix of `base` (with or without its trailing `/`).
/// Refuses a base that is not `http(s)`, has no host, or has a query or a fragment.
pub fn api_endpoint(base: &Url, path: &str) -> Result<Url, ClientError> {
    if !matches!(base.scheme(), "http" | "https")
        || base.host_str().is_none()
        || base.query().is_some()
        || base.fragment().is_some()
    {
        return Err(ClientError::ApiBase(
            "must be an http(s) URL with a host and no query".into(),
        ));
    }
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let p = format!("{}/", base.path());
        base.set_path(&p);
    }
    base.join(path)
        .map_err(|e| ClientError::ApiBase(e.to_string()))
}

/// A request that did not complete: timeout, connection refused or reset, TLS failure, body
/// cut short. Whether the provider received it is unknown, so it is transient (a rare
/// duplicate beats a lost lesson). The message names the kind of failure and its causes,
/// masked, never the URL (which may hold credentials on some providers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Unfinished {
    /// `{provider} timeout: causes…`, `{provider} connection failed: …` or
    /// `{provider} transport error: …`.
    pub message: String,
    /// Whether it was a timeout.
    pub timeout: bool,
}

impl Unfinished {
    /// The failure of `e`, a request to `provider`.
    pub fn new(provider: &str, e: &reqwest::Error) -> Self {
        let what = if e.is_timeout() {
            "timeout"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "transport error"
        };
        let mut causes = String::new();
        let mut source = e.source();
        while let Some(s) = source {
            causes.push_str(": ");
            causes.push_str(&s.to_string());
            source = s.source();
        }
        Unfinished {
            message: format!("{provider} {what}{}", mask_numbers(&causes)),
            timeout: e.is_timeout(),
        }
    }
}

impl From<Unfinished> for crate::Error {
    fn from(u: Unfinished) -> Self {
        crate::Error::Transient {
            message: u.message,
            retry_after: None,
        }
    }
}

/// A provider's answer, read whole.
#[derive(Debug, Clone)]
pub struct ApiAnswer {
    /// Its status.
    pub status: StatusCode,
    /// Its `Retry-After`, as a delay from the time given to [`send`] (the dispatcher clamps it).
    pub retry_after: Option<Duration>,
    /// Its body.
    pub body: Bytes,
}

/// Send `request` (built by the adapter: URL, auth, body) to `provider` and read the whole
/// answer; `now` turns an HTTP-date `Retry-After` into a delay.
pub async fn send(
    provider: &str,
    request: reqwest::RequestBuilder,
    now: Timestamp,
) -> Result<ApiAnswer, Unfinished> {
    let response = request
        .send()
        .await
        .map_err(|e| Unfinished::new(provider, &e))?;
    let status = response.status();
    let retry_after = retry_after_header(response.headers(), now);
    let body = response
        .bytes()
        .await
        .map_err(|e| Unfinished::new(provider, &e))?;
    Ok(ApiAnswer {
        status,
        retry_after,
        body,
    })
}

/// Log the outcome of a send to `to` (masked): accepted at `debug`, refused at `info`.
pub fn log_send<E: fmt::Display>(
    provider: &str,
    to: &PhoneNumber,
    result: &Result<SendReceipt, E>,
) {
    match result {
        Ok(r) => {
            tracing::debug!(to = %to.masked(), id = %r.provider_id, segments = r.segments, "{provider} accepted the SMS")
        }
        Err(e) => {
            tracing::info!(to = %to.masked(), error = %e, "{provider} did not accept the SMS")
        }
    }
}
