//! A loopback HTTP server that plays Vonage's SMS API (`POST /sms/json`) and checks every
//! request against what the real API demands. Violations are recorded (and answered with HTTP
//! 400 so that the sender fails loudly); tests assert there are none.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use antirelou_core::encoding::is_gsm7;
use antirelou_vonage::signature::{SignatureMethod, SmsSigner};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// Real response bodies (Vonage API spec and the Python SDK's test data).
pub mod bodies {
    pub const THROTTLED: &str =
        r#"{"message-count":"1","messages":[{"status":"1","error-text":"Throttled"}]}"#;
    pub const BARRED: &str =
        r#"{"message-count":"1","messages":[{"status":"7","error-text":"Number barred."}]}"#;
    pub const BAD_CREDENTIALS: &str =
        r#"{"message-count":"1","messages":[{"status":"4","error-text":"Bad Credentials"}]}"#;
    pub const NO_CREDIT: &str = r#"{"message-count":"1","messages":[{"status":"9","error-text":"Quota Exceeded - rejected"}]}"#;
    pub const BAD_SENDER: &str = r#"{"message-count":"1","messages":[{"status":"15","error-text":"Illegal Sender Address - rejected"}]}"#;
    pub const DEACTIVATED: &str =
        r#"{"message-count":"1","messages":[{"status":"33","error-text":"Number de-activated."}]}"#;
    pub const UNKNOWN_CODE: &str =
        r#"{"message-count":"1","messages":[{"status":"77","error-text":"Something new"}]}"#;
    pub const PARTIAL: &str = r#"{"message-count":"2","messages":[{"to":"447700900000","message-id":"0C000000217B7F02","status":"0","remaining-balance":"15.53590000","message-price":"0.03330000","network":"23410"},{"status":"1","error-text":"Throttled"}]}"#;
}

/// How the fake authenticates requests.
#[derive(Clone, Debug)]
pub enum Auth {
    Secret(String),
    Signature(String, SignatureMethod),
}

/// What the fake expects of every request.
#[derive(Clone, Debug)]
pub struct Expect {
    pub api_key: String,
    pub auth: Auth,
    pub callback: Option<String>,
    /// Unix seconds "now" for the signature window.
    pub now: i64,
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Scripted {
    pub status: StatusCode,
    pub body: String,
    pub retry_after: Option<String>,
}

impl Scripted {
    pub fn ok_json(body: &str) -> Self {
        Scripted {
            status: StatusCode::OK,
            body: body.to_owned(),
            retry_after: None,
        }
    }
    pub fn status(status: u16, body: &str) -> Self {
        Scripted {
            status: StatusCode::from_u16(status).unwrap(),
            body: body.to_owned(),
            retry_after: None,
        }
    }
}

/// A request as received, decoded.
#[derive(Clone, Debug)]
pub struct Received {
    pub fields: Vec<(String, String)>,
}

impl Received {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct Inner {
    expect: Expect,
    script: Mutex<VecDeque<Scripted>>,
    received: Mutex<Vec<Received>>,
    violations: Mutex<Vec<String>>,
    next_id: Mutex<u64>,
}

/// The running fake.
#[derive(Clone, Debug)]
pub struct FakeVonage {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
}

impl FakeVonage {
    pub async fn start(expect: Expect) -> Self {
        let inner = Arc::new(Inner {
            expect,
            script: Mutex::new(VecDeque::new()),
            received: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            next_id: Mutex::new(0x0C00_0000_217B_7F02),
        });
        // Every method and path reaches the checker, so that a wrong one is reported.
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeVonage { inner, addr }
    }

    pub fn base_url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}", self.addr)).unwrap()
    }

    /// Queue answers; when the queue is empty the fake accepts the message.
    pub fn push(&self, s: Scripted) {
        self.inner.script.lock().unwrap().push_back(s);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.inner.violations.lock().unwrap().clone()
    }
}

