//! Group commit: the writes of the webhook path, from many concurrent callers, committed
//! together in one transaction (one `fsync`).
//!
//! With [`SqliteConfig::group_commit`](crate::SqliteConfig::group_commit) on, the writes an
//! inbound text makes (`incr`, `try_begin_lesson`, `record_contact`, `schedule`,
//! `schedule_lesson`, `set_opted_out`, `cancel_pending`) are sent to one task. That task takes every write waiting,
//! runs them in order on the writer connection inside one `BEGIN IMMEDIATE` transaction,
//! commits, and only then answers each caller. So:
//!
//! * **durability is unchanged**: a call returns `Ok` only after the commit that holds its
//!   effect (with [`Durability::Full`](crate::Durability::Full), after the `fsync` of the WAL,
//!   which by default is made just after the commit, outside the write lock, while the next
//!   batch commits: [`WalSync::Pipelined`]);
//! * **atomicity is unchanged**: each write is one statement (or, for `record_contact` and
//!   `schedule`, a read and a write with nothing in between) on the single writer connection,
//!   and two writes of one batch see each other as they would in sequence; if the commit
//!   fails, every caller of the batch gets the error and nothing of the batch is stored;
//! * **throughput**: while one batch commits, the next one fills, so under load the cost of a
//!   commit is shared by every request that arrived meanwhile. A batch runs as one
//!   multi-statement script (one round trip to the connection's thread), and its counter
//!   increments are summed into one statement per counter. Its lists are padded with NULL
//!   rows to a power of two ([`padded_len`]), so that a steady load runs the same few texts,
//!   which the connection keeps prepared, instead of parsing a new one for every batch;
//! * **counters** are statistics: `incr` adds to sums kept in memory, which the next batch
//!   takes and commits, and returns without waiting for that commit
//!   (so the webhook path waits for one commit: `admit_text` is one job, its reads and writes
//!   answered together once committed, as `record_contact_and_schedule_lesson` is for its two
//!   writes, the contact first). A crash may lose the last
//!   increments; `counters` first waits for every increment queued before it, so a read
//!   always sees the increments made before it.
//!
//! The other writes (claims, leases, the spend ledger) keep their own transactions; they take
//! the writer connection between two batches. The group-commit writer keeps the connection
//! from one batch to the next while its queue is not empty, for at most [`HOLD`], so those
//! writes wait at most that long plus one batch.
//!
//! A text's whole admission (`Store::admit_text`) is one op too: its reads (opted out? key
//! stored? lesson slot?) are made for the whole batch in one statement at the start of the
//! transaction, on the writer's warm page cache ([`crate::admit`]), and what they learnt is not
//! read again by the script.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use antirelou_core::privacy::SenderHash;
use antirelou_core::store::{
    LessonSchedule, NewReply, ScheduleOutcome, SenderRecord, TextAdmission,
};
use antirelou_core::{Error, Result, Timestamp};
use sqlx::Row as _;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteRow;
use sqlx::{Sqlite, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::admit::{Admission, Known, Resolution, resolve_admissions};
use crate::checkpoint::TailRequest;
use crate::error::{bind_err, db_err};
use crate::store;

/// Most writes in one transaction (a script binds at most 12 parameters per write, and SQLite
/// takes at most 32,766).
const MAX_BATCH: usize = 1024;

/// The rows a `VALUES` or `IN` list of `n` items is written with: `n` rounded up to a power of
/// two, the rows past `n` all NULL. A steady load then makes a few distinct scripts, which the
/// writer connection keeps prepared (`persistent`), instead of a new text to parse and plan for
/// every batch (the reference server's load generator, five alternated pairs: 25,500 against
/// 23,200 webhooks/s on average, every pair in favour of the padding). No statement
/// stores or matches a NULL row: the inserts take their rows `WHERE column1 IS NOT NULL`, and a
/// NULL equals nothing in a join, an `UPDATE … FROM` or an `IN` list.
pub(crate) fn padded_len(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

/// The SQL of a sender's list of live replies (`senders.live_replies`, a JSON array of ids)
/// with the reply `id` added: the SQL expression `list`, kept to the ids whose replies are
/// still pending or claimed (the others can no longer be cancelled), then `id`.
fn list_with(list: &str, id: &str) -> String {
    format!(
        "CASE WHEN {list} IS NULL THEN json_array({id}) ELSE (\
         SELECT json_group_array(x) FROM (\
         SELECT r.id AS x FROM json_each({list}) AS j JOIN replies AS r ON r.id = j.value \
         WHERE r.state IN ('pending', 'claimed') UNION ALL SELECT {id})) END"
    )
}

/// One write of the webhook path.
#[derive(Debug)]
pub(crate) enum Op {
    Incr {
        name: String,
        by: u64,
    },
    BeginLesson {
        sender: SenderHash,
        window: Duration,
        now: Timestamp,
    },
    RecordContact {
        sender: SenderHash,
        now: Timestamp,
    },
    Schedule {
        reply: NewReply,
        now: Timestamp,
    },
    ScheduleLesson {
        reply: NewReply,
        window: Duration,
        now: Timestamp,
    },
    SetOptedOut {
        sender: SenderHash,
        opted_out: bool,
        now: Timestamp,
    },
    CancelPending {
        sender: SenderHash,
        reason: String,
        now: Timestamp,
    },
    /// `RecordContact` of `reply.sender` then `ScheduleLesson`, answered together (split into
    /// those two ops before the batch runs).
    ContactLesson {
        reply: NewReply,
        window: Duration,
        now: Timestamp,
    },
    /// A whole inbound text (`Store::admit_text`): resolved at the start of its batch's
    /// transaction ([`crate::admit`]) into no write, `RecordContact`, or `RecordContact` then
    /// `ScheduleLesson`, answered together.
    Admit(Admission),
    /// Nothing: answered once every write queued before it is committed.
    Barrier,
}

/// The result of one [`Op`].
#[derive(Debug)]
pub(crate) enum Done {
    Unit,
    Bool(bool),
    Contact(Option<SenderRecord>),
    Scheduled(ScheduleOutcome),
    Lesson(LessonSchedule),
    Count(u64),
    ContactLesson(Option<SenderRecord>, LessonSchedule),
    Admitted(TextAdmission),
}

type Job = (Op, oneshot::Sender<Result<Done>>);

/// What the writer's scripts did, for tests: how many failed (and ran again one write at a
/// time) and every distinct text prepared. Outside tests it records nothing (its calls are
/// empty).
#[derive(Debug, Default)]
pub(crate) struct ScriptLog {
    #[cfg(test)]
    failed: std::sync::atomic::AtomicU64,
    #[cfg(test)]
    texts: Mutex<std::collections::HashSet<String>>,
}

impl ScriptLog {
    /// A statement text about to run on the writer connection.
    #[cfg_attr(not(test), allow(clippy::unused_self))]
    pub(crate) fn ran(&self, _sql: &str) {
        #[cfg(test)]
        self.texts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(_sql.to_owned());
    }

    /// A batch script failed.
    #[cfg_attr(not(test), allow(clippy::unused_self))]
    fn script_failed(&self) {
        #[cfg(test)]
        self.failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Batch scripts that failed so far.
    #[cfg(test)]
    pub(crate) fn failed(&self) -> u64 {
        self.failed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The distinct statement texts run so far.
    #[cfg(test)]
    pub(crate) fn texts(&self) -> std::collections::HashSet<String> {
        self.texts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

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

/// A reply of the wrong shape: a bug, reported as a permanent error rather than a panic.
pub(crate) fn unexpected(what: &str) -> Error {
    Error::storage_permanent(format!("sqlite group commit: unexpected result for {what}"))
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
        // Split the combined ops into their two writes (in order), remembering how many
        // results each caller gets back. A text's admission is split inside the transaction.
        let mut ops: Vec<Op> = Vec::with_capacity(jobs.len() + jobs.len() / 2);
        let mut callers: Vec<(oneshot::Sender<Result<Done>>, Shape)> =
            Vec::with_capacity(jobs.len());
        for (op, reply) in jobs.drain(..) {
            match op {
                Op::ContactLesson {
                    reply: r,
                    window,
                    now,
                } => {
                    ops.push(Op::RecordContact {
                        sender: r.sender,
                        now,
                    });
                    ops.push(Op::ScheduleLesson {
                        reply: r,
                        window,
                        now,
                    });
                    callers.push((reply, Shape::Pair));
                }
                op @ Op::Admit(_) => {
                    ops.push(op);
                    callers.push((reply, Shape::Admit));
                }
                op => {
                    ops.push(op);
                    callers.push((reply, Shape::One));
                }
            }
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
        Shape::Pair => match (results.next(), results.next()) {
            (Some(Ok(Done::Contact(c))), Some(Ok(Done::Lesson(l)))) => {
                Ok(Done::ContactLesson(c, l))
            }
            (Some(Err(e)), _) | (_, Some(Err(e))) => Err(e),
            _ => Err(unexpected("record_contact_and_schedule_lesson")),
        },
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
    /// `ContactLesson`: its two ops' results.
    Pair,
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
    match run_script(conn, ops.iter(), known, !begun, log).await {
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

/// Tests: make every batch script fail after its writes (the batch then runs one write at a
/// time).
#[cfg(test)]
pub(crate) static FAIL_SCRIPTS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// How to read one statement's output back into the ops' results.
enum Read {
    /// Nothing to read (opt-outs, upserts, counters).
    Ignore,
    /// The senders whose lesson slot is taken (`SELECT` before the multi-row upsert): every
    /// other op of the list gets its slot.
    LessonsRefused(Vec<(Vec<u8>, usize)>),
    /// A single lesson-slot upsert `RETURNING 1` for op `usize`.
    Lesson(usize),
    /// The previous records of these senders (`SELECT sender, …`).
    Contacts(Vec<(Vec<u8>, usize)>),
    /// The keys already in the queue (`SELECT idempotency_key, id` before the insert).
    Existing,
    /// After the multi-row insert into the queue: `json_group_object(key, id)` of every key
    /// of these ops (key, op index), in row order.
    Inserted(Vec<(String, usize)>),
    /// The cancelled count of op `usize`.
    Cancelled(usize),
    /// After the multi-row insert of the lessons `schedule_lesson` stores:
    /// `json_group_object(key, id)` of these keys, for these ops (key, op index, whether it
    /// stored the key or is a duplicate of one stored earlier in the batch).
    Lessons(Vec<(String, usize, bool)>),
}

/// The whole batch as one script: one multi-row statement per kind of write (a valid order,
/// since the writes of one batch come from concurrent callers). Parameters are anonymous `?`,
/// bound in the order they appear across the statements. A key that appears twice in a kind
/// gets its own statement after the multi-row one, so that every result is exactly what
/// running the writes in that order gives.
async fn run_script<'a>(
    conn: &mut sqlx::SqliteConnection,
    ops: impl Iterator<Item = &'a Op>,
    known: Known,
    begin: bool,
    log: &ScriptLog,
) -> Result<Vec<Done>> {
    use std::collections::{HashMap, HashSet};

    use futures_core::stream::Stream as _;
    use sqlx::Arguments as _;
    use sqlx::sqlite::SqliteArguments;

    let ops: Vec<&Op> = ops.collect();
    let mut results: Vec<Option<Done>> = (0..ops.len()).map(|_| None).collect();
    let mut sql = String::with_capacity(4096);
    let mut args = SqliteArguments::default();
    let mut reads: Vec<Read> = Vec::new();
    if begin {
        sql.push_str("BEGIN IMMEDIATE;\n");
        reads.push(Read::Ignore);
    }
    // Bind a value and write its placeholder, in textual order.
    macro_rules! p {
        ($v:expr) => {{
            args.add($v).map_err(bind_err)?;
            sql.push('?');
        }};
    }
    macro_rules! push {
        ($s:expr) => {
            sql.push_str($s)
        };
    }
    // Pad a `VALUES` list of `$n` rows of `$arity` columns with NULL rows (see `padded_len`).
    macro_rules! pad_rows {
        ($n:expr, $arity:expr) => {
            for _ in $n..padded_len($n) {
                push!(", (");
                for c in 0..$arity {
                    if c > 0 {
                        push!(", ");
                    }
                    p!(None::<i64>);
                }
                push!(")");
            }
        };
    }
    // Pad an `IN` list of `$n` values with NULLs (see `padded_len`).
    macro_rules! pad_list {
        ($n:expr) => {
            for _ in $n..padded_len($n) {
                push!(", ");
                p!(None::<i64>);
            }
        };
    }

    // Sort the ops by kind.
    let mut counters: BTreeMap<&str, u64> = BTreeMap::new();
    let mut opt_outs = Vec::new();
    let mut cancels = Vec::new();
    let mut lessons: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    let mut lesson_dups = Vec::new();
    let mut lesson_seen: HashSet<[u8; 16]> = HashSet::new();
    let mut contacts = Vec::new();
    let mut contact_dups = Vec::new();
    let mut contact_seen: HashSet<[u8; 16]> = HashSet::new();
    let mut schedules = Vec::new();
    let mut lesson_schedules = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Incr { name, by } => {
                let e = counters.entry(name.as_str()).or_insert(0);
                *e = e.saturating_add(*by);
                results[i] = Some(Done::Unit);
            }
            Op::Barrier => results[i] = Some(Done::Unit),
            Op::ContactLesson { .. } | Op::Admit(_) => {
                return Err(unexpected("an unsplit combined op"));
            }
            Op::SetOptedOut { .. } => {
                opt_outs.push(i);
                results[i] = Some(Done::Unit);
            }
            Op::CancelPending { .. } => cancels.push(i),
            Op::BeginLesson { sender, window, .. } => {
                if lesson_seen.insert(sender.0) {
                    let w = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
                    lessons.entry(w).or_default().push(i);
                } else {
                    lesson_dups.push(i);
                }
            }
            Op::RecordContact { sender, .. } => {
                if contact_seen.insert(sender.0) {
                    contacts.push(i);
                } else {
                    contact_dups.push(i);
                }
            }
            Op::Schedule { .. } => schedules.push(i),
            Op::ScheduleLesson { .. } => lesson_schedules.push(i),
        }
    }

    // `(sender, now), …` of these `RecordContact` ops, for a `VALUES` list.
    macro_rules! contact_values {
        ($list:expr) => {
            for (j, &i) in $list.iter().enumerate() {
                if let Op::RecordContact { sender, now } = ops[i] {
                    push!(if j == 0 { "(" } else { ", (" });
                    p!(sender.0.to_vec());
                    push!(", ");
                    p!(now.as_millis());
                    push!(")");
                }
            }
            pad_rows!($list.len(), 2);
        };
    }

    // Contacts (a combined op records its contact before its lesson). A sender whose record
    // the admissions read needs no read here and no upsert: a plain insert for a new one
    // (written after the lessons, with its lesson's slot and id when it has one, so that its
    // row is written once), an update for a known one, both `OR ROLLBACK` (neither can meet a
    // constraint), which SQLite runs without a statement journal (an upsert may abort
    // half-way, so SQLite copies every page it changes first). The others: read the previous
    // records, then one upsert.
    let mut unknown_contacts = Vec::new();
    let mut fresh_contacts = Vec::new();
    let mut known_contacts = Vec::new();
    for &i in &contacts {
        if let Op::RecordContact { sender, .. } = ops[i] {
            match known.records.get(&sender.0) {
                Some(Some(record)) => {
                    results[i] = Some(Done::Contact(Some(*record)));
                    known_contacts.push(i);
                }
                Some(None) => {
                    results[i] = Some(Done::Contact(None));
                    fresh_contacts.push(i);
                }
                None => unknown_contacts.push(i),
            }
        }
    }
    let fresh_senders: HashSet<[u8; 16]> = fresh_contacts
        .iter()
        .filter_map(|&i| match ops[i] {
            Op::RecordContact { sender, .. } => Some(sender.0),
            _ => None,
        })
        .collect();
    // The lessons stored with their new sender's row (sender, `ScheduleLesson` op index).
    let mut folded: HashMap<[u8; 16], usize> = HashMap::new();
    if !known_contacts.is_empty() {
        push!(
            "UPDATE OR ROLLBACK senders SET last_seen = v.column2, contacts = senders.contacts + 1 \
             FROM (VALUES "
        );
        contact_values!(known_contacts);
        push!(") AS v WHERE senders.sender = v.column1;\n");
        reads.push(Read::Ignore);
    }
    if !unknown_contacts.is_empty() {
        let mut owners = Vec::with_capacity(unknown_contacts.len());
        push!(
            "SELECT sender, first_seen, last_seen, contacts, last_lesson_at FROM senders \
             WHERE sender IN ("
        );
        for (j, &i) in unknown_contacts.iter().enumerate() {
            if let Op::RecordContact { sender, .. } = ops[i] {
                if j > 0 {
                    push!(", ");
                }
                p!(sender.0.to_vec());
                owners.push((sender.0.to_vec(), i));
            }
        }
        pad_list!(unknown_contacts.len());
        push!(");\n");
        reads.push(Read::Contacts(owners));
        push!(
            "INSERT INTO senders (sender, first_seen, last_seen, contacts, last_lesson_at) \
             SELECT column1, column2, column2, 1, NULL FROM (VALUES "
        );
        contact_values!(unknown_contacts);
        push!(
            ") WHERE column1 IS NOT NULL ON CONFLICT (sender) DO UPDATE SET last_seen = excluded.last_seen, \
             contacts = senders.contacts + 1;\n"
        );
        reads.push(Read::Ignore);
    }

    // Lessons with their slot (`schedule_lesson`), after the known senders' contacts and before
    // the new senders' rows (which list their lessons' ids), opt-outs and cancellations. The
    // keys and slots they depend on are read first, in this transaction (nothing else writes
    // meanwhile); each op is then decided in order, as if run one after the other (a key or a
    // sender seen earlier in the batch counts); the script then takes every slot in one
    // multi-row upsert and stores every lesson in one multi-row insert.
    if !lesson_schedules.is_empty() {
        // What the admissions already read is known; the rest is read here.
        let mut existing_keys: HashMap<String, i64> = HashMap::new();
        let mut slots: HashMap<[u8; 16], Option<i64>> = known
            .records
            .iter()
            .map(|(sender, record)| {
                let at = record
                    .and_then(|r| r.last_lesson_at)
                    .map(Timestamp::as_millis);
                (*sender, at)
            })
            .collect();
        {
            let mut q =
                String::from("SELECT idempotency_key, id FROM replies WHERE idempotency_key IN (");
            let mut a = SqliteArguments::default();
            let mut unread = 0;
            let mut senders: HashSet<[u8; 16]> = HashSet::new();
            for &i in &lesson_schedules {
                if let Op::ScheduleLesson { reply, .. } = ops[i] {
                    match known.keys.get(&reply.idempotency_key) {
                        Some(Some(id)) => {
                            existing_keys.insert(reply.idempotency_key.clone(), *id);
                        }
                        Some(None) => {}
                        None => {
                            q.push_str(if unread == 0 { "?" } else { ", ?" });
                            unread += 1;
                            a.add(reply.idempotency_key.clone()).map_err(bind_err)?;
                        }
                    }
                    if !slots.contains_key(&reply.sender.0) {
                        senders.insert(reply.sender.0);
                    }
                }
            }
            for _ in unread..padded_len(unread) {
                q.push_str(", ?");
                a.add(None::<i64>).map_err(bind_err)?;
            }
            q.push(')');
            if unread > 0 {
                log.ran(&q);
                for r in sqlx::query_with(&q, a)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db_err)?
                {
                    existing_keys.insert(
                        r.try_get::<String, _>(0).map_err(db_err)?,
                        r.try_get::<i64, _>(1).map_err(db_err)?,
                    );
                }
            }
            if !senders.is_empty() {
                let mut q =
                    String::from("SELECT sender, last_lesson_at FROM senders WHERE sender IN (");
                let mut a = SqliteArguments::default();
                for (j, sender) in senders.iter().enumerate() {
                    q.push_str(if j == 0 { "?" } else { ", ?" });
                    a.add(sender.to_vec()).map_err(bind_err)?;
                }
                for _ in senders.len()..padded_len(senders.len()) {
                    q.push_str(", ?");
                    a.add(None::<i64>).map_err(bind_err)?;
                }
                q.push(')');
                log.ran(&q);
                for r in sqlx::query_with(&q, a)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db_err)?
                {
                    let key: Vec<u8> = r.try_get(0).map_err(db_err)?;
                    if let Ok(key) = <[u8; 16]>::try_from(key.as_slice()) {
                        slots.insert(key, r.try_get::<Option<i64>, _>(1).map_err(db_err)?);
                    }
                }
            }
        }
        let mut batch_keys: HashSet<&str> = HashSet::new();
        let mut taken: BTreeMap<[u8; 16], i64> = BTreeMap::new();
        let mut inserts: Vec<usize> = Vec::new();
        let mut owners: Vec<(String, usize, bool)> = Vec::new();
        for &i in &lesson_schedules {
            if let Op::ScheduleLesson { reply, window, now } = ops[i] {
                let key = reply.idempotency_key.as_str();
                if let Some(&id) = existing_keys.get(key) {
                    results[i] = Some(Done::Lesson(LessonSchedule::Duplicate(store::to_u64(
                        id, "id",
                    )?)));
                } else if batch_keys.contains(key) {
                    owners.push((key.to_owned(), i, false));
                } else {
                    let last = taken
                        .get(&reply.sender.0)
                        .copied()
                        .or_else(|| slots.get(&reply.sender.0).copied().flatten());
                    if last.is_some_and(|t| t > now.sub(*window).as_millis()) {
                        results[i] = Some(Done::Lesson(LessonSchedule::AlreadyTaught));
                    } else {
                        taken.insert(reply.sender.0, now.as_millis());
                        batch_keys.insert(key);
                        inserts.push(i);
                        owners.push((key.to_owned(), i, true));
                    }
                }
            }
        }
        if !inserts.is_empty() {
            // The keys are known to be new and distinct, and every value is given: nothing can
            // conflict, so `OR ROLLBACK` (no statement journal, as above); a conflict would roll
            // the transaction back and the batch would run one write at a time. Each lesson is
            // `listed`: its id goes into its sender's row below, not into `replies_sender`.
            push!(
                "INSERT OR ROLLBACK INTO replies (idempotency_key, state, attempt, kind, number, recipient, \
                 sender, due_at, expires_at, created_at, updated_at, listed) \
                 SELECT column1, 'pending', 0, column2, column3, column4, column5, column6, \
                 column7, column8, column8, 1 FROM (VALUES "
            );
            for (j, &i) in inserts.iter().enumerate() {
                if let Op::ScheduleLesson { reply, now, .. } = ops[i] {
                    push!(if j == 0 { "(" } else { ", (" });
                    p!(reply.idempotency_key.clone());
                    push!(", ");
                    p!(reply.kind.as_str().to_owned());
                    push!(", ");
                    p!(reply.number.e164().to_owned());
                    push!(", ");
                    p!(reply.recipient.e164().to_owned());
                    push!(", ");
                    p!(reply.sender.0.to_vec());
                    push!(", ");
                    p!(reply.due_at.as_millis());
                    push!(", ");
                    p!(reply.expires_at.as_millis());
                    push!(", ");
                    p!(now.as_millis());
                    push!(")");
                }
            }
            pad_rows!(inserts.len(), 8);
            push!(") WHERE column1 IS NOT NULL;\n");
            reads.push(Read::Ignore);
            // Then each sender's slot and list (one lesson per sender in `inserts`): a new
            // sender's go into its row's insert, below (`folded`); a known sender whose contact
            // this batch records has its row by now, so an update (without a statement
            // journal, as above); the others an upsert.
            let mut recorded = Vec::new();
            let mut others = Vec::new();
            for &i in &inserts {
                if let Op::ScheduleLesson { reply, .. } = ops[i] {
                    let sender = reply.sender.0;
                    if fresh_senders.contains(&sender) {
                        folded.insert(sender, i);
                    } else if contact_seen.contains(&sender) {
                        recorded.push(i);
                    } else {
                        others.push(i);
                    }
                }
            }
            // `(sender, slot time, key), …` of these lessons, for a `VALUES` list.
            macro_rules! lesson_values {
                ($list:expr) => {
                    for (j, &i) in $list.iter().enumerate() {
                        if let Op::ScheduleLesson { reply, now, .. } = ops[i] {
                            push!(if j == 0 { "(" } else { ", (" });
                            p!(reply.sender.0.to_vec());
                            push!(", ");
                            p!(now.as_millis());
                            push!(", ");
                            p!(reply.idempotency_key.clone());
                            push!(")");
                        }
                    }
                    pad_rows!($list.len(), 3);
                };
            }
            let new_id = "(SELECT id FROM replies WHERE idempotency_key = v.column3)";
            if !recorded.is_empty() {
                push!("UPDATE OR ROLLBACK senders SET last_lesson_at = v.column2, live_replies = ");
                push!(&list_with("senders.live_replies", new_id));
                push!(" FROM (VALUES ");
                lesson_values!(recorded);
                push!(") AS v WHERE senders.sender = v.column1;\n");
                reads.push(Read::Ignore);
            }
            if !others.is_empty() {
                push!(
                    "INSERT INTO senders \
                     (sender, first_seen, last_seen, contacts, last_lesson_at, live_replies) \
                     SELECT v.column1, v.column2, v.column2, 0, v.column2, json_array("
                );
                push!(new_id);
                push!(") FROM (VALUES ");
                lesson_values!(others);
                push!(
                    ") AS v WHERE v.column1 IS NOT NULL ON CONFLICT (sender) DO UPDATE \
                     SET last_lesson_at = excluded.last_lesson_at, live_replies = "
                );
                push!(&list_with(
                    "senders.live_replies",
                    "json_extract(excluded.live_replies, '$[0]')"
                ));
                push!(";\n");
                reads.push(Read::Ignore);
            }
            push!(
                "SELECT json_group_object(idempotency_key, id) FROM replies \
                 WHERE idempotency_key IN ("
            );
            for (j, &i) in inserts.iter().enumerate() {
                if let Op::ScheduleLesson { reply, .. } = ops[i] {
                    if j > 0 {
                        push!(", ");
                    }
                    p!(reply.idempotency_key.clone());
                }
            }
            pad_list!(inserts.len());
            push!(");\n");
            reads.push(Read::Lessons(owners));
        }
    }

    // The new senders' rows, after the lessons (whose ids they list): a sender whose lesson
    // this batch stores gets its slot and its list in the same insert.
    if !fresh_contacts.is_empty() {
        push!(
            "INSERT OR ROLLBACK INTO senders \
             (sender, first_seen, last_seen, contacts, last_lesson_at, live_replies) \
             SELECT column1, column2, column2, 1, column3, CASE WHEN column4 IS NULL THEN NULL \
             ELSE json_array((SELECT id FROM replies WHERE idempotency_key = column4)) END \
             FROM (VALUES "
        );
        for (j, &i) in fresh_contacts.iter().enumerate() {
            if let Op::RecordContact { sender, now } = ops[i] {
                push!(if j == 0 { "(" } else { ", (" });
                p!(sender.0.to_vec());
                push!(", ");
                p!(now.as_millis());
                push!(", ");
                match folded.get(&sender.0).map(|&l| ops[l]) {
                    Some(Op::ScheduleLesson { reply, now, .. }) => {
                        p!(now.as_millis());
                        push!(", ");
                        p!(reply.idempotency_key.clone());
                    }
                    _ => {
                        p!(None::<i64>);
                        push!(", ");
                        p!(None::<i64>);
                    }
                }
                push!(")");
            }
        }
        pad_rows!(fresh_contacts.len(), 4);
        push!(") WHERE column1 IS NOT NULL;\n");
        reads.push(Read::Ignore);
    }
    // A sender's second contact in the batch, after its first.
    for &i in &contact_dups {
        if let Op::RecordContact { sender, now } = ops[i] {
            push!(
                "SELECT sender, first_seen, last_seen, contacts, last_lesson_at FROM senders \
                 WHERE sender = "
            );
            p!(sender.0.to_vec());
            push!(
                ";\nINSERT INTO senders (sender, first_seen, last_seen, contacts, last_lesson_at) \
                 VALUES ("
            );
            p!(sender.0.to_vec());
            push!(", ");
            p!(now.as_millis());
            push!(", ");
            p!(now.as_millis());
            push!(
                ", 1, NULL) ON CONFLICT (sender) DO UPDATE SET last_seen = excluded.last_seen, \
                 contacts = senders.contacts + 1;\n"
            );
            reads.push(Read::Contacts(vec![(sender.0.to_vec(), i)]));
            reads.push(Read::Ignore);
        }
    }

    // Opt-outs and cancellations, one statement each, in order.
    for &i in &opt_outs {
        if let Op::SetOptedOut {
            sender,
            opted_out,
            now,
        } = ops[i]
        {
            push!("INSERT INTO opt_outs (sender, opted_out, updated_at) VALUES (");
            p!(sender.0.to_vec());
            push!(", ");
            p!(*opted_out);
            push!(", ");
            p!(now.as_millis());
            push!(
                ") ON CONFLICT (sender) DO UPDATE SET opted_out = excluded.opted_out, \
                 updated_at = excluded.updated_at;\n"
            );
            reads.push(Read::Ignore);
        }
    }
    for &i in &cancels {
        if let Op::CancelPending {
            sender,
            reason,
            now,
        } = ops[i]
        {
            // The two statements of `store::cancel_pending_on` (with anonymous parameters:
            // a numbered one would count from the script's first), their counts added.
            push!("UPDATE replies SET state = 'cancelled', last_error = ");
            p!(reason.clone());
            push!(", recipient = NULL, updated_at = ");
            p!(now.as_millis());
            push!(" WHERE sender = ");
            p!(sender.0.to_vec());
            push!(" AND state = 'pending' AND listed = 0;\n");
            reads.push(Read::Cancelled(i));
            push!("UPDATE replies SET state = 'cancelled', last_error = ");
            p!(reason.clone());
            push!(", recipient = NULL, updated_at = ");
            p!(now.as_millis());
            push!(
                " WHERE id IN (SELECT value FROM json_each(\
                 (SELECT live_replies FROM senders WHERE sender = "
            );
            p!(sender.0.to_vec());
            push!("))) AND state = 'pending' AND sender = ");
            p!(sender.0.to_vec());
            push!(";\n");
            reads.push(Read::Cancelled(i));
        }
    }

    // Lesson slots, per window: the senders whose slot is taken, then one multi-row upsert
    // (the keys of one statement are distinct, so the refused set is exact).
    for (w, idx) in &lessons {
        let mut owners = Vec::with_capacity(idx.len());
        push!("SELECT v.column1 FROM (VALUES ");
        for (j, &i) in idx.iter().enumerate() {
            if let Op::BeginLesson { sender, now, .. } = ops[i] {
                push!(if j == 0 { "(" } else { ", (" });
                p!(sender.0.to_vec());
                push!(", ");
                p!(now.as_millis());
                push!(")");
                owners.push((sender.0.to_vec(), i));
            }
        }
        pad_rows!(idx.len(), 2);
        push!(
            ") AS v JOIN senders ON senders.sender = v.column1 \
             WHERE senders.last_lesson_at IS NOT NULL AND senders.last_lesson_at > v.column2 - "
        );
        p!(*w);
        push!(
            ";\nINSERT INTO senders (sender, first_seen, last_seen, contacts, last_lesson_at) \
             SELECT column1, column2, column2, 0, column2 FROM (VALUES "
        );
        for (j, &i) in idx.iter().enumerate() {
            if let Op::BeginLesson { sender, now, .. } = ops[i] {
                push!(if j == 0 { "(" } else { ", (" });
                p!(sender.0.to_vec());
                push!(", ");
                p!(now.as_millis());
                push!(")");
            }
        }
        pad_rows!(idx.len(), 2);
        push!(
            ") WHERE column1 IS NOT NULL \
             ON CONFLICT (sender) DO UPDATE SET last_lesson_at = excluded.last_lesson_at \
             WHERE senders.last_lesson_at IS NULL \
             OR senders.last_lesson_at <= excluded.last_lesson_at - "
        );
        p!(*w);
        push!(";\n");
        reads.push(Read::LessonsRefused(owners));
        reads.push(Read::Ignore);
    }
    for &i in &lesson_dups {
        if let Op::BeginLesson {
            sender,
            window,
            now,
        } = ops[i]
        {
            push!(
                "INSERT INTO senders (sender, first_seen, last_seen, contacts, last_lesson_at) VALUES ("
            );
            p!(sender.0.to_vec());
            push!(", ");
            p!(now.as_millis());
            push!(", ");
            p!(now.as_millis());
            push!(", 0, ");
            p!(now.as_millis());
            push!(
                ") ON CONFLICT (sender) DO UPDATE SET last_lesson_at = excluded.last_lesson_at \
                 WHERE last_lesson_at IS NULL OR last_lesson_at <= "
            );
            p!(now.sub(*window).as_millis());
            push!(" RETURNING 1;\n");
            reads.push(Read::Lesson(i));
        }
    }

    // The queue: the keys already there, one multi-row insert, then every key's id in one row.
    if !schedules.is_empty() {
        let mut owners = Vec::with_capacity(schedules.len());
        push!("SELECT idempotency_key, id FROM replies WHERE idempotency_key IN (");
        for (j, &i) in schedules.iter().enumerate() {
            if let Op::Schedule { reply, .. } = ops[i] {
                if j > 0 {
                    push!(", ");
                }
                p!(reply.idempotency_key.clone());
                owners.push((reply.idempotency_key.clone(), i));
            }
        }
        pad_list!(schedules.len());
        push!(
            ");\nINSERT INTO replies (idempotency_key, state, attempt, kind, number, recipient, \
             sender, due_at, expires_at, created_at, updated_at) \
             SELECT column1, 'pending', 0, column2, column3, column4, column5, column6, \
             column7, column8, column8 FROM (VALUES "
        );
        for (j, &i) in schedules.iter().enumerate() {
            if let Op::Schedule { reply, now } = ops[i] {
                push!(if j == 0 { "(" } else { ", (" });
                p!(reply.idempotency_key.clone());
                push!(", ");
                p!(reply.kind.as_str().to_owned());
                push!(", ");
                p!(reply.number.e164().to_owned());
                push!(", ");
                p!(reply.recipient.e164().to_owned());
                push!(", ");
                p!(reply.sender.0.to_vec());
                push!(", ");
                p!(reply.due_at.as_millis());
                push!(", ");
                p!(reply.expires_at.as_millis());
                push!(", ");
                p!(now.as_millis());
                push!(")");
            }
        }
        pad_rows!(schedules.len(), 8);
        push!(
            ") WHERE column1 IS NOT NULL ON CONFLICT (idempotency_key) DO NOTHING;\n\
             SELECT json_group_object(idempotency_key, id) FROM replies WHERE idempotency_key IN ("
        );
        for (j, (key, _)) in owners.iter().enumerate() {
            if j > 0 {
                push!(", ");
            }
            p!(key.clone());
        }
        pad_list!(owners.len());
        push!(");\n");
        reads.push(Read::Existing);
        reads.push(Read::Ignore);
        reads.push(Read::Inserted(owners));
    }

    // Counters last, summed.
    if !counters.is_empty() {
        push!("INSERT INTO counters (name, value) SELECT column1, column2 FROM (VALUES ");
        for (j, (name, by)) in counters.iter().enumerate() {
            push!(if j == 0 { "(" } else { ", (" });
            p!((*name).to_owned());
            push!(", ");
            p!(store::u64_to_i64(*by));
            push!(")");
        }
        pad_rows!(counters.len(), 2);
        push!(
            ") WHERE column1 IS NOT NULL ON CONFLICT (name) DO UPDATE SET value = \
             CASE WHEN counters.value > 9223372036854775807 - excluded.value \
             THEN 9223372036854775807 ELSE counters.value + excluded.value END;\n"
        );
        reads.push(Read::Ignore);
    }
    #[cfg(test)]
    if FAIL_SCRIPTS.load(std::sync::atomic::Ordering::Relaxed) {
        // After every write of the script, before its COMMIT.
        sql.push_str("SELECT * FROM antirelou_test_no_such_table;\n");
        reads.push(Read::Ignore);
    }
    sql.push_str("COMMIT;\n");
    reads.push(Read::Ignore);

    // Each statement's rows, then its result.
    let mut outputs: Vec<(Vec<SqliteRow>, u64, i64)> = Vec::with_capacity(reads.len());
    {
        // Several statements in one prepared query: supported by the SQLite driver of sqlx
        // 0.8, which binds anonymous parameters across the statements in order. Kept prepared
        // on the connection (its statement cache, by text): the lists are padded
        // (`padded_len`), so a steady load runs a few scripts again and again.
        log.ran(&sql);
        let mut stream =
            sqlx::Executor::fetch_many(&mut *conn, sqlx::query_with(&sql, args).persistent(true));
        let mut rows = Vec::new();
        while let Some(item) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut stream).poll_next(cx)).await
        {
            match item.map_err(db_err)? {
                sqlx::Either::Right(row) => rows.push(row),
                sqlx::Either::Left(done) => {
                    outputs.push((
                        std::mem::take(&mut rows),
                        done.rows_affected(),
                        done.last_insert_rowid(),
                    ));
                }
            }
        }
    }
    if outputs.len() != reads.len() {
        return Err(unexpected("the statements of the batch script"));
    }
    let mut existing: HashMap<String, u64> = HashMap::new();
    for (read, (rows, changes, _)) in reads.into_iter().zip(outputs) {
        match read {
            Read::Ignore => {}
            Read::Lessons(owners) => {
                let json: String = rows
                    .first()
                    .map(|r| r.try_get(0))
                    .transpose()
                    .map_err(db_err)?
                    .unwrap_or_default();
                let ids: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&json)
                    .map_err(|e| {
                    Error::storage_permanent(format!("sqlite group commit ids: {e}"))
                })?;
                for (key, i, stored) in owners {
                    let id = ids
                        .get(&key)
                        .and_then(serde_json::Value::as_i64)
                        .ok_or_else(|| unexpected("schedule_lesson"))?;
                    let id = store::to_u64(id, "id")?;
                    results[i] = Some(Done::Lesson(if stored {
                        LessonSchedule::Scheduled(id)
                    } else {
                        LessonSchedule::Duplicate(id)
                    }));
                }
            }
            Read::Cancelled(i) => {
                let before = match results[i] {
                    Some(Done::Count(n)) => n,
                    _ => 0,
                };
                results[i] = Some(Done::Count(before + changes));
            }
            Read::Lesson(i) => results[i] = Some(Done::Bool(!rows.is_empty())),
            Read::LessonsRefused(owners) => {
                let mut refused: HashSet<Vec<u8>> = HashSet::with_capacity(rows.len());
                for r in &rows {
                    refused.insert(r.try_get::<Vec<u8>, _>(0).map_err(db_err)?);
                }
                for (key, i) in owners {
                    results[i] = Some(Done::Bool(!refused.contains(&key)));
                }
            }
            Read::Contacts(owners) => {
                let mut previous: HashMap<Vec<u8>, SenderRecord> = HashMap::new();
                for r in &rows {
                    let key: Vec<u8> = r.try_get(0).map_err(db_err)?;
                    previous.insert(key, store::sender_record(r)?);
                }
                for (key, i) in owners {
                    results[i] = Some(Done::Contact(previous.get(&key).copied()));
                }
            }
            Read::Existing => {
                for r in &rows {
                    let key: String = r.try_get(0).map_err(db_err)?;
                    let id: i64 = r.try_get(1).map_err(db_err)?;
                    existing.insert(key, store::to_u64(id, "id")?);
                }
            }
            Read::Inserted(owners) => {
                let json: String = rows
                    .first()
                    .map(|r| r.try_get(0))
                    .transpose()
                    .map_err(db_err)?
                    .unwrap_or_default();
                let ids: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&json)
                    .map_err(|e| {
                    Error::storage_permanent(format!("sqlite group commit ids: {e}"))
                })?;
                // In row order: a key already there, or seen earlier in the batch, is a
                // duplicate; the first row of any other key inserted it.
                let mut seen: HashSet<String> = HashSet::new();
                for (key, i) in owners {
                    let id = ids
                        .get(&key)
                        .and_then(serde_json::Value::as_i64)
                        .ok_or_else(|| unexpected("schedule"))?;
                    let id = store::to_u64(id, "id")?;
                    let fresh = !existing.contains_key(&key) && seen.insert(key);
                    results[i] = Some(Done::Scheduled(if fresh {
                        ScheduleOutcome::Scheduled(id)
                    } else {
                        ScheduleOutcome::Duplicate(id)
                    }));
                }
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| unexpected("an op of the batch")))
        .collect()
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
            Op::ContactLesson { .. } | Op::Admit(_) => Err(unexpected("an unsplit combined op")),
            Op::BeginLesson {
                sender,
                window,
                now,
            } => store::try_begin_lesson_on(tx, sender, *window, *now)
                .await
                .map(Done::Bool),
            Op::RecordContact { sender, now } => store::record_contact_on(tx, sender, *now)
                .await
                .map(Done::Contact),
            Op::Schedule { reply, now } => store::schedule_on(tx, reply.clone(), *now)
                .await
                .map(Done::Scheduled),
            Op::ScheduleLesson { reply, window, now } => {
                store::schedule_lesson_on(tx, reply.clone(), *window, *now)
                    .await
                    .map(Done::Lesson)
            }
            Op::SetOptedOut {
                sender,
                opted_out,
                now,
            } => store::set_opted_out_on(tx, sender, *opted_out, *now)
                .await
                .map(|()| Done::Unit),
            Op::CancelPending {
                sender,
                reason,
                now,
            } => store::cancel_pending_on(tx, sender, reason, *now)
                .await
                .map(Done::Count),
        };
        results.push(r);
    }
    for (name, by) in counters {
        store::incr_on(tx, name, by).await?;
    }
    Ok(results)
}
