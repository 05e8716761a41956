//! A scripted fake provider: a real HTTP server on `127.0.0.1` that an adapter's tests configure
//! with the provider's routes and canned answers, and that records every request so that tests
//! can check the method, path, authentication and form or JSON fields of each.
//!
//! ```
//! use antirelou_core::kit::fake_provider::{Canned, FakeProvider};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let fake = FakeProvider::start().await;
//! fake.on(http::Method::POST, "/v1/messages", Canned::json(201, serde_json::json!({"id": "m-1"})));
//! // … point the adapter's client at fake.base_url() and send …
//! assert!(fake.requests().is_empty());
//! # });
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};
use parking_lot::Mutex;

/// A scripted answer.
#[derive(Clone, Debug)]
pub struct Canned {
    /// The HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// How long to wait before answering (to make a client time out).
    pub delay: Duration,
}

impl Canned {
    /// A JSON answer.
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Canned {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Bytes::from(body.to_string()),
            delay: Duration::ZERO,
        }
    }

    /// A raw answer with this content type.
    pub fn raw(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        Canned {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// Add a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Answer after `delay`.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The method.
    pub method: Method,
    /// The path, percent-encoded as sent.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
}

impl Recorded {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The user and password of `Authorization: Basic`.
    pub fn basic_auth(&self) -> Option<(String, String)> {
        let b64 = self.header("authorization")?.strip_prefix("Basic ")?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (u, p) = raw.split_once(':')?;
        Some((u.to_owned(), p.to_owned()))
    }

    /// The token of `Authorization: Bearer`.
    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")?.strip_prefix("Bearer ")
    }

    /// The fields of the body: a form's pairs, or a JSON object's top-level members (strings as
    /// they are, other values in their JSON spelling), or the query string's pairs when the
    /// body is empty.
    pub fn fields(&self) -> Vec<(String, String)> {
        if self.body.is_empty() {
            return super::request::decode_form(self.query.as_deref().unwrap_or("").as_bytes());
        }
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&self.body) {
            return map
                .into_iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect();
        }
        super::request::decode_form(&self.body)
    }

    /// The first value of field `name` ([`Recorded::fields`]).
    pub fn field(&self, name: &str) -> Option<String> {
        self.fields()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

#[derive(Default, Debug)]
struct Script {
    routes: Vec<(Method, String, Canned)>,
    requests: Vec<Recorded>,
}

/// The running fake. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeProvider {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeProvider {
    /// Bind `127.0.0.1:0` and serve. A request to a route that is not configured is recorded
    /// and answered `404`.
    ///
    /// # Panics
    /// When the loopback interface cannot be bound (a broken test machine).
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("fake provider: cannot bind 127.0.0.1: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fake provider: no local address: {e}"));
        let script = Arc::new(Mutex::new(Script::default()));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(script.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeProvider { addr, script, task }
    }

    /// `http://127.0.0.1:PORT`, without a trailing `/`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answer every `method` request to `path` with `canned` (replacing an earlier answer).
    pub fn on(&self, method: Method, path: &str, canned: Canned) {
        let mut s = self.script.lock();
        s.routes.retain(|(m, p, _)| !(*m == method && p == path));
        s.routes.push((method, path.to_owned(), canned));
    }

    /// Forget every route and every recorded request.
    pub fn reset(&self) {
        *self.script.lock() = Script::default();
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.script.lock().requests.clone()
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    State(script): State<Arc<Mutex<Script>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> http::Response<axum::body::Body> {
    let canned = {
        let mut s = script.lock();
        s.requests.push(Recorded {
            method: method.clone(),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers,
            body,
        });
        s.routes
            .iter()
            .find(|(m, p, _)| *m == method && p == uri.path())
            .map(|(_, _, c)| c.clone())
    };
    let canned = canned
        .unwrap_or_else(|| Canned::raw(404, "text/plain", "no such route in the fake provider"));
    if !canned.delay.is_zero() {
        tokio::time::sleep(canned.delay).await;
    }
    let mut r = http::Response::new(axum::body::Body::from(canned.body));
    *r.status_mut() =
        StatusCode::from_u16(canned.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in &canned.headers {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            r.headers_mut().append(k, v);
        }
    }
    r
}
