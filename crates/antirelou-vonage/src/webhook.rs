//! Parsing Vonage webhooks into the core's events.
//!
//! Vonage delivers the SMS API webhooks (inbound SMS, delivery receipts) as **GET** with a query
//! string, **POST form** or **POST JSON**, as chosen in the dashboard; the voice answer webhook
//! as GET (default) or POST JSON; the voice event webhook as POST JSON (default) or GET.
//! The kit's [`Params::from_parts`] reads all of them into one flat, ordered list of unique parameters,
//! which is what the `sig` algorithm signs and what the parsers below read.
//!
//! # Multipart SMS
//!
//! A long SMS arrives as separate webhooks, one per part, with `concat=true`, `concat-ref` (the
//! sender's reference for the whole message), `concat-part` (1-based) and `concat-total`. Each
//! part has its own `messageId`. The engine must see **one message**, so that a man who sends a
//! three-part text gets one lesson, not three: for a part, [`InboundSms::message_id`] is
//! `concat:<h>:<concat-ref>:<concat-total>`, where `<h>` is 16 hex digits of HMAC-SHA-256 (keyed
//! with the adapter's id key) of the sender and our number. Every part of a message therefore has
//! the same message id, and the engine's idempotency schedules one lesson: the first part to
//! arrive schedules it, the others are duplicates. The sender's number never appears in the id
//! in clear (`concat-ref` alone is not enough: it is chosen by the sender's phone, one byte or two,
//! and collides between senders).

use antirelou_core::event::{
    DeliveryFailure, DeliveryReport, DeliveryState, InboundCall, InboundSms,
};
use antirelou_core::kit::webhook_caller;
use antirelou_core::{Caller, Currency, Money, PhoneNumber, Price, Timestamp};
use chrono::NaiveDateTime;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::VonageError;

/// The largest body or query string a webhook may carry (Vonage's are well under 2 KiB): the
/// kit's [`MAX_LEN`](antirelou_core::kit::params::MAX_LEN).
pub const MAX_BODY: usize = antirelou_core::kit::params::MAX_LEN;

pub use antirelou_core::kit::params::{Nested, Params};

/// Where a part sits in a multipart SMS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Concat {
    /// `concat-ref`: the sender's reference of the whole message.
    pub reference: String,
    /// `concat-part`: this part's number, from 1.
    pub part: u32,
    /// `concat-total`: how many parts the message has.
    pub total: u32,
}

/// An inbound SMS as parsed from a webhook: the core event plus what only Vonage says.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParsedSms {
    /// The event for the engine.
    pub sms: InboundSms,
    /// Vonage's `messageId` of this webhook (of this part, for a multipart message).
    pub vonage_message_id: String,
    /// `type`: `text`, `unicode` or `binary` (binary messages have an empty body).
    pub message_type: String,
    /// `keyword`: the first word, upper-cased by Vonage.
    pub keyword: Option<String>,
    /// The multipart information, for a part of a long message.
    pub concat: Option<Concat>,
}

fn parse_u32(p: &Params, name: &'static str) -> Result<u32, VonageError> {
    p.required(name)?
        .parse()
        .map_err(|_| VonageError::invalid(name, "not a positive integer"))
}

/// Parse Vonage's `message-timestamp` (`YYYY-MM-DD HH:MM:SS`, UTC).
pub fn parse_message_timestamp(s: &str) -> Option<Timestamp> {
    let dt = NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    Some(Timestamp::from_datetime(dt.and_utc()))
}

/// Classify a sender field by the kit's one rule ([`webhook_caller`]): digits that
/// libphonenumber does not validate are not dialable; anything else that is not a number, a
/// short code, a sender ID or a withheld marker is refused.
fn caller(p: &Params, name: &'static str) -> Result<Caller, VonageError> {
    webhook_caller(p.get(name).unwrap_or("")).ok_or_else(|| {
        VonageError::invalid(name, "not a valid phone number, short code or sender ID")
    })
}

fn our_number(p: &Params, name: &'static str) -> Result<PhoneNumber, VonageError> {
    PhoneNumber::parse(p.required(name)?)
        .map_err(|_| VonageError::invalid(name, "not a valid phone number"))
}

/// The shared message id of every part of a multipart SMS (see the module docs).
pub fn concat_message_id(id_key: &[u8], msisdn: &str, to: &str, concat: &Concat) -> String {
    let tag = match <Hmac<Sha256> as Mac>::new_from_slice(id_key) {
        Ok(mut mac) => {
            mac.update(msisdn.as_bytes());
            mac.update(b"\n");
            mac.update(to.as_bytes());
            hex::encode(&mac.finalize().into_bytes()[..8])
        }
        Err(_) => String::new(),
    };
    format!("concat:{tag}:{}:{}", concat.reference, concat.total)
}

