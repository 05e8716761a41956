//! Verification of Vonage's signed voice webhooks: a JWT in `Authorization: Bearer …`.
//!
//! Vonage signs the answer and event webhooks of the Voice API with **HS256** and the account's
//! *signature secret* (not the API secret). The claims are `iat` (seconds), `jti`,
//! `iss = "Vonage"`, `payload_hash` (lowercase hex SHA-256 of the payload), `api_key` and
//! `application_id`. There is no `exp`, so freshness is checked on `iat`.
//!
//! * [`verify_hs256`] checks only the token: header `alg` is exactly `HS256` (`none` and every
//!   other algorithm are refused), and the signature matches, in constant time.
//! * [`JwtVerifier`] verifies a webhook on top of that: the issuer, `iat` at most
//!   [`DEFAULT_MAX_AGE`] old and at most [`DEFAULT_CLOCK_SKEW`] in the future, `exp` when
//!   present, and, **whenever the request has a body**, `payload_hash` equal to the SHA-256 of the
//!   exact raw body (a token without `payload_hash` is then refused).
//! * [`query_payload_hash`]: what `payload_hash` is for a request without a body. Vonage's
//!   support describes it as the SHA-256 of the query parameters as a compact JSON object in
//!   their order (`{"to":"…","from":"…",…}`); the webhook service checks it, and a query that does
//!   not match is treated as **not covered** (see [`crate::service`] for what that means).
//!
//! What the token cannot bind (the URL and path it was sent to, a GET query whose
//! `payload_hash` does not match, anything after it was captured within its lifetime) is bound
//! elsewhere or documented in [`crate::service`]: the `jti` replay cache
//! ([`crate::replay`]) makes each token usable once, on one route.
//!
//! ```
//! use antirelou_vonage::jwt::verify_hs256;
//! // Official vector (Vonage Python SDK, test_verify_jwt.py).
//! let token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJPbmxpbmUgSldUIEJ1aWxkZXIiLCJpYXQiOjE2OTc2MzQ2ODAsImV4cCI6MzMyNTQ1NDA4MjgsImF1ZCI6IiIsInN1YiI6IiJ9.88vJc3I2HhuqEDixHXVhc9R30tA6U_HQHZTC29y6CGM";
//! let claims = verify_hs256(token, b"qwertyuiopasdfghjklzxcvbnm123456").unwrap();
//! assert_eq!(claims.iss.as_deref(), Some("Online JWT Builder"));
//! assert!(verify_hs256(token, b"asdf").is_err());
//! ```

use std::fmt;
use std::time::Duration;

use antirelou_core::Timestamp;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::VonageError;
use crate::signature::hex_eq_ignore_case;

/// Tokens longer than this are refused before any decoding.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The claims of a verified token.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Claims {
    /// `iss`: `"Vonage"` for Vonage's webhooks.
    pub iss: Option<String>,
    /// `iat`: issued at, unix seconds.
    pub iat: Option<i64>,
    /// `exp`: expiry, unix seconds (Vonage's webhooks have none).
    pub exp: Option<i64>,
    /// `jti`: the token id.
    pub jti: Option<String>,
    /// `payload_hash`: hex SHA-256 of the request body.
    pub payload_hash: Option<String>,
    /// `api_key`: the account the signature secret belongs to.
    pub api_key: Option<String>,
    /// `application_id`.
    pub application_id: Option<String>,
    /// Every claim, as sent.
    pub all: Map<String, Value>,
}

impl Claims {
    fn from_map(all: Map<String, Value>) -> Result<Self, VonageError> {
        let string = |name: &str| -> Result<Option<String>, VonageError> {
            match all.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(VonageError::BadSignature(format!(
                    "claim `{name}` is not a string"
                ))),
            }
        };
        let seconds = |name: &str| -> Result<Option<i64>, VonageError> {
            match all.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .or_else(|| {
                        n.as_f64()
                            .filter(|f| f.is_finite() && f.abs() < 1e15)
                            .map(|f| f as i64)
                    })
                    .map(Some)
                    .ok_or_else(|| {
                        VonageError::BadSignature(format!("claim `{name}` is not a time"))
                    }),
                Some(_) => Err(VonageError::BadSignature(format!(
                    "claim `{name}` is not a number"
                ))),
            }
        };
        Ok(Claims {
            iss: string("iss")?,
            iat: seconds("iat")?,
            exp: seconds("exp")?,
            jti: string("jti")?,
            payload_hash: string("payload_hash")?,
            api_key: string("api_key")?,
            application_id: string("application_id")?,
            all,
        })
    }
}

