//! antirelou-abuse (work in progress).
#![deny(missing_docs)]
