//! The antirelou reference server.
//!
//! `cargo run --release -p antirelou-server -- --config antirelou.toml`
//!
//! See `docs/DEPLOYMENT.md` for the configuration keys, a systemd unit and a reverse proxy.

use std::path::PathBuf;
use std::process::ExitCode;

use antirelou_server::{Config, Server, shutdown};
use clap::Parser;

/// mimalloc instead of the system allocator: a webhook allocates a few dozen small buffers
/// (HTTP parsing, form fields, the number's parse, the SQL batch), and glibc's malloc and free
/// were among the top symbols under load (`perf`). The crate is built with mimalloc's
/// `override` feature, so that the C code in the process (SQLite's page-cache buffers and
/// statements) allocates through it too. What each step gained in the load generator:
/// `docs/PERFORMANCE.md`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The antirelou reference server: Twilio and Vonage webhooks, the delayed-reply dispatcher and
/// the operator console.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The TOML configuration file.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Only check the configuration and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("antirelou-server: bad configuration: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!("configuration OK: {} number(s)", config.numbers.len());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("antirelou-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let server = Server::build(config).await?;
        server.serve(shutdown::signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("antirelou-server: {e}");
            ExitCode::FAILURE
        }
    }
}
