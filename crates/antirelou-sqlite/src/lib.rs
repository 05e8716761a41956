//! # antirelou-sqlite
//!
//! The embedded default storage backend of antirelou: one SQLite file holds the durable reply
//! queue, the sender history, opt-outs, the spend ledger and counters. [`SqliteStore`]
//! implements every storage trait of [`antirelou_core::store`] (hence
//! [`Store`](antirelou_core::store::Store)) and passes the core's conformance suite.
//!
//! * **One file, WAL mode**: readers never block the writer; the schema is created and upgraded
//!   by migrations embedded in the crate ([`SqliteStore::open`] applies them).
//! * **Durable**: by default every commit is `fsync`ed (`synchronous=FULL`, see [`Durability`]):
//!   a reply that `schedule` acknowledged survives a process kill, an OS crash and a power
//!   loss, so the webhook may answer the provider as soon as `schedule` returns. (The WAL of a
//!   group-commit batch is synced just after its commit instead of inside it, and its callers
//!   answered after that sync: see [`SqliteConfig::pipelined_sync`].)
//! * **Group commit**: the writes of the webhook path from concurrent callers are committed
//!   together, one transaction and one `fsync` per batch, each caller answered after the
//!   commit that holds its write (the one write mode; durability and atomicity are those of a
//!   single write).
//! * **Safe with several workers in one process**: SQLite allows one writer at a time, so all
//!   writes go through a single writer connection (claims, reservations and lesson slots are
//!   single atomic statements or `BEGIN IMMEDIATE` transactions on it, the webhook path's
//!   writes group-commit batches), while reads use a pool of read-only connections. Several processes may also open the same file (the busy timeout
//!   serialises them), but for several *servers* use `antirelou-postgres`.
//! * **Crash recovery without an operator**: a claim whose worker died is taken again by the
//!   next `claim_due` once its lease ends, with a higher attempt number that fences the dead
//!   worker. Terminal replies lose their plain recipient number at once and are deleted by
//!   [`ReplyQueue::purge`](antirelou_core::store::ReplyQueue::purge) after the retention period.
//!
//! ```
//! use antirelou_core::store::{NewReply, ReplyKind, ReplyQueue};
//! use antirelou_core::privacy::SenderHash;
//! use antirelou_core::{PhoneNumber, Timestamp};
//! use antirelou_sqlite::SqliteStore;
//! use std::time::Duration;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("antirelou-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let store = SqliteStore::open(dir.join("antirelou.db")).await.unwrap();
//! let now = Timestamp::from_secs(1_509_364_800);
//! let id = store
//!     .schedule(
//!         NewReply {
//!             idempotency_key: "twilio:SM1:lesson".into(),
//!             number: PhoneNumber::parse("+33757000000").unwrap(),
//!             recipient: PhoneNumber::parse("+33612345678").unwrap(),
//!             sender: SenderHash([1; 16]),
//!             kind: ReplyKind::Lesson,
//!             due_at: now.add(Duration::from_secs(3600)),
//!             expires_at: now.add(Duration::from_secs(6 * 3600)),
//!         },
//!         now,
//!     )
//!     .await
//!     .unwrap()
//!     .id();
//! let later = now.add(Duration::from_secs(3600));
//! let claimed = store.claim_due(later, Duration::from_secs(30), 10).await.unwrap();
//! assert_eq!(claimed[0].token.id, id);
//! store.complete(claimed[0].token, "SM-out", later).await.unwrap();
//! assert_eq!(store.get(id).await.unwrap().unwrap().recipient, None); // erased once sent
//! store.close().await;
//! std::fs::remove_dir_all(&dir).unwrap();
//! # });
//! ```
#![deny(missing_docs)]

// Layered one way: `store` (the trait impls) → `batch` (the group-commit writer) → `admit` (a
// text's reads in the batch) and `writers` (the batch's statements) → `script` (a batch as one
// multi-statement script) → `statements` (single writes), `op` (the writes as data).
mod admit;
mod batch;
mod checkpoint;
mod error;
mod op;
mod script;
mod statements;
mod store;
mod writers;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use error::SqliteError;

