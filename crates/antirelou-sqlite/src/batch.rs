//! Group commit, the SQLite store's one write mode: the writes of the webhook path, from many
//! concurrent callers, committed together in one transaction (one `fsync`).
//!
//! The writes an inbound text makes (`admit_text`, `incr`, `try_begin_lesson`,
//! `record_contact`, `schedule`, `schedule_lesson`, `set_opted_out`, `cancel_pending`) are sent
//! to one task ([`Batcher`]). That task takes every write waiting and, on the writer
//! connection, inside one `BEGIN IMMEDIATE` transaction:
//!
//! 1. resolves the texts' admissions ([`crate::admit`]): their reads (opted out? key stored?
//!    sender's record?) for the whole batch in one statement, on the writer's warm page cache,
//!    then each text's policy verdict, which turns it into its writes;
//! 2. runs every write as one multi-statement script ([`crate::writers`]), one round trip to
//!    the connection's thread, ending in `COMMIT`; if a statement of it fails, the batch is
//!    rolled back and run again one write at a time ([`crate::statements`]), so that each
//!    caller gets its own result;
//! 3. answers each caller once the commit holding its write is durable.
//!
//! So:
//!
//! * **durability is that of a single write**: a call returns `Ok` only after the commit that
//!   holds its effect (with [`Durability::Full`](crate::Durability::Full), after the `fsync` of
//!   the WAL, which by default is made just after the commit, outside the write lock, while
//!   the next batch commits: [`WalSync::Pipelined`]);
//! * **atomicity is that of a single write**: two writes of one batch see each other as they
//!   would in sequence; if the commit fails, every caller of the batch gets the error and
//!   nothing of the batch is stored;
//! * **throughput**: while one batch commits, the next one fills, so under load the cost of a
//!   commit is shared by every request that arrived meanwhile;
//! * **counters** are statistics: `incr` adds to sums kept in memory, which the next batch
//!   takes and commits, and returns without waiting for that commit (so the webhook path
//!   waits for one commit: `admit_text`). A crash may lose the last increments; `counters`
//!   first waits for every increment queued before it, so a read always sees the increments
//!   made before it.
//!
//! The other writes (claims, leases, the spend ledger, purges) keep their own transactions;
//! they take the writer connection between two batches. The group-commit writer keeps the
//! connection from one batch to the next while its queue is not empty, for at most [`HOLD`],
//! so those writes wait at most that long plus one batch.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use antirelou_core::store::TextAdmission;
use antirelou_core::{Error, Result};
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::admit::{Resolution, resolve_admissions};
use crate::checkpoint::TailRequest;
use crate::error::db_err;
use crate::op::{Done, Op, unexpected};
use crate::script::ScriptLog;
use crate::statements;
use crate::writers::run_script;

/// Most writes in one transaction (a script binds at most 12 parameters per write, and SQLite
/// takes at most 32,766).
const MAX_BATCH: usize = 1024;

type Job = (Op, oneshot::Sender<Result<Done>>);

/// The handle callers send their writes through. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Batcher {
    tx: mpsc::UnboundedSender<Job>,
    /// Counter increments not yet taken by a batch, summed per name.
    counters: Arc<Mutex<HashMap<String, u64>>>,
    /// What the writer's scripts did (read by tests).
    #[cfg_attr(not(test), allow(dead_code))]
    log: Arc<ScriptLog>,
}

fn stopped() -> Error {
    Error::Storage {
        message: "sqlite: the group-commit writer has stopped (store closed)".into(),
        transient: true,
    }
}

impl Batcher {
    /// Start the writer on a thread of its own, running a single-threaded tokio runtime. It
    /// stops when every handle is dropped.
    ///
    /// Not a task of the caller's runtime: a batch makes several round trips to the
    /// connection's thread, and each answer wakes the writer from outside the runtime; on a
    /// busy runtime such a wake-up waits in the global queue behind the webhooks' tasks (about
    /// half a millisecond each, measured), several times per batch, while the batch holds the
    /// write lock. On its own runtime the writer is polled at once.
    ///
    /// With `tail` (the background checkpointer's requests), it copies the WAL's last frames
    /// between two batches when asked, so that the WAL starts over under a steady load
    /// ([`crate::checkpoint`]).
    pub(crate) fn start(
        writer: SqlitePool,
        sync: WalSync,
        tail: Option<Arc<TailRequest>>,
    ) -> std::io::Result<Batcher> {
        let (tx, rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Mutex::new(HashMap::new()));
        let taken = Arc::clone(&counters);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("antirelou-sqlite-sync")
            .build()?;
        let log = Arc::new(ScriptLog::default());
        let written = Arc::clone(&log);
        std::thread::Builder::new()
            .name("antirelou-sqlite-writer".into())
            .spawn(move || runtime.block_on(run(writer, rx, sync, taken, tail, written)))?;
        Ok(Batcher { tx, counters, log })
    }

