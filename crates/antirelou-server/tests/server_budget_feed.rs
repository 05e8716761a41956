//! The running server feeds the abuse policies the budget with the lesson's real segment count
//! (it used to assume two segments whatever the lesson), the same feed as the simulator's.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use antirelou_core::runtime::lesson_segments;
use antirelou_server::app::Server;
use antirelou_server::config::Config;
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flood_detector_learns_the_budget_at_the_real_lesson_cost() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("feed.db");
    // An en-US number: its built-in lesson is one segment.
    let text = format!(
        r#"
public_url = "https://number.example.org"
hash_secret = "0123456789abcdef0123456789abcdef"
[storage]
sqlite = "{}"
[budget]
daily_cap_eur = 20.0
price_per_segment_eur = 0.10
[currency]
rates = {{ USD = 0.92 }}
[admin]
token = "admin-token-0123456789"
[twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token = "twilio-auth-token-0123"
api_base = "http://127.0.0.1:9"
[[number]]
phone = "+14155552671"
provider = "twilio"
locale = "en-US"
"#,
        db.display()
    );
    let config = Config::from_toml(&text, |_| None).unwrap();
    let server = Server::build(config).await.unwrap();
    assert_eq!(lesson_segments(server.engine()), 1);
    // `[currency]` reaches the engine, which converts the providers' prices with it.
    let rates = &server.engine().config().currency;
    assert_eq!(rates.ledger(), antirelou_core::Currency::EUR);
    assert_eq!(
        rates
            .rate(antirelou_core::Currency::USD)
            .map(|r| r.billionths()),
        Some(920_000_000)
    );
    let policies = server.policies().unwrap().clone();
    assert_eq!(policies.flood.affordable_per_bucket(), None);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(listener, async {
        let _ = stopped.await;
    }));
    let start = Instant::now();
    while policies.flood.affordable_per_bucket().is_none() {
        assert!(start.elapsed() < Duration::from_secs(10), "no budget feed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // €20 left, €0.10 a lesson: 200 lessons over the one-hour horizon, 3 a minute (two
    // segments assumed would give 1).
    assert_eq!(policies.flood.affordable_per_bucket(), Some(3));
    // The pace: €20 in no less than two hours at €0.10: 1 a minute, below the floor of 60.
    assert_eq!(policies.pace.per_minute(), 60);
    let _ = stop.send(());
    running.await.unwrap().unwrap();
}
