//! The [`SpendLedger`] tests.

use super::*;

fn micros(m: i64) -> Money {
    Money::from_micros(m)
}

fn assert_budget(ctx: &Ctx, what: &str, r: Result<Reservation>, period: &str) {
    match r {
        Err(Error::BudgetExceeded { period: p }) => assert_eq!(
            p, period,
            "conformance::{}: {what}: BudgetExceeded must name the {period} cap",
            ctx.name
        ),
        other => panic!(
            "conformance::{}: {what} must fail with BudgetExceeded({period}), got {other:?}",
            ctx.name
        ),
    }
}

/// `reserve` succeeds while day spend stays within the daily cap (`<=`), fails with
/// `BudgetExceeded { period: "daily" }` beyond it, and a failed reserve reserves nothing.
pub async fn ledger_reserve_within_daily_cap<S: SpendLedger + ?Sized>(store: &S) {
    let ctx = Ctx::new("ledger_reserve_within_daily_cap");
    let n = ctx.name;
    let now = ctx.at(0);
    let before = ctx.ok("spend", store.spend(now).await);
    let caps = SpendCaps {
        daily: Some(before.day + micros(200_000)),
        monthly: None,
    };

    let r1 = ctx.ok("reserve", store.reserve(micros(76_270), &caps, now).await);
    assert_eq!(
        r1.amount,
        micros(76_270),
        "conformance::{n}: the reservation must carry its amount"
    );
    assert_eq!(
        (r1.day, r1.month),
        (now.day_key(), now.month_key()),
        "conformance::{n}: the reservation must carry now's day and month keys"
    );
    let s = ctx.ok("spend", store.spend(now).await);
    assert_eq!(
        (s.day - before.day, s.month - before.month),
        (micros(76_270), micros(76_270)),
        "conformance::{n}: a reservation must count in day and month spend"
    );

    let r2 = ctx.ok(
        "reserve",
        store.reserve(micros(76_270), &caps, ctx.at(60)).await,
    );
    assert_ne!(
        r1.id, r2.id,
        "conformance::{n}: two reservations got the same id"
    );
    assert_budget(
        &ctx,
        "a reserve past the daily cap",
        store.reserve(micros(76_270), &caps, ctx.at(120)).await,
        "daily",
    );
    let s = ctx.ok("spend", store.spend(now).await);
    assert_eq!(
        s.day - before.day,
        micros(152_540),
        "conformance::{n}: a refused reserve changed the spend"
    );
    // Exactly up to the cap is allowed.
    let r3 = ctx.ok(
        "reserve up to the cap exactly",
        store.reserve(micros(47_460), &caps, ctx.at(180)).await,
    );
    assert_budget(
        &ctx,
        "a reserve of 1 micro past the cap",
        store.reserve(micros(1), &caps, ctx.at(240)).await,
        "daily",
    );
    // No cap: anything goes.
    let r4 = ctx.ok(
        "reserve without caps",
        store
            .reserve(micros(5_000_000), &SpendCaps::default(), ctx.at(300))
            .await,
    );

    for r in [r1, r2, r3, r4] {
        ctx.ok("release", store.release(&r).await);
    }
    assert_eq!(
        ctx.ok("spend", store.spend(now).await),
        before,
        "conformance::{n}: releasing every reservation must restore the spend"
    );
}