    /// Add `by` to counter `name` with the next batch, without waiting for its commit
    /// (statistics, which a crash may lose the last of). Increments are summed in memory until
    /// a batch takes them (a message wakes the writer only when the sums were empty); a later
    /// [`Op::Barrier`] is committed with or after them.
    pub(crate) fn add_counter(&self, name: &str, by: u64) -> Result<()> {
        let was_empty = {
            let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
            let was_empty = counters.is_empty();
            match counters.get_mut(name) {
                Some(v) => *v = v.saturating_add(by),
                None => {
                    counters.insert(name.to_owned(), by);
                }
            }
            was_empty
        };
        if was_empty {
            self.enqueue(Op::Barrier)?;
        }
        Ok(())
    }

    /// Queue `op` without waiting for its commit (counter increments: statistics, which a
    /// crash may lose the last of). A later [`Op::Barrier`] waits for it.
    pub(crate) fn enqueue(&self, op: Op) -> Result<()> {
        let (done_tx, _) = oneshot::channel();
        self.tx.send((op, done_tx)).map_err(|_| stopped())
    }

    /// What the writer's scripts did.
    #[cfg(test)]
    pub(crate) fn log(&self) -> &ScriptLog {
        &self.log
    }

    /// Queue `op` and wait until the transaction holding it is committed.
    pub(crate) async fn submit(&self, op: Op) -> Result<Done> {
        let (done_tx, done_rx) = oneshot::channel();
        self.tx.send((op, done_tx)).map_err(|_| stopped())?;
        done_rx.await.map_err(|_| stopped())?
    }
}

/// When a batch's callers are told that their writes are durable.
#[derive(Clone, Debug)]
pub(crate) enum WalSync {
    /// At commit: the connection's own `synchronous` setting decides (`FULL` syncs the WAL
    /// inside `COMMIT`, `NORMAL` does not sync).
    AtCommit,
    /// After an `fdatasync` of this WAL file, made by another task while the writer goes on
    /// with the next batch (see [`run`]).
    Pipelined(PathBuf),
}

/// A caller and the result it gets once its batch is durable.
type Answer = (oneshot::Sender<Result<Done>>, Result<Done>);

