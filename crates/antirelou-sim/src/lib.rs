//! antirelou-sim (work in progress).
#![deny(missing_docs)]
