//! antirelou-vonage (work in progress).
#![deny(missing_docs)]
