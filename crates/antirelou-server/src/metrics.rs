//! `GET /metrics`: the engine's statistics in the Prometheus text exposition format, rendered
//! from [`Engine::stats`](antirelou_core::engine::Engine::stats) (the durable counters, so they
//! survive restarts and agree between servers sharing a PostgreSQL store).
//!
//! It shows the spend against the caps, which tells a flooder how much budget is left, so it is
//! never public by default: `[metrics] token` serves it on the main listener to requests with
//! that bearer token, `[metrics] listen` on an address of its own (a private network or
//! loopback; the token is asked there too if set), and without either it is not served.
//!
//! ```
//! use antirelou_core::engine::EngineStats;
//! use antirelou_server::metrics::render;
//! let mut stats = EngineStats::default();
//! stats.counters.insert("inbound.sms".into(), 3);
//! stats.counters.insert("drop.opted_out".into(), 1);
//! // A community policy's own reason is listed like the built-in ones.
//! let night = antirelou_core::policy::Reason::Policy(antirelou_core::policy_reason!("night_rest"));
//! stats.counters.insert(night.counter().into(), 2);
//! let text = render(&stats, None, None, 1);
//! assert!(text.contains("antirelou_inbound_total{channel=\"sms\"} 3\n"));
//! assert!(text.contains("antirelou_drops_total{reason=\"opted_out\"} 1\n"));
//! assert!(text.contains("antirelou_drops_total{reason=\"night_rest\"} 2\n"));
//! ```

use std::fmt::Write as _;
use std::sync::Arc;

