//! The reference server against hostile clients and careless operators, over real loopback TCP:
//! placeholder secrets refused at start, connection timeouts and bound, body and header size
//! limits before authentication, and `/metrics` behind a token or a listener of its own.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const METRICS_TOKEN: &str = "e2e-metrics-token-0123456789";

/// How a raw connection ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The server closed it (EOF or reset) after sending these bytes.
    Closed(String),
    /// Still open when we stopped waiting.
    Open,
}

/// Read until the server closes the connection, or `wait` passes.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> End {
    let mut got = Vec::new();
    let end = Instant::now() + wait;
    loop {
        let mut buf = [0u8; 4096];
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return End::Open,
            Ok(Ok(0)) | Ok(Err(_)) => return End::Closed(String::from_utf8_lossy(&got).into()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

async fn connect(base: &str) -> TcpStream {
    TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap()
}

async fn start(dir: &Path, extra: &str) -> (ServerProcess, FakeProviders) {
    let fake = FakeProviders::start().await;
    let port = free_port();
    let cfg = config_text(port, &dir.join("a.db"), &fake.base, "1h", extra);
    let server = ServerProcess::start(dir, &cfg, port).await;
    // Let the health check's connection go away before counting connections.
    tokio::time::sleep(Duration::from_millis(200)).await;
    (server, fake)
}

fn run_check(config: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_antirelou-server"));
    cmd.arg("--check").arg("--config").arg(config);
    for name in [
        "ANTIRELOU_HASH_SECRET",
        "ANTIRELOU_ADMIN_TOKEN",
        "ANTIRELOU_TWILIO_AUTH_TOKEN",
        "ANTIRELOU_VONAGE_API_SECRET",
        "ANTIRELOU_VONAGE_SIGNATURE_SECRET",
        "ANTIRELOU_METRICS_TOKEN",
    ] {
        cmd.env_remove(name);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Finding 1: `--check` on the shipped example refuses every placeholder and says what to do;
/// with real secrets in the environment (as the documented unit gives them) it passes; the
/// server itself does not start on the placeholders, so the example admin token never opens
/// `/admin`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_config_is_refused_until_its_secrets_are_real() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("antirelou.example.toml");
    let out = run_check(&example, &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "hash_secret: still the example value; generate one with `openssl rand -hex 32`",
        "admin.token: still the example value; generate one",
        "ANTIRELOU_ADMIN_TOKEN",
        "twilio.auth_token: still the example value; set it from the Twilio console",
        "ANTIRELOU_TWILIO_AUTH_TOKEN",
    ] {
        assert!(stderr.contains(expected), "{expected:?} not in:\n{stderr}");
    }
    assert!(out.stdout.is_empty(), "no \"configuration OK\"");

    let real = [
        ("ANTIRELOU_HASH_SECRET", "4f1c9a0e77d2b3c8e5a6f0d1b2c3d4e5"),
        ("ANTIRELOU_ADMIN_TOKEN", "9b8a7c6d5e4f30112233445566778899"),
        (
            "ANTIRELOU_TWILIO_AUTH_TOKEN",
            "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        ),
    ];
    let out = run_check(&example, &real);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("configuration OK"), "{stdout}");

    // A placeholder in the environment is refused as well, and named.
    let mut env = real.to_vec();
    env[1] = ("ANTIRELOU_ADMIN_TOKEN", "change me: a long random token");
    let out = run_check(&example, &env);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "admin.token: looks like a placeholder (contains \"change me\") (from ANTIRELOU_ADMIN_TOKEN)"
        ),
        "{stderr}"
    );

    // The server does not start on the example's admin token: /admin never opens with it.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config_text(
        port,
        &dir.path().join("a.db"),
        "http://127.0.0.1:9",
        "1h",
        "",
    )
    .replace(
        &format!("token = \"{ADMIN_TOKEN}\""),
        "token = \"change me: a long random token for /admin, e.g. openssl rand -hex 32\"",
    );
    let path = dir.path().join("antirelou.toml");
    std::fs::write(&path, cfg).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_antirelou-server"))
        .arg("--config")
        .arg(&path)
        .env_remove("ANTIRELOU_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("admin.token: still the example value"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Finding 2: a half-sent request line is closed after `header_read_timeout`, a kept-alive
/// connection after `idle_timeout` without a request (and not before: a proxy may reuse it),
/// and a body that stops coming gets `408` after `body_read_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _fake) = start(
        dir.path(),
        "[http]\nheader_read_timeout = \"600ms\"\nbody_read_timeout = \"600ms\"\nidle_timeout = \"2s\"\n",
    )
    .await;

    // Half a request line.
    let mut s = connect(&server.base).await;
    let t0 = Instant::now();
    s.write_all(b"POST /twilio/sms HT").await.unwrap();
    let end = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(matches!(end, End::Closed(_)), "{end:?}");
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    // Nothing sent at all: the head is due within the header timeout of the accept.
    let mut s = connect(&server.base).await;
    let t0 = Instant::now();
    let end = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(matches!(end, End::Closed(_)), "{end:?}");
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );

    // A kept-alive connection: usable after a pause longer than the header timeout, closed
    // once idle for the idle timeout.
    let mut s = connect(&server.base).await;
    let get = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";
    let mut buf = [0u8; 1024];
    for pause in [Duration::ZERO, Duration::from_millis(1200)] {
        tokio::time::sleep(pause).await;
        s.write_all(get).await.unwrap();
        let n = s.read(&mut buf).await.unwrap();
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 200"), "after {pause:?}: {head}");
    }
    let t0 = Instant::now();
    let end = read_until_closed(&mut s, Duration::from_secs(8)).await;
    assert_eq!(end, End::Closed(String::new()));
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    // On a kept-alive connection, the head is due within the header timeout of its first byte.
    let mut s = connect(&server.base).await;
    s.write_all(get).await.unwrap();
    let _ = s.read(&mut buf).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t0 = Instant::now();
    s.write_all(b"GET /hea").await.unwrap();
    let end = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(matches!(end, End::Closed(_)), "{end:?}");
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    // A body that stops after its first bytes.
    let mut s = connect(&server.base).await;
    s.write_all(
        b"POST /twilio/sms HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n\
          content-length: 100\r\n\r\nFrom=%2B336",
    )
    .await
    .unwrap();
    let end = read_until_closed(&mut s, Duration::from_secs(5)).await;
    match end {
        End::Closed(text) => assert!(text.starts_with("HTTP/1.1 408"), "{text}"),
        End::Open => panic!("a stalled body kept its connection"),
    }

    // The server still answers.
    let r = client()
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Finding 2: beyond `max_connections`, a connection is answered 503 and closed, with a
/// warning; once the holders go away a valid webhook is answered; SIGTERM still stops cleanly
/// with connections open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_bound_are_refused_until_the_holders_go() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, _fake) = start(
        dir.path(),
        "[http]\nmax_connections = 4\nheader_read_timeout = \"30s\"\n",
    )
    .await;
    // The health check's connection must be gone before connections are counted.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut held = Vec::new();
    for i in 0..4 {
        let mut s = connect(&server.base).await;
        // Accepted and kept: nothing comes back.
        let end = read_until_closed(&mut s, Duration::from_millis(300)).await;
        assert_eq!(end, End::Open, "connection {i} within the bound");
        held.push(s);
    }
    let mut extra = connect(&server.base).await;
    match read_until_closed(&mut extra, Duration::from_secs(3)).await {
        End::Closed(text) => assert!(text.starts_with("HTTP/1.1 503"), "{text}"),
        End::Open => panic!("a connection beyond the bound was kept"),
    }
    let c = client();
    let (params, sig) = twilio_sms("SMC0", "+33612345678", TWILIO_NUMBER, "hi");
    let refused = c
        .post(format!("{}/twilio/sms", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", sig)
        .body(form_body(&params))
        .send()
        .await;
    // A 503, or the connection closed before the answer could be read: refused either way.
    if let Ok(r) = refused {
        assert_eq!(r.status(), 503);
    }
    assert!(
        server.log().contains("connection limit reached"),
        "{}",
        server.log()
    );

    // The holders go away: a valid webhook is answered.
    held.clear();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = post_twilio_sms(&c, &server.base, "SMC1", "+33612345679", "hi", None).await;
    assert_eq!(r.status(), 200, "{}", server.log());

    // Connections open (idle) do not hold up a clean stop.
    let _idle = [connect(&server.base).await, connect(&server.base).await];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = server
        .terminate(Duration::from_secs(10))
        .expect("exits on SIGTERM");
    assert!(status.success(), "{status}\n{}", server.log());
    assert!(server.log().contains("stopped cleanly"));
}

/// Finding 3: a large body is refused with 413 on every webhook and admin route before any
/// authentication (declared by Content-Length or found while reading a chunked body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_unauthenticated_bodies_get_413() {
    let dir = tempfile::tempdir().unwrap();
    let (server, fake) = start(dir.path(), "").await;
    let c = client();
    // 1 MiB declared: under axum's default limit of 2 MB, over ours. Only the head is sent: the
    // answer comes before any of the body, which is never buffered.
    for path in [
        "/twilio/sms",
        "/twilio/voice",
        "/twilio/status",
        "/vonage/sms",
        "/vonage/dlr",
        "/admin/pause",
        "/admin/blocklist",
    ] {
        let mut s = connect(&server.base).await;
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n\
             content-length: {}\r\n\r\n",
            1024 * 1024
        );
        s.write_all(head.as_bytes()).await.unwrap();
        match read_until_closed(&mut s, Duration::from_secs(5)).await {
            End::Closed(text) => assert!(text.starts_with("HTTP/1.1 413"), "{path}: {text}"),
            End::Open => panic!("{path}: waited for a body over the limit"),
        }
    }

    // A chunked body with no Content-Length, cut at the limit.
    let mut s = connect(&server.base).await;
    s.write_all(b"POST /admin/pause HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    // 64 KiB in four chunks, then one byte more (and no final chunk).
    let chunk = format!("4000\r\n{}\r\n", "b".repeat(0x4000));
    for _ in 0..4 {
        s.write_all(chunk.as_bytes()).await.unwrap();
    }
    s.write_all(b"1\r\nb\r\n").await.unwrap();
    match read_until_closed(&mut s, Duration::from_secs(5)).await {
        // Closed with unread bytes, the answer may be lost to the reset; never a 401.
        End::Closed(text) => assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 413"),
            "{text}"
        ),
        End::Open => panic!("a chunked body over the limit kept its connection"),
    }

    // A small body still reaches the routes (and their authentication).
    let r = c
        .post(format!("{}/admin/pause", server.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(fake.sent().is_empty());
}

/// Finding 11: a single 200 KB header is refused (431).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_header_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _fake) = start(dir.path(), "").await;
    let mut s = connect(&server.base).await;
    let request = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\nx-filler: {}\r\n\r\n",
        "h".repeat(200 * 1024)
    );
    let _ = s.write_all(request.as_bytes()).await;
    match read_until_closed(&mut s, Duration::from_secs(5)).await {
        End::Closed(text) => assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 431"),
            "{text}"
        ),
        End::Open => panic!("a 200 KB header kept its connection"),
    }
    // Normal headers pass.
    let r = client()
        .get(format!("{}/healthz", server.base))
        .header("x-filler", "h".repeat(4096))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Finding 11: `/metrics` is not served by default, asks for its bearer token when one is set,