fn check(
    inner: &Inner,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> (Vec<String>, Vec<(String, String)>) {
    let mut v = Vec::new();
    if method != Method::POST {
        v.push(format!("method {method} instead of POST"));
    }
    if uri.path() != "/sms/json" {
        v.push(format!("path {} instead of /sms/json", uri.path()));
    }
    if uri.query().is_some() {
        v.push("credentials or fields in the query string".into());
    }
    let ct = headers
        .get("content-type")
        .and_then(|c| c.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        v.push(format!("content type {ct:?} instead of a form"));
    }
    let fields: Vec<(String, String)> = form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        v.push("duplicate field".into());
    }
    let e = &inner.expect;
    if get("api_key") != Some(e.api_key.as_str()) {
        v.push(format!("api_key {:?}", get("api_key")));
    }
    match &e.auth {
        Auth::Secret(s) => {
            if get("api_secret") != Some(s.as_str()) {
                v.push("missing or wrong api_secret".into());
            }
            if get("sig").is_some() {
                v.push("sig sent with api_secret (status 32)".into());
            }
        }
        Auth::Signature(secret, method) => {
            if get("api_secret").is_some() {
                v.push("api_secret sent with a signature (status 32)".into());
            }
            let signer = SmsSigner::new(secret.clone(), *method);
            let pairs = fields.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            if let Err(err) = signer.verify(pairs, antirelou_core::Timestamp::from_secs(e.now)) {
                v.push(format!("signature: {err}"));
            }
            // Independent re-computation of the documented string, api_key included.
            let mut sorted: Vec<&(String, String)> =
                fields.iter().filter(|(k, _)| k != "sig").collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            let string: String = sorted
                .iter()
                .map(|(k, val)| format!("&{k}={}", val.replace(['&', '='], "_")))
                .collect();
            if !string.contains("&api_key=") || !string.contains("&timestamp=") {
                v.push("api_key and timestamp must be signed".into());
            }
        }
    }
    for k in ["from", "to"] {
        match get(k) {
            Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {}
            Some(n)
                if k == "from"
                    && !n.is_empty()
                    && n.len() <= 11
                    && n.bytes().all(|b| b.is_ascii_alphanumeric()) => {}
            other => v.push(format!("{k} is not digits only: {other:?}")),
        }
    }
    if let Some(to) = get("to")
        && !(7..=15).contains(&to.len())
    {
        v.push("to must be 7 to 15 digits".into());
    }
    match get("text") {
        None | Some("") => v.push("no text".into()),
        Some(t) => {
            let needs_unicode = t.chars().any(|c| !is_gsm7(c));
            match (needs_unicode, get("type")) {
                (true, Some("unicode")) | (false, None | Some("text")) => {}
                (true, other) => v.push(format!(
                    "non-GSM text sent with type {other:?} (would be garbled)"
                )),
                (false, other) => v.push(format!("GSM text sent with type {other:?}")),
            }
        }
    }
    if let Some(r) = get("client-ref")
        && r.chars().count() > 40
    {
        v.push("client-ref longer than 40".into());
    }
    if get("callback") != e.callback.as_deref() {
        v.push(format!(
            "callback {:?} instead of {:?}",
            get("callback"),
            e.callback
        ));
    }
    (v, fields)
}

fn segments(text: &str) -> u32 {
    antirelou_core::encoding::plan(text).segments
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (violations, fields) = check(&inner, &method, &uri, &headers, &body);
    let received = Received { fields };
    inner.received.lock().unwrap().push(received.clone());
    if !violations.is_empty() {
        inner
            .violations
            .lock()
            .unwrap()
            .extend(violations.iter().cloned());
        return (StatusCode::BAD_REQUEST, violations.join("; ")).into_response();
    }
    let scripted = inner.script.lock().unwrap().pop_front();
    match scripted {
        Some(s) => {
            let mut r = (s.status, s.body).into_response();
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            if let Some(ra) = s.retry_after {
                r.headers_mut().insert("retry-after", ra.parse().unwrap());
            }
            r
        }
        None => {
            let n = segments(received.get("text").unwrap_or(""));
            let to = received.get("to").unwrap_or("").to_owned();
            let mut messages = Vec::new();
            for _ in 0..n {
                let mut id = inner.next_id.lock().unwrap();
                *id += 1;
                messages.push(serde_json::json!({
                    "to": to, "message-id": format!("{:016X}", *id), "status": "0",
                    "remaining-balance": "15.53590000", "message-price": "0.03330000", "network": "20801"
                }));
            }
            let body = serde_json::json!({"message-count": n.to_string(), "messages": messages});
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                body.to_string(),
            )
                .into_response()
        }
    }
}
