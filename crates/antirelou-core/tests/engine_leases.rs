//! Leases: a dead worker's reply is taken over and sent once; many concurrent workers never send
//! one reply twice; a graceful shutdown gives unsent claims back.
#![allow(clippy::unwrap_used)]

mod engine_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use antirelou_core::ProviderId;
use antirelou_core::engine::{EngineConfig, Transports};
use antirelou_core::store::{ReplyQueue, ReplyState};
use antirelou_core::stub::StubTransport;
use antirelou_core::{Error, InboundHandler};
use engine_support::*;

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_the_send_happens_once() {
    let h = harness();
    h.engine.handle_sms(sms("SM1", &man(), "hi")).await.unwrap();
    h.clock.advance(HOUR);

    // A worker claims the reply, then dies without sending.
    let dead = h
        .store
        .claim_due(h.clock.now_ts(), secs(60), 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);

    // While its lease runs, nobody else can take the reply.
    let other_stub = StubTransport::new();
    let other = h.engine.dispatcher(Transports::new().with(
        ProviderId::from_static("twilio"),
        Arc::new(other_stub.clone()),
        None,
    ));
    h.clock.advance(secs(59));
    assert_eq!(other.tick().await.unwrap().claimed, 0);

    // Once it has expired, another dispatcher takes it over and sends it.
    h.clock.advance(secs(1));
    let r = other.tick().await.unwrap();
    assert_eq!((r.claimed, r.sent), (1, 1));
    assert_eq!(other_stub.sent_count(), 1);

    // The dead worker wakes up: its token is fenced.
    let late = h
        .store
        .complete(dead[0].token, "SM-late", h.clock.now_ts())
        .await
        .unwrap_err();
    assert!(matches!(late, Error::LeaseLost { .. }), "{late}");
    let rec = h.records().await.remove(0);
    assert_eq!(rec.state, ReplyState::Sent);
    assert_eq!(rec.attempt, 2);
    assert_eq!(
        rec.provider_id.as_deref(),
        Some(other_stub.sent()[0].provider_id.as_str())
    );

    // And nobody sends it again.
    h.clock.advance(HOUR);
    assert_eq!(other.tick().await.unwrap().sent, 0);
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 0);
    assert_eq!(other_stub.sent_count() + h.stub.sent_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_workers_never_send_a_reply_twice() {
    const REPLIES: u32 = 500;
    const WORKERS: usize = 8;
    let config = EngineConfig {
        claim_batch: 7,
        ..exact_config()
    };
    let h = Setup {
        config,
        ..Setup::default()
    }
    .build();
    for i in 0..REPLIES {
        let outcome = h
            .engine
            .handle_sms(sms(&format!("SM{i}"), &mobile(i), "hi"))
            .await
            .unwrap();
        assert_eq!(outcome, antirelou_core::SmsOutcome::Scheduled);
    }
    h.clock.advance(HOUR);

    // Each worker has its own sender; all share the store.
    let stub = StubTransport::new();
    let mut tasks = Vec::new();
    for _ in 0..WORKERS {
        let d = h.engine.dispatcher(Transports::new().with(
            ProviderId::from_static("twilio"),
            Arc::new(stub.clone()),
            None,
        ));
        tasks.push(tokio::spawn(async move {
            let mut sent = 0;
            loop {
                let r = d.tick().await.unwrap();
                sent += r.sent;
                if r.claimed == 0 {
                    return sent;
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut per_worker = Vec::new();
    for t in tasks {
        per_worker.push(t.await.unwrap());
    }
    assert_eq!(per_worker.iter().sum::<u64>(), u64::from(REPLIES));
    let sent = stub.sent();
    assert_eq!(sent.len(), REPLIES as usize);
    let recipients: HashSet<String> = sent.iter().map(|m| m.to.e164().to_owned()).collect();
    assert_eq!(
        recipients.len(),
        REPLIES as usize,
        "someone got the lesson twice"
    );
    let ids: HashSet<u64> = sent
        .iter()
        .map(|m| Harness::reply_id_of(&m.client_ref))
        .collect();
    assert_eq!(ids.len(), REPLIES as usize);
    assert_eq!(stub.attempts(), u64::from(REPLIES));
    let stats = h.engine.stats().await.unwrap();
    assert_eq!(stats.counter("lessons.sent"), u64::from(REPLIES));
    assert_eq!((stats.queue.pending, stats.queue.claimed), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn graceful_shutdown_finishes_in_flight_sends_and_releases_the_rest() {
    // One worker, a big batch, a slow provider: shut down during the first send.
    let config = EngineConfig {
        workers: 1,
        claim_batch: 10,
        poll_interval: Duration::from_millis(10),
        ..exact_config()
    };
    let slow = StubTransport::new().with_delay(Duration::from_millis(200));
    let h = Setup {
        config,
        ..Setup::default()
    }
    .build();
    men_text_then_an_hour(&h, 10).await;
    let d = h.engine.dispatcher(Transports::new().with(
        ProviderId::from_static("twilio"),
        Arc::new(slow.clone()),
        None,
    ));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(async move { d.run(async { rx.await.unwrap_or(()) }).await });
    // Let the worker claim the batch and start sending.
    tokio::time::sleep(Duration::from_millis(300)).await;
    tx.send(()).unwrap();
    run.await.unwrap().unwrap();

    let sent = slow.sent_count();
    assert!(
        (1..10).contains(&sent),
        "{sent} sent before the shutdown took effect"
    );
    assert_eq!(
        slow.attempts() as usize,
        sent,
        "a started send was abandoned"
    );
    let stats = h.engine.stats().await.unwrap();
    assert_eq!(stats.queue.claimed, 0, "claims must be given back");
    assert_eq!(stats.queue.pending as usize, 10 - sent);
    assert_eq!(
        stats.queue.due as usize,
        10 - sent,
        "released replies are due at once"
    );

    // Another dispatcher sends the rest.
    let mut rest = 0;
    loop {
        let r = h.dispatcher.tick().await.unwrap();
        rest += r.sent;
        if r.claimed == 0 {
            break;
        }
    }
    assert_eq!(rest as usize + sent, 10);
}

fn tokio_timed() -> Harness {
    let config = EngineConfig {
        claim_batch: 10,
        ..exact_config()
    };
    Setup {
        config,
        engine_clock: Some(Arc::new(TokioClock::starting_at(T0))),
        ..Setup::default()
    }
    .build()
}

#[tokio::test(start_paused = true)]
async fn pacing_spreads_a_burst_instead_of_failing_it() {
    let h = tokio_timed();
    for i in 0..5 {
        h.engine
            .handle_sms(sms(&format!("SM{i}"), &mobile(i), "hi"))
            .await
            .unwrap();
    }
    tokio::time::advance(HOUR).await;
    let stub = StubTransport::new();
    let paced = h.engine.dispatcher(Transports::new().with(
        ProviderId::from_static("twilio"),
        Arc::new(stub.clone()),
        Some(antirelou_core::engine::RatePerSecond::new(2.0).unwrap()),
    ));
    let start = tokio::time::Instant::now();
    let r = paced.tick().await.unwrap();
    assert_eq!(r.sent, 5);
    // Five sends, two per second: the last leaves two seconds after the first.
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_burst_longer_than_the_lease_is_put_back_not_failed() {
    // One message per 10 s and a 60 s lease: a send must start with 30 s of lease left, so a
    // batch of ten sends four and puts six back, due when the pace allows.
    let h = tokio_timed();
    for i in 0..10 {
        h.engine
            .handle_sms(sms(&format!("SM{i}"), &mobile(i), "hi"))
            .await
            .unwrap();
    }
    tokio::time::advance(HOUR).await;
    let stub = StubTransport::new();
    let paced = h.engine.dispatcher(Transports::new().with(
        ProviderId::from_static("twilio"),
        Arc::new(stub.clone()),
        Some(antirelou_core::engine::RatePerSecond::new(0.1).unwrap()),
    ));
    let r = paced.tick().await.unwrap();
    assert_eq!((r.sent, r.paced + r.released, r.failed), (4, 6, 0));
    assert_eq!(h.store.open_reservations(), 0);
    let stats = h.engine.stats().await.unwrap();
    assert_eq!((stats.queue.pending, stats.queue.claimed), (6, 0));

    // The rest leaves at the pace, lesson after lesson.
    let mut sent = 4;
    for _ in 0..40 {
        tokio::time::advance(secs(5)).await;
        sent += paced.tick().await.unwrap().sent;
    }
    assert_eq!(sent, 10);
    assert_eq!(stub.sent_count(), 10);
}
