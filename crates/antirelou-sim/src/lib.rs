//! # antirelou-sim
//!
//! The simulator answers the question every operator asks before going live: *what will this
//! number cost me, and will it survive a raid?* It drives the **real** engine and the **real**
//! abuse policies of antirelou on a virtual clock, against a simulated carrier that bills every
//! segment, so days of traffic run in seconds, the same way for the same seed.
//!
//! * [`carrier`]: [`SimCarrier`], an [`SmsTransport`](antirelou_core::SmsTransport) that bills inbound
//!   and outbound messages, records deliveries and injects provider faults;
//! * [`traffic`]: legitimate senders, media spikes, raids, spoofed floods, SMS pumping;
//! * [`scenario`]: TOML scenario files (eleven built in, from `paris-2017` to `mix`);
//! * [`gallery`]: every built-in scenario run naive and antirelou, per group of senders, with
//!   each scenario's targets checked;
//! * [`replay`](mod@replay): runs a scenario twice, `naive` (reply to every text, as in 2017) and
//!   `antirelou` (the default policy chain), and reports both; [`report`] prints the table and
//!   [`chart`] draws the cumulative spend as SVG;
//! * [`harness`]: for embedders, drive texts and calls into your own app in tests and read what
//!   it sent.
//!
//! The command line: `cargo run --release -p antirelou-sim -- replay paris-2017`, and
//! `cargo run --release -p antirelou-sim -- gallery`.
#![deny(missing_docs)]

pub mod carrier;
pub mod chart;
pub mod error;
pub mod gallery;
pub mod harness;
pub mod model;
pub mod replay;
pub mod report;
pub mod scenario;
pub mod traffic;

pub use carrier::{Delivered, Prices, SimCarrier};
pub use error::{Result, SimError};
pub use harness::{SimHarness, TestPhone};
pub use replay::{Policy, Replay, ReplayReport, RunReport, replay};
pub use scenario::Scenario;
pub use traffic::{Actor, ContactKind, SimEvent, Traffic};