fn b64(part: &str, what: &str) -> Result<Vec<u8>, VonageError> {
    // Tolerate padding, which some encoders add although JWS forbids it.
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| VonageError::BadSignature(format!("JWT {what} is not base64url")))
}

/// Verify an HS256 JWT's header and signature with `secret`, and return its claims. Nothing else
/// is checked (no issuer, no time): see [`JwtVerifier`] for webhooks.
///
/// Refuses any `alg` other than exactly `HS256` (including `none`), malformed tokens and wrong
/// signatures, with [`VonageError::BadSignature`].
pub fn verify_hs256(token: &str, secret: &[u8]) -> Result<Claims, VonageError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(VonageError::BadSignature("JWT too long".into()));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VonageError::BadSignature(
            "JWT must have three parts".into(),
        ));
    };
    let header: Value = serde_json::from_slice(&b64(h, "header")?)
        .map_err(|_| VonageError::BadSignature("JWT header is not JSON".into()))?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "HS256" => {}
        Some(Value::String(alg)) => {
            return Err(VonageError::BadSignature(format!(
                "JWT algorithm {:?} refused (only HS256)",
                alg.chars().take(16).collect::<String>()
            )));
        }
        _ => return Err(VonageError::BadSignature("JWT header without `alg`".into())),
    }
    let signature = b64(s, "signature")?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .map_err(|_| VonageError::Config("unusable JWT secret".into()))?;
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&signature)
        .map_err(|_| VonageError::BadSignature("JWT signature does not match".into()))?;
    let claims: Value = serde_json::from_slice(&b64(p, "payload")?)
        .map_err(|_| VonageError::BadSignature("JWT payload is not JSON".into()))?;
    match claims {
        Value::Object(map) => Claims::from_map(map),
        _ => Err(VonageError::BadSignature(
            "JWT payload is not an object".into(),
        )),
    }
}

/// How old a token's `iat` may be by default: Vonage sends a webhook as it signs it, so two
/// minutes leave room for network delays and retries, not for a replay long after.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(120);

/// How far in the future a token's `iat` may be by default (clock skew between Vonage and this
/// server; keep the server's clock synchronised with NTP).
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(30);

/// Verifies the JWT of a Vonage voice webhook.
#[derive(Clone)]
pub struct JwtVerifier {
    secret: Vec<u8>,
    issuer: Option<String>,
    max_age: Duration,
    clock_skew: Duration,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("secret", &antirelou_core::kit::client::REDACTED)
            .field("issuer", &self.issuer)
            .field("max_age", &self.max_age)
            .field("clock_skew", &self.clock_skew)
            .finish()
    }
}

impl JwtVerifier {
    /// A verifier with the signature secret, expecting `iss = "Vonage"`, `iat` at most
    /// [`DEFAULT_MAX_AGE`] old and at most [`DEFAULT_CLOCK_SKEW`] ahead of now.
    pub fn new(signature_secret: impl AsRef<[u8]>) -> Self {
        JwtVerifier {
            secret: signature_secret.as_ref().to_vec(),
            issuer: Some("Vonage".to_owned()),
            max_age: DEFAULT_MAX_AGE,
            clock_skew: DEFAULT_CLOCK_SKEW,
        }
    }

    /// Expect another issuer, or none (`None` accepts any `iss`).
    pub fn with_issuer(mut self, issuer: Option<String>) -> Self {
        self.issuer = issuer;
        self
    }

