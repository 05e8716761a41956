//! Spend never goes above a cap, whatever the concurrency (property test on the in-memory
//! ledger, which every backend's ledger must match through the core conformance suite).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use antirelou_core::memory::InMemoryStore;
use antirelou_core::store::{SpendCaps, SpendLedger};
use antirelou_core::{Error, Money, Timestamp};
use proptest::prelude::*;

/// 2017-10-30T12:00:00Z, a Monday; the second day is in the same month.
const DAY1: i64 = 1_509_364_800_000;
const DAY2: i64 = DAY1 + 86_400_000;

#[derive(Clone, Copy, Debug)]
enum Then {
    Keep,
    Settle(u8),
    Release,
}

fn op() -> impl Strategy<Value = (i64, bool, Then)> {
    (
        1i64..=200_000,
        any::<bool>(),
        prop_oneof![
            Just(Then::Keep),
            (0u8..=100).prop_map(Then::Settle),
            Just(Then::Release)
        ],
    )
}

fn check_caps(s: antirelou_core::store::SpendSummary, caps: &SpendCaps) {
    if let Some(d) = caps.daily {
        assert!(s.day <= d, "daily spend {} above cap {}", s.day, d);
    }
    if let Some(m) = caps.monthly {
        assert!(s.month <= m, "monthly spend {} above cap {}", s.month, m);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn spend_never_exceeds_the_caps(
        daily in prop::option::of(0i64..=2_000_000),
        monthly in prop::option::of(0i64..=3_000_000),
        workers in 2usize..=16,
        ops in prop::collection::vec(op(), 1..300),
    ) {
        let caps = SpendCaps { daily: daily.map(Money::from_micros), monthly: monthly.map(Money::from_micros) };
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).build().unwrap();
        rt.block_on(async {
            let store = Arc::new(InMemoryStore::new());
            let chunk = ops.len().div_ceil(workers);
            let mut tasks = Vec::new();
            for part in ops.chunks(chunk) {
                let part = part.to_vec();
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let mut reserved = 0i64;
                    for (amount, second_day, then) in part {
                        let now = Timestamp::from_millis(if second_day { DAY2 } else { DAY1 });
                        match store.reserve(Money::from_micros(amount), &caps, now).await {
                            Ok(r) => {
                                reserved += amount;
                                check_caps(store.spend(now).await.unwrap(), &caps);
                                match then {
                                    Then::Keep => {}
                                    // Providers bill at most the reserved price.
                                    Then::Settle(pct) => store.settle(&r, Money::from_micros(amount * i64::from(pct) / 100)).await.unwrap(),
                                    Then::Release => store.release(&r).await.unwrap(),
                                }
                            }
                            Err(Error::BudgetExceeded { .. }) => {}
                            Err(e) => panic!("{e}"),
                        }
                        tokio::task::yield_now().await;
                    }
                    reserved
                }));
            }
            let mut total_reserved = 0;
            for t in tasks {
                total_reserved += t.await.unwrap();
            }
            let d1 = store.spend(Timestamp::from_millis(DAY1)).await.unwrap();
            let d2 = store.spend(Timestamp::from_millis(DAY2)).await.unwrap();
            check_caps(d1, &caps);
            check_caps(d2, &caps);
            assert_eq!(d1.month, d2.month, "one month");
            assert!(d1.month.micros() <= total_reserved);
            assert_eq!(d1.day + d2.day, d1.month, "day and month agree");
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cap_is_reached_exactly_and_never_passed_by_one_segment() {
    // A segment at €0.07627 and a €20 daily cap: 262 segments fit (€19.98), the 263rd does not.
    let segment = Money::from_micros(76_270);
    let caps = SpendCaps {
        daily: Some(Money::from_units_f64(20.0)),
        monthly: None,
    };
    let store = Arc::new(InMemoryStore::new());
    let now = Timestamp::from_millis(DAY1);
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u32;
            for _ in 0..20 {
                if store.reserve(segment, &caps, now).await.is_ok() {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap();
    }
    assert_eq!(ok, 262);
    assert_eq!(store.spend(now).await.unwrap().day, segment * 262);
    assert!(store.spend(now).await.unwrap().day <= Money::from_units_f64(20.0));
}
