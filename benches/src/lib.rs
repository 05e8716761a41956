//! Shared helpers for the benchmarks.
#![deny(missing_docs)]

pub mod abuse_stream;
