//! Reading an adapter's configuration section: one rule for secrets (where they come from, what
//! is refused), URLs, required keys and paces, with errors that name the dotted key
//! (`twilio.auth_token`) and say what to do. A server composes the sections; each adapter
//! deserialises and validates its own with these helpers.
//!
//! ```
//! use antirelou_core::kit::config::{SecretSpec, SectionContext, secret};
//! const TOKEN: SecretSpec = SecretSpec {
//!     key: "acme.token",
//!     env: "ANTIRELOU_ACME_TOKEN",
//!     min_len: 16,
//!     how: "set it from the Acme console here or in ANTIRELOU_ACME_TOKEN",
//! };
//! let env = |_: &str| None;
//! let mut cx = SectionContext::new(&env);
//! assert_eq!(secret(TOKEN, Some("a real token of 16+ bytes".into()), &mut cx), "a real token of 16+ bytes");
//! // A placeholder is refused, named and explained; the caller goes on to report every problem.
//! assert_eq!(secret(TOKEN, Some("change me please!!".into()), &mut cx), "");
//! assert_eq!(cx.problems[0].key, "acme.token");
//! assert!(cx.problems[0].message.contains("ANTIRELOU_ACME_TOKEN"));
//! ```

use url::Url;

/// A key of a configuration section with an unusable value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
#[non_exhaustive]
pub struct KeyError {
    /// The dotted key, section included (`twilio.auth_token`).
    pub key: String,
    /// What is wrong, and what to do when it is not obvious.
    pub message: String,
}

impl KeyError {
    /// `key` is wrong because of `message`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        KeyError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// What an adapter reads its section with.
#[allow(missing_debug_implementations)]
pub struct SectionContext<'a> {
    /// Looks environment variables up (a secret there wins over the file's).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The embedder's own placeholder test (a server refuses the values of its example file),
    /// run besides [`placeholder_marker`]. `None` from it means "looks real".
    pub placeholder: &'a dyn Fn(&str) -> Option<String>,
    /// Bad secrets, collected so that every one is reported at once.
    pub problems: Vec<KeyError>,
}

impl<'a> SectionContext<'a> {
    /// A context on `env`, with no placeholder test besides the markers.
    pub fn new(env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        SectionContext {
            env,
            placeholder: &|_| None,
            problems: Vec::new(),
        }
    }

    /// Why `value` is not a real secret, if it looks like a placeholder (the embedder's test
    /// first, then [`placeholder_marker`]).
    pub fn placeholder_reason(&self, value: &str) -> Option<String> {
        (self.placeholder)(value).or_else(|| placeholder_marker(value))
    }
}

/// What a secret is and where the operator gets a real one.
#[derive(Clone, Copy, Debug)]
pub struct SecretSpec {
    /// The dotted key.
    pub key: &'static str,
    /// The environment variable that overrides it.
    pub env: &'static str,
    /// Shortest acceptable value, in bytes.
    pub min_len: usize,
    /// What to do about a bad value (one sentence, naming the variable).
    pub how: &'static str,
}

/// A secret from the environment (which wins) or the file. A missing, empty, short or
/// placeholder value is pushed to `cx.problems` and an empty string returned, so that every bad
/// secret is reported at once.
pub fn secret(spec: SecretSpec, from_file: Option<String>, cx: &mut SectionContext<'_>) -> String {
    match secret_value(spec, from_file, cx) {
        Ok(v) => v,
        Err(e) => {
            cx.problems.push(e);
            String::new()
        }
    }
}

fn secret_value(
    spec: SecretSpec,
    from_file: Option<String>,
    cx: &SectionContext<'_>,
) -> Result<String, KeyError> {
    let SecretSpec {
        key,
        env,
        min_len,
        how,
    } = spec;
    let (value, origin) = match (cx.env)(env).filter(|v| !v.trim().is_empty()) {
        Some(v) => (v, format!(" (from {env})")),
        None => (from_file.unwrap_or_default(), String::new()),
    };
    let value = value.trim().to_owned();
    if value.is_empty() {
        return Err(KeyError::new(key, format!("missing; {how}")));
    }
    if let Some(why) = cx.placeholder_reason(&value) {
        return Err(KeyError::new(key, format!("{why}{origin}; {how}")));
    }
    if value.len() < min_len {
        return Err(KeyError::new(
            key,
            format!(
                "too short{origin}: {} bytes, at least {min_len} needed; {how}",
                value.len()
            ),
        ));
    }
    Ok(value)
}

