//! Group commit: the writes of the webhook path, from many concurrent callers, committed
//! together in one transaction (one `fsync`).
//!
//! With [`SqliteConfig::group_commit`](crate::SqliteConfig::group_commit) on, the writes an
//! inbound text makes (`incr`, `try_begin_lesson`, `record_contact`, `schedule`,
//! `set_opted_out`, `cancel_pending`) are sent to one task. That task takes every write waiting,
//! runs them in order on the writer connection inside one `BEGIN IMMEDIATE` transaction,
//! commits, and only then answers each caller. So:
//!
//! * **durability is unchanged**: a call returns `Ok` only after the commit that holds its
//!   effect (with [`Durability::Full`](crate::Durability::Full), after the `fsync`);
//! * **atomicity is unchanged**: each write is one statement (or, for `record_contact` and
//!   `schedule`, a read and a write with nothing in between) on the single writer connection,
//!   and two writes of one batch see each other as they would in sequence; if the commit
//!   fails, every caller of the batch gets the error and nothing of the batch is stored;
//! * **throughput**: while one batch commits, the next one fills, so under load the cost of a
//!   commit is shared by every request that arrived meanwhile. A batch runs as one
//!   multi-statement script (one round trip to the connection's thread), and its counter
//!   increments are summed into one statement per counter;
//! * **counters** are statistics: `incr` returns once queued, without waiting for its commit
//!   (so the webhook path waits for four commits rather than six). A crash may lose the last
//!   increments; `counters` first waits for every increment queued before it, so a read
//!   always sees the increments made before it.
//!
//! The other writes (claims, leases, the spend ledger) keep their own transactions; they take
//! the writer connection between two batches.

use std::collections::BTreeMap;
use std::time::Duration;

use antirelou_core::privacy::SenderHash;
use antirelou_core::store::{NewReply, ScheduleOutcome, SenderRecord};
use antirelou_core::{Error, Result, Timestamp};
use sqlx::Row as _;
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteRow;
use tokio::sync::{mpsc, oneshot};

use crate::error::db_err;
use crate::store;

/// Most writes in one transaction.
/// Most writes in one transaction (a script binds at most 8 parameters per write, and SQLite
/// takes at most 32,766).
const MAX_BATCH: usize = 1024;

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
    Count(u64),
}

type Job = (Op, oneshot::Sender<Result<Done>>);

/// The handle callers send their writes through. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Batcher {
    tx: mpsc::UnboundedSender<Job>,
}

fn stopped() -> Error {
    Error::Storage {
        message: "sqlite: the group-commit writer has stopped (store closed)".into(),
        transient: true,
    }
}

impl Batcher {
    /// Start the writer task on the current tokio runtime. It stops when every handle is
    /// dropped.
    pub(crate) fn start(writer: SqlitePool) -> Batcher {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(writer, rx));
        Batcher { tx }
    }

    /// Queue `op` without waiting for its commit (counter increments: statistics, which a
    /// crash may lose the last of). A later [`Op::Barrier`] waits for it.
    pub(crate) fn enqueue(&self, op: Op) -> Result<()> {
        let (done_tx, _) = oneshot::channel();
        self.tx.send((op, done_tx)).map_err(|_| stopped())
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

async fn run(writer: SqlitePool, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(64);
    while let Some(first) = rx.recv().await {
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let batch = std::mem::take(&mut jobs);
        let results = commit_batch(&writer, batch.iter().map(|(op, _)| op)).await;
        match results {
            Ok(results) => {
                for ((_, reply), result) in batch.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, writes = batch.len(), "group commit failed; every write of the batch is refused");
                let transient = e.is_transient();
                let message = e.to_string();
                for (_, reply) in batch {
                    let _ = reply.send(Err(Error::Storage {
                        message: message.clone(),
                        transient,
                    }));
                }
            }
        }
    }
}

