//! A webhook as received, independent of any web framework.
//!
//! [`WebhookRequest`] borrows the parts a webhook needs from an `http::Request<Bytes>` (or any
//! `http::Request` whose body is bytes): the method, the request target, the headers and the raw
//! body. Signatures are computed over the raw body and, for providers that sign the URL, over
//! [`PublicBaseUrl::url_for`]: the operator's configured public URL followed by the path and
//! query as received. The `Host` header is never trusted.
//!
//! ```
//! use antirelou_core::kit::{PublicBaseUrl, WebhookRequest};
//! let base = PublicBaseUrl::parse("https://antirelou.example.org/").unwrap();
//! let req = http::Request::post("/twilio/sms?x=1")
//!     .header("Host", "attacker.example")
//!     .header("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
//!     .body(bytes::Bytes::from_static(b"From=%2B32470123456"))
//!     .unwrap();
//! let hook = WebhookRequest::from_http(&req);
//! assert_eq!(base.url_for(hook.uri), "https://antirelou.example.org/twilio/sms?x=1");
//! assert_eq!(hook.mime(), "application/x-www-form-urlencoded");
//! assert_eq!(hook.form(), vec![("From".to_owned(), "+32470123456".to_owned())]);
//! ```

use http::{HeaderMap, Method, Uri};

use crate::error::{Error, Result};

/// The parts of an HTTP request a webhook needs, borrowed from whatever framework received it.
#[derive(Clone, Copy, Debug)]
pub struct WebhookRequest<'a> {
    /// The method (`GET`, `POST`…).
    pub method: &'a Method,
    /// The request target: path and query string (an absolute URI's scheme and host are ignored).
    pub uri: &'a Uri,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The raw body, exactly as received.
    pub body: &'a [u8],
}

impl<'a> WebhookRequest<'a> {
    /// Borrow from an [`http::Request`] whose body is bytes (`Bytes`, `Vec<u8>`…).
    pub fn from_http<B: AsRef<[u8]>>(req: &'a http::Request<B>) -> Self {
        WebhookRequest {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            body: req.body().as_ref(),
        }
    }

    /// A header's value, when present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type of `Content-Type`, lower case, without parameters (empty when absent).
    pub fn mime(&self) -> String {
        self.header(http::header::CONTENT_TYPE.as_str())
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }

    /// The form parameters: the query string for `GET`, else the body, decoded as
    /// `application/x-www-form-urlencoded` (in order, repeats kept, invalid UTF-8 as U+FFFD).
    pub fn form(&self) -> Vec<(String, String)> {
        let raw = if *self.method == Method::GET {
            self.uri.query().unwrap_or_default().as_bytes()
        } else {
            self.body
        };
        decode_form(raw)
    }
}

/// Decode an `application/x-www-form-urlencoded` body or query string. Never fails.
pub fn decode_form(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The public base URL the provider is configured to call: scheme, host, port and any path
/// prefix a proxy strips, without a trailing `/`. Validated once, at configuration time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicBaseUrl(String);

impl PublicBaseUrl {
    /// Check `base`: an `http` or `https` URL with a host and no query string or fragment
    /// (an [`Error::Config`] otherwise).
    pub fn parse(base: &str) -> Result<Self> {
        let base = base.trim();
        let parsed = url::Url::parse(base)
            .map_err(|e| Error::Config(format!("public base URL {base:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(Error::Config(format!(
                "public base URL {base:?} must be an http or https URL with a host"
            )));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(Error::Config(format!(
                "public base URL {base:?} must not have a query string or fragment"
            )));
        }
        Ok(PublicBaseUrl(base.trim_end_matches('/').to_owned()))
    }

    /// The base, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL the provider called for a request to `uri`: this base, then the path and the
    /// query string exactly as received.
    pub fn url_for(&self, uri: &Uri) -> String {
        let pq = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
        if pq.starts_with('/') {
            format!("{}{pq}", self.0)
        } else {
            format!("{}/{pq}", self.0)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn url_ignores_the_absolute_uri_host() {
        let base = PublicBaseUrl::parse("https://pub.example/").unwrap();
        let uri: Uri = "http://evil.example:81/twilio/sms?x=1".parse().unwrap();
        assert_eq!(base.url_for(&uri), "https://pub.example/twilio/sms?x=1");
        assert_eq!(
            base.url_for(&"/a".parse().unwrap()),
            "https://pub.example/a"
        );
    }

    #[test]
    fn bad_bases_are_config_errors() {
        for b in [
            "",
            "ftp://x",
            "https://h/x?y=1",
            "not a url",
            "https://h/#f",
        ] {
            assert!(
                matches!(PublicBaseUrl::parse(b), Err(Error::Config(_))),
                "{b}"
            );
        }
    }
}
