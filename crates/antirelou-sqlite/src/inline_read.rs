//! Reads on the caller's thread: the webhook path's one read, without a trip to a connection
//! thread.
//!
//! sqlx runs every SQLite connection on a thread of its own: each statement is a message to
//! that thread and an answer back, so two thread wake-ups (futex calls, context switches) for a
//! read that SQLite itself answers from its page cache in a few microseconds. On a small
//! machine serving thousands of webhooks a second, those wake-ups cost more than the read.
//!
//! An [`InlineReader`] keeps a few read-only connections (`rusqlite`, the same SQLite library
//! sqlx links) and runs a read on the calling task's thread. That blocks the runtime's worker
//! for the duration of one indexed lookup, which tokio tolerates (well under its guidance of
//! 10–100 µs between awaits); anything that could wait longer is excluded:
//!
//! * the connections are read-only and `query_only`, on a WAL database, where readers never
//!   wait for the writer;
//! * their busy timeout is short ([`BUSY_TIMEOUT`]); a read that fails for any reason (busy,
//!   I/O, a schema change) is reported so that the caller falls back to the sqlx reader pool,
//!   which waits politely.
//!
//! Only file databases get one (an in-memory database is private to its one sqlx connection).

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

/// How long an inline read waits for a lock before giving up (and falling back).
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_millis(20);

/// Connections kept between reads; more are opened under contention and closed afterwards.
const KEEP: usize = 4;

/// The inbound text's read: whether the sender opted out, and the id of the reply stored under
/// the lesson key. The reader pool runs the same statement when an inline read fails.
pub(crate) const OPTED_OUT_AND_FIND: &str = "SELECT (SELECT opted_out FROM opt_outs WHERE sender = ?1), \
     (SELECT id FROM replies WHERE idempotency_key = ?2)";

/// A small pool of read-only `rusqlite` connections used on the caller's thread.
#[derive(Debug)]
pub(crate) struct InlineReader {
    path: std::path::PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Set by [`close`](Self::close): no connection is taken or opened any more.
    closed: AtomicBool,
}

impl InlineReader {
    /// Open one connection now (so that a path that cannot be read fails here, at open time).
    pub(crate) fn open(path: &Path) -> rusqlite::Result<InlineReader> {
        let reader = InlineReader {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        };
        let first = reader.connect()?;
        reader.put(first);
        Ok(reader)
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }

    fn take(&self) -> rusqlite::Result<Connection> {
        if self.closed.load(Ordering::Acquire) {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISUSE),
                Some("the store is closed".into()),
            ));
        }
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        match idle {
            Some(c) => Ok(c),
            None => self.connect(),
        }
    }

    fn put(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEEP
            && !self.closed.load(Ordering::Acquire)
        {
            idle.push(conn);
        }
    }

    /// Close the idle connections; later reads fail (and the store's callers fall back to the
    /// reader pool, closed too).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    /// Run `read` on a pooled connection; the connection goes back to the pool whatever the
    /// outcome (a failed statement leaves a connection usable).
    fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let conn = self.take()?;
        let out = read(&conn);
        self.put(conn);
        out
    }

    /// `(opted out, id of the reply stored under idempotency_key)`, ids as stored.
    pub(crate) fn opted_out_and_find_by_key(
        &self,
        sender: &[u8],
        idempotency_key: &str,
    ) -> rusqlite::Result<(Option<bool>, Option<i64>)> {
        self.with(|c| {
            let mut st = c.prepare_cached(OPTED_OUT_AND_FIND)?;
            st.query_row((sender, idempotency_key), |row| {
                Ok((
                    row.get::<_, Option<bool>>(0)?,
                    row.get::<_, Option<i64>>(1)?,
                ))
            })
            .optional()
            .map(Option::unwrap_or_default)
        })
    }
}
