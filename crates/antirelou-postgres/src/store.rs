//! The storage traits of `antirelou-core`, implemented on PostgreSQL.
//!
//! Each method is one atomic statement (`UPDATE … RETURNING`, `INSERT … ON CONFLICT`, claims
//! with `FOR UPDATE SKIP LOCKED`) or a short `READ COMMITTED` transaction whose conditional
//! updates PostgreSQL re-checks on the latest row version, so every contract holds with any
//! number of servers sharing the database.

use std::collections::BTreeMap;
use std::time::Duration;

use antirelou_core::event::{Channel, DeliveryState};
use antirelou_core::memory::EXPIRED_REASON;
use antirelou_core::privacy::SenderHash;
use antirelou_core::store::{
    ClaimedReply, Counters, LeaseToken, LessonSchedule, NewReply, OptOutStore, QueueStats, ReplyId,
    ReplyQueue, ReplyRecord, ReplyState, Reservation, ScheduleOutcome, SenderHistory, SenderRecord,
    SpendCaps, SpendLedger, SpendSummary, TerminalState,
};
use antirelou_core::{Error, Money, PhoneNumber, Result, Timestamp};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use antirelou_core::sql_row::{self, SqlRow, lease_lost, phone, to_u32, to_u64, u64_to_i64};

use crate::PgStore;
use crate::error::db_err;

const REPLY_COLUMNS: &str = "id, state, attempt, kind, number, recipient, sender, due_at, \
     expires_at, provider_id, last_error, delivery, updated_at";

/// A fetched row, seen by the decoders shared with the other SQL backend.
struct Columns<'r>(&'r PgRow);

impl SqlRow for Columns<'_> {
    fn int_or_null(&self, column: &str) -> Result<Option<i64>> {
        get(self.0, column)
    }

    fn text_or_null(&self, column: &str) -> Result<Option<String>> {
        get(self.0, column)
    }

    fn blob(&self, column: &str) -> Result<Vec<u8>> {
        get(self.0, column)
    }
}

fn get<'r, T>(row: &'r PgRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(col).map_err(db_err)
}

fn reply_record(row: &PgRow) -> Result<ReplyRecord> {
    sql_row::reply_record(&Columns(row))
}

fn claimed_reply(row: &PgRow) -> Result<ClaimedReply> {
    sql_row::claimed_reply(&Columns(row))
}

