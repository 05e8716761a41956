//! The retention purge: what the store forgets, and when.

use std::time::Duration;

use crate::engine::Engine;
use crate::{Clock as _, Result};

/// How long the store keeps what it no longer needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Replies that ended (sent, expired, dropped) longer ago than this are deleted
    /// ([`ReplyQueue::purge`](crate::store::ReplyQueue::purge)). Default 30 days.
    pub replies: Duration,
    /// Sender history not seen within this long is deleted
    /// ([`SenderHistory::purge_senders`](crate::store::SenderHistory::purge_senders));
    /// `None` (the default): the longer of the engine's
    /// [`lesson_window`](crate::engine::EngineConfig::lesson_window) (so that one lesson per
    /// sender holds) and the longest decoy window of its numbers (so that a caller within it
    /// is not a stranger again), and nothing longer. Opt-outs are kept by the store.
    pub senders: Option<Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            replies: Duration::from_secs(30 * 86_400),
            senders: None,
        }
    }
}

/// What one purge deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Ended replies deleted.
    pub replies: u64,
    /// Sender history entries deleted.
    pub senders: u64,
}

/// The sender history `engine` reads: the longer of its lesson window and its numbers'
/// longest decoy window.
fn sender_retention_needed(engine: &Engine) -> Duration {
    let decoy = engine
        .numbers()
        .list()
        .iter()
        .filter(|n| n.decoy.enabled)
        .map(|n| n.decoy.window)
        .max()
        .unwrap_or_default();
    engine.config().lesson_window.max(decoy)
}

/// Purge `engine`'s store once per `retention`, at the engine clock's now. Both purges are
/// attempted; the first error is returned after both ran.
pub async fn purge_once(engine: &Engine, retention: &Retention) -> Result<PurgeReport> {
    let now = engine.clock().now();
    let replies = engine.store().purge(now.sub(retention.replies)).await;
    let window = retention
        .senders
        .unwrap_or_else(|| sender_retention_needed(engine));
    let senders = engine.store().purge_senders(now.sub(window)).await;
    let report = PurgeReport {
        replies: *replies.as_ref().unwrap_or(&0),
        senders: *senders.as_ref().unwrap_or(&0),
    };
    if report.replies > 0 || report.senders > 0 {
        tracing::info!(
            replies = report.replies,
            senders = report.senders,
            "retention purge"
        );
    }
    replies?;
    senders?;
    Ok(report)
}
