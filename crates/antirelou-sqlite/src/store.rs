//! The storage traits of `antirelou-core`, implemented on SQLite.
//!
//! Every write runs on the single writer connection. The writes of the webhook path (a text's
//! admission, contacts, lessons, the queue's inserts, opt-outs, cancellations, counters) go
//! through the group-commit writer ([`crate::batch`]); the others (claims, leases, the spend
//! ledger, purges) are one atomic statement (`UPDATE … RETURNING`, `INSERT … ON CONFLICT`) or a
//! `BEGIN IMMEDIATE` transaction, which takes the write lock up front so that two processes
//! sharing the file never deadlock on a read-to-write upgrade. Reads use the reader pool.

use std::collections::BTreeMap;
use std::time::Duration;

use antirelou_core::event::{Channel, DeliveryState};
use antirelou_core::memory::EXPIRED_REASON;
use antirelou_core::privacy::SenderHash;
use antirelou_core::sql_row::{self, lease_lost, phone, to_u32, to_u64, u64_to_i64};
use antirelou_core::store::{
    AdmitDecision, ClaimedReply, Counters, LeaseToken, LessonSchedule, NewReply, OptOutStore,
    QueueStats, ReplyId, ReplyQueue, ReplyRecord, ReplyState, Reservation, ScheduleOutcome,
    SenderHistory, SenderRecord, SpendCaps, SpendLedger, SpendSummary, TerminalState,
    TextAdmission,
};
use antirelou_core::{Error, Money, PhoneNumber, Result, Timestamp};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::error::db_err;
use crate::op::{Admission, Done, Op, unexpected};
use crate::statements::{self, Columns};

/// The replies' columns a claim returns.
const CLAIM_COLUMNS: &str =
    "id, attempt, lease_until, number, recipient, sender, kind, due_at, expires_at, created_at";

const REPLY_COLUMNS: &str = "id, state, attempt, kind, number, recipient, sender, due_at, \
     expires_at, provider_id, last_error, delivery, updated_at";

fn get<'r, T>(row: &'r SqliteRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(col).map_err(db_err)
}

fn reply_record(row: &SqliteRow) -> Result<ReplyRecord> {
    sql_row::reply_record(&Columns(row))
}

fn claimed_reply(row: &SqliteRow) -> Result<ClaimedReply> {
    sql_row::claimed_reply(&Columns(row))
}

/// Submit `op` to the group-commit writer and wait for its result, which `pick` takes out
/// of its [`Done`] (`what` names the call in the error if the result has another shape).
async fn submit<T>(
    store: &SqliteStore,
    op: Op,
    what: &str,
    pick: fn(Done) -> Option<T>,
) -> Result<T> {
    pick(store.batcher.submit(op).await?).ok_or_else(|| unexpected(what))
}

impl SqliteStore {
    /// Run a fenced single-statement update: `Ok` if it touched the current claim, else
    /// [`Error::LeaseLost`].
    async fn fenced<'q>(
        &self,
        token: LeaseToken,
        query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> Result<()> {
        let done = query.execute(&self.writer).await.map_err(db_err)?;
        if done.rows_affected() == 0 {
            Err(lease_lost(token))
        } else {
            Ok(())
        }
    }

    /// Schedule many replies in one transaction (one `fsync`): what a batching webhook front
    /// end uses. Outcomes come back in input order, with the same semantics as
    /// [`ReplyQueue::schedule`].
    pub async fn schedule_many(
        &self,
        replies: Vec<NewReply>,
        now: Timestamp,
    ) -> Result<Vec<ScheduleOutcome>> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        let mut out = Vec::with_capacity(replies.len());
        for reply in replies {
            out.push(statements::schedule(&mut tx, reply, now).await?);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }
}

#[async_trait]
impl ReplyQueue for SqliteStore {
    async fn schedule(&self, reply: NewReply, now: Timestamp) -> Result<ScheduleOutcome> {
        submit(self, Op::Schedule { reply, now }, "schedule", |d| match d {
            Done::Scheduled(o) => Some(o),
            _ => None,
        })
        .await
    }

    async fn schedule_lesson(
        &self,
        reply: NewReply,
        window: Duration,
        now: Timestamp,
    ) -> Result<LessonSchedule> {
        let op = Op::ScheduleLesson { reply, window, now };
        submit(self, op, "schedule_lesson", |d| match d {
            Done::Lesson(o) => Some(o),
            _ => None,
        })
        .await
    }