impl PgStore {
    /// Run a fenced single-statement update: `Ok` if it touched the current claim, else
    /// [`Error::LeaseLost`].
    async fn fenced(
        &self,
        token: LeaseToken,
        query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<()> {
        let done = query.execute(&self.pool).await.map_err(db_err)?;
        if done.rows_affected() == 0 {
            Err(lease_lost(token))
        } else {
            Ok(())
        }
    }

    /// Schedule many replies in one transaction (one commit): what a batching webhook front
    /// end uses. Outcomes come back in input order, with the same semantics as
    /// [`ReplyQueue::schedule`].
    pub async fn schedule_many(
        &self,
        replies: Vec<NewReply>,
        now: Timestamp,
    ) -> Result<Vec<ScheduleOutcome>> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let mut out = Vec::with_capacity(replies.len());
        for reply in replies {
            out.push(schedule_on(&mut tx, reply, now).await?);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }
}

async fn schedule_on(
    conn: &mut sqlx::PgConnection,
    reply: NewReply,
    now: Timestamp,
) -> Result<ScheduleOutcome> {
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO replies (idempotency_key, state, attempt, kind, number, recipient, sender, \
         due_at, expires_at, created_at, updated_at) \
         VALUES ($1, 'pending', 0, $2, $3, $4, $5, $6, $7, $8, $8) \
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
    let existing: Option<i64> =
        sqlx::query_scalar("SELECT id FROM replies WHERE idempotency_key = $1")
            .bind(&reply.idempotency_key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
    match existing {
        Some(id) => Ok(ScheduleOutcome::Duplicate(to_u64(id, "id")?)),
        // The row was purged between the two statements: retrying inserts it again.
        None => Err(Error::storage_transient(
            "reply purged while being scheduled; retry",
        )),
    }
}

async fn find_key(conn: &mut sqlx::PgConnection, key: &str) -> Result<Option<ReplyId>> {
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM replies WHERE idempotency_key = $1")
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    id.map(|id| to_u64(id, "id")).transpose()
}

#[async_trait]
impl ReplyQueue for PgStore {
    async fn schedule(&self, reply: NewReply, now: Timestamp) -> Result<ScheduleOutcome> {
        // `ON CONFLICT DO NOTHING` waits for a concurrent insert of the same key, so the
        // duplicate look-up that follows sees the winner.
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        schedule_on(&mut conn, reply, now).await
    }

    async fn schedule_lesson(
        &self,
        reply: NewReply,
        window: Duration,
        now: Timestamp,
    ) -> Result<LessonSchedule> {
        // One transaction (READ COMMITTED). The slot first: the conditional upsert locks the
        // sender's row, so concurrent calls for one sender queue up behind it and each sees the
        // slot as the one before left it. A refused slot is a duplicate if the key is stored
        // (read after the wait, so it sees the winner's committed reply), else "already
        // taught". A taken slot is kept only if the insert stores the key; a key that exists
        // rolls the slot back.
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let taken = sqlx::query(
            "INSERT INTO senders (sender, first_seen, last_seen, contacts, last_lesson_at) \
             VALUES ($1, $2, $2, 0, $2) \
             ON CONFLICT (sender) DO UPDATE SET last_lesson_at = $2 \
             WHERE senders.last_lesson_at IS NULL OR senders.last_lesson_at <= $3 \
             RETURNING 1",
        )
        .bind(&reply.sender.0[..])
        .bind(now.as_millis())
        .bind(now.sub(window).as_millis())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if taken.is_none() {
            let existing = find_key(&mut tx, &reply.idempotency_key).await?;
            tx.rollback().await.map_err(db_err)?;
            return Ok(match existing {
                Some(id) => LessonSchedule::Duplicate(id),
                None => LessonSchedule::AlreadyTaught,
            });
        }
        let key = reply.idempotency_key.clone();
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO replies (idempotency_key, state, attempt, kind, number, recipient, sender, \
             due_at, expires_at, created_at, updated_at) \
             VALUES ($1, 'pending', 0, $2, $3, $4, $5, $6, $7, $8, $8) \
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
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(id) = inserted {
            tx.commit().await.map_err(db_err)?;
            return Ok(LessonSchedule::Scheduled(to_u64(id, "id")?));
        }
        let existing = find_key(&mut tx, &key).await?;
        tx.rollback().await.map_err(db_err)?;
        match existing {
            Some(id) => Ok(LessonSchedule::Duplicate(id)),
            None => Err(Error::storage_transient(
                "reply purged while being scheduled; retry",
            )),
        }
    }

    async fn find_by_key(&self, idempotency_key: &str) -> Result<Option<ReplyId>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        find_key(&mut conn, idempotency_key).await
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
        // `SKIP LOCKED`: concurrent claimers on any server skip rows another one is taking;
        // a row taken and committed meanwhile is re-checked on its new version and dropped.
        // `due_at <= now` holds for both branches (a reply is claimed only once due) and bounds
        // the index range: replies not yet due are never scanned.
        let rows = sqlx::query(
            "UPDATE replies r SET state = 'claimed', attempt = r.attempt + 1, lease_until = $2, \
             updated_at = $1 \
             FROM (SELECT id FROM replies WHERE state IN ('pending', 'claimed') \
               AND due_at <= $1 \
               AND ((state = 'pending' AND due_at <= $1) OR (state = 'claimed' AND lease_until <= $1)) \
               ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) c \
             WHERE r.id = c.id \
             RETURNING r.id, r.attempt, r.lease_until, r.number, r.recipient, r.sender, r.kind, \
               r.due_at, r.expires_at, r.created_at",
        )
        .bind(now.as_millis())
        .bind(now.add(lease).as_millis())
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut out = rows.iter().map(claimed_reply).collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|c| (c.due_at, c.token.id));
        Ok(out)
    }