use antirelou_core::Money;
use antirelou_core::engine::EngineStats;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::admin::AdminState;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric name part from a counter name: `[a-z0-9_]` only.
fn clean(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Render `stats` (and the caps, and how many numbers are paused) as Prometheus text.
pub fn render(
    stats: &EngineStats,
    daily_cap: Option<Money>,
    monthly_cap: Option<Money>,
    paused_numbers: usize,
) -> String {
    let mut out = String::with_capacity(4096);
    header(
        &mut out,
        "antirelou_inbound_total",
        "counter",
        "Inbound webhooks by channel.",
    );
    for ch in ["sms", "voice"] {
        let _ = writeln!(
            out,
            "antirelou_inbound_total{{channel=\"{ch}\"}} {}",
            stats.counter(&format!("inbound.{ch}"))
        );
    }
    header(
        &mut out,
        "antirelou_drops_total",
        "counter",
        "Contacts that cost nothing, by reason.",
    );
    for (k, v) in &stats.counters {
        if let Some(reason) = k.strip_prefix("drop.") {
            let _ = writeln!(
                out,
                "antirelou_drops_total{{reason=\"{}\"}} {v}",
                clean(reason)
            );
        }
    }
    header(
        &mut out,
        "antirelou_events_total",
        "counter",
        "Every other engine counter, by name.",
    );
    for (k, v) in &stats.counters {
        if !k.starts_with("drop.") && !k.starts_with("inbound.") {
            let _ = writeln!(out, "antirelou_events_total{{event=\"{}\"}} {v}", clean(k));
        }
    }
    header(
        &mut out,
        "antirelou_queue_replies",
        "gauge",
        "Replies in the queue by state.",
    );
    let q = &stats.queue;
    let _ = writeln!(
        out,
        "antirelou_queue_replies{{state=\"pending\"}} {}",
        q.pending
    );
    let _ = writeln!(out, "antirelou_queue_replies{{state=\"due\"}} {}", q.due);
    let _ = writeln!(
        out,
        "antirelou_queue_replies{{state=\"claimed\"}} {}",
        q.claimed
    );
    header(
        &mut out,
        "antirelou_spend_eur",
        "gauge",
        "Committed spend (settled and reserved) by period.",
    );
    let _ = writeln!(
        out,
        "antirelou_spend_eur{{period=\"day\"}} {}",
        stats.spend.day.as_units_f64()
    );
    let _ = writeln!(
        out,
        "antirelou_spend_eur{{period=\"month\"}} {}",
        stats.spend.month.as_units_f64()
    );
    header(
        &mut out,
        "antirelou_spend_cap_eur",
        "gauge",
        "Spend caps by period (absent when unset).",
    );
    if let Some(c) = daily_cap {
        let _ = writeln!(
            out,
            "antirelou_spend_cap_eur{{period=\"day\"}} {}",
            c.as_units_f64()
        );
    }
    if let Some(c) = monthly_cap {
        let _ = writeln!(
            out,
            "antirelou_spend_cap_eur{{period=\"month\"}} {}",
            c.as_units_f64()
        );
    }
    header(
        &mut out,
        "antirelou_numbers_paused",
        "gauge",
        "Numbers paused by the operator.",
    );
    let _ = writeln!(out, "antirelou_numbers_paused {paused_numbers}");
    out
}

/// Our numbers by provider (its [`ProviderId`](antirelou_core::ProviderId), whatever the
/// adapter) and status, as Prometheus text: `antirelou_numbers{provider="telnyx",status="active"} 1`.
///
/// ```
/// use antirelou_core::engine::{NumberConfig, NumberStatus};
/// use antirelou_core::{PhoneNumber, ProviderId, catalogue::Locale};
/// let n = NumberConfig::new(
///     PhoneNumber::parse("+33937000002").unwrap(),
///     Locale::new("fr-FR").unwrap(),
///     ProviderId::from_static("acme"),
/// );
/// let text = antirelou_server::metrics::render_numbers(&[n]);
/// assert!(text.contains("antirelou_numbers{provider=\"acme\",status=\"active\"} 1\n"));
/// ```
pub fn render_numbers(numbers: &[antirelou_core::engine::NumberConfig]) -> String {
    let mut counts = std::collections::BTreeMap::<(&str, &str), usize>::new();
    for n in numbers {
        *counts
            .entry((n.provider.as_str(), n.status.as_str()))
            .or_default() += 1;
    }
    let mut out = String::new();
    header(
        &mut out,
        "antirelou_numbers",
        "gauge",
        "Our numbers by provider and status.",
    );
    for ((provider, status), n) in counts {
        let _ = writeln!(
            out,
            "antirelou_numbers{{provider=\"{provider}\",status=\"{status}\"}} {n}"
        );
    }
    out
}

/// What `/metrics` needs: the statistics, and the bearer token it asks for, if any.
#[derive(Debug)]
struct MetricsState {
    admin: Arc<AdminState>,
    /// SHA-256 of the token (compared in constant time); `None`: no token asked for.
    token_digest: Option<[u8; 32]>,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl MetricsState {
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.token_digest else {
            return true;
        };
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            });
        match token {
            Some(t) => bool::from(digest(t.trim().as_bytes()).ct_eq(expected)),
            None => false,
        }
    }
}

async fn metrics(State(ms): State<Arc<MetricsState>>, headers: HeaderMap) -> Response {
    if !ms.authorized(&headers) {
        let mut r = (StatusCode::UNAUTHORIZED, "metrics token required\n").into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"metrics\""),
        );
        return r;
    }
    let st = &ms.admin;
    let stats = match st.stats().await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let numbers = st.engine().numbers().list();
    let paused = numbers
        .iter()
        .filter(|n| n.status == antirelou_core::engine::NumberStatus::Paused)
        .count();
    let b = st.budget();
    let mut text = render(&stats, b.daily_cap, b.monthly_cap, paused);
    text.push_str(&render_numbers(&numbers));
    let mut r = text.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    r
}

/// The `/metrics` route; with `token`, it answers only requests that carry it as a bearer
/// token (`401` otherwise).
pub fn router(state: Arc<AdminState>, token: Option<&str>) -> Router {
    let state = MetricsState {
        admin: state,
        token_digest: token.map(|t| digest(t.as_bytes())),
    };
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(Arc::new(state))
}