/// Why `value` looks like a placeholder rather than a real secret: a "change me"-like marker, an
/// ellipsis, angle brackets, or one character repeated.
///
/// ```
/// use antirelou_core::kit::config::placeholder_marker;
/// assert!(placeholder_marker("your_auth_token").is_some());
/// assert!(placeholder_marker("xxxxxxxxxxxxxxxxxxxx").is_some());
/// assert!(placeholder_marker("9f86d081884c7d659a2feaa0c55ad015").is_none());
/// ```
pub fn placeholder_marker(value: &str) -> Option<String> {
    const MARKERS: [&str; 20] = [
        "change me",
        "changeme",
        "change_me",
        "change-me",
        "replace me",
        "replace_me",
        "example",
        "placeholder",
        "your_",
        "your-",
        "your ",
        "xxxx",
        "...",
        "\u{2026}",
        "<",
        ">",
        "todo",
        "fixme",
        "secret here",
        "token here",
    ];
    let lower = value.to_lowercase();
    if let Some(m) = MARKERS.iter().find(|m| lower.contains(*m)) {
        return Some(format!("looks like a placeholder (contains {m:?})"));
    }
    let mut chars = value.chars();
    if let Some(first) = chars.next()
        && chars.all(|c| c == first)
    {
        return Some("looks like a placeholder (one character repeated)".to_owned());
    }
    None
}

/// A value that must be there and not blank, trimmed.
pub fn required(key: &str, value: Option<String>) -> Result<String, KeyError> {
    value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| KeyError::new(key, "missing"))
}

/// An `http(s)` URL with a host and neither query nor fragment (an API base, a public URL).
pub fn http_url(key: &str, value: &str) -> Result<Url, KeyError> {
    let url = Url::parse(value.trim()).map_err(|e| KeyError::new(key, e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(KeyError::new(
            key,
            "must be an http or https URL with a host",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(KeyError::new(
            key,
            "must not have a query string or fragment",
        ));
    }
    Ok(url)
}

/// A pace in messages per second: absent, or a positive finite number.
pub fn pace(key: &str, value: Option<f64>) -> Result<Option<f64>, KeyError> {
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && v > 0.0 => Ok(Some(v)),
        Some(_) => Err(KeyError::new(key, "must be a positive number")),
    }
}

/// A currency code (`billing_currency = "EUR"`).
pub fn currency(key: &str, value: &str) -> Result<crate::Currency, KeyError> {
    crate::Currency::parse(value).map_err(|e| KeyError::new(key, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: SecretSpec = SecretSpec {
        key: "acme.token",
        env: "ACME_TOKEN",
        min_len: 8,
        how: "set it",
    };

    #[test]
    fn the_environment_wins_and_is_named_when_it_is_bad() {
        let env = |n: &str| (n == "ACME_TOKEN").then(|| "short".to_owned());
        let mut cx = SectionContext::new(&env);
        assert_eq!(
            secret(SPEC, Some("a good long file value".into()), &mut cx),
            ""
        );
        assert!(cx.problems[0].message.contains("(from ACME_TOKEN)"));
        let env = |_: &str| Some("  ".to_owned());
        let mut cx = SectionContext::new(&env);
        assert_eq!(
            secret(SPEC, Some("file value 123".into()), &mut cx),
            "file value 123"
        );
        assert!(cx.problems.is_empty());
    }

    #[test]
    fn the_embedders_placeholder_test_is_run() {
        let env = |_: &str| None;
        let example = |v: &str| (v == "from the example file").then(|| "example".to_owned());
        let mut cx = SectionContext::new(&env);
        cx.placeholder = &example;
        assert_eq!(
            secret(SPEC, Some("from the example file".into()), &mut cx),
            ""
        );
        assert_eq!(secret(SPEC, None, &mut cx), "");
        assert_eq!(cx.problems.len(), 2);
        assert!(cx.problems[1].message.starts_with("missing"));
    }

    #[test]
    fn urls_paces_and_currencies() {
        assert!(http_url("k", "ftp://x").is_err());
        assert!(http_url("k", "https://x/?q").is_err());
        assert!(http_url("k", "https://api.example.org/base").is_ok());
        assert!(pace("k", Some(0.0)).is_err());
        assert_eq!(pace("k", Some(2.5)), Ok(Some(2.5)));
        assert_eq!(currency("k", "usd"), Ok(crate::Currency::USD));
        assert_eq!(currency("k", "dollar").map_err(|e| e.key), Err("k".into()));
        assert_eq!(
            required("k", Some("  ".into())).map_err(|e| e.message),
            Err("missing".into())
        );
    }
}
