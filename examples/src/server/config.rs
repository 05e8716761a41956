//! The server's TOML configuration: parsing, secrets from the environment, and validation with
//! errors that name the faulty key.
//!
//! ```
//! use antirelou_examples::server::config::Config;
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

use antirelou_core::catalogue::Locale;
use antirelou_core::engine::NumberStatus;
use antirelou_core::event::Provider;
use antirelou_core::{Money, PhoneNumber};
use antirelou_vonage::SignatureMethod;
use serde::Deserialize;
use url::Url;

/// Environment variable that fills or overrides `hash_secret`.
pub const ENV_HASH_SECRET: &str = "ANTIRELOU_HASH_SECRET";
/// Environment variable that fills or overrides `admin.token`.
pub const ENV_ADMIN_TOKEN: &str = "ANTIRELOU_ADMIN_TOKEN";
/// Environment variable that fills or overrides `twilio.auth_token`.
pub const ENV_TWILIO_AUTH_TOKEN: &str = "ANTIRELOU_TWILIO_AUTH_TOKEN";
/// Environment variable that fills or overrides `vonage.api_secret`.
pub const ENV_VONAGE_API_SECRET: &str = "ANTIRELOU_VONAGE_API_SECRET";
/// Environment variable that fills or overrides `vonage.signature_secret`.
pub const ENV_VONAGE_SIGNATURE_SECRET: &str = "ANTIRELOU_VONAGE_SIGNATURE_SECRET";

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
}

