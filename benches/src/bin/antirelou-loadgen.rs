//! A bounded loopback load generator: signed Twilio SMS webhooks against the real server (on a
//! SQLite file in a temporary directory) and, in the same run, against a bare axum handler that
//! returns a fixed TwiML answer. Prints requests per second and latency percentiles of both,
//! and the ratio, as a table and as JSON.
//!
//! `cargo run --release -p antirelou-benches --bin antirelou-loadgen -- --requests 20000 --concurrency 64`
//!
//! `--postgres URL` runs the server on PostgreSQL instead, in a throw-away database created on
//! that server for the run and dropped after it; `--servers N` (PostgreSQL only) builds N servers
//! sharing that database, each with its own runtime, engine, policies, connection pool and
//! listener, as N processes would have, and spreads the webhooks over them round robin.
//!
//! Everything stays on 127.0.0.1; a round stops after `--requests` requests per target or
//! `--max-seconds`, whichever comes first.
//!
//! On a shared machine whose speed drifts from second to second, one short run of each target
//! can land on a fast moment for one and a slow one for the other. `--rounds N` (3 by default)
//! alternates the two targets N times (bare, server, bare, server, …; every server round sends
//! new senders to the same database, which grows) and reports every round, then the median
//! rate and latencies of each target and the ratio of the medians.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use antirelou_server::{Config, Server};
use antirelou_twilio::SignatureValidator;
use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

/// The reference server's allocator (see `antirelou-server`), so that the server measured here
/// runs as it does in production; the bare handler of the same process gets it too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOKEN: &str = "loadgen-twilio-auth-token";
const PUBLIC_URL: &str = "https://number.example.org";
const OUR_NUMBER: &str = "+33937000000";
const TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

/// Load generator for the antirelou server (loopback only, bounded).
#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// Webhooks sent to each target (at most 500,000).
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Concurrent keep-alive connections to each target.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Stop a target's run after this many seconds (at most 300).
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
    /// SQLite durability: `full` (fsync every commit, the default) or `normal`.
    #[arg(long, default_value = "full")]
    durability: String,
    /// Run the default abuse chain (off by default: every webhook then schedules a reply, the
    /// most expensive path).
    #[arg(long)]
    abuse: bool,
    /// Server worker threads (default: the machine's cores).
    #[arg(long)]
    server_threads: Option<usize>,
    /// Skip the bare handler.
    #[arg(long)]
    no_baseline: bool,
    /// Rounds of each target, alternated (at most 20).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Run the server on PostgreSQL: a `postgres://` URL whose user may create databases (the
    /// run creates its own and drops it at the end). SQLite options are then ignored.
    #[arg(long)]
    postgres: Option<String>,
    /// Servers sharing the PostgreSQL database (1 to 8), the webhooks spread over them.
    #[arg(long, default_value_t = 1)]
    servers: usize,
}

