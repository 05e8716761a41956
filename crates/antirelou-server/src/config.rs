//! The server's TOML configuration: parsing, secrets from the environment, and validation with
//! errors that name the faulty key. A secret that is missing, too short or a placeholder (the
//! example file's value, "change me"…), and a provider section no number uses, are refused;
//! every bad secret is reported at once, with what to do.
//!
//! ```
//! use antirelou_server::config::Config;
//! let toml = r#"
//! listen = "127.0.0.1:8080"
//! public_url = "https://number.example.org"
//! hash_secret = "a long random secret of at least sixteen bytes"
//! [storage]
//! sqlite = "antirelou.db"
//! [admin]
//! token = "an admin token of sixteen bytes or more"
//! [twilio]
//! account_sid = "AC0123456789abcdef0123456789abcdef"
//! auth_token = "twilio-auth-token"
//! [[number]]
//! phone = "+33937000000"
//! provider = "twilio"
//! locale = "fr-FR"
//! "#;
//! let config = Config::from_toml(toml, |_| None).unwrap();
//! assert_eq!(config.numbers.len(), 1);
//! assert_eq!(config.reply.delay.as_secs(), 3600);
//!
//! let err = Config::from_toml(&toml.replace("+33937000000", "+33 12"), |_| None).unwrap_err();
//! assert!(err.to_string().starts_with("number[0].phone: invalid phone number"));
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use antirelou_core::ProviderId;
use antirelou_core::catalogue::Locale;
use antirelou_core::engine::NumberStatus;
use antirelou_core::{Money, PhoneNumber};
use std::sync::Arc;

use crate::providers::{self, ConfiguredProvider, SectionContext};
use serde::Deserialize;
use url::Url;

/// Environment variable that fills or overrides `hash_secret`.
pub const ENV_HASH_SECRET: &str = "ANTIRELOU_HASH_SECRET";
/// Environment variable that fills or overrides `admin.token`.
pub const ENV_ADMIN_TOKEN: &str = "ANTIRELOU_ADMIN_TOKEN";
pub use crate::providers::{
    ENV_TWILIO_AUTH_TOKEN, ENV_VONAGE_API_SECRET, ENV_VONAGE_SIGNATURE_SECRET,
};
/// Environment variable that fills or overrides `metrics.token`.
pub const ENV_METRICS_TOKEN: &str = "ANTIRELOU_METRICS_TOKEN";

/// A configuration that cannot be used: the key at fault and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// The TOML is malformed (no key can be named).
    #[error("invalid TOML: {0}")]
    Syntax(String),
    /// A key is unknown, missing, of the wrong type or has an unusable value.
    #[error("{key}: {message}")]
    Key {
        /// The dotted key (`budget.daily_cap_eur`, `number[0].phone`).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// Several problems, reported together so that the operator fixes them in one go (every
    /// secret that still holds a placeholder, for instance), one per line.
    #[error("{}", several(.0))]
    Several(Vec<ConfigError>),
}

fn several(problems: &[ConfigError]) -> String {
    let mut out = format!("{} problems:", problems.len());
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&p.to_string());
    }
    out
}

impl ConfigError {
    fn key(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Key {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The key at fault, when there is one (the first one's of [`ConfigError::Several`]).
    pub fn key_name(&self) -> Option<&str> {
        match self {
            ConfigError::Key { key, .. } => Some(key),
            ConfigError::Several(all) => all.first().and_then(ConfigError::key_name),
            _ => None,
        }
    }

    /// Every problem: the list of [`ConfigError::Several`], or this one alone.
    pub fn problems(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Several(all) => all.iter().collect(),
            one => vec![one],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    public_url: Option<String>,
    hash_secret: Option<String>,
    storage: Option<RawStorage>,
    #[serde(default)]
    reply: RawReply,
    #[serde(default)]
    budget: RawBudget,
    admin: Option<RawAdmin>,
    #[serde(default)]
    http: RawHttp,
    metrics: Option<RawMetrics>,
    /// `enabled` plus the keys of [`PolicySettings`], read by [`abuse_settings`].
    #[serde(default)]
    abuse: toml::Table,
    #[serde(default)]
    dispatcher: RawDispatcher,
    #[serde(default)]
    number: Vec<RawNumber>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    sqlite: Option<String>,
    postgres: Option<String>,
    durability: Option<String>,
    group_commit: Option<bool>,
    max_connections: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReply {
    delay: Option<String>,
    jitter: Option<String>,
    deadline: Option<String>,
    lesson_window: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    daily_cap_eur: Option<f64>,
    monthly_cap_eur: Option<f64>,
    price_per_segment_eur: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    token: Option<String>,
    state_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    header_read_timeout: Option<String>,
    body_read_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_connections: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    token: Option<String>,
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDispatcher {
    workers: Option<usize>,
    poll_interval: Option<String>,
    lease: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNumber {
    phone: Option<String>,
    provider: Option<String>,
    locale: Option<String>,
    status: Option<String>,
    decoy: Option<bool>,
    neutral_first_reply: Option<bool>,
    sms_to_callers: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// The validated configuration.

/// Where the data lives.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Storage {
    /// One SQLite file (the default backend).
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// `fsync` each commit (`true`, "full", the default) or only at checkpoints ("normal").
        full_durability: bool,
    },
    /// PostgreSQL, for several servers.
    Postgres {
        /// The connection URL (kept secret in logs).
        url: String,
        /// Pool size.
        max_connections: Option<u32>,
    },
}

/// Reply timings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyConfig {
    /// Delay before the lesson (default 1 h).
    pub delay: Duration,
    /// Random extra delay (default none).
    pub jitter: Duration,
    /// A reply not sent this long after its due time expires (default 24 h).
    pub deadline: Duration,
    /// One lesson per sender per this window (default 30 days).
    pub lesson_window: Duration,
}

/// Spend caps and price.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetConfig {
    /// Daily cap.
    pub daily_cap: Option<Money>,
    /// Monthly cap.
    pub monthly_cap: Option<Money>,
    /// Price of one outbound segment.
    pub price_per_segment: Money,
}

/// The HTTP listener's limits (`[http]`): every connection, whoever opens it, is bounded in
/// time and number, so that slow or idle clients cannot hold the server's file descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    /// A request's line and headers must all arrive within this time, counted from the accept
    /// (a new connection) or from the request's first byte (a kept-alive one), or the
    /// connection is closed (default 10 s).
    pub header_read_timeout: Duration,
    /// A request's body must all arrive within this time after its headers, or the answer is
    /// `408` and the connection is closed (default 10 s).
    pub body_read_timeout: Duration,
    /// A kept-alive connection with no request for this long after its last response is closed
    /// (default 60 s: longer than the reverse proxy's own idle timeout for its upstream
    /// connections should be, so that the proxy never sends a request on a connection the
    /// server is closing).
    pub idle_timeout: Duration,
    /// At most this many connections at once; a connection beyond it is answered `503` and
    /// closed at once, with a warning at most every 10 s (default 1024).
    pub max_connections: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// How `/metrics` is exposed (`[metrics]`): with a bearer token on the main listener, or on a
/// listener of its own, or not at all (the default, when neither is set).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MetricsSettings {
    /// The bearer token `/metrics` asks for (`metrics.token` or `ANTIRELOU_METRICS_TOKEN`).
    pub token: Option<String>,
    /// Serve `/metrics` on this address instead of the main one (with the token too, if set).
    pub listen: Option<SocketAddr>,
}

impl std::fmt::Debug for MetricsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsSettings")
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("listen", &self.listen)
            .finish()
    }
}

/// The abuse policies: `[abuse]` is `enabled` plus every key of
/// [`PolicySettings`](antirelou_abuse::PolicySettings) (the simulator's scenario files take the
/// same keys, with the same defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct AbuseSettings {
    /// Whether the default chain runs (default true; `false` allows every contact, for load
    /// tests only).
    pub enabled: bool,
    /// The policies' settings, checked (`countries` absent: the countries of our numbers).
    pub policies: antirelou_abuse::PolicySettings,
}

