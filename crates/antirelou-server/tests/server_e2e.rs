//! End-to-end tests of the reference server over real HTTP: the `antirelou-server` binary in a
//! child process on a SQLite file, signed Twilio and Vonage webhooks in, a loopback fake of the
//! providers' SMS APIs out (through `api_base`).
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use reqwest::Method;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_lesson_per_sender_after_the_delay_through_both_providers() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeProviders::start().await;
    let port = free_port();
    let cfg = config_text(port, &dir.path().join("a.db"), &fake.base, "2s", "");
    let server = ServerProcess::start(dir.path(), &cfg, port).await;
    let c = client();
    let t0 = Instant::now();

    // Twilio: one man texts three times, and Twilio delivers his first text twice.
    let alice = "+33612345678";
    for (sid, body) in [
        ("SM0001", "slt t ou ?"),
        ("SM0001", "slt t ou ?"),
        ("SM0002", "tu réponds pas ?"),
        ("SM0003", "allo"),
    ] {
        let r = post_twilio_sms(&c, &server.base, sid, alice, body, None).await;
        assert_eq!(r.status(), 200, "{}", server.log());
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/xml")
        );
        let text = r.text().await.unwrap();
        assert!(text.contains("<Response"), "{text}");
    }
    // A second man, once.
    let bob = "+33698765432";
    assert_eq!(
        twilio_texts(&c, &server.base, "SM0004", bob, "coucou").await,
        200
    );
    // Vonage: a third man texts twice, one delivery duplicated.
    let carol = "+33611223344";
    for id in ["0B00000001", "0B00000001", "0B00000002"] {
        let r = post_vonage_sms(&c, &server.base, id, carol, "on se voit ?", false).await;
        assert_eq!(r.status(), 204, "{}", server.log());
    }

    // Nothing leaves before the delay.
    assert!(fake.sent().is_empty(), "sent before the delay");
    let sent = fake.wait_for(3, Duration::from_secs(15)).await;
    assert!(
        t0.elapsed() >= Duration::from_secs(2),
        "sent too early: {:?}",
        t0.elapsed()
    );
    // Give a wrongly doubled send time to show up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sent_all = fake.sent();
    assert_eq!(sent_all.len(), 3, "{sent_all:#?}\n{}", server.log());
    let _ = sent;

    for who in [alice, bob] {
        let m = fake.sent_to(who);
        assert_eq!(m.len(), 1, "{who}");
        let m = &m[0];
        assert_eq!(m.method, Method::POST);
        assert_eq!(
            m.path,
            format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages.json")
        );
        assert!(
            m.content_type
                .as_deref()
                .unwrap()
                .starts_with("application/x-www-form-urlencoded")
        );
        assert!(m.authorization.as_deref().unwrap().starts_with("Basic "));
        assert_eq!(m.field("From"), Some(TWILIO_NUMBER));
        assert_eq!(
            m.field("StatusCallback"),
            Some(format!("{PUBLIC_URL}/twilio/status").as_str())
        );
        let body = m.field("Body").unwrap();
        assert!(body.len() > 100, "a real lesson: {body}");
    }
    let v = fake.sent_to(carol);
    assert_eq!(v.len(), 1);
    let v = &v[0];
    assert_eq!(v.path, "/sms/json");
    assert_eq!(v.field("api_key"), Some(VONAGE_KEY));
    assert_eq!(v.field("api_secret"), Some(VONAGE_SECRET));
    assert_eq!(v.field("from"), Some(VONAGE_NUMBER.trim_start_matches('+')));
    assert_eq!(v.field("to"), Some(carol.trim_start_matches('+')));
    assert_eq!(
        v.field("callback"),
        Some(format!("{PUBLIC_URL}/vonage/dlr").as_str())
    );
    assert!(v.field("text").unwrap().len() > 100);

    // The counters agree.
    let (status, stats) = admin(&c, Method::GET, &server.base, "/admin/stats", None).await;
    assert_eq!(status, 200);
    assert_eq!(stats["inbound"]["sms"], 8);
    assert_eq!(stats["lessons_sent"], 3);
    assert_eq!(stats["drops"]["duplicate"], 2);
    assert_eq!(stats["drops"]["already_taught"], 3);
    assert_eq!(stats["queue"]["pending"], 0);
    assert!(stats["spend"]["today_eur"].as_f64().unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_is_403_and_costs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeProviders::start().await;
    let port = free_port();
    let cfg = config_text(port, &dir.path().join("a.db"), &fake.base, "1s", "");
    let server = ServerProcess::start(dir.path(), &cfg, port).await;
    let c = client();

    let r = post_twilio_sms(
        &c,
        &server.base,
        "SM1",
        "+33612345678",
        "hi",
        Some("bm90IGEgc2lnbmF0dXJl"),
    )
    .await;
    assert_eq!(r.status(), 403);
    // No signature at all.
    let (params, _) = twilio_sms("SM2", "+33612345678", TWILIO_NUMBER, "hi");
    let r = c
        .post(format!("{}/twilio/sms", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&params))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A valid signature over other parameters (the body was changed in transit).
    let (_, sig) = twilio_sms("SM3", "+33612345678", TWILIO_NUMBER, "hi");
    let (params, _) = twilio_sms("SM3", "+33698765432", TWILIO_NUMBER, "hi");
    let r = c
        .post(format!("{}/twilio/sms", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", sig)
        .body(form_body(&params))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = post_vonage_sms(&c, &server.base, "0C1", "+33611223344", "hi", true).await;
    assert_eq!(r.status(), 403);

    // The admin API wants its token.
    let r = c
        .get(format!("{}/admin/stats", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(format!("{}/admin/stats", server.base))
        .bearer_auth("wrong-token-wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(fake.sent().is_empty());
    let (_, stats) = admin(&c, Method::GET, &server.base, "/admin/stats", None).await;
    assert_eq!(
        stats["inbound"]["sms"], 0,
        "a refused webhook never reaches the engine"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_stops() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeProviders::start().await;
    let port = free_port();
    let cfg = config_text(port, &dir.path().join("a.db"), &fake.base, "2s", "");
    let server = ServerProcess::start(dir.path(), &cfg, port).await;
    let c = client();

    // He texts, then STOP before the lesson leaves: nothing is sent.
    let dan = "+33622334455";
    assert_eq!(
        twilio_texts(&c, &server.base, "SM10", dan, "salut").await,
        200
    );
    assert_eq!(
        twilio_texts(&c, &server.base, "SM11", dan, "STOP").await,
        200
    );
    // Another says Arrêt first, then texts again: nothing either.
    let eve = "+33633445566";
    assert_eq!(
        vonage_texts(&c, &server.base, "0D1", eve, "Arrêt").await,
        204
    );
    assert_eq!(
        vonage_texts(&c, &server.base, "0D2", eve, "t'es où").await,
        204
    );
    // A third man, as a control, gets his lesson.
    let fred = "+33644556677";
    assert_eq!(
        twilio_texts(&c, &server.base, "SM12", fred, "hello").await,
        200
    );

    let sent = fake.wait_for(1, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sent_all = fake.sent();
    assert_eq!(sent_all.len(), 1, "{sent_all:#?}");
    assert_eq!(sent[0].to(), fred);
    let (_, stats) = admin(&c, Method::GET, &server.base, "/admin/stats", None).await;
    assert_eq!(stats["optouts"], 2);
    assert_eq!(stats["drops"]["opted_out"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_pending_replies_then_restart_sends_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeProviders::start().await;
    let port = free_port();
    let db = dir.path().join("a.db");
    // Open the pace so that 30 first-time senders all get a lesson.
    let cfg = config_text(
        port,
        &db,
        &fake.base,
        "3s",
        "[abuse]\nlessons_per_minute = 6000\npace_burst = 1000\n",
    );
    let mut server = ServerProcess::start(dir.path(), &cfg, port).await;
    let c = client();

    let senders: Vec<String> = (0..30)
        .map(|i| format!("+336{:08}", 10_000_000 + i * 7919))
        .collect();
    for (i, s) in senders.iter().enumerate() {
        let r = if i % 2 == 0 {
            post_twilio_sms(&c, &server.base, &format!("SMK{i:04}"), s, "hey", None).await
        } else {
            post_vonage_sms(&c, &server.base, &format!("0K{i:08}"), s, "hey", false).await
        };
        assert!(r.status().is_success(), "{}", server.log());
    }
    // Every webhook was acknowledged: the replies are committed. Kill at once.
    server.kill();
    assert!(fake.sent().is_empty());

    // Restart on the same database; a duplicate delivery of an acknowledged text arrives too.
    let mut server = ServerProcess::start(dir.path(), &cfg, port).await;
    let r = post_twilio_sms(&c, &server.base, "SMK0000", &senders[0], "hey", None).await;
    assert_eq!(r.status(), 200);
    let _ = fake.wait_for(senders.len(), Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for s in &senders {
        assert_eq!(fake.sent_to(s).len(), 1, "{s}: {:#?}", fake.sent());
    }
    assert_eq!(fake.sent().len(), senders.len());

    // SIGTERM: a clean exit.
    let status = server
        .terminate(Duration::from_secs(10))
        .expect("exits on SIGTERM");
    assert!(status.success(), "{status}\n{}", server.log());
    assert!(server.log().contains("stopped cleanly"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_pending_replies_survive_for_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeProviders::start().await;
    let port = free_port();
    let db = dir.path().join("a.db");
    let cfg = config_text(port, &db, &fake.base, "2s", "");
    let mut server = ServerProcess::start(dir.path(), &cfg, port).await;
    let c = client();
    assert_eq!(
        twilio_texts(&c, &server.base, "SMT1", "+33612121212", "yo").await,
        200
    );
    let status = server
        .terminate(Duration::from_secs(10))
        .expect("exits on SIGTERM");
    assert!(status.success());
    // Stopped: no webhook is taken any more.
    assert!(
        c.get(format!("{}/healthz", server.base))
            .send()
            .await
            .is_err()
    );
    let _server = ServerProcess::start(dir.path(), &cfg, port).await;
    let sent = fake.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to(), "+33612121212");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_pause_resume_blocklist_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeProviders::start().await;
    let port = free_port();
    let cfg = config_text(
        port,
        &dir.path().join("a.db"),
        &fake.base,
        "1s",
        "[metrics]\ntoken = \"e2e-metrics-token-0123456789\"\n",
    );
    let server = ServerProcess::start(dir.path(), &cfg, port).await;
    let c = client();
    let b = &server.base;

    let (status, numbers) = admin(&c, Method::GET, b, "/admin/numbers", None).await;
    assert_eq!(status, 200);
    let list = numbers["numbers"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    for n in list {
        let shown = n["number"].as_str().unwrap();
        assert!(
            shown.starts_with('…') && shown.chars().count() == 5,
            "masked: {shown}"
        );
        assert_eq!(n["status"], "active");
    }

    // Pause the Twilio number only: its texts are dropped, the Vonage number still works.
    let (status, r) = admin(
        &c,
        Method::POST,
        b,
        "/admin/pause",
        Some(serde_json::json!({"number": TWILIO_NUMBER})),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(twilio_texts(&c, b, "SMP1", "+33612345670", "hi").await, 200);
    assert_eq!(vonage_texts(&c, b, "0P1", "+33612345671", "hi").await, 204);
    let (_, stats) = admin(&c, Method::GET, b, "/admin/stats", None).await;
    assert_eq!(stats["drops"]["number_paused"], 1);
    assert_eq!(stats["numbers"]["paused"], 1);
    let (_, numbers) = admin(&c, Method::GET, b, "/admin/numbers", None).await;
    let statuses: Vec<&str> = numbers["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"paused") && statuses.contains(&"active"));
    // Pause all, resume all.
    let (status, r) = admin(&c, Method::POST, b, "/admin/pause", None).await;
    assert_eq!(status, 200);
    assert_eq!(r["numbers"].as_array().unwrap().len(), 2);
    let (status, _) = admin(&c, Method::POST, b, "/admin/resume", None).await;
    assert_eq!(status, 200);
    let (_, stats) = admin(&c, Method::GET, b, "/admin/stats", None).await;
    assert_eq!(stats["numbers"]["paused"], 0);
    let (status, _) = admin(
        &c,
        Method::POST,
        b,
        "/admin/pause",
        Some(serde_json::json!({"number": "+33611111111"})),
    )
    .await;
    assert_eq!(status, 404);

    // Blocklist: block a prefix, a text from it is dropped; unblock by id.
    let (status, r) = admin(
        &c,
        Method::POST,
        b,
        "/admin/blocklist",
        Some(serde_json::json!({"pattern": "+33655", "ttl": "1h"})),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    let (_, list) = admin(&c, Method::GET, b, "/admin/blocklist", None).await;
    let entries = list["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["pattern"], "+33655");
    assert_eq!(twilio_texts(&c, b, "SMB1", "+33655123456", "hi").await, 200);
    let (_, stats) = admin(&c, Method::GET, b, "/admin/stats", None).await;
    assert_eq!(stats["drops"]["blocklisted"], 1);
    let id = entries[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = admin(
        &c,
        Method::DELETE,
        b,
        "/admin/blocklist",
        Some(serde_json::json!({"id": id})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, list) = admin(&c, Method::GET, b, "/admin/blocklist", None).await;
    assert!(list["entries"].as_array().unwrap().is_empty());
    let (status, _) = admin(
        &c,
        Method::POST,
        b,
        "/admin/blocklist",
        Some(serde_json::json!({"pattern": "not a number"})),
    )
    .await;
    assert_eq!(status, 400);

    // Metrics in the Prometheus text format, with their token.
    let r = c
        .get(format!("{b}/metrics"))
        .bearer_auth("e2e-metrics-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("antirelou_inbound_total{channel=\"sms\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("antirelou_drops_total{reason=\"blocklisted\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("antirelou_spend_cap_eur{period=\"day\"} 20"),
        "{text}"
    );
    assert!(text.contains("# TYPE antirelou_queue_replies gauge"));

    // The console page is served without the token (it asks for it) and has no external asset.
    let page = c.get(format!("{b}/admin")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<canvas"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no CDN"
    );

    // Only the Vonage text was scheduled, and it leaves after the delay.
    let sent = fake.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to(), "+33612345671");
    let _ = fake;
}

/// The statuses of the two numbers as `/admin/numbers` lists them, in order.
async fn statuses(c: &reqwest::Client, base: &str) -> Vec<String> {
    let (status, numbers) = admin(c, Method::GET, base, "/admin/numbers", None).await;
    assert_eq!(status, 200);
    numbers["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["status"].as_str().unwrap().to_owned())
        .collect()
}

/// The kill switch survives a crash: a number paused from `/admin` is still paused after a
/// SIGKILL and a restart, and a resume is remembered the same way; a state file that cannot be
/// read stops the start instead of resuming anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_survives_sigkill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeProviders::start().await;
    let port = free_port();
    let db = dir.path().join("a.db");
    let cfg = config_text(port, &db, &fake.base, "1s", "");
    let c = client();

    let mut server = ServerProcess::start(dir.path(), &cfg, port).await;
    let before = statuses(&c, &server.base).await;
    assert_eq!(before, ["active", "active"]);
    let (status, r) = admin(
        &c,
        Method::POST,
        &server.base,
        "/admin/pause",
        Some(serde_json::json!({"number": TWILIO_NUMBER})),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["persisted"], true, "{r}");
    let paused = statuses(&c, &server.base).await;
    server.kill();

    let state_file = dir.path().join("a.db.operator.json");
    let recorded = std::fs::read_to_string(&state_file).unwrap();
    assert!(
        recorded.contains(TWILIO_NUMBER) && recorded.contains("paused"),
        "{recorded}"
    );

    let mut server = ServerProcess::start(dir.path(), &cfg, port).await;
    assert_eq!(statuses(&c, &server.base).await, paused);
    assert!(paused.contains(&"paused".to_owned()) && paused.contains(&"active".to_owned()));
    // Texts to the paused number are still dropped after the restart.
    assert_eq!(
        twilio_texts(&c, &server.base, "SMK1", "+33612345672", "hi").await,
        200
    );
    let (_, stats) = admin(&c, Method::GET, &server.base, "/admin/stats", None).await;
    assert_eq!(stats["drops"]["number_paused"], 1, "{stats}");

    // A resume is remembered too.
    let (status, r) = admin(&c, Method::POST, &server.base, "/admin/resume", None).await;
    assert_eq!(status, 200, "{r}");
    server.kill();
    let mut server = ServerProcess::start(dir.path(), &cfg, port).await;
    assert_eq!(statuses(&c, &server.base).await, before);
    server.kill();

    // A state file that cannot be read: the server refuses to start and says why.
    std::fs::write(&state_file, "{ not json").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_antirelou-server"))
        .arg("--config")
        .arg(&server.config_path)
        .env_remove("ANTIRELOU_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("operator state file"), "{stderr}");
}
