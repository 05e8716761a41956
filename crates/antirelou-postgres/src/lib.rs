//! # antirelou-postgres
//!
//! The PostgreSQL storage backend of antirelou, for operators who run several servers against
//! one database. [`PgStore`] implements every storage trait of [`antirelou_core::store`]
//! (hence [`Store`](antirelou_core::store::Store)) and passes the core's conformance suite.
//!
//! * **Claims never hand one reply to two workers**: `claim_due` is one
//!   `UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)` statement; workers on any number of
//!   servers skip each other's rows instead of waiting or double-claiming.
//! * **Fencing**: each claim increments the reply's attempt number; `complete`, `retry_later`,
//!   `finish` and `release` match `id`, `attempt` and `state = 'claimed'`, so a worker whose lease
//!   expired and was taken over gets [`Error::LeaseLost`](antirelou_core::Error::LeaseLost) and
//!   changes nothing.
//! * **Orphaned claims are recovered without an operator**: a claim whose lease ended (its
//!   worker or server died) is claimable again by the next `claim_due` on any server.
//! * **Spend reservation is atomic in SQL**: `UPDATE spend_periods SET committed = committed + $a
//!   WHERE period = $p AND committed + $a <= $cap` for the day then the month, in one
//!   transaction; PostgreSQL re-checks the condition on the latest row version, so concurrent
//!   reservations from every server never take committed spend past a cap. A `reservations`
//!   table makes settle and release apply at most once.
//! * **Shared state**: opt-outs, sender history (with the atomic one-lesson-per-window slot) and
//!   counters live in the database, so every instance sees them.
//! * **Durability**: a method that returned `Ok` is committed with the server's
//!   `synchronous_commit` setting (normally `on`: flushed to the WAL), with two deliberate
//!   exceptions that skip the wait for the flush: counter increments (statistics) and settles or
//!   releases that *lower* committed spend. A crash of the database server may lose the last
//!   fraction of a second of those; the ledger then still counts the reservation, which its
//!   contract allows (it errs on the side of spending less). Replies, claims, completions,
//!   opt-outs, sender history and reservations always wait for the flush.
//! * **Privacy**: the plain recipient is erased (a `CHECK` constraint enforces it) as soon as a
//!   reply is sent, failed, expired or cancelled; terminal replies are deleted by `purge` after
//!   the retention period.
//!
//! Migrations are embedded ([`MIGRATOR`]) and applied by [`PgStore::connect`]. A store can live
//! in its own schema ([`PgConfig::schema`]), which tests use to run side by side.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use antirelou_postgres::{PgConfig, PgStore};
//! let store = PgStore::connect("postgres://postgres@127.0.0.1:5432/test").await?;
//! let other = PgStore::connect_with(
//!     "postgres://postgres@127.0.0.1:5432/test",
//!     PgConfig::default().schema("antirelou_staging")?,
//! )
//! .await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod error;
mod store;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

pub use error::PgError;

/// The migrations embedded in the crate, applied by [`PgStore::connect`].
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How to connect.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PgConfig {
    /// The schema the tables live in (created if missing); `None` uses the server's default
    /// `search_path` (normally `public`).
    pub schema: Option<String>,
    /// Pool size; 8 by default.
    pub max_connections: u32,
    /// How long to wait for a pooled connection before failing with a transient error; 10 s by
    /// default.
    pub acquire_timeout: Duration,
}

impl Default for PgConfig {
    fn default() -> Self {
        PgConfig {
            schema: None,
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

impl PgConfig {
    /// Use `schema` (a plain lowercase identifier: `[a-z_][a-z0-9_]*`, at most 63 bytes).
    pub fn schema(mut self, schema: &str) -> Result<Self, PgError> {
        let ok = !schema.is_empty()
            && schema.len() <= 63
            && schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !schema.as_bytes()[0].is_ascii_digit();
        if !ok {
            return Err(PgError::Config(format!(
                "schema {schema:?} is not a plain lowercase identifier"
            )));
        }
        self.schema = Some(schema.to_owned());
        Ok(self)
    }

    /// Use a pool of `n` connections (at least 1).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }
}

/// The PostgreSQL store. Cheap to clone (clones share the pool). See the
/// [crate documentation](crate).
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connect to `url` with the default [`PgConfig`] and apply the embedded migrations.
    pub async fn connect(url: &str) -> Result<Self, PgError> {
        Self::connect_with(url, PgConfig::default()).await
    }

    /// Connect to `url` with `config`, creating the schema if one is configured, and apply the
    /// embedded migrations.
    pub async fn connect_with(url: &str, config: PgConfig) -> Result<Self, PgError> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| PgError::Config(format!("bad DATABASE_URL: {e}")))?
            .application_name("antirelou");
        if let Some(schema) = &config.schema {
            let mut conn = options.connect().await.map_err(PgError::Connect)?;
            // `schema` is validated as a plain identifier by `PgConfig::schema`.
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .execute(&mut conn)
                .await
                .map_err(PgError::Database)?;
            conn.close().await.map_err(PgError::Database)?;
            options = options.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(PgError::Connect)?;
        Self::from_pool(pool).await
    }

    /// Use an existing pool (its `search_path` decides the schema) and apply the embedded
    /// migrations.
    pub async fn from_pool(pool: PgPool) -> Result<Self, PgError> {
        MIGRATOR.run(&pool).await?;
        Ok(PgStore { pool })
    }

    /// The pool, for operators' own queries and health checks.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Close every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
