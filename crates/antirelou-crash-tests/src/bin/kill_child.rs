//! Child process of the crash-safety tests (`tests/*_kill.rs`), not a production program.
//!
//! Runs the real antirelou dispatcher against a SQLite file or a PostgreSQL schema, sending
//! through a loopback fake provider, until its standard input closes (then it shuts down
//! gracefully) or it is killed. Several of them may share one PostgreSQL schema, as several
//! servers would.
//!
//! Usage: `antirelou-kill-child PROVIDER_ADDR INSTANCE WORKERS LEASE_MS STORE…` where `STORE…`
//! is `sqlite DB full|normal` or `postgres DATABASE_URL SCHEMA`. With `KILL_CHILD_LOOKUP=1` in
//! its environment the sender answers `find_accepted` by asking the fake provider (`FIND`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use antirelou_core::catalogue::{Catalogue, Locale};
use antirelou_core::engine::{Engine, EngineConfig, NumberConfig, Transports};
use antirelou_core::privacy::NumberHasher;
use antirelou_core::store::Store;
use antirelou_core::{Error, OutboundSms, PhoneNumber, PriorSend, SendReceipt, SmsTransport};
use antirelou_postgres::{PgConfig, PgStore};
use antirelou_sqlite::{Durability, SqliteConfig, SqliteStore};
use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

/// Our number in the kill tests.
const NUMBER: &str = "+33937000000";

/// Sends over the fake provider's line protocol, on pooled persistent connections.
#[derive(Debug)]
struct LineTransport {
    addr: SocketAddr,
    instance: u32,
    idle: tokio::sync::Mutex<Vec<BufStream<TcpStream>>>,
    /// Answer `find_accepted` by asking the provider.
    lookup: bool,
}

impl LineTransport {
    /// One request line, one answer line, on a pooled connection.
    async fn ask(&self, request: String) -> antirelou_core::Result<String> {
        let pooled = self.idle.lock().await.pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => BufStream::new(TcpStream::connect(self.addr).await.map_err(transient)?),
        };
        conn.write_all(request.as_bytes())
            .await
            .map_err(transient)?;
        conn.flush().await.map_err(transient)?;
        let mut line = String::new();
        conn.read_line(&mut line).await.map_err(transient)?;
        self.idle.lock().await.push(conn);
        Ok(line.trim().to_owned())
    }
}

fn transient(e: impl std::fmt::Display) -> Error {
    Error::Transient {
        message: format!("fake provider: {e}"),
        retry_after: None,
    }
}

#[async_trait]
impl SmsTransport for LineTransport {
    async fn send(&self, sms: &OutboundSms) -> antirelou_core::Result<SendReceipt> {
        let line = self
            .ask(format!("SEND {} {}\n", self.instance, sms.client_ref()))
            .await?;
        // Unknown outcome (no answer) is transient: a rare duplicate beats a lost lesson.
        let id = line
            .strip_prefix("OK ")
            .ok_or_else(|| transient(&line))?
            .to_owned();
        Ok(SendReceipt {
            provider_id: id,
            segments: sms.segments(),
            price: None,
        })
    }

    async fn find_accepted(
        &self,
        sms: &OutboundSms,
        _since: antirelou_core::Timestamp,
    ) -> antirelou_core::Result<PriorSend> {
        if !self.lookup {
            return Ok(PriorSend::Unknown);
        }
        let line = self
            .ask(format!("FIND {} {}\n", self.instance, sms.client_ref()))
            .await?;
        Ok(match line.strip_prefix("OK ") {
            Some(id) => PriorSend::Accepted(SendReceipt {
                provider_id: id.to_owned(),
                segments: sms.segments(),
                price: None,
            }),
            None if line == "NONE" => PriorSend::NotFound,
            None => return Err(transient(&line)),
        })
    }
}

/// The store a child runs on.
enum StoreArgs {
    Sqlite { db: String, durability: Durability },
    Postgres { url: String, schema: String },
}

struct Args {
    provider: SocketAddr,
    instance: u32,
    workers: usize,
    lease: Duration,
    store: StoreArgs,
}

const USAGE: &str =
    "usage: PROVIDER_ADDR INSTANCE WORKERS LEASE_MS (sqlite DB full|normal | postgres URL SCHEMA)";

fn parse_args() -> Result<Args, String> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let [provider, instance, workers, lease_ms, store @ ..] = a.as_slice() else {
        return Err(USAGE.into());
    };
    let store = match store {
        [kind, db, durability] if kind == "sqlite" => StoreArgs::Sqlite {
            db: db.clone(),
            durability: match durability.as_str() {
                "full" => Durability::Full,
                "normal" => Durability::Normal,
                other => return Err(format!("durability {other:?}")),
            },
        },
        [kind, url, schema] if kind == "postgres" => StoreArgs::Postgres {
            url: url.clone(),
            schema: schema.clone(),
        },
        _ => return Err(USAGE.into()),
    };
    Ok(Args {
        provider: provider
            .parse()
            .map_err(|e| format!("provider address: {e}"))?,
        instance: instance.parse().map_err(|e| format!("instance: {e}"))?,
        workers: workers.parse().map_err(|e| format!("workers: {e}"))?,
        lease: Duration::from_millis(lease_ms.parse().map_err(|e| format!("lease: {e}"))?),
        store,
    })
}

async fn open(store: &StoreArgs) -> Result<Arc<dyn Store>, Box<dyn std::error::Error>> {
    Ok(match store {
        StoreArgs::Sqlite { db, durability } => Arc::new(
            SqliteStore::open_with(db, SqliteConfig::default().with_durability(*durability))
                .await?,
        ),
        StoreArgs::Postgres { url, schema } => {
            let config = PgConfig::default().schema(schema)?.max_connections(4);
            Arc::new(PgStore::connect_with(url, config).await?)
        }
    })
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let t0 = std::time::Instant::now();
    let verbose = std::env::var_os("KILL_CHILD_VERBOSE").is_some();
    let store = open(&args.store).await?;
    if verbose {
        eprintln!("store open after {:?}", t0.elapsed());
    }
    let engine = Engine::builder(
        store,
        NumberHasher::new(b"kill test secret of 32 bytes....")?,
    )
    .catalogue(Catalogue::builtin())
    .config(EngineConfig {
        lease: args.lease,
        workers: args.workers,
        claim_batch: 16,
        poll_interval: Duration::from_millis(20),
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_secs(1),
        reply_deadline: Duration::from_secs(3600),
        ..EngineConfig::default()
    })
    .number(NumberConfig::new(
        PhoneNumber::parse(NUMBER)?,
        Locale::new("fr-FR")?,
        antirelou_core::stub::PROVIDER,
    ))
    .build()?;
    let sender = LineTransport {
        addr: args.provider,
        instance: args.instance,
        idle: Default::default(),
        lookup: std::env::var_os("KILL_CHILD_LOOKUP").is_some(),
    };
    let dispatcher = engine.dispatcher(Transports::new().with(
        antirelou_core::stub::PROVIDER,
        Arc::new(sender),
        None,
    ));
    if verbose {
        eprintln!("engine built after {:?}", t0.elapsed());
    }
    // Shut down gracefully when the parent closes our stdin.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
        let _ = tx.send(());
    });
    dispatcher
        .run(async move {
            let _ = rx.await;
        })
        .await?;
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kill child: {e}");
            ExitCode::FAILURE
        }
    }
}
