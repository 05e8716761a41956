//! The operator console in headless Chromium, driven over the DevTools protocol: log in with the
//! token, read the counters (they must match `/admin/stats`), press Pause, and check through
//! `/admin/numbers` that the number is paused.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use support::*;
use tokio_tungstenite::tungstenite::Message;

/// `$CHROMIUM`, else Debian's `/usr/bin/chromium`.
fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

struct Browser {
    child: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn launch(profile: &Path) -> (Browser, u16) {
    let child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--window-size=1280,1000",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let browser = Browser { child };
    let file = profile.join("DevToolsActivePort");
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Some(port) = text.lines().next().and_then(|l| l.trim().parse().ok())
        {
            return (browser, port);
        }
        assert!(
            Instant::now() < end,
            "chromium did not open its DevTools port"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Cdp {
    ws: Ws,
    next: u64,
}

impl Cdp {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({ "id": id, "method": method, "params": params });
        self.ws.send(Message::text(msg.to_string())).await.unwrap();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(20), self.ws.next())
                .await
                .expect("DevTools answers")
                .unwrap()
                .unwrap();
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Evaluate `expr` in the page and return its value.
    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Wait until `expr` is true in the page.
    async fn wait_for(&mut self, expr: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        loop {
            if self.eval(expr).await == Value::Bool(true) {
                return;
            }
            assert!(Instant::now() < end, "timed out waiting for: {expr}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Click the centre of the element matching `selector`, with real mouse events.
    async fn click(&mut self, selector: &str) {
        let rect = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({sel}); e.scrollIntoView(); const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()",
                sel = serde_json::to_string(selector).unwrap()
            ))
            .await;
        let (x, y) = (rect[0].as_f64().unwrap(), rect[1].as_f64().unwrap());
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            )
            .await;
        }
    }
}

fn screenshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console.png")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs headless Chromium: apt-get install chromium"]
async fn console_logs_in_shows_counters_and_pauses_a_number() {
    let bin = chromium();
    assert!(
        bin.exists(),
        "{} is missing: apt-get install chromium",
        bin.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeProviders::start().await;
    let port = free_port();
    let cfg = config_text(port, &dir.path().join("a.db"), &fake.base, "1h", "");
    let server = ServerProcess::start(dir.path(), &cfg, port).await;
    let c = reqwest::Client::new();
    // Some traffic, so that the counters are not all zero.
    for (i, from) in ["+33612345678", "+33698765432", "+33611223344"]
        .iter()
        .enumerate()
    {
        let r = post_twilio_sms(&c, &server.base, &format!("SMC{i}"), from, "salut", None).await;
        assert_eq!(r.status(), 200);
    }
    post_twilio_sms(&c, &server.base, "SMC0", "+33612345678", "salut", None).await;
    let (_, stats) = admin(&c, Method::GET, &server.base, "/admin/stats", None).await;
    assert_eq!(stats["inbound"]["sms"], 4);

    let profile = dir.path().join("chromium-profile");
    std::fs::create_dir_all(&profile).unwrap();
    let (_browser, devtools) = launch(&profile);
    let targets: Value = c
        .get(format!("http://127.0.0.1:{devtools}/json/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page = targets
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "page")
        .expect("a page target");
    let url = page["webSocketDebuggerUrl"].as_str().unwrap();
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut cdp = Cdp { ws, next: 0 };
    cdp.call("Page.enable", json!({})).await;
    cdp.call("Runtime.enable", json!({})).await;
    cdp.call(
        "Page.navigate",
        json!({ "url": format!("{}/admin", server.base) }),
    )
    .await;
    cdp.wait_for(
        "document.readyState === 'complete' && !!document.getElementById('token')",
        Duration::from_secs(20),
    )
    .await;
    // Not logged in: the login form shows, the console does not.
    assert_eq!(
        cdp.eval("document.getElementById('app').classList.contains('hidden')")
            .await,
        Value::Bool(true)
    );

    // Type the token and submit.
    cdp.click("#token").await;
    cdp.call("Input.insertText", json!({ "text": ADMIN_TOKEN }))
        .await;
    cdp.click("#login-submit").await;
    cdp.wait_for(
        "document.body.dataset.loaded === '1'",
        Duration::from_secs(20),
    )
    .await;

    // The counters show the real numbers.
    let shown_sms = cdp
        .eval("document.getElementById('c-inbound-sms').textContent")
        .await;
    assert_eq!(shown_sms, "4");
    let shown_scheduled = cdp
        .eval("document.getElementById('c-lessons-scheduled').textContent")
        .await;
    assert_eq!(
        shown_scheduled,
        stats["lessons"]["scheduled"].to_string().as_str()
    );
    let shown_queue = cdp
        .eval("document.getElementById('c-queue').textContent")
        .await;
    assert_eq!(shown_queue, "3");
    let drops = cdp
        .eval("document.getElementById('drops').textContent")
        .await;
    assert!(drops.as_str().unwrap().contains("duplicate"), "{drops}");
    // Numbers are masked in the page.
    let numbers_text = cdp
        .eval("document.getElementById('numbers').textContent")
        .await;
    let numbers_text = numbers_text.as_str().unwrap();
    assert!(
        numbers_text.contains("…0000") && numbers_text.contains("…0001"),
        "{numbers_text}"
    );
    assert!(
        !numbers_text.contains("33937"),
        "unmasked number: {numbers_text}"
    );
    let html = cdp.eval("document.documentElement.outerHTML").await;
    assert!(!html.as_str().unwrap().contains("+33612345678"));

    // Press Pause on the first number.
    let first_id = cdp
        .eval("document.querySelector('#numbers tr').dataset.id")
        .await;
    cdp.click("#numbers tr button[data-action=pause]").await;
    cdp.wait_for(
        "document.querySelector('#numbers tr [data-role=status]').textContent === 'paused'",
        Duration::from_secs(20),
    )
    .await;
    let (_, numbers) = admin(&c, Method::GET, &server.base, "/admin/numbers", None).await;
    let n = numbers["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"].as_u64().map(|v| v.to_string()).as_deref() == first_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(n["status"], "paused", "{numbers}");
    let others_active = numbers["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["id"] != n["id"])
        .all(|m| m["status"] == "active");
    assert!(others_active, "{numbers}");

    // A picture for humans.
    let shot = cdp
        .call("Page.captureScreenshot", json!({ "format": "png" }))
        .await;
    if let Some(data) = shot["data"].as_str() {
        use base64::Engine as _;
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) {
            let _ = std::fs::write(screenshot_path(), bytes);
        }
    }
    drop(server);
}