    /// Accept tokens whose `iat` is up to `max_age` old. This is also how long the replay cache
    /// remembers a token's `jti`.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Accept tokens whose `iat` is up to `skew` ahead of now.
    pub fn with_clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    /// The oldest `iat` accepted.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Until when (unix seconds) a token issued at `iat` is accepted: after that, its `jti` need
    /// not be remembered.
    pub fn valid_until(&self, iat: i64) -> i64 {
        iat.saturating_add(i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX))
    }

    /// Verify a token for a request with the raw `body` at time `now`: signature, issuer, `iat`
    /// (present, not older than the maximum age, not further ahead than the clock skew), `exp`
    /// when present, and, when `body` is not empty, `payload_hash` equal to its SHA-256.
    pub fn verify_token(
        &self,
        token: &str,
        body: &[u8],
        now: Timestamp,
    ) -> Result<Claims, VonageError> {
        let claims = verify_hs256(token, &self.secret)?;
        if let Some(expected) = &self.issuer
            && claims.iss.as_deref() != Some(expected.as_str())
        {
            return Err(VonageError::BadSignature(format!(
                "JWT issuer is not {expected:?}"
            )));
        }
        let now_s = now.as_secs();
        let iat = claims
            .iat
            .ok_or_else(|| VonageError::BadSignature("JWT without `iat`".into()))?;
        let age = now_s.saturating_sub(iat);
        let max_age = self.max_age.as_secs();
        let skew = self.clock_skew.as_secs();
        if age > 0 && age.unsigned_abs() > max_age {
            return Err(VonageError::StaleSignature(format!(
                "JWT issued {age} s ago (at most {max_age} s)"
            )));
        }
        if age < 0 && age.unsigned_abs() > skew {
            return Err(VonageError::StaleSignature(format!(
                "JWT issued {} s in the future (at most {skew} s)",
                age.unsigned_abs()
            )));
        }
        if let Some(exp) = claims.exp
            && exp < now_s
        {
            return Err(VonageError::StaleSignature("JWT expired".into()));
        }
        if !body.is_empty() {
            let hash = claims.payload_hash.as_deref().ok_or_else(|| {
                VonageError::BadSignature(
                    "JWT without `payload_hash` for a request with a body".into(),
                )
            })?;
            let actual = hex::encode(Sha256::digest(body));
            if !hex_eq_ignore_case(&actual, hash) {
                return Err(VonageError::BadSignature(
                    "`payload_hash` does not match the body".into(),
                ));
            }
        }
        Ok(claims)
    }

    /// Verify the value of an `Authorization` header (`Bearer <token>`, scheme case-insensitive).
    pub fn verify_header(
        &self,
        authorization: &str,
        body: &[u8],
        now: Timestamp,
    ) -> Result<Claims, VonageError> {
        let token = bearer_token(authorization).ok_or_else(|| {
            VonageError::BadSignature("Authorization is not `Bearer <token>`".into())
        })?;
        self.verify_token(token, body, now)
    }
}

/// The `payload_hash` of a request without a body whose parameters are `params` (in the order
/// received): the lowercase hex SHA-256 of the compact JSON object `{"name":"value",…}`, as
/// Vonage's support describes the hash of a GET webhook. Strings are escaped as JSON does
/// (quotes, backslashes, control characters), nothing else.
///
/// ```
/// use antirelou_vonage::jwt::query_payload_hash;
/// use sha2::Digest;
/// let expected = hex::encode(sha2::Sha256::digest(br#"{"to":"33757000000","from":"33612345678"}"#));
/// assert_eq!(query_payload_hash([("to", "33757000000"), ("from", "33612345678")]), expected);
/// ```
pub fn query_payload_hash<'a, I>(params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut json = String::from("{");
    for (i, (k, v)) in params.into_iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&Value::from(k).to_string());
        json.push(':');
        json.push_str(&Value::from(v).to_string());
    }
    json.push('}');
    hex::encode(Sha256::digest(json.as_bytes()))
}

/// Whether `claims` carry a `payload_hash` equal to [`query_payload_hash`] of `params`.
pub fn covers_query<'a, I>(claims: &Claims, params: I) -> bool
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    claims
        .payload_hash
        .as_deref()
        .is_some_and(|h| hex_eq_ignore_case(&query_payload_hash(params), h))
}

/// The token of a `Bearer` authorization value.
pub(crate) fn bearer_token(authorization: &str) -> Option<&str> {
    let v = authorization.trim();
    let (scheme, rest) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

/// Build an HS256 token with `claims` (used by this crate's tests and by embedders' tests that
/// need a Vonage-shaped webhook).
///
/// ```
/// use antirelou_vonage::jwt::{sign_hs256, verify_hs256};
/// let t = sign_hs256(&serde_json::json!({"iss": "Vonage", "iat": 1}), b"secret");
/// assert_eq!(verify_hs256(&t, b"secret").unwrap().iat, Some(1));
/// ```
pub fn sign_hs256(claims: &Value, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let sig = match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(signing_input.as_bytes());
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    format!("{signing_input}.{sig}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token(""), None);
    }
}
