//! Parsing Telnyx messaging events and TeXML call requests into the core's events.
//!
//! Messaging webhooks are JSON: `{"data": {"event_type", "id", "occurred_at", "payload": {…}},
//! "meta": {…}}`. The adapter reads three event types:
//!
//! * `message.received`: an inbound text. [`InboundSms::message_id`] is `payload.id`, Telnyx's
//!   id of the message, which a retried webhook repeats (the event's own `data.id` is not used:
//!   the message's id is what the engine's idempotency must key on);
//! * `message.sent` and `message.finalized`: the state of a message we sent, keyed by
//!   `payload.id` (the id [`crate::TelnyxTransport`] returned), with `to[0].status`, `errors[]` and
//!   `cost {amount, currency}`.
//!
//! Any other event type is acknowledged and ignored ([`TelnyxEvent::Ignored`]).
//!
//! TeXML call requests are forms (`CallSid`, `From`, `To`, …) read by [`parse_call`].

use antirelou_core::event::{DeliveryReport, DeliveryState, InboundCall, InboundSms};
use antirelou_core::kit::{Params, webhook_caller};
use antirelou_core::{Caller, Currency, Money, PhoneNumber, Price, Timestamp};
use serde_json::Value;

use crate::PROVIDER;
use crate::codes::{self, CodeClass, TelnyxErrorEntry};
use crate::error::TelnyxError;

/// The largest webhook body accepted (Telnyx's messaging events are a few KiB).
pub const MAX_BODY: usize = 64 * 1024;

/// The longest message or call id accepted.
const MAX_ID: usize = 128;

/// Read a `cost` object (`{"amount": "0.0051", "currency": "USD"}`) as a [`Price`] in its
/// currency (the engine converts it to the ledger's); `null` or absent is `None`.
pub fn parse_cost(v: Option<&Value>) -> Result<Option<Price>, TelnyxError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let amount = match v.get("amount") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => Money::parse_decimal(s.trim()),
        Some(Value::Number(n)) => Money::parse_decimal(&n.to_string()),
        Some(_) => None,
    }
    .ok_or_else(|| TelnyxError::invalid("cost.amount", "not a decimal"))?;
    let currency = v
        .get("currency")
        .and_then(Value::as_str)
        .and_then(|c| Currency::parse(c).ok())
        .ok_or_else(|| TelnyxError::invalid("cost.currency", "not a 3-letter currency code"))?;
    Ok(Some(Price::new(amount, currency)))
}

/// A delivery event as parsed: the core report plus what only Telnyx says.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParsedDelivery {
    /// The report for the engine; its `price` is `cost`, in the currency Telnyx billed it in.
    pub report: DeliveryReport,
    /// `event_type`: `message.sent` or `message.finalized`.
    pub event_type: String,
    /// `to[0].status` as sent.
    pub status: String,
    /// `errors[]`.
    pub errors: Vec<TelnyxErrorEntry>,
    /// The meaning of the most telling error, when there is one.
    pub failure: Option<CodeClass>,
}

/// A parsed messaging webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TelnyxEvent {
    /// `message.received`.
    Inbound(InboundSms),
    /// `message.sent` or `message.finalized`.
    Delivery(ParsedDelivery),
    /// Any other event type, acknowledged and ignored.
    Ignored(String),
}

/// Map a recipient `status` to the core's delivery state.
///
/// ```
/// use antirelou_core::event::DeliveryState;
/// use antirelou_telnyx::webhook::delivery_state;
/// assert_eq!(delivery_state("delivered"), DeliveryState::Delivered);
/// assert_eq!(delivery_state("delivery_failed"), DeliveryState::Undelivered);
/// assert_eq!(delivery_state("sending_failed"), DeliveryState::Failed);
/// assert_eq!(delivery_state("new-status"), DeliveryState::Unknown);
/// ```
pub fn delivery_state(status: &str) -> DeliveryState {
    match status.trim().to_ascii_lowercase().as_str() {
        "scheduled" | "queued" | "sending" => DeliveryState::Accepted,
        "sent" | "delivery_unconfirmed" => DeliveryState::Sent,
        "delivered" => DeliveryState::Delivered,
        "delivery_failed" => DeliveryState::Undelivered,
        "sending_failed" | "cancelled" => DeliveryState::Failed,
        "expired" => DeliveryState::Expired,
        _ => DeliveryState::Unknown,
    }
}

fn text<'v>(v: &'v Value, key: &'static str) -> Option<&'v str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn id(payload: &Value) -> Result<String, TelnyxError> {
    let id = text(payload, "id").ok_or(TelnyxError::MissingField("data.payload.id"))?;
    if id.len() > MAX_ID {
        return Err(TelnyxError::invalid(
            "data.payload.id",
            "longer than 128 characters",
        ));
    }
    Ok(id.to_owned())
}

