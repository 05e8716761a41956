//! Helpers of the end-to-end tests: the server binary in a child process with a temporary
//! configuration, a loopback fake of both providers' SMS APIs, and signed webhooks.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use antirelou_twilio::SignatureValidator;
use antirelou_vonage::{SignatureMethod, SmsSigner};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

pub const TWILIO_SID: &str = "ACe2e0000000000000000000000000000e";
pub const TWILIO_TOKEN: &str = "e2e-twilio-auth-token";
pub const VONAGE_KEY: &str = "e2ekey12";
pub const VONAGE_SECRET: &str = "e2e-vonage-api-secret";
pub const VONAGE_SIG_SECRET: &str = "e2e-vonage-signature-secret";
pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789";
pub const PUBLIC_URL: &str = "https://number.example.org";
pub const TWILIO_NUMBER: &str = "+33937000000";
pub const VONAGE_NUMBER: &str = "+33937000001";

/// One request the fake provider API received.
#[derive(Clone, Debug)]
pub struct Sent {
    pub method: Method,
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub form: Vec<(String, String)>,
}

impl Sent {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn is_twilio(&self) -> bool {
        self.path.ends_with("/Messages.json")
    }
    /// The recipient in E.164 form, whichever the provider.
    pub fn to(&self) -> String {
        let to = self.field("To").or(self.field("to")).unwrap_or_default();
        if to.starts_with('+') {
            to.to_owned()
        } else {
            format!("+{to}")
        }
    }
}

/// A loopback server playing Twilio's Messages API and Vonage's SMS API.
#[derive(Clone)]
pub struct FakeProviders {
    pub base: String,
    sent: Arc<Mutex<Vec<Sent>>>,
}

/// What the fake's handler shares: the record, and how long it waits between recording a
/// request and answering it.
#[derive(Clone)]
struct FakeState {
    sent: Arc<Mutex<Vec<Sent>>>,
    answer_after: Duration,
}

async fn record(
    State(FakeState { sent, answer_after }): State<FakeState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let entry = Sent {
        method,
        path: uri.path().to_owned(),
        authorization: h("authorization"),
        content_type: h("content-type"),
        form,
    };
    let n = {
        let mut s = sent.lock().unwrap();
        s.push(entry.clone());
        s.len()
    };
    // Recorded, not yet answered: a sender killed now has a message out that it never saw
    // accepted (the send→commit window).
    tokio::time::sleep(answer_after).await;
    if entry.is_twilio() {
        // Billed as a carrier would: the segments of the body actually sent.
        let segments =
            antirelou_core::encoding::plan(entry.field("Body").unwrap_or_default()).segments;
        let body = format!(
            r#"{{"sid":"SMfake{n:026}","status":"queued","num_segments":"{segments}","price":null,"to":"{}"}}"#,
            entry.to()
        );
        (
            StatusCode::CREATED,
            [("content-type", "application/json")],
            body,
        )
            .into_response()
    } else if entry.path == "/sms/json" {
        let body = format!(
            r#"{{"message-count":"1","messages":[{{"to":"{}","message-id":"fake-{n}","status":"0","remaining-balance":"10.0","message-price":"0.07","network":"20801"}}]}}"#,
            entry.to().trim_start_matches('+')
        );
        (StatusCode::OK, [("content-type", "application/json")], body).into_response()
    } else {
        (StatusCode::NOT_FOUND, "unknown endpoint").into_response()
    }
}

impl FakeProviders {
    pub async fn start() -> FakeProviders {
        FakeProviders::start_answering_after(Duration::ZERO).await
    }

