//! The operator's last pause or resume of each number, kept in a small JSON file so that a
//! restart (a deploy, a crash, `SIGKILL`) does not undo the kill switch.
//!
//! The file (`admin.state_file`, by default next to the SQLite database) maps our own numbers,
//! in E.164, to `"paused"` or `"active"`; it never holds a sender's number. It is rewritten
//! whole on every change: written to a temporary file, flushed to disk, then renamed over the
//! old one, so a crash leaves either the old or the new file, never half of one. At start the
//! recorded decisions are applied over the configuration's `status` (a number the configuration
//! retires stays retired); a file that cannot be read or parsed stops the start with an error,
//! rather than resuming numbers an operator paused.
//!
//! ```
//! use antirelou_server::operator_state::OperatorState;
//! use antirelou_core::engine::NumberStatus;
//! let dir = std::env::temp_dir().join(format!("antirelou-doc-state-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("operator.json");
//! assert!(OperatorState::load(&path).unwrap().is_empty(), "no file: no decision yet");
//! let mut state = OperatorState::default();
//! state.set("+33937000000", NumberStatus::Paused);
//! state.save(&path).unwrap();
//! assert_eq!(OperatorState::load(&path).unwrap().get("+33937000000"), Some(NumberStatus::Paused));
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use antirelou_core::engine::NumberStatus;
use serde::{Deserialize, Serialize};

/// What went wrong reading or writing the operator's state file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateFileError {
    /// The file could not be read or written.
    #[error("operator state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not what this server writes.
    #[error("operator state file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// The operator's decisions: each number (E.164) that was paused or resumed from `/admin`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorState {
    /// Number (E.164) → `"paused"` or `"active"`.
    numbers: BTreeMap<String, Decision>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Decision {
    Paused,
    Active,
}

impl Decision {
    fn status(self) -> NumberStatus {
        match self {
            Decision::Paused => NumberStatus::Paused,
            Decision::Active => NumberStatus::Active,
        }
    }
}

impl OperatorState {
    /// The decisions in `path`; none when the file does not exist yet.
    pub fn load(path: &Path) -> Result<OperatorState, StateFileError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(OperatorState::default());
            }
            Err(source) => {
                return Err(StateFileError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        serde_json::from_str(&text).map_err(|e| StateFileError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Replace the file at `path` with these decisions, atomically and durably.
    pub fn save(&self, path: &Path) -> Result<(), StateFileError> {
        let io = |source| StateFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let text = serde_json::to_string_pretty(self).map_err(|e| StateFileError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.write_all(b"\n").map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(io)?;
        // The rename itself is durable once the directory is flushed.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }

    /// Record the operator's decision for `e164` (only `Paused` and `Active` are decisions).
    pub fn set(&mut self, e164: &str, status: NumberStatus) {
        let decision = match status {
            NumberStatus::Paused => Decision::Paused,
            NumberStatus::Active => Decision::Active,
            _ => return,
        };
        self.numbers.insert(e164.to_owned(), decision);
    }

    /// The operator's last decision for `e164`, if any.
    pub fn get(&self, e164: &str) -> Option<NumberStatus> {
        self.numbers.get(e164).map(|d| d.status())
    }

    /// Every decision, numbers in E.164.
    pub fn iter(&self) -> impl Iterator<Item = (&str, NumberStatus)> + '_ {
        self.numbers.iter().map(|(n, d)| (n.as_str(), d.status()))
    }

    /// Whether no decision is recorded.
    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_replace_and_refuse_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("operator.json");
        let mut s = OperatorState::default();
        s.set("+33937000000", NumberStatus::Paused);
        s.set("+32460000000", NumberStatus::Active);
        s.set("+33937000001", NumberStatus::Retired);
        s.save(&path).unwrap();
        let back = OperatorState::load(&path).unwrap();
        assert_eq!(back, s);
        assert_eq!(
            back.get("+33937000001"),
            None,
            "retiring is not an operator decision"
        );
        assert_eq!(back.iter().count(), 2);
        // A later decision replaces the earlier one, and the file is replaced whole.
        s.set("+33937000000", NumberStatus::Active);
        s.save(&path).unwrap();
        assert_eq!(
            OperatorState::load(&path).unwrap().get("+33937000000"),
            Some(NumberStatus::Active)
        );
        assert!(!dir.path().join("operator.json.tmp").exists());
        std::fs::write(&path, "{\"numbers\": {\"+33937000000\": \"asleep\"}}").unwrap();
        let err = OperatorState::load(&path).unwrap_err();
        assert!(matches!(err, StateFileError::Invalid { .. }), "{err}");
        std::fs::write(&path, "not json").unwrap();
        assert!(OperatorState::load(&path).is_err());
    }
}