/// Run every op in one transaction: first as one multi-statement script (one round trip to
/// the connection's thread for the whole batch), and, if any statement of it fails, again one
/// statement at a time so that each op gets its own result.
async fn commit_batch<'a>(
    writer: &SqlitePool,
    ops: impl Iterator<Item = &'a Op> + Clone,
) -> Result<Vec<Result<Done>>> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    match run_script(&mut tx, ops.clone()).await {
        Ok(results) => {
            tx.commit().await.map_err(db_err)?;
            return Ok(results.into_iter().map(Ok).collect());
        }
        Err(e) => {
            tracing::debug!(error = %e, "batch script failed; running the batch one write at a time");
            tx.rollback().await.map_err(db_err)?;
        }
    }
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    let results = run_one_by_one(&mut tx, ops).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(results)
}

/// What one op expects from the script: how many statements it owns.
#[derive(Clone, Copy)]
enum Expect {
    /// A counter increment: summed, nothing to read.
    Counter,
    BeginLesson,
    RecordContact,
    Schedule,
    SetOptedOut,
    CancelPending,
}

/// The whole batch as one script with numbered parameters (absolute across statements).
async fn run_script<'a>(
    conn: &mut sqlx::SqliteConnection,
    ops: impl Iterator<Item = &'a Op>,
) -> Result<Vec<Done>> {
    use futures_core::stream::Stream as _;
    use sqlx::Arguments as _;
    use sqlx::sqlite::SqliteArguments;

    let mut sql = String::with_capacity(4096);
    let mut args = SqliteArguments::default();
    let mut n = 0usize;
    let mut expects = Vec::new();
    let mut counters: BTreeMap<&str, u64> = BTreeMap::new();
    macro_rules! arg {
        ($v:expr) => {{
            args.add($v)
                .map_err(|e| Error::storage_permanent(format!("sqlite bind: {e}")))?;
            n += 1;
            n
        }};
    }
    for op in ops {
        match op {
            Op::Incr { name, by } => {
                let e = counters.entry(name.as_str()).or_insert(0);
                *e = e.saturating_add(*by);
                expects.push(Expect::Counter);
            }
            Op::Barrier => expects.push(Expect::Counter),
            Op::BeginLesson {
                sender,
                window,
                now,
            } => {
                let s = arg!(sender.0.to_vec());
                let t = arg!(now.as_millis());
                let w = arg!(now.sub(*window).as_millis());
                sql.push_str(&format!(
                    "INSERT INTO senders (sender, first_seen, last_seen, contacts, last_lesson_at) \
                     VALUES (?{s}, ?{t}, ?{t}, 0, ?{t}) \
                     ON CONFLICT (sender) DO UPDATE SET last_lesson_at = ?{t} \
                     WHERE last_lesson_at IS NULL OR last_lesson_at <= ?{w} RETURNING 1;\n"
                ));
                expects.push(Expect::BeginLesson);
            }
            Op::RecordContact { sender, now } => {
                let s = arg!(sender.0.to_vec());
                let t = arg!(now.as_millis());
                sql.push_str(&format!(
                    "SELECT first_seen, last_seen, contacts, last_lesson_at FROM senders WHERE sender = ?{s};\n\
                     INSERT INTO senders (sender, first_seen, last_seen, contacts, last_lesson_at) \
                     VALUES (?{s}, ?{t}, ?{t}, 1, NULL) \
                     ON CONFLICT (sender) DO UPDATE SET last_seen = ?{t}, contacts = contacts + 1;\n"
                ));
                expects.push(Expect::RecordContact);
            }
            Op::Schedule { reply, now } => {
                let k = arg!(reply.idempotency_key.clone());
                let kind = arg!(reply.kind.as_str().to_owned());
                let num = arg!(reply.number.e164().to_owned());
                let rcp = arg!(reply.recipient.e164().to_owned());
                let snd = arg!(reply.sender.0.to_vec());
                let due = arg!(reply.due_at.as_millis());
                let exp = arg!(reply.expires_at.as_millis());
                let t = arg!(now.as_millis());
                sql.push_str(&format!(
                    "INSERT INTO replies (idempotency_key, state, attempt, kind, number, recipient, sender, \
                     due_at, expires_at, created_at, updated_at) \
                     VALUES (?{k}, 'pending', 0, ?{kind}, ?{num}, ?{rcp}, ?{snd}, ?{due}, ?{exp}, ?{t}, ?{t}) \
                     ON CONFLICT (idempotency_key) DO NOTHING RETURNING id;\n\
                     SELECT id FROM replies WHERE idempotency_key = ?{k};\n"
                ));
                expects.push(Expect::Schedule);
            }
            Op::SetOptedOut {
                sender,
                opted_out,
                now,
            } => {
                let s = arg!(sender.0.to_vec());
                let o = arg!(*opted_out);
                let t = arg!(now.as_millis());
                sql.push_str(&format!(
                    "INSERT INTO opt_outs (sender, opted_out, updated_at) VALUES (?{s}, ?{o}, ?{t}) \
                     ON CONFLICT (sender) DO UPDATE SET opted_out = ?{o}, updated_at = ?{t};\n"
                ));
                expects.push(Expect::SetOptedOut);
            }
            Op::CancelPending {
                sender,
                reason,
                now,
            } => {
                let s = arg!(sender.0.to_vec());
                let r = arg!(reason.clone());
                let t = arg!(now.as_millis());
                sql.push_str(&format!(
                    "UPDATE replies SET state = 'cancelled', last_error = ?{r}, recipient = NULL, \
                     updated_at = ?{t} WHERE sender = ?{s} AND state = 'pending';\n"
                ));
                expects.push(Expect::CancelPending);
            }
        }
    }
    for (name, by) in &counters {
        let k = arg!((*name).to_owned());
        let v = arg!(store::u64_to_i64(*by));
        sql.push_str(&format!(
            "INSERT INTO counters (name, value) VALUES (?{k}, ?{v}) \
             ON CONFLICT (name) DO UPDATE SET value = \
             CASE WHEN value > 9223372036854775807 - ?{v} THEN 9223372036854775807 ELSE value + ?{v} END;\n"
        ));
    }
    if sql.is_empty() {
        return Ok(expects.iter().map(|_| Done::Unit).collect());
    }

    // Each statement's rows, then its result: group them.
    let mut outputs: Vec<(Vec<SqliteRow>, u64)> = Vec::new();
    {
        // Several statements in one prepared query: supported by the SQLite driver of sqlx 0.8
        // (parameters `?NNN` are absolute across the statements).
        let mut stream =
            sqlx::Executor::fetch_many(&mut *conn, sqlx::query_with(&sql, args).persistent(false));
        let mut rows = Vec::new();
        while let Some(item) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut stream).poll_next(cx)).await
        {
            match item.map_err(db_err)? {
                sqlx::Either::Right(row) => rows.push(row),
                sqlx::Either::Left(done) => {
                    outputs.push((std::mem::take(&mut rows), done.rows_affected()));
                }
            }
        }
    }
    let mut out = outputs.into_iter();
    let mut next = || {
        out.next()
            .ok_or_else(|| unexpected("a statement of the batch script"))
    };
    let mut results = Vec::with_capacity(expects.len());
    for e in expects {
        results.push(match e {
            Expect::Counter => Done::Unit,
            Expect::BeginLesson => Done::Bool(!next()?.0.is_empty()),
            Expect::RecordContact => {
                let (rows, _) = next()?;
                let _ = next()?;
                Done::Contact(rows.first().map(store::sender_record).transpose()?)
            }
            Expect::Schedule => {
                let (inserted, _) = next()?;
                let (existing, _) = next()?;
                match (inserted.first(), existing.first()) {
                    (Some(r), _) => {
                        let id: i64 = r.try_get(0).map_err(db_err)?;
                        Done::Scheduled(ScheduleOutcome::Scheduled(store::to_u64(id, "id")?))
                    }
                    (None, Some(r)) => {
                        let id: i64 = r.try_get(0).map_err(db_err)?;
                        Done::Scheduled(ScheduleOutcome::Duplicate(store::to_u64(id, "id")?))
                    }
                    (None, None) => return Err(unexpected("schedule")),
                }
            }
            Expect::SetOptedOut => {
                let _ = next()?;
                Done::Unit
            }
            Expect::CancelPending => Done::Count(next()?.1),
        });
    }
    Ok(results)
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