/// The monthly cap counts every day of the month, and a new month starts from its own spend.
pub async fn ledger_monthly_cap<S: SpendLedger + ?Sized>(store: &S) {
    let ctx = Ctx::new_month("ledger_monthly_cap");
    let n = ctx.name;
    let (day1, day2) = (ctx.at(0), ctx.at(DAY));
    let before1 = ctx.ok("spend", store.spend(day1).await);
    let before2 = ctx.ok("spend", store.spend(day2).await);
    let caps = SpendCaps {
        daily: Some(before1.day.max(before2.day) + micros(10_000_000)),
        monthly: Some(before1.month + micros(150_000)),
    };

    let r1 = ctx.ok("reserve", store.reserve(micros(100_000), &caps, day1).await);
    let s2 = ctx.ok("spend", store.spend(day2).await);
    assert_eq!(
        s2.month - before2.month,
        micros(100_000),
        "conformance::{n}: day 1's reservation must count in the month seen from day 2"
    );
    assert_eq!(
        s2.day, before2.day,
        "conformance::{n}: day 1's reservation counted on day 2"
    );
    assert_budget(
        &ctx,
        "a reserve past the monthly cap",
        store.reserve(micros(60_000), &caps, day2).await,
        "monthly",
    );
    let r2 = ctx.ok(
        "reserve up to the monthly cap",
        store.reserve(micros(50_000), &caps, day2).await,
    );

    // The next month has its own total.
    let next_month = {
        let d = day1.to_datetime();
        let (y, m) = if d.month() == 12 {
            (d.year() + 1, 1)
        } else {
            (d.year(), d.month() + 1)
        };
        month_start(y, m).add(Duration::from_secs(3600))
    };
    let before_next = ctx.ok("spend", store.spend(next_month).await);
    let caps_next = SpendCaps {
        daily: None,
        monthly: Some(before_next.month + micros(100_000)),
    };
    let r3 = ctx.ok(
        "reserve in the next month",
        store.reserve(micros(100_000), &caps_next, next_month).await,
    );
    assert_eq!(
        r3.month,
        next_month.month_key(),
        "conformance::{n}: the reservation must carry its month"
    );

    for r in [r1, r2, r3] {
        ctx.ok("release", store.release(&r).await);
    }
    assert_eq!(
        ctx.ok("spend", store.spend(day2).await),
        before2,
        "conformance::{n}: releases must restore the spend"
    );
}

/// `settle` replaces a reservation by the actual amount (lower or higher, even past a cap),
/// `release` removes it; each applies at most once; settling or releasing an unknown id changes
/// nothing (it may return `Ok` or `NotFound`).
pub async fn ledger_settle_and_release<S: SpendLedger + ?Sized>(store: &S) {
    let ctx = Ctx::new("ledger_settle_and_release");
    let n = ctx.name;
    let now = ctx.at(0);
    let before = ctx.ok("spend", store.spend(now).await);
    let caps = SpendCaps {
        daily: Some(before.day + micros(200_000)),
        monthly: Some(before.month + micros(200_000)),
    };
    let delta = |s: SpendSummary| (s.day - before.day, s.month - before.month);

    let r1 = ctx.ok("reserve", store.reserve(micros(76_270), &caps, now).await);
    ctx.ok("settle lower", store.settle(&r1, micros(33_300)).await);
    assert_eq!(
        delta(ctx.ok("spend", store.spend(now).await)),
        (micros(33_300), micros(33_300)),
        "conformance::{n}: settle must replace the reserved amount by the actual one"
    );
    ctx.ok("settle twice", store.settle(&r1, micros(99_999)).await);
    ctx.ok("release after settle", store.release(&r1).await);
    assert_eq!(
        delta(ctx.ok("spend", store.spend(now).await)),
        (micros(33_300), micros(33_300)),
        "conformance::{n}: a second settle or a release after settle must be a no-op"
    );

    let r2 = ctx.ok("reserve", store.reserve(micros(100_000), &caps, now).await);
    ctx.ok("settle higher", store.settle(&r2, micros(250_000)).await);
    assert_eq!(
        delta(ctx.ok("spend", store.spend(now).await)).0,
        micros(283_300),
        "conformance::{n}: settling higher than reserved must count the actual amount, even past the cap"
    );
    assert_budget(
        &ctx,
        "a reserve when spend is past the cap",
        store.reserve(micros(1), &caps, now).await,
        "daily",
    );

    let caps = SpendCaps::default();
    let r3 = ctx.ok("reserve", store.reserve(micros(40_000), &caps, now).await);
    ctx.ok("release", store.release(&r3).await);
    ctx.ok("release twice", store.release(&r3).await);
    ctx.ok(
        "settle after release",
        store.settle(&r3, micros(40_000)).await,
    );
    assert_eq!(
        delta(ctx.ok("spend", store.spend(now).await)).0,
        micros(283_300),
        "conformance::{n}: release must remove the reservation, once"
    );

    let unknown = Reservation {
        id: i64::MAX as u64 - rand::random_range(0..1000),
        amount: micros(1_000),
        day: now.day_key(),
        month: now.month_key(),
    };
    for (what, r) in [
        (
            "settle of an unknown id",
            store.settle(&unknown, micros(5_000)).await,
        ),
        ("release of an unknown id", store.release(&unknown).await),
    ] {
        assert!(
            matches!(r, Ok(()) | Err(Error::NotFound(_))),
            "conformance::{n}: {what} must be Ok or NotFound, got {r:?}"
        );
    }
    assert_eq!(
        delta(ctx.ok("spend", store.spend(now).await)).0,
        micros(283_300),
        "conformance::{n}: settling or releasing an unknown reservation changed the spend"
    );

    // Leave the day as found: a refund of what stays settled.
    ctx.ok("record", store.record(micros(-283_300), now).await);
}

