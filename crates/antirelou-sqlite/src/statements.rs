//! The single writes of the webhook path, each on a connection the caller provides (inside
//! its transaction): what a group-commit batch runs one write at a time after its script
//! failed ([`crate::batch`]), and what [`SqliteStore::schedule_many`](crate::SqliteStore::schedule_many)
//! runs in its transaction. Each has the effects and result of the trait method of the same
//! name; the batch script ([`crate::writers`]) writes the same rows, many at a time.

use std::time::Duration;

use antirelou_core::privacy::SenderHash;
use antirelou_core::sql_row::{self, SqlRow, to_u64, u64_to_i64};
use antirelou_core::store::{LessonSchedule, NewReply, ScheduleOutcome, SenderRecord};
use antirelou_core::{Result, Timestamp};
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;

use crate::error::db_err;

/// A fetched row, seen by the decoders shared with the PostgreSQL store.
pub(crate) struct Columns<'r>(pub(crate) &'r SqliteRow);

impl SqlRow for Columns<'_> {
    fn int_or_null(&self, column: &str) -> Result<Option<i64>> {
        self.0.try_get(column).map_err(db_err)
    }

    fn text_or_null(&self, column: &str) -> Result<Option<String>> {
        self.0.try_get(column).map_err(db_err)
    }

    fn blob(&self, column: &str) -> Result<Vec<u8>> {
        self.0.try_get(column).map_err(db_err)
    }
}

/// [`ReplyQueue::schedule`](antirelou_core::store::ReplyQueue::schedule).
pub(crate) async fn schedule(
    conn: &mut sqlx::SqliteConnection,
    reply: NewReply,
    now: Timestamp,
) -> Result<ScheduleOutcome> {
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO replies (idempotency_key, state, attempt, kind, number, recipient, sender, \
         due_at, expires_at, created_at, updated_at) \
         VALUES (?1, 'pending', 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
    )
    .bind(&reply.idempotency_key)
    .bind(reply.kind.as_str())
    .bind(reply.number.e164())
    .bind(reply.recipient.e164())
    .bind(&reply.sender.0[..])
    .bind(reply.due_at.as_millis())
    .bind(reply.expires_at.as_millis())
    .bind(now.as_millis())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    if let Some(id) = inserted {
        return Ok(ScheduleOutcome::Scheduled(to_u64(id, "id")?));
    }
    let existing: i64 = sqlx::query_scalar("SELECT id FROM replies WHERE idempotency_key = ?1")
        .bind(&reply.idempotency_key)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(ScheduleOutcome::Duplicate(to_u64(existing, "id")?))
}

/// Cancel sender `?1`'s pending replies that are not listed in its row (with reason `?2` at
/// `?3`): the index `replies_sender` holds them.
const CANCEL_UNLISTED: &str = "UPDATE replies SET state = 'cancelled', \
     last_error = ?2, recipient = NULL, updated_at = ?3 \
     WHERE sender = ?1 AND state = 'pending' AND listed = 0";

/// Cancel sender `?1`'s pending replies listed in its row (`senders.live_replies`, see the
/// migration `0002_listed_lessons`), with reason `?2` at `?3`.
const CANCEL_LISTED: &str = "UPDATE replies SET state = 'cancelled', \
     last_error = ?2, recipient = NULL, updated_at = ?3 \
     WHERE id IN (SELECT value FROM json_each(\
       (SELECT live_replies FROM senders WHERE sender = ?1))) \
     AND state = 'pending' AND sender = ?1";

pub(crate) async fn cancel_pending(
    conn: &mut sqlx::SqliteConnection,
    sender: &SenderHash,
    reason: &str,
    now: Timestamp,
) -> Result<u64> {
    let mut cancelled = 0;
    for statement in [CANCEL_UNLISTED, CANCEL_LISTED] {
        let done = sqlx::query(statement)
            .bind(&sender.0[..])
            .bind(reason)
            .bind(now.as_millis())
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        cancelled += done.rows_affected();
    }
    Ok(cancelled)
}