    async fn complete(&self, token: LeaseToken, provider_id: &str, now: Timestamp) -> Result<()> {
        let q = sqlx::query(
            "UPDATE replies SET state = 'sent', provider_id = $3, recipient = NULL, \
             lease_until = NULL, updated_at = $4 \
             WHERE id = $1 AND attempt = $2 AND state = 'claimed'",
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
            "UPDATE replies SET state = 'pending', due_at = $3, last_error = $4, \
             lease_until = NULL, updated_at = $5 \
             WHERE id = $1 AND attempt = $2 AND state = 'claimed'",
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
            "UPDATE replies SET state = $3, last_error = $4, recipient = NULL, \
             lease_until = NULL, updated_at = $5 \
             WHERE id = $1 AND attempt = $2 AND state = 'claimed'",
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
            "UPDATE replies SET state = 'pending', lease_until = NULL, updated_at = $3 \
             WHERE id = $1 AND attempt = $2 AND state = 'claimed'",
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
        let done = sqlx::query(
            "UPDATE replies SET state = 'cancelled', last_error = $2, recipient = NULL, \
             updated_at = $3 WHERE sender = $1 AND state = 'pending'",
        )
        .bind(&sender.0[..])
        .bind(reason)
        .bind(now.as_millis())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn expire_overdue(&self, now: Timestamp) -> Result<u64> {
        // One statement: expire, and give back the slots the expired lessons still hold.
        let n: i64 = sqlx::query_scalar(
            "WITH e AS (UPDATE replies SET state = 'expired', last_error = $2, recipient = NULL, \
               updated_at = $1 WHERE state = 'pending' AND expires_at <= $1 \
               RETURNING sender, kind, created_at), \
             r AS (UPDATE senders s SET last_lesson_at = NULL FROM e \
               WHERE e.kind = 'lesson' AND s.sender = e.sender \
               AND s.last_lesson_at = e.created_at RETURNING 1) \
             SELECT count(*) FROM e",
        )
        .bind(now.as_millis())
        .bind(EXPIRED_REASON)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        to_u64(n, "count")
    }

    async fn record_delivery(
        &self,
        provider_id: &str,
        state: DeliveryState,
        _now: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query("UPDATE replies SET delivery = $2 WHERE provider_id = $1")
            .bind(provider_id)
            .bind(state.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn sent_from(&self, provider_id: &str) -> Result<Option<PhoneNumber>> {
        let number: Option<(String,)> =
            sqlx::query_as("SELECT number FROM replies WHERE provider_id = $1 LIMIT 1")
                .bind(provider_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        number.map(|(n,)| phone(&n)).transpose()
    }

    async fn sent_to(&self, provider_id: &str) -> Result<Option<SenderHash>> {
        let sender: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT sender FROM replies WHERE provider_id = $1 LIMIT 1")
                .bind(provider_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        sender.map(|(s,)| SenderHash::from_bytes(&s)).transpose()
    }

    async fn get(&self, id: ReplyId) -> Result<Option<ReplyRecord>> {
        let Ok(id) = i64::try_from(id) else {
            return Ok(None);
        };
        let row = sqlx::query(&format!(
            "SELECT {REPLY_COLUMNS} FROM replies WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref().map(reply_record).transpose()
    }

    async fn queue_stats(&self, now: Timestamp) -> Result<QueueStats> {
        let row = sqlx::query(
            "SELECT COUNT(*) FILTER (WHERE state = 'pending') AS pending, \
             COUNT(*) FILTER (WHERE state = 'pending' AND due_at <= $1) AS due, \
             COUNT(*) FILTER (WHERE state = 'claimed') AS claimed \
             FROM replies WHERE state IN ('pending', 'claimed')",
        )
        .bind(now.as_millis())
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(QueueStats {
            pending: to_u64(get(&row, "pending")?, "count")?,
            due: to_u64(get(&row, "due")?, "count")?,
            claimed: to_u64(get(&row, "claimed")?, "count")?,
        })
    }

    async fn purge(&self, before: Timestamp) -> Result<u64> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let done = sqlx::query(
            "DELETE FROM replies WHERE state NOT IN ('pending', 'claimed') AND updated_at < $1",
        )
        .bind(before.as_millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        // Closed reservations older than the retention period are bookkeeping only: the
        // committed spend lives in `spend_periods`.
        sqlx::query("DELETE FROM reservations WHERE state <> 'reserved' AND created_at < $1")
            .bind(before.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl SenderHistory for PgStore {
    async fn record_contact(
        &self,
        sender: &SenderHash,
        _channel: Channel,
        now: Timestamp,
    ) -> Result<Option<SenderRecord>> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // A first contact inserts the row; concurrent first contacts wait on the unique index,
        // so exactly one of them sees "never seen".
        let inserted = sqlx::query(
            "INSERT INTO senders (sender, first_seen, last_seen, contacts, last_lesson_at) \
             VALUES ($1, $2, $2, 1, NULL) ON CONFLICT (sender) DO NOTHING RETURNING 1",
        )
        .bind(&sender.0[..])
        .bind(now.as_millis())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if inserted.is_some() {
            tx.commit().await.map_err(db_err)?;
            return Ok(None);
        }
        // The row exists: lock it, read it, update it. (`purge_senders` may have deleted it
        // in between: then the contact is retried as a first one.)
        let previous = sqlx::query(
            "SELECT first_seen, last_seen, contacts, last_lesson_at FROM senders \
             WHERE sender = $1 FOR UPDATE",
        )
        .bind(&sender.0[..])
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(previous) = previous else {
            tx.rollback().await.map_err(db_err)?;
            return Err(Error::storage_transient(
                "sender purged while being recorded; retry",
            ));
        };
        let previous = sql_row::sender_record(&Columns(&previous))?;
        sqlx::query("UPDATE senders SET last_seen = $2, contacts = contacts + 1 WHERE sender = $1")
            .bind(&sender.0[..])
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(previous))
    }

    async fn try_begin_lesson(
        &self,
        sender: &SenderHash,
        window: Duration,
        now: Timestamp,
    ) -> Result<bool> {
        // Atomic: the conditional upsert takes the slot only if no lesson began in
        // `(now - window, now]`; a refused update returns no row.
        let taken = sqlx::query(
            "INSERT INTO senders (sender, first_seen, last_seen, contacts, last_lesson_at) \
             VALUES ($1, $2, $2, 0, $2) \
             ON CONFLICT (sender) DO UPDATE SET last_lesson_at = $2 \
             WHERE senders.last_lesson_at IS NULL OR senders.last_lesson_at <= $3 \
             RETURNING 1",
        )
        .bind(&sender.0[..])
        .bind(now.as_millis())
        .bind(now.sub(window).as_millis())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(taken.is_some())
    }

    async fn sender(&self, sender: &SenderHash) -> Result<Option<SenderRecord>> {
        let row = sqlx::query(
            "SELECT first_seen, last_seen, contacts, last_lesson_at FROM senders WHERE sender = $1",
        )
        .bind(&sender.0[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref()
            .map(|r| sql_row::sender_record(&Columns(r)))
            .transpose()
    }

    async fn release_lesson(&self, sender: &SenderHash, began_at: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE senders SET last_lesson_at = NULL WHERE sender = $1 AND last_lesson_at = $2",
        )
        .bind(&sender.0[..])
        .bind(began_at.as_millis())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn purge_senders(&self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM senders s WHERE s.last_seen < $1 \
             AND (s.last_lesson_at IS NULL OR s.last_lesson_at < $1) \
             AND NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.sender = s.sender AND o.opted_out)",
        )
        .bind(before.as_millis())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl OptOutStore for PgStore {
    async fn set_opted_out(
        &self,
        sender: &SenderHash,
        opted_out: bool,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO opt_outs (sender, opted_out, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (sender) DO UPDATE SET opted_out = $2, updated_at = $3",
        )
        .bind(&sender.0[..])
        .bind(opted_out)
        .bind(now.as_millis())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn is_opted_out(&self, sender: &SenderHash) -> Result<bool> {
        let v: Option<bool> =
            sqlx::query_scalar("SELECT opted_out FROM opt_outs WHERE sender = $1")
                .bind(&sender.0[..])
                .fetch_optional(&self.pool)
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
async fn add_spend(conn: &mut sqlx::PgConnection, period: &str, delta: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO spend_periods (period, committed) VALUES ($1, $2) \
         ON CONFLICT (period) DO UPDATE SET committed = spend_periods.committed + $2",
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
    conn: &mut sqlx::PgConnection,
    period: &str,
    amount: i64,
    cap: Option<Money>,
) -> Result<bool> {
    sqlx::query("INSERT INTO spend_periods (period, committed) VALUES ($1, 0) ON CONFLICT (period) DO NOTHING")
        .bind(period)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let done = sqlx::query(
        "UPDATE spend_periods SET committed = committed + $2 \
         WHERE period = $1 AND ($3::bigint IS NULL OR committed + $2 <= $3)",
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
impl SpendLedger for PgStore {
    async fn reserve(
        &self,
        amount: Money,
        caps: &SpendCaps,
        now: Timestamp,
    ) -> Result<Reservation> {
        let (day, month) = (now.day_key(), now.month_key());
        let mut tx = self.pool.begin().await.map_err(db_err)?;
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
             VALUES ($1, $2, $3, 'reserved', $4) RETURNING id",
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
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        add_spend(&mut tx, &day_period(now.day_key()), amount.micros()).await?;
        add_spend(&mut tx, &month_period(now.month_key()), amount.micros()).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn spend(&self, now: Timestamp) -> Result<SpendSummary> {
        let row = sqlx::query(
            "SELECT COALESCE((SELECT committed FROM spend_periods WHERE period = $1), 0) AS day, \
                    COALESCE((SELECT committed FROM spend_periods WHERE period = $2), 0) AS month",
        )
        .bind(day_period(now.day_key()))
        .bind(month_period(now.month_key()))
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(SpendSummary {
            day: Money::from_micros(get(&row, "day")?),
            month: Money::from_micros(get(&row, "month")?),
        })
    }
}

impl PgStore {
    /// Settle (`actual` given) or release a reservation, at most once: the stored reservation
    /// is the truth; an unknown or closed id is a no-op.
    ///
    /// When this lowers committed spend (release, or settling at or below the reserved amount,
    /// the usual case) the commit does not wait for the WAL flush: if the database server
    /// crashed right after, the reservation would stay counted, which the ledger's contract
    /// allows (it errs on the side of spending less). Raising spend commits synchronously.
    async fn close_reservation(
        &self,
        reservation: &Reservation,
        state: &str,
        actual: Option<Money>,
    ) -> Result<()> {
        let Ok(id) = i64::try_from(reservation.id) else {
            return Ok(());
        };
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let row = sqlx::query(
            "UPDATE reservations SET state = $2 WHERE id = $1 AND state = 'reserved' \
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
            if delta <= 0 {
                sqlx::query("SET LOCAL synchronous_commit = off")
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl Counters for PgStore {
    async fn incr(&self, name: &str, by: u64) -> Result<()> {
        // Statistics only: committed without waiting for the WAL flush
        // (`synchronous_commit = off` for this transaction alone). A crash of the *database
        // server* may lose the last fraction of a second of increments; never a reply, an
        // opt-out or spend, whose commits stay synchronous. It saves an fsync per counted
        // event on the send path.
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // Saturating at i64::MAX, the largest value PostgreSQL stores.
        sqlx::query(
            "INSERT INTO counters (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = \
               CASE WHEN counters.value > 9223372036854775807 - $2 THEN 9223372036854775807 \
               ELSE counters.value + $2 END",
        )
        .bind(name)
        .bind(u64_to_i64(by))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn counters(&self) -> Result<BTreeMap<String, u64>> {
        let rows = sqlx::query("SELECT name, value FROM counters")
            .fetch_all(&self.pool)
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

/// The combined inbound-text operations use the trait's default bodies.
impl antirelou_core::store::Store for PgStore {}

#[cfg(test)]
mod tests {
    use super::*;

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
