//! Several servers, one PostgreSQL: three `antirelou-server` processes share one fresh
//! PostgreSQL database and send through one loopback fake of Twilio's Messages API.
//!
//! A flood of signed Twilio webhooks is spread over the three (distinct senders, the same sender
//! texting different servers, the same `MessageSid` retried on different servers, STOPs), one
//! server is SIGKILLed while the dispatchers send, the flood goes on on the other two, and then,
//! once the queue is drained, every sender is accounted for from the fake provider's record and
//! the database:
//!
//! * a sender who only texted got exactly one lesson, or his lesson ran into the spend cap
//!   (a lesson row ended by `budget_exhausted`), or a policy counted a drop (never silently
//!   nothing);
//! * a sender who said STOP got nothing and is opted out;
//! * the provider received at most one extra copy per send in flight in the killed process
//!   (`[dispatcher] workers`), the send→commit window documented on the dispatcher; a send of
//!   that window whose reply was then ended by the cap (delivered, recorded as unsent) counts
//!   against the same bound;
//! * the spend ledger never passed the daily cap, and neither did what the provider billed.
//!
//! Needs PostgreSQL: `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`); each run
//! creates its own database and drops it at the end.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use antirelou_core::PhoneNumber;
use antirelou_core::privacy::NumberHasher;
use base64::Engine as _;
use reqwest::Method;
use sqlx::{Connection, Row};
use support::*;

/// Send workers per server: the bound on duplicates per killed process.
const WORKERS: u64 = 2;
const PRICE_PER_SEGMENT_EUR: f64 = 0.07627;
/// Low enough that the flood's lessons exceed it.
const DAILY_CAP_EUR: f64 = 3.0;
const HASH_SECRET: &str = "e2e-hash-secret-0123456789abcdef";

fn base_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `base` with its database name replaced by `db`.
fn url_of(base: &str, db: &str) -> String {
    let mut u = url::Url::parse(base).unwrap();
    u.set_path(&format!("/{db}"));
    u.to_string()
}

/// A fresh database for this run, dropped (with whatever still uses it) when this is dropped,
/// even when the test fails.
struct TempDatabase(String);

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let name = self.0.clone();
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(sqlx::Error::Io)?
                .block_on(drop_database(&name))
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}: {dropped:?}", self.0);
        }
    }
}

async fn create_database() -> TempDatabase {
    let name = format!("antirelou_e2e_three_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(&base_url()).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    TempDatabase(name)
}

async fn drop_database(name: &str) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(&base_url()).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    conn.close().await
}

/// A Twilio-only server on PostgreSQL: short delay, a low daily cap, `WORKERS` workers, a
/// short lease (orphans of the killed server come back quickly), and the per-process abuse
/// thresholds opened so that this test measures what the database shares.
fn config(port: u16, database_url: &str, api_base: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:{port}"
public_url = "{PUBLIC_URL}"
hash_secret = "{HASH_SECRET}"
[storage]
postgres = "{database_url}"
[reply]
delay = "3s"
deadline = "10m"
[budget]
daily_cap_eur = {DAILY_CAP_EUR}
monthly_cap_eur = 300.0
price_per_segment_eur = {PRICE_PER_SEGMENT_EUR}
[currency]
rates = {{ USD = 0.92 }}
[admin]
token = "{ADMIN_TOKEN}"
[twilio]
account_sid = "{TWILIO_SID}"
auth_token = "{TWILIO_TOKEN}"
api_base = "{api_base}"
[dispatcher]
workers = {WORKERS}
poll_interval = "100ms"
lease = "5s"
[abuse]
lessons_per_minute = 6000
pace_burst = 1000
[abuse.prefix_flood]
threshold = 100
[abuse.flood]
min_surge = 1000
[abuse.copy_paste]
threshold = 100
[abuse.burst]
texts = 100
[[number]]
phone = "{TWILIO_NUMBER}"
provider = "twilio"
locale = "fr-FR"
"#
    )
}

/// A client that waits longer than the other tests' (three servers share two cores here).
fn client() -> reqwest::Client {
    client_with_timeout(Duration::from_secs(20))
}

