//! Examples of embedding antirelou, and the reference server ([`server`]).
//!
//! * `engine_demo` (binary): the engine end to end in memory.
//! * `antirelou-server` (binary): the reference server, see [`server`] and `docs/DEPLOYMENT.md`.
//! * `antirelou-loadgen` (binary): a bounded loopback load generator comparing the server with
//!   a bare axum handler.
#![deny(missing_docs)]

pub mod server;
