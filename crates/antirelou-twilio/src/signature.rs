//! `X-Twilio-Signature` validation, exactly as Twilio's official SDKs do it.
//!
//! The string to sign is the full URL Twilio requested (scheme, host, optional port, path and
//! query string, as configured by the operator) followed, for a form `POST`, by every parameter
//! as `name` + `value` with no separator, sorted by name then value, identical pairs once, empty
//! values included. The signature is `base64(HMAC-SHA1(auth token, string))`.
//!
//! The URL is used **exactly as configured and received**: never re-parsed nor normalised (the
//! case of the scheme and host, user information, ports and percent-encoding are kept). Around
//! that exact URL, a signature is accepted over the same variants as the official validators
//! ([`signed_url_candidates`]):
//!
//! * ports, because Twilio's back end is inconsistent about them: the URL **without** any
//!   explicit port, or **with** its port (`:443` for `https`, `:80` for `http` added when
//!   absent), as every SDK does;
//! * the scheme and host **as written** (twilio-python) or **lower-cased** (twilio-node signs
//!   the WHATWG-normalised URL): both name the same host;
//! * a `'` in the query string **as is** or as `%27`, and a `%27` as is or as `'` (twilio-node's
//!   `%27` vectors): both decode to the same parameters.
//!
//! Every candidate is computed and compared in constant time, with no early exit.
//!
//! JSON-body webhooks carry `bodySHA256=<hex sha256 of the body>` in the query string: the
//! signature covers the URL only, and the body must hash to that value
//! ([`SignatureValidator::validate_body`]).
//!
//! Optionally, a webhook signed with a customer shared key announces itself with
//! `X-Twilio-Webhooks-Signature-Settings: key=<id>,algorithm=HMAC_SHA256`: the same string is
//! signed with HMAC-SHA256 and that key ([`SignatureValidator::with_shared_key`]).
//!
//! ```
//! use antirelou_twilio::signature::SignatureValidator;
//! let v = SignatureValidator::new("12345");
//! let params: Vec<(String, String)> = [
//!     ("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"), ("Digits", "1234"),
//!     ("From", "+14158675309"), ("To", "+18005551212"),
//! ].into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
//! assert!(v.validate("https://mycompany.com/myapp.php?foo=1&bar=2", &params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
//! assert!(!v.validate("https://mycompany.com/myapp.php?foo=1&bar=2", &params, "NOTRSOYDt4T1cUTdK1PDd93/VVr8B8="));
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
/// The header announcing shared-key (HMAC-SHA256) signing.
pub const SIGNATURE_SETTINGS_HEADER: &str = "X-Twilio-Webhooks-Signature-Settings";
/// The query parameter carrying the SHA-256 of a JSON body.
pub const BODY_SHA256_PARAM: &str = "bodySHA256";

/// Which key and algorithm signed a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningMode<'a> {
    /// The account auth token with HMAC-SHA1 (the default).
    AuthToken,
    /// A shared key, by id, with HMAC-SHA256.
    SharedKey {
        /// The key id from the settings header.
        key_id: &'a str,
    },
}

impl<'a> SigningMode<'a> {
    /// Read the `X-Twilio-Webhooks-Signature-Settings` header: `None` (no header) is the auth
    /// token mode. Returns `None` for a header that cannot be understood (unknown algorithm, no
    /// key id): such a request must be refused.
    ///
    /// ```
    /// use antirelou_twilio::signature::SigningMode;
    /// assert_eq!(SigningMode::from_settings_header(None), Some(SigningMode::AuthToken));
    /// assert_eq!(
    ///     SigningMode::from_settings_header(Some("key=K1, algorithm=HMAC_SHA256")),
    ///     Some(SigningMode::SharedKey { key_id: "K1" })
    /// );
    /// assert_eq!(SigningMode::from_settings_header(Some("key=K1,algorithm=MD5")), None);
    /// ```
    pub fn from_settings_header(header: Option<&'a str>) -> Option<Self> {
        let Some(header) = header else {
            return Some(SigningMode::AuthToken);
        };
        let mut key_id = None;
        let mut algorithm = None;
        for part in header.split(',') {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            match k.trim() {
                "key" => key_id = Some(v.trim()),
                "algorithm" => algorithm = Some(v.trim()),
                _ => {}
            }
        }
        match (key_id, algorithm) {
            (Some(key_id), Some(alg))
                if !key_id.is_empty() && alg.eq_ignore_ascii_case("HMAC_SHA256") =>
            {
                Some(SigningMode::SharedKey { key_id })
            }
            _ => None,
        }
    }
}

