//! A loopback HTTP server that plays Twilio's Messages API.
//!
//! It binds `127.0.0.1:0`, records every request, checks what a real Twilio would check (method,
//! path, Basic auth, form content type, `To`, `From`/`MessagingServiceSid`, `Body`) and answers
//! either like Twilio does (`201` with the real JSON shape) or with a scripted response (real
//! error bodies, `Retry-After`, garbage, a delay).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub raw_body: Bytes,
    pub form: Vec<(String, String)>,
}

impl Recorded {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A scripted answer.
#[derive(Clone, Debug)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Canned {
    pub fn json(status: u16, body: &str) -> Self {
        Canned {
            status,
            headers: vec![("Content-Type", "application/json".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }
    pub fn raw(status: u16, body: &str) -> Self {
        Canned {
            status,
            headers: vec![("Content-Type", "text/html".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }

    /// Twilio's error JSON (reference §1.4), exactly as the API sends it.
    pub fn twilio_error(status: u16, code: u32, message: &str) -> Self {
        let body = serde_json::json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        });
        Canned::json(status, &body.to_string())
    }
}

/// Real error responses of the Messages API.
pub mod errors {
    use super::Canned;
    pub fn opted_out() -> Canned {
        Canned::twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
    }
    pub fn invalid_to() -> Canned {
        Canned::twilio_error(
            400,
            21211,
            "The 'To' number +33612345678 is not a valid phone number.",
        )
    }
    pub fn not_mobile() -> Canned {
        Canned::twilio_error(400, 21614, "'To' number is not a valid mobile number")
    }
    pub fn landline() -> Canned {
        Canned::twilio_error(400, 21635, "'To' number cannot be a landline")
    }
    pub fn geo_permission() -> Canned {
        Canned::twilio_error(
            400,
            21408,
            "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +33612345678.",
        )
    }
    pub fn too_many_requests(retry_after: &str) -> Canned {
        Canned::twilio_error(429, 20429, "Too Many Requests")
            .with_header("Retry-After", retry_after)
    }
    pub fn internal() -> Canned {
        Canned::twilio_error(500, 20500, "Internal Server Error")
    }
    pub fn auth_failed() -> Canned {
        let body = r#"{"code":20003,"detail":"Your AccountSid or AuthToken was incorrect.","message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#;
        Canned::json(401, body)
    }
}

struct Inner {
    account_sid: String,
    expected_auth: String,
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Canned>>,
    violations: Mutex<Vec<String>>,
    counter: Mutex<u32>,
    /// `num_segments` the fake reports (`None`: count like Twilio, roughly).
    segments: Mutex<Option<String>>,
}

/// The running fake.
pub struct FakeTwilio {
    pub base: url::Url,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTwilio {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeTwilio {
    /// Start on 127.0.0.1 with an ephemeral port; `user`/`pass` are the Basic credentials it
    /// accepts (account SID and token, or API key SID and secret).
    pub async fn start(account_sid: &str, user: &str, pass: &str) -> Self {
        let expected_auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        );
        let inner = Arc::new(Inner {
            account_sid: account_sid.into(),
            expected_auth,
            requests: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            violations: Mutex::new(Vec::new()),
            counter: Mutex::new(0),
            segments: Mutex::new(None),
        });
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeTwilio {
            base: format!("http://{addr}").parse().unwrap(),
            inner,
            task,
        }
    }

    /// Queue a scripted answer for the next request (FIFO). With none queued, the fake answers
    /// like Twilio.
    pub fn push(&self, c: Canned) {
        self.inner.script.lock().unwrap().push_back(c);
    }

    /// Report this `num_segments` in successful answers.
    pub fn report_segments(&self, s: &str) {
        *self.inner.segments.lock().unwrap() = Some(s.into());
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// Everything a real Twilio would have refused, across all requests so far.
    pub fn violations(&self) -> Vec<String> {
        self.inner.violations.lock().unwrap().clone()
    }
}

fn ucs2_segments(body: &str) -> usize {
    // Rough, for the fake's default answer only: GSM-ish ASCII 160/153, else 70/67.
    let units: usize = body.encode_utf16().count();
    let ascii = body.is_ascii();
    let (single, multi) = if ascii { (160, 153) } else { (70, 67) };
    if units <= single {
        1
    } else {
        units.div_ceil(multi)
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let rec = Recorded {
        method: method.clone(),
        path: uri.path().to_owned(),
        headers: headers.clone(),
        raw_body: body,
        form,
    };
    inner.requests.lock().unwrap().push(rec.clone());

    // What the real API checks.
    let mut violations = Vec::new();
    if method != Method::POST {
        violations.push(format!("method {method}"));
    }
    let expected_path = format!("/2010-04-01/Accounts/{}/Messages.json", inner.account_sid);
    if rec.path != expected_path {
        violations.push(format!("path {} != {expected_path}", rec.path));
    }
    if rec.header("authorization") != Some(inner.expected_auth.as_str()) {
        violations.push("authorization header".to_owned());
    }
    if rec.header("content-type") != Some("application/x-www-form-urlencoded") {
        violations.push(format!("content-type {:?}", rec.header("content-type")));
    }
    if rec.field("To").is_none_or(|t| !t.starts_with('+')) {
        violations.push("To missing or not +E.164".to_owned());
    }
    if rec.field("From").is_some() == rec.field("MessagingServiceSid").is_some() {
        violations.push("exactly one of From and MessagingServiceSid".to_owned());
    }
    if rec.field("Body").is_none_or(str::is_empty) {
        violations.push("Body missing".to_owned());
    }
    let auth_ok = rec.header("authorization") == Some(inner.expected_auth.as_str());
    inner
        .violations
        .lock()
        .unwrap()
        .extend(violations.iter().cloned());

    let scripted = inner.script.lock().unwrap().pop_front();
    if let Some(c) = scripted {
        tokio::time::sleep(c.delay).await;
        let mut r = (StatusCode::from_u16(c.status).unwrap(), c.body).into_response();
        for (k, v) in c.headers {
            r.headers_mut().insert(k, v.parse().unwrap());
        }
        return r;
    }
    if !auth_ok {
        let c = errors::auth_failed();
        return (
            StatusCode::UNAUTHORIZED,
            [("Content-Type", "application/json")],
            c.body,
        )
            .into_response();
    }
    if !violations.is_empty() {
        let c = Canned::twilio_error(400, 21604, "A 'To' phone number is required.");
        return (
            StatusCode::BAD_REQUEST,
            [("Content-Type", "application/json")],
            c.body,
        )
            .into_response();
    }
    let n = {
        let mut c = inner.counter.lock().unwrap();
        *c += 1;
        *c
    };
    let text = rec.field("Body").unwrap_or_default().to_owned();
    let segments = inner
        .segments
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| ucs2_segments(&text).to_string());
    let sid = format!("SM{n:032x}");
    let account = &inner.account_sid;
    let body = serde_json::json!({
        "account_sid": account,
        "api_version": "2010-04-01",
        "body": text,
        "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
        "date_sent": null,
        "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": rec.field("From"),
        "num_media": "0",
        "num_segments": segments,
        "price": null,
        "price_unit": "USD",
        "messaging_service_sid": rec.field("MessagingServiceSid"),
        "sid": sid,
        "status": "queued",
        "subresource_uris": {"media": format!("/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json")},
        "to": rec.field("To"),
        "uri": format!("/2010-04-01/Accounts/{account}/Messages/{sid}.json"),
    });
    (
        StatusCode::CREATED,
        [("Content-Type", "application/json")],
        body.to_string(),
    )
        .into_response()
}