/// `[abuse]`: `enabled`, then the rest as [`PolicySettings`](antirelou_abuse::PolicySettings),
/// checked; errors name the key (`abuse.prefix_flood.threshold`).
fn abuse_settings(mut table: toml::Table) -> Result<AbuseSettings, ConfigError> {
    let enabled = match table.remove("enabled") {
        None => true,
        Some(toml::Value::Boolean(b)) => b,
        Some(_) => return Err(ConfigError::key("abuse.enabled", "must be true or false")),
    };
    let policies: antirelou_abuse::PolicySettings =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let path = e.path().to_string();
            let key = if path == "." || path.is_empty() {
                "abuse".to_owned()
            } else {
                format!("abuse.{path}")
            };
            ConfigError::key(key, e.into_inner().to_string())
        })?;
    policies
        .validate()
        .map_err(|e| ConfigError::key(format!("abuse.{}", e.key), e.message))?;
    Ok(AbuseSettings { enabled, policies })
}

/// The dispatcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispatcherSettings {
    /// Concurrent send workers (default 4).
    pub workers: usize,
    /// Idle poll interval (default 1 s).
    pub poll_interval: Duration,
    /// Claim lease (default 60 s).
    pub lease: Duration,
}

/// One of our numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberSettings {
    /// The number.
    pub phone: PhoneNumber,
    /// Its provider.
    pub provider: ProviderId,
    /// Its language.
    pub locale: Locale,
    /// Active or paused at start.
    pub status: NumberStatus,
    /// Decoy greeting for first calls (default true).
    pub decoy: bool,
    /// Neutral first reply (default false).
    pub neutral_first_reply: bool,
    /// Text the lesson to callers who heard the decoy greeting (default false).
    pub sms_to_callers: bool,
}

/// The validated server configuration.
#[derive(Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Public base URL the providers call, parsed (and so normalised: lower-case scheme and
    /// host, default port dropped). Used to build callback URLs.
    pub public_url: Url,
    /// `public_url` exactly as configured (trimmed): Twilio signs the URL as it is written in its
    /// console, so signatures are checked against this string, never the normalised one.
    pub public_url_exact: String,
    /// Key of the stored numbers' hashes.
    pub hash_secret: String,
    /// Storage backend.
    pub storage: Storage,
    /// Reply timings.
    pub reply: ReplyConfig,
    /// Spend.
    pub budget: BudgetConfig,
    /// Bearer token of `/admin`.
    pub admin_token: String,
    /// Where the operator's pauses and resumes are kept across restarts (`admin.state_file`;
    /// by default next to the SQLite file, `<file>.operator.json`; none with PostgreSQL unless
    /// set). See [`operator_state`](super::operator_state).
    pub state_file: Option<PathBuf>,
    /// The HTTP listener's timeouts and connection bound.
    pub http: HttpSettings,
    /// How `/metrics` is exposed.
    pub metrics: MetricsSettings,
    /// The providers configured (a section each, from the [registry](crate::providers)),
    /// every one used by a number.
    pub providers: Vec<Arc<dyn ConfiguredProvider>>,
    /// Abuse policies.
    pub abuse: AbuseSettings,
    /// Dispatcher.
    pub dispatcher: DispatcherSettings,
    /// Our numbers.
    pub numbers: Vec<NumberSettings>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url.as_str())
            .field("reply", &self.reply)
            .field("budget", &self.budget)
            .field("http", &self.http)
            .field("metrics", &self.metrics)
            .field("providers", &self.providers)
            .field("numbers", &self.numbers.len())
            .finish_non_exhaustive()
    }
}

fn duration(key: &str, value: Option<&str>, default: Duration) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(s) => humantime::parse_duration(s.trim()).map_err(|e| {
            ConfigError::key(
                key,
                format!("{e} (expected a duration such as \"1h\" or \"90s\")"),
            )
        }),
    }
}

fn money(key: &str, value: Option<f64>, allow_zero: bool) -> Result<Option<Money>, ConfigError> {
    match value {
        None => Ok(None),
        Some(v) if !v.is_finite() => Err(ConfigError::key(key, "must be a finite number")),
        Some(v) if v < 0.0 || (!allow_zero && v == 0.0) => Err(ConfigError::key(
            key,
            if allow_zero {
                "must not be negative"
            } else {
                "must be positive"
            },
        )),
        Some(v) if v > 1e9 => Err(ConfigError::key(key, "is implausibly large")),
        Some(v) => Ok(Some(Money::from_units_f64(v))),
    }
}

pub(crate) fn http_url(key: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim()).map_err(|e| ConfigError::key(key, format!("{e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::key(
            key,
            "must be an http or https URL with a host",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::key(
            key,
            "must not have a query string or fragment",
        ));
    }
    Ok(url)
}

/// What a secret is and where the operator gets a real one.
#[derive(Clone, Copy)]
pub(crate) struct SecretSpec {
    /// The dotted key.
    pub(crate) key: &'static str,
    /// The environment variable that overrides it.
    pub(crate) env: &'static str,
    /// Shortest acceptable value, in bytes.
    pub(crate) min_len: usize,
    /// What to do about a bad value (one sentence, naming the key's variable).
    pub(crate) how: &'static str,
}

const HASH_SECRET: SecretSpec = SecretSpec {
    key: "hash_secret",
    env: ENV_HASH_SECRET,
    min_len: 16,
    how: "generate one with `openssl rand -hex 32` and set it here or in ANTIRELOU_HASH_SECRET \
          (then never change it: the senders' history is keyed by it)",
};
const ADMIN_TOKEN: SecretSpec = SecretSpec {
    key: "admin.token",
    env: ENV_ADMIN_TOKEN,
    min_len: 16,
    how: "generate one with `openssl rand -hex 32` and set it here or in ANTIRELOU_ADMIN_TOKEN",
};
const METRICS_TOKEN: SecretSpec = SecretSpec {
    key: "metrics.token",
    env: ENV_METRICS_TOKEN,
    min_len: 16,
    how: "generate one with `openssl rand -hex 32` and set it here or in \
          ANTIRELOU_METRICS_TOKEN (or leave it out and serve /metrics on metrics.listen)",
};