/// Validates `X-Twilio-Signature` headers. Cheap to clone; `Debug` never shows a secret.
#[derive(Clone)]
pub struct SignatureValidator {
    auth_token: Vec<u8>,
    shared_keys: Vec<(String, Vec<u8>)>,
}

impl fmt::Debug for SignatureValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureValidator")
            .field("auth_token", &antirelou_core::kit::client::REDACTED)
            .field(
                "shared_key_ids",
                &self
                    .shared_keys
                    .iter()
                    .map(|(id, _)| id)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl SignatureValidator {
    /// A validator for the account (or subaccount) whose auth token this is.
    pub fn new(auth_token: impl Into<String>) -> Self {
        SignatureValidator {
            auth_token: auth_token.into().into_bytes(),
            shared_keys: Vec::new(),
        }
    }

    /// Also accept requests signed with HMAC-SHA256 and the shared key `key_id` (announced by
    /// the `X-Twilio-Webhooks-Signature-Settings` header). `key` is the key material as Twilio
    /// shows it, used as bytes.
    pub fn with_shared_key(mut self, key_id: impl Into<String>, key: impl AsRef<[u8]>) -> Self {
        self.shared_keys
            .push((key_id.into(), key.as_ref().to_vec()));
        self
    }

    /// Compute the auth-token signature of `url` and `params` as Twilio does (no port variants):
    /// useful for tests and simulators that play Twilio.
    pub fn sign(&self, url: &str, params: &[(String, String)]) -> String {
        sign_sha1(&self.auth_token, &string_to_sign(url, params))
    }

    /// Compute the shared-key (HMAC-SHA256) signature of `url` and `params`, or `None` when no
    /// key has this id.
    pub fn sign_with_shared_key(
        &self,
        key_id: &str,
        url: &str,
        params: &[(String, String)],
    ) -> Option<String> {
        let key = self.shared_key(key_id)?;
        Some(sign_sha256(key, &string_to_sign(url, params)))
    }

    fn shared_key(&self, key_id: &str) -> Option<&[u8]> {
        self.shared_keys
            .iter()
            .find(|(id, _)| id == key_id)
            .map(|(_, k)| k.as_slice())
    }

    /// Whether `signature` is the auth-token signature of `url` (the public URL Twilio called,
    /// query string included) and the decoded form `params` (empty for `GET`), with or without
    /// the port.
    pub fn validate(&self, url: &str, params: &[(String, String)], signature: &str) -> bool {
        self.validate_mode(SigningMode::AuthToken, url, params, signature)
    }

    /// Like [`SignatureValidator::validate`], with the key and algorithm given by `mode`
    /// (see [`SigningMode::from_settings_header`]). An unknown shared key id never validates.
    pub fn validate_mode(
        &self,
        mode: SigningMode<'_>,
        url: &str,
        params: &[(String, String)],
        signature: &str,
    ) -> bool {
        let suffix = params_suffix(params);
        let key: &[u8] = match mode {
            SigningMode::AuthToken => &self.auth_token,
            SigningMode::SharedKey { key_id } => match self.shared_key(key_id) {
                Some(k) => k,
                None => return false,
            },
        };
        let mut ok = false;
        for variant in signed_url_candidates(url) {
            let s = format!("{variant}{suffix}");
            let expected = match mode {
                SigningMode::AuthToken => sign_sha1(key, &s),
                SigningMode::SharedKey { .. } => sign_sha256(key, &s),
            };
            // Evaluate every variant: no early exit on a match.
            ok |= bool::from(expected.as_bytes().ct_eq(signature.as_bytes()));
        }
        ok
    }

    /// Validate a request with a JSON (or any non-form) body: the signature covers the URL only
    /// (no parameters), and the URL's `bodySHA256` query parameter must equal the lowercase hex
    /// SHA-256 of `body`. A URL without `bodySHA256` fails, as in the Java and C# SDKs.
    pub fn validate_body(
        &self,
        mode: SigningMode<'_>,
        url: &str,
        body: &[u8],
        signature: &str,
    ) -> bool {
        let Some(expected_hash) = query_param(url, BODY_SHA256_PARAM) else {
            return false;
        };
        let actual = body_sha256_hex(body);
        let body_ok = bool::from(actual.as_bytes().ct_eq(expected_hash.as_bytes()));
        let sig_ok = self.validate_mode(mode, url, &[], signature);
        body_ok & sig_ok
    }
}

/// The lowercase hex SHA-256 of a body, as Twilio puts it in `bodySHA256`.
///
/// ```
/// assert_eq!(
///     antirelou_twilio::signature::body_sha256_hex(b"{}"),
///     "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
/// );
/// ```
pub fn body_sha256_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The string Twilio signs: `url` followed by the sorted parameters.
///
/// ```
/// let p = vec![("b".to_owned(), "2".to_owned()), ("a".to_owned(), "".to_owned())];
/// assert_eq!(antirelou_twilio::signature::string_to_sign("https://h/x", &p), "https://h/xab2");
/// ```
pub fn string_to_sign(url: &str, params: &[(String, String)]) -> String {
    format!("{url}{}", params_suffix(params))
}

/// Parameters sorted by name, then by value, each identical pair once (as twilio-python and
/// twilio-node do), concatenated without separators.
fn params_suffix(params: &[(String, String)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut s = String::with_capacity(sorted.iter().map(|(k, v)| k.len() + v.len()).sum());
    for (k, v) in sorted {
        s.push_str(k);
        s.push_str(v);
    }
    s
}

fn sign_sha1(key: &[u8], s: &str) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for HMAC.
    match Hmac::<Sha1>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(s.as_bytes());
            BASE64.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

fn sign_sha256(key: &[u8], s: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(s.as_bytes());
            BASE64.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// The parts of a URL around its authority, split without any normalisation: Twilio signs the
/// URL exactly as configured, so it must not be re-encoded.
struct UrlParts<'a> {
    scheme: &'a str,
    /// `user:pass@`, or empty.
    userinfo: &'a str,
    host: &'a str,
    port: Option<&'a str>,
    /// Path, query and fragment.
    rest: &'a str,
}

fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, after) = url.split_once("://")?;
    let auth_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(auth_end);
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => authority.split_at(i + 1),
        None => ("", authority),
    };
    let (host, port) = if hostport.starts_with('[') {
        match hostport.find(']') {
            Some(i) => {
                let (h, p) = hostport.split_at(i + 1);
                (h, p.strip_prefix(':'))
            }
            None => (hostport, None),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    Some(UrlParts {
        scheme,
        userinfo,
        host,
        port,
        rest,
    })
}

/// The URL variants a signature is checked against: without any explicit port, and with the
/// port (the scheme's default port added when the URL has none). One of them is always the URL
/// itself; they are equal only for URLs that cannot be split.
///
/// ```
/// use antirelou_twilio::signature::url_variants;
/// assert_eq!(
///     url_variants("https://h.com/a?b=1"),
///     ["https://h.com/a?b=1", "https://h.com:443/a?b=1"]
/// );
/// assert_eq!(
///     url_variants("https://h.com:1234/a"),
///     ["https://h.com/a", "https://h.com:1234/a"]
/// );
/// ```
pub fn url_variants(url: &str) -> [String; 2] {
    let Some(p) = split_url(url) else {
        return [url.to_owned(), url.to_owned()];
    };
    let without = format!("{}://{}{}{}", p.scheme, p.userinfo, p.host, p.rest);
    let with = match p.port {
        Some(_) => url.to_owned(),
        None => {
            let default = if p.scheme.eq_ignore_ascii_case("https") {
                "443"
            } else {
                "80"
            };
            format!(
                "{}://{}{}:{default}{}",
                p.scheme, p.userinfo, p.host, p.rest
            )
        }
    };
    [without, with]
}

/// Every URL a signature over `url` may have been computed on, as the official validators accept
/// them: `url` itself first, then, for each of the scheme and host as written and lower-cased,
/// and each of the query's `'` / `%27` spellings, the [`url_variants`] (without and with the
/// port). No duplicates. Only spellings of the same URL are added: the path, the parameters'
/// names and values and the host never change.
///
/// ```
/// use antirelou_twilio::signature::signed_url_candidates;
/// let c = signed_url_candidates("HTTP://u:p@MyCompany.com/x?q='a'");
/// assert_eq!(c[0], "HTTP://u:p@MyCompany.com/x?q='a'");
/// assert!(c.contains(&"HTTP://u:p@MyCompany.com:80/x?q=%27a%27".to_owned()));
/// assert!(c.contains(&"http://u:p@mycompany.com/x?q='a'".to_owned()));
/// assert!(!c.iter().any(|u| u.contains("/X")));
/// ```
pub fn signed_url_candidates(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let mut push = |u: String| {
        if !out.contains(&u) {
            out.push(u);
        }
    };
    let mut spellings = vec![url.to_owned()];
    if let Some(p) = split_url(url) {
        let port = p.port.map(|p| format!(":{p}")).unwrap_or_default();
        let lowered = format!(
            "{}://{}{}{port}{}",
            p.scheme.to_ascii_lowercase(),
            p.userinfo,
            p.host.to_ascii_lowercase(),
            p.rest
        );
        if lowered != url {
            spellings.push(lowered);
        }
    }
    for spelling in spellings {
        for quoted in quote_spellings(&spelling) {
            for variant in url_variants(&quoted) {
                push(variant);
            }
        }
    }
    out
}

/// `url`, then its query string with every `'` written `%27`, then with every `%27` written `'`
/// (distinct spellings only).
fn quote_spellings(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let Some((before, query)) = url.split_once('?') else {
        return out;
    };
    let escaped = format!("{before}?{}", query.replace('\'', "%27"));
    let unescaped = format!("{before}?{}", replace_ignore_ascii_case(query, "%27", "'"));
    for u in [escaped, unescaped] {
        if !out.contains(&u) {
            out.push(u);
        }
    }
    out
}

/// `haystack` with every ASCII-case-insensitive occurrence of `needle` replaced.
fn replace_ignore_ascii_case(haystack: &str, needle: &str, with: &str) -> String {
    let lower = haystack.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    let mut out = String::with_capacity(haystack.len());
    let mut last = 0;
    for (i, _) in lower.match_indices(&needle) {
        out.push_str(&haystack[last..i]);
        out.push_str(with);
        last = i + needle.len();
    }
    out.push_str(&haystack[last..]);
    out
}

/// The first value of query parameter `name` in `url`, decoded.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn split_handles_ipv6_userinfo_and_no_path() {
        assert_eq!(
            url_variants("http://u:p@[::1]:8080"),
            [
                "http://u:p@[::1]".to_owned(),
                "http://u:p@[::1]:8080".to_owned()
            ]
        );
        assert_eq!(
            url_variants("http://[::1]/x"),
            ["http://[::1]/x".to_owned(), "http://[::1]:80/x".to_owned()]
        );
        assert_eq!(
            url_variants("not a url"),
            ["not a url".to_owned(), "not a url".to_owned()]
        );
        // A colon in the query is not a port.
        assert_eq!(
            url_variants("https://h.com/a?t=1:2"),
            [
                "https://h.com/a?t=1:2".to_owned(),
                "https://h.com:443/a?t=1:2".to_owned()
            ]
        );
    }

    #[test]
    fn host_case_is_preserved() {
        assert_eq!(
            url_variants("https://MyCompany.com/x")[0],
            "https://MyCompany.com/x"
        );
    }

    #[test]
    fn query_param_reads_body_hash() {
        assert_eq!(
            query_param("https://h/x?a=1&bodySHA256=ab#f", "bodySHA256").as_deref(),
            Some("ab")
        );
        assert_eq!(query_param("https://h/x", "bodySHA256"), None);
    }

    #[test]
    fn debug_hides_secrets() {
        let v = SignatureValidator::new("supersecret").with_shared_key("K1", "keymaterial");
        let d = format!("{v:?}");
        assert!(
            !d.contains("supersecret") && !d.contains("keymaterial"),
            "{d}"
        );
        assert!(d.contains("K1"));
    }
}
