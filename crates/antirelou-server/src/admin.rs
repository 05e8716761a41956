//! The operator's endpoints under `/admin`, behind a bearer token, and the console page.
//!
//! | Route | What |
//! |---|---|
//! | `GET /admin` | the console (an HTML page; it asks for the token and calls the JSON endpoints) |
//! | `GET /admin/stats` | counters: inbound by channel, lessons, drops by reason (total and recent), spend against the caps, queue depth |
//! | `GET /admin/numbers` | our numbers, masked, with their status and an `id` |
//! | `POST /admin/pause`, `POST /admin/resume` | every number, or one: `{"number": "+33…"}` or `{"id": 0}` |
//! | `GET /admin/blocklist` | blocked numbers and prefixes, masked, with an opaque `id` |
//! | `POST /admin/blocklist` | block `{"pattern": "+33612", "ttl": "12h"}` (`ttl` optional) |
//! | `DELETE /admin/blocklist` | unblock `{"pattern": "+33612"}` or `{"id": "…"}` |
//!
//! Every JSON endpoint needs `Authorization: Bearer <admin.token>`, compared in constant time.
//! Numbers never leave the server unmasked.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use antirelou_abuse::{BlockPattern, DefaultPolicies};
use antirelou_core::engine::{Engine, EngineStats, NumberStatus};
use antirelou_core::{Money, PhoneNumber, Timestamp};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::config::BudgetConfig;
use super::operator_state::{OperatorState, StateFileError};

/// The console page, one self-contained file.
pub const CONSOLE_HTML: &str = include_str!("console.html");

/// One sample of the statistics, for the spend chart and the recent drops.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// When (ms since the epoch).
    pub at: i64,
    /// Spend today, in euros.
    pub spend_day_eur: f64,
    /// Spend this month, in euros.
    pub spend_month_eur: f64,
    /// Pending replies.
    pub pending: u64,
    /// Inbound texts so far.
    pub inbound_sms: u64,
    #[serde(skip)]
    drops: BTreeMap<String, u64>,
}

/// A bounded ring of samples.
#[derive(Debug)]
pub struct History {
    samples: Mutex<VecDeque<Sample>>,
    capacity: usize,
}

impl History {
    /// Keep at most `capacity` samples.
    pub fn new(capacity: usize) -> Self {
        History {
            samples: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            capacity: capacity.max(2),
        }
    }

    fn push(&self, s: Sample) {
        let mut q = self.samples.lock();
        q.push_back(s);
        while q.len() > self.capacity {
            q.pop_front();
        }
    }

    fn snapshot(&self) -> Vec<Sample> {
        self.samples.lock().iter().cloned().collect()
    }

    /// The oldest sample taken at or after `since`.
    fn first_since(&self, since: i64) -> Option<Sample> {
        self.samples.lock().iter().find(|s| s.at >= since).cloned()
    }
}

/// What the admin endpoints share.
#[derive(Debug)]
pub struct AdminState {
    engine: Engine,
    policies: Option<DefaultPolicies>,
    token_digest: [u8; 32],
    budget: BudgetConfig,
    history: History,
    id_key: [u8; 32],
    started: Timestamp,
    /// Where pauses and resumes are recorded (see [`super::operator_state`]), and the lock
    /// that keeps two admin calls from writing it at once.
    state_file: Option<(PathBuf, Mutex<()>)>,
}

fn digest(s: &[u8]) -> [u8; 32] {
    Sha256::digest(s).into()
}

fn eur(m: Money) -> f64 {
    m.as_units_f64()
}

impl AdminState {
    /// State for the admin routes.
    pub fn new(
        engine: Engine,
        policies: Option<DefaultPolicies>,
        token: &str,
        budget: BudgetConfig,
        history: History,
    ) -> Self {
        let started = engine.clock().now();
        AdminState {
            engine,
            policies,
            token_digest: digest(token.as_bytes()),
            budget,
            history,
            id_key: rand::random(),
            started,
            state_file: None,
        }
    }

    /// Record every pause and resume in `path` (`None`: kept in memory only, lost at restart).
    pub fn with_state_file(mut self, path: Option<PathBuf>) -> Self {
        self.state_file = path.map(|p| (p, Mutex::new(())));
        self
    }

    /// Write the operator's decision for `numbers` to the state file. `Ok(false)` when there is
    /// no state file.
    fn record_status(
        &self,
        numbers: &[PhoneNumber],
        status: NumberStatus,
    ) -> Result<bool, StateFileError> {
        let Some((path, lock)) = &self.state_file else {
            return Ok(false);
        };
        let _guard = lock.lock();
        let mut state = OperatorState::load(path)?;
        for n in numbers {
            state.set(n.e164(), status);
        }
        state.save(path)?;
        Ok(true)
    }