/// and can live on a listener of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_their_token_or_their_own_listener() {
    let c = client();
    let metrics = |base: &str, token: Option<&str>| {
        let mut req = c.get(format!("{base}/metrics"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.unwrap() }
    };

    // Default: not served.
    let dir = tempfile::tempdir().unwrap();
    let (server, _fake) = start(dir.path(), "").await;
    assert_eq!(metrics(&server.base, None).await.status(), 404);
    assert_eq!(metrics(&server.base, Some(ADMIN_TOKEN)).await.status(), 404);
    drop(server);

    // A token on the main listener.
    let dir = tempfile::tempdir().unwrap();
    let (server, _fake) = start(
        dir.path(),
        &format!("[metrics]\ntoken = \"{METRICS_TOKEN}\"\n"),
    )
    .await;
    let r = metrics(&server.base, None).await;
    assert_eq!(r.status(), 401);
    assert!(!r.text().await.unwrap().contains("antirelou_spend"));
    assert_eq!(metrics(&server.base, Some(ADMIN_TOKEN)).await.status(), 401);
    let r = metrics(&server.base, Some(METRICS_TOKEN)).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("antirelou_spend_eur"));
    drop(server);

    // A listener of its own: the main one does not serve it.
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let (server, _fake) = start(
        dir.path(),
        &format!("[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n"),
    )
    .await;
    assert_eq!(metrics(&server.base, None).await.status(), 404);
    let own = format!("http://127.0.0.1:{metrics_port}");
    let r = metrics(&own, None).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("antirelou_spend_cap_eur"));
    // Nothing else there.
    let r = c.get(format!("{own}/admin/stats")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}
