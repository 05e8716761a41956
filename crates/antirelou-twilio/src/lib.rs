//! antirelou-twilio (work in progress).
#![deny(missing_docs)]
