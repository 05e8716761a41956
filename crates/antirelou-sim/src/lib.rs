//! # antirelou-sim
//!
//! The simulator answers the question every operator asks before going live: *what will this
//! number cost me, and will it survive a raid?* It drives the **real** engine and the **real**
//! abuse policies of antirelou on a virtual clock, against a simulated carrier that bills every
//! segment, so a week of traffic runs in seconds, the same way for the same seed.
//!
//! * [`carrier`]: [`SimCarrier`], an [`SmsSender`](antirelou_core::SmsSender) that bills inbound
//!   and outbound messages, records deliveries and injects provider faults;
//! * [`traffic`]: legitimate senders, media spikes, raids, spoofed floods, SMS pumping;
//! * [`scenario`]: TOML scenario files (four built in: `paris-2017`, `spoofed-flood`,
//!   `viral-day`, `sms-pumping`);
//! * [`harness`]: for embedders, drive texts and calls into your own app in tests and read what
//!   it sent.
#![deny(missing_docs)]

pub mod carrier;
pub mod error;
pub mod scenario;
pub mod traffic;

pub use carrier::{Delivered, Prices, SimCarrier};
pub use error::{Result, SimError};
pub use scenario::Scenario;
pub use traffic::{Actor, ContactKind, SimEvent, Traffic};
