//! Send failures: transient errors retry with backoff (and the provider's retry-after) until the
//! deadline; permanent errors fail once.
#![allow(clippy::unwrap_used)]

mod engine_support;

use std::time::Duration;

use antirelou_core::InboundHandler;
use antirelou_core::engine::EngineConfig;
use antirelou_core::store::ReplyState;
use antirelou_core::stub::FailureKind;
use engine_support::*;

fn transient(retry_after: Option<Duration>) -> FailureKind {
    FailureKind::Transient { retry_after }
}

#[tokio::test]
async fn transient_errors_retry_with_exponential_backoff_then_succeed() {
    // Base 30 s, no jitter: retries at +30 s, then +60 s.
    let h = harness();
    h.stub.fail_next(2, transient(None));
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.clock.advance(HOUR);

    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.retried), (0, 1));
    h.clock.advance(secs(29));
    assert_eq!(
        h.dispatcher.tick().await.unwrap().claimed,
        0,
        "retried before the backoff"
    );
    h.clock.advance(secs(1));
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.retried), (0, 1));
    assert_eq!(h.stub.attempts(), 2);

    h.clock.advance(secs(59));
    assert_eq!(
        h.dispatcher.tick().await.unwrap().claimed,
        0,
        "second backoff is 60 s"
    );
    h.clock.advance(secs(1));
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!(r.sent, 1);
    assert_eq!(h.stub.attempts(), 3);
    assert_eq!(h.stub.sent_count(), 1);
    assert_eq!(h.counter("send.transient").await, 2);
    let rec = h.records().await.remove(0);
    assert_eq!((rec.state, rec.attempt), (ReplyState::Sent, 3));
}

#[tokio::test]
async fn retry_after_is_honoured_when_longer_than_the_backoff() {
    let h = harness();
    h.stub.fail_next(1, transient(Some(secs(120))));
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.clock.advance(HOUR);
    assert_eq!(h.dispatcher.tick().await.unwrap().retried, 1);
    h.clock.advance(secs(119));
    assert_eq!(h.dispatcher.tick().await.unwrap().claimed, 0);
    h.clock.advance(secs(1));
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 1);
}

#[tokio::test]
async fn a_huge_retry_after_is_clamped_once_by_the_dispatcher() {
    // A provider asks for a day; the dispatcher waits MAX_RETRY_AFTER (one hour), no longer.
    let h = harness();
    h.stub.fail_next(1, transient(Some(secs(86_400))));
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.clock.advance(HOUR);
    assert_eq!(h.dispatcher.tick().await.unwrap().retried, 1);
    let due = h.records().await[0].due_at;
    assert_eq!(
        due.since(T0.add(HOUR)),
        antirelou_core::engine::MAX_RETRY_AFTER
    );
}

#[tokio::test]
async fn backoff_jitter_only_shortens_within_its_fraction() {
    let config = EngineConfig {
        backoff_jitter: 0.5,
        ..exact_config()
    };
    let h = Setup {
        config,
        ..Setup::default()
    }
    .build();
    h.stub.fail_next(1, transient(None));
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.clock.advance(HOUR);
    h.dispatcher.tick().await.unwrap();
    let due = h.records().await[0].due_at;
    let wait = due.since(T0.add(HOUR));
    assert!(wait >= secs(15) && wait <= secs(30), "{wait:?}");
}

#[tokio::test]
async fn a_permanent_error_fails_once() {
    for kind in [FailureKind::Permanent, FailureKind::InvalidRecipient] {
        let h = harness();
        h.stub.fail_always(kind);
        h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
        h.clock.advance(HOUR);
        let r = h.dispatcher.tick().await.unwrap();
        assert_eq!((r.sent, r.failed, r.retried), (0, 1, 0));
        for _ in 0..5 {
            h.clock.advance(HOUR);
            h.dispatcher.tick().await.unwrap();
        }
        assert_eq!(h.stub.attempts(), 1, "{kind:?} must not be retried");
        let rec = h.records().await.remove(0);
        assert_eq!(rec.state, ReplyState::Failed);
        assert_eq!(rec.recipient, None);
        assert!(rec.last_error.unwrap().contains("stub"));
        assert_eq!(h.counter("send.failed").await, 1);
        // Nothing stays reserved in the ledger.
        assert_eq!(h.store.open_reservations(), 0);
        assert_eq!(h.engine.stats().await.unwrap().spend.day.micros(), 0);
    }
}

fn short_horizon() -> Harness {
    Setup {
        config: EngineConfig {
            defer_horizon: HOUR,
            ..exact_config()
        },
        ..Setup::default()
    }
    .build()
}

#[tokio::test]
async fn a_lesson_waits_for_the_defer_horizon_through_an_outage() {
    // With the default 72-hour horizon, a lesson whose dispatcher was down for two days still
    // goes out (any lesson may be deferred, so every lesson keeps the horizon).
    let h = harness();
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.clock.advance(HOUR * 48);
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 1);
    // Past the horizon it would not have.
    let h = harness();
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.clock.advance(HOUR * 73);
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 0);
}

#[tokio::test]
async fn a_lesson_that_cannot_leave_within_the_deadline_expires() {
    // A lesson's deadline is the later of due + reply_deadline and the defer horizon: with a
    // one-hour horizon, the 24-hour deadline after the due time.
    let h = short_horizon();
    h.stub.fail_always(transient(None));
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.clock.advance(HOUR);
    let mut expired = 0;
    // Tick every ten minutes for 26 hours.
    for _ in 0..(26 * 6) {
        expired += h.dispatcher.tick().await.unwrap().expired;
        h.clock.advance(secs(600));
    }
    assert_eq!(expired, 1);
    let rec = h.records().await.remove(0);
    assert_eq!(rec.state, ReplyState::Expired);
    assert_eq!(rec.recipient, None);
    // Attempts: backoff 30 s doubling to 30 min, within 24 h.
    let attempts = h.stub.attempts();
    assert!((45..=60).contains(&attempts), "{attempts} attempts");
    assert_eq!(h.counter("drop.expired").await, 1);

    // Nothing after the deadline, even when the provider recovers.
    h.stub.succeed();
    h.clock.advance(HOUR);
    h.dispatcher.tick().await.unwrap();
    assert_eq!(h.stub.sent_count(), 0);
}

#[tokio::test]
async fn a_reply_claimed_after_its_deadline_is_not_sent() {
    // A lesson's deadline is the later of due + reply_deadline and the defer horizon: with a
    // one-hour horizon, the 24-hour deadline after the due time.
    let h = short_horizon();
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    // The dispatcher was down for two days.
    h.clock.advance(HOUR * 48);
    let r = h.dispatcher.tick().await.unwrap();
    assert_eq!((r.sent, r.expired), (0, 1));
    assert_eq!(h.stub.attempts(), 0);
    assert_eq!(h.records().await[0].state, ReplyState::Expired);
}
