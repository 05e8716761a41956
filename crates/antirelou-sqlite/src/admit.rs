//! A text's admission inside its group-commit batch: the reads of
//! [`Store::admit_text`](antirelou_core::store::Store::admit_text) made on the writer
//! connection, in the transaction that then stores the writes.
//!
//! Why on the writer: in WAL mode a reader connection throws its page cache away whenever
//! another connection committed since its last read (under load, before every read), while the
//! writer's cache stays warm (its own commits keep it). The writer reads every text of a batch
//! in one statement (which also begins the transaction), and what it learnt ([`Known`]) is not
//! read again by the batch's writers.
//!
//! The policy's verdict is asked on the writer's thread: a policy that panics is caught there,
//! and only its text is refused (with an error), not the batch nor the writer.
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

use antirelou_core::policy::{Decision, Reason};
use antirelou_core::sql_row::to_u64;
use antirelou_core::store::{SenderRecord, TextAdmission};
use antirelou_core::{Error, Result, Timestamp};
use sqlx::Arguments as _;
use sqlx::Row as _;
use sqlx::sqlite::SqliteArguments;

use crate::error::{bind_err, db_err};
use crate::op::Op;
use crate::script::{ScriptLog, padded_len};

/// What became of one admission.
#[derive(Debug)]
pub(crate) enum Resolution {
    /// Answered without a write (opted out, duplicate).
    Answered(TextAdmission),
    /// The policy refused: one `RecordContact` op.
    Denied(Reason),
    /// The policy allowed: `RecordContact` then `ScheduleLesson`.
    Allowed,
    /// The policy panicked: no write, the caller gets an error.
    Panicked,
}

/// What the admissions' read learnt, which the batch's script then need not read again (no
/// write happens in between): every key read (`Some(id)` when stored) and every sender read,
/// with its record (`None`: no row; its lesson slot is the record's `last_lesson_at`).
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub(crate) keys: HashMap<String, Option<i64>>,
    pub(crate) records: HashMap<[u8; 16], Option<SenderRecord>>,
}

/// Replace every [`Op::Admit`] of `ops` by the writes it makes (in place, in order), reading
/// the opt-outs, the stored keys and the senders of all of them on `conn` in one query, which
/// begins the batch's transaction (`BEGIN IMMEDIATE` is sent with it). Returns the new ops, one
/// resolution per admission (in order), what was read, and whether the transaction was begun
/// (not when there is no admission: nothing was sent).
pub(crate) async fn resolve_admissions(
    conn: &mut sqlx::SqliteConnection,
    ops: Vec<Op>,
    log: &ScriptLog,
) -> Result<(Vec<Op>, Vec<Resolution>, Known, bool)> {
    let admissions = ops.iter().filter(|op| matches!(op, Op::Admit(_))).count();
    if admissions == 0 {
        return Ok((ops, Vec::new(), Known::default(), false));
    }
    let (opted_out, known) = read_state(conn, &ops, log).await?;
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
        if let Some(&Some(id)) = known.keys.get(a.lesson.idempotency_key.as_str()) {
            resolutions.push(Resolution::Answered(TextAdmission::Duplicate(to_u64(
                id, "id",
            )?)));
            continue;
        }
        let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(a.decide));
        let contact = Op::RecordContact {
            sender: a.lesson.sender,
            now: a.now,
        };
        match verdict {
            Ok(Decision::Deny(reason)) => {
                out.push(contact);
                resolutions.push(Resolution::Denied(reason));
            }
            Ok(Decision::Allow | Decision::Defer(_)) => {
                out.push(contact);
                out.push(Op::ScheduleLesson {
                    reply: a.lesson,
                    window: a.window,
                    now: a.now,
                });
                resolutions.push(Resolution::Allowed);
            }
            Err(_) => {
                tracing::error!("the abuse policy panicked; the text is refused");
                resolutions.push(Resolution::Panicked);
            }
        }
    }
    Ok((out, resolutions, known, true))
}

