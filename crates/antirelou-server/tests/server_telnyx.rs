//! The server with a `[telnyx]` section, end to end: the `antirelou-server` binary on a SQLite
//! file, Ed25519-signed Telnyx webhooks in, the lesson out to a loopback fake of the Messaging
//! API (`api_base`) that records every request.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use antirelou_core::kit::fake_provider::{Canned, FakeProvider, Recorded};
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use reqwest::Method;
use support::{ADMIN_TOKEN, PUBLIC_URL, ServerProcess, admin, free_port};

/// RFC 8032 test 1's secret key, and its public key in the portal's base64 form.
const SEED: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];
const PUBLIC_KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
/// Another key: what a forger signs with.
const FORGER_SEED: [u8; 32] = [7; 32];
const API_KEY: &str = "KEY01892C3A5D7E4F6B8C9D0E1F2A3B4C5D_E2eTelnyxValue";
const TELNYX_NUMBER: &str = "+33937000002";
const METRICS_TOKEN: &str = "e2e-metrics-token-0123456789";

fn config(port: u16, db: &Path, api_base: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:{port}"
public_url = "{PUBLIC_URL}"
hash_secret = "e2e-hash-secret-0123456789abcdef"
[storage]
sqlite = "{db}"
[reply]
delay = "2s"
[currency]
rates = {{ USD = 0.92 }}
[admin]
token = "{ADMIN_TOKEN}"
[metrics]
token = "{METRICS_TOKEN}"
[dispatcher]
poll_interval = "100ms"
lease = "5s"

[telnyx]
api_key = "{API_KEY}"
public_key = "{PUBLIC_KEY}"
api_base = "{api_base}"

[[number]]
phone = "{TELNYX_NUMBER}"
provider = "telnyx"
locale = "fr-FR"
"#,
        db = db.display()
    )
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(seed: &[u8; 32], timestamp: &str, body: &str) -> String {
    let mut m = timestamp.as_bytes().to_vec();
    m.push(b'|');
    m.extend_from_slice(body.as_bytes());
    base64::engine::general_purpose::STANDARD
        .encode(SigningKey::from_bytes(seed).sign(&m).to_bytes())
}

fn received(message_id: &str, from: &str, text: &str) -> String {
    serde_json::json!({
        "data": {
            "event_type": "message.received",
            "id": format!("evt-{message_id}"),
            "occurred_at": "2026-12-07T21:00:00.000+00:00",
            "payload": {
                "direction": "inbound",
                "from": {"carrier": "Orange", "line_type": "Wireless", "phone_number": from},
                "id": message_id,
                "record_type": "message",
                "text": text,
                "to": [{"carrier": "Telnyx", "line_type": "Wireless", "phone_number": TELNYX_NUMBER,
                        "status": "webhook_delivered"}],
                "type": "SMS"
            },
            "record_type": "event"
        },
        "meta": {"attempt": 1, "delivered_to": format!("{PUBLIC_URL}/telnyx/sms")}
    })
    .to_string()
}

async fn post(base: &str, body: &str, timestamp: u64, seed: &[u8; 32]) -> u16 {
    let ts = timestamp.to_string();
    reqwest::Client::new()
        .post(format!("{base}/telnyx/sms"))
        .header("content-type", "application/json")
        .header("telnyx-timestamp", &ts)
        .header("telnyx-signature-ed25519", sign(seed, &ts, body))
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn start() -> (tempfile::TempDir, FakeProvider, ServerProcess) {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeProvider::start().await;
    fake.on(
        Method::POST,
        "/v2/messages",
        Canned::json(
            200,
            serde_json::json!({"data": {"record_type": "message", "direction": "outbound",
                "id": "40317f1a-0000-4000-8000-000000000001", "type": "SMS", "parts": 1,
                "cost": null, "errors": []}}),
        ),
    );
    let port = free_port();
    let cfg = config(port, &dir.path().join("a.db"), &fake.base_url());
    let server = ServerProcess::start(dir.path(), &cfg, port).await;
    (dir, fake, server)
}

fn sends(fake: &FakeProvider) -> Vec<Recorded> {
    fake.requests()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_message_gets_its_lesson_through_the_messaging_api_after_the_delay() {
    let (_dir, fake, server) = start().await;
    let t0 = Instant::now();
    let man = "+33612345678";
    let body = received("msg-0001", man, "slt t ou ?");
    assert_eq!(
        post(&server.base, &body, now_secs(), &SEED).await,
        200,
        "{}",
        server.log()
    );
    // Telnyx delivers it again: the same message, no second lesson.
    assert_eq!(post(&server.base, &body, now_secs(), &SEED).await, 200);
    assert!(sends(&fake).is_empty(), "sent before the delay");

    let end = Instant::now() + Duration::from_secs(20);
    while sends(&fake).is_empty() {
        assert!(
            Instant::now() < end,
            "no lesson sent; log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        t0.elapsed() >= Duration::from_secs(2),
        "sent too early: {:?}",
        t0.elapsed()
    );
    // Give a wrongly doubled send time to show up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sent = sends(&fake);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let m = &sent[0];
    assert_eq!(m.method.as_str(), "POST");
    assert_eq!(m.path, "/v2/messages");
    assert_eq!(m.bearer(), Some(API_KEY));
    assert!(
        m.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(m.field("from").as_deref(), Some(TELNYX_NUMBER));
    assert_eq!(m.field("to").as_deref(), Some(man));
    assert!(
        m.field("text").unwrap().chars().count() > 100,
        "a real lesson"
    );

    let c = reqwest::Client::new();
    let (status, stats) = admin(&c, Method::GET, &server.base, "/admin/stats", None).await;
    assert_eq!(status, 200);
    assert_eq!(stats["inbound"]["sms"], 2);
    assert_eq!(stats["lessons_sent"], 1);
    assert_eq!(stats["providers"]["telnyx"]["numbers"], 1, "{stats}");
    let metrics = c
        .get(format!("{}/metrics", server.base))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("antirelou_numbers{provider=\"telnyx\",status=\"active\"} 1\n"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_stale_signature_is_403_and_nothing_is_stored() {
    let (_dir, fake, server) = start().await;
    let man = "+33612345678";
    let forged = received("msg-0002", man, "hi");
    assert_eq!(
        post(&server.base, &forged, now_secs(), &FORGER_SEED).await,
        403
    );
    let stale = received("msg-0003", man, "hi");
    assert_eq!(
        post(&server.base, &stale, now_secs() - 3600, &SEED).await,
        403
    );
    // Signed for one body, sent with another.
    let ts = now_secs().to_string();
    let r = reqwest::Client::new()
        .post(format!("{}/telnyx/sms", server.base))
        .header("content-type", "application/json")
        .header("telnyx-timestamp", &ts)
        .header(
            "telnyx-signature-ed25519",
            sign(&SEED, &ts, &received("msg-0004", man, "hi")),
        )
        .body(received("msg-0004", "+33698765432", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(sends(&fake).is_empty(), "{:#?}", sends(&fake));
    let c = reqwest::Client::new();
    let (_, stats) = admin(&c, Method::GET, &server.base, "/admin/stats", None).await;
    assert_eq!(
        stats["inbound"]["sms"], 0,
        "a refused webhook never reaches the engine"
    );
    assert_eq!(stats["lessons_sent"], 0);
    assert_eq!(stats["queue"]["pending"], 0, "no lesson stored");
}
