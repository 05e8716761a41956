//! # antirelou-core
//!
//! The heart of **antirelou**, a library for running an anti-harassment phone number: a woman who is
//! pressed for her number gives this one instead. A man who **calls** hears a short lesson on consent;
//! a man who **texts** gets the same lesson by SMS **one hour later**, when she has left.
//!
//! This crate holds everything that does not depend on a telephony provider or a database:
//!
//! * domain types: [`PhoneNumber`], [`Caller`], [`Money`], [`Timestamp`], inbound events;
//! * the consent [`catalogue`] (lessons per locale, with dated legal facts) and the SMS
//!   [`encoding`] planner (GSM-7 / UCS-2, segments, transliteration, cost);
//! * provider-neutral [`voice`] scripts;
//! * the traits every backend implements: [`SmsTransport`], the storage traits in [`store`],
//!   [`AbusePolicy`] and [`Clock`];
//! * the [`engine`]: inbound handling and the durable delayed-reply dispatcher;
//! * the [`runtime`]: the dispatcher loop, the spend feed into the policies and the retention
//!   purge, spawned by a server or stepped by the simulator;
//! * hand-written test doubles: [`memory::InMemoryStore`], [`stub::StubTransport`], [`ManualClock`];
//! * with the `testing` feature, the public `conformance` suite that every backend runs;
//! * with the `adapter-kit` feature, the `kit` module provider adapters are built on, and with
//!   `adapter-kit-testing` its fake provider server and the transport, webhook and voice suites;
//! * with the `mock` feature, `mockall` mocks of the traits.
//!
//! See `ARCHITECTURE.md` at the repository root for the data flow and why each trait is shaped as it is.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod catalogue;
pub mod clock;
pub mod currency;
pub mod encoding;
pub mod engine;
pub mod error;
pub mod event;
pub mod handler;
pub mod memory;
pub mod money;
pub mod phone;
pub mod policy;
pub mod privacy;
pub mod provider;
pub mod runtime;
pub mod spend;
#[cfg(feature = "sql-rows")]
pub mod sql_row;
pub mod store;
pub mod stub;
pub mod transport;
pub mod voice;

#[cfg(feature = "testing")]
pub mod conformance;
#[cfg(feature = "adapter-kit")]
pub mod kit;
#[cfg(feature = "mock")]
pub mod mock;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use currency::{Currency, CurrencyRates, Price};
pub use error::{Error, Result};
pub use handler::{InboundHandler, SmsOutcome};
pub use money::Money;
pub use phone::{Caller, NumberKind, PhoneNumber};
pub use policy::{AbusePolicy, Decision, Reason};
pub use provider::ProviderId;
pub use transport::{OutboundSms, PriorSend, SendReceipt, SmsTransport};