    /// A fake that records each request at once and answers it after `answer_after`.
    pub async fn start_answering_after(answer_after: Duration) -> FakeProviders {
        let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
        let app = Router::new().fallback(record).with_state(FakeState {
            sent: sent.clone(),
            answer_after,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeProviders {
            base: format!("http://{addr}"),
            sent,
        }
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }

    pub fn sent_to(&self, e164: &str) -> Vec<Sent> {
        self.sent().into_iter().filter(|s| s.to() == e164).collect()
    }

    /// Wait until at least `n` messages were received, or `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Sent> {
        let end = Instant::now() + timeout;
        loop {
            let s = self.sent();
            if s.len() >= n || Instant::now() > end {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The server binary in a child process.
pub struct ServerProcess {
    pub child: Child,
    pub base: String,
    pub dir: PathBuf,
    pub config_path: PathBuf,
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A configuration for the tests; `extra` is appended verbatim.
pub fn config_text(port: u16, db: &Path, api_base: &str, delay: &str, extra: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:{port}"
public_url = "{PUBLIC_URL}"
hash_secret = "e2e-hash-secret-0123456789abcdef"
[storage]
sqlite = "{db}"
[reply]
delay = "{delay}"
[budget]
daily_cap_eur = 20.0
monthly_cap_eur = 300.0
price_per_segment_eur = 0.07627
[currency]
rates = {{ USD = 0.92 }}
[admin]
token = "{ADMIN_TOKEN}"
[twilio]
account_sid = "{TWILIO_SID}"
auth_token = "{TWILIO_TOKEN}"
api_base = "{api_base}"
[vonage]
api_key = "{VONAGE_KEY}"
api_secret = "{VONAGE_SECRET}"
signature_secret = "{VONAGE_SIG_SECRET}"
signature_method = "md5hash"
api_base = "{api_base}"
billing_currency = "EUR"
[dispatcher]
poll_interval = "100ms"
lease = "5s"
[[number]]
phone = "{TWILIO_NUMBER}"
provider = "twilio"
locale = "fr-FR"
[[number]]
phone = "{VONAGE_NUMBER}"
provider = "vonage"
locale = "fr-FR"
{extra}
"#,
        db = db.display()
    )
}

impl ServerProcess {
    /// Start the server with `config` in `dir` and wait until `/healthz` answers.
    pub async fn start(dir: &Path, config: &str, port: u16) -> ServerProcess {
        let config_path = dir.join("antirelou.toml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_antirelou-server"))
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "info")
            .env_remove("ANTIRELOU_HASH_SECRET")
            .env_remove("ANTIRELOU_ADMIN_TOKEN")
            .env_remove("ANTIRELOU_TWILIO_AUTH_TOKEN")
            .env_remove("ANTIRELOU_VONAGE_API_SECRET")
            .env_remove("ANTIRELOU_VONAGE_SIGNATURE_SECRET")
            .env_remove("ANTIRELOU_METRICS_TOKEN")
            .env_remove("ANTIRELOU_TELNYX_API_KEY")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let mut p = ServerProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir: dir.to_path_buf(),
            config_path,
        };
        p.wait_healthy(Duration::from_secs(20)).await;
        p
    }

    async fn wait_healthy(&mut self, timeout: Duration) {
        let end = Instant::now() + timeout;
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("server exited early with {status}; log:\n{}", self.log());
            }
            assert!(
                Instant::now() < end,
                "server not healthy; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the exit (at most `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A signed Twilio SMS webhook's form parameters and signature.
pub fn twilio_sms(
    message_sid: &str,
    from: &str,
    to: &str,
    body: &str,
) -> (Vec<(String, String)>, String) {
    let params: Vec<(String, String)> = vec![
        ("AccountSid".into(), TWILIO_SID.into()),
        ("ApiVersion".into(), "2010-04-01".into()),
        ("Body".into(), body.into()),
        ("From".into(), from.into()),
        ("MessageSid".into(), message_sid.into()),
        ("NumMedia".into(), "0".into()),
        ("NumSegments".into(), "1".into()),
        ("SmsMessageSid".into(), message_sid.into()),
        ("SmsSid".into(), message_sid.into()),
        ("SmsStatus".into(), "received".into()),
        ("To".into(), to.into()),
    ];
    let url = format!("{PUBLIC_URL}/twilio/sms");
    let sig = SignatureValidator::new(TWILIO_TOKEN).sign(&url, &params);
    (params, sig)
}

pub fn form_body(params: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// An HTTP client for the tests, each request bounded by 10 s.
pub fn client() -> reqwest::Client {
    client_with_timeout(std::time::Duration::from_secs(10))
}

/// An HTTP client whose requests are bounded by `timeout`.
pub fn client_with_timeout(timeout: std::time::Duration) -> reqwest::Client {
    reqwest::Client::builder().timeout(timeout).build().unwrap()
}

/// Post a signed (or, with `signature` overridden, badly signed) Twilio SMS webhook.
pub async fn post_twilio_sms(
    client: &reqwest::Client,
    base: &str,
    message_sid: &str,
    from: &str,
    body: &str,
    signature: Option<&str>,
) -> reqwest::Response {
    let (params, sig) = twilio_sms(message_sid, from, TWILIO_NUMBER, body);
    client
        .post(format!("{base}/twilio/sms"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", signature.unwrap_or(&sig))
        .body(form_body(&params))
        .send()
        .await
        .unwrap()
}

/// Post a correctly signed Twilio SMS webhook; the answer's status.
pub async fn twilio_texts(
    client: &reqwest::Client,
    base: &str,
    message_sid: &str,
    from: &str,
    body: &str,
) -> u16 {
    post_twilio_sms(client, base, message_sid, from, body, None)
        .await
        .status()
        .as_u16()
}

/// Post a correctly signed Vonage SMS webhook; the answer's status.
pub async fn vonage_texts(
    client: &reqwest::Client,
    base: &str,
    message_id: &str,
    from: &str,
    text: &str,
) -> u16 {
    post_vonage_sms(client, base, message_id, from, text, false)
        .await
        .status()
        .as_u16()
}

/// Post a signed Vonage inbound SMS webhook (form POST); `tamper` breaks the signature.
pub async fn post_vonage_sms(
    client: &reqwest::Client,
    base: &str,
    message_id: &str,
    from: &str,
    text: &str,
    tamper: bool,
) -> reqwest::Response {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let msisdn = from.trim_start_matches('+').to_owned();
    let to = VONAGE_NUMBER.trim_start_matches('+').to_owned();
    let mut params: Vec<(String, String)> = vec![
        ("msisdn".into(), msisdn),
        ("to".into(), to),
        ("messageId".into(), message_id.into()),
        ("text".into(), text.into()),
        ("type".into(), "text".into()),
        (
            "keyword".into(),
            text.split_whitespace().next().unwrap_or("").to_uppercase(),
        ),
        ("message-timestamp".into(), "2026-11-29 12:00:00".into()),
        ("timestamp".into(), now),
        ("nonce".into(), format!("nonce-{message_id}")),
    ];
    let secret = if tamper {
        "not-the-signature-secret"
    } else {
        VONAGE_SIG_SECRET
    };
    let signer = SmsSigner::new(secret, SignatureMethod::Md5Hash);
    let sig = signer.sign(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    params.push(("sig".into(), sig));
    client
        .post(format!("{base}/vonage/sms"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&params))
        .send()
        .await
        .unwrap()
}

/// `GET`/`POST` on an admin endpoint with the token.
pub async fn admin(
    client: &reqwest::Client,
    method: reqwest::Method,
    base: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let v = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, v)
}
