//! The named writers of a group-commit batch: one function per kind of write, each appending
//! its multi-row statements to the batch's [`Script`].
//!
//! [`run_script`] sorts the batch's ops by kind and calls the writers in one fixed order (a
//! valid order, since the writes of one batch come from concurrent callers):
//!
//! 1. contacts of senders the batch already knows ([`senders::known_contacts`]) or has not
//!    read ([`senders::unread_contacts`]);
//! 2. lessons with their slot ([`lessons::lessons`]), which read the keys and slots they
//!    depend on first, in the transaction;
//! 3. the rows of new senders, with their lesson's slot ([`senders::new_senders`]), then a
//!    sender's second contact in the batch ([`senders::repeated_contacts`]);
//! 4. opt-outs and cancellations ([`queue::opt_outs`], [`queue::cancellations`]);
//! 5. bare lesson slots ([`lessons::slots`], [`lessons::repeated_slots`]);
//! 6. the queue ([`queue::schedules`]), then the counters, summed ([`queue::counters`]).
//!
//! A key or sender that appears twice in one kind gets its own statement after the multi-row
//! one, so that every result is exactly what running the writes in that order gives.

mod lessons;
mod queue;
mod senders;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use antirelou_core::privacy::SenderHash;
use antirelou_core::store::NewReply;
use antirelou_core::{Result, Timestamp};

use crate::admit::Known;
use crate::error::db_err;
use crate::op::{Done, Op, unexpected};
use crate::script::{Read, Script, ScriptLog};

/// Tests: make every batch script fail after its writes (the batch then runs one write at a
/// time).
#[cfg(test)]
pub(crate) static FAIL_SCRIPTS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The batch's ops by kind (indices into the batch), in their order within each kind.
#[derive(Default)]
struct Sorted<'a> {
    counters: BTreeMap<&'a str, u64>,
    opt_outs: Vec<usize>,
    cancels: Vec<usize>,
    /// Each sender's first bare lesson slot, by window (in milliseconds).
    slots: BTreeMap<i64, Vec<usize>>,
    repeated_slots: Vec<usize>,
    /// Each sender's first contact.
    contacts: Vec<usize>,
    repeated_contacts: Vec<usize>,
    /// The senders of `contacts`.
    contacted: HashSet<[u8; 16]>,
    schedules: Vec<usize>,
    lessons: Vec<usize>,
}

impl<'a> Sorted<'a> {
    /// Sort `ops`; the ops answered without a statement (counters, barriers, opt-outs) get
    /// their result now.
    fn new(ops: &'a [Op], results: &mut [Option<Done>]) -> Result<Sorted<'a>> {
        let mut sorted = Sorted::default();
        let mut slot_seen: HashSet<[u8; 16]> = HashSet::new();
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::Incr { name, by } => {
                    let e = sorted.counters.entry(name.as_str()).or_insert(0);
                    *e = e.saturating_add(*by);
                    results[i] = Some(Done::Unit);
                }
                Op::Barrier => results[i] = Some(Done::Unit),
                Op::Admit(_) => return Err(unexpected("an unresolved admission")),
                Op::SetOptedOut { .. } => {
                    sorted.opt_outs.push(i);
                    results[i] = Some(Done::Unit);
                }
                Op::CancelPending { .. } => sorted.cancels.push(i),
                Op::BeginLesson { sender, window, .. } => {
                    if slot_seen.insert(sender.0) {
                        let w = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
                        sorted.slots.entry(w).or_default().push(i);
                    } else {
                        sorted.repeated_slots.push(i);
                    }
                }
                Op::RecordContact { sender, .. } => {
                    if sorted.contacted.insert(sender.0) {
                        sorted.contacts.push(i);
                    } else {
                        sorted.repeated_contacts.push(i);
                    }
                }
                Op::Schedule { .. } => sorted.schedules.push(i),
                Op::ScheduleLesson { .. } => sorted.lessons.push(i),
            }
        }
        Ok(sorted)
    }
}

/// Run the batch's writes as one script ending in `COMMIT`, with `known` (what the
/// admissions' read learnt) not read again. With `begin`, the transaction is not open yet.
/// Returns one result per op.
pub(crate) async fn run_script(
    conn: &mut sqlx::SqliteConnection,
    ops: &[Op],
    known: Known,
    mut begin: bool,
    log: &ScriptLog,
) -> Result<Vec<Done>> {
    let mut results: Vec<Option<Done>> = (0..ops.len()).map(|_| None).collect();
    let sorted = Sorted::new(ops, &mut results)?;
    if begin && !sorted.lessons.is_empty() {
        // The lessons read their keys and slots before the script: inside the transaction.
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        begin = false;
    }
    let mut script = Script::new(begin);
    let contacts = senders::split_contacts(ops, &sorted.contacts, &known, &mut results);
    senders::known_contacts(&mut script, ops, &contacts.known)?;
    senders::unread_contacts(&mut script, ops, &contacts.unread)?;
    let place = lessons::SlotPlace {
        new_senders: &contacts.new_senders,
        contacted: &sorted.contacted,
    };
    let folded = lessons::lessons(conn, &mut script, ops, &sorted.lessons, &known, place, log)
        .await?
        .answer(&mut results);
    senders::new_senders(&mut script, ops, &contacts.new, &folded)?;
    senders::repeated_contacts(&mut script, ops, &sorted.repeated_contacts)?;
    queue::opt_outs(&mut script, ops, &sorted.opt_outs)?;
    queue::cancellations(&mut script, ops, &sorted.cancels)?;
    for (window, idx) in &sorted.slots {
        lessons::slots(&mut script, ops, *window, idx)?;
    }
    lessons::repeated_slots(&mut script, ops, &sorted.repeated_slots)?;
    queue::schedules(&mut script, ops, &sorted.schedules)?;
    queue::counters(&mut script, &sorted.counters)?;
    #[cfg(test)]
    if FAIL_SCRIPTS.load(std::sync::atomic::Ordering::Relaxed) {
        // After every write of the script, before its COMMIT.
        script.statement("SELECT * FROM antirelou_test_no_such_table", Read::Ignore);
    }
    script.statement("COMMIT", Read::Ignore);
    script.run(conn, log, &mut results).await?;
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| unexpected("an op of the batch")))
        .collect()
}

/// The sender and time of a `RecordContact` op.
fn contact(op: &Op) -> Option<(&SenderHash, Timestamp)> {
    match op {
        Op::RecordContact { sender, now } => Some((sender, *now)),
        _ => None,
    }
}

/// The reply, window and time of a `ScheduleLesson` op.
fn lesson(op: &Op) -> Option<(&NewReply, Duration, Timestamp)> {
    match op {
        Op::ScheduleLesson { reply, window, now } => Some((reply, *window, *now)),
        _ => None,
    }
}

/// The ops at `idx` that `pick` accepts, in order.
fn picked<'a, T>(ops: &'a [Op], idx: &'a [usize], pick: fn(&'a Op) -> Option<T>) -> Vec<T> {
    idx.iter().filter_map(|&i| pick(&ops[i])).collect()
}
