//! A fixed `rng_seed` makes the engine's random draws (reply jitter) reproducible: the simulator
//! relies on it to give the same report for the same seed.
#![allow(clippy::unwrap_used)]

mod engine_support;

use antirelou_core::InboundHandler;
use antirelou_core::engine::EngineConfig;
use engine_support::*;

async fn due_times(seed: Option<u64>) -> Vec<i64> {
    let h = Setup {
        config: EngineConfig {
            reply_jitter: secs(600),
            rng_seed: seed,
            ..exact_config()
        },
        ..Setup::default()
    }
    .build();
    for i in 0..20 {
        h.engine
            .handle_sms(sms(&format!("SM{i}"), &mobile(i), "salut"))
            .await
            .unwrap();
    }
    let mut due: Vec<i64> = h
        .records()
        .await
        .iter()
        .map(|r| r.due_at.as_millis())
        .collect();
    due.sort_unstable();
    due
}

#[tokio::test]
async fn the_same_seed_gives_the_same_jitter() {
    let a = due_times(Some(7)).await;
    let b = due_times(Some(7)).await;
    assert_eq!(a.len(), 20);
    assert_eq!(a, b);
    // Jitter is really applied, within [delay, delay + jitter].
    let lo = T0.add(HOUR).as_millis();
    let hi = T0.add(HOUR).add(secs(600)).as_millis();
    assert!(a.iter().all(|&t| (lo..=hi).contains(&t)), "{a:?}");
    assert!(a.iter().any(|&t| t != lo), "jitter was not applied: {a:?}");
    assert_ne!(
        a,
        due_times(Some(8)).await,
        "another seed draws other delays"
    );
}
