//! Row decoding shared by the SQL backends (feature `sql-rows`).
//!
//! The SQLite and PostgreSQL stores keep the same columns in the same types (integers as
//! 64-bit, times as milliseconds since the epoch, a sender hash as a 16-byte blob, states and
//! kinds as the labels of [`ReplyState::as_str`] and [`ReplyKind::as_str`]). How a column is
//! fetched differs by driver; what its value means does not. A backend implements [`SqlRow`]
//! for its row type (five getters), and the functions here turn such a row into the records of
//! [`crate::store`], refusing (with a permanent storage error) a value that does not decode,
//! instead of guessing.
//!
//! ```
//! use antirelou_core::sql_row::{SqlRow, sender_record};
//! use antirelou_core::{Result, Timestamp};
//!
//! /// A row given as (column, value) pairs, as a test double.
//! struct Pairs(Vec<(&'static str, Option<i64>)>);
//!
//! impl SqlRow for Pairs {
//!     fn int_or_null(&self, column: &str) -> Result<Option<i64>> {
//!         Ok(self.0.iter().find(|(c, _)| *c == column).and_then(|(_, v)| *v))
//!     }
//!     fn text_or_null(&self, _: &str) -> Result<Option<String>> { Ok(None) }
//!     fn blob(&self, _: &str) -> Result<Vec<u8>> { Ok(Vec::new()) }
//! }
//!
//! let row = Pairs(vec![
//!     ("first_seen", Some(1_000)),
//!     ("last_seen", Some(2_000)),
//!     ("contacts", Some(3)),
//!     ("last_lesson_at", None),
//! ]);
//! let record = sender_record(&row).unwrap();
//! assert_eq!(record.contacts, 3);
//! assert_eq!(record.last_seen, Timestamp::from_millis(2_000));
//! assert!(record.last_lesson_at.is_none());
//!
//! // A negative count is a corrupt row, not a zero.
//! let bad = Pairs(vec![("first_seen", Some(0)), ("last_seen", Some(0)), ("contacts", Some(-1))]);
//! assert!(sender_record(&bad).is_err());
//! ```

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::event::DeliveryState;
use crate::phone::PhoneNumber;
use crate::privacy::SenderHash;
use crate::store::{ClaimedReply, LeaseToken, ReplyKind, ReplyRecord, ReplyState, SenderRecord};

/// A fetched row, seen through the column types the stores use. Each getter fails with the
/// driver's error (mapped to [`Error`]) when the column is missing or of another type.
pub trait SqlRow {
    /// A nullable integer column.
    fn int_or_null(&self, column: &str) -> Result<Option<i64>>;

    /// A nullable text column.
    fn text_or_null(&self, column: &str) -> Result<Option<String>>;

    /// A blob (`BLOB`, `BYTEA`) column.
    fn blob(&self, column: &str) -> Result<Vec<u8>>;

    /// An integer column that must not be NULL.
    fn int(&self, column: &str) -> Result<i64> {
        self.int_or_null(column)?
            .ok_or_else(|| Error::storage_permanent(format!("column {column} is NULL")))
    }

    /// A text column that must not be NULL.
    fn text(&self, column: &str) -> Result<String> {
        self.text_or_null(column)?
            .ok_or_else(|| Error::storage_permanent(format!("column {column} is NULL")))
    }

    /// A time column (milliseconds since the epoch).
    fn time(&self, column: &str) -> Result<Timestamp> {
        self.int(column).map(Timestamp::from_millis)
    }
}

/// A stored count or id, which is never negative.
pub fn to_u64(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::storage_permanent(format!("negative {what}: {v}")))
}

/// A stored attempt number, which fits 32 bits.
pub fn to_u32(v: i64, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::storage_permanent(format!("{what} out of range: {v}")))
}

/// A count or id to store: saturated at `i64::MAX`, the largest integer both databases keep.
pub fn u64_to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// What a fenced update that touched no row means: a newer claim of the reply exists.
pub fn lease_lost(token: LeaseToken) -> Error {
    Error::LeaseLost {
        reply_id: token.id,
        attempt: token.attempt,
    }
}

/// A stored phone number (E.164), parsed again.
pub fn phone(e164: &str) -> Result<PhoneNumber> {
    PhoneNumber::parse(e164)
        .map_err(|_| Error::storage_permanent("stored phone number does not parse"))
}

fn kind(label: &str) -> Result<ReplyKind> {
    ReplyKind::parse(label)
        .ok_or_else(|| Error::storage_permanent(format!("unknown reply kind {label:?}")))
}