/// A secret from the environment (which wins) or the file. A missing, empty, short or
/// placeholder value (the example file's, or one that says "change me") is pushed to `problems`
/// and an empty string returned, so that every bad secret is reported at once.
pub(crate) fn secret(
    spec: SecretSpec,
    from_file: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigError>,
) -> String {
    match secret_value(spec, from_file, env) {
        Ok(v) => v,
        Err(e) => {
            problems.push(e);
            String::new()
        }
    }
}

fn secret_value(
    spec: SecretSpec,
    from_file: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let SecretSpec {
        key,
        env: env_name,
        min_len,
        how,
    } = spec;
    let (value, origin) = match env(env_name).filter(|v| !v.trim().is_empty()) {
        Some(v) => (v, format!(" (from {env_name})")),
        None => (from_file.unwrap_or_default(), String::new()),
    };
    let value = value.trim().to_owned();
    if value.is_empty() {
        return Err(ConfigError::key(key, format!("missing; {how}")));
    }
    if let Some(why) = placeholder(&value) {
        return Err(ConfigError::key(key, format!("{why}{origin}; {how}")));
    }
    if value.len() < min_len {
        return Err(ConfigError::key(
            key,
            format!(
                "too short{origin}: {} bytes, at least {min_len} needed; {how}",
                value.len()
            ),
        ));
    }
    Ok(value)
}

/// Why `value` is not a real secret, if it looks like a placeholder: a quoted value of the
/// shipped example file, a "change me"-like marker, or one character repeated.
pub(crate) fn placeholder(value: &str) -> Option<String> {
    const EXAMPLE: &str = include_str!("../antirelou.example.toml");
    // Every quoted string of the example file, comments included.
    if EXAMPLE
        .split('"')
        .skip(1)
        .step_by(2)
        .any(|example| example.trim() == value)
    {
        return Some("still the example value".to_owned());
    }
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

pub(crate) fn required(key: &str, value: Option<String>) -> Result<String, ConfigError> {
    value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ConfigError::key(key, "missing"))
}