    /// Whether `headers` carry the admin bearer token.
    pub fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        else {
            return false;
        };
        bool::from(digest(token.trim().as_bytes()).ct_eq(&self.token_digest))
    }

    /// The engine's statistics (an error becomes a `503`).
    #[allow(clippy::result_large_err)] // an error answer, built once per failure
    pub async fn stats(&self) -> Result<EngineStats, Response> {
        self.engine.stats().await.map_err(|e| {
            tracing::error!(error = %e, "statistics unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "statistics unavailable\n").into_response()
        })
    }

    /// The budget settings.
    pub fn budget(&self) -> BudgetConfig {
        self.budget
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Record a sample for the console's chart and the recent drops.
    pub async fn sample(&self) {
        let Ok(stats) = self.engine.stats().await else {
            return;
        };
        let drops = stats
            .counters
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("drop.").map(|r| (r.to_owned(), *v)))
            .collect();
        self.history.push(Sample {
            at: self.engine.clock().now().as_millis(),
            spend_day_eur: eur(stats.spend.day),
            spend_month_eur: eur(stats.spend.month),
            pending: stats.queue.pending,
            inbound_sms: stats.counter("inbound.sms"),
            drops,
        });
    }

    /// The abuse policies, when they run (the server's
    /// [`Runtime`](antirelou_core::runtime::Runtime) feeds them the spend through
    /// [`AbusePolicy::on_spend`](antirelou_core::policy::AbusePolicy::on_spend)).
    pub fn policies(&self) -> Option<&DefaultPolicies> {
        self.policies.as_ref()
    }

    fn stats_json(&self, stats: &EngineStats) -> Value {
        let now = self.engine.clock().now().as_millis();
        let mut drops = BTreeMap::new();
        for (k, v) in &stats.counters {
            if let Some(reason) = k.strip_prefix("drop.") {
                drops.insert(reason.to_owned(), *v);
            }
        }
        // Drops over the last 15 minutes: now minus the oldest sample in that window.
        let recent: BTreeMap<String, u64> = match self.history.first_since(now - 15 * 60 * 1000) {
            Some(old) => drops
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.saturating_sub(old.drops.get(k).copied().unwrap_or(0)),
                    )
                })
                .filter(|(_, v)| *v > 0)
                .collect(),
            None => drops.clone().into_iter().filter(|(_, v)| *v > 0).collect(),
        };
        let numbers = self.engine.numbers().list();
        let paused = numbers
            .iter()
            .filter(|n| n.status == NumberStatus::Paused)
            .count();
        // Numbers by provider id, whatever the adapter.
        let mut providers: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for n in &numbers {
            let e = providers.entry(n.provider.as_str()).or_default();
            e.0 += 1;
            e.1 += u64::from(n.status == NumberStatus::Paused);
        }
        let providers: BTreeMap<&str, Value> = providers
            .into_iter()
            .map(|(id, (total, paused))| (id, json!({ "numbers": total, "paused": paused })))
            .collect();
        json!({
            "inbound": {
                "sms": stats.counter("inbound.sms"),
                "voice": stats.counter("inbound.voice"),
            },
            "lessons": {
                "scheduled": stats.counter("lessons.scheduled"),
                "sent": stats.counter("lessons.sent"),
                "calls": stats.counter("calls.lesson"),
                "decoy_calls": stats.counter("calls.decoy"),
            },
            "lessons_sent": stats.counter("lessons.sent"),
            "optouts": stats.counter("optout.recorded"),
            "drops": drops,
            "recent_drops": recent,
            "recent_window_seconds": 900,
            "spend": {
                "today_eur": eur(stats.spend.day),
                "month_eur": eur(stats.spend.month),
                "daily_cap_eur": self.budget.daily_cap.map(eur),
                "monthly_cap_eur": self.budget.monthly_cap.map(eur),
                "price_per_segment_eur": eur(self.budget.price_per_segment),
            },
            "queue": {
                "pending": stats.queue.pending,
                "due": stats.queue.due,
                "claimed": stats.queue.claimed,
                "depth": stats.queue.pending + stats.queue.claimed,
            },
            "numbers": { "total": numbers.len(), "paused": paused },
            "providers": providers,
            "counters": stats.counters,
            "history": self.history.snapshot(),
            "uptime_seconds": (now - self.started.as_millis()).max(0) / 1000,
        })
    }

    fn pattern_id(&self, p: &BlockPattern) -> String {
        let mut h = Sha256::new();
        h.update(self.id_key);
        h.update(p.to_string().as_bytes());
        hex::encode(&h.finalize()[..8])
    }

    fn number_id_list(&self) -> Vec<antirelou_core::engine::NumberConfig> {
        self.engine.numbers().list()
    }
}