#[derive(Debug, Clone, Copy)]
struct RunResult {
    sent: usize,
    ok: usize,
    errors: usize,
    seconds: f64,
    rps: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// The median of each figure over the rounds (the middle round of each figure on its own).
fn median(runs: &[RunResult]) -> Option<RunResult> {
    if runs.is_empty() {
        return None;
    }
    let mid = |f: fn(&RunResult) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    Some(RunResult {
        sent: runs.iter().map(|r| r.sent).sum(),
        ok: runs.iter().map(|r| r.ok).sum(),
        errors: runs.iter().map(|r| r.errors).sum(),
        seconds: runs.iter().map(|r| r.seconds).sum(),
        rps: mid(|r| r.rps),
        p50_ms: mid(|r| r.p50_ms),
        p90_ms: mid(|r| r.p90_ms),
        p99_ms: mid(|r| r.p99_ms),
        max_ms: runs.iter().map(|r| r.max_ms).fold(0.0, f64::max),
    })
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

/// Distinct, valid French mobile numbers (+336…, +337…), skipping unassigned ranges.
fn senders(n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    let mut i = 0usize;
    while out.len() < n && i < 400_000_000 {
        let prefix = if i.is_multiple_of(2) { 6 } else { 7 };
        let candidate = format!(
            "+33{prefix}{:08}",
            ((i / 2) * 7_919 + 12_345_678) % 100_000_000
        );
        i += 1;
        if antirelou_core::PhoneNumber::parse(&candidate)
            .is_ok_and(|p| p.kind() == antirelou_core::NumberKind::Mobile)
        {
            out.push(candidate);
        }
    }
    out
}

/// Pre-sign every webhook so that signing costs nothing during the run.
fn bodies(from: &[String], offset: usize) -> Vec<(Bytes, String)> {
    let validator = SignatureValidator::new(TOKEN);
    let url = format!("{PUBLIC_URL}/twilio/sms");
    (0..from.len())
        .map(|i| {
            let sid = format!("SM{:032x}", i + offset);
            let params: Vec<(String, String)> = vec![
                (
                    "AccountSid".into(),
                    "AC00000000000000000000000000000000".into(),
                ),
                ("Body".into(), "slt t ou ?".into()),
                ("From".into(), from[i].clone()),
                ("MessageSid".into(), sid),
                ("NumMedia".into(), "0".into()),
                ("To".into(), OUR_NUMBER.into()),
            ];
            let sig = validator.sign(&url, &params);
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &params {
                ser.append_pair(k, v);
            }
            (Bytes::from(ser.finish()), sig)
        })
        .collect()
}

async fn run(
    addrs: &[SocketAddr],
    requests: Arc<Vec<(Bytes, String)>>,
    concurrency: usize,
    max: Duration,
    expect_status: u16,
) -> RunResult {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency)
        .build_http();
    let uris: Arc<Vec<hyper::Uri>> = Arc::new(
        addrs
            .iter()
            .map(|addr| {
                format!("http://{addr}/twilio/sms")
                    .parse()
                    .unwrap_or_else(|e| fail(format!("bad address: {e}")))
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + max;
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let client = client.clone();
        let uris = uris.clone();
        let next = next.clone();
        let requests = requests.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat: Vec<u32> = Vec::with_capacity(requests.len() / concurrency + 1);
            let (mut ok, mut errors) = (0usize, 0usize);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests.len() || Instant::now() > deadline {
                    break;
                }
                let (body, sig) = &requests[i];
                let req = hyper::Request::post(uris[i % uris.len()].clone())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-twilio-signature", sig.as_str())
                    .body(Full::new(body.clone()));
                let Ok(req) = req else {
                    errors += 1;
                    continue;
                };
                let t = Instant::now();
                match client.request(req).await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let _ = resp.into_body().collect().await;
                        lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                        if status == expect_status {
                            ok += 1;
                        } else {
                            errors += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
            }
            (lat, ok, errors)
        }));
    }
    let mut lat = Vec::with_capacity(requests.len());
    let (mut ok, mut errors) = (0, 0);
    for t in tasks {
        if let Ok((l, o, e)) = t.await {
            lat.extend(l);
            ok += o;
            errors += e;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    RunResult {
        sent: ok + errors,
        ok,
        errors,
        seconds,
        rps: ok as f64 / seconds.max(1e-9),
        p50_ms: percentile(&lat, 0.50),
        p90_ms: percentile(&lat, 0.90),
        p99_ms: percentile(&lat, 0.99),
        max_ms: lat.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
    }
}

fn runtime(threads: usize, name: &str) -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name(name)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            std::process::exit(1);
        }
    }
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("antirelou-loadgen: {msg}");
    std::process::exit(1)
}

fn row(name: &str, r: &RunResult) {
    println!(
        "{name:<22} {:>9} {:>7} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        r.ok, r.errors, r.rps, r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms
    );
}

/// The configuration of one server of the run; `storage` is the body of its `[storage]`.
fn server_config(port: u16, storage: &str, abuse: bool) -> String {
    format!(
        r#"
listen = "127.0.0.1:{port}"
public_url = "{PUBLIC_URL}"
hash_secret = "loadgen-hash-secret-0123456789abcdef"
[storage]
{storage}
[reply]
delay = "1h"
[budget]
daily_cap_eur = 20.0
monthly_cap_eur = 300.0
[admin]
token = "loadgen-admin-token-0123456789"
[twilio]
account_sid = "AC00000000000000000000000000000000"
auth_token = "{TOKEN}"
api_base = "http://127.0.0.1:9"
billing_currency = "EUR"
[abuse]
enabled = {abuse}
[[number]]
phone = "{OUR_NUMBER}"
provider = "twilio"
locale = "fr-FR"
"#
    )
}

