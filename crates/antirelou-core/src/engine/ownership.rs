//! Which provider may speak for which number.
//!
//! Each number is carried by one provider ([`NumberConfig::provider`](super::NumberConfig::provider)),
//! and its webhooks (texts, STOP / START, calls, delivery reports) come from that provider only.
//! A signature proves which provider sent a request, not that the provider carries the number
//! the request is addressed to: with two providers configured, a request correctly signed for
//! one of them (or with a leaked secret of the one the operator barely uses) could otherwise
//! schedule lessons sent through the other's number, or cancel them with a forged STOP. So the
//! engine checks it once, before anything else is done with the event, and refuses the event
//! with [`Error::WrongProvider`] (adapters answer `403`).

use super::Inner;
use super::numbers::NumberEntry;
use crate::error::{Error, Result};
use crate::event::{DeliveryReport, ProviderId};

impl Inner {
    /// `Ok` when `provider` carries `entry`'s number; otherwise log (number masked), count
    /// `refused.wrong_provider` and refuse.
    pub(crate) async fn check_owner(
        &self,
        entry: &NumberEntry,
        provider: ProviderId,
        event: &'static str,
    ) -> Result<()> {
        let owner = entry.config.provider;
        if owner == provider {
            return Ok(());
        }
        let number = entry.config.number.masked();
        tracing::warn!(number = %number, owner = owner.as_str(), provider = provider.as_str(), event,
            "webhook refused: this provider does not carry this number");
        self.count("refused.wrong_provider", 1).await;
        Err(Error::WrongProvider {
            number,
            owner: owner.as_str(),
            provider: provider.as_str(),
        })
    }

    /// A delivery report must come from the provider of the number that sent the message. A
    /// report for a message we do not know, or whose number is no longer configured, is let
    /// through: it matches nothing the check could protect (its ledger correction is keyed by
    /// the provider's own message id).
    pub(crate) async fn check_report_owner(&self, report: &DeliveryReport) -> Result<()> {
        let Some(number) = self.store.sent_from(&report.message_id).await? else {
            return Ok(());
        };
        match self.numbers.entry(&number) {
            Some(entry) => self.check_owner(&entry, report.provider, "delivery").await,
            None => Ok(()),
        }
    }
}
