//! The writers of `record_contact`: a sender's row, its `last_seen` and its count of contacts.
//!
//! A sender whose record the admissions read needs no read here and no upsert: a plain insert
//! for a new one ([`new_senders`], written after the lessons, with its lesson's slot and id
//! when it has one, so that its row is written once), an update for a known one
//! ([`known_contacts`]), both `OR ROLLBACK` (neither can meet a constraint), which SQLite runs
//! without a statement journal (an upsert may abort half-way, so SQLite copies every page it
//! changes first). The others ([`unread_contacts`]): read the previous records, then one upsert.

use std::collections::{HashMap, HashSet};

use antirelou_core::Result;

use super::{contact, lesson, picked};
use crate::admit::Known;
use crate::op::{Done, Op};
use crate::script::{Col, Read, Script};

/// The batch's first contacts, by what the admissions' read knows of their sender.
pub(super) struct ContactSplit {
    /// Known senders (their previous record is answered already).
    pub(super) known: Vec<usize>,
    /// Senders known to have no row (answered: no previous record).
    pub(super) new: Vec<usize>,
    /// Senders the admissions did not read.
    pub(super) unread: Vec<usize>,
    /// The senders of `new`.
    pub(super) new_senders: HashSet<[u8; 16]>,
}

/// Split the first contacts `idx` by `known`, answering those whose record it holds.
pub(super) fn split_contacts(
    ops: &[Op],
    idx: &[usize],
    known: &Known,
    results: &mut [Option<Done>],
) -> ContactSplit {
    let mut split = ContactSplit {
        known: Vec::new(),
        new: Vec::new(),
        unread: Vec::new(),
        new_senders: HashSet::new(),
    };
    for &i in idx {
        let Some((sender, _)) = contact(&ops[i]) else {
            continue;
        };
        match known.records.get(&sender.0) {
            Some(Some(record)) => {
                results[i] = Some(Done::Contact(Some(*record)));
                split.known.push(i);
            }
            Some(None) => {
                results[i] = Some(Done::Contact(None));
                split.new.push(i);
                split.new_senders.insert(sender.0);
            }
            None => split.unread.push(i),
        }
    }
    split
}

/// `(sender, now)` rows of these contacts.
fn contact_rows<'a>(ops: &'a [Op], idx: &'a [usize]) -> Vec<Vec<Col<'a>>> {
    picked(ops, idx, contact)
        .into_iter()
        .map(|(sender, now)| vec![Col::Blob(&sender.0), Col::Int(now.as_millis())])
        .collect()
}

/// Contacts of senders whose row exists: one update.
pub(super) fn known_contacts(script: &mut Script, ops: &[Op], idx: &[usize]) -> Result<()> {
    if idx.is_empty() {
        return Ok(());
    }
    script.push(
        "UPDATE OR ROLLBACK senders SET last_seen = v.column2, contacts = senders.contacts + 1 \
         FROM (VALUES ",
    );
    script.values(2, contact_rows(ops, idx).into_iter())?;
    script.push(") AS v WHERE senders.sender = v.column1");
    script.end(Read::Ignore);
    Ok(())
}

/// Contacts of senders not read yet: their previous records, then one upsert.
pub(super) fn unread_contacts(script: &mut Script, ops: &[Op], idx: &[usize]) -> Result<()> {
    if idx.is_empty() {
        return Ok(());
    }
    let senders = picked(ops, idx, contact);
    script.push(
        "SELECT sender, first_seen, last_seen, contacts, last_lesson_at FROM senders \
         WHERE sender IN (",
    );
    script.list(senders.iter().map(|(sender, _)| Col::Blob(&sender.0)))?;
    script.push(")");
    let owners = senders
        .iter()
        .zip(idx)
        .map(|((sender, _), &i)| (sender.0.to_vec(), i))
        .collect();
    script.end(Read::Contacts(owners));
    script.push(
        "INSERT INTO senders (sender, first_seen, last_seen, contacts, last_lesson_at) \
         SELECT column1, column2, column2, 1, NULL FROM (VALUES ",
    );
    script.values(2, contact_rows(ops, idx).into_iter())?;
    script.push(
        ") WHERE column1 IS NOT NULL ON CONFLICT (sender) DO UPDATE SET \
         last_seen = excluded.last_seen, contacts = senders.contacts + 1",
    );
    script.end(Read::Ignore);
    Ok(())
}

/// The rows of senders known to be new, after the lessons (whose ids they list): a sender
/// whose lesson this batch stores (`folded`: sender → its `ScheduleLesson` op) gets its slot
/// and its list in the same insert.
pub(super) fn new_senders(
    script: &mut Script,
    ops: &[Op],
    idx: &[usize],
    folded: &HashMap<[u8; 16], usize>,
) -> Result<()> {
    if idx.is_empty() {
        return Ok(());
    }
    script.push(
        "INSERT OR ROLLBACK INTO senders \
         (sender, first_seen, last_seen, contacts, last_lesson_at, live_replies) \
         SELECT column1, column2, column2, 1, column3, CASE WHEN column4 IS NULL THEN NULL \
         ELSE json_array((SELECT id FROM replies WHERE idempotency_key = column4)) END \
         FROM (VALUES ",
    );
    let rows = picked(ops, idx, contact).into_iter().map(|(sender, now)| {
        let its_lesson = folded.get(&sender.0).and_then(|&l| lesson(&ops[l]));
        let (slot, key) = match its_lesson {
            Some((reply, _, at)) => (Col::Int(at.as_millis()), Col::Text(&reply.idempotency_key)),
            None => (Col::Null, Col::Null),
        };
        vec![Col::Blob(&sender.0), Col::Int(now.as_millis()), slot, key]
    });
    script.values(4, rows.collect::<Vec<_>>().into_iter())?;
    script.push(") WHERE column1 IS NOT NULL");
    script.end(Read::Ignore);
    Ok(())
}

/// A sender's second contact in the batch, after its first: read, then upsert, one sender at
/// a time.
pub(super) fn repeated_contacts(script: &mut Script, ops: &[Op], idx: &[usize]) -> Result<()> {
    for &i in idx {
        let Some((sender, now)) = contact(&ops[i]) else {
            continue;
        };
        script.push(
            "SELECT sender, first_seen, last_seen, contacts, last_lesson_at FROM senders \
             WHERE sender = ",
        );
        script.bind(Col::Blob(&sender.0))?;
        script.end(Read::Contacts(vec![(sender.0.to_vec(), i)]));
        script.push(
            "INSERT INTO senders (sender, first_seen, last_seen, contacts, last_lesson_at) \
             VALUES (",
        );
        let now = Col::Int(now.as_millis());
        script.bind_all(&[Col::Blob(&sender.0), now, now])?;
        script.push(
            ", 1, NULL) ON CONFLICT (sender) DO UPDATE SET last_seen = excluded.last_seen, \
             contacts = senders.contacts + 1",
        );
        script.end(Read::Ignore);
    }
    Ok(())
}
