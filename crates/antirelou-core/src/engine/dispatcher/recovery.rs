//! Before sending a reply again, ask the provider whether an earlier claim already sent it.
//!
//! A worker killed between the provider's acceptance of a message and the store's record of it
//! leaves the reply claimed; when its lease ends the next claim sends it again, and the man gets
//! the lesson twice (at most one duplicate per send in flight at the crash, a lease after it).
//! No provider we use takes an idempotency key on a send, so the dispatcher asks instead
//! ([`SmsTransport::find_accepted`]) for every claim that is not the reply's first: a previous claim
//! may have reached the provider (a crash, or a send whose outcome was unknown and reported as
//! transient). The store does not record how the previous claim ended, so a retry after a
//! definite failure is asked about too: one extra lookup on a rare path.

use super::{Dispatcher, Step};
use crate::error::Error;
use crate::money::Money;
use crate::store::{ClaimedReply, SpendLedger};
use crate::transport::{OutboundSms, PriorSend, SmsTransport};

/// What the provider said about an earlier claim of a reply.
pub(super) enum Prior {
    /// It was accepted: recorded as sent, with this step.
    Recorded(Step),
    /// No earlier claim reached the provider (a first claim, or the provider found none).
    NotSent,
    /// A non-first claim the provider cannot tell about (or the lookup failed): an earlier
    /// claim may have reached the man.
    Unknown,
}

impl Dispatcher {
    /// When `c` may already have been sent by an earlier claim and the provider says it was,
    /// record that send (completed, its cost counted) and return the step; otherwise say whether
    /// an earlier claim may have reached the provider: send as usual. A failed lookup is logged
    /// and answers [`Prior::Unknown`] (a possible duplicate rather than a lost lesson).
    pub(super) async fn already_sent(
        &self,
        c: &ClaimedReply,
        sender: &dyn SmsTransport,
        sms: &OutboundSms,
        estimate: Money,
    ) -> crate::error::Result<Prior> {
        if c.token.attempt <= 1 {
            return Ok(Prior::NotSent);
        }
        let inner = self.inner();
        let receipt = match sender.find_accepted(sms, c.created_at).await {
            Ok(PriorSend::Accepted(receipt)) => receipt,
            Ok(PriorSend::NotFound) => return Ok(Prior::NotSent),
            Ok(PriorSend::Unknown) => return Ok(Prior::Unknown),
            Err(e) => {
                inner.count("send.lookup_failed", 1).await;
                tracing::warn!(reply = c.token.id, attempt = c.token.attempt, error = %super::scrub(&e.to_string()),
                    "could not ask the provider whether an earlier attempt was sent: sending");
                return Ok(Prior::Unknown);
            }
        };
        let now = inner.clock.now();
        let lease_lost = match inner
            .store
            .complete(c.token, &receipt.provider_id, now)
            .await
        {
            Ok(()) => false,
            Err(Error::LeaseLost { .. }) => true,
            Err(e) => return Err(e),
        };
        // The earlier attempt's reservation may still be counted (a crash) or was released (a
        // send reported as failed): count the cost again, erring on the side of spending less.
        let price = inner.ledger_price(receipt.price).await;
        let cost = price.unwrap_or(estimate);
        SpendLedger::record(&*inner.store, cost, now).await?;
        let calling_code = c.recipient.calling_code();
        inner.remember_price(&receipt, price, estimate, calling_code);
        inner.count("send.recovered", 1).await;
        inner.count_sent(c.kind, cost).await;
        tracing::info!(reply = c.token.id, attempt = c.token.attempt, to = %c.recipient.masked(),
            "an earlier attempt was accepted by the provider: recorded, not sent again");
        Ok(Prior::Recorded(Step::Sent { lease_lost }))
    }
}