/// The opted-out senders among the admissions', and what is stored under their keys and in
/// their lesson slots: one statement, three parts told apart by the first column.
async fn read_state(
    conn: &mut sqlx::SqliteConnection,
    ops: &[Op],
    log: &ScriptLog,
) -> Result<(HashSet<[u8; 16]>, Known)> {
    let mut senders: Vec<[u8; 16]> = Vec::new();
    let mut seen: HashSet<[u8; 16]> = HashSet::new();
    let mut keys: Vec<&str> = Vec::new();
    for op in ops {
        if let Op::Admit(a) = op {
            if seen.insert(a.lesson.sender.0) {
                senders.push(a.lesson.sender.0);
            }
            keys.push(a.lesson.idempotency_key.as_str());
        }
    }
    let mut sql = String::with_capacity(256 + 6 * (2 * senders.len() + keys.len()));
    sql.push_str("BEGIN IMMEDIATE;\n");
    let mut args = SqliteArguments::default();
    // Each list padded with NULLs, which match nothing, so that the statement's text (which
    // the connection keeps prepared) is one of a few under a steady load.
    let list = |sql: &mut String, n: usize| {
        for j in 0..padded_len(n) {
            sql.push_str(if j == 0 { "?" } else { ", ?" });
        }
        sql.push(')');
    };
    let pad = |args: &mut SqliteArguments<'_>, n: usize| -> Result<()> {
        for _ in n..padded_len(n) {
            args.add(None::<i64>).map_err(bind_err)?;
        }
        Ok(())
    };
    sql.push_str(
        "SELECT 0, sender, NULL, NULL, NULL, NULL FROM opt_outs WHERE opted_out AND sender IN (",
    );
    list(&mut sql, senders.len());
    for s in &senders {
        args.add(s.to_vec()).map_err(bind_err)?;
    }
    pad(&mut args, senders.len())?;
    sql.push_str(
        " UNION ALL SELECT 1, CAST(idempotency_key AS BLOB), id, NULL, NULL, NULL FROM replies \
         WHERE idempotency_key IN (",
    );
    list(&mut sql, keys.len());
    for k in &keys {
        args.add((*k).to_owned()).map_err(bind_err)?;
    }
    pad(&mut args, keys.len())?;
    sql.push_str(
        " UNION ALL SELECT 2, sender, last_lesson_at, first_seen, last_seen, contacts \
         FROM senders WHERE sender IN (",
    );
    list(&mut sql, senders.len());
    for s in &senders {
        args.add(s.to_vec()).map_err(bind_err)?;
    }
    pad(&mut args, senders.len())?;
    let mut opted_out = HashSet::new();
    let mut known = Known {
        keys: keys.iter().map(|k| ((*k).to_owned(), None)).collect(),
        records: senders.iter().map(|s| (*s, None)).collect(),
    };
    log.ran(&sql);
    for row in sqlx::query_with(&sql, args)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
    {
        let part: i64 = row.try_get(0).map_err(db_err)?;
        let value: Vec<u8> = row.try_get_unchecked(1).map_err(db_err)?;
        let number: Option<i64> = row.try_get_unchecked(2).map_err(db_err)?;
        match part {
            0 | 2 => {
                let Ok(sender) = <[u8; 16]>::try_from(value.as_slice()) else {
                    continue;
                };
                if part == 0 {
                    opted_out.insert(sender);
                } else {
                    let first_seen: i64 = row.try_get_unchecked(3).map_err(db_err)?;
                    let last_seen: i64 = row.try_get_unchecked(4).map_err(db_err)?;
                    let contacts: i64 = row.try_get_unchecked(5).map_err(db_err)?;
                    known.records.insert(
                        sender,
                        Some(SenderRecord {
                            first_seen: Timestamp::from_millis(first_seen),
                            last_seen: Timestamp::from_millis(last_seen),
                            contacts: to_u64(contacts, "contacts")?,
                            last_lesson_at: number.map(Timestamp::from_millis),
                        }),
                    );
                }
            }
            _ => {
                let key = String::from_utf8(value).map_err(|e| {
                    Error::storage_permanent(format!("sqlite: a stored key is not UTF-8: {e}"))
                })?;
                known.keys.insert(key, number);
            }
        }
    }
    Ok((opted_out, known))
}