/// The two kinds of SMS API webhook. Both are signed the same way (`sig`) and share most field
/// names (`msisdn`, `to`, `messageId`, `message-timestamp`), so a signed webhook of one kind
/// would verify at the other's route: [`SmsWebhookKind::check`] refuses it there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsWebhookKind {
    /// An inbound SMS (fields `text`, `type`, `keyword`, `data`, `udh`, `concat*`).
    InboundSms,
    /// A delivery receipt (fields `status`, `err-code`, `scts`).
    DeliveryReceipt,
}

impl SmsWebhookKind {
    /// Fields only this kind of webhook carries.
    fn own_fields(self) -> &'static [&'static str] {
        match self {
            SmsWebhookKind::InboundSms => &[
                "text",
                "type",
                "keyword",
                "data",
                "udh",
                "concat",
                "concat-ref",
                "concat-part",
                "concat-total",
            ],
            SmsWebhookKind::DeliveryReceipt => &["status", "err-code", "scts"],
        }
    }

    fn other(self) -> Self {
        match self {
            SmsWebhookKind::InboundSms => SmsWebhookKind::DeliveryReceipt,
            SmsWebhookKind::DeliveryReceipt => SmsWebhookKind::InboundSms,
        }
    }

    /// What this kind is called in messages.
    pub fn name(self) -> &'static str {
        match self {
            SmsWebhookKind::InboundSms => "an inbound SMS",
            SmsWebhookKind::DeliveryReceipt => "a delivery receipt",
        }
    }

    /// Refuse (`400`) parameters that carry a field only the other kind has: an inbound SMS at
    /// the delivery-receipt route, or a receipt at the inbound route (a replay of a signed
    /// webhook at the wrong route, or a dashboard URL set to the wrong route).
    ///
    /// ```
    /// use antirelou_vonage::webhook::{Params, SmsWebhookKind};
    /// let sms = Params::from_form(b"msisdn=1&to=2&messageId=3&text=hi&type=text").unwrap();
    /// assert!(SmsWebhookKind::InboundSms.check(&sms).is_ok());
    /// assert_eq!(SmsWebhookKind::DeliveryReceipt.check(&sms).unwrap_err().status_code(), 400);
    /// ```
    pub fn check(self, p: &Params) -> Result<(), VonageError> {
        let other = self.other();
        match other.own_fields().iter().find(|f| p.get(f).is_some()) {
            None => Ok(()),
            Some(field) => Err(VonageError::BadRequest(format!(
                "{} (field `{field}`) sent to the route of {}: refused",
                other.name(),
                self.name()
            ))),
        }
    }
}

/// Parse an inbound SMS webhook (`msisdn`, `to`, `messageId`, `text`, `type`, `keyword`,
/// `message-timestamp`, `concat-*`). `id_key` keys the shared id of multipart messages.
///
/// ```
/// use antirelou_vonage::webhook::{parse_inbound_sms, Params};
/// let p = Params::from_form(b"msisdn=33612345678&to=33757000000&messageId=0A0000001&text=Salut&type=text&keyword=SALUT&message-timestamp=2024-05-01+10%3A00%3A00").unwrap();
/// let parsed = parse_inbound_sms(&p, b"key").unwrap();
/// assert_eq!(parsed.sms.message_id, "0A0000001");
/// assert_eq!(parsed.sms.body, "Salut");
/// assert_eq!(antirelou_vonage::wire_number(&parsed.sms.to), "33757000000");
/// ```
pub fn parse_inbound_sms(p: &Params, id_key: &[u8]) -> Result<ParsedSms, VonageError> {
    let msisdn = p.required("msisdn")?;
    let from = caller(p, "msisdn")?;
    let to = our_number(p, "to")?;
    let vonage_id = p.required("messageId")?.to_owned();
    if vonage_id.len() > 128 {
        return Err(VonageError::invalid(
            "messageId",
            "longer than 128 characters",
        ));
    }
    let message_type = p.optional("type").unwrap_or("text").to_owned();
    let body = p.get("text").unwrap_or("").to_owned();
    let keyword = p.optional("keyword").map(str::to_owned);
    let received_at = p
        .optional("message-timestamp")
        .and_then(parse_message_timestamp);
    let concat = match p.optional("concat") {
        Some(c) if c.eq_ignore_ascii_case("true") => {
            let reference = p.required("concat-ref")?.to_owned();
            if reference.len() > 64 {
                return Err(VonageError::invalid(
                    "concat-ref",
                    "longer than 64 characters",
                ));
            }
            let part = parse_u32(p, "concat-part")?;
            let total = parse_u32(p, "concat-total")?;
            if part == 0 || total == 0 || part > total {
                return Err(VonageError::invalid(
                    "concat-part",
                    "not between 1 and concat-total",
                ));
            }
            Some(Concat {
                reference,
                part,
                total,
            })
        }
        _ => None,
    };
    let message_id = match &concat {
        Some(c) => concat_message_id(id_key, msisdn, crate::wire_number(&to), c),
        None => vonage_id.clone(),
    };
    Ok(ParsedSms {
        sms: InboundSms {
            provider: crate::PROVIDER,
            message_id,
            from,
            to,
            body,
            received_at,
        },
        vonage_message_id: vonage_id,
        message_type,
        keyword,
        concat,
    })
}

