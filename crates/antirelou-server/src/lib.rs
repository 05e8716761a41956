//! The reference server: antirelou behind real Twilio and Vonage webhooks, with an operator
//! console.
//!
//! * [`config`]: the TOML configuration, secrets from the environment, errors naming the key;
//! * [`app`]: [`Server`] wires the store, engine, policies, senders and routes, and
//!   runs them with an orderly shutdown;
//! * [`admin`]: the `/admin` JSON endpoints and the console page;
//! * [`metrics`]: `GET /metrics` in the Prometheus text format;
//! * [`listener`]: the accept loop, with its timeouts and connection bound;
//! * [`limits`]: the request body's size and read-time limits, before every route;
//! * [`operator_state`]: the operator's pauses and resumes, kept across restarts;
//! * [`shutdown`]: `SIGTERM` / `SIGINT`.
//!
//! The binary `antirelou-server` is a thin wrapper:
//! `cargo run --release -p antirelou-server -- --config antirelou.toml`.

pub mod admin;
pub mod app;
pub mod config;
mod deadlines;
pub mod limits;
pub mod listener;
pub mod metrics;
pub mod operator_state;
pub mod providers;
pub mod shutdown;

pub use app::{Server, ServerError};
pub use config::{Config, ConfigError};
