//! The error type of `antirelou-sqlite`, and the mapping of database errors into
//! [`antirelou_core::Error`].

use std::path::PathBuf;

/// What can go wrong while opening or migrating a SQLite database.
///
/// Errors of the storage traits themselves are [`antirelou_core::Error::Storage`], with
/// `transient` set when retrying may help (database busy or locked, pool timed out, I/O).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// The database file could not be opened or created.
    #[error("cannot open SQLite database {path:?}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: sqlx::Error,
    },

    /// The embedded migrations could not be applied (for example the file was written by a
    /// newer version of antirelou, or is not an antirelou database).
    #[error("SQLite migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// The group-commit writer's thread could not be started.
    #[error("cannot start the SQLite group-commit writer: {0}")]
    StartWriter(#[source] std::io::Error),

    /// The background WAL checkpointer ([`SqliteConfig::background_checkpoint`]) could not be
    /// started (its connection could not be opened, or its thread started).
    ///
    /// [`SqliteConfig::background_checkpoint`]: crate::SqliteConfig::background_checkpoint
    #[error("cannot start the SQLite WAL checkpointer: {0}")]
    StartCheckpointer(#[source] std::io::Error),

    /// Any other database failure.
    #[error("SQLite error: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<SqliteError> for antirelou_core::Error {
    fn from(e: SqliteError) -> Self {
        match e {
            SqliteError::Open { source, .. } | SqliteError::Database(source) => db_err(source),
            SqliteError::Migrate(m) => antirelou_core::Error::storage_permanent(m.to_string()),
            e @ (SqliteError::StartWriter(_) | SqliteError::StartCheckpointer(_)) => {
                antirelou_core::Error::Storage {
                    message: e.to_string(),
                    transient: true,
                }
            }
        }
    }
}

/// A value that could not be bound to a statement (a bug, not a database state): permanent.
pub(crate) fn bind_err(e: impl std::fmt::Display) -> antirelou_core::Error {
    antirelou_core::Error::storage_permanent(format!("sqlite bind: {e}"))
}

/// SQLite primary result codes that mean "try again": `SQLITE_BUSY` (5), `SQLITE_LOCKED` (6),
/// `SQLITE_IOERR` (10), `SQLITE_FULL` (13) and `SQLITE_PROTOCOL` (15).
fn transient_sqlite_code(code: &str) -> bool {
    let Ok(code) = code.parse::<i64>() else {
        return false;
    };
    matches!(code & 0xff, 5 | 6 | 10 | 13 | 15)
}

/// Map a database error into the core error, saying whether retrying may help.
pub(crate) fn db_err(e: sqlx::Error) -> antirelou_core::Error {
    let transient = match &e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| transient_sqlite_code(&c)),
        _ => false,
    };
    antirelou_core::Error::Storage {
        message: format!("sqlite: {e}"),
        transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_locked_are_transient() {
        assert!(transient_sqlite_code("5"));
        assert!(transient_sqlite_code("517")); // SQLITE_BUSY_SNAPSHOT
        assert!(transient_sqlite_code("6"));
        assert!(!transient_sqlite_code("19")); // SQLITE_CONSTRAINT
        assert!(!transient_sqlite_code("x"));
        assert!(db_err(sqlx::Error::PoolTimedOut).is_transient());
        assert!(!db_err(sqlx::Error::RowNotFound).is_transient());
    }
}
