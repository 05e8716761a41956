//! The error type of `antirelou-postgres`, and the mapping of database errors into
//! [`antirelou_core::Error`].

/// What can go wrong while connecting to or migrating a PostgreSQL database.
///
/// Errors of the storage traits themselves are [`antirelou_core::Error::Storage`], with
/// `transient` set when retrying may help (connection lost, serialization failure, deadlock,
/// server shutting down, pool timed out).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The connection URL or the configuration is invalid (for example a schema name that is not
    /// a plain lowercase identifier).
    #[error("invalid PostgreSQL configuration: {0}")]
    Config(String),

    /// The server could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[source] sqlx::Error),

    /// The embedded migrations could not be applied.
    #[error("PostgreSQL migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// Any other database failure.
    #[error("PostgreSQL error: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<PgError> for antirelou_core::Error {
    fn from(e: PgError) -> Self {
        match e {
            PgError::Config(m) => antirelou_core::Error::Config(m),
            PgError::Connect(source) | PgError::Database(source) => db_err(source),
            PgError::Migrate(m) => antirelou_core::Error::storage_permanent(m.to_string()),
        }
    }
}

/// SQLSTATEs after which retrying may succeed: connection exceptions (class 08), serialization
/// failure and deadlock (class 40), insufficient resources (class 53), operator intervention
/// such as a server shutting down (class 57) and lock not available (`55P03`).
fn transient_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("40")
        || code.starts_with("53")
        || code.starts_with("57")
        || code == "55P03"
}

/// Map a database error into the core error, saying whether retrying may help.
pub(crate) fn db_err(e: sqlx::Error) -> antirelou_core::Error {
    let transient = match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| transient_sqlstate(&c)),
        _ => false,
    };
    antirelou_core::Error::Storage {
        message: format!("postgres: {e}"),
        transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates() {
        assert!(transient_sqlstate("40001"));
        assert!(transient_sqlstate("40P01"));
        assert!(transient_sqlstate("08006"));
        assert!(transient_sqlstate("57P01"));
        assert!(!transient_sqlstate("23505"));
        assert!(!transient_sqlstate("42P01"));
        assert!(db_err(sqlx::Error::PoolTimedOut).is_transient());
        assert!(!db_err(sqlx::Error::RowNotFound).is_transient());
    }
}