fn unauthorized() -> Response {
    let mut r = (StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n").into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"antirelou admin\""),
    );
    r
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": message.into() })),
    )
        .into_response()
}

type St = State<Arc<AdminState>>;

/// The `/admin` routes.
pub fn router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/admin", get(console))
        .route("/admin/", get(console))
        .route("/admin/stats", get(stats))
        .route("/admin/numbers", get(numbers))
        .route("/admin/pause", post(pause))
        .route("/admin/resume", post(resume))
        .route(
            "/admin/blocklist",
            get(blocklist).post(block).delete(unblock),
        )
        .with_state(state)
}

async fn console() -> Response {
    let mut r = CONSOLE_HTML.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

async fn stats(State(st): St, headers: HeaderMap) -> Response {
    if !st.authorized(&headers) {
        return unauthorized();
    }
    match st.stats().await {
        Ok(s) => Json(st.stats_json(&s)).into_response(),
        Err(r) => r,
    }
}

fn number_json(id: usize, n: &antirelou_core::engine::NumberConfig) -> Value {
    json!({
        "id": id,
        "number": n.number.masked(),
        "provider": n.provider.as_str(),
        "locale": n.locale.as_str(),
        "status": n.status.as_str(),
    })
}

async fn numbers(State(st): St, headers: HeaderMap) -> Response {
    if !st.authorized(&headers) {
        return unauthorized();
    }
    let list: Vec<Value> = st
        .number_id_list()
        .iter()
        .enumerate()
        .map(|(i, n)| number_json(i, n))
        .collect();
    Json(json!({ "numbers": list })).into_response()
}

/// Which numbers a pause or resume is about.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    number: Option<String>,
    id: Option<usize>,
}

async fn set_status(st: &AdminState, body: &[u8], status: NumberStatus) -> Response {
    let target: Target = if body.iter().all(u8::is_ascii_whitespace) {
        Target::default()
    } else {
        match serde_json::from_slice(body) {
            Ok(t) => t,
            Err(e) => {
                return bad_request(format!(
                    "expected {{\"number\": \"+33…\"}}, {{\"id\": 0}} or nothing: {e}"
                ));
            }
        }
    };
    let list = st.number_id_list();
    let chosen: Vec<PhoneNumber> = match (&target.number, target.id) {
        (Some(_), Some(_)) => return bad_request("give number or id, not both"),
        (Some(text), None) => match PhoneNumber::parse(text) {
            Ok(n) => vec![n],
            Err(_) => return bad_request("number: not a valid phone number"),
        },
        (None, Some(id)) => match list.get(id) {
            Some(n) => vec![n.number.clone()],
            None => {
                return (
                    StatusCode::NOT_FOUND,
                    Json(json!({"error": "no number with that id"})),
                )
                    .into_response();
            }
        },
        (None, None) => list
            .iter()
            .filter(|n| n.status != NumberStatus::Retired)
            .map(|n| n.number.clone())
            .collect(),
    };
    let mut changed = Vec::new();
    for n in &chosen {
        match st.engine.numbers().get(n) {
            None => {
                return (
                    StatusCode::NOT_FOUND,
                    Json(json!({"error": format!("number {} is not configured", n.masked())})),
                )
                    .into_response();
            }
            Some(c) if c.status == NumberStatus::Retired => {
                return (
                    StatusCode::CONFLICT,
                    Json(json!({"error": format!("number {} is retired", n.masked())})),
                )
                    .into_response();
            }
            Some(_) => {}
        }
        if let Err(e) = st.engine.numbers().set_status(n, status) {
            return (StatusCode::NOT_FOUND, Json(json!({"error": e.to_string()}))).into_response();
        }
        tracing::warn!(number = %n.masked(), status = status.as_str(), "operator changed a number's status");
        changed.push(n.masked());
    }
    // The change is in effect already (the kill switch must work even if the disk does not);
    // the answer says whether it will survive a restart.
    match st.record_status(&chosen, status) {
        Ok(persisted) => {
            Json(json!({ "status": status.as_str(), "numbers": changed, "persisted": persisted }))
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "operator decision not recorded: a restart would undo it");
            Json(json!({
                "status": status.as_str(),
                "numbers": changed,
                "persisted": false,
                "warning": format!("in effect now, but not recorded ({e}): a restart would undo it"),
            }))
            .into_response()
        }
    }
}