/// Answer the callers of committed batches once the WAL file is synced: one `fdatasync` for
/// every batch committed before it, on a blocking thread, while the writer commits the next.
async fn sync_then_answer(wal: PathBuf, mut rx: mpsc::UnboundedReceiver<Vec<Answer>>) {
    let mut pending: Vec<Answer> = Vec::new();
    while let Some(first) = rx.recv().await {
        pending.extend(first);
        while let Ok(more) = rx.try_recv() {
            pending.extend(more);
        }
        let path = wal.clone();
        let synced = tokio::task::spawn_blocking(move || {
            std::fs::File::open(&path).and_then(|f| f.sync_data())
        })
        .await;
        let failure = match synced {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(m) = &failure {
            tracing::error!(error = %m, writes = pending.len(), "sqlite: syncing the WAL failed; the batch's writes are refused");
        }
        for (reply, result) in pending.drain(..) {
            let result = match &failure {
                None => result,
                Some(m) => result.and(Err(Error::Storage {
                    message: format!(
                        "sqlite: the WAL could not be synced ({m}); the write is stored but may not survive a power loss"
                    ),
                    transient: true,
                })),
            };
            let _ = reply.send(result);
        }
    }
}

/// The writer loop. With [`WalSync::Pipelined`], each batch commits at `synchronous=NORMAL`
/// (its frames are written to the WAL, not synced) and its callers are handed to
/// [`sync_then_answer`], which answers them after the next `fdatasync` of the WAL, while this
/// loop already commits the next batch: the sync leaves the commit cycle. That is how
/// `synchronous=FULL` makes a WAL commit durable (write the frames, then sync the WAL file),
/// done outside the write lock; SQLite itself still syncs the WAL before a checkpoint and the
/// database after one, and the WAL header when the file starts being reused. A write is
/// visible to readers from its commit, a few milliseconds before its caller is answered.
async fn run(
    writer: SqlitePool,
    mut rx: mpsc::UnboundedReceiver<Job>,
    sync: WalSync,
    counters: Arc<Mutex<HashMap<String, u64>>>,
    tail: Option<Arc<TailRequest>>,
    log: Arc<ScriptLog>,
) {
    let syncer = match sync {
        WalSync::AtCommit => None,
        WalSync::Pipelined(wal) => {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(sync_then_answer(wal, rx));
            Some(tx)
        }
    };
    let pipelined = syncer.is_some();
    let mut jobs: Vec<Job> = Vec::with_capacity(64);
    let mut held: Option<Held> = None;
    loop {
        // Keep the connection while batches follow each other; give it back to the other
        // writes as soon as the queue is empty, or after `HOLD`.
        let first = match rx.try_recv() {
            Ok(job) => job,
            Err(mpsc::error::TryRecvError::Empty) => {
                if let Some(h) = held.take() {
                    h.release().await;
                }
                match rx.recv().await {
                    Some(job) => job,
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        if held.as_ref().is_some_and(|h| h.since.elapsed() >= HOLD)
            && let Some(h) = held.take()
        {
            h.release().await;
        }
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        // Remember how each caller's result is put together: a text's admission is resolved
        // into its writes inside the transaction.
        let mut ops: Vec<Op> = Vec::with_capacity(jobs.len());
        let mut callers: Vec<(oneshot::Sender<Result<Done>>, Shape)> =
            Vec::with_capacity(jobs.len());
        for (op, reply) in jobs.drain(..) {
            let shape = if matches!(op, Op::Admit(_)) {
                Shape::Admit
            } else {
                Shape::One
            };
            ops.push(op);
            callers.push((reply, shape));
        }
        // The counter increments summed since the last batch, after every caller's op (their
        // results are not read).
        let sums = std::mem::take(&mut *counters.lock().unwrap_or_else(PoisonError::into_inner));
        ops.extend(sums.into_iter().map(|(name, by)| Op::Incr { name, by }));
        let connection = match held.take() {
            Some(h) => Ok(h),
            None => Held::acquire(&writer, pipelined).await,
        };
        let results = match connection {
            Ok(mut h) => {
                if tail.as_ref().is_some_and(|t| t.take())
                    && let Ok(conn) = h.conn()
                {
                    copy_wal_tail(conn).await;
                }
                let results = match h.conn() {
                    Ok(conn) => commit_on(conn, ops, &log).await,
                    Err(e) => Err(e),
                };
                if results.is_ok() {
                    held = Some(h);
                } else {
                    // A failed batch may have left the connection in a state its pool does
                    // not know of (SQLite rolls a transaction back by itself after some
                    // errors, and the `OR ROLLBACK` statements): open a new one.
                    h.discard().await;
                }
                results
            }
            Err(e) => Err(e),
        };
        let mut answers: Vec<Answer> = Vec::with_capacity(callers.len());
        match results {
            Ok((resolutions, results)) => {
                let mut results = results.into_iter();
                let mut resolutions = resolutions.into_iter();
                for (reply, shape) in callers {
                    let result = gather(shape, &mut results, &mut resolutions);
                    answers.push((reply, result));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, writes = callers.len(), "group commit failed; every write of the batch is refused");
                let transient = e.is_transient();
                let message = e.to_string();
                for (reply, _) in callers {
                    answers.push((
                        reply,
                        Err(Error::Storage {
                            message: message.clone(),
                            transient,
                        }),
                    ));
                }
            }
        }
        match &syncer {
            Some(syncer) => {
                if let Err(mpsc::error::SendError(answers)) = syncer.send(answers) {
                    for (reply, _) in answers {
                        let _ = reply.send(Err(stopped()));
                    }
                }
            }
            None => {
                for (reply, result) in answers {
                    let _ = reply.send(result);
                }
            }
        }
    }
    if let Some(h) = held.take() {
        h.release().await;
    }
}

/// Copy the WAL's last frames into the database (the background checkpointer copied the
/// rest), outside a transaction: nothing is appended meanwhile, so the next transaction starts
/// the WAL over. A failure only means that the WAL goes on growing for now.
async fn copy_wal_tail(conn: &mut sqlx::SqliteConnection) {
    match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(conn)
        .await
    {
        Ok((_, log, done)) => tracing::trace!(log, done, "sqlite: WAL tail checkpointed"),
        Err(e) => tracing::debug!(error = %e, "sqlite: checkpointing the WAL's tail failed"),
    }
}

/// Longest time the writer keeps its connection across consecutive batches: the other writes
/// (claims, leases, the spend ledger) wait at most about that long, plus one batch.
const HOLD: Duration = Duration::from_millis(20);

/// The writer connection, held by the group-commit writer across consecutive batches (a
/// connection taken from the pool and given back costs round trips to its thread: a ping on
/// release, a `PRAGMA` each way with the pipelined sync).
struct Held {
    /// `None` once released.
    conn: Option<PoolConnection<Sqlite>>,
    /// Whether the connection is at `synchronous=NORMAL` (the pipelined sync).
    at_normal: bool,
    since: Instant,
}

impl Held {
    /// Take the single writer connection; with the pipelined sync, set it to
    /// `synchronous=NORMAL` (nothing else may run on it until [`Held::release`]).
    async fn acquire(writer: &SqlitePool, pipelined: bool) -> Result<Held> {
        let mut held = Held {
            conn: Some(writer.acquire().await.map_err(db_err)?),
            at_normal: pipelined,
            since: Instant::now(),
        };
        if pipelined {
            sqlx::query("PRAGMA synchronous = NORMAL")
                .execute(held.conn()?)
                .await
                .map_err(db_err)?;
        }
        Ok(held)
    }

    fn conn(&mut self) -> Result<&mut sqlx::SqliteConnection> {
        match self.conn.as_mut() {
            Some(c) => Ok(&mut **c),
            None => Err(unexpected("a released writer connection")),
        }
    }

    /// Give the connection back to the pool, at `synchronous=FULL` again with the pipelined
    /// sync.
    async fn release(mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if self.at_normal
            && let Err(e) = sqlx::query("PRAGMA synchronous = FULL")
                .execute(&mut *conn)
                .await
        {
            // Never hand a connection left at NORMAL to the other writes: close it (the pool
            // opens a new one, at the configured FULL).
            tracing::error!(error = %e, "sqlite: could not restore synchronous=FULL; closing the writer connection");
            let _ = conn.close().await;
        }
    }

    /// Close the connection (the pool opens a new one).
    async fn discard(mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
    }
}

impl Drop for Held {
    /// Dropped without [`Held::release`] (the writer task stopped mid-batch): a connection that
    /// may be at `synchronous=NORMAL` is closed, never given back to the pool.
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut()
            && self.at_normal
        {
            conn.close_on_drop();
        }
    }
}

/// A caller's answer, from the next results of the batch (and, for an admission, its next
/// resolution): as many as its `shape` made ops.
fn gather(
    shape: Shape,
    results: &mut impl Iterator<Item = Result<Done>>,
    resolutions: &mut impl Iterator<Item = Resolution>,
) -> Result<Done> {
    match shape {
        Shape::One => results
            .next()
            .unwrap_or_else(|| Err(unexpected("an op of the batch"))),
        Shape::Admit => match resolutions.next() {
            Some(Resolution::Answered(a)) => Ok(Done::Admitted(a)),
            Some(Resolution::Denied(reason)) => match results.next() {
                Some(Ok(Done::Contact(_))) => Ok(Done::Admitted(TextAdmission::Denied(reason))),
                Some(Err(e)) => Err(e),
                _ => Err(unexpected("admit_text (denied)")),
            },
            Some(Resolution::Allowed) => match (results.next(), results.next()) {
                (Some(Ok(Done::Contact(previous))), Some(Ok(Done::Lesson(schedule)))) => {
                    Ok(Done::Admitted(TextAdmission::Decided {
                        previous,
                        schedule,
                    }))
                }
                (Some(Err(e)), _) | (_, Some(Err(e))) => Err(e),
                _ => Err(unexpected("admit_text")),
            },
            Some(Resolution::Panicked) => Err(Error::Storage {
                message: "sqlite: the abuse policy panicked deciding on this text".into(),
                transient: false,
            }),
            None => Err(unexpected("admit_text (unresolved)")),
        },
    }
}

/// How many results of the batch a caller gets back, and how they are put together.
enum Shape {
    /// One op, one result.
    One,
    /// `Admit`: the next resolution, and as many results as it made ops.
    Admit,
}

/// Run every op in one transaction: first the texts' admissions are resolved (their reads and
/// policy verdicts, in the transaction), then the writes run as one multi-statement script (one
/// round trip to the connection's thread for the whole batch), and, if any statement of it
/// fails, again one statement at a time so that each op gets its own result. Returns the
/// admissions' resolutions, in order, and the results of the ops they and the other jobs made.
async fn commit_on(
    conn: &mut sqlx::SqliteConnection,
    ops: Vec<Op>,
    log: &ScriptLog,
) -> Result<(Vec<Resolution>, Vec<Result<Done>>)> {
    // `BEGIN` travels with the batch's first statement and `COMMIT` with its last: two round
    // trips to the connection's thread fewer per batch. sqlx does not know of this
    // transaction; every path below ends it (`COMMIT` or `ROLLBACK`) or fails, and the writer
    // closes the connection of a failed batch.
    let (ops, resolutions, known, begun) = match resolve_admissions(conn, ops, log).await {
        Ok(resolved) => resolved,
        Err(e) => {
            rollback(conn).await;
            return Err(e);
        }
    };
    // Each policy verdict is asked once: if the script fails, the writes the admissions made
    // are run again one at a time, as they are.
    match run_script(conn, &ops, known, !begun, log).await {
        Ok(results) => return Ok((resolutions, results.into_iter().map(Ok).collect())),
        Err(e) => {
            log.script_failed();
            tracing::warn!(error = %e, "batch script failed; running the batch one write at a time");
            rollback(conn).await;
        }
    }
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let results = match run_one_by_one(conn, ops.iter()).await {
        Ok(results) => results,
        Err(e) => {
            rollback(conn).await;
            return Err(e);
        }
    };
    if let Err(e) = sqlx::raw_sql("COMMIT").execute(&mut *conn).await {
        rollback(conn).await;
        return Err(db_err(e));
    }
    Ok((resolutions, results))
}

/// End the batch's transaction, if it is still open. Its error is not reported: SQLite may
/// have rolled the transaction back by itself (after an `OR ROLLBACK` conflict or some I/O
/// errors), and a connection left in a transaction fails its next `BEGIN`.
async fn rollback(conn: &mut sqlx::SqliteConnection) {
    if let Err(e) = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await {
        tracing::debug!(error = %e, "sqlite: ROLLBACK of a failed batch");
    }
}

/// The batch one statement at a time (after a script failed): each op gets its own result.
async fn run_one_by_one<'a>(
    tx: &mut sqlx::SqliteConnection,
    ops: impl Iterator<Item = &'a Op>,
) -> Result<Vec<Result<Done>>> {
    let mut results = Vec::new();
    // Counter increments are summed and written once per name, after the other writes.
    let mut counters: BTreeMap<&str, u64> = BTreeMap::new();
    for op in ops {
        let r = match op {
            Op::Incr { name, by } => {
                let e = counters.entry(name.as_str()).or_insert(0);
                *e = e.saturating_add(*by);
                Ok(Done::Unit)
            }
            Op::Barrier => Ok(Done::Unit),
            Op::Admit(_) => Err(unexpected("an unresolved admission")),
            Op::BeginLesson {
                sender,
                window,
                now,
            } => statements::try_begin_lesson(tx, sender, *window, *now)
                .await
                .map(Done::Bool),
            Op::RecordContact { sender, now } => statements::record_contact(tx, sender, *now)
                .await
                .map(Done::Contact),
            Op::Schedule { reply, now } => statements::schedule(tx, reply.clone(), *now)
                .await
                .map(Done::Scheduled),
            Op::ScheduleLesson { reply, window, now } => {
                statements::schedule_lesson(tx, reply.clone(), *window, *now)
                    .await
                    .map(Done::Lesson)
            }
            Op::SetOptedOut {
                sender,
                opted_out,
                now,
            } => statements::set_opted_out(tx, sender, *opted_out, *now)
                .await
                .map(|()| Done::Unit),
            Op::CancelPending {
                sender,
                reason,
                now,
            } => statements::cancel_pending(tx, sender, reason, *now)
                .await
                .map(Done::Count),
        };
        results.push(r);
    }
    for (name, by) in counters {
        statements::incr(tx, name, by).await?;
    }
    Ok(results)
}