/// Distinct valid French mobile numbers, `n` of them, from `start`.
fn senders(start: u32, n: u32) -> Vec<String> {
    (start..start + n)
        .map(|i| format!("+336{:08}", 10_000_000 + i * 7_919))
        .inspect(|s| assert!(PhoneNumber::parse(s).is_ok(), "{s}"))
        .collect()
}

async fn text(c: &reqwest::Client, server: &ServerProcess, sid: &str, from: &str, body: &str) {
    let r = post_twilio_sms(c, &server.base, sid, from, body, None).await;
    assert_eq!(
        r.status(),
        200,
        "{sid} to {}: {}",
        server.base,
        server.log()
    );
}

/// The lesson rows of one sender: (state, last_error).
type Rows = HashMap<String, Vec<(String, Option<String>)>>;

async fn lesson_rows(db: &mut sqlx::PgConnection) -> Rows {
    let mut out: Rows = HashMap::new();
    for row in sqlx::query(
        "SELECT encode(sender, 'hex') AS s, state, last_error FROM replies WHERE kind = 'lesson'",
    )
    .fetch_all(&mut *db)
    .await
    .unwrap()
    {
        out.entry(row.get("s"))
            .or_default()
            .push((row.get("state"), row.get("last_error")));
    }
    out
}

fn budget_reason(rows: &[(String, Option<String>)]) -> bool {
    rows.iter().any(|(state, err)| {
        matches!(state.as_str(), "expired" | "pending")
            && err
                .as_deref()
                .is_some_and(|e| e.contains("budget_exhausted"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432 (run with --include-ignored)"]
async fn three_servers_on_one_postgres_one_killed_every_sender_accounted_for() {
    let temp_db = create_database().await;
    let db_url = url_of(&base_url(), &temp_db.0);
    // Each send takes 300 ms at the provider, so that the kill below lands while the killed
    // server has sends recorded by the provider and not yet answered.
    let fake = FakeProviders::start_answering_after(Duration::from_millis(300)).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut servers = Vec::new();
    for dir in &dirs {
        let port = free_port();
        let cfg = config(port, &db_url, &fake.base);
        servers.push(ServerProcess::start(dir.path(), &cfg, port).await);
    }
    let c = client();

    // Who does what. Plain senders text 1 to 3 times, each text to another server, and a
    // quarter of their first texts are delivered again (same MessageSid) to another server.
    let plain = senders(0, 48);
    // Text then STOP (on another server) at once: the STOP cancels the pending lesson.
    let text_then_stop = senders(100, 8);
    // STOP first, then text: the text is refused.
    let stop_then_text = senders(200, 8);

    // Phase 1: everything goes to all three servers, round robin.
    let mut sid = 0u32;
    let mut next_sid = || {
        sid += 1;
        format!("SM3S{sid:030}")
    };
    let mut retried = 0u64;
    let mut repeats = 0u64;
    let mut first_sids = Vec::new();
    for (i, s) in plain.iter().enumerate() {
        let first = next_sid();
        first_sids.push(first.clone());
        text(&c, &servers[i % 3], &first, s, "t ou ?").await;
        if i % 4 == 0 {
            text(&c, &servers[(i + 1) % 3], &first, s, "t ou ?").await;
            retried += 1;
        }
        if i % 3 == 0 {
            text(&c, &servers[(i + 2) % 3], &next_sid(), s, "réponds").await;
            repeats += 1;
        }
    }
    for (i, s) in text_then_stop.iter().enumerate() {
        text(&c, &servers[i % 3], &next_sid(), s, "slt").await;
        text(&c, &servers[(i + 1) % 3], &next_sid(), s, "STOP").await;
    }

    // Kill server 0 while the dispatchers send (as soon as the first lesson reached the
    // provider, before it was answered).
    let posts = |fake: &FakeProviders| -> Vec<Sent> {
        fake.sent()
            .into_iter()
            .filter(|s| s.method == Method::POST)
            .collect()
    };
    let end = Instant::now() + Duration::from_secs(60);
    while posts(&fake).is_empty() {
        assert!(Instant::now() < end, "no lesson sent within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    servers[0].kill();
    let sent_at_kill = posts(&fake).len();

    // Phase 2: the flood goes on, on the two live servers only: repeats and retries of texts
    // the dead server took, STOP-first senders.
    for (i, s) in plain.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        text(&c, &servers[1 + i % 2], &next_sid(), s, "alors ?").await;
        repeats += 1;
    }
    // Twilio delivers again the first texts server 0 took (i % 3 == 0), now to a live server.
    for (i, s) in plain.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        text(&c, &servers[2 - i % 2], &first_sids[i], s, "t ou ?").await;
        retried += 1;
    }
    for (i, s) in stop_then_text.iter().enumerate() {
        text(&c, &servers[1 + i % 2], &next_sid(), s, "STOP").await;
        text(&c, &servers[2 - i % 2], &next_sid(), s, "et alors").await;
    }

    // Wait until nothing is left to send: no lesson pending or claimed, except ones the cap
    // deferred to the next day (only near midnight UTC, with the 10 min deadline).
    let mut db = sqlx::PgConnection::connect(&db_url).await.unwrap();
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let live: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM replies WHERE state IN ('pending', 'claimed') \
             AND coalesce(last_error, '') NOT LIKE 'budget_exhausted%'",
        )
        .fetch_one(&mut db)
        .await
        .unwrap();
        if live == 0 {
            break;
        }
        assert!(
            Instant::now() < end,
            "{live} replies still live after 120 s\n{}\n{}",
            servers[1].log(),
            servers[2].log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A wrongly doubled send would show up now.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Every request at the fake Twilio is a well-formed, authenticated call on our account.
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{TWILIO_SID}:{TWILIO_TOKEN}"))
    );
    let messages_path = format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages.json");
    let all = fake.sent();
    for m in &all {
        assert_eq!(m.path, messages_path, "{m:?}");
        assert_eq!(m.authorization.as_deref(), Some(basic.as_str()), "{m:?}");
        assert!(m.method == Method::POST || m.method == Method::GET, "{m:?}");
    }
    let posts = posts(&fake);
    let mut per_recipient: BTreeMap<String, u64> = BTreeMap::new();
    for m in &posts {
        assert!(
            m.content_type
                .as_deref()
                .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded")),
            "{m:?}"
        );
        assert_eq!(m.field("From"), Some(TWILIO_NUMBER), "{m:?}");
        assert!(m.field("Body").is_some_and(|b| b.len() > 100), "{m:?}");
        assert_eq!(
            m.field("StatusCallback"),
            Some(format!("{PUBLIC_URL}/twilio/status").as_str())
        );
        *per_recipient.entry(m.to()).or_default() += 1;
    }

    // Every sender is accounted for.
    let hasher = NumberHasher::new(HASH_SECRET.as_bytes()).unwrap();
    let hash = |s: &str| hasher.hash(&PhoneNumber::parse(s).unwrap()).to_hex();
    let rows = lesson_rows(&mut db).await;
    let (_, stats) = admin(&c, Method::GET, &servers[1].base, "/admin/stats", None).await;
    let policy_drops: u64 = [
        "global_pace",
        "flood_degraded",
        "prefix_flood",
        "copy_paste",
        "burst_raid",
    ]
    .iter()
    .map(|r| stats["drops"][r].as_u64().unwrap_or(0))
    .sum();
    let (mut taught, mut capped, mut unscheduled, mut duplicates) = (0u64, 0u64, 0u64, 0u64);
    // Lessons scheduled again after an earlier one of the same sender ran into the cap (which
    // gives his lesson slot back).
    let mut rescheduled = 0u64;
    // Delivered by the killed server, recorded as ended by the cap.
    let mut unrecorded = 0u64;
    for s in &plain {
        let delivered = per_recipient.get(s).copied().unwrap_or(0);
        let mine = rows.get(&hash(s)).cloned().unwrap_or_default();
        let sent_rows = mine.iter().filter(|(state, _)| state == "sent").count();
        rescheduled += (mine.len() as u64).saturating_sub(1);
        assert!(sent_rows <= 1, "{s}: two lessons recorded: {mine:?}");
        if delivered > 0 && sent_rows == 1 {
            taught += 1;
            duplicates += delivered - 1;
        } else if delivered > 0 {
            // The other side of the send→commit window: the killed server's send reached the
            // provider, and the claim that took the reply over found the cap reached (the dead
            // send's reservation still counts) and ended it unsent.
            assert!(
                budget_reason(&mine),
                "{s}: delivered, never recorded: {mine:?}"
            );
            unrecorded += 1;
            duplicates += delivered - 1;
        } else if budget_reason(&mine) {
            assert_eq!(sent_rows, 0, "{s}: recorded as sent, never delivered");
            capped += 1;
        } else {
            assert!(mine.is_empty(), "{s}: a lesson lost: {mine:?}");
            unscheduled += 1;
        }
    }
    for s in text_then_stop.iter().chain(&stop_then_text) {
        assert_eq!(per_recipient.get(s), None, "{s} said STOP and got a lesson");
        let opted_out: Option<bool> =
            sqlx::query_scalar("SELECT opted_out FROM opt_outs WHERE encode(sender, 'hex') = $1")
                .bind(hash(s))
                .fetch_optional(&mut db)
                .await
                .unwrap();
        assert_eq!(opted_out, Some(true), "{s}");
        let mine = rows.get(&hash(s)).cloned().unwrap_or_default();
        assert!(
            mine.iter().all(|(state, _)| state == "cancelled"),
            "{s}: {mine:?}"
        );
    }
    let known: Vec<&String> = plain.iter().collect();
    for r in per_recipient.keys() {
        assert!(known.contains(&r), "a lesson to {r}, who never texted");
    }

    // Spend: the ledger never passed the cap, and neither did what the provider billed.
    let cap_micros = (DAILY_CAP_EUR * 1e6).round() as i64;
    let ledger: Vec<(String, i64)> = sqlx::query_as("SELECT period, committed FROM spend_periods")
        .fetch_all(&mut db)
        .await
        .unwrap();
    for (period, committed) in &ledger {
        if period.starts_with("d:") {
            assert!(
                *committed <= cap_micros,
                "{period}: {committed} > {cap_micros}"
            );
        }
    }
    // What the provider billed: each message's own segments (the full lesson or, under
    // pressure, the one-segment short form), as the fake answers in `num_segments`.
    let billed_segments: u32 = posts
        .iter()
        .map(|m| antirelou_core::encoding::plan(m.field("Body").unwrap_or_default()).segments)
        .sum();
    let billed = f64::from(billed_segments) * PRICE_PER_SEGMENT_EUR;
    assert!(
        billed <= DAILY_CAP_EUR + 1e-9,
        "provider billed {billed} EUR"
    );

    println!(
        "three servers, one PostgreSQL: senders={} taught={taught} capped={capped} \
         unscheduled={unscheduled} (policy drops {policy_drops}) stop={} deliveries={} \
         duplicates={duplicates} unrecorded={unrecorded} (bound {WORKERS}) sent before the kill={sent_at_kill} \
         retried sids={retried} repeats={repeats} ledger={ledger:?} drops={}",
        plain.len(),
        text_then_stop.len() + stop_then_text.len(),
        posts.len(),
        stats["drops"]
    );
    assert!(
        duplicates + unrecorded <= WORKERS,
        "{duplicates} duplicates and {unrecorded} unrecorded deliveries, more than the {WORKERS} \
         sends one process can have in flight"
    );
    assert!(
        unscheduled <= policy_drops,
        "{unscheduled} senders without a lesson row, {policy_drops} counted policy drops"
    );
    assert!(taught > 0, "no lesson sent");
    assert!(
        capped > 0,
        "the cap never bound: the test would not see it passed"
    );
    // Each cross-server retry and each repeat was refused by the shared database (a duplicate
    // event, or a sender already taught), or scheduled a new lesson after a capped one.
    let dup = stats["drops"]["duplicate"].as_u64().unwrap_or(0);
    let again = stats["drops"]["already_taught"].as_u64().unwrap_or(0);
    assert_eq!(
        policy_drops, 0,
        "the per-process policies were opened for this test"
    );
    assert_eq!(
        dup + again + rescheduled,
        retried + repeats,
        "retried {retried}, repeats {repeats}, rescheduled {rescheduled}: {}",
        stats["drops"]
    );

    for s in servers.iter_mut().skip(1) {
        let status = s
            .terminate(Duration::from_secs(20))
            .expect("exits on SIGTERM");
        assert!(status.success(), "{status}\n{}", s.log());
    }
    drop(db);
    drop(servers);
    drop(temp_db);
}