async fn pause(State(st): St, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if !st.authorized(&headers) {
        return unauthorized();
    }
    set_status(&st, &body, NumberStatus::Paused).await
}

async fn resume(State(st): St, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if !st.authorized(&headers) {
        return unauthorized();
    }
    set_status(&st, &body, NumberStatus::Active).await
}

async fn blocklist(State(st): St, headers: HeaderMap) -> Response {
    if !st.authorized(&headers) {
        return unauthorized();
    }
    let Some(p) = &st.policies else {
        return Json(json!({ "enabled": false, "entries": [] })).into_response();
    };
    let entries: Vec<Value> = p
        .blocklist
        .list()
        .iter()
        .map(|e| {
            json!({
                "id": st.pattern_id(&e.pattern),
                "pattern": e.pattern.masked(),
                "digits": e.pattern.len(),
                "added_at": e.added_at.as_millis(),
                "expires_at": e.expires_at.map(Timestamp::as_millis),
                "hits": e.hits,
            })
        })
        .collect();
    Json(json!({
        "enabled": true,
        "capacity": p.blocklist.capacity(),
        "entries": entries,
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockRequest {
    pattern: Option<String>,
    id: Option<String>,
    ttl: Option<String>,
}

#[allow(clippy::result_large_err)] // an error answer, built once per bad request
/// The policies and the request of a blocklist change, or the answer refusing it (401 without
/// the token, 409 when the abuse policies are off, 400 for a malformed body).
fn block_request<'a>(
    st: &'a AdminState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(&'a DefaultPolicies, BlockRequest), Response> {
    if !st.authorized(headers) {
        return Err(unauthorized());
    }
    let Some(p) = &st.policies else {
        return Err((
            StatusCode::CONFLICT,
            Json(json!({"error": "abuse policies are disabled"})),
        )
            .into_response());
    };
    let req = serde_json::from_slice(body).map_err(|e| {
        bad_request(format!(
            "expected {{\"pattern\": \"+33612\", \"ttl\": \"12h\"}}: {e}"
        ))
    })?;
    Ok((p, req))
}

async fn block(State(st): St, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (p, req) = match block_request(&st, &headers, &body) {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let Some(text) = req.pattern else {
        return bad_request("pattern: missing");
    };
    let pattern = match BlockPattern::parse(&text) {
        Ok(p) => p,
        Err(e) => return bad_request(format!("pattern: {e}")),
    };
    let now = st.engine.clock().now();
    let expires = match req.ttl.as_deref() {
        None | Some("") => None,
        Some(t) => match humantime::parse_duration(t) {
            Ok(d) => Some(now.add(d)),
            Err(e) => return bad_request(format!("ttl: {e}")),
        },
    };
    if let Err(e) = p.blocklist.add(pattern, expires, now) {
        return (StatusCode::CONFLICT, Json(json!({"error": e.to_string()}))).into_response();
    }
    tracing::warn!(pattern = %pattern.masked(), "operator blocked a number or prefix");
    (
        StatusCode::CREATED,
        Json(json!({ "id": st.pattern_id(&pattern), "pattern": pattern.masked() })),
    )
        .into_response()
}

async fn unblock(State(st): St, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (p, req) = match block_request(&st, &headers, &body) {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let pattern = match (req.pattern, req.id) {
        (Some(text), None) => match BlockPattern::parse(&text) {
            Ok(p) => p,
            Err(e) => return bad_request(format!("pattern: {e}")),
        },
        (None, Some(id)) => {
            match p
                .blocklist
                .list()
                .into_iter()
                .find(|e| st.pattern_id(&e.pattern) == id)
            {
                Some(e) => e.pattern,
                None => {
                    return (
                        StatusCode::NOT_FOUND,
                        Json(json!({"error": "no entry with that id"})),
                    )
                        .into_response();
                }
            }
        }
        _ => return bad_request("give pattern or id"),
    };
    if p.blocklist.remove(pattern) {
        tracing::warn!(pattern = %pattern.masked(), "operator unblocked a number or prefix");
        Json(json!({ "removed": pattern.masked() })).into_response()
    } else {
        (StatusCode::NOT_FOUND, Json(json!({"error": "not blocked"}))).into_response()
    }
}