impl Config {
    /// The settings of the configured provider of type `T` (for instance
    /// [`TwilioSettings`](crate::providers::TwilioSettings)), if any.
    pub fn provider<T: 'static>(&self) -> Option<&T> {
        self.providers
            .iter()
            .find_map(|p| p.as_any().downcast_ref())
    }

    /// Read and validate the file at `path`, taking secrets from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Config::from_toml(&text, |name| std::env::var(name).ok())
    }

    /// Parse and validate `text`; `env` looks environment variables up (secrets there override
    /// the file's).
    pub fn from_toml(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Syntax(e.to_string()))?;
        // The providers' sections go to their adapters; the rest is the server's own.
        let mut sections = toml::Table::new();
        for factory in providers::REGISTRY {
            if let Some(section) = table.remove(factory.section()) {
                sections.insert(factory.section().to_owned(), section);
            }
        }
        let raw: RawConfig =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let message = inner.message().to_owned();
                if path == "." || path.is_empty() {
                    ConfigError::Syntax(message)
                } else {
                    ConfigError::key(path, message)
                }
            })?;
        let mut problems = Vec::new();
        let result = Self::validate(raw, sections, &env, &mut problems);
        // The secrets' problems first, then the error that stopped the validation, if any.
        if let Err(e) = result.as_ref() {
            problems.push(e.clone());
        }
        match problems.len() {
            0 => result,
            1 => Err(problems.remove(0)),
            _ => Err(ConfigError::Several(problems)),
        }
    }

    fn validate(
        raw: RawConfig,
        sections: toml::Table,
        env: &dyn Fn(&str) -> Option<String>,
        problems: &mut Vec<ConfigError>,
    ) -> Result<Config, ConfigError> {
        let listen_text = raw.listen.unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen: SocketAddr = listen_text.trim().parse().map_err(|_| {
            ConfigError::key(
                "listen",
                format!("{listen_text:?} is not an address:port such as \"127.0.0.1:8080\""),
            )
        })?;
        let public_url_exact = required("public_url", raw.public_url)?;
        let public_url = http_url("public_url", &public_url_exact)?;
        let hash_secret = secret(HASH_SECRET, raw.hash_secret, env, problems);

        let storage = match raw.storage {
            None => {
                return Err(ConfigError::key(
                    "storage",
                    "missing ([storage] with sqlite = \"file\" or postgres = \"url\")",
                ));
            }
            Some(s) => {
                let full = match s.durability.as_deref().map(str::trim) {
                    None | Some("full") => true,
                    Some("normal") => false,
                    Some(other) => {
                        return Err(ConfigError::key(
                            "storage.durability",
                            format!("{other:?}: expected \"full\" or \"normal\""),
                        ));
                    }
                };
                if s.group_commit.is_some() {
                    // Group commit is the SQLite store's only write mode since it lost its
                    // switch: a config that still sets it asked for something, so say so.
                    return Err(ConfigError::key(
                        "storage.group_commit",
                        "no longer a setting: the SQLite store always commits the webhooks' \
                         writes together; remove the key",
                    ));
                }
                match (s.sqlite, s.postgres) {
                    (Some(_), Some(_)) => {
                        return Err(ConfigError::key(
                            "storage",
                            "set either sqlite or postgres, not both",
                        ));
                    }
                    (Some(path), None) if !path.trim().is_empty() => Storage::Sqlite {
                        path: PathBuf::from(path.trim()),
                        full_durability: full,
                    },
                    (Some(_), None) => {
                        return Err(ConfigError::key("storage.sqlite", "empty path"));
                    }
                    (None, Some(url)) => {
                        let url = url.trim().to_owned();
                        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                            return Err(ConfigError::key(
                                "storage.postgres",
                                "must be a postgres:// URL",
                            ));
                        }
                        Storage::Postgres {
                            url,
                            max_connections: s.max_connections,
                        }
                    }
                    (None, None) => {
                        return Err(ConfigError::key(
                            "storage",
                            "set sqlite = \"file\" or postgres = \"url\"",
                        ));
                    }
                }
            }
        };

        let reply = ReplyConfig {
            delay: duration(
                "reply.delay",
                raw.reply.delay.as_deref(),
                Duration::from_secs(3600),
            )?,
            jitter: duration("reply.jitter", raw.reply.jitter.as_deref(), Duration::ZERO)?,
            deadline: duration(
                "reply.deadline",
                raw.reply.deadline.as_deref(),
                Duration::from_secs(24 * 3600),
            )?,
            lesson_window: duration(
                "reply.lesson_window",
                raw.reply.lesson_window.as_deref(),
                Duration::from_secs(30 * 24 * 3600),
            )?,
        };
        if reply.deadline.is_zero() {
            return Err(ConfigError::key(
                "reply.deadline",
                "must be longer than zero",
            ));
        }

        let budget = BudgetConfig {
            daily_cap: money("budget.daily_cap_eur", raw.budget.daily_cap_eur, false)?,
            monthly_cap: money("budget.monthly_cap_eur", raw.budget.monthly_cap_eur, false)?,
            price_per_segment: money(
                "budget.price_per_segment_eur",
                raw.budget.price_per_segment_eur,
                true,
            )?
            .unwrap_or(Money::from_micros(76_270)),
        };
        if let (Some(d), Some(m)) = (budget.daily_cap, budget.monthly_cap)
            && d > m
        {
            return Err(ConfigError::key(
                "budget.daily_cap_eur",
                "must not be above budget.monthly_cap_eur",
            ));
        }

        let (admin_token, state_file) = match raw.admin {
            Some(a) => (a.token, a.state_file),
            None => (None, None),
        };
        let admin_token = secret(ADMIN_TOKEN, admin_token, env, problems);
        let state_file = match state_file.as_deref().map(str::trim) {
            Some("") => return Err(ConfigError::key("admin.state_file", "empty path")),
            Some(p) => Some(PathBuf::from(p)),
            None => match &storage {
                Storage::Sqlite { path, .. } => {
                    let mut p = path.as_os_str().to_owned();
                    p.push(".operator.json");
                    Some(PathBuf::from(p))
                }
                _ => None,
            },
        };
        let http = http_settings(raw.http)?;
        let metrics = metrics_settings(raw.metrics, listen, &admin_token, env, problems)?;

        let providers = configure_providers(sections, env, problems)?;

        let abuse = abuse_settings(raw.abuse)?;

        let dispatcher = DispatcherSettings {
            workers: raw.dispatcher.workers.unwrap_or(4),
            poll_interval: duration(
                "dispatcher.poll_interval",
                raw.dispatcher.poll_interval.as_deref(),
                Duration::from_secs(1),
            )?,
            lease: duration(
                "dispatcher.lease",
                raw.dispatcher.lease.as_deref(),
                Duration::from_secs(60),
            )?,
        };
        if dispatcher.workers == 0 || dispatcher.workers > 256 {
            return Err(ConfigError::key(
                "dispatcher.workers",
                "must be between 1 and 256",
            ));
        }
        if dispatcher.poll_interval.is_zero() {
            return Err(ConfigError::key(
                "dispatcher.poll_interval",
                "must be longer than zero",
            ));
        }
        if dispatcher.lease < Duration::from_secs(2) {
            return Err(ConfigError::key("dispatcher.lease", "must be at least 2s"));
        }

        if raw.number.is_empty() {
            return Err(ConfigError::key(
                "number",
                "no number configured (add a [[number]] table)",
            ));
        }
        let mut numbers: Vec<NumberSettings> = Vec::with_capacity(raw.number.len());
        for (i, n) in raw.number.into_iter().enumerate() {
            let k = |field: &str| format!("number[{i}].{field}");
            let phone_text = required(&k("phone"), n.phone)?;
            let phone = PhoneNumber::parse(&phone_text).map_err(|e| {
                let detail = match e {
                    antirelou_core::Error::InvalidPhoneNumber { reason, .. } => reason,
                    other => other.to_string(),
                };
                ConfigError::key(k("phone"), format!("invalid phone number: {detail}"))
            })?;
            if numbers.iter().any(|o| o.phone == phone) {
                return Err(ConfigError::key(
                    k("phone"),
                    format!("number {} is configured twice", phone.masked()),
                ));
            }
            let name = required(&k("provider"), n.provider)?;
            let Some(factory) = providers::factory(&name) else {
                return Err(ConfigError::key(
                    k("provider"),
                    format!("{name:?}: expected one of {}", providers::known_names()),
                ));
            };
            let provider = factory.id();
            if !providers.iter().any(|p| p.id() == provider) {
                return Err(ConfigError::key(
                    k("provider"),
                    format!("{name:?} needs a [{}] section", factory.section()),
                ));
            }
            let locale_text = n.locale.unwrap_or_else(|| "fr-FR".to_owned());
            let locale = Locale::new(locale_text.trim())
                .map_err(|e| ConfigError::key(k("locale"), format!("{locale_text:?}: {e}")))?;
            let status = match n.status.as_deref().map(str::trim) {
                None | Some("active") => NumberStatus::Active,
                Some("paused") => NumberStatus::Paused,
                Some("retired") => NumberStatus::Retired,
                Some(other) => {
                    return Err(ConfigError::key(
                        k("status"),
                        format!("{other:?}: expected \"active\", \"paused\" or \"retired\""),
                    ));
                }
            };
            numbers.push(NumberSettings {
                phone,
                provider,
                locale,
                status,
                decoy: n.decoy.unwrap_or(true),
                neutral_first_reply: n.neutral_first_reply.unwrap_or(false),
                sms_to_callers: n.sms_to_callers.unwrap_or(false),
            });
        }
        unused_providers(&numbers, &providers)?;

        Ok(Config {
            listen,
            public_url,
            public_url_exact,
            hash_secret,
            storage,
            reply,
            budget,
            admin_token,
            state_file,
            http,
            metrics,
            providers,
            abuse,
            dispatcher,
            numbers,
        })
    }
}

pub(crate) fn pace(key: &str, value: Option<f64>) -> Result<Option<f64>, ConfigError> {
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && v > 0.0 => Ok(Some(v)),
        Some(_) => Err(ConfigError::key(key, "must be a positive number")),
    }
}

fn http_settings(raw: RawHttp) -> Result<HttpSettings, ConfigError> {
    let defaults = HttpSettings::default();
    let timeout = |key: &str, value: Option<&str>, default: Duration| {
        let d = duration(key, value, default)?;
        if d < Duration::from_millis(100) || d > Duration::from_secs(600) {
            return Err(ConfigError::key(key, "must be between 100ms and 10m"));
        }
        Ok(d)
    };
    let settings = HttpSettings {
        header_read_timeout: timeout(
            "http.header_read_timeout",
            raw.header_read_timeout.as_deref(),
            defaults.header_read_timeout,
        )?,
        body_read_timeout: timeout(
            "http.body_read_timeout",
            raw.body_read_timeout.as_deref(),
            defaults.body_read_timeout,
        )?,
        idle_timeout: timeout(
            "http.idle_timeout",
            raw.idle_timeout.as_deref(),
            defaults.idle_timeout,
        )?,
        max_connections: raw.max_connections.unwrap_or(defaults.max_connections),
    };
    if settings.max_connections == 0 || settings.max_connections > 1_000_000 {
        return Err(ConfigError::key(
            "http.max_connections",
            "must be between 1 and 1000000 (and below the open-file limit, LimitNOFILE)",
        ));
    }
    Ok(settings)
}

