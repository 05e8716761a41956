//! antirelou-postgres (work in progress).
#![deny(missing_docs)]