/// Parse the voice answer webhook (`to`, `from`, `uuid`, `conversation_uuid`). A missing `from`
/// (a call from an in-app user) is a withheld caller.
///
/// ```
/// use antirelou_vonage::webhook::{parse_answer, Params};
/// let p = Params::from_form(b"to=33757000000&from=33612345678&conversation_uuid=CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab&uuid=aaaaaaaa-bbbb-cccc-dddd-0123456789ab").unwrap();
/// let call = parse_answer(&p).unwrap();
/// assert_eq!(call.call_id, "aaaaaaaa-bbbb-cccc-dddd-0123456789ab");
/// assert_eq!(antirelou_vonage::wire_number(&call.to), "33757000000");
/// assert_eq!(antirelou_vonage::wire_number(call.from.number().unwrap()), "33612345678");
/// ```
pub fn parse_answer(p: &Params) -> Result<InboundCall, VonageError> {
    let call_id = p.required("uuid")?.to_owned();
    if call_id.len() > 128 {
        return Err(VonageError::invalid("uuid", "longer than 128 characters"));
    }
    let from = caller(p, "from")?;
    let to = our_number(p, "to")?;
    Ok(InboundCall {
        provider: crate::PROVIDER,
        call_id,
        from,
        to,
    })
}

/// The `status` of a voice event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallStatus {
    /// `started`
    Started,
    /// `ringing`
    Ringing,
    /// `answered`
    Answered,
    /// `busy`
    Busy,
    /// `cancelled`
    Cancelled,
    /// `unanswered`
    Unanswered,
    /// `rejected`
    Rejected,
    /// `failed`
    Failed,
    /// `timeout`
    Timeout,
    /// `completed`
    Completed,
    /// `human` or `machine` (answering machine detection).
    Detected(String),
    /// Anything else (`record`, `input`, `transfer`, statuses added later…).
    Other(String),
}

impl CallStatus {
    /// Classify a status string; unknown statuses are kept, never refused.
    pub fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "started" => CallStatus::Started,
            "ringing" => CallStatus::Ringing,
            "answered" => CallStatus::Answered,
            "busy" => CallStatus::Busy,
            "cancelled" => CallStatus::Cancelled,
            "unanswered" => CallStatus::Unanswered,
            "rejected" => CallStatus::Rejected,
            "failed" => CallStatus::Failed,
            "timeout" => CallStatus::Timeout,
            "completed" => CallStatus::Completed,
            d @ ("human" | "machine") => CallStatus::Detected(d.to_owned()),
            other => CallStatus::Other(other.chars().take(64).collect()),
        }
    }

    /// Whether the call is over.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            CallStatus::Busy
                | CallStatus::Cancelled
                | CallStatus::Unanswered
                | CallStatus::Rejected
                | CallStatus::Failed
                | CallStatus::Timeout
                | CallStatus::Completed
        )
    }
}

/// A voice event webhook. Phone numbers are not kept (only what logs may show).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VoiceEvent {
    /// `status`; `None` for an error event (`{reason, conversation_uuid, timestamp}`).
    pub status: Option<CallStatus>,
    /// `uuid` of the leg.
    pub uuid: Option<String>,
    /// `conversation_uuid`.
    pub conversation_uuid: Option<String>,
    /// `direction`: `inbound` or `outbound`.
    pub direction: Option<String>,
    /// `timestamp`, as sent (ISO 8601).
    pub timestamp: Option<String>,
    /// `duration` in seconds (on `completed`).
    pub duration_secs: Option<u32>,
    /// `price` (on `completed`): the cost of the call.
    pub price: Option<Money>,
    /// `reason`, for an error event.
    pub reason: Option<String>,
}