/// Build and serve server `index` on its own runtime; returns its address, its stop signal,
/// the runtime and its engine.
fn start_server(
    storage: &str,
    abuse: bool,
    threads: usize,
    index: usize,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::runtime::Runtime,
    antirelou_core::engine::Engine,
) {
    let rt = runtime(threads, &format!("server{index}"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| fail(e));
    let config = Config::from_toml(&server_config(port, storage, abuse), |_| None)
        .unwrap_or_else(|e| fail(e));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let addr: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .unwrap_or_else(|e| fail(e));
    let engine = rt.block_on(async {
        let server = Server::build(config).await.unwrap_or_else(|e| fail(e));
        let engine = server.engine().clone();
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| fail(e));
        tokio::spawn(async move {
            let _ = server
                .run(listener, async {
                    let _ = stop_rx.await;
                })
                .await;
        });
        engine
    });
    (addr, stop_tx, rt, engine)
}

/// A PostgreSQL database of its own for the run, dropped (with its connections) at the end.
struct TempDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TempDatabase {
    fn create(admin_url: &str) -> TempDatabase {
        use sqlx::Connection;
        let name = format!(
            "antirelou_loadgen_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let mut url = url::Url::parse(admin_url)
            .unwrap_or_else(|e| fail(format!("--postgres: not a URL: {e}")));
        url.set_path(&format!("/{name}"));
        let rt = runtime(1, "pg-admin");
        rt.block_on(async {
            let mut conn = sqlx::PgConnection::connect(admin_url)
                .await
                .unwrap_or_else(|e| fail(format!("--postgres: {e}")));
            sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| fail(format!("--postgres: cannot create a database: {e}")));
            let _ = conn.close().await;
        });
        TempDatabase {
            admin_url: admin_url.to_owned(),
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        use sqlx::Connection;
        let rt = runtime(1, "pg-admin");
        let dropped: Result<(), sqlx::Error> = rt.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&self.admin_url).await?;
            sqlx::query(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await?;
            conn.close().await
        });
        if let Err(e) = dropped {
            eprintln!(
                "antirelou-loadgen: could not drop database {}: {e}",
                self.name
            );
        }
    }
}

/// The run's bounds, from the arguments clamped to their limits.
#[derive(Debug, Clone, Copy)]
struct Plan {
    requests: usize,
    rounds: usize,
    concurrency: usize,
    max: Duration,
    cores: usize,
    server_threads: usize,
}

impl Plan {
    fn of(args: &Args) -> Plan {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Plan {
            requests: args.requests.clamp(1, 500_000),
            rounds: args.rounds.clamp(1, 20),
            concurrency: args.concurrency.clamp(1, 1024),
            max: Duration::from_secs(args.max_seconds.clamp(1, 300)),
            cores,
            server_threads: args.server_threads.unwrap_or(cores),
        }
    }
}

/// One round's pre-signed webhooks: each form body with its signature.
type Signed = Arc<Vec<(Bytes, String)>>;

/// The senders of every round, and each server round's signed webhooks: each server round has
/// its own senders and message ids.
fn server_rounds(plan: &Plan) -> (Vec<String>, Vec<Signed>) {
    let (requests, rounds) = (plan.requests, plan.rounds);
    eprintln!("preparing {requests} signed webhooks per target…");
    let from = senders(requests * rounds);
    if from.len() < requests * rounds {
        fail("could not generate enough distinct valid sender numbers");
    }
    let bodies = from
        .chunks(requests)
        .enumerate()
        .map(|(r, chunk)| Arc::new(bodies(chunk, r * requests)))
        .collect();
    (from, bodies)
}

