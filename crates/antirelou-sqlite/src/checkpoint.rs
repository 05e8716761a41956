//! WAL checkpoints on a thread of their own, off the writer's path.
//!
//! SQLite checkpoints the WAL (copies its pages into the database file, then syncs it) on the
//! connection whose commit pushed the WAL past `wal_autocheckpoint` pages: the writer, which
//! then holds the write lock while it copies thousands of pages. Under a steady write load that
//! is a stall every few hundred milliseconds, and every webhook in flight waits for it (at 256
//! connections the p99 latency of a round fell from 39–52 ms to 29–32 ms when no checkpoint ran
//! at all).
//!
//! A [`Checkpointer`] runs `PRAGMA wal_checkpoint(PASSIVE)` from its own connection whenever the
//! WAL file is larger than the threshold. A passive checkpoint never blocks the writer (nor is
//! blocked by it): it copies the frames no reader needs, and the writer starts the WAL over at
//! its next transaction once everything has been copied. The writer keeps its own
//! `wal_autocheckpoint` at four times the threshold, so the WAL stays bounded even if this
//! thread falls behind.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How often the WAL's size is looked at.
const PERIOD: Duration = Duration::from_millis(50);

/// A thread checkpointing one database's WAL; stops when dropped or [`Checkpointer::stop`]ped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Start checkpointing `db` whenever its WAL holds more than `pages` pages of
    /// `page_size` bytes. Fails if the database cannot be opened or the thread started.
    pub(crate) fn start(db: &Path, pages: u32, busy: Duration) -> std::io::Result<Checkpointer> {
        let conn = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|c| {
            c.busy_timeout(busy)?;
            // Never checkpoint on this connection's own (nonexistent) commits.
            c.pragma_update(None, "wal_autocheckpoint", 0)?;
            Ok(c)
        })
        .map_err(std::io::Error::other)?;
        let page_size: i64 = conn
            .pragma_query_value(None, "page_size", |r| r.get(0))
            .map_err(std::io::Error::other)?;
        let limit = u64::from(pages).saturating_mul(u64::try_from(page_size).unwrap_or(4096));
        let wal = crate::wal_path(db);
        let (stop, stopped) = mpsc::channel();
        std::thread::Builder::new()
            .name("antirelou-sqlite-checkpoint".into())
            .spawn(move || run(&conn, &wal, limit, &stopped))?;
        Ok(Checkpointer { stop })
    }

    /// Stop the thread (it finishes a checkpoint in progress first).
    pub(crate) fn stop(&self) {
        let _ = self.stop.send(());
    }
}

fn run(conn: &Connection, wal: &Path, limit: u64, stopped: &mpsc::Receiver<()>) {
    loop {
        match stopped.recv_timeout(PERIOD) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let size = std::fs::metadata(wal).map_or(0, |m| m.len());
        if size <= limit {
            continue;
        }
        // (busy, frames in the WAL, frames checkpointed)
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        }) {
            Ok((_, log, done)) => {
                tracing::trace!(log, done, "sqlite: background WAL checkpoint");
            }
            Err(e) => tracing::debug!(error = %e, "sqlite: background WAL checkpoint failed"),
        }
    }
}