/// Parse a voice event webhook. Unknown statuses and fields are tolerated.
///
/// ```
/// use antirelou_vonage::webhook::{parse_event, CallStatus, Params, Nested};
/// let body = br#"{"status":"completed","uuid":"u1","conversation_uuid":"CON-1","duration":"12","price":"0.0120","direction":"inbound"}"#;
/// let ev = parse_event(&Params::from_json(body, Nested::Skip).unwrap());
/// assert_eq!(ev.status, Some(CallStatus::Completed));
/// assert_eq!(ev.duration_secs, Some(12));
/// ```
pub fn parse_event(p: &Params) -> VoiceEvent {
    let s = |n: &str| {
        p.optional(n)
            .map(|v| v.chars().take(256).collect::<String>())
    };
    VoiceEvent {
        status: p.optional("status").map(CallStatus::parse),
        uuid: s("uuid"),
        conversation_uuid: s("conversation_uuid"),
        direction: s("direction"),
        timestamp: s("timestamp"),
        duration_secs: p.optional("duration").and_then(|d| d.parse().ok()),
        price: p.optional("price").and_then(Money::parse_decimal),
        reason: s("reason"),
    }
}

/// A delivery receipt as parsed from a webhook: the core report plus what only Vonage says.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParsedDlr {
    /// The report for the engine.
    pub report: DeliveryReport,
    /// `status`, as sent.
    pub status: String,
    /// `client-ref`: the reference we sent.
    pub client_ref: Option<String>,
    /// `network-code`.
    pub network_code: Option<String>,
}

/// Map a DLR `status` to the core's delivery state.
pub fn delivery_state(status: &str) -> DeliveryState {
    match status.trim().to_ascii_lowercase().as_str() {
        "delivered" => DeliveryState::Delivered,
        "expired" => DeliveryState::Expired,
        "failed" => DeliveryState::Failed,
        "rejected" => DeliveryState::Undelivered,
        "accepted" => DeliveryState::Accepted,
        "buffered" => DeliveryState::Sent,
        _ => DeliveryState::Unknown,
    }
}

/// Parse a delivery receipt webhook (`messageId`, `status`, `price`, `err-code`, `client-ref`…).
/// Vonage sends one receipt per segment, each with that segment's `messageId` and price. The
/// price names no currency: it is in `billing_currency`, the account's, and left out of the
/// report without it (never assumed to be the ledger's).
///
/// ```
/// use antirelou_core::{Currency, Money, Price, event::DeliveryState};
/// use antirelou_vonage::webhook::{parse_delivery_receipt, Params};
/// let p = Params::from_form(b"msisdn=33612345678&to=33757000000&messageId=0C000000217B7F02&price=0.03330000&status=delivered&err-code=0&client-ref=r42").unwrap();
/// let dlr = parse_delivery_receipt(&p, Some(Currency::EUR)).unwrap();
/// assert_eq!(dlr.report.state, DeliveryState::Delivered);
/// assert_eq!(dlr.report.price, Some(Price::new(Money::from_micros(33_300), Currency::EUR)));
/// assert_eq!(dlr.report.error_code, None);
/// assert_eq!(parse_delivery_receipt(&p, None).unwrap().report.price, None);
/// ```
pub fn parse_delivery_receipt(
    p: &Params,
    billing_currency: Option<Currency>,
) -> Result<ParsedDlr, VonageError> {
    let message_id = p.required("messageId")?.to_owned();
    if message_id.len() > 128 {
        return Err(VonageError::invalid(
            "messageId",
            "longer than 128 characters",
        ));
    }
    let status = p
        .optional("status")
        .unwrap_or("unknown")
        .chars()
        .take(32)
        .collect::<String>();
    let price = match p.optional("price") {
        Some(s) => Some(
            Money::parse_decimal(s)
                .ok_or_else(|| VonageError::invalid("price", "not a decimal"))?,
        ),
        None => None,
    };
    let price = price
        .zip(billing_currency)
        .map(|(amount, currency)| Price::new(amount, currency));
    let error_code = p
        .optional("err-code")
        .filter(|c| *c != "0")
        .map(|c| c.chars().take(16).collect::<String>());
    Ok(ParsedDlr {
        report: DeliveryReport {
            provider: crate::PROVIDER,
            message_id,
            state: delivery_state(&status),
            price,
            failure: error_code.as_deref().map(delivery_failure),
            error_code,
        },
        status,
        client_ref: p
            .optional("client-ref")
            .map(|c| c.chars().take(100).collect()),
        network_code: p
            .optional("network-code")
            .map(|c| c.chars().take(16).collect()),
    })
}