/// A `replies` row with the columns `id, state, attempt, kind, number, recipient, sender,
/// due_at, expires_at, provider_id, last_error, delivery, updated_at`.
pub fn reply_record(row: &impl SqlRow) -> Result<ReplyRecord> {
    let state = row.text("state")?;
    Ok(ReplyRecord {
        id: to_u64(row.int("id")?, "id")?,
        state: ReplyState::parse(&state)
            .ok_or_else(|| Error::storage_permanent(format!("unknown reply state {state:?}")))?,
        attempt: to_u32(row.int("attempt")?, "attempt")?,
        kind: kind(&row.text("kind")?)?,
        number: phone(&row.text("number")?)?,
        recipient: row
            .text_or_null("recipient")?
            .as_deref()
            .map(phone)
            .transpose()?,
        sender: SenderHash::from_bytes(&row.blob("sender")?)?,
        due_at: row.time("due_at")?,
        expires_at: row.time("expires_at")?,
        provider_id: row.text_or_null("provider_id")?,
        last_error: row.text_or_null("last_error")?,
        delivery: row
            .text_or_null("delivery")?
            .as_deref()
            .map(DeliveryState::parse),
        updated_at: row.time("updated_at")?,
    })
}

/// A claimed `replies` row with the columns `id, attempt, lease_until, number, recipient,
/// sender, kind, due_at, expires_at, created_at`. A claimed reply without its recipient is a
/// corrupt row (the number is erased only in a terminal state).
pub fn claimed_reply(row: &impl SqlRow) -> Result<ClaimedReply> {
    let recipient = row
        .text_or_null("recipient")?
        .ok_or_else(|| Error::storage_permanent("claimed reply without recipient"))?;
    Ok(ClaimedReply {
        token: LeaseToken {
            id: to_u64(row.int("id")?, "id")?,
            attempt: to_u32(row.int("attempt")?, "attempt")?,
        },
        lease_until: row.time("lease_until")?,
        number: phone(&row.text("number")?)?,
        recipient: phone(&recipient)?,
        sender: SenderHash::from_bytes(&row.blob("sender")?)?,
        kind: kind(&row.text("kind")?)?,
        due_at: row.time("due_at")?,
        expires_at: row.time("expires_at")?,
        created_at: row.time("created_at")?,
    })
}

/// A `senders` row with the columns `first_seen, last_seen, contacts, last_lesson_at`.
pub fn sender_record(row: &impl SqlRow) -> Result<SenderRecord> {
    Ok(SenderRecord {
        first_seen: row.time("first_seen")?,
        last_seen: row.time("last_seen")?,
        contacts: to_u64(row.int("contacts")?, "contacts")?,
        last_lesson_at: row
            .int_or_null("last_lesson_at")?
            .map(Timestamp::from_millis),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row {
        ints: Vec<(&'static str, Option<i64>)>,
        texts: Vec<(&'static str, Option<&'static str>)>,
    }

    impl SqlRow for Row {
        fn int_or_null(&self, column: &str) -> Result<Option<i64>> {
            self.ints
                .iter()
                .find(|(c, _)| *c == column)
                .map(|(_, v)| *v)
                .ok_or_else(|| Error::storage_permanent(format!("no column {column}")))
        }
        fn text_or_null(&self, column: &str) -> Result<Option<String>> {
            self.texts
                .iter()
                .find(|(c, _)| *c == column)
                .map(|(_, v)| v.map(str::to_owned))
                .ok_or_else(|| Error::storage_permanent(format!("no column {column}")))
        }
        fn blob(&self, _: &str) -> Result<Vec<u8>> {
            Ok(vec![9; 16])
        }
    }

    fn claimed(recipient: Option<&'static str>, kind: &'static str) -> Row {
        Row {
            ints: vec![
                ("id", Some(4)),
                ("attempt", Some(2)),
                ("lease_until", Some(50)),
                ("due_at", Some(10)),
                ("expires_at", Some(90)),
                ("created_at", Some(1)),
            ],
            texts: vec![
                ("number", Some("+33937000000")),
                ("recipient", recipient),
                ("kind", Some(kind)),
            ],
        }
    }

    #[test]
    fn a_claimed_row_decodes_and_a_corrupt_one_is_refused() {
        let ok = claimed_reply(&claimed(Some("+33612345678"), "lesson")).expect("a valid row");
        assert_eq!((ok.token.id, ok.token.attempt), (4, 2));
        assert_eq!(ok.kind, ReplyKind::Lesson);
        assert_eq!(ok.sender, SenderHash([9; 16]));
        assert!(claimed_reply(&claimed(None, "lesson")).is_err());
        assert!(claimed_reply(&claimed(Some("+33612345678"), "poem")).is_err());
        assert!(claimed_reply(&claimed(Some("not a number"), "lesson")).is_err());
    }

    #[test]
    fn out_of_range_integers_are_refused() {
        assert!(to_u64(-1, "id").is_err());
        assert!(to_u32(i64::from(u32::MAX) + 1, "attempt").is_err());
        assert_eq!(u64_to_i64(u64::MAX), i64::MAX);
    }
}