/// The migrations embedded in the crate, applied by [`SqliteStore::open`].
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How hard each commit is pushed to disk.
///
/// Both levels survive a process crash or `SIGKILL`: a commit that returned is in the OS's page
/// cache, which outlives the process. They differ on a power loss or kernel crash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// `synchronous=FULL` (the default): the WAL is `fsync`ed at every commit (for group-commit
    /// batches, just after it: [`SqliteConfig::pipelined_sync`]), so a write that returned also
    /// survives a power loss. This is what lets the webhook acknowledge a text as
    /// soon as its reply is scheduled.
    #[default]
    Full,
    /// `synchronous=NORMAL`: the WAL is `fsync`ed only at checkpoints. Faster, still safe against
    /// a process crash, but a power loss may lose the last commits (the database stays
    /// consistent).
    Normal,
}

/// How to open a database.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// Commit durability; [`Durability::Full`] by default.
    pub durability: Durability,
    /// How long a statement waits for another process's write lock before failing with a
    /// transient error; 5 s by default.
    pub busy_timeout: Duration,
    /// How many read-only connections to keep for reads; 4 by default.
    pub readers: u32,
    /// Page cache of each connection, in KiB (SQLite's default: 2,000). A writer that touches
    /// many random-keyed index pages per commit (a flood of new senders) gains from more.
    pub cache_kib: u32,
    /// Pages the WAL may grow to before it is checkpointed into the database (SQLite's
    /// default: 1,000). More means fewer, larger checkpoints under a heavy write load.
    pub wal_autocheckpoint: u32,
    /// With [`Durability::Full`]: sync the WAL of each group-commit batch outside the write lock (on by
    /// default). Each batch commits without a sync and its callers are answered after the next
    /// `fdatasync` of the WAL file, made by another task while the next batch commits, instead
    /// of the writer waiting for the sync inside every `COMMIT`. Callers are still answered only
    /// once their writes would survive a power loss; a write becomes visible to readers a few
    /// milliseconds before its caller is answered.
    pub pipelined_sync: bool,
    /// Checkpoint the WAL on a thread of its own (on by default; file databases only): a
    /// passive checkpoint whenever the WAL holds more than [`wal_autocheckpoint`] pages, from a
    /// separate connection, instead of the writer copying the pages into the database while it
    /// holds the write lock (every webhook in flight waited for that). Under a steady load the
    /// group-commit writer copies the last few frames itself when the checkpointer asks, between
    /// two batches, so that the WAL starts over at about that size instead of growing on. The
    /// writer still checkpoints by itself at four times that size, so the WAL stays bounded.
    ///
    /// [`wal_autocheckpoint`]: SqliteConfig::wal_autocheckpoint
    pub background_checkpoint: bool,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            durability: Durability::Full,
            busy_timeout: Duration::from_secs(5),
            readers: 4,
            cache_kib: 2000,
            wal_autocheckpoint: 1000,
            pipelined_sync: true,
            background_checkpoint: true,
        }
    }
}

impl SqliteConfig {
    /// The default configuration with another durability.
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The configuration tuned for a heavy write load: a 64 MiB page cache per connection and
    /// a WAL of up to 16,384 pages between checkpoints.
    pub fn for_heavy_writes(mut self) -> Self {
        self.cache_kib = 64 * 1024;
        self.wal_autocheckpoint = 16_384;
        self
    }
}

/// The write-ahead log of the database at `db`: SQLite's `<db>-wal`.
pub(crate) fn wal_path(db: &Path) -> PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// The SQLite store: one file, every storage trait of antirelou.
///
/// Cheap to clone (clones share the connections). See the [crate documentation](crate).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// The single connection every write goes through.
    writer: SqlitePool,
    /// Read-only connections (the writer itself for an in-memory database).
    reader: SqlitePool,
    path: Option<PathBuf>,
    /// The group-commit writer, through which the webhook path's writes go.
    batcher: batch::Batcher,
    /// The WAL checkpoints, when [`SqliteConfig::background_checkpoint`] is on.
    checkpointer: Option<Arc<checkpoint::Checkpointer>>,
}