/// The previous record, then the contact stored; the caller provides the transaction.
pub(crate) async fn record_contact(
    conn: &mut sqlx::SqliteConnection,
    sender: &SenderHash,
    now: Timestamp,
) -> Result<Option<SenderRecord>> {
    let previous = sqlx::query(
        "SELECT first_seen, last_seen, contacts, last_lesson_at FROM senders WHERE sender = ?1",
    )
    .bind(&sender.0[..])
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    let previous = previous
        .as_ref()
        .map(|r| sql_row::sender_record(&Columns(r)))
        .transpose()?;
    sqlx::query(
        "INSERT INTO senders (sender, first_seen, last_seen, contacts, last_lesson_at) \
         VALUES (?1, ?2, ?2, 1, NULL) \
         ON CONFLICT (sender) DO UPDATE SET last_seen = ?2, contacts = contacts + 1",
    )
    .bind(&sender.0[..])
    .bind(now.as_millis())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(previous)
}

pub(crate) async fn try_begin_lesson(
    conn: &mut sqlx::SqliteConnection,
    sender: &SenderHash,
    window: Duration,
    now: Timestamp,
) -> Result<bool> {
    // Atomic: the conditional upsert takes the slot only if no lesson began in
    // `(now - window, now]`; a refused update returns no row.
    let taken = sqlx::query(
        "INSERT INTO senders (sender, first_seen, last_seen, contacts, last_lesson_at) \
         VALUES (?1, ?2, ?2, 0, ?2) \
         ON CONFLICT (sender) DO UPDATE SET last_lesson_at = ?2 \
         WHERE last_lesson_at IS NULL OR last_lesson_at <= ?3 \
         RETURNING 1",
    )
    .bind(&sender.0[..])
    .bind(now.as_millis())
    .bind(now.sub(window).as_millis())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(taken.is_some())
}

/// [`ReplyQueue::schedule_lesson`](antirelou_core::store::ReplyQueue::schedule_lesson) inside the caller's transaction.
pub(crate) async fn schedule_lesson(
    conn: &mut sqlx::SqliteConnection,
    reply: NewReply,
    window: Duration,
    now: Timestamp,
) -> Result<LessonSchedule> {
    let existing: Option<i64> =
        sqlx::query_scalar("SELECT id FROM replies WHERE idempotency_key = ?1")
            .bind(&reply.idempotency_key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
    if let Some(id) = existing {
        return Ok(LessonSchedule::Duplicate(to_u64(id, "id")?));
    }
    if !try_begin_lesson(conn, &reply.sender, window, now).await? {
        return Ok(LessonSchedule::AlreadyTaught);
    }
    match schedule(conn, reply, now).await? {
        ScheduleOutcome::Scheduled(id) => Ok(LessonSchedule::Scheduled(id)),
        // Not after the look-up above in the same transaction; kept exact all the same.
        ScheduleOutcome::Duplicate(id) => Ok(LessonSchedule::Duplicate(id)),
    }
}

pub(crate) async fn set_opted_out(
    conn: &mut sqlx::SqliteConnection,
    sender: &SenderHash,
    opted_out: bool,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO opt_outs (sender, opted_out, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (sender) DO UPDATE SET opted_out = ?2, updated_at = ?3",
    )
    .bind(&sender.0[..])
    .bind(opted_out)
    .bind(now.as_millis())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn incr(conn: &mut sqlx::SqliteConnection, name: &str, by: u64) -> Result<()> {
    // Saturating at i64::MAX, the largest value SQLite stores.
    sqlx::query(
        "INSERT INTO counters (name, value) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET value = \
           CASE WHEN value > 9223372036854775807 - ?2 THEN 9223372036854775807 ELSE value + ?2 END",
    )
    .bind(name)
    .bind(u64_to_i64(by))
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}