impl ConfigError {
    fn key(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Key {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The key at fault, when there is one.
    pub fn key_name(&self) -> Option<&str> {
        match self {
            ConfigError::Key { key, .. } => Some(key),
            _ => None,
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
    twilio: Option<RawTwilio>,
    vonage: Option<RawVonage>,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTwilio {
    account_sid: Option<String>,
    auth_token: Option<String>,
    api_base: Option<String>,
    messaging_service_sid: Option<String>,
    status_callback: Option<bool>,
    pace_per_second: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVonage {
    api_key: Option<String>,
    api_secret: Option<String>,
    signature_secret: Option<String>,
    signature_method: Option<String>,
    api_base: Option<String>,
    delivery_receipts: Option<bool>,
    pace_per_second: Option<f64>,
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
        /// Commit the webhooks' writes together (default true).
        group_commit: bool,
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

/// The Twilio account.
#[derive(Clone)]
pub struct TwilioSettings {
    /// `AC…`.
    pub account_sid: String,
    /// Auth token (REST API and webhook signatures).
    pub auth_token: String,
    /// API base (`https://api.twilio.com`).
    pub api_base: Url,
    /// Send through this Messaging Service instead of `From`.
    pub messaging_service_sid: Option<String>,
    /// Ask for status callbacks at `{public_url}/twilio/status` (default true).
    pub status_callback: bool,
    /// At most this many messages per second (default none).
    pub pace_per_second: Option<f64>,
}

impl std::fmt::Debug for TwilioSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioSettings")
            .field("account_sid", &self.account_sid)
            .field("api_base", &self.api_base.as_str())
            .finish_non_exhaustive()
    }
}

/// The Vonage account.
#[derive(Clone)]
pub struct VonageSettings {
    /// `api_key`.
    pub api_key: String,
    /// `api_secret` (REST API).
    pub api_secret: String,
    /// Signature secret (signed SMS webhooks and voice JWTs).
    pub signature_secret: String,
    /// Signature method chosen in the dashboard.
    pub signature_method: SignatureMethod,
    /// API base (`https://rest.nexmo.com`).
    pub api_base: Url,
    /// Ask for delivery receipts at `{public_url}/vonage/dlr` (default true).
    pub delivery_receipts: bool,
    /// At most this many messages per second (default none).
    pub pace_per_second: Option<f64>,
}

impl std::fmt::Debug for VonageSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VonageSettings")
            .field("api_key", &self.api_key)
            .field("signature_method", &self.signature_method)
            .field("api_base", &self.api_base.as_str())
            .finish_non_exhaustive()
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
    pub provider: Provider,
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
    /// Public base URL the providers call (signatures are checked against it).
    pub public_url: Url,
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
    /// Twilio, if configured.
    pub twilio: Option<TwilioSettings>,
    /// Vonage, if configured.
    pub vonage: Option<VonageSettings>,
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
            .field("twilio", &self.twilio)
            .field("vonage", &self.vonage)
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

/// A secret from the environment (which wins) or the file, never empty.
fn secret(
    key: &str,
    env_name: &str,
    from_file: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let value = env(env_name)
        .filter(|v| !v.trim().is_empty())
        .or(from_file)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    value.ok_or_else(|| ConfigError::key(key, format!("missing (set it here or in {env_name})")))
}

fn required(key: &str, value: Option<String>) -> Result<String, ConfigError> {
    value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ConfigError::key(key, "missing"))
}

impl Config {
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
        let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.message().to_owned();
            if path == "." || path.is_empty() {
                ConfigError::Syntax(message)
            } else {
                ConfigError::key(path, message)
            }
        })?;
        Self::validate(raw, &env)
    }

    fn validate(
        raw: RawConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let listen_text = raw.listen.unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen: SocketAddr = listen_text.trim().parse().map_err(|_| {
            ConfigError::key(
                "listen",
                format!("{listen_text:?} is not an address:port such as \"127.0.0.1:8080\""),
            )
        })?;
        let public_url = http_url("public_url", &required("public_url", raw.public_url)?)?;
        let hash_secret = secret("hash_secret", ENV_HASH_SECRET, raw.hash_secret, env)?;
        if hash_secret.len() < 16 {
            return Err(ConfigError::key(
                "hash_secret",
                "must be at least 16 bytes (use a long random string)",
            ));
        }

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
                        group_commit: s.group_commit.unwrap_or(true),
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
        let admin_token = secret("admin.token", ENV_ADMIN_TOKEN, admin_token, env)?;
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
        if admin_token.len() < 16 {
            return Err(ConfigError::key(
                "admin.token",
                "must be at least 16 characters (use a long random string)",
            ));
        }

        let twilio = match raw.twilio {
            None => None,
            Some(t) => {
                let account_sid = required("twilio.account_sid", t.account_sid)?;
                if !account_sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(ConfigError::key(
                        "twilio.account_sid",
                        "must be alphanumeric (AC…)",
                    ));
                }
                let auth_token = secret(
                    "twilio.auth_token",
                    ENV_TWILIO_AUTH_TOKEN,
                    t.auth_token,
                    env,
                )?;
                let api_base = http_url(
                    "twilio.api_base",
                    t.api_base
                        .as_deref()
                        .unwrap_or(antirelou_twilio::client::DEFAULT_API_BASE),
                )?;
                if let Some(sid) = &t.messaging_service_sid
                    && (sid.is_empty() || !sid.bytes().all(|b| b.is_ascii_alphanumeric()))
                {
                    return Err(ConfigError::key(
                        "twilio.messaging_service_sid",
                        "must be alphanumeric (MG…)",
                    ));
                }
                Some(TwilioSettings {
                    account_sid,
                    auth_token,
                    api_base,
                    messaging_service_sid: t.messaging_service_sid,
                    status_callback: t.status_callback.unwrap_or(true),
                    pace_per_second: pace("twilio.pace_per_second", t.pace_per_second)?,
                })
            }
        };

        let vonage = match raw.vonage {
            None => None,
            Some(v) => {
                let api_key = required("vonage.api_key", v.api_key)?;
                let api_secret = secret(
                    "vonage.api_secret",
                    ENV_VONAGE_API_SECRET,
                    v.api_secret,
                    env,
                )?;
                let signature_secret = secret(
                    "vonage.signature_secret",
                    ENV_VONAGE_SIGNATURE_SECRET,
                    v.signature_secret,
                    env,
                )?;
                let signature_method = match v.signature_method.as_deref() {
                    None => SignatureMethod::Md5Hash,
                    Some(m) => m.parse().map_err(|_| {
                        ConfigError::key(
                            "vonage.signature_method",
                            format!("{m:?}: expected md5hash, md5, sha1, sha256 or sha512"),
                        )
                    })?,
                };
                let api_base = http_url(
                    "vonage.api_base",
                    v.api_base
                        .as_deref()
                        .unwrap_or(antirelou_vonage::client::DEFAULT_API_BASE),
                )?;
                Some(VonageSettings {
                    api_key,
                    api_secret,
                    signature_secret,
                    signature_method,
                    api_base,
                    delivery_receipts: v.delivery_receipts.unwrap_or(true),
                    pace_per_second: pace("vonage.pace_per_second", v.pace_per_second)?,
                })
            }
        };

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
            let provider = match required(&k("provider"), n.provider)?.as_str() {
                "twilio" => Provider::Twilio,
                "vonage" => Provider::Vonage,
                other => {
                    return Err(ConfigError::key(
                        k("provider"),
                        format!("{other:?}: expected \"twilio\" or \"vonage\""),
                    ));
                }
            };
            match provider {
                Provider::Twilio if twilio.is_none() => {
                    return Err(ConfigError::key(
                        k("provider"),
                        "\"twilio\" needs a [twilio] section",
                    ));
                }
                Provider::Vonage if vonage.is_none() => {
                    return Err(ConfigError::key(
                        k("provider"),
                        "\"vonage\" needs a [vonage] section",
                    ));
                }
                _ => {}
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

        Ok(Config {
            listen,
            public_url,
            hash_secret,
            storage,
            reply,
            budget,
            admin_token,
            state_file,
            twilio,
            vonage,
            abuse,
            dispatcher,
            numbers,
        })
    }
}

fn pace(key: &str, value: Option<f64>) -> Result<Option<f64>, ConfigError> {
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && v > 0.0 => Ok(Some(v)),
        Some(_) => Err(ConfigError::key(key, "must be a positive number")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
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
auth_token = "twilio-token"
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
        assert_eq!(c.twilio.as_ref().unwrap().auth_token, "twilio-token");
        let v = c.vonage.as_ref().unwrap();
        assert_eq!(v.signature_method, SignatureMethod::Md5Hash);
        assert_eq!(v.api_base.as_str(), "https://rest.nexmo.com/");
        assert_eq!(c.numbers.len(), 2);
        assert_eq!(c.numbers[1].provider, Provider::Vonage);
        assert_eq!(c.numbers[1].locale.as_str(), "fr-BE");
        assert_eq!(
            c.storage,
            Storage::Sqlite {
                path: "antirelou.db".into(),
                full_durability: true,
                group_commit: true,
            }
        );
    }

    #[test]
    fn the_example_file_is_accepted() {
        let text = include_str!("../../antirelou.example.toml");
        let c = Config::from_toml(text, no_env).unwrap();
        assert!(!c.numbers.is_empty());
        assert!(c.twilio.is_some() && c.vonage.is_some());
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
            err(&GOOD.replace("auth_token = \"twilio-token\"\n", "")),
            "twilio.auth_token: missing (set it here or in ANTIRELOU_TWILIO_AUTH_TOKEN)"
        );
        assert_eq!(
            err(&GOOD.replace("hash_secret = \"0123456789abcdef0123456789abcdef\"\n", "")),
            "hash_secret: missing (set it here or in ANTIRELOU_HASH_SECRET)"
        );
        assert_eq!(
            err(&GOOD.replace(
                "hash_secret = \"0123456789abcdef0123456789abcdef\"",
                "hash_secret = \"short\""
            )),
            "hash_secret: must be at least 16 bytes (use a long random string)"
        );
        let e = err(&GOOD.replace("delay = \"1h\"", "delay = \"one hour\""));
        assert!(e.starts_with("reply.delay: "), "{e}");
        let e = err(&GOOD.replace("provider = \"vonage\"", "provider = \"orange\""));
        assert_eq!(
            e,
            "number[1].provider: \"orange\": expected \"twilio\" or \"vonage\""
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
        let example = include_str!("../../antirelou.example.toml");
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
        env.insert(ENV_TWILIO_AUTH_TOKEN, "from-env");
        env.insert(ENV_ADMIN_TOKEN, "admin-token-from-the-env");
        env.insert(ENV_VONAGE_SIGNATURE_SECRET, "sig-from-env");
        let text = GOOD
            .replace("auth_token = \"twilio-token\"\n", "")
            .replace("token = \"admin-token-0123456789\"\n", "");
        let c = Config::from_toml(&text, |k| env.get(k).map(|v| (*v).to_owned())).unwrap();
        assert_eq!(c.twilio.unwrap().auth_token, "from-env");
        assert_eq!(c.admin_token, "admin-token-from-the-env");
        // The environment overrides the file.
        assert_eq!(c.vonage.unwrap().signature_secret, "sig-from-env");
    }
}
