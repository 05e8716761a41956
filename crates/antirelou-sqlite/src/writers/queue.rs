//! The writers of the queue (`schedule`, `cancel_pending`), of opt-outs and of counters.

use std::collections::BTreeMap;

use antirelou_core::sql_row::u64_to_i64;
use antirelou_core::store::NewReply;
use antirelou_core::{Result, Timestamp};

use crate::op::Op;
use crate::script::{Col, Read, Script};

/// A reply's row for an insert into `replies`: `(key, kind, number, recipient, sender, due_at,
/// expires_at, now)`, the `VALUES` columns 1 to 8 of both inserts (`schedule` here,
/// `schedule_lesson` in [`super::lessons`]).
pub(super) fn reply_row(reply: &NewReply, now: Timestamp) -> Vec<Col<'_>> {
    vec![
        Col::Text(&reply.idempotency_key),
        Col::Text(reply.kind.as_str()),
        Col::Text(reply.number.e164()),
        Col::Text(reply.recipient.e164()),
        Col::Blob(&reply.sender.0),
        Col::Int(reply.due_at.as_millis()),
        Col::Int(reply.expires_at.as_millis()),
        Col::Int(now.as_millis()),
    ]
}

/// Opt-outs, one upsert each, in order.
pub(super) fn opt_outs(script: &mut Script, ops: &[Op], idx: &[usize]) -> Result<()> {
    for &i in idx {
        let Op::SetOptedOut {
            sender,
            opted_out,
            now,
        } = &ops[i]
        else {
            continue;
        };
        script.push("INSERT INTO opt_outs (sender, opted_out, updated_at) VALUES (");
        script.bind_all(&[
            Col::Blob(&sender.0),
            Col::Bool(*opted_out),
            Col::Int(now.as_millis()),
        ])?;
        script.push(
            ") ON CONFLICT (sender) DO UPDATE SET opted_out = excluded.opted_out, \
             updated_at = excluded.updated_at",
        );
        script.end(Read::Ignore);
    }
    Ok(())
}

/// Cancellations, in order: the two statements of `statements::cancel_pending` (with
/// anonymous parameters: a numbered one would count from the script's first), their counts
/// added.
pub(super) fn cancellations(script: &mut Script, ops: &[Op], idx: &[usize]) -> Result<()> {
    for &i in idx {
        let Op::CancelPending {
            sender,
            reason,
            now,
        } = &ops[i]
        else {
            continue;
        };
        let (reason, now, sender) = (Col::Text(reason), Col::Int(now.as_millis()), &sender.0);
        script.push("UPDATE replies SET state = 'cancelled', last_error = ");
        script.bind(reason)?;
        script.push(", recipient = NULL, updated_at = ");
        script.bind(now)?;
        script.push(" WHERE sender = ");
        script.bind(Col::Blob(sender))?;
        script.push(" AND state = 'pending' AND listed = 0");
        script.end(Read::Cancelled(i));
        script.push("UPDATE replies SET state = 'cancelled', last_error = ");
        script.bind(reason)?;
        script.push(", recipient = NULL, updated_at = ");
        script.bind(now)?;
        script.push(
            " WHERE id IN (SELECT value FROM json_each(\
             (SELECT live_replies FROM senders WHERE sender = ",
        );
        script.bind(Col::Blob(sender))?;
        script.push("))) AND state = 'pending' AND sender = ");
        script.bind(Col::Blob(sender))?;
        script.end(Read::Cancelled(i));
    }
    Ok(())
}

/// `schedule`: the keys already in the queue, one multi-row insert, then every key's id in one
/// row.
pub(super) fn schedules(script: &mut Script, ops: &[Op], idx: &[usize]) -> Result<()> {
    let replies: Vec<(&NewReply, Timestamp, usize)> = idx
        .iter()
        .filter_map(|&i| match &ops[i] {
            Op::Schedule { reply, now } => Some((reply, *now, i)),
            _ => None,
        })
        .collect();
    if replies.is_empty() {
        return Ok(());
    }
    let keys = || {
        replies
            .iter()
            .map(|(reply, _, _)| Col::Text(&reply.idempotency_key))
    };
    script.push("SELECT idempotency_key, id FROM replies WHERE idempotency_key IN (");
    script.list(keys())?;
    script.push(")");
    script.end(Read::Existing);
    script.push(
        "INSERT INTO replies (idempotency_key, state, attempt, kind, number, recipient, \
         sender, due_at, expires_at, created_at, updated_at) \
         SELECT column1, 'pending', 0, column2, column3, column4, column5, column6, \
         column7, column8, column8 FROM (VALUES ",
    );
    let rows: Vec<_> = replies
        .iter()
        .map(|(r, now, _)| reply_row(r, *now))
        .collect();
    script.values(8, rows.into_iter())?;
    script.push(") WHERE column1 IS NOT NULL ON CONFLICT (idempotency_key) DO NOTHING");
    script.end(Read::Ignore);
    script.push(
        "SELECT json_group_object(idempotency_key, id) FROM replies WHERE idempotency_key IN (",
    );
    script.list(keys())?;
    script.push(")");
    let owners = replies
        .iter()
        .map(|(reply, _, i)| (reply.idempotency_key.clone(), *i))
        .collect();
    script.end(Read::Inserted(owners));
    Ok(())
}

/// Counter increments, summed per name: one upsert, saturating at `i64::MAX`.
pub(super) fn counters(script: &mut Script, sums: &BTreeMap<&str, u64>) -> Result<()> {
    if sums.is_empty() {
        return Ok(());
    }
    script.push("INSERT INTO counters (name, value) SELECT column1, column2 FROM (VALUES ");
    let rows = sums
        .iter()
        .map(|(name, by)| vec![Col::Text(name), Col::Int(u64_to_i64(*by))]);
    script.values(2, rows.collect::<Vec<_>>().into_iter())?;
    script.push(
        ") WHERE column1 IS NOT NULL ON CONFLICT (name) DO UPDATE SET value = \
         CASE WHEN counters.value > 9223372036854775807 - excluded.value \
         THEN 9223372036854775807 ELSE counters.value + excluded.value END",
    );
    script.end(Read::Ignore);
    Ok(())
}