    async fn find_by_key(&self, idempotency_key: &str) -> Result<Option<ReplyId>> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM replies WHERE idempotency_key = ?1")
                .bind(idempotency_key)
                .fetch_optional(&self.reader)
                .await
                .map_err(db_err)?;
        id.map(|id| to_u64(id, "id")).transpose()
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedReply>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // One statement, hence atomic: pending replies that are due and claims whose lease
        // ended (their worker died), oldest due first, each with a new attempt number.
        // `due_at <= now` holds for both (a reply is claimed only once due), and bounds the
        // index range: replies not yet due are never scanned.
        let rows = sqlx::query(&format!(
            "UPDATE replies SET state = 'claimed', attempt = attempt + 1, lease_until = ?2, \
             updated_at = ?1 \
             WHERE id IN (SELECT id FROM replies WHERE state IN ('pending', 'claimed') \
               AND due_at <= ?1 \
               AND ((state = 'pending' AND due_at <= ?1) OR (state = 'claimed' AND lease_until <= ?1)) \
               ORDER BY due_at, id LIMIT ?3) \
             RETURNING {CLAIM_COLUMNS}"
        ))
        .bind(now.as_millis())
        .bind(now.add(lease).as_millis())
        .bind(limit)
        .fetch_all(&self.writer)
        .await
        .map_err(db_err)?;
        let mut out = rows.iter().map(claimed_reply).collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|c| (c.due_at, c.token.id));
        Ok(out)
    }

    async fn complete(&self, token: LeaseToken, provider_id: &str, now: Timestamp) -> Result<()> {
        let q = sqlx::query(
            "UPDATE replies SET state = 'sent', provider_id = ?3, recipient = NULL, \
             lease_until = NULL, updated_at = ?4 \
             WHERE id = ?1 AND attempt = ?2 AND state = 'claimed'",
        )
        .bind(u64_to_i64(token.id))
        .bind(i64::from(token.attempt))
        .bind(provider_id)
        .bind(now.as_millis());
        self.fenced(token, q).await
    }

    async fn retry_later(
        &self,
        token: LeaseToken,
        next_attempt_at: Timestamp,
        error: &str,
        now: Timestamp,
    ) -> Result<()> {
        let q = sqlx::query(
            "UPDATE replies SET state = 'pending', due_at = ?3, last_error = ?4, \
             lease_until = NULL, updated_at = ?5 \
             WHERE id = ?1 AND attempt = ?2 AND state = 'claimed'",
        )
        .bind(u64_to_i64(token.id))
        .bind(i64::from(token.attempt))
        .bind(next_attempt_at.as_millis())
        .bind(error)
        .bind(now.as_millis());
        self.fenced(token, q).await
    }

    async fn finish(
        &self,
        token: LeaseToken,
        state: TerminalState,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        let q = sqlx::query(
            "UPDATE replies SET state = ?3, last_error = ?4, recipient = NULL, \
             lease_until = NULL, updated_at = ?5 \
             WHERE id = ?1 AND attempt = ?2 AND state = 'claimed'",
        )
        .bind(u64_to_i64(token.id))
        .bind(i64::from(token.attempt))
        .bind(ReplyState::from(state).as_str())
        .bind(reason)
        .bind(now.as_millis());
        self.fenced(token, q).await
    }

    async fn release(&self, token: LeaseToken, now: Timestamp) -> Result<()> {
        let q = sqlx::query(
            "UPDATE replies SET state = 'pending', lease_until = NULL, updated_at = ?3 \
             WHERE id = ?1 AND attempt = ?2 AND state = 'claimed'",
        )
        .bind(u64_to_i64(token.id))
        .bind(i64::from(token.attempt))
        .bind(now.as_millis());
        self.fenced(token, q).await
    }

    async fn cancel_pending(
        &self,
        sender: &SenderHash,
        reason: &str,
        now: Timestamp,
    ) -> Result<u64> {
        let op = Op::CancelPending {
            sender: *sender,
            reason: reason.to_owned(),
            now,
        };
        submit(self, op, "cancel_pending", |d| match d {
            Done::Count(n) => Some(n),
            _ => None,
        })
        .await
    }

    async fn expire_overdue(&self, now: Timestamp) -> Result<u64> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        // First give back the slots the expiring lessons still hold, then expire them.
        sqlx::query(
            "UPDATE senders SET last_lesson_at = NULL \
             FROM (SELECT sender, created_at FROM replies \
               WHERE state = 'pending' AND expires_at <= ?1 AND kind = 'lesson') AS r \
             WHERE senders.sender = r.sender AND senders.last_lesson_at = r.created_at",
        )
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let done = sqlx::query(
            "UPDATE replies SET state = 'expired', last_error = ?2, recipient = NULL, \
             updated_at = ?1 WHERE state = 'pending' AND expires_at <= ?1",
        )
        .bind(now.as_millis())
        .bind(EXPIRED_REASON)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn record_delivery(
        &self,
        provider_id: &str,
        state: DeliveryState,
        _now: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query("UPDATE replies SET delivery = ?2 WHERE provider_id = ?1")
            .bind(provider_id)
            .bind(state.as_str())
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn sent_from(&self, provider_id: &str) -> Result<Option<PhoneNumber>> {
        let number: Option<(String,)> =
            sqlx::query_as("SELECT number FROM replies WHERE provider_id = ?1 LIMIT 1")
                .bind(provider_id)
                .fetch_optional(&self.reader)
                .await
                .map_err(db_err)?;
        number.map(|(n,)| phone(&n)).transpose()
    }

    async fn sent_to(&self, provider_id: &str) -> Result<Option<SenderHash>> {
        let sender: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT sender FROM replies WHERE provider_id = ?1 LIMIT 1")
                .bind(provider_id)
                .fetch_optional(&self.reader)
                .await
                .map_err(db_err)?;
        sender.map(|(s,)| SenderHash::from_bytes(&s)).transpose()
    }

    async fn get(&self, id: ReplyId) -> Result<Option<ReplyRecord>> {
        let Ok(id) = i64::try_from(id) else {
            return Ok(None);
        };
        let row = sqlx::query(&format!(
            "SELECT {REPLY_COLUMNS} FROM replies WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        row.as_ref().map(reply_record).transpose()
    }

    async fn queue_stats(&self, now: Timestamp) -> Result<QueueStats> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(state = 'pending'), 0) AS pending, \
             COALESCE(SUM(state = 'pending' AND due_at <= ?1), 0) AS due, \
             COALESCE(SUM(state = 'claimed'), 0) AS claimed \
             FROM replies WHERE state IN ('pending', 'claimed')",
        )
        .bind(now.as_millis())
        .fetch_one(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(QueueStats {
            pending: to_u64(get(&row, "pending")?, "count")?,
            due: to_u64(get(&row, "due")?, "count")?,
            claimed: to_u64(get(&row, "claimed")?, "count")?,
        })
    }

    async fn purge(&self, before: Timestamp) -> Result<u64> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        let done = sqlx::query(
            "DELETE FROM replies WHERE state NOT IN ('pending', 'claimed') AND updated_at < ?1",
        )
        .bind(before.as_millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        // Closed reservations older than the retention period are bookkeeping only: the
        // committed spend lives in `spend_periods`.
        sqlx::query("DELETE FROM reservations WHERE state <> 'reserved' AND created_at < ?1")
            .bind(before.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        // The WAL still holds older versions of the pages whose numbers were erased since the
        // last purge: truncate it (best effort; see `SqliteStore::truncate_wal`).
        match self.truncate_wal().await {
            Ok(true) => {}
            Ok(false) => tracing::debug!("WAL busy: not truncated, the next purge tries again"),
            Err(e) => tracing::warn!(error = %e, "WAL not truncated after the purge"),
        }
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl SenderHistory for SqliteStore {
    async fn record_contact(
        &self,
        sender: &SenderHash,
        _channel: Channel,
        now: Timestamp,
    ) -> Result<Option<SenderRecord>> {
        let op = Op::RecordContact {
            sender: *sender,
            now,
        };
        submit(self, op, "record_contact", |d| match d {
            Done::Contact(c) => Some(c),
            _ => None,
        })
        .await
    }

    async fn try_begin_lesson(
        &self,
        sender: &SenderHash,
        window: Duration,
        now: Timestamp,
    ) -> Result<bool> {
        let op = Op::BeginLesson {
            sender: *sender,
            window,
            now,
        };
        submit(self, op, "try_begin_lesson", |d| match d {
            Done::Bool(v) => Some(v),
            _ => None,
        })
        .await
    }

    async fn sender(&self, sender: &SenderHash) -> Result<Option<SenderRecord>> {
        let row = sqlx::query(
            "SELECT first_seen, last_seen, contacts, last_lesson_at FROM senders WHERE sender = ?1",
        )
        .bind(&sender.0[..])
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        row.as_ref()
            .map(|r| sql_row::sender_record(&Columns(r)))
            .transpose()
    }

    async fn release_lesson(&self, sender: &SenderHash, began_at: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE senders SET last_lesson_at = NULL WHERE sender = ?1 AND last_lesson_at = ?2",
        )
        .bind(&sender.0[..])
        .bind(began_at.as_millis())
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn purge_senders(&self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM senders WHERE last_seen < ?1 \
             AND (last_lesson_at IS NULL OR last_lesson_at < ?1) \
             AND NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.sender = senders.sender AND o.opted_out)",
        )
        .bind(before.as_millis())
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl OptOutStore for SqliteStore {
    async fn set_opted_out(
        &self,
        sender: &SenderHash,
        opted_out: bool,
        now: Timestamp,
    ) -> Result<()> {
        let op = Op::SetOptedOut {
            sender: *sender,
            opted_out,
            now,
        };
        submit(self, op, "set_opted_out", |d| match d {
            Done::Unit => Some(()),
            _ => None,
        })
        .await
    }

    async fn is_opted_out(&self, sender: &SenderHash) -> Result<bool> {
        let v: Option<bool> =
            sqlx::query_scalar("SELECT opted_out FROM opt_outs WHERE sender = ?1")
                .bind(&sender.0[..])
                .fetch_optional(&self.reader)
                .await
                .map_err(db_err)?;
        Ok(v.unwrap_or(false))
    }
}

fn day_period(day: u32) -> String {
    format!("d:{day}")
}

fn month_period(month: u32) -> String {
    format!("m:{month}")
}

/// Add `delta` to the committed spend of a period, creating it at zero first.
async fn add_spend(conn: &mut sqlx::SqliteConnection, period: &str, delta: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO spend_periods (period, committed) VALUES (?1, ?2) \
         ON CONFLICT (period) DO UPDATE SET committed = committed + ?2",
    )
    .bind(period)
    .bind(delta)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Add `amount` to a period only if it stays within `cap`; returns whether it did.
async fn add_spend_capped(
    conn: &mut sqlx::SqliteConnection,
    period: &str,
    amount: i64,
    cap: Option<Money>,
) -> Result<bool> {
    sqlx::query("INSERT INTO spend_periods (period, committed) VALUES (?1, 0) ON CONFLICT (period) DO NOTHING")
        .bind(period)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let done = sqlx::query(
        "UPDATE spend_periods SET committed = committed + ?2 \
         WHERE period = ?1 AND (?3 IS NULL OR committed + ?2 <= ?3)",
    )
    .bind(period)
    .bind(amount)
    .bind(cap.map(Money::micros))
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected() == 1)
}

#[async_trait]
impl SpendLedger for SqliteStore {
    async fn reserve(
        &self,
        amount: Money,
        caps: &SpendCaps,
        now: Timestamp,
    ) -> Result<Reservation> {
        let (day, month) = (now.day_key(), now.month_key());
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        if !add_spend_capped(&mut tx, &day_period(day), amount.micros(), caps.daily).await? {
            tx.rollback().await.map_err(db_err)?;
            return Err(Error::BudgetExceeded { period: "daily" });
        }
        if !add_spend_capped(&mut tx, &month_period(month), amount.micros(), caps.monthly).await? {
            tx.rollback().await.map_err(db_err)?;
            return Err(Error::BudgetExceeded { period: "monthly" });
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO reservations (amount, day, month, state, created_at) \
             VALUES (?1, ?2, ?3, 'reserved', ?4) RETURNING id",
        )
        .bind(amount.micros())
        .bind(i64::from(day))
        .bind(i64::from(month))
        .bind(now.as_millis())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Reservation {
            id: to_u64(id, "reservation id")?,
            amount,
            day,
            month,
        })
    }

    async fn settle(&self, reservation: &Reservation, actual: Money) -> Result<()> {
        self.close_reservation(reservation, "settled", Some(actual))
            .await
    }

    async fn release(&self, reservation: &Reservation) -> Result<()> {
        self.close_reservation(reservation, "released", None).await
    }

    async fn record(&self, amount: Money, now: Timestamp) -> Result<()> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        add_spend(&mut tx, &day_period(now.day_key()), amount.micros()).await?;
        add_spend(&mut tx, &month_period(now.month_key()), amount.micros()).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn spend(&self, now: Timestamp) -> Result<SpendSummary> {
        let row = sqlx::query(
            "SELECT COALESCE((SELECT committed FROM spend_periods WHERE period = ?1), 0) AS day, \
                    COALESCE((SELECT committed FROM spend_periods WHERE period = ?2), 0) AS month",
        )
        .bind(day_period(now.day_key()))
        .bind(month_period(now.month_key()))
        .fetch_one(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(SpendSummary {
            day: Money::from_micros(get(&row, "day")?),
            month: Money::from_micros(get(&row, "month")?),
        })
    }
}

impl SqliteStore {
    /// Settle (`actual` given) or release a reservation, at most once: the stored reservation
    /// is the truth; an unknown or closed id is a no-op.
    async fn close_reservation(
        &self,
        reservation: &Reservation,
        state: &str,
        actual: Option<Money>,
    ) -> Result<()> {
        let Ok(id) = i64::try_from(reservation.id) else {
            return Ok(());
        };
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        let row = sqlx::query(
            "UPDATE reservations SET state = ?2 WHERE id = ?1 AND state = 'reserved' \
             RETURNING amount, day, month",
        )
        .bind(id)
        .bind(state)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(row) = row {
            let amount: i64 = get(&row, "amount")?;
            let day = to_u32(get(&row, "day")?, "day")?;
            let month = to_u32(get(&row, "month")?, "month")?;
            let delta = actual.map_or(0, Money::micros).saturating_sub(amount);
            add_spend(&mut tx, &day_period(day), delta).await?;
            add_spend(&mut tx, &month_period(month), delta).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl Counters for SqliteStore {
    async fn incr(&self, name: &str, by: u64) -> Result<()> {
        // Statistics: summed in memory, committed with the next batch (see crate::batch).
        self.batcher.add_counter(name, by)
    }

    async fn counters(&self) -> Result<BTreeMap<String, u64>> {
        // Wait for the increments queued before this read.
        self.batcher.submit(Op::Barrier).await?;
        let rows = sqlx::query("SELECT name, value FROM counters")
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    get::<String>(r, "name")?,
                    to_u64(get(r, "value")?, "counter")?,
                ))
            })
            .collect()
    }
}

/// A text's reads and writes in one group-commit job: the writer makes the reads inside the
/// transaction that stores the writes (the `admit` module).
#[async_trait]
impl antirelou_core::store::Store for SqliteStore {
    async fn admit_text(
        &self,
        lesson: NewReply,
        window: Duration,
        now: Timestamp,
        decide: AdmitDecision,
    ) -> Result<TextAdmission> {
        let op = Op::Admit(Admission {
            lesson,
            window,
            now,
            decide,
        });
        submit(self, op, "admit_text", |d| match d {
            Done::Admitted(a) => Some(a),
            _ => None,
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use antirelou_core::store::ReplyKind;

    fn scratch_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "antirelou-sqlite-{name}-{}-{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    }

    /// A file store with group commit (and the default pipelined sync) in a new scratch
    /// directory.
    async fn group_commit_store(name: &str) -> (std::path::PathBuf, crate::SqliteStore) {
        let dir = scratch_dir(name);
        let store =
            crate::SqliteStore::open_with(dir.join("antirelou.db"), crate::SqliteConfig::default())
                .await
                .expect("a group-commit store");
        (dir, store)
    }

    /// Held by the test that makes every batch script fail (`FAIL_SCRIPTS` is global) and by
    /// the tests that count failed scripts.
    static SCRIPTS_MAY_FAIL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    /// Batches of many sizes, powers of two or not, store exactly their writes through padded
    /// scripts: no script fails on its NULL rows (a failed one would run again one write at a
    /// time and hide it), every text gets its answer, and the writer prepares one text per
    /// padded size and shape, not one per batch size.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(clippy::unwrap_used)]
    async fn padded_scripts_store_exactly_their_writes_and_repeat() {
        use antirelou_core::policy::Decision;
        use antirelou_core::store::{ReplyQueue, SenderHistory, Store, TextAdmission};
        let _alone = SCRIPTS_MAY_FAIL.lock().await;
        let (dir, store) = group_commit_store("padded").await;
        let now = Timestamp::from_secs(1_700_000_000);
        let window = Duration::from_secs(3600);
        let lesson = |id: u32, text: u32| {
            let mut sender = [0u8; 16];
            sender[..4].copy_from_slice(&id.to_be_bytes());
            NewReply {
                idempotency_key: format!("test:padded:{id}:{text}"),
                sender: SenderHash(sender),
                ..test_lesson("padded", 0, now, window)
            }
        };
        let sizes = [
            1usize, 2, 3, 5, 6, 7, 9, 11, 13, 17, 21, 25, 31, 33, 40, 47, 55, 65, 77, 100, 127,
            129, 150, 200,
        ];
        let mut first = 0u32;
        for n in sizes {
            let ids: Vec<u32> = (first..first + n as u32).collect();
            first += n as u32;
            // A first text from each sender (a new contact and a lesson), then a second (a
            // known contact, the slot already taken).
            for text in 0..2u32 {
                let tasks: Vec<_> = ids
                    .iter()
                    .map(|&id| {
                        let store = store.clone();
                        let reply = lesson(id, text);
                        tokio::spawn(async move {
                            store
                                .admit_text(reply, window, now, Box::new(|| Decision::Allow))
                                .await
                        })
                    })
                    .collect();
                for (id, t) in ids.iter().zip(tasks) {
                    let outcome = t.await.unwrap().unwrap();
                    let ok = match (text, &outcome) {
                        (
                            0,
                            TextAdmission::Decided {
                                previous: None,
                                schedule: LessonSchedule::Scheduled(_),
                            },
                        ) => true,
                        (
                            1,
                            TextAdmission::Decided {
                                previous: Some(r),
                                schedule: LessonSchedule::AlreadyTaught,
                            },
                        ) => r.contacts == 1,
                        _ => false,
                    };
                    assert!(ok, "batch of {n}, sender {id}, text {text}: {outcome:?}");
                }
            }
        }
        let senders = u64::from(first);
        assert_eq!(store.queue_stats(now).await.unwrap().pending, senders);
        for id in [0, first / 2, first - 1] {
            let record = store.sender(&lesson(id, 0).sender).await.unwrap().unwrap();
            assert_eq!((record.contacts, record.last_lesson_at), (2, Some(now)));
        }
        let (rows, null_rows): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE sender IS NULL OR first_seen IS NULL) \
             FROM senders",
        )
        .fetch_one(&store.reader)
        .await
        .unwrap();
        assert_eq!((rows, null_rows), (i64::try_from(senders).unwrap(), 0));
        let log = store.batcher.log();
        assert_eq!(log.failed(), 0, "a batch script failed");
        // Per padded size (1 to 256: nine), at most three texts: the admissions' read, the
        // first texts' script, the second texts' script. Unpadded, each batch size would
        // make its own three.
        let texts = log.texts();
        assert!(
            texts.len() <= 27,
            "{} distinct texts for {} batches",
            texts.len(),
            2 * sizes.len()
        );
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The ids listed in sender `i`'s row (`senders.live_replies`), and the `listed` flag of
    /// each of the sender's replies, by id.
    async fn listed(store: &crate::SqliteStore, i: u8) -> (Vec<i64>, Vec<(i64, i64)>) {
        let list: Option<String> =
            sqlx::query_scalar("SELECT live_replies FROM senders WHERE sender = ?1")
                .bind(&[i; 16][..])
                .fetch_optional(&store.reader)
                .await
                .expect("the sender's list")
                .flatten();
        let ids = list
            .map(|l| serde_json::from_str(&l).expect("a JSON array of ids"))
            .unwrap_or_default();
        let flags = sqlx::query_as("SELECT id, listed FROM replies WHERE sender = ?1 ORDER BY id")
            .bind(&[i; 16][..])
            .fetch_all(&store.reader)
            .await
            .expect("the sender's replies");
        (ids, flags)
    }

    /// `cancel_pending` of sender `i`'s replies at `at`: how many.
    async fn cancel(store: &crate::SqliteStore, i: u8, at: Timestamp) -> u64 {
        use antirelou_core::store::ReplyQueue;
        store
            .cancel_pending(&SenderHash([i; 16]), "stop", at)
            .await
            .expect("cancel_pending")
    }

    /// Lessons stored by a batch are listed in their sender's row instead of the
    /// `replies_sender` index, and `cancel_pending` finds them there, in a batch and on the
    /// writer connection alike, together with the sender's unlisted replies; a later lesson's
    /// list keeps only the live replies.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(clippy::unwrap_used)]
    async fn listed_lessons_are_cancelled_with_the_other_replies() {
        use antirelou_core::policy::Decision;
        use antirelou_core::store::{ReplyQueue, Store, TextAdmission};
        let (dir, store) = group_commit_store("listed").await;
        let now = Timestamp::from_secs(1_700_000_000);
        let window = Duration::from_secs(3600);
        let admit = |i: u8, text: &'static str, at: Timestamp| {
            let store = store.clone();
            let reply = NewReply {
                idempotency_key: format!("test:listed:{i}:{text}"),
                ..test_lesson("listed", i, at, window)
            };
            async move {
                match store
                    .admit_text(reply, window, at, Box::new(|| Decision::Allow))
                    .await
                    .unwrap()
                {
                    TextAdmission::Decided {
                        schedule: LessonSchedule::Scheduled(id),
                        ..
                    } => i64::try_from(id).unwrap(),
                    other => panic!("sender {i}, text {text}: {other:?}"),
                }
            }
        };
        let (a, b) = tokio::join!(admit(1, "first", now), admit(2, "first", now));
        assert_eq!(listed(&store, 1).await, (vec![a], vec![(a, 1)]));
        assert_eq!(listed(&store, 2).await, (vec![b], vec![(b, 1)]));
        // An unlisted reply of sender 1 beside its lesson: a STOP cancels both (a batch).
        let other = NewReply {
            idempotency_key: "test:listed:1:other".into(),
            kind: ReplyKind::Neutral,
            ..test_lesson("listed", 1, now, window)
        };
        let ScheduleOutcome::Scheduled(other) = store.schedule(other, now).await.unwrap() else {
            panic!("a new key");
        };
        let other = i64::try_from(other).unwrap();
        assert_eq!(listed(&store, 1).await, (vec![a], vec![(a, 1), (other, 0)]));
        assert_eq!(cancel(&store, 1, now).await, 2);
        assert_eq!(cancel(&store, 1, now).await, 0, "nothing left to cancel");
        let state = |id: i64| {
            let store = store.clone();
            async move {
                store
                    .get(u64::try_from(id).unwrap())
                    .await
                    .unwrap()
                    .unwrap()
                    .state
            }
        };
        assert_eq!(state(a).await, ReplyState::Cancelled);
        assert_eq!(state(other).await, ReplyState::Cancelled);
        assert_eq!(
            state(b).await,
            ReplyState::Pending,
            "another sender's lesson is untouched"
        );
        // A window later, sender 1's next lesson: the cancelled one leaves its list.
        let later = now.add(window).add(Duration::from_secs(1));
        let c = admit(1, "second", later).await;
        assert_eq!(listed(&store, 1).await.0, vec![c]);
        // Without group commit, on the writer connection: the same two statements.
        store.close().await;
        let plain = crate::SqliteStore::open(dir.join("antirelou.db"))
            .await
            .unwrap();
        assert_eq!(cancel(&plain, 1, later).await, 1);
        assert_eq!(cancel(&plain, 2, later).await, 1);
        assert_eq!(plain.queue_stats(later).await.unwrap().pending, 0);
        plain.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A database of schema version 1 (its replies in the `replies_sender` index, no lists)
    /// is migrated on open, and its pending replies are still cancelled by sender.
    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn a_version_1_database_keeps_its_pending_replies_cancellable() {
        let dir = scratch_dir("v1");
        let v1 = dir.join("v1-migrations");
        std::fs::create_dir_all(&v1).unwrap();
        std::fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/0001_initial.sql"),
            v1.join("0001_initial.sql"),
        )
        .unwrap();
        let db = dir.join("antirelou.db");
        {
            let pool = sqlx::SqlitePool::connect_with(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(&db)
                    .create_if_missing(true),
            )
            .await
            .unwrap();
            sqlx::migrate::Migrator::new(v1.as_path())
                .await
                .unwrap()
                .run(&pool)
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO replies (idempotency_key, state, kind, number, recipient, sender, \
                 due_at, expires_at, created_at, updated_at) \
                 VALUES ('v1:lesson', 'pending', 'lesson', '+33937000000', '+33612345678', ?1, \
                 0, 1, 0, 0)",
            )
            .bind(&[9u8; 16][..])
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        for expected in [1, 0] {
            let store = crate::SqliteStore::open(&db).await.unwrap();
            // Cancelled by the first open, none left for the second.
            assert_eq!(
                cancel(&store, 9, Timestamp::from_millis(0)).await,
                expected,
                "expected {expected}"
            );
            store.close().await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Sender `i`'s lesson under the key `test:{tag}:{i}`, due at `now`, expiring a `window`
    /// later.
    fn test_lesson(tag: &str, i: u8, now: Timestamp, window: Duration) -> NewReply {
        NewReply {
            idempotency_key: format!("test:{tag}:{i}"),
            number: PhoneNumber::parse("+33937000000").expect("our number"),
            recipient: PhoneNumber::parse("+33612345678").expect("his number"),
            sender: SenderHash([i; 16]),
            kind: ReplyKind::Lesson,
            due_at: now,
            expires_at: now.add(window),
        }
    }

    /// With the WAL synced outside the write lock, every batch commits at `synchronous=NORMAL`
    /// and the writer connection is back at `FULL` for the other writes (claims, the spend
    /// ledger) once the batch is done; the batch's writes are all there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(clippy::unwrap_used)]
    async fn pipelined_batches_leave_the_writer_at_full_sync() {
        use antirelou_core::store::{Counters, OptOutStore};
        let (dir, store) = group_commit_store("pipelined").await;
        let now = Timestamp::from_secs(1_700_000_000);
        let tasks: Vec<_> = (0..64u8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .set_opted_out(&SenderHash([i; 16]), true, now)
                        .await
                        .unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        store.incr("pipelined.test", 3).await.unwrap();
        assert_eq!(
            store.counters().await.unwrap().get("pipelined.test"),
            Some(&3)
        );
        for i in 0..64u8 {
            assert!(store.is_opted_out(&SenderHash([i; 16])).await.unwrap());
        }
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(sync, 2, "the writer connection is back at synchronous=FULL");
        let temp_store: i64 = sqlx::query_scalar("PRAGMA temp_store")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(temp_store, 2, "statement journals are kept in memory");
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A batch whose script fails after its writes is rolled back and run again one write at
    /// a time: every text is answered as if the script had succeeded, and its writes are there
    /// once (the first attempt's were rolled back).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(clippy::unwrap_used)]
    async fn a_failed_script_is_rolled_back_and_run_one_write_at_a_time() {
        use std::sync::atomic::Ordering;

        use antirelou_core::policy::Decision;
        use antirelou_core::store::{Counters, ReplyQueue, SenderHistory, Store, TextAdmission};
        let _alone = SCRIPTS_MAY_FAIL.lock().await;
        let (dir, store) = group_commit_store("script-fails").await;
        let now = Timestamp::from_secs(1_700_000_000);
        let window = Duration::from_secs(3600);
        let lesson = |i: u8| test_lesson("fails", i, now, window);
        crate::writers::FAIL_SCRIPTS.store(true, Ordering::Relaxed);
        let tasks: Vec<_> = (0..32u8)
            .map(|i| {
                let store = store.clone();
                let reply = lesson(i);
                tokio::spawn(async move {
                    store.incr("fails.test", 1).await.unwrap();
                    store
                        .admit_text(reply, window, now, Box::new(|| Decision::Allow))
                        .await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        crate::writers::FAIL_SCRIPTS.store(false, Ordering::Relaxed);
        for (i, outcome) in outcomes.into_iter().enumerate() {
            assert!(
                matches!(
                    outcome,
                    Ok(TextAdmission::Decided {
                        previous: None,
                        schedule: LessonSchedule::Scheduled(_)
                    })
                ),
                "text {i}: {outcome:?}"
            );
        }
        for i in 0..32u8 {
            let record = store.sender(&SenderHash([i; 16])).await.unwrap();
            assert_eq!(
                record.map(|r| (r.contacts, r.last_lesson_at)),
                Some((1, Some(now))),
                "sender {i}: one contact, one slot"
            );
            assert!(
                store
                    .find_by_key(&format!("test:fails:{i}"))
                    .await
                    .unwrap()
                    .is_some()
            );
        }
        assert_eq!(store.queue_stats(now).await.unwrap().pending, 32);
        assert_eq!(store.counters().await.unwrap().get("fails.test"), Some(&32));
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A policy that panics on the writer's thread refuses its own text with an error; the
    /// writer goes on, and the text after it is admitted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(clippy::unwrap_used)]
    async fn a_panicking_policy_refuses_only_its_text() {
        use antirelou_core::policy::Decision;
        use antirelou_core::store::{SenderHistory, Store, TextAdmission};
        let (dir, store) = group_commit_store("panicking-policy").await;
        let now = Timestamp::from_secs(1_700_000_000);
        let window = Duration::from_secs(3600);
        let lesson = |i: u8| test_lesson("panic", i, now, window);
        let refused = store
            .admit_text(
                lesson(1),
                window,
                now,
                Box::new(|| panic!("a buggy policy")),
            )
            .await;
        assert!(
            matches!(&refused, Err(e) if e.to_string().contains("panicked")),
            "{refused:?}"
        );
        assert_eq!(store.sender(&SenderHash([1; 16])).await.unwrap(), None);
        let admitted = store
            .admit_text(lesson(2), window, now, Box::new(|| Decision::Allow))
            .await
            .unwrap();
        assert!(matches!(
            admitted,
            TextAdmission::Decided {
                schedule: LessonSchedule::Scheduled(_),
                ..
            }
        ));
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// With the background checkpointer, the WAL is copied into the database file by its own
    /// thread once it passes `wal_autocheckpoint` pages, before the writer's own threshold
    /// (four times that) is reached.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(clippy::unwrap_used)]
    async fn the_wal_is_checkpointed_in_the_background() {
        use antirelou_core::store::OptOutStore;
        for background in [true, false] {
            let dir = scratch_dir("checkpoint");
            let db = dir.join("antirelou.db");
            // The writer checkpoints at 256 pages either way.
            let config = crate::SqliteConfig {
                wal_autocheckpoint: if background { 64 } else { 256 },
                background_checkpoint: background,
                ..crate::SqliteConfig::default()
            };
            let store = crate::SqliteStore::open_with(&db, config).await.unwrap();
            let initial = std::fs::metadata(&db).unwrap().len();
            let wal = dir.join("antirelou.db-wal");
            let now = Timestamp::from_secs(1_700_000_000);
            // Opt-outs until the WAL holds about 100 pages: past 64, short of 256.
            for round in 0..200u8 {
                let pages = std::fs::metadata(&wal).map_or(0, |m| m.len()) / 4096;
                if pages >= 100 {
                    break;
                }
                let writes: Vec<_> = (0..100u8)
                    .map(|i| {
                        let store = store.clone();
                        let mut key = [round; 16];
                        key[1] = i;
                        tokio::spawn(async move {
                            store.set_opted_out(&SenderHash(key), true, now).await
                        })
                    })
                    .collect();
                for w in writes {
                    w.await.unwrap().unwrap();
                }
            }
            let mut grown = false;
            for _ in 0..40 {
                if std::fs::metadata(&db).unwrap().len() > initial {
                    grown = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(
                grown, background,
                "database file grew (pages checkpointed): {grown}, background checkpointer: {background}"
            );
            store.close().await;
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    /// With group commit, counter increments are summed in memory and taken by the next batch;
    /// one that nothing else follows is still committed soon, without a read asking for it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(clippy::unwrap_used)]
    async fn a_lone_counter_increment_is_committed() {
        use antirelou_core::store::Counters;
        let (dir, store) = group_commit_store("lone-counter").await;
        store.incr("lone.a", 2).await.unwrap();
        store.incr("lone.a", 3).await.unwrap();
        store.incr("lone.b", 1).await.unwrap();
        let mut stored: Vec<(String, i64)> = Vec::new();
        for _ in 0..100 {
            stored = sqlx::query_as("SELECT name, value FROM counters ORDER BY name")
                .fetch_all(&store.reader)
                .await
                .unwrap();
            if stored.len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            stored,
            vec![("lone.a".to_owned(), 5), ("lone.b".to_owned(), 1)]
        );
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Under a steady group-commit load the WAL starts over once the background checkpointer
    /// has copied a threshold's worth: the writer copies the last frames itself when asked
    /// (`checkpoint::TailRequest`). Without that, a passive checkpoint never catches up with a
    /// writer that keeps appending, and the WAL only starts over when the writer's own
    /// checkpoint runs, at four times the threshold.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(clippy::unwrap_used)]
    async fn the_wal_starts_over_under_a_steady_load() {
        use antirelou_core::store::OptOutStore;
        const PAGES: u32 = 1000;
        const FRAME: u64 = 4096 + 24;
        let mut largest = Vec::new();
        for tail in [true, false] {
            let dir = scratch_dir("wal-restart");
            let db = dir.join("antirelou.db");
            let config = crate::SqliteConfig {
                wal_autocheckpoint: PAGES,
                ..crate::SqliteConfig::default()
            };
            let mut store = crate::SqliteStore::open_with(&db, config).await.unwrap();
            let wal = crate::wal_path(&db);
            if !tail {
                store.batcher = crate::batch::Batcher::start(
                    store.writer.clone(),
                    crate::batch::WalSync::Pipelined(wal.clone()),
                    None,
                )
                .unwrap();
            }
            let now = Timestamp::from_secs(1_700_000_000);
            // 8 writers (batches of a few writes: a few hundred frames between two looks of the
            // checkpointer), 40,000 opt-outs of keys spread over the tree: thousands of frames.
            let load: Vec<_> = (0..8u64)
                .map(|t| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        for i in (t..40_000).step_by(8) {
                            let mut key = [0u8; 16];
                            key[..8].copy_from_slice(
                                &i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes(),
                            );
                            key[8..].copy_from_slice(&i.to_le_bytes());
                            store
                                .set_opted_out(&SenderHash(key), true, now)
                                .await
                                .unwrap();
                        }
                    })
                })
                .collect();
            for l in load {
                l.await.unwrap();
            }
            // The file never shrinks (it is written over from its start after a restart): its
            // size is the most frames the WAL held.
            let max = std::fs::metadata(&wal).map_or(0, |m| m.len());
            largest.push(max / FRAME);
            store.close().await;
            let _ = std::fs::remove_dir_all(&dir);
        }
        let (with, without) = (largest[0], largest[1]);
        eprintln!("WAL high-water mark: {with} frames with the tail request, {without} without");
        assert!(
            without >= u64::from(4 * PAGES),
            "the load did not reach the writer's own threshold without the tail request ({without} frames)"
        );
        assert!(
            with < u64::from(3 * PAGES),
            "the WAL grew to {with} frames with the tail request ({without} without)"
        );
    }

    /// The group-commit writer keeps the writer connection across consecutive batches, but
    /// not for ever: under a load that never lets the queue empty, the other writes (here the
    /// spend ledger's) still get the connection, and find it at `synchronous=FULL`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(clippy::unwrap_used)]
    async fn other_writes_get_the_writer_under_a_steady_batch_load() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};

        use antirelou_core::store::{Counters, SpendCaps, SpendLedger};
        let (dir, store) = group_commit_store("steady").await;
        let now = Timestamp::from_secs(1_700_000_000);
        let stop = Arc::new(AtomicBool::new(false));
        // Counter increments are queued without waiting for their commit: a few tasks keep
        // the queue from ever being empty.
        let load: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                let stop = Arc::clone(&stop);
                tokio::spawn(async move {
                    let mut sent = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        store.incr("steady.load", 1).await.unwrap();
                        sent += 1;
                        if sent.is_multiple_of(64) {
                            tokio::task::yield_now().await;
                        }
                    }
                    sent
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let caps = SpendCaps {
            daily: Some(Money::from_micros(1_000_000)),
            monthly: Some(Money::from_micros(10_000_000)),
        };
        for _ in 0..5 {
            let reserved = tokio::time::timeout(
                Duration::from_secs(10),
                store.reserve(Money::from_micros(1_000), &caps, now),
            )
            .await;
            assert!(
                matches!(reserved, Ok(Ok(_))),
                "a ledger write waited behind the batches: {reserved:?}"
            );
        }
        let sync: i64 = tokio::time::timeout(
            Duration::from_secs(10),
            sqlx::query_scalar("PRAGMA synchronous").fetch_one(&store.writer),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            sync, 2,
            "the other writes find the connection at synchronous=FULL"
        );
        stop.store(true, Ordering::Relaxed);
        let mut sent = 0;
        for t in load {
            sent += t.await.unwrap();
        }
        assert_eq!(
            store.counters().await.unwrap().get("steady.load"),
            Some(&sent)
        );
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A batch whose WAL cannot be synced is not acknowledged: its callers get a transient
    /// error (their writes may not survive a power loss), never `Ok`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(clippy::unwrap_used)]
    async fn a_batch_whose_wal_cannot_be_synced_is_refused() {
        use antirelou_core::store::OptOutStore;
        let dir = scratch_dir("unsynced");
        let mut store = crate::SqliteStore::open(dir.join("antirelou.db"))
            .await
            .unwrap();
        store.batcher = crate::batch::Batcher::start(
            store.writer.clone(),
            crate::batch::WalSync::Pipelined(dir.join("no-such-dir").join("antirelou.db-wal")),
            None,
        )
        .unwrap();
        let now = Timestamp::from_secs(1_700_000_000);
        let err = store
            .set_opted_out(&SenderHash([9; 16]), true, now)
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(err.to_string().contains("could not be synced"), "{err}");
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn delivery_states_round_trip() {
        for s in [
            DeliveryState::Accepted,
            DeliveryState::Sent,
            DeliveryState::Delivered,
            DeliveryState::Undelivered,
            DeliveryState::Failed,
            DeliveryState::Expired,
            DeliveryState::Unknown,
        ] {
            assert_eq!(DeliveryState::parse(s.as_str()), s);
        }
    }
}