/// `record` adds unreserved spend to the day and month, even past a cap, and reserves then see it.
pub async fn ledger_record<S: SpendLedger + ?Sized>(store: &S) {
    let ctx = Ctx::new("ledger_record");
    let n = ctx.name;
    let now = ctx.at(0);
    let before = ctx.ok("spend", store.spend(now).await);
    ctx.ok("record", store.record(micros(5_000), now).await);
    ctx.ok("record", store.record(micros(7_500), ctx.at(60)).await);
    let s = ctx.ok("spend", store.spend(now).await);
    assert_eq!(
        (s.day - before.day, s.month - before.month),
        (micros(12_500), micros(12_500)),
        "conformance::{n}: record must add to day and month spend"
    );
    let caps = SpendCaps {
        daily: Some(before.day + micros(10_000)),
        monthly: None,
    };
    assert_budget(
        &ctx,
        "a reserve after recorded spend passed the cap",
        store.reserve(micros(1), &caps, now).await,
        "daily",
    );
    ctx.ok("record", store.record(micros(-12_500), now).await);
    assert_eq!(
        ctx.ok("spend", store.spend(now).await),
        before,
        "conformance::{n}: a negative record (refund) must subtract"
    );
}

/// Spend counts on the UTC day of `now`: 23:59:59.999 and 00:00:00.000 are different days of
/// the same month.
pub async fn ledger_day_rollover<S: SpendLedger + ?Sized>(store: &S) {
    let ctx = Ctx::new_month("ledger_day_rollover");
    let n = ctx.name;
    // Day 10 of the month, 23:59:59.999, then day 11 at midnight.
    let late = Timestamp::from_millis(ctx.base.as_millis() - 3_600_000 + 10 * DAY * 1000 - 1);
    let midnight = late.add(Duration::from_millis(1));
    assert_ne!(late.day_key(), midnight.day_key());
    let (b_late, b_mid) = (
        ctx.ok("spend", store.spend(late).await),
        ctx.ok("spend", store.spend(midnight).await),
    );
    let r = ctx.ok(
        "reserve",
        store
            .reserve(micros(1_000), &SpendCaps::default(), late)
            .await,
    );
    assert_eq!(
        r.day,
        late.day_key(),
        "conformance::{n}: the reservation must count on the day of now"
    );
    let (s_late, s_mid) = (
        ctx.ok("spend", store.spend(late).await),
        ctx.ok("spend", store.spend(midnight).await),
    );
    assert_eq!(
        s_late.day - b_late.day,
        micros(1_000),
        "conformance::{n}: the reservation must count on its day"
    );
    assert_eq!(
        s_mid.day, b_mid.day,
        "conformance::{n}: spend at 23:59:59.999 counted on the next day"
    );
    assert_eq!(
        s_mid.month - b_mid.month,
        micros(1_000),
        "conformance::{n}: the next day is in the same month"
    );
    ctx.ok("release", store.release(&r).await);
}

