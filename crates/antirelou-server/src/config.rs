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
//! [currency]
//! ledger = "EUR"
//! rates = { USD = 0.92 }
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

use std::sync::Arc;

use antirelou_core::ProviderId;
use antirelou_core::catalogue::Locale;
use antirelou_core::currency::Rate;
use antirelou_core::engine::NumberStatus;
use antirelou_core::kit::config::{self as kit_config, SecretSpec, SectionContext, secret};
use antirelou_core::{Currency, CurrencyRates, Money, PhoneNumber};

use crate::providers::{self, ConfiguredProvider};
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
    /// An error of the file at `path` (what [`Config::load`] returns: the file, then the key).
    #[error("{}: {error}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        error: Box<ConfigError>,
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
            ConfigError::InFile { error, .. } => error.key_name(),
            _ => None,
        }
    }

    /// Every problem: the list of [`ConfigError::Several`], or this one alone.
    pub fn problems(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Several(all) => all.iter().collect(),
            ConfigError::InFile { error, .. } => error.problems(),
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
    currency: Option<RawCurrency>,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCurrency {
    ledger: Option<String>,
    rates: Option<toml::Table>,
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
    /// The ledger's currency (the budget's) and the fixed rate of each other currency a
    /// provider bills in (`[currency]`); every configured provider's billing currency has one.
    pub currency: CurrencyRates,
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
            .field("currency", &self.currency)
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

fn http_url(key: &str, value: &str) -> Result<Url, ConfigError> {
    Ok(kit_config::http_url(key, value)?)
}

fn required(key: &str, value: Option<String>) -> Result<String, ConfigError> {
    Ok(kit_config::required(key, value)?)
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

/// "still the example value" when `value` is one of the example file's quoted strings (comments
/// included): the server's own placeholder test, run before the adapter kit's markers ("change
/// me", an ellipsis, one character repeated… see [`kit_config::placeholder_marker`]) on every
/// secret, the adapters' included (through their [`SectionContext`]).
fn example_value(value: &str) -> Option<String> {
    const EXAMPLE: &str = include_str!("../antirelou.example.toml");
    EXAMPLE
        .split('"')
        .skip(1)
        .step_by(2)
        .any(|example| example.trim() == value)
        .then(|| "still the example value".to_owned())
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
    /// Every error names the file, then the dotted key.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Config::from_toml(&text, |name| std::env::var(name).ok()).map_err(|e| ConfigError::InFile {
            path: path.to_path_buf(),
            error: Box::new(e),
        })
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
        let mut cx = SectionContext::new(&env);
        cx.placeholder = &example_value;
        let result = Self::validate(raw, sections, &mut cx);
        // The secrets' problems first, then the error that stopped the validation, if any.
        let mut problems: Vec<ConfigError> = cx.problems.into_iter().map(Into::into).collect();
        if let Err(e) = result.as_ref() {
            problems.push(e.clone());
        }
        match problems.len() {
            0 => result,
            1 => Err(problems.remove(0)),
            _ => Err(ConfigError::Several(problems)),
        }
    }

    /// Each section by its own function, in the file's order; the providers' by their adapters.
    fn validate(
        raw: RawConfig,
        sections: toml::Table,
        cx: &mut SectionContext<'_>,
    ) -> Result<Config, ConfigError> {
        let listen = socket_addr("listen", raw.listen.as_deref(), "127.0.0.1:8080")?;
        let public_url_exact = required("public_url", raw.public_url)?;
        let public_url = http_url("public_url", &public_url_exact)?;
        let hash_secret = secret(HASH_SECRET, raw.hash_secret, cx);
        let storage = storage(raw.storage)?;
        let reply = reply(raw.reply)?;
        let budget = budget(raw.budget)?;
        let currency = currency(raw.currency)?;
        let (admin_token, state_file) = admin(raw.admin, &storage, cx)?;
        let http = http_settings(raw.http)?;
        let metrics = metrics_settings(raw.metrics, listen, &admin_token, cx)?;
        let providers = configure_providers(sections, cx)?;
        billing_currencies_have_rates(&providers, &currency)?;
        let abuse = abuse_settings(raw.abuse)?;
        let dispatcher = dispatcher(raw.dispatcher)?;
        let numbers = numbers(raw.number, &providers)?;
        unused_providers(&numbers, &providers)?;
        Ok(Config {
            listen,
            public_url,
            public_url_exact,
            hash_secret,
            storage,
            reply,
            budget,
            currency,
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

/// An `address:port` (`listen`, `metrics.listen`), `default` when absent.
fn socket_addr(key: &str, value: Option<&str>, default: &str) -> Result<SocketAddr, ConfigError> {
    let text = value.unwrap_or(default);
    text.trim().parse().map_err(|_| {
        ConfigError::key(
            key,
            format!("{text:?} is not an address:port such as \"{default}\""),
        )
    })
}

/// `[storage]`: one backend, SQLite (with its durability) or PostgreSQL.
fn storage(raw: Option<RawStorage>) -> Result<Storage, ConfigError> {
    let Some(s) = raw else {
        return Err(ConfigError::key(
            "storage",
            "missing ([storage] with sqlite = \"file\" or postgres = \"url\")",
        ));
    };
    let full_durability = match s.durability.as_deref().map(str::trim) {
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
        // Group commit is the SQLite store's only write mode since it lost its switch: a config
        // that still sets it asked for something, so say so.
        return Err(ConfigError::key(
            "storage.group_commit",
            "no longer a setting: the SQLite store always commits the webhooks' writes \
             together; remove the key",
        ));
    }
    match (s.sqlite, s.postgres) {
        (Some(_), Some(_)) => Err(ConfigError::key(
            "storage",
            "set either sqlite or postgres, not both",
        )),
        (Some(path), None) if !path.trim().is_empty() => Ok(Storage::Sqlite {
            path: PathBuf::from(path.trim()),
            full_durability,
        }),
        (Some(_), None) => Err(ConfigError::key("storage.sqlite", "empty path")),
        (None, Some(url)) => {
            let url = url.trim().to_owned();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(ConfigError::key(
                    "storage.postgres",
                    "must be a postgres:// URL",
                ));
            }
            Ok(Storage::Postgres {
                url,
                max_connections: s.max_connections,
            })
        }
        (None, None) => Err(ConfigError::key(
            "storage",
            "set sqlite = \"file\" or postgres = \"url\"",
        )),
    }
}

/// `[reply]`: the lesson's timings.
fn reply(raw: RawReply) -> Result<ReplyConfig, ConfigError> {
    let hours = |h: u64| Duration::from_secs(h * 3600);
    let reply = ReplyConfig {
        delay: duration("reply.delay", raw.delay.as_deref(), hours(1))?,
        jitter: duration("reply.jitter", raw.jitter.as_deref(), Duration::ZERO)?,
        deadline: duration("reply.deadline", raw.deadline.as_deref(), hours(24))?,
        lesson_window: duration(
            "reply.lesson_window",
            raw.lesson_window.as_deref(),
            hours(30 * 24),
        )?,
    };
    if reply.deadline.is_zero() {
        return Err(ConfigError::key(
            "reply.deadline",
            "must be longer than zero",
        ));
    }
    Ok(reply)
}

/// `[budget]`: the caps and the configured price, in the ledger's currency.
fn budget(raw: RawBudget) -> Result<BudgetConfig, ConfigError> {
    let budget = BudgetConfig {
        daily_cap: money("budget.daily_cap_eur", raw.daily_cap_eur, false)?,
        monthly_cap: money("budget.monthly_cap_eur", raw.monthly_cap_eur, false)?,
        price_per_segment: money(
            "budget.price_per_segment_eur",
            raw.price_per_segment_eur,
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
    Ok(budget)
}

/// `[currency]`: the ledger's currency (`EUR` when absent) and the fixed rate of each other
/// currency a provider bills in (`rates = { USD = 0.92 }`: one US dollar is 0.92 of the
/// ledger's currency). A rate is a number or a decimal string, kept to 9 decimals.
fn currency(raw: Option<RawCurrency>) -> Result<CurrencyRates, ConfigError> {
    let raw = raw.unwrap_or_default();
    let ledger = match raw.ledger.as_deref() {
        None => Currency::EUR,
        Some(c) => {
            Currency::parse(c).map_err(|e| ConfigError::key("currency.ledger", e.to_string()))?
        }
    };
    let mut rates = CurrencyRates::new(ledger);
    for (code, value) in raw.rates.unwrap_or_default() {
        let key = format!("currency.rates.{code}");
        let currency = Currency::parse(&code).map_err(|e| ConfigError::key(&key, e.to_string()))?;
        let rate = match &value {
            toml::Value::Float(f) => Rate::from_config_f64(*f),
            toml::Value::Integer(i) => Rate::parse_decimal(&i.to_string()),
            toml::Value::String(s) => Rate::parse_decimal(s),
            _ => None,
        }
        .ok_or_else(|| {
            ConfigError::key(
                &key,
                format!(
                    "{value}: expected a positive number, the {ledger} worth of one {currency} \
                     (such as 0.92)"
                ),
            )
        })?;
        rates = rates
            .with_rate(currency, rate)
            .map_err(|e| ConfigError::key(&key, format!("{e}; remove it")))?;
    }
    Ok(rates)
}

/// Every configured provider bills in the ledger's currency or one with a rate: a price is
/// never counted 1:1 in another currency.
fn billing_currencies_have_rates(
    providers: &[Arc<dyn ConfiguredProvider>],
    rates: &CurrencyRates,
) -> Result<(), ConfigError> {
    let ledger = rates.ledger();
    for p in providers {
        let name = p.id().as_str();
        if let Some(missing) = rates.missing(p.billing_currencies()).first() {
            return Err(ConfigError::key(
                "currency.rates",
                format!(
                    "[{name}] bills in {missing} ({name}.billing_currency) but the ledger counts \
                     in {ledger} (currency.ledger) and has no rate for {missing}: add it to \
                     [currency], such as rates = {{ {missing} = 0.92 }} (one {missing} is worth \
                     0.92 {ledger}; use your bank's rate), or set {name}.billing_currency to \
                     what the account is really billed in"
                ),
            ));
        }
    }
    Ok(())
}

/// `[admin]`: its token (a secret) and where the operator's state is kept.
fn admin(
    raw: Option<RawAdmin>,
    storage: &Storage,
    cx: &mut SectionContext<'_>,
) -> Result<(String, Option<PathBuf>), ConfigError> {
    let (token, state_file) = match raw {
        Some(a) => (a.token, a.state_file),
        None => (None, None),
    };
    let token = secret(ADMIN_TOKEN, token, cx);
    let state_file = match state_file.as_deref().map(str::trim) {
        Some("") => return Err(ConfigError::key("admin.state_file", "empty path")),
        Some(p) => Some(PathBuf::from(p)),
        None => match storage {
            Storage::Sqlite { path, .. } => {
                let mut p = path.as_os_str().to_owned();
                p.push(".operator.json");
                Some(PathBuf::from(p))
            }
            _ => None,
        },
    };
    Ok((token, state_file))
}

/// `[dispatcher]`: workers, poll interval and lease.
fn dispatcher(raw: RawDispatcher) -> Result<DispatcherSettings, ConfigError> {
    let dispatcher = DispatcherSettings {
        workers: raw.workers.unwrap_or(4),
        poll_interval: duration(
            "dispatcher.poll_interval",
            raw.poll_interval.as_deref(),
            Duration::from_secs(1),
        )?,
        lease: duration(
            "dispatcher.lease",
            raw.lease.as_deref(),
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
    Ok(dispatcher)
}

/// `[[number]]`: at least one, each once, each with a configured provider.
fn numbers(
    raw: Vec<RawNumber>,
    providers: &[Arc<dyn ConfiguredProvider>],
) -> Result<Vec<NumberSettings>, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::key(
            "number",
            "no number configured (add a [[number]] table)",
        ));
    }
    let mut numbers: Vec<NumberSettings> = Vec::with_capacity(raw.len());
    for (i, n) in raw.into_iter().enumerate() {
        let number = number(i, n, providers)?;
        if numbers.iter().any(|o| o.phone == number.phone) {
            return Err(ConfigError::key(
                format!("number[{i}].phone"),
                format!("number {} is configured twice", number.phone.masked()),
            ));
        }
        numbers.push(number);
    }
    Ok(numbers)
}

/// The `i`-th `[[number]]`.
fn number(
    i: usize,
    n: RawNumber,
    providers: &[Arc<dyn ConfiguredProvider>],
) -> Result<NumberSettings, ConfigError> {
    let k = |field: &str| format!("number[{i}].{field}");
    let phone_text = required(&k("phone"), n.phone)?;
    let phone = PhoneNumber::parse(&phone_text).map_err(|e| {
        let detail = match e {
            antirelou_core::Error::InvalidPhoneNumber { reason, .. } => reason,
            other => other.to_string(),
        };
        ConfigError::key(k("phone"), format!("invalid phone number: {detail}"))
    })?;
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
    Ok(NumberSettings {
        phone,
        provider,
        locale,
        status,
        decoy: n.decoy.unwrap_or(true),
        neutral_first_reply: n.neutral_first_reply.unwrap_or(false),
        sms_to_callers: n.sms_to_callers.unwrap_or(false),
    })
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
    cx: &mut SectionContext<'_>,
) -> Result<MetricsSettings, ConfigError> {
    let section = raw.is_some();
    let (file_token, listen_text) = match raw {
        Some(m) => (m.token, m.listen),
        None => (None, None),
    };
    let given = file_token.as_deref().is_some_and(|t| !t.trim().is_empty())
        || (cx.env)(ENV_METRICS_TOKEN).is_some_and(|t| !t.trim().is_empty());
    let token = if given {
        let t = secret(METRICS_TOKEN, file_token, cx);
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
    cx: &mut SectionContext<'_>,
) -> Result<Vec<Arc<dyn ConfiguredProvider>>, ConfigError> {
    let mut configured = Vec::new();
    for factory in providers::REGISTRY {
        if let Some(section) = sections.remove(factory.section()) {
            configured.push(factory.configure(section, cx)?);
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
[currency]
rates = { USD = 0.92 }
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
billing_currency = "EUR"
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
                 [abuse.flood]\nmin_surge = 40\nbudget_horizon = \"2h\"\n\
                 [abuse.burst]\ntexts = 4\nwithin = \"5m\"\n",
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
        assert_eq!(p.burst.texts, 4);
        assert_eq!(p.burst.within, Duration::from_secs(300));
        assert_eq!(p.burst.min_bursts, 10);
        let e = err(&with("[abuse.burst]\ntexts = 1\n"));
        assert!(e.starts_with("abuse.burst.texts: must be within"), "{e}");
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

    #[test]
    fn an_error_of_a_loaded_file_names_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("antirelou.toml");
        std::fs::write(&path, GOOD.replace("delay = \"1h\"", "delay = \"soon\"")).unwrap();
        let e = Config::load(&path).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with(&path.display().to_string()), "{text}");
        assert!(text.contains("reply.delay: "), "{text}");
        assert_eq!(e.key_name(), Some("reply.delay"));
        // Several problems: the file once, then each key.
        std::fs::write(
            &path,
            GOOD.replace("vonage-api-secret", "")
                .replace("0123456789abcdef0123456789abcdef", "short"),
        )
        .unwrap();
        let e = Config::load(&path).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("{}: 2 problems:", path.display())),
            "{text}"
        );
        assert!(text.contains("\n  hash_secret: too short"), "{text}");
        assert!(text.contains("\n  vonage.api_secret: missing"), "{text}");
        assert_eq!(e.problems().len(), 2);
    }

    #[test]
    fn every_billing_currency_needs_a_rate_or_the_server_does_not_start() {
        // Twilio bills in USD by default: without a USD rate, a config error saying what to add.
        let no_rates = GOOD.replace("[currency]\nrates = { USD = 0.92 }\n", "");
        let e = err(&no_rates);
        assert!(
            e.starts_with("currency.rates: [twilio] bills in USD"),
            "{e}"
        );
        assert!(e.contains("twilio.billing_currency"), "{e}");
        assert!(
            e.contains("add it to [currency], such as rates = { USD = 0.92 }"),
            "{e}"
        );
        // Declared in the ledger's currency, it needs none.
        let eur = no_rates.replace(
            "api_base = \"https://api.twilio.com\"",
            "api_base = \"https://api.twilio.com\"\nbilling_currency = \"eur\"",
        );
        let c = Config::from_toml(&eur, no_env).unwrap();
        assert_eq!(c.currency.ledger(), Currency::EUR);
        // A ledger in dollars: now Vonage's euros need the rate.
        let usd_ledger = no_rates.replace("[admin]", "[currency]\nledger = \"USD\"\n[admin]");
        let e = err(&usd_ledger);
        assert!(
            e.starts_with("currency.rates: [vonage] bills in EUR"),
            "{e}"
        );
        let fixed = usd_ledger.replace(
            "ledger = \"USD\"",
            "ledger = \"USD\"\nrates = { EUR = \"1.087\" }",
        );
        let c = Config::from_toml(&fixed, no_env).unwrap();
        assert_eq!(
            c.currency.rate(Currency::EUR).unwrap().billionths(),
            1_087_000_000
        );
    }

    #[test]
    fn the_currency_section_is_validated() {
        let with = |section: &str| GOOD.replace("[currency]\nrates = { USD = 0.92 }", section);
        let c = Config::from_toml(
            &with("[currency]\nledger = \"eur\"\nrates = { USD = 0.92, GBP = 1 }"),
            no_env,
        )
        .unwrap();
        assert_eq!(
            c.currency.rate(Currency::USD).unwrap().billionths(),
            920_000_000
        );
        assert_eq!(
            c.currency.rate(Currency::GBP).unwrap().billionths(),
            1_000_000_000
        );
        for (section, key) in [
            (
                "[currency]\nledger = \"euro\"\nrates = { USD = 0.92 }",
                "currency.ledger",
            ),
            ("[currency]\nrates = { USD = 0 }", "currency.rates.USD"),
            ("[currency]\nrates = { USD = -0.9 }", "currency.rates.USD"),
            (
                "[currency]\nrates = { USD = \"about one\" }",
                "currency.rates.USD",
            ),
            (
                "[currency]\nrates = { DOLLAR = 0.9 }",
                "currency.rates.DOLLAR",
            ),
            (
                "[currency]\nrates = { USD = 0.92, EUR = 1 }",
                "currency.rates.EUR",
            ),
            ("[currency]\nrate = { USD = 0.92 }", "currency.rate"),
        ] {
            let e = err(&with(section));
            assert!(e.starts_with(&format!("{key}: ")), "{section}: {e}");
        }
        // Vonage's prices name no currency: its billing currency is required.
        let e = err(&GOOD.replace("billing_currency = \"EUR\"\n", ""));
        assert!(e.starts_with("vonage.billing_currency: missing"), "{e}");
    }
}