fn metrics_settings(
    raw: Option<RawMetrics>,
    main_listen: SocketAddr,
    admin_token: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigError>,
) -> Result<MetricsSettings, ConfigError> {
    let section = raw.is_some();
    let (file_token, listen_text) = match raw {
        Some(m) => (m.token, m.listen),
        None => (None, None),
    };
    let given = file_token.as_deref().is_some_and(|t| !t.trim().is_empty())
        || env(ENV_METRICS_TOKEN).is_some_and(|t| !t.trim().is_empty());
    let token = if given {
        let t = secret(METRICS_TOKEN, file_token, env, problems);
        if !t.is_empty() && t == admin_token {
            return Err(ConfigError::key(
                "metrics.token",
                "must differ from admin.token (a scraper must not hold the key of /admin); \
                 generate another with `openssl rand -hex 32`",
            ));
        }
        Some(t)
    } else {
        None
    };
    let listen = match listen_text {
        None => None,
        Some(text) => {
            let addr: SocketAddr = text.trim().parse().map_err(|_| {
                ConfigError::key(
                    "metrics.listen",
                    format!("{text:?} is not an address:port such as \"127.0.0.1:9100\""),
                )
            })?;
            if addr == main_listen {
                return Err(ConfigError::key(
                    "metrics.listen",
                    "must differ from listen (leave it out to serve /metrics there with the token)",
                ));
            }
            Some(addr)
        }
    };
    if section && token.is_none() && listen.is_none() {
        return Err(ConfigError::key(
            "metrics",
            "neither token nor listen: set token (a bearer token on the main listener), or \
             listen (a separate address), or remove the [metrics] section",
        ));
    }
    Ok(MetricsSettings { token, listen })
}

/// Every registry section present in the file, read and validated by its adapter. A bad
/// secret is pushed to `problems` (reported with the others); any other error stops here.
fn configure_providers(
    mut sections: toml::Table,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigError>,
) -> Result<Vec<Arc<dyn ConfiguredProvider>>, ConfigError> {
    let mut configured = Vec::new();
    for factory in providers::REGISTRY {
        if let Some(section) = sections.remove(factory.section()) {
            let mut cx = SectionContext { env, problems };
            configured.push(factory.configure(section, &mut cx)?);
        }
    }
    Ok(configured)
}