impl SqliteStore {
    /// Open (or create) the database at `path` with the default [`SqliteConfig`] and apply the
    /// embedded migrations.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, SqliteError> {
        Self::open_with(path, SqliteConfig::default()).await
    }

    /// Open (or create) the database at `path` with `config` and apply the embedded migrations.
    pub async fn open_with(
        path: impl AsRef<Path>,
        config: SqliteConfig,
    ) -> Result<Self, SqliteError> {
        let path = path.as_ref().to_path_buf();
        let open_err = |source| SqliteError::Open {
            path: path.clone(),
            source,
        };
        let base = SqliteConnectOptions::new()
            .filename(&path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match config.durability {
                Durability::Full => SqliteSynchronous::Full,
                Durability::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(config.busy_timeout)
            .foreign_keys(true)
            .pragma("cache_size", format!("-{}", config.cache_kib.max(16)))
            .pragma(
                "wal_autocheckpoint",
                if config.background_checkpoint {
                    config.wal_autocheckpoint.saturating_mul(4)
                } else {
                    config.wal_autocheckpoint
                }
                .to_string(),
            )
            // Statement journals in memory: a multi-row upsert of a group-commit batch changes
            // hundreds of pages, and SQLite keeps their old content for the statement's
            // rollback; past 64 KiB it would write them to a temporary file (a `pwrite` per
            // page, an open and close per statement).
            .pragma("temp_store", "MEMORY")
            // A plain number erased from its row must be gone from the file too: without this,
            // the old cell stays in the page's free space (and a freed page keeps its content)
            // until something happens to overwrite it. See [`SqliteStore::truncate_wal`] for
            // the copies the WAL holds.
            .pragma("secure_delete", "ON");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            // A ping before each acquire is a round trip to the connection's thread, made
            // before every group-commit batch; a local file has nothing to ping (a connection
            // whose thread died fails its next statement, and sqlx's ping when it is given
            // back closes it).
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.clone().create_if_missing(true))
            .await
            .map_err(open_err)?;
        MIGRATOR.run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(config.readers.max(1))
            .idle_timeout(Some(Duration::from_secs(600)))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.read_only(true))
            .await
            .map_err(open_err)?;
        tracing::debug!(path = %path.display(), durability = ?config.durability, "opened SQLite store");
        let sync = if config.durability == Durability::Full && config.pipelined_sync {
            batch::WalSync::Pipelined(wal_path(&path))
        } else {
            batch::WalSync::AtCommit
        };
        let background = config.background_checkpoint && config.wal_autocheckpoint > 0;
        let tail = Arc::new(checkpoint::TailRequest::default());
        let batcher = batch::Batcher::start(writer.clone(), sync, background.then(|| tail.clone()))
            .map_err(SqliteError::StartWriter)?;
        let checkpointer = if background {
            Some(Arc::new(
                checkpoint::Checkpointer::start(
                    &path,
                    config.wal_autocheckpoint,
                    config.busy_timeout,
                    tail,
                )
                .await
                .map_err(SqliteError::StartCheckpointer)?,
            ))
        } else {
            None
        };
        Ok(SqliteStore {
            writer,
            reader,
            path: Some(path),
            batcher,
            checkpointer,
        })
    }

    /// A private in-memory database (for tests and examples): one connection, gone when the
    /// store is dropped.
    pub async fn open_in_memory() -> Result<Self, SqliteError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let batcher = batch::Batcher::start(pool.clone(), batch::WalSync::AtCommit, None)
            .map_err(SqliteError::StartWriter)?;
        Ok(SqliteStore {
            writer: pool.clone(),
            reader: pool,
            path: None,
            batcher,
            checkpointer: None,
        })
    }

    /// Checkpoint the whole WAL into the database and truncate the WAL file to zero bytes.
    ///
    /// With `secure_delete` (set on every connection) an erased number is zeroed in the page
    /// that held it, but the WAL keeps the older versions of that page in its earlier frames
    /// until they are overwritten, and a passive checkpoint does not remove them. This
    /// removes them: [`ReplyQueue::purge`](antirelou_core::store::ReplyQueue::purge) calls
    /// it after deleting old replies (the reference server purges hourly), and closing the
    /// last connection deletes the WAL file. It waits up to the busy timeout for readers and
    /// the writer; when they stay busy it returns `Ok(false)` and the next call tries again.
    pub async fn truncate_wal(&self) -> Result<bool, SqliteError> {
        if self.path.is_none() {
            return Ok(true);
        }
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.writer)
            .await?;
        Ok(busy == 0)
    }

    /// The database file, `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Close every connection, waiting for running statements (and checkpointing the WAL).
    pub async fn close(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.stop();
        }
        self.reader.close().await;
        self.writer.close().await;
    }
}