/// What a delivery receipt's non-zero `err-code` means. Source: Vonage's support article
/// "Vonage SMS Delivery Error Codes and Descriptions" (api.support.vonage.com, article
/// 204014733), the SMS API DLR `err-code` table:
///
/// | `err-code` | Vonage's meaning | [`DeliveryFailure`] |
/// |---|---|---|
/// | `9` | Illegal Number: "user has requested not to receive messages from a specific service" | `OptedOut` |
/// | `3` | Absent Subscriber - Permanent: "number is no longer active" | `InvalidRecipient` |
/// | `12` | Destination Unreachable: "route to number cannot be found" | `InvalidRecipient` |
/// | anything else (1 unknown, 2/7/8 temporary, 4 barred by user at his carrier, 6 anti-spam…) | | `Other` |
///
/// **Unverified**: whether carriers really send `9` for a STOP to *our* number rather than to a
/// whole service class (the table's wording is all Vonage publishes), and whether `12` is ever
/// temporary. Vonage documents no opt-out code of its own in SMS API receipts.
///
/// ```
/// use antirelou_core::event::DeliveryFailure;
/// use antirelou_vonage::webhook::delivery_failure;
/// assert_eq!(delivery_failure("9"), DeliveryFailure::OptedOut);
/// assert_eq!(delivery_failure("3"), DeliveryFailure::InvalidRecipient);
/// assert_eq!(delivery_failure("2"), DeliveryFailure::Other);
/// ```
pub fn delivery_failure(err_code: &str) -> DeliveryFailure {
    match err_code.trim() {
        "9" => DeliveryFailure::OptedOut,
        "3" | "12" => DeliveryFailure::InvalidRecipient,
        _ => DeliveryFailure::Other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn message_timestamp() {
        assert_eq!(
            parse_message_timestamp("2013-11-21 15:27:30"),
            Some(Timestamp::from_secs(1_385_047_650))
        );
        assert_eq!(parse_message_timestamp("yesterday"), None);
    }

    #[test]
    fn unvalidated_digits_are_not_dialable_but_garbage_is_refused() {
        // Vonage's documentation example numbers (UK drama range) fail libphonenumber validation.
        let p = Params::from_form(b"to=33757000000&from=447700900000&uuid=u").unwrap();
        let call = parse_answer(&p).unwrap();
        assert_eq!(call.from, Caller::NotDialable("…0000".into()));
        let p = Params::from_form(b"to=33757000000&from=%2B33+%3Cscript%3E&uuid=u").unwrap();
        assert_eq!(parse_answer(&p).unwrap_err().status_code(), 400);
        // Our own number must be valid.
        let p = Params::from_form(b"to=447700900000&from=33612345678&uuid=u").unwrap();
        assert!(matches!(
            parse_answer(&p),
            Err(VonageError::InvalidField { field: "to", .. })
        ));
    }

    #[test]
    fn dlr_states() {
        assert_eq!(delivery_state("delivered"), DeliveryState::Delivered);
        assert_eq!(delivery_state("buffered"), DeliveryState::Sent);
        assert_eq!(delivery_state("rejected"), DeliveryState::Undelivered);
        assert_eq!(delivery_state("something-new"), DeliveryState::Unknown);
    }

    #[test]
    fn dlr_err_codes_carry_their_meaning() {
        let dlr = |code: &str| {
            let body = format!(
                "msisdn=33612345678&to=33757000000&messageId=0C000000217B7F02&status=failed&err-code={code}"
            );
            parse_delivery_receipt(&Params::from_form(body.as_bytes()).unwrap(), None)
                .unwrap()
                .report
        };
        assert_eq!(dlr("9").failure, Some(DeliveryFailure::OptedOut));
        assert_eq!(dlr("3").failure, Some(DeliveryFailure::InvalidRecipient));
        assert_eq!(dlr("12").failure, Some(DeliveryFailure::InvalidRecipient));
        assert_eq!(dlr("6").failure, Some(DeliveryFailure::Other));
        assert_eq!(dlr("0").failure, None);
    }
}
