//! The writes of the webhook path as the group-commit writer receives them ([`Op`]), and what
//! each caller gets back ([`Done`]).

use std::fmt;
use std::time::Duration;

use antirelou_core::privacy::SenderHash;
use antirelou_core::store::{
    AdmitDecision, LessonSchedule, NewReply, ScheduleOutcome, SenderRecord, TextAdmission,
};
use antirelou_core::{Error, Timestamp};

/// One write of the webhook path.
#[derive(Debug)]
pub(crate) enum Op {
    Incr {
        name: String,
        by: u64,
    },
    BeginLesson {
        sender: SenderHash,
        window: Duration,
        now: Timestamp,
    },
    RecordContact {
        sender: SenderHash,
        now: Timestamp,
    },
    Schedule {
        reply: NewReply,
        now: Timestamp,
    },
    ScheduleLesson {
        reply: NewReply,
        window: Duration,
        now: Timestamp,
    },
    SetOptedOut {
        sender: SenderHash,
        opted_out: bool,
        now: Timestamp,
    },
    CancelPending {
        sender: SenderHash,
        reason: String,
        now: Timestamp,
    },
    /// A whole inbound text (`Store::admit_text`): resolved at the start of its batch's
    /// transaction ([`crate::admit`]) into no write, `RecordContact`, or `RecordContact` then
    /// `ScheduleLesson`, answered together.
    Admit(Admission),
    /// Nothing: answered once every write queued before it is committed.
    Barrier,
}

/// The result of one [`Op`].
#[derive(Debug)]
pub(crate) enum Done {
    Unit,
    Bool(bool),
    Contact(Option<SenderRecord>),
    Scheduled(ScheduleOutcome),
    Lesson(LessonSchedule),
    Count(u64),
    Admitted(TextAdmission),
}

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

/// A result of the wrong shape: a bug, reported as a permanent error rather than a panic.
pub(crate) fn unexpected(what: &str) -> Error {
    Error::storage_permanent(format!("sqlite group commit: unexpected result for {what}"))
}