/// Serve the bare handler (fixed TwiML, nothing else) on `rt`; returns its address.
fn start_bare(rt: &tokio::runtime::Runtime) -> SocketAddr {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| fail(e));
        let addr = listener.local_addr().unwrap_or_else(|e| fail(e));
        let app = Router::new().route(
            "/twilio/sms",
            post(|| async { ([("content-type", "text/xml; charset=utf-8")], TWIML) }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        addr
    })
}

/// The real server(s) of the run, on SQLite or on one PostgreSQL database they share.
struct Servers {
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    runtimes: Vec<tokio::runtime::Runtime>,
    addrs: Vec<SocketAddr>,
    /// The first server's engine, whose statistics are reported.
    engine: antirelou_core::engine::Engine,
    temp_db: Option<TempDatabase>,
    /// What the servers run on, for the progress lines.
    target: String,
}

impl Servers {
    /// Start `--servers` servers; SQLite (one server only) keeps its file at `db`.
    fn start(args: &Args, plan: &Plan, db: &std::path::Path) -> Servers {
        let servers = args.servers.clamp(1, 8);
        if servers > 1 && args.postgres.is_none() {
            fail("--servers above 1 needs --postgres (one SQLite file belongs to one process)");
        }
        let temp_db = args.postgres.as_deref().map(TempDatabase::create);
        let storage = match &temp_db {
            Some(t) => format!("postgres = \"{}\"", t.url),
            None => format!(
                "sqlite = \"{}\"\ndurability = \"{}\"",
                db.display(),
                args.durability
            ),
        };
        let mut stops = Vec::with_capacity(servers);
        let mut runtimes = Vec::with_capacity(servers);
        let mut addrs = Vec::with_capacity(servers);
        let mut engine = None;
        for i in 0..servers {
            let (addr, stop, rt, e) = start_server(&storage, args.abuse, plan.server_threads, i);
            addrs.push(addr);
            stops.push(stop);
            runtimes.push(rt);
            engine.get_or_insert(e);
        }
        let Some(engine) = engine else {
            fail("no server started");
        };
        let target = match &temp_db {
            Some(_) => format!("PostgreSQL, {servers} server(s)"),
            None => format!("SQLite, durability {}", args.durability),
        };
        Servers {
            stops,
            runtimes,
            addrs,
            engine,
            temp_db,
            target,
        }
    }

    /// Read the first server's statistics, then stop the servers, their runtimes and (after
    /// them) the bare handler's runtime, and drop the PostgreSQL database.
    fn stop(self, bare_rt: tokio::runtime::Runtime) -> antirelou_core::engine::EngineStats {
        let stats = self.runtimes[0]
            .block_on(self.engine.stats())
            .unwrap_or_else(|e| fail(e));
        for stop in self.stops {
            let _ = stop.send(());
        }
        drop(self.engine);
        drop(self.runtimes);
        drop(bare_rt);
        drop(self.temp_db);
        stats
    }
}

/// Every round's figures, bare and server.
struct Rounds {
    bare: Vec<RunResult>,
    served: Vec<RunResult>,
}

/// Alternate the targets round by round: the bare handler (unless `--no-baseline`), then the
/// server(s), each round with its own senders.
fn run_rounds(
    args: &Args,
    plan: &Plan,
    from: &[String],
    server_bodies: Vec<Signed>,
    bare_addr: SocketAddr,
    servers: &Servers,
) -> Rounds {
    let Plan {
        requests,
        rounds,
        concurrency,
        max,
        ..
    } = *plan;
    let client_rt = runtime(plan.cores, "client");
    let mut bare_runs = Vec::with_capacity(rounds);
    let mut served_runs = Vec::with_capacity(rounds);
    for (round, server_bodies) in server_bodies.into_iter().enumerate() {
        if !args.no_baseline {
            eprintln!(
                "round {}/{rounds}: bare axum handler, {requests} requests, {concurrency} connections…",
                round + 1
            );
            let bare_bodies = Arc::new(bodies(&from[..requests], (1 << 40) + round * requests));
            bare_runs.push(client_rt.block_on(run(
                &[bare_addr],
                bare_bodies,
                concurrency,
                max,
                200,
            )));
        }
        eprintln!(
            "round {}/{rounds}: antirelou-server ({}), {requests} requests, {concurrency} connections…",
            round + 1,
            servers.target,
        );
        served_runs.push(client_rt.block_on(run(
            &servers.addrs,
            server_bodies,
            concurrency,
            max,
            200,
        )));
    }
    Rounds {
        bare: bare_runs,
        served: served_runs,
    }
}

