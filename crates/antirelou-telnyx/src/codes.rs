//! Telnyx messaging error codes, classified once for the sending path and for delivery events.
//!
//! Telnyx reports errors as `errors[]` objects (`code`, `title`, `detail`), both in the answer to
//! `POST /v2/messages` and in the `errors` of `message.sent`/`message.finalized` events. Every
//! code maps to one [`CodeClass`] (sources in `PROTOCOL.md`):
//!
//! | Code | Telnyx title | Class |
//! |---|---|---|
//! | `40300` | Blocked due to STOP message (HTTP 409) | [`CodeClass::OptedOut`] |
//! | `40001` | Not routable (landline or non-routable destination) | [`CodeClass::InvalidRecipient`] |
//! | `40012` | Invalid destination number | [`CodeClass::InvalidRecipient`] |
//! | `10002` | Invalid phone number | [`CodeClass::InvalidRecipient`] when its `source` points at `to` |
//! | `10016` | Phone number must be in +E.164 format | [`CodeClass::InvalidRecipient`] when its `source` points at `to` |
//! | `10007` | Unexpected error | [`CodeClass::Transient`] |
//! | `10008` | Request timeout | [`CodeClass::Transient`] |
//! | `10011` | Too many requests | [`CodeClass::Transient`] |
//! | `40006` | Recipient unavailable (carrier server down) | [`CodeClass::Transient`] |
//! | `40011` | Rate limit exceeded (upstream) | [`CodeClass::Transient`] |
//! | anything else (`10009` authentication failed, `40013` invalid source number, spam blocks…) | | [`CodeClass::Permanent`] |
//!
//! `40002` (blocked as spam, temporary) and `40004` (rejected by destination, "retry after
//! delay") are deliberately **permanent**: retrying a lesson into a spam filter is the flood
//! this project must not cause.

use antirelou_core::event::DeliveryFailure;
use antirelou_core::kit::params::json_field;
use antirelou_core::phone::mask_numbers;

/// What an error code means for the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodeClass {
    /// The recipient opted out (STOP): never retry, record the opt-out.
    OptedOut,
    /// The recipient cannot receive the message: never retry.
    InvalidRecipient,
    /// Retrying later may succeed.
    Transient,
    /// Retrying the same request would fail the same way.
    Permanent,
}

/// Classify a Telnyx error `code`. `source_pointer` is the error's `source.pointer` (e.g.
/// `/to`), when it has one: generic validation codes are about the recipient only when they
/// point at `to`.
///
/// ```
/// use antirelou_telnyx::codes::{classify, CodeClass};
/// assert_eq!(classify("40300", None), CodeClass::OptedOut);
/// assert_eq!(classify("40012", None), CodeClass::InvalidRecipient);
/// assert_eq!(classify("10002", Some("/to")), CodeClass::InvalidRecipient);
/// assert_eq!(classify("10002", Some("/from")), CodeClass::Permanent);
/// assert_eq!(classify("10011", None), CodeClass::Transient);
/// assert_eq!(classify("10009", None), CodeClass::Permanent);
/// ```
pub fn classify(code: &str, source_pointer: Option<&str>) -> CodeClass {
    let points_at_to = matches!(source_pointer.map(str::trim), Some("/to" | "to" | "/to/0"));
    match code.trim() {
        "40300" => CodeClass::OptedOut,
        "40001" | "40012" => CodeClass::InvalidRecipient,
        "10002" | "10016" if points_at_to => CodeClass::InvalidRecipient,
        "10007" | "10008" | "10011" | "40006" | "40011" => CodeClass::Transient,
        _ => CodeClass::Permanent,
    }
}

/// What a class means for a delivery event: [`CodeClass::OptedOut`] and
/// [`CodeClass::InvalidRecipient`] keep their meaning, the others are
/// [`DeliveryFailure::Other`].
///
/// ```
/// use antirelou_core::event::DeliveryFailure;
/// use antirelou_telnyx::codes::{classify, delivery_failure};
/// assert_eq!(delivery_failure(classify("40300", None)), DeliveryFailure::OptedOut);
/// assert_eq!(delivery_failure(classify("40001", None)), DeliveryFailure::InvalidRecipient);
/// assert_eq!(delivery_failure(classify("40002", None)), DeliveryFailure::Other);
/// ```
pub fn delivery_failure(class: CodeClass) -> DeliveryFailure {
    match class {
        CodeClass::OptedOut => DeliveryFailure::OptedOut,
        CodeClass::InvalidRecipient => DeliveryFailure::InvalidRecipient,
        CodeClass::Transient | CodeClass::Permanent => DeliveryFailure::Other,
    }
}

/// One entry of Telnyx's `errors[]`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TelnyxErrorEntry {
    /// `code`, as a string (Telnyx sends strings; numbers are accepted too).
    pub code: String,
    /// `title`, numbers masked.
    pub title: String,
    /// `detail`, numbers masked.
    pub detail: String,
    /// `source.pointer`, when present.
    pub pointer: Option<String>,
}

impl TelnyxErrorEntry {
    /// This entry's class.
    pub fn class(&self) -> CodeClass {
        classify(&self.code, self.pointer.as_deref())
    }

    /// `title: detail`, numbers masked, at most 200 characters.
    pub fn message(&self) -> String {
        let m = match (self.title.is_empty(), self.detail.is_empty()) {
            (false, false) => format!("{}: {}", self.title, self.detail),
            (false, true) => self.title.clone(),
            (true, false) => self.detail.clone(),
            (true, true) => format!("code {}", self.code),
        };
        m.chars().take(200).collect()
    }
}

/// Read an `errors` array (of a response body or an event payload). Entries without a code are
/// skipped; titles and details have their phone numbers masked by the kit's one rule
/// ([`antirelou_core::phone::mask_numbers`]).
pub fn parse_errors(errors: Option<&serde_json::Value>) -> Vec<TelnyxErrorEntry> {
    let Some(list) = errors.and_then(serde_json::Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let code: String = json_field(e, "code")?.chars().take(16).collect();
            Some(TelnyxErrorEntry {
                code,
                title: mask_numbers(&json_field(e, "title").unwrap_or_default()),
                detail: mask_numbers(&json_field(e, "detail").unwrap_or_default()),
                pointer: e
                    .get("source")
                    .and_then(|s| json_field(s, "pointer"))
                    .map(|p| p.chars().take(64).collect()),
            })
        })
        .take(16)
        .collect()
}

/// The most telling class among `errors`: an opt-out wins over an invalid recipient, which wins
/// over a permanent refusal, which wins over a transient one (a request refused for good must
/// not be retried because one of its errors alone would allow it).
pub fn worst(errors: &[TelnyxErrorEntry]) -> Option<&TelnyxErrorEntry> {
    let rank = |c: CodeClass| match c {
        CodeClass::OptedOut => 0,
        CodeClass::InvalidRecipient => 1,
        CodeClass::Permanent => 2,
        CodeClass::Transient => 3,
    };
    errors.iter().min_by_key(|e| rank(e.class()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn worst_prefers_final_meanings() {
        let body: serde_json::Value = serde_json::from_str(
            r#"[{"code":"10011","title":"Too many requests"},{"code":40300,"title":"Blocked due to STOP message","detail":"from '+18445550001' to '+18665550001'"}]"#,
        )
        .unwrap();
        let errors = parse_errors(Some(&body));
        assert_eq!(errors.len(), 2);
        let w = worst(&errors).unwrap();
        assert_eq!(w.class(), CodeClass::OptedOut);
        assert!(!w.message().contains("5550001"), "{}", w.message());
    }
}
