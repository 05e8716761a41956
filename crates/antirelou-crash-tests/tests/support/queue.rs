//! What both kill tests do to the reply queue around the children: the replies they schedule,
//! and the wait for the queue to drain with each reply's committed provider id.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use antirelou_core::privacy::SenderHash;
use antirelou_core::store::{NewReply, ReplyKind, ReplyQueue, ReplyState};
use antirelou_core::{Clock, PhoneNumber, SystemClock, Timestamp};

/// Replies number `indices` (keys `kill:{tag}:{i}`), each to its own recipient, due at `now`.
pub(crate) fn replies_due_now(tag: &str, indices: &[u64], now: Timestamp) -> Vec<NewReply> {
    indices
        .iter()
        .map(|i| NewReply {
            idempotency_key: format!("kill:{tag}:{i}"),
            number: PhoneNumber::parse("+33937000000").unwrap(),
            recipient: PhoneNumber::parse(&format!("+3361{i:07}")).unwrap(),
            sender: SenderHash(u128::from(*i).to_le_bytes()),
            kind: ReplyKind::Lesson,
            due_at: now,
            expires_at: now.add(Duration::from_secs(3600)),
        })
        .collect()
}

/// Wait (at most 5 minutes) until nothing is pending or claimed, then check that every reply
/// of `ids` was sent with its plain number erased, and return each one's committed provider id.
pub(crate) async fn drain_committed(store: &impl ReplyQueue, ids: &[u64]) -> HashMap<u64, String> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let stats = store.queue_stats(SystemClock.now()).await.unwrap();
        if stats.pending == 0 && stats.claimed == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "queue not drained: {stats:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut committed = HashMap::new();
    for &id in ids {
        let rec = store.get(id).await.unwrap().unwrap();
        assert_eq!(rec.state, ReplyState::Sent, "reply {id}: {rec:?}");
        assert_eq!(
            rec.recipient, None,
            "reply {id}: the plain number must be erased once sent"
        );
        committed.insert(id, rec.provider_id.unwrap());
    }
    committed
}
