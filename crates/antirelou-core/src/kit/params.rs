//! Flat webhook parameters, unique by name, in the order received: [`Params`], read from a query
//! string, a form body or a flat JSON object, whichever the provider sent. Duplicate names are
//! refused (a duplicate would let a forger make the signed value and the used value differ).
//! Signature schemes over parameters (Vonage's `sig`) sign [`Params::iter`]; parsers read
//! [`Params::required`] and [`Params::optional`]. Every error is a malformed request (`400`).
//!
//! ```
//! use antirelou_core::kit::params::{Params, ParamsError};
//! let p = Params::from_form(b"CallSid=v3%3Aabc&From=+32470123456&To=").unwrap();
//! assert_eq!(p.required("CallSid"), Ok("v3:abc"));
//! assert_eq!(p.optional("To"), None);
//! assert_eq!(p.required("To"), Err(ParamsError::Missing("To")));
//! assert!(Params::from_form(b"a=1&a=2").is_err());
//! ```

use serde_json::Value;

use crate::kit::response::Rejection;

/// The longest query string or body [`Params`] reads.
pub const MAX_LEN: usize = 64 * 1024;

/// Why parameters cannot be read: always a malformed request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// Unreadable: a duplicate name, too long, not JSON, a nested value, an unsupported
    /// content type.
    #[error("{0}")]
    Malformed(String),
    /// A required parameter is absent or blank.
    #[error("missing field `{0}`")]
    Missing(&'static str),
}

impl ParamsError {
    /// [`Rejection::Malformed`] (`400`), whatever the error.
    pub fn rejection(&self) -> Rejection {
        Rejection::Malformed
    }
}

/// The value of `key` in a JSON object when a provider sends it as a string (trimmed) or,
/// defensively, as a number; `None` when absent or of another type.
///
/// ```
/// use antirelou_core::kit::params::json_field;
/// let v = serde_json::json!({"status": " 0 ", "count": 2, "x": null});
/// assert_eq!(json_field(&v, "status").as_deref(), Some("0"));
/// assert_eq!(json_field(&v, "count").as_deref(), Some("2"));
/// assert_eq!(json_field(&v, "x"), None);
/// ```
pub fn json_field(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What to do with nested JSON values (objects, arrays) when flattening a JSON body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nested {
    /// Refuse the request (SMS API webhooks are flat; `sig` cannot cover nested values).
    Reject,
    /// Leave nested values out (voice webhooks: the JWT covers the whole body anyway).
    Skip,
}

/// The flat parameters of a webhook, unique by name, in the order received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Build from pairs, refusing duplicate names (a duplicate would let a forger make the
    /// signed value and the used value differ).
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, ParamsError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in pairs {
            let k = k.into();
            if out.iter().any(|(e, _)| *e == k) {
                return Err(ParamsError::Malformed(format!(
                    "duplicate parameter {:?}",
                    k.chars().take(40).collect::<String>()
                )));
            }
            out.push((k, v.into()));
        }
        Ok(Params { pairs: out })
    }

    /// Parse a query string or form body (`a=1&b=2`, percent- and `+`-decoded).
    pub fn from_form(raw: &[u8]) -> Result<Self, ParamsError> {
        if raw.len() > MAX_LEN {
            return Err(ParamsError::Malformed("parameters too long".into()));
        }
        Self::from_pairs(form_urlencoded::parse(raw).map(|(k, v)| (k.into_owned(), v.into_owned())))
    }

    /// Parse a JSON object body. Strings are taken as they are, numbers and booleans in their
    /// JSON spelling, `null` as an empty value; nested values follow `nested`.
    pub fn from_json(raw: &[u8], nested: Nested) -> Result<Self, ParamsError> {
        if raw.len() > MAX_LEN {
            return Err(ParamsError::Malformed("body too long".into()));
        }
        let value: Value = serde_json::from_slice(raw)
            .map_err(|e| ParamsError::Malformed(format!("body is not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(ParamsError::Malformed("JSON body is not an object".into()));
        };
        let mut pairs = Vec::with_capacity(map.len());
        for (k, v) in map {
            let v = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => String::new(),
                Value::Array(_) | Value::Object(_) => match nested {
                    Nested::Skip => continue,
                    Nested::Reject => {
                        return Err(ParamsError::Malformed(format!(
                            "field {:?} is not a flat value",
                            k.chars().take(40).collect::<String>()
                        )));
                    }
                },
            };
            pairs.push((k, v));
        }
        Self::from_pairs(pairs)
    }

    /// Read the parameters of a request: the query string for GET (or a POST without a body),
    /// else the body as JSON (`application/json`, or a body that starts with `{`) or as a form.
    pub fn from_parts(
        method: &http::Method,
        content_type: Option<&str>,
        query: Option<&str>,
        body: &[u8],
        nested: Nested,
    ) -> Result<Self, ParamsError> {
        if !Self::reads_body(method, body) {
            return Self::from_form(query.unwrap_or("").as_bytes());
        }
        let ct = content_type
            .map(|c| c.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let is_json = ct.starts_with("application/json")
            || ct.contains("+json")
            || (ct.is_empty() && body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'));
        if is_json {
            Self::from_json(body, nested)
        } else if ct.is_empty() || ct.starts_with("application/x-www-form-urlencoded") {
            Self::from_form(body)
        } else {
            Err(ParamsError::Malformed(format!(
                "unsupported content type {:?}",
                ct.chars().take(60).collect::<String>()
            )))
        }
    }

    /// Whether [`Params::from_parts`] reads the parameters from the body (`true`) or from the
    /// query string (`false`: a GET, or a body that is empty or only whitespace).
    pub fn reads_body(method: &http::Method, body: &[u8]) -> bool {
        *method != http::Method::GET && !body.iter().all(u8::is_ascii_whitespace)
    }

    /// Read the parameters of an [`http::Request`].
    pub fn from_request<B: AsRef<[u8]>>(
        req: &http::Request<B>,
        nested: Nested,
    ) -> Result<Self, ParamsError> {
        let ct = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        Self::from_parts(
            req.method(),
            ct,
            req.uri().query(),
            req.body().as_ref(),
            nested,
        )
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The pairs, as the signature functions take them.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many parameters.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The value of `name`, trimmed, or [`ParamsError::Missing`] when it is absent or blank.
    pub fn required(&self, name: &'static str) -> Result<&str, ParamsError> {
        match self.get(name).map(str::trim) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ParamsError::Missing(name)),
        }
    }

    /// The value of `name`, trimmed, when present and not blank.
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused() {
        let e = Params::from_form(b"a=1&a=2").unwrap_err();
        assert!(matches!(e, ParamsError::Malformed(_)));
        assert_eq!(e.rejection().status(), 400);
    }

    #[test]
    fn json_flattening() {
        let p = Params::from_json(br#"{"a":"x","n":3,"b":true,"z":null}"#, Nested::Reject).unwrap();
        assert_eq!(p.get("n"), Some("3"));
        assert_eq!(p.get("b"), Some("true"));
        assert_eq!(p.get("z"), Some(""));
        assert!(Params::from_json(br#"{"a":{"b":1}}"#, Nested::Reject).is_err());
        assert_eq!(
            Params::from_json(br#"{"a":{"b":1},"c":"d"}"#, Nested::Skip)
                .unwrap()
                .len(),
            1
        );
        assert!(Params::from_json(b"[1]", Nested::Skip).is_err());
    }
}