/// A provider section that no `[[number]]` uses is refused: its webhook routes would accept
/// requests signed with its secret for numbers it does not serve.
fn unused_providers(
    numbers: &[NumberSettings],
    configured: &[Arc<dyn ConfiguredProvider>],
) -> Result<(), ConfigError> {
    for p in configured {
        let name = p.id().as_str();
        if !numbers.iter().any(|n| n.provider == p.id()) {
            return Err(ConfigError::key(
                name,
                format!(
                    "no [[number]] uses provider = \"{name}\": remove the [{name}] section (its \
                     webhooks would be served for no number) or add a [[number]] with \
                     provider = \"{name}\""
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::providers::{TwilioSettings, VonageSettings};
    use antirelou_vonage::SignatureMethod;
    use std::collections::HashMap;

    const GOOD: &str = r#"
listen = "127.0.0.1:8080"
public_url = "https://number.example.org"
hash_secret = "0123456789abcdef0123456789abcdef"
[storage]
sqlite = "antirelou.db"
[reply]
delay = "1h"
[budget]
daily_cap_eur = 20.0
monthly_cap_eur = 300.0
price_per_segment_eur = 0.07627
[admin]
token = "admin-token-0123456789"
[twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token = "twilio-auth-token-0123"
api_base = "https://api.twilio.com"
[vonage]
api_key = "abcd1234"
api_secret = "vonage-api-secret"
signature_secret = "vonage-signature-secret"
signature_method = "md5hash"
api_base = "https://rest.nexmo.com"
[[number]]
phone = "+33937000000"
provider = "twilio"
locale = "fr-FR"
[[number]]
phone = "+32460000000"
provider = "vonage"
locale = "fr-BE"
"#;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn err(text: &str) -> String {
        Config::from_toml(text, no_env).unwrap_err().to_string()
    }

    /// Group commit lost its switch: a config that still sets it is refused, naming the key,
    /// rather than silently given the one mode left.
    #[test]
    fn the_removed_group_commit_key_is_refused() {
        for value in ["true", "false"] {
            let text = GOOD.replace(
                "[storage]\n",
                &format!("[storage]\ngroup_commit = {value}\n"),
            );
            assert!(
                text.contains("group_commit"),
                "the fixture has a [storage] section"
            );
            let e = err(&text);
            assert!(e.contains("storage.group_commit"), "{e}");
        }
    }

    #[test]
    fn the_documented_keys_are_accepted() {
        let c = Config::from_toml(GOOD, no_env).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.public_url.as_str(), "https://number.example.org/");
        assert_eq!(c.reply.delay, Duration::from_secs(3600));
        assert_eq!(c.budget.daily_cap, Some(Money::from_micros(20_000_000)));
        assert_eq!(c.budget.monthly_cap, Some(Money::from_micros(300_000_000)));
        assert_eq!(c.budget.price_per_segment, Money::from_micros(76_270));
        assert_eq!(c.admin_token, "admin-token-0123456789");
        assert_eq!(
            c.provider::<TwilioSettings>().unwrap().auth_token,
            "twilio-auth-token-0123"
        );
        assert_eq!(c.http, HttpSettings::default());
        assert_eq!(c.metrics, MetricsSettings::default());
        let v = c.provider::<VonageSettings>().unwrap();
        assert_eq!(v.signature_method, SignatureMethod::Md5Hash);
        assert_eq!(v.api_base.as_str(), "https://rest.nexmo.com/");
        assert_eq!(c.numbers.len(), 2);
        assert_eq!(c.numbers[1].provider, antirelou_vonage::PROVIDER);
        assert_eq!(c.numbers[1].locale.as_str(), "fr-BE");
        assert_eq!(
            c.storage,
            Storage::Sqlite {
                path: "antirelou.db".into(),
                full_durability: true,
            }
        );
    }

    const EXAMPLE: &str = include_str!("../antirelou.example.toml");

    /// The environment of the documented systemd unit, with real (random-looking) secrets.
    fn real_secrets(name: &str) -> Option<String> {
        match name {
            ENV_HASH_SECRET => Some("4f1c9a0e77d2b3c8e5a6f0d1b2c3d4e5".into()),
            ENV_ADMIN_TOKEN => Some("9b8a7c6d5e4f30112233445566778899".into()),
            ENV_TWILIO_AUTH_TOKEN => Some("0a1b2c3d4e5f60718293a4b5c6d7e8f9".into()),
            _ => None,
        }
    }

    #[test]
    fn the_example_file_is_refused_until_its_secrets_are_real() {
        let e = Config::from_toml(EXAMPLE, no_env).unwrap_err();
        let keys: Vec<&str> = e.problems().iter().filter_map(|p| p.key_name()).collect();
        assert_eq!(
            keys,
            ["hash_secret", "admin.token", "twilio.auth_token"],
            "{e}"
        );
        let text = e.to_string();
        assert!(text.starts_with("3 problems:\n  hash_secret: "), "{text}");
        assert!(
            text.contains(
                "twilio.auth_token: still the example value; set it from the Twilio console"
            ),
            "{text}"
        );
        assert!(text.contains("ANTIRELOU_ADMIN_TOKEN"), "{text}");

        // With the secrets in the environment, as the documented unit gives them, it starts.
        let c = Config::from_toml(EXAMPLE, real_secrets).unwrap();
        assert!(!c.numbers.is_empty());
        assert!(c.provider::<TwilioSettings>().is_some());
        assert!(
            c.provider::<VonageSettings>().is_none(),
            "the example's [vonage] is commented out"
        );

        // Its commented [vonage] section, uncommented with no Vonage number, is refused.
        let start = EXAMPLE.find("# [vonage]").unwrap();
        let end = start + EXAMPLE[start..].find("\n\n").unwrap();
        let uncommented: String = EXAMPLE[start..end]
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let text = format!("{}{}{}", &EXAMPLE[..start], uncommented, &EXAMPLE[end..]);
        let e = Config::from_toml(&text, real_secrets)
            .unwrap_err()
            .to_string();
        // Its own placeholders first, then the section no number uses.
        assert!(
            e.contains("vonage.api_secret: still the example value"),
            "{e}"
        );
        assert!(
            e.contains(
                "vonage.signature_secret: still the example value; set it from the Vonage dashboard"
            ),
            "{e}"
        );
        assert!(
            e.contains(
                "vonage: no [[number]] uses provider = \"vonage\": remove the [vonage] section"
            ),
            "{e}"
        );
    }

    #[test]
    fn placeholder_short_and_empty_secrets_are_refused() {
        let secrets = [
            (
                "hash_secret = ",
                "0123456789abcdef0123456789abcdef",
                "hash_secret",
            ),
            ("token = ", "admin-token-0123456789", "admin.token"),
            (
                "auth_token = ",
                "twilio-auth-token-0123",
                "twilio.auth_token",
            ),
            ("api_secret = ", "vonage-api-secret", "vonage.api_secret"),
            (
                "signature_secret = ",
                "vonage-signature-secret",
                "vonage.signature_secret",
            ),
        ];
        let bad = [
            ("change me later", "looks like a placeholder"),
            ("CHANGE ME (or ANTIRELOU_X)", "looks like a placeholder"),
            ("KEY..................", "looks like a placeholder"),
            ("xxxxxxxxxxxxxxxxxxxxxxxx", "looks like a placeholder"),
            ("my-example-secret-value", "looks like a placeholder"),
            ("<your secret goes here>", "looks like a placeholder"),
            ("0000000000000000000000", "one character repeated"),
            (
                "AC00000000000000000000000000000000",
                "still the example value",
            ),
            ("short!", "too short"),
            ("", "missing"),
        ];
        for (prefix, good, key) in secrets {
            for (value, why) in bad {
                let text = GOOD.replace(
                    &format!("{prefix}\"{good}\""),
                    &format!("{prefix}\"{value}\""),
                );
                assert_ne!(text, GOOD, "{key}");
                let e = err(&text);
                assert!(e.starts_with(&format!("{key}: ")), "{key} = {value:?}: {e}");
                assert!(e.contains(why), "{key} = {value:?}: {e}");
            }
        }
        // Vonage API secrets of old accounts have 8 characters.
        let c = Config::from_toml(
            &GOOD.replace("\"vonage-api-secret\"", "\"a1b2c3d4\""),
            no_env,
        )
        .unwrap();
        assert_eq!(
            c.provider::<VonageSettings>().unwrap().api_secret,
            "a1b2c3d4"
        );
    }

    #[test]
    fn a_placeholder_in_the_environment_is_refused_and_named() {
        let env = |name: &str| {
            (name == ENV_VONAGE_SIGNATURE_SECRET).then(|| {
                "change me: the signature secret of the Vonage dashboard \
                 (or ANTIRELOU_VONAGE_SIGNATURE_SECRET)"
                    .to_owned()
            })
        };
        let e = Config::from_toml(GOOD, env).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "vonage.signature_secret: still the example value (from \
                 ANTIRELOU_VONAGE_SIGNATURE_SECRET); set it from the Vonage dashboard"
            ),
            "{e}"
        );
        // The value the issue found accepted (an older example file's).
        let env = |name: &str| {
            (name == ENV_VONAGE_SIGNATURE_SECRET)
                .then(|| "change me (or ANTIRELOU_VONAGE_SIGNATURE_SECRET)".to_owned())
        };
        let e = Config::from_toml(GOOD, env).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "vonage.signature_secret: looks like a placeholder (contains \"change me\") \
                 (from ANTIRELOU_VONAGE_SIGNATURE_SECRET)"
            ),
            "{e}"
        );
        let env = |name: &str| (name == ENV_ADMIN_TOKEN).then(|| "tooshort".to_owned());
        let e = Config::from_toml(GOOD, env).unwrap_err().to_string();
        assert!(
            e.starts_with("admin.token: too short (from ANTIRELOU_ADMIN_TOKEN): 8 bytes"),
            "{e}"
        );
    }

    #[test]
    fn every_bad_secret_is_reported_at_once_with_the_first_other_error() {
        let text = GOOD
            .replace("\"admin-token-0123456789\"", "\"change me\"")
            .replace("\"vonage-api-secret\"", "\"\"")
            .replace("provider = \"vonage\"", "provider = \"orange\"");
        let e = Config::from_toml(&text, no_env).unwrap_err();
        let keys: Vec<&str> = e.problems().iter().filter_map(|p| p.key_name()).collect();
        assert_eq!(
            keys,
            ["admin.token", "vonage.api_secret", "number[1].provider"],
            "{e}"
        );
        assert_eq!(e.key_name(), Some("admin.token"));
    }

    #[test]
    fn a_provider_section_no_number_uses_is_refused() {
        let start = GOOD.find("[[number]]\nphone = \"+32460000000\"").unwrap();
        let e = err(&GOOD[..start]);
        assert_eq!(
            e,
            "vonage: no [[number]] uses provider = \"vonage\": remove the [vonage] section (its \
             webhooks would be served for no number) or add a [[number]] with provider = \"vonage\""
        );
        let e = err(&GOOD.replace("provider = \"twilio\"", "provider = \"vonage\""));
        assert!(e.starts_with("twilio: no [[number]] uses provider"), "{e}");
        // A retired number still uses its provider (late receipts reach it).
        let c = Config::from_toml(
            &GOOD.replace(
                "provider = \"vonage\"",
                "provider = \"vonage\"\nstatus = \"retired\"",
            ),
            no_env,
        )
        .unwrap();
        assert!(c.provider::<VonageSettings>().is_some());
    }

    #[test]
    fn the_http_section_is_validated() {
        let c = Config::from_toml(
            &format!(
                "{GOOD}\n[http]\nheader_read_timeout = \"2s\"\nbody_read_timeout = \"500ms\"\nidle_timeout = \"90s\"\nmax_connections = 8\n"
            ),
            no_env,
        )
        .unwrap();
        assert_eq!(
            c.http,
            HttpSettings {
                header_read_timeout: Duration::from_secs(2),
                body_read_timeout: Duration::from_millis(500),
                idle_timeout: Duration::from_secs(90),
                max_connections: 8,
            }
        );
        let e = err(&format!("{GOOD}\n[http]\nmax_connections = 0\n"));
        assert!(
            e.starts_with("http.max_connections: must be between 1"),
            "{e}"
        );
        let e = err(&format!("{GOOD}\n[http]\nheader_read_timeout = \"0s\"\n"));
        assert_eq!(e, "http.header_read_timeout: must be between 100ms and 10m");
        let e = err(&format!("{GOOD}\n[http]\nbody_read_timeout = \"1h\"\n"));
        assert_eq!(e, "http.body_read_timeout: must be between 100ms and 10m");
        let e = err(&format!("{GOOD}\n[http]\nidle_timeout = \"1\"\n"));
        assert!(e.starts_with("http.idle_timeout: "), "{e}");
        let e = err(&format!("{GOOD}\n[http]\nidle = \"1s\"\n"));
        assert!(e.starts_with("http.idle: unknown field `idle`"), "{e}");
    }

    #[test]
    fn the_metrics_section_is_a_token_or_a_listener() {
        let token = "metrics-token-0123456789abcdef";
        let c = Config::from_toml(&format!("{GOOD}\n[metrics]\ntoken = \"{token}\"\n"), no_env)
            .unwrap();
        assert_eq!(c.metrics.token.as_deref(), Some(token));
        assert_eq!(c.metrics.listen, None);
        assert!(
            !format!("{c:?}").contains(token),
            "the token stays out of logs"
        );
        let c = Config::from_toml(
            &format!("{GOOD}\n[metrics]\nlisten = \"127.0.0.1:9100\"\n"),
            no_env,
        )
        .unwrap();
        assert_eq!(c.metrics.listen, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(c.metrics.token, None);
        // The token may come from the environment alone.
        let env = |n: &str| (n == ENV_METRICS_TOKEN).then(|| token.to_owned());
        let c = Config::from_toml(GOOD, env).unwrap();
        assert_eq!(c.metrics.token.as_deref(), Some(token));

        let e = err(&format!("{GOOD}\n[metrics]\n"));
        assert!(e.starts_with("metrics: neither token nor listen"), "{e}");
        let e = err(&format!("{GOOD}\n[metrics]\ntoken = \"change me later\"\n"));
        assert!(
            e.starts_with("metrics.token: looks like a placeholder"),
            "{e}"
        );
        let e = err(&format!(
            "{GOOD}\n[metrics]\ntoken = \"admin-token-0123456789\"\n"
        ));
        assert!(
            e.starts_with("metrics.token: must differ from admin.token"),
            "{e}"
        );
        let e = err(&format!("{GOOD}\n[metrics]\nlisten = \"127.0.0.1:8080\"\n"));
        assert!(
            e.starts_with("metrics.listen: must differ from listen"),
            "{e}"
        );
        let e = err(&format!("{GOOD}\n[metrics]\nlisten = \"anywhere\"\n"));
        assert!(e.starts_with("metrics.listen: \"anywhere\" is not"), "{e}");
        let e = err(&format!("{GOOD}\n[metrics]\npublic = true\n"));
        assert!(
            e.starts_with("metrics.public: unknown field `public`"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(
            err(&GOOD.replace("daily_cap_eur = 20.0", "daily_cap_eur = -1.0")),
            "budget.daily_cap_eur: must be positive"
        );
        assert_eq!(
            err(&GOOD.replace("daily_cap_eur = 20.0", "daily_cap_eur = 0.0")),
            "budget.daily_cap_eur: must be positive"
        );
        let e = err(&GOOD.replace("+33937000000", "+33 12"));
        assert!(
            e.starts_with("number[0].phone: invalid phone number"),
            "{e}"
        );
        let e = err(&GOOD.replace("+32460000000", "call me"));
        assert!(
            e.starts_with("number[1].phone: invalid phone number"),
            "{e}"
        );
        assert_eq!(
            err(&GOOD.replace("auth_token = \"twilio-auth-token-0123\"\n", "")),
            "twilio.auth_token: missing; set it from the Twilio console (Account, API keys & \
             tokens, Auth Token) here or in ANTIRELOU_TWILIO_AUTH_TOKEN"
        );
        let e = err(&GOOD.replace("hash_secret = \"0123456789abcdef0123456789abcdef\"\n", ""));
        assert!(
            e.starts_with("hash_secret: missing; generate one with `openssl rand -hex 32`"),
            "{e}"
        );
        let e = err(&GOOD.replace(
            "hash_secret = \"0123456789abcdef0123456789abcdef\"",
            "hash_secret = \"short\"",
        ));
        assert!(
            e.starts_with("hash_secret: too short: 5 bytes, at least 16 needed; generate one"),
            "{e}"
        );
        let e = err(&GOOD.replace("delay = \"1h\"", "delay = \"one hour\""));
        assert!(e.starts_with("reply.delay: "), "{e}");
        let e = err(&GOOD.replace("provider = \"vonage\"", "provider = \"orange\""));
        assert_eq!(
            e,
            "number[1].provider: \"orange\": expected one of \"twilio\", \"vonage\", \"telnyx\""
        );
        let e = err(&GOOD.replace(
            "signature_method = \"md5hash\"",
            "signature_method = \"crc\"",
        ));
        assert!(e.starts_with("vonage.signature_method: "), "{e}");
        let e = err(&GOOD.replace("listen = \"127.0.0.1:8080\"", "listen = \"localhost\""));
        assert!(e.starts_with("listen: "), "{e}");
        let e = err(&GOOD.replace(
            "public_url = \"https://number.example.org\"",
            "public_url = \"ftp://x\"",
        ));
        assert!(e.starts_with("public_url: "), "{e}");
        let e = err(&GOOD.replace("monthly_cap_eur = 300.0", "monthly_cap_eur = 10.0"));
        assert_eq!(
            e,
            "budget.daily_cap_eur: must not be above budget.monthly_cap_eur"
        );
    }

    #[test]
    fn type_errors_and_unknown_keys_name_the_key() {
        let e = err(&GOOD.replace("daily_cap_eur = 20.0", "daily_cap = 20.0"));
        assert!(
            e.starts_with("budget.daily_cap: unknown field `daily_cap`"),
            "{e}"
        );
        let e = err(&GOOD.replace("daily_cap_eur = 20.0", "daily_cap_eur = \"lots\""));
        assert!(e.starts_with("budget.daily_cap_eur: invalid type"), "{e}");
        let e = err(&GOOD.replace("locale = \"fr-BE\"", "locale = 3"));
        assert!(e.starts_with("number[1].locale: invalid type"), "{e}");
        let e = err(&format!("{GOOD}\nsurprise = true\n"));
        assert!(e.contains("unknown field `surprise`"), "{e}");
        let e = err("listen = ");
        assert!(e.starts_with("invalid TOML"), "{e}");
    }

    #[test]
    fn the_abuse_section_takes_every_policy_setting_and_names_bad_keys() {
        // Absent: the library's defaults, on.
        let c = Config::from_toml(GOOD, no_env).unwrap();
        assert!(c.abuse.enabled);
        assert_eq!(c.abuse.policies, antirelou_abuse::PolicySettings::default());
        let with = |section: &str| format!("{GOOD}\n{section}\n");
        let c = Config::from_toml(
            &with(
                "[abuse]\nenabled = true\nlessons_per_minute = 30\npace_cap_span = \"3h\"\n\
                 [abuse.prefix_flood]\nthreshold = 24\nnormal_factor = 6.0\nblock_for = \"6h\"\n\
                 [abuse.flood]\nmin_surge = 40\nbudget_horizon = \"2h\"\n",
            ),
            no_env,
        )
        .unwrap();
        let p = &c.abuse.policies;
        assert_eq!(p.lessons_per_minute, 30);
        assert_eq!(p.pace_cap_span, Duration::from_secs(3 * 3600));
        assert_eq!(p.prefix_flood.threshold, 24);
        assert_eq!(p.prefix_flood.normal_factor, 6.0);
        assert_eq!(p.prefix_flood.block_for, Duration::from_secs(6 * 3600));
        assert_eq!(p.flood.min_surge, 40);
        assert_eq!(p.flood.budget_horizon, Duration::from_secs(7200));
        assert_eq!(p.flood.calm_buckets, 5);
        let e = err(&with("[abuse]\nenabled = \"yes\"\n"));
        assert_eq!(e, "abuse.enabled: must be true or false");
        let e = err(&with("[abuse.prefix_flood]\ntreshold = 3\n"));
        assert!(
            e.starts_with("abuse.prefix_flood.treshold: unknown field `treshold`"),
            "{e}"
        );
        let e = err(&with("[abuse.flood]\nbucket = \"a minute\"\n"));
        assert!(e.starts_with("abuse.flood.bucket: "), "{e}");
        let e = err(&with("[abuse.prefix_flood]\nthreshold = 1\n"));
        assert!(
            e.starts_with("abuse.prefix_flood.threshold: must be within"),
            "{e}"
        );
        let e = err(&with("[abuse]\ncountries = [\"France\"]\n"));
        assert!(e.starts_with("abuse.countries[0]: "), "{e}");
        let e = err(&with("[abuse]\nlessons_per_minute = 0\n"));
        assert_eq!(e, "abuse.lessons_per_minute: must be at least 1");
    }

    #[test]
    fn the_example_abuse_section_is_valid_and_shows_the_defaults() {
        let example = include_str!("../antirelou.example.toml");
        let section: Vec<&str> = example
            .lines()
            .skip_while(|l| !l.starts_with("# [abuse]"))
            .take_while(|l| l.starts_with("# "))
            .map(|l| l.trim_start_matches("# "))
            .collect();
        assert!(section.len() > 10, "{section:?}");
        let text = format!("{GOOD}\n{}\n", section.join("\n"));
        let c = Config::from_toml(&text, no_env).unwrap();
        assert_eq!(
            c.abuse.policies,
            antirelou_abuse::PolicySettings {
                countries: Some(vec!["FR".into()]),
                ..antirelou_abuse::PolicySettings::default()
            }
        );
    }

    #[test]
    fn numbers_need_their_provider_section() {
        let without_vonage = GOOD.replace("[vonage]", "[ignored]");
        let e = err(&without_vonage);
        assert!(e.contains("unknown field `ignored`"), "{e}");
        let start = GOOD.find("[vonage]").unwrap();
        let end = GOOD.find("[[number]]").unwrap();
        let text = format!("{}{}", &GOOD[..start], &GOOD[end..]);
        assert_eq!(
            err(&text),
            "number[1].provider: \"vonage\" needs a [vonage] section"
        );
    }

    #[test]
    fn storage_must_be_one_backend() {
        let e = err(&GOOD.replace(
            "sqlite = \"antirelou.db\"",
            "sqlite = \"a.db\"\npostgres = \"postgres://x\"",
        ));
        assert_eq!(e, "storage: set either sqlite or postgres, not both");
        let e = err(&GOOD.replace("sqlite = \"antirelou.db\"", "postgres = \"mysql://x\""));
        assert_eq!(e, "storage.postgres: must be a postgres:// URL");
        let c = Config::from_toml(
            &GOOD.replace(
                "sqlite = \"antirelou.db\"",
                "postgres = \"postgres://u@127.0.0.1/db\"",
            ),
            no_env,
        )
        .unwrap();
        assert!(matches!(c.storage, Storage::Postgres { .. }));
        assert_eq!(c.state_file, None, "no default state file with PostgreSQL");
    }

    #[test]
    fn the_operator_state_file_defaults_to_beside_the_database() {
        let c = Config::from_toml(GOOD, no_env).unwrap();
        assert_eq!(
            c.state_file.as_deref(),
            Some(Path::new("antirelou.db.operator.json"))
        );
        let set = GOOD.replace(
            "token = \"admin-token-0123456789\"",
            "token = \"admin-token-0123456789\"\nstate_file = \"/var/lib/antirelou/op.json\"",
        );
        assert_ne!(set, GOOD);
        let c = Config::from_toml(&set, no_env).unwrap();
        assert_eq!(
            c.state_file.as_deref(),
            Some(Path::new("/var/lib/antirelou/op.json"))
        );
        let e = err(&GOOD.replace(
            "token = \"admin-token-0123456789\"",
            "token = \"admin-token-0123456789\"\nstate_file = \" \"",
        ));
        assert_eq!(e, "admin.state_file: empty path");
    }

    #[test]
    fn secrets_come_from_the_environment() {
        let mut env = HashMap::new();
        env.insert(ENV_TWILIO_AUTH_TOKEN, "twilio-token-from-env");
        env.insert(ENV_ADMIN_TOKEN, "admin-token-from-the-env");
        env.insert(ENV_VONAGE_SIGNATURE_SECRET, "signature-from-env");
        let text = GOOD
            .replace("auth_token = \"twilio-auth-token-0123\"\n", "")
            .replace("token = \"admin-token-0123456789\"\n", "");
        let c = Config::from_toml(&text, |k| env.get(k).map(|v| (*v).to_owned())).unwrap();
        assert_eq!(
            c.provider::<TwilioSettings>().unwrap().auth_token,
            "twilio-token-from-env"
        );
        assert_eq!(c.admin_token, "admin-token-from-the-env");
        // The environment overrides the file.
        assert_eq!(
            c.provider::<VonageSettings>().unwrap().signature_secret,
            "signature-from-env"
        );
    }
}