/// The first recipient object of `to` (an array of `{phone_number, status}`).
fn first_recipient(payload: &Value) -> Option<&Value> {
    match payload.get("to")? {
        Value::Array(list) => list.first(),
        other => Some(other),
    }
}

/// Classify a sender by the kit's one rule ([`webhook_caller`]): digits that libphonenumber
/// does not validate are not dialable, anything else that is not a number is refused.
fn caller(raw: &str, field: &'static str) -> Result<Caller, TelnyxError> {
    webhook_caller(raw)
        .ok_or_else(|| TelnyxError::invalid(field, "not a phone number, short code or sender ID"))
}

fn our_number(raw: Option<&str>, field: &'static str) -> Result<PhoneNumber, TelnyxError> {
    PhoneNumber::parse(raw.ok_or(TelnyxError::MissingField(field))?)
        .map_err(|_| TelnyxError::invalid(field, "not a valid phone number"))
}

fn parse_time(s: Option<&str>) -> Option<Timestamp> {
    let dt = chrono::DateTime::parse_from_rfc3339(s?).ok()?;
    Some(Timestamp::from_millis(dt.timestamp_millis()))
}

/// Parse a messaging webhook body.
pub fn parse_event(body: &[u8]) -> Result<TelnyxEvent, TelnyxError> {
    if body.len() > MAX_BODY {
        return Err(TelnyxError::BadRequest("body too long".into()));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| TelnyxError::BadRequest("body is not valid JSON".into()))?;
    let data = v.get("data").ok_or(TelnyxError::MissingField("data"))?;
    let event_type =
        text(data, "event_type").ok_or(TelnyxError::MissingField("data.event_type"))?;
    let payload = data.get("payload").filter(|p| p.is_object());
    match event_type {
        "message.received" => {
            let payload = payload.ok_or(TelnyxError::MissingField("data.payload"))?;
            parse_inbound(payload).map(TelnyxEvent::Inbound)
        }
        "message.sent" | "message.finalized" => {
            let payload = payload.ok_or(TelnyxError::MissingField("data.payload"))?;
            parse_delivery(event_type, payload).map(TelnyxEvent::Delivery)
        }
        other => Ok(TelnyxEvent::Ignored(other.chars().take(64).collect())),
    }
}

fn parse_inbound(payload: &Value) -> Result<InboundSms, TelnyxError> {
    let message_id = id(payload)?;
    let from_raw = payload
        .get("from")
        .and_then(|f| text(f, "phone_number"))
        .ok_or(TelnyxError::MissingField("data.payload.from.phone_number"))?;
    let from = caller(from_raw, "data.payload.from.phone_number")?;
    let to = our_number(
        first_recipient(payload).and_then(|t| text(t, "phone_number")),
        "data.payload.to[0].phone_number",
    )?;
    let body = payload
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    Ok(InboundSms {
        provider: PROVIDER,
        message_id,
        from,
        to,
        body,
        received_at: parse_time(text(payload, "received_at")),
    })
}

fn parse_delivery(event_type: &str, payload: &Value) -> Result<ParsedDelivery, TelnyxError> {
    let message_id = id(payload)?;
    let status: String = first_recipient(payload)
        .and_then(|t| text(t, "status"))
        .unwrap_or("unknown")
        .chars()
        .take(32)
        .collect();
    let price = parse_cost(payload.get("cost"))?;
    let errors = codes::parse_errors(payload.get("errors"));
    let worst = codes::worst(&errors);
    Ok(ParsedDelivery {
        report: DeliveryReport {
            provider: PROVIDER,
            message_id,
            state: delivery_state(&status),
            price,
            error_code: worst.map(|e| e.code.clone()),
            failure: worst.map(|e| codes::delivery_failure(e.class())),
        },
        event_type: event_type.to_owned(),
        status,
        failure: worst.map(TelnyxErrorEntry::class),
        errors,
    })
}

/// Parse a TeXML call request (a form: `CallSid`, `From`, `To`; `From` may be a SIP URI or
/// withheld).
///
/// ```
/// use antirelou_telnyx::webhook::parse_call;
/// let call = parse_call(b"CallSid=v3%3Aabc&From=%2B32470123456&To=%2B33612345678&CallStatus=ringing").unwrap();
/// assert_eq!(call.call_id, "v3:abc");
/// assert_eq!(call.to.e164(), "+33612345678");
/// ```
pub fn parse_call(form: &[u8]) -> Result<InboundCall, TelnyxError> {
    if form.len() > MAX_BODY {
        return Err(TelnyxError::BadRequest("body too long".into()));
    }
    let p = Params::from_form(form)?;
    let call_id = p.required("CallSid")?;
    if call_id.len() > MAX_ID {
        return Err(TelnyxError::invalid(
            "CallSid",
            "longer than 128 characters",
        ));
    }
    Ok(InboundCall {
        provider: PROVIDER,
        call_id: call_id.to_owned(),
        from: caller(p.get("From").unwrap_or(""), "From")?,
        to: our_number(p.optional("To"), "To")?,
    })
}