/// Print the table: every round, then the medians and their ratio, and the server's counters.
fn print_table(
    rounds: &Rounds,
    bare: Option<&RunResult>,
    served: &RunResult,
    ratio: Option<f64>,
    stats: &antirelou_core::engine::EngineStats,
) {
    println!();
    println!(
        "{:<22} {:>9} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8}",
        "target", "ok", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for (i, s) in rounds.served.iter().enumerate() {
        if let Some(b) = rounds.bare.get(i) {
            row(&format!("round {} bare", i + 1), b);
        }
        row(&format!("round {} server", i + 1), s);
    }
    println!("median of {} round(s):", rounds.served.len());
    if let Some(b) = bare {
        row("bare axum (TwiML)", b);
    }
    row("antirelou-server", served);
    if let Some(r) = ratio {
        println!("ratio server / bare (medians): {:.1} %", r * 100.0);
    }
    println!(
        "server side: inbound.sms = {}, lessons.scheduled = {}, queue pending = {}",
        stats.counter("inbound.sms"),
        stats.counter("lessons.scheduled"),
        stats.queue.pending
    );
}

/// The run as one JSON object.
fn json_report(
    args: &Args,
    plan: &Plan,
    rounds: &Rounds,
    bare: Option<&RunResult>,
    served: &RunResult,
    ratio: Option<f64>,
    stats: &antirelou_core::engine::EngineStats,
) -> serde_json::Value {
    let as_json = |r: &RunResult| {
        json!({
            "ok": r.ok, "errors": r.errors, "sent": r.sent, "seconds": r.seconds, "rps": r.rps,
            "p50_ms": r.p50_ms, "p90_ms": r.p90_ms, "p99_ms": r.p99_ms, "max_ms": r.max_ms,
        })
    };
    json!({
        "requests": plan.requests,
        "concurrency": plan.concurrency,
        "cores": plan.cores,
        "server_threads": plan.server_threads,
        "storage": if args.postgres.is_some() { "postgres" } else { "sqlite" },
        "servers": args.servers.clamp(1, 8),
        // SQLite's settings; PostgreSQL's durability is its server's (`synchronous_commit`).
        "durability": args.postgres.is_none().then_some(&args.durability),
        "abuse_chain": args.abuse,
        "rounds": plan.rounds,
        "bare": bare.map(as_json),
        "server": as_json(served),
        "bare_rounds": rounds.bare.iter().map(as_json).collect::<Vec<_>>(),
        "server_rounds": rounds.served.iter().map(as_json).collect::<Vec<_>>(),
        "ratio": ratio,
        "server_counters": {
            "inbound_sms": stats.counter("inbound.sms"),
            "lessons_scheduled": stats.counter("lessons.scheduled"),
            "queue_pending": stats.queue.pending,
        },
    })
}

fn main() {
    let args = Args::parse();
    let plan = Plan::of(&args);
    let dir = std::env::temp_dir().join(format!("antirelou-loadgen-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        fail(format!("temp dir: {e}"));
    }
    let (from, server_bodies) = server_rounds(&plan);
    let bare_rt = runtime(plan.server_threads, "bare");
    let bare_addr = start_bare(&bare_rt);
    let servers = Servers::start(&args, &plan, &dir.join("load.db"));

    let rounds = run_rounds(&args, &plan, &from, server_bodies, bare_addr, &servers);
    let bare = median(&rounds.bare);
    let Some(served) = median(&rounds.served) else {
        fail("no round ran");
    };
    let stats = servers.stop(bare_rt);
    let _ = std::fs::remove_dir_all(&dir);

    let ratio = bare.map(|b| served.rps / b.rps.max(1e-9));
    print_table(&rounds, bare.as_ref(), &served, ratio, &stats);
    let report = json_report(&args, &plan, &rounds, bare.as_ref(), &served, ratio, &stats);
    println!("{report}");
}
