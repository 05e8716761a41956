//! The writers of lesson slots: `schedule_lesson` (a slot and its lesson) and
//! `try_begin_lesson` (a bare slot).
//!
//! `schedule_lesson` runs after the known senders' contacts and before the new senders' rows
//! (which list their lessons' ids), opt-outs and cancellations. The keys and slots its ops
//! depend on are read first, in the batch's transaction (nothing else writes meanwhile); each
//! op is then decided in order, as if run one after the other (a key or a sender seen earlier
//! in the batch counts); the script then stores every lesson in one multi-row insert and takes
//! every slot in one statement per kind of sender.

use std::collections::{BTreeMap, HashMap, HashSet};

use antirelou_core::sql_row::to_u64;
use antirelou_core::store::{LessonSchedule, NewReply};
use antirelou_core::{Result, Timestamp};
use sqlx::Arguments as _;
use sqlx::Row as _;
use sqlx::sqlite::SqliteArguments;

use super::lesson;
use super::queue::reply_row;
use crate::admit::Known;
use crate::error::{bind_err, db_err};
use crate::op::{Done, Op};
use crate::script::{Col, Read, Script, ScriptLog, padded_len};

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

/// Where a lesson's slot is written, by what the batch does with its sender's row.
#[derive(Clone, Copy)]
pub(super) struct SlotPlace<'a> {
    /// Senders known to have no row, whose row the batch inserts (with the slot folded in).
    pub(super) new_senders: &'a HashSet<[u8; 16]>,
    /// Senders whose contact the batch records (their row exists by then).
    pub(super) contacted: &'a HashSet<[u8; 16]>,
}

/// What [`lessons`] decided: the results it has, and the lessons to fold into their new
/// sender's row (sender → `ScheduleLesson` op).
pub(super) struct Decided {
    answered: Vec<(usize, Done)>,
    folded: HashMap<[u8; 16], usize>,
}

impl Decided {
    /// Store the results decided before the script runs; return the folded lessons.
    pub(super) fn answer(self, results: &mut [Option<Done>]) -> HashMap<[u8; 16], usize> {
        for (i, done) in self.answered {
            results[i] = Some(done);
        }
        self.folded
    }
}

/// What the lessons depend on: the keys stored (key → id) and the senders' slots.
struct State {
    keys: HashMap<String, i64>,
    slots: HashMap<[u8; 16], Option<i64>>,
}

/// `schedule_lesson` ops `idx`: read what `known` does not hold, decide each op in order, then
/// write the lessons, their slots and the read of their ids.
pub(super) async fn lessons(
    conn: &mut sqlx::SqliteConnection,
    script: &mut Script,
    ops: &[Op],
    idx: &[usize],
    known: &Known,
    place: SlotPlace<'_>,
    log: &ScriptLog,
) -> Result<Decided> {
    let mut decided = Decided {
        answered: Vec::new(),
        folded: HashMap::new(),
    };
    if idx.is_empty() {
        return Ok(decided);
    }
    let state = read_state(conn, ops, idx, known, log).await?;
    let mut batch_keys: HashSet<&str> = HashSet::new();
    let mut taken: BTreeMap<[u8; 16], i64> = BTreeMap::new();
    let mut inserts: Vec<usize> = Vec::new();
    let mut owners: Vec<(String, usize, bool)> = Vec::new();
    for &i in idx {
        let Some((reply, window, now)) = lesson(&ops[i]) else {
            continue;
        };
        let key = reply.idempotency_key.as_str();
        if let Some(&id) = state.keys.get(key) {
            let dup = LessonSchedule::Duplicate(to_u64(id, "id")?);
            decided.answered.push((i, Done::Lesson(dup)));
        } else if batch_keys.contains(key) {
            owners.push((key.to_owned(), i, false));
        } else {
            let last = taken
                .get(&reply.sender.0)
                .copied()
                .or_else(|| state.slots.get(&reply.sender.0).copied().flatten());
            if last.is_some_and(|t| t > now.sub(window).as_millis()) {
                decided
                    .answered
                    .push((i, Done::Lesson(LessonSchedule::AlreadyTaught)));
            } else {
                taken.insert(reply.sender.0, now.as_millis());
                batch_keys.insert(key);
                inserts.push(i);
                owners.push((key.to_owned(), i, true));
            }
        }
    }
    if inserts.is_empty() {
        return Ok(decided);
    }
    insert_lessons(script, ops, &inserts)?;
    decided.folded = take_slots(script, ops, &inserts, place)?;
    script.push(
        "SELECT json_group_object(idempotency_key, id) FROM replies WHERE idempotency_key IN (",
    );
    let keys = inserts.iter().filter_map(|&i| lesson(&ops[i]));
    let keys: Vec<_> = keys
        .map(|(r, _, _)| Col::Text(&r.idempotency_key))
        .collect();
    script.list(keys.into_iter())?;
    script.push(")");
    script.end(Read::Lessons(owners));
    Ok(decided)
}

