//! Did Twilio already accept this message? The answer to
//! [`SmsTransport::find_accepted`](antirelou_core::SmsTransport::find_accepted).
//!
//! Twilio's Messages API takes no idempotency key on a create (the `I-Twilio-Idempotency-Token`
//! header is one Twilio *sends* on its webhooks), so a message accepted just before our process
//! died cannot be made safe to post again. It can be looked up: `GET …/Messages.json` lists the
//! account's messages newest first, filtered by `To` and `From`. We ask for the messages from
//! our number (or, with a Messaging Service, to the recipient through that service) to the
//! recipient, and look for an outbound one with exactly our text, created at or after `since`,
//! not `failed` or `canceled` (those were never sent). It is not filtered by `DateSent`: a
//! message still queued has no send date yet, and the filter only takes whole days.
//!
//! One page of [`PAGE_SIZE`] is read. We text a man once per lesson window, so the page holds
//! every message between us; if it is full or names a next page, the answer is
//! [`PriorSend::Unknown`] (send) rather than a guess.

use antirelou_core::kit::client;
use antirelou_core::transport::{OutboundSms, PriorSend};
use antirelou_core::{Clock, SystemClock, Timestamp};
use serde_json::Value;

use super::{SendFrom, TwilioTransport, api_error, receipt_from_body, transport};
use crate::error::TwilioError;

/// Messages read from the list (one page).
pub const PAGE_SIZE: usize = 20;

impl TwilioTransport {
    /// Look for `sms` among the messages Twilio accepted since `since` (see the [module
    /// documentation](self)).
    pub async fn find_message(
        &self,
        sms: &OutboundSms,
        since: Timestamp,
    ) -> Result<PriorSend, TwilioError> {
        let mut url = self.messages_url.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("To", sms.to().e164());
            if self.config.send_from == SendFrom::Number {
                q.append_pair("From", sms.from().e164());
            }
            q.append_pair("PageSize", &PAGE_SIZE.to_string());
        }
        let (user, pass) = self.config.auth.credentials();
        let request = self
            .http
            .get(url)
            .basic_auth(user, Some(pass))
            .header(http::header::ACCEPT, "application/json");
        let answer = client::send("Twilio", request, SystemClock.now())
            .await
            .map_err(transport)?;
        if !answer.status.is_success() {
            return Err(api_error(answer.status.as_u16(), &answer.body, None));
        }
        Ok(self.match_page(&answer.body, sms, since))
    }

    /// The answer from one page of Twilio's message list.
    fn match_page(&self, page: &[u8], sms: &OutboundSms, since: Timestamp) -> PriorSend {
        let json: Value = serde_json::from_slice(page).unwrap_or(Value::Null);
        let Some(messages) = json.get("messages").and_then(Value::as_array) else {
            return PriorSend::Unknown;
        };
        let text = |m: &Value, k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
        for m in messages {
            let Some(created) = text(m, "date_created").as_deref().and_then(parse_date) else {
                // A message we cannot date could be ours: do not claim it is not there.
                return PriorSend::Unknown;
            };
            let same_sender = match &self.config.send_from {
                SendFrom::Number => text(m, "from").as_deref() == Some(sms.from().e164()),
                SendFrom::MessagingService(sid) => {
                    text(m, "messaging_service_sid").as_deref() == Some(sid.as_str())
                }
            };
            let ours = created >= since
                && same_sender
                && text(m, "to").as_deref() == Some(sms.to().e164())
                && text(m, "direction").is_some_and(|d| d.starts_with("outbound"))
                && text(m, "body").as_deref() == Some(sms.body())
                && !matches!(text(m, "status").as_deref(), Some("failed" | "canceled"));
            if let (true, Ok(receipt)) = (
                ours,
                receipt_from_body(m.to_string().as_bytes(), sms.segments()),
            ) {
                return PriorSend::Accepted(receipt);
            }
        }
        let more = json.get("next_page_uri").is_some_and(|v| !v.is_null());
        let complete = messages.len() < PAGE_SIZE && !more;
        if complete {
            PriorSend::NotFound
        } else {
            PriorSend::Unknown
        }
    }
}

/// Twilio's dates: RFC 2822 (`Thu, 24 Aug 2023 05:01:45 +0000`).
fn parse_date(s: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc2822(s)
        .ok()
        .map(|d| Timestamp::from_millis(d.timestamp_millis()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn twilio_dates() {
        assert_eq!(
            parse_date("Thu, 24 Aug 2023 05:01:45 +0000"),
            Some(Timestamp::from_secs(1_692_853_305))
        );
        assert_eq!(parse_date("yesterday"), None);
    }
}