/// 64 concurrent reserves of 76 270 micros against a cap 1 000 000 above the current spend:
/// exactly 13 succeed and committed spend never exceeds the cap, for the daily cap and for the
/// monthly cap (with the reserves spread over the month's days).
pub async fn ledger_concurrent_reserves<S: SpendLedger + ?Sized>(store: &S) {
    let ctx = Ctx::new_month("ledger_concurrent_reserves");
    let n = ctx.name;
    let amount = micros(76_270);

    // Daily cap.
    let now = ctx.at(5 * DAY);
    let before = ctx.ok("spend", store.spend(now).await);
    let caps = SpendCaps {
        daily: Some(before.day + micros(1_000_000)),
        monthly: None,
    };
    let results = join_all((0..64).map(|_| store.reserve(amount, &caps, now)).collect()).await;
    let mut granted = Vec::new();
    for r in results {
        match r {
            Ok(res) => granted.push(res),
            Err(Error::BudgetExceeded { period: "daily" }) => {}
            Err(e) => panic!(
                "conformance::{n}: a concurrent reserve failed with {e:?} instead of BudgetExceeded(daily)"
            ),
        }
    }
    let s = ctx.ok("spend", store.spend(now).await);
    assert!(
        s.day - before.day <= micros(1_000_000),
        "conformance::{n}: concurrent reserves took day spend past the cap: {} over {}",
        s.day - before.day,
        micros(1_000_000)
    );
    assert_eq!(
        granted.len(),
        13,
        "conformance::{n}: {} of 64 concurrent reserves of 76 270 succeeded under a 1 000 000 cap (13 fit)",
        granted.len()
    );
    assert_eq!(
        s.day - before.day,
        amount * 13,
        "conformance::{n}: day spend must equal the granted reservations"
    );
    let ids: HashSet<u64> = granted.iter().map(|r| r.id).collect();
    assert_eq!(
        ids.len(),
        13,
        "conformance::{n}: concurrent reservations got duplicate ids"
    );
    for r in &granted {
        ctx.ok("release", store.release(r).await);
    }
    assert_eq!(
        ctx.ok("spend", store.spend(now).await),
        before,
        "conformance::{n}: releases must restore the spend"
    );

    // Monthly cap, over several days of the month.
    let first = ctx.at(0);
    let before_m = ctx.ok("spend", store.spend(first).await);
    let caps = SpendCaps {
        daily: None,
        monthly: Some(before_m.month + micros(1_000_000)),
    };
    let days: Vec<Timestamp> = (0..64).map(|i| ctx.at((i % 28) * DAY)).collect();
    let results = join_all(
        days.iter()
            .map(|&t| store.reserve(amount, &caps, t))
            .collect(),
    )
    .await;
    let mut granted = Vec::new();
    for r in results {
        match r {
            Ok(res) => granted.push(res),
            Err(Error::BudgetExceeded { period: "monthly" }) => {}
            Err(e) => panic!(
                "conformance::{n}: a concurrent reserve failed with {e:?} instead of BudgetExceeded(monthly)"
            ),
        }
    }
    let s = ctx.ok("spend", store.spend(first).await);
    assert!(
        s.month - before_m.month <= micros(1_000_000),
        "conformance::{n}: concurrent reserves took month spend past the cap"
    );
    assert_eq!(
        granted.len(),
        13,
        "conformance::{n}: {} of 64 concurrent reserves succeeded under the monthly cap (13 fit)",
        granted.len()
    );
    for r in &granted {
        ctx.ok("release", store.release(r).await);
    }
    assert_eq!(
        ctx.ok("spend", store.spend(first).await).month,
        before_m.month,
        "conformance::{n}: releases must restore the month"
    );
}