/// The keys and slots the lessons `idx` depend on, beyond what `known` holds: read now, on the
/// batch's connection, inside its transaction.
async fn read_state(
    conn: &mut sqlx::SqliteConnection,
    ops: &[Op],
    idx: &[usize],
    known: &Known,
    log: &ScriptLog,
) -> Result<State> {
    let mut state = State {
        keys: HashMap::new(),
        slots: known
            .records
            .iter()
            .map(|(sender, record)| {
                let at = record.and_then(|r| r.last_lesson_at);
                (*sender, at.map(Timestamp::as_millis))
            })
            .collect(),
    };
    let mut unread_keys: Vec<&str> = Vec::new();
    let mut unread_senders: HashSet<[u8; 16]> = HashSet::new();
    for (reply, _, _) in idx.iter().filter_map(|&i| lesson(&ops[i])) {
        match known.keys.get(&reply.idempotency_key) {
            Some(Some(id)) => {
                state.keys.insert(reply.idempotency_key.clone(), *id);
            }
            Some(None) => {}
            None => unread_keys.push(&reply.idempotency_key),
        }
        if !state.slots.contains_key(&reply.sender.0) {
            unread_senders.insert(reply.sender.0);
        }
    }
    if !unread_keys.is_empty() {
        let sql = "SELECT idempotency_key, id FROM replies WHERE idempotency_key IN (";
        let keys = unread_keys.iter().map(|k| (*k).to_owned());
        for r in read_in(conn, sql, keys, log).await? {
            let key: String = r.try_get(0).map_err(db_err)?;
            state.keys.insert(key, r.try_get(1).map_err(db_err)?);
        }
    }
    if !unread_senders.is_empty() {
        let sql = "SELECT sender, last_lesson_at FROM senders WHERE sender IN (";
        let senders = unread_senders.iter().map(|s| s.to_vec());
        for r in read_in(conn, sql, senders, log).await? {
            let sender: Vec<u8> = r.try_get(0).map_err(db_err)?;
            if let Ok(sender) = <[u8; 16]>::try_from(sender.as_slice()) {
                state.slots.insert(sender, r.try_get(1).map_err(db_err)?);
            }
        }
    }
    Ok(state)
}

/// Run `select` (ending in `IN (`) with the padded list of `items`, on `conn`.
async fn read_in<T>(
    conn: &mut sqlx::SqliteConnection,
    select: &str,
    items: impl ExactSizeIterator<Item = T>,
    log: &ScriptLog,
) -> Result<Vec<sqlx::sqlite::SqliteRow>>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + 'static,
{
    let n = items.len();
    let mut sql = String::from(select);
    let mut args = SqliteArguments::default();
    for (j, item) in items.enumerate() {
        sql.push_str(if j == 0 { "?" } else { ", ?" });
        args.add(item).map_err(bind_err)?;
    }
    for _ in n..padded_len(n) {
        sql.push_str(", ?");
        args.add(None::<i64>).map_err(bind_err)?;
    }
    sql.push(')');
    log.ran(&sql);
    sqlx::query_with(&sql, args)
        .fetch_all(conn)
        .await
        .map_err(db_err)
}

/// The lessons `idx`, in one insert. Their keys are known to be new and distinct, and every
/// value is given: nothing can conflict, so `OR ROLLBACK` (no statement journal); a conflict
/// would roll the transaction back and the batch would run one write at a time. Each lesson
/// is `listed`: its id goes into its sender's row ([`take_slots`]), not into `replies_sender`.
fn insert_lessons(script: &mut Script, ops: &[Op], idx: &[usize]) -> Result<()> {
    script.push(
        "INSERT OR ROLLBACK INTO replies (idempotency_key, state, attempt, kind, number, \
         recipient, sender, due_at, expires_at, created_at, updated_at, listed) \
         SELECT column1, 'pending', 0, column2, column3, column4, column5, column6, \
         column7, column8, column8, 1 FROM (VALUES ",
    );
    let rows = idx.iter().filter_map(|&i| lesson(&ops[i]));
    let rows: Vec<_> = rows.map(|(reply, _, now)| reply_row(reply, now)).collect();
    script.values(8, rows.into_iter())?;
    script.push(") WHERE column1 IS NOT NULL");
    script.end(Read::Ignore);
    Ok(())
}

