//! A text's admission inside its group-commit batch: the reads of
//! [`Store::admit_text`](antirelou_core::store::Store::admit_text) made on the writer
//! connection, in the transaction that then stores the writes.
//!
//! Without it, a text makes one read before its commit (opted out? already stored?) on a
//! reader connection, and in WAL mode every reader throws its page cache away whenever another
//! connection committed since its last read: under load, before every read, so each read
//! fetches its pages again. The writer's cache stays warm (its own commits keep it), and it
//! reads every text of a batch in two statements.
//!
//! The batch's admissions are resolved first, in the order they were queued: an opted-out
//! sender or a key already stored is answered without a write and without asking the policy;
//! otherwise the policy's verdict is asked (once) and the text becomes `RecordContact` (denied)
//! or `RecordContact` then `ScheduleLesson` (allowed), run with the batch's other writes.
//! Those run contacts and lessons before opt-outs and cancellations, so an admission and a STOP
//! of the same sender in one batch behave as if the text came first (the STOP cancels the
//! lesson): the two were concurrent, and that is one order they could have had. Two deliveries
//! of one message in one batch both ask the policy (as two concurrent deliveries racing on
//! separate reads would) and the second is answered as a duplicate by `ScheduleLesson`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use antirelou_core::policy::{Decision, Reason};
use antirelou_core::store::{AdmitDecision, NewReply, TextAdmission};
use antirelou_core::{Error, Result, Timestamp};
use sqlx::Arguments as _;
use sqlx::Row as _;
use sqlx::sqlite::SqliteArguments;

use crate::batch::Op;
use crate::error::db_err;
use crate::store;

/// A text waiting for its batch: the `Store::admit_text` arguments.
pub(crate) struct Admission {
    pub(crate) lesson: NewReply,
    pub(crate) window: Duration,
    pub(crate) now: Timestamp,
    pub(crate) decide: AdmitDecision,
}

impl fmt::Debug for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admission")
            .field("lesson", &self.lesson)
            .field("window", &self.window)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// What became of one admission.
#[derive(Debug)]
pub(crate) enum Resolution {
    /// Answered without a write (opted out, duplicate).
    Answered(TextAdmission),
    /// The policy refused: one `RecordContact` op.
    Denied(Reason),
    /// The policy allowed: `RecordContact` then `ScheduleLesson`.
    Allowed,
}

fn bind_err(e: impl fmt::Display) -> Error {
    Error::storage_permanent(format!("sqlite bind: {e}"))
}

/// Replace every [`Op::Admit`] of `ops` by the writes it makes (in place, in order), reading
/// the opt-outs and the stored keys of all of them on `conn` (inside the batch's transaction).
/// Returns the new ops and one resolution per admission, in order.
pub(crate) async fn resolve_admissions(
    conn: &mut sqlx::SqliteConnection,
    ops: Vec<Op>,
) -> Result<(Vec<Op>, Vec<Resolution>)> {
    let admissions = ops.iter().filter(|op| matches!(op, Op::Admit(_))).count();
    if admissions == 0 {
        return Ok((ops, Vec::new()));
    }
    let (opted_out, stored) = read_state(conn, &ops).await?;
    let mut out = Vec::with_capacity(ops.len() + admissions);
    let mut resolutions = Vec::with_capacity(admissions);
    for op in ops {
        let Op::Admit(a) = op else {
            out.push(op);
            continue;
        };
        if opted_out.contains(&a.lesson.sender.0) {
            resolutions.push(Resolution::Answered(TextAdmission::OptedOut));
            continue;
        }
        if let Some(&id) = stored.get(a.lesson.idempotency_key.as_str()) {
            resolutions.push(Resolution::Answered(TextAdmission::Duplicate(
                store::to_u64(id, "id")?,
            )));
            continue;
        }
        out.push(Op::RecordContact {
            sender: a.lesson.sender,
            now: a.now,
        });
        match (a.decide)() {
            Decision::Deny(reason) => resolutions.push(Resolution::Denied(reason)),
            Decision::Allow => {
                out.push(Op::ScheduleLesson {
                    reply: a.lesson,
                    window: a.window,
                    now: a.now,
                });
                resolutions.push(Resolution::Allowed);
            }
        }
    }
    Ok((out, resolutions))
}

/// The opted-out senders among the admissions', and the ids stored under their keys.
async fn read_state(
    conn: &mut sqlx::SqliteConnection,
    ops: &[Op],
) -> Result<(HashSet<[u8; 16]>, HashMap<String, i64>)> {
    let mut senders: HashSet<[u8; 16]> = HashSet::new();
    let mut sender_sql =
        String::from("SELECT sender FROM opt_outs WHERE opted_out AND sender IN (");
    let mut sender_args = SqliteArguments::default();
    let mut key_sql =
        String::from("SELECT idempotency_key, id FROM replies WHERE idempotency_key IN (");
    let mut key_args = SqliteArguments::default();
    let mut first_key = true;
    for op in ops {
        let Op::Admit(a) = op else { continue };
        if senders.insert(a.lesson.sender.0) {
            sender_sql.push_str(if senders.len() == 1 { "?" } else { ", ?" });
            sender_args
                .add(a.lesson.sender.0.to_vec())
                .map_err(bind_err)?;
        }
        key_sql.push_str(if first_key { "?" } else { ", ?" });
        first_key = false;
        key_args
            .add(a.lesson.idempotency_key.clone())
            .map_err(bind_err)?;
    }
    sender_sql.push(')');
    key_sql.push(')');
    let mut opted_out = HashSet::new();
    for row in sqlx::query_with(&sender_sql, sender_args)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
    {
        let sender: Vec<u8> = row.try_get(0).map_err(db_err)?;
        if let Ok(sender) = <[u8; 16]>::try_from(sender.as_slice()) {
            opted_out.insert(sender);
        }
    }
    let mut stored = HashMap::new();
    for row in sqlx::query_with(&key_sql, key_args)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
    {
        stored.insert(
            row.try_get::<String, _>(0).map_err(db_err)?,
            row.try_get::<i64, _>(1).map_err(db_err)?,
        );
    }
    Ok((opted_out, stored))
}
