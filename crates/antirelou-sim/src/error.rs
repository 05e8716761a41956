//! The simulator's error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading a scenario or running a replay.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// No built-in scenario has this name and no such file exists.
    #[error("unknown scenario {0:?}: run `antirelou-sim list`, or give the path of a .toml file")]
    UnknownScenario(String),

    /// A scenario file is not valid TOML or has a bad parameter.
    #[error("scenario {name}: {reason}")]
    Scenario {
        /// The scenario's name or file.
        name: String,
        /// What is wrong.
        reason: String,
    },

    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// Drawing the chart failed.
    #[error("chart: {0}")]
    Chart(String),

    /// The simulated carrier refused an inbound contact (the number is shut off).
    #[error(transparent)]
    Refused(#[from] crate::carrier::Refused),

    /// The engine or a core type failed.
    #[error(transparent)]
    Core(#[from] antirelou_core::Error),
}

impl SimError {
    /// Shorthand for a scenario error.
    pub(crate) fn scenario(name: &str, reason: impl Into<String>) -> Self {
        SimError::Scenario {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }
}

/// A `Result` whose error is [`SimError`].
pub type Result<T, E = SimError> = std::result::Result<T, E>;
