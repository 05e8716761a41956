//! A group-commit batch as one multi-statement script: its SQL text, its parameters (anonymous
//! `?`, bound in the order they appear across the statements), and how each statement's output
//! becomes the results of the batch's ops ([`Read`]).
//!
//! The writers ([`crate::writers`]) append statements to a [`Script`]; [`Script::run`] sends it
//! to the connection's thread in one round trip and reads every statement's output back.

use std::collections::{HashMap, HashSet};
#[cfg(test)]
use std::sync::{Mutex, PoisonError};

use antirelou_core::sql_row;
use antirelou_core::store::{LessonSchedule, ScheduleOutcome, SenderRecord};
use antirelou_core::{Error, Result};
use futures_core::stream::Stream as _;
use sqlx::Arguments as _;
use sqlx::Row as _;
use sqlx::sqlite::{SqliteArguments, SqliteRow};

use crate::error::{bind_err, db_err};
use crate::op::{Done, unexpected};
use crate::statements::Columns;

/// The rows a `VALUES` or `IN` list of `n` items is written with: `n` rounded up to a power of
/// two, the rows past `n` all NULL. A steady load then makes a few distinct scripts, which the
/// writer connection keeps prepared (`persistent`), instead of a new text to parse and plan for
/// every batch (docs/PERFORMANCE.md has the measurement). No statement stores or matches a NULL
/// row: the inserts take their rows `WHERE column1 IS NOT NULL`, and a NULL equals nothing in a
/// join, an `UPDATE … FROM` or an `IN` list.
pub(crate) fn padded_len(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

/// What the writer's scripts did, for tests: how many failed (and ran again one write at a
/// time) and every distinct text prepared. Outside tests it records nothing (its calls are
/// empty).
#[derive(Debug, Default)]
pub(crate) struct ScriptLog {
    #[cfg(test)]
    failed: std::sync::atomic::AtomicU64,
    #[cfg(test)]
    texts: Mutex<HashSet<String>>,
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
    pub(crate) fn script_failed(&self) {
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
    pub(crate) fn texts(&self) -> HashSet<String> {
        self.texts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// One parameter of a script.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Col<'a> {
    Blob(&'a [u8]),
    Int(i64),
    Text(&'a str),
    Bool(bool),
    Null,
}

/// How to read one statement's output back into the ops' results.
#[derive(Debug)]
pub(crate) enum Read {
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

/// A script being written: text, parameters, and one [`Read`] per statement.
pub(crate) struct Script {
    sql: String,
    args: SqliteArguments<'static>,
    reads: Vec<Read>,
}

impl Script {
    /// An empty script; with `begin`, it opens the batch's transaction (`BEGIN IMMEDIATE`).
    pub(crate) fn new(begin: bool) -> Script {
        let mut script = Script {
            sql: String::with_capacity(4096),
            args: SqliteArguments::default(),
            reads: Vec::new(),
        };
        if begin {
            script.statement("BEGIN IMMEDIATE", Read::Ignore);
        }
        script
    }

    /// Append SQL text.
    pub(crate) fn push(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }

    /// Bind `value` and write its placeholder.
    pub(crate) fn bind(&mut self, value: Col<'_>) -> Result<()> {
        match value {
            Col::Blob(b) => self.args.add(b.to_vec()),
            Col::Int(i) => self.args.add(i),
            Col::Text(t) => self.args.add(t.to_owned()),
            Col::Bool(b) => self.args.add(b),
            Col::Null => self.args.add(None::<i64>),
        }
        .map_err(bind_err)?;
        self.sql.push('?');
        Ok(())
    }

    /// Bind `values`, separated by commas.
    pub(crate) fn bind_all(&mut self, values: &[Col<'_>]) -> Result<()> {
        for (j, v) in values.iter().enumerate() {
            if j > 0 {
                self.push(", ");
            }
            self.bind(*v)?;
        }
        Ok(())
    }

    /// The rows of a `VALUES` list, `(a, b), (c, d), …`, padded with NULL rows of `arity`
    /// columns ([`padded_len`]).
    pub(crate) fn values<'a>(
        &mut self,
        arity: usize,
        rows: impl ExactSizeIterator<Item = Vec<Col<'a>>>,
    ) -> Result<()> {
        let n = rows.len();
        for (j, row) in rows.enumerate() {
            self.push(if j == 0 { "(" } else { ", (" });
            self.bind_all(&row)?;
            self.push(")");
        }
        let nulls = vec![Col::Null; arity];
        for j in n..padded_len(n) {
            self.push(if j == 0 { "(" } else { ", (" });
            self.bind_all(&nulls)?;
            self.push(")");
        }
        Ok(())
    }

    /// The items of an `IN` list, `a, b, …`, padded with NULLs ([`padded_len`]).
    pub(crate) fn list<'a>(&mut self, items: impl ExactSizeIterator<Item = Col<'a>>) -> Result<()> {
        let n = items.len();
        for (j, item) in items.enumerate() {
            if j > 0 {
                self.push(", ");
            }
            self.bind(item)?;
        }
        for j in n..padded_len(n) {
            if j > 0 {
                self.push(", ");
            }
            self.bind(Col::Null)?;
        }
        Ok(())
    }

    /// End the statement being written (`;`), to be read back as `read`.
    pub(crate) fn end(&mut self, read: Read) {
        self.sql.push_str(";\n");
        self.reads.push(read);
    }

    /// A whole statement without parameters.
    pub(crate) fn statement(&mut self, sql: &str, read: Read) {
        self.push(sql);
        self.end(read);
    }

    /// Run the script (which must end with `COMMIT`) on `conn` in one round trip and read
    /// every statement's output into `results` (one per op of the batch).
    pub(crate) async fn run(
        self,
        conn: &mut sqlx::SqliteConnection,
        log: &ScriptLog,
        results: &mut [Option<Done>],
    ) -> Result<()> {
        let Script { sql, args, reads } = self;
        // Several statements in one prepared query: supported by the SQLite driver of sqlx
        // 0.8, which binds anonymous parameters across the statements in order. Kept prepared
        // on the connection (its statement cache, by text): the lists are padded
        // (`padded_len`), so a steady load runs a few scripts again and again.
        log.ran(&sql);
        let mut outputs: Vec<(Vec<SqliteRow>, u64)> = Vec::with_capacity(reads.len());
        let mut stream =
            sqlx::Executor::fetch_many(&mut *conn, sqlx::query_with(&sql, args).persistent(true));
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
        if outputs.len() != reads.len() {
            return Err(unexpected("the statements of the batch script"));
        }
        let mut existing: HashMap<String, u64> = HashMap::new();
        for (read, (rows, changes)) in reads.into_iter().zip(outputs) {
            read_output(read, &rows, changes, &mut existing, results)?;
        }
        Ok(())
    }
}

/// The `json_group_object(key, id)` a statement returned, each key's id.
fn ids_by_key(rows: &[SqliteRow]) -> Result<serde_json::Map<String, serde_json::Value>> {
    let json: String = rows
        .first()
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(db_err)?
        .unwrap_or_default();
    serde_json::from_str(&json)
        .map_err(|e| Error::storage_permanent(format!("sqlite group commit ids: {e}")))
}

/// `key`'s id in `ids`.
fn id_of(ids: &serde_json::Map<String, serde_json::Value>, key: &str, what: &str) -> Result<u64> {
    let id = ids
        .get(key)
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| unexpected(what))?;
    sql_row::to_u64(id, "id")
}

/// One statement's output (`rows`, and how many rows it changed) into `results`. `existing`
/// carries the queue's known keys from a [`Read::Existing`] to the [`Read::Inserted`] after it.
fn read_output(
    read: Read,
    rows: &[SqliteRow],
    changes: u64,
    existing: &mut HashMap<String, u64>,
    results: &mut [Option<Done>],
) -> Result<()> {
    match read {
        Read::Ignore => {}
        Read::Lessons(owners) => {
            let ids = ids_by_key(rows)?;
            for (key, i, stored) in owners {
                let id = id_of(&ids, &key, "schedule_lesson")?;
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
            for r in rows {
                refused.insert(r.try_get::<Vec<u8>, _>(0).map_err(db_err)?);
            }
            for (key, i) in owners {
                results[i] = Some(Done::Bool(!refused.contains(&key)));
            }
        }
        Read::Contacts(owners) => {
            let mut previous: HashMap<Vec<u8>, SenderRecord> = HashMap::new();
            for r in rows {
                let key: Vec<u8> = r.try_get(0).map_err(db_err)?;
                previous.insert(key, sql_row::sender_record(&Columns(r))?);
            }
            for (key, i) in owners {
                results[i] = Some(Done::Contact(previous.get(&key).copied()));
            }
        }
        Read::Existing => {
            for r in rows {
                let key: String = r.try_get(0).map_err(db_err)?;
                let id: i64 = r.try_get(1).map_err(db_err)?;
                existing.insert(key, sql_row::to_u64(id, "id")?);
            }
        }
        Read::Inserted(owners) => {
            let ids = ids_by_key(rows)?;
            // In row order: a key already there, or seen earlier in the batch, is a
            // duplicate; the first row of any other key inserted it.
            let mut seen: HashSet<String> = HashSet::new();
            for (key, i) in owners {
                let id = id_of(&ids, &key, "schedule")?;
                let fresh = !existing.contains_key(&key) && seen.insert(key);
                results[i] = Some(Done::Scheduled(if fresh {
                    ScheduleOutcome::Scheduled(id)
                } else {
                    ScheduleOutcome::Duplicate(id)
                }));
            }
        }
    }
    Ok(())
}
