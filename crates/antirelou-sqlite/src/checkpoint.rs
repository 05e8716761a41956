//! WAL checkpoints on a thread of their own, off the writer's path.
//!
//! SQLite checkpoints the WAL (copies its pages into the database file, then syncs it) on the
//! connection whose commit pushed the WAL past `wal_autocheckpoint` pages: the writer, which
//! then holds the write lock while it copies thousands of pages. Under a steady write load that
//! is a stall every few hundred milliseconds, and every webhook in flight waits for it (the load
//! generator's p99 latency shows it: `docs/PERFORMANCE.md`).
//!
//! A [`Checkpointer`] runs `PRAGMA wal_checkpoint(PASSIVE)` from its own connection whenever the
//! WAL file is larger than the threshold. A passive checkpoint never blocks the writer (nor is
//! blocked by it): it copies the frames no reader needs, and the writer starts the WAL over at
//! its next transaction once everything has been copied (under a steady load, with the help
//! described below). The writer keeps its own
//! `wal_autocheckpoint` at four times the threshold, so the WAL stays bounded even if this
//! thread falls behind.
//!
//! # Starting the WAL over under a steady load
//! SQLite starts the WAL file over (writes new frames from its beginning) only when a write
//! transaction begins while every frame has been copied. Under a steady load that never happens
//! by itself: a passive checkpoint copies the frames present when it began, and the writer
//! appends more meanwhile, so the WAL file grew without end, every frame written to a new part
//! of the file: the kernel allocated and zeroed a page-cache page and a disk block for each (a
//! visible share of the writer connection's time in `perf`; figures in `docs/PERFORMANCE.md`). So when a pass leaves at most [`TAIL`] frames uncopied in a WAL of at least the
//! threshold, the checkpointer asks the group-commit writer ([`TailRequest`]) to copy that short
//! tail itself between two batches, when nothing is appended: its next transaction then starts
//! the WAL over, and the file is written again from its beginning, over pages the kernel
//! already holds. While a pass leaves more than the tail, the next pass starts at once (up to
//! [`CATCH_UP`] passes in a row).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteConnectOptions;

/// How often the WAL's size is looked at.
const PERIOD: Duration = Duration::from_millis(50);

/// Most frames a pass may leave uncopied, of those the WAL held when it began, for the writer
/// to be asked to copy the rest (4 MiB of 4 KiB pages; the writer also copies what was appended
/// since: a few hundred frames in the load test).
const TAIL: i64 = 1024;

/// Most passes in a row without waiting [`PERIOD`], while each leaves more than [`TAIL`].
const CATCH_UP: u32 = 4;

/// The checkpointer's request to the group-commit writer: copy the WAL's last few frames
/// between two batches, so that the next transaction starts the WAL over (see the [module
/// documentation](self)).
#[derive(Debug, Default)]
pub(crate) struct TailRequest(AtomicBool);

impl TailRequest {
    /// Ask for the tail to be copied.
    fn ask(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether the tail was asked for since the last call (the request is taken).
    pub(crate) fn take(&self) -> bool {
        self.0.load(Ordering::Relaxed) && self.0.swap(false, Ordering::Acquire)
    }
}

/// A thread checkpointing one database's WAL; stops when dropped or [`Checkpointer::stop`]ped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Start checkpointing `db` whenever its WAL holds more than `pages` pages of
    /// `page_size` bytes, asking `tail` to copy the last few frames of a WAL of at least that
    /// many. Fails if the database cannot be opened or the thread started.
    pub(crate) async fn start(
        db: &Path,
        pages: u32,
        busy: Duration,
        tail: Arc<TailRequest>,
    ) -> std::io::Result<Checkpointer> {
        let options = SqliteConnectOptions::new()
            .filename(db)
            .busy_timeout(busy)
            // Never checkpoint on this connection's own (nonexistent) commits.
            .pragma("wal_autocheckpoint", "0")
            // Like every connection of the store (see `SqliteStore::open_with`).
            .pragma("secure_delete", "ON");
        let mut conn = SqliteConnection::connect_with(&options)
            .await
            .map_err(std::io::Error::other)?;
        let (page_size,): (i64,) = sqlx::query_as("PRAGMA page_size")
            .fetch_one(&mut conn)
            .await
            .map_err(std::io::Error::other)?;
        let limit = u64::from(pages).saturating_mul(u64::try_from(page_size).unwrap_or(4096));
        let wal = crate::wal_path(db);
        let (stop, stopped) = mpsc::channel();
        // A thread of its own, waiting on `stopped` between passes: each pass is a round trip
        // to the connection's thread, awaited on a runtime of this thread, not the server's.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("antirelou-sqlite-checkpoint".into())
            .spawn(move || {
                run(
                    &runtime,
                    &mut conn,
                    &wal,
                    limit,
                    i64::from(pages),
                    &tail,
                    &stopped,
                );
                let _ = runtime.block_on(conn.close());
            })?;
        Ok(Checkpointer { stop })
    }

    /// Stop the thread (it finishes a checkpoint in progress first).
    pub(crate) fn stop(&self) {
        let _ = self.stop.send(());
    }
}

fn run(
    runtime: &tokio::runtime::Runtime,
    conn: &mut SqliteConnection,
    wal: &Path,
    limit: u64,
    pages: i64,
    tail: &TailRequest,
    stopped: &mpsc::Receiver<()>,
) {
    loop {
        match stopped.recv_timeout(PERIOD) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let size = std::fs::metadata(wal).map_or(0, |m| m.len());
        if size <= limit {
            continue;
        }
        // Passes made in a row, each leaving more than the tail.
        let mut behind = 0;
        loop {
            // (busy, frames in the WAL, frames checkpointed)
            let pass = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&mut *conn);
            match runtime.block_on(pass) {
                Ok((_, log, done)) => {
                    tracing::trace!(log, done, "sqlite: background WAL checkpoint");
                    let left = log - done;
                    if left > TAIL && behind < CATCH_UP {
                        behind += 1;
                        continue;
                    }
                    if log >= pages && left <= TAIL {
                        tail.ask();
                    }
                }
                Err(e) => tracing::debug!(error = %e, "sqlite: background WAL checkpoint failed"),
            }
            break;
        }
    }
}