/// Each stored lesson's slot and list (one lesson per sender in `idx`): a new sender's go
/// into its row's insert (returned: sender → op); a sender whose contact this batch records
/// has its row by now, so an update (without a statement journal); the others an upsert.
fn take_slots(
    script: &mut Script,
    ops: &[Op],
    idx: &[usize],
    place: SlotPlace<'_>,
) -> Result<HashMap<[u8; 16], usize>> {
    let mut folded = HashMap::new();
    let mut recorded: Vec<(&NewReply, Timestamp)> = Vec::new();
    let mut others: Vec<(&NewReply, Timestamp)> = Vec::new();
    for &i in idx {
        let Some((reply, _, now)) = lesson(&ops[i]) else {
            continue;
        };
        if place.new_senders.contains(&reply.sender.0) {
            folded.insert(reply.sender.0, i);
        } else if place.contacted.contains(&reply.sender.0) {
            recorded.push((reply, now));
        } else {
            others.push((reply, now));
        }
    }
    let new_id = "(SELECT id FROM replies WHERE idempotency_key = v.column3)";
    if !recorded.is_empty() {
        script.push("UPDATE OR ROLLBACK senders SET last_lesson_at = v.column2, live_replies = ");
        script.push(&list_with("senders.live_replies", new_id));
        script.push(" FROM (VALUES ");
        script.values(3, slot_rows(&recorded).into_iter())?;
        script.push(") AS v WHERE senders.sender = v.column1");
        script.end(Read::Ignore);
    }
    if !others.is_empty() {
        script.push(
            "INSERT INTO senders \
             (sender, first_seen, last_seen, contacts, last_lesson_at, live_replies) \
             SELECT v.column1, v.column2, v.column2, 0, v.column2, json_array(",
        );
        script.push(new_id);
        script.push(") FROM (VALUES ");
        script.values(3, slot_rows(&others).into_iter())?;
        script.push(
            ") AS v WHERE v.column1 IS NOT NULL ON CONFLICT (sender) DO UPDATE \
             SET last_lesson_at = excluded.last_lesson_at, live_replies = ",
        );
        script.push(&list_with(
            "senders.live_replies",
            "json_extract(excluded.live_replies, '$[0]')",
        ));
        script.end(Read::Ignore);
    }
    Ok(folded)
}

/// `(sender, slot time, key)` rows of these lessons.
fn slot_rows<'a>(lessons: &[(&'a NewReply, Timestamp)]) -> Vec<Vec<Col<'a>>> {
    lessons
        .iter()
        .map(|(reply, now)| {
            vec![
                Col::Blob(&reply.sender.0),
                Col::Int(now.as_millis()),
                Col::Text(&reply.idempotency_key),
            ]
        })
        .collect()
}

/// The bare slots of one window (each sender's first in the batch): the senders whose slot is
/// taken, then one multi-row upsert (the keys of one statement are distinct, so the refused
/// set is exact).
pub(super) fn slots(script: &mut Script, ops: &[Op], window: i64, idx: &[usize]) -> Result<()> {
    let mut owners = Vec::with_capacity(idx.len());
    let mut rows = Vec::with_capacity(idx.len());
    for &i in idx {
        if let Op::BeginLesson { sender, now, .. } = &ops[i] {
            rows.push(vec![Col::Blob(&sender.0), Col::Int(now.as_millis())]);
            owners.push((sender.0.to_vec(), i));
        }
    }
    script.push("SELECT v.column1 FROM (VALUES ");
    script.values(2, rows.clone().into_iter())?;
    script.push(
        ") AS v JOIN senders ON senders.sender = v.column1 \
         WHERE senders.last_lesson_at IS NOT NULL AND senders.last_lesson_at > v.column2 - ",
    );
    script.bind(Col::Int(window))?;
    script.end(Read::LessonsRefused(owners));
    script.push(
        "INSERT INTO senders (sender, first_seen, last_seen, contacts, last_lesson_at) \
         SELECT column1, column2, column2, 0, column2 FROM (VALUES ",
    );
    script.values(2, rows.into_iter())?;
    script.push(
        ") WHERE column1 IS NOT NULL \
         ON CONFLICT (sender) DO UPDATE SET last_lesson_at = excluded.last_lesson_at \
         WHERE senders.last_lesson_at IS NULL \
         OR senders.last_lesson_at <= excluded.last_lesson_at - ",
    );
    script.bind(Col::Int(window))?;
    script.end(Read::Ignore);
    Ok(())
}

/// A sender's second bare slot in the batch, after its first: one conditional upsert each.
pub(super) fn repeated_slots(script: &mut Script, ops: &[Op], idx: &[usize]) -> Result<()> {
    for &i in idx {
        let Op::BeginLesson {
            sender,
            window,
            now,
        } = &ops[i]
        else {
            continue;
        };
        script.push(
            "INSERT INTO senders (sender, first_seen, last_seen, contacts, last_lesson_at) \
             VALUES (",
        );
        let at = Col::Int(now.as_millis());
        script.bind_all(&[Col::Blob(&sender.0), at, at])?;
        script.push(", 0, ");
        script.bind(at)?;
        script.push(
            ") ON CONFLICT (sender) DO UPDATE SET last_lesson_at = excluded.last_lesson_at \
             WHERE last_lesson_at IS NULL OR last_lesson_at <= ",
        );
        script.bind(Col::Int(now.sub(*window).as_millis()))?;
        script.push(" RETURNING 1");
        script.end(Read::Lesson(i));
    }
    Ok(())
}
