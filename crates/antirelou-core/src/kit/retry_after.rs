//! `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an HTTP-date.
//!
//! Parsing keeps the provider's value; it does not clamp it. The dispatcher clamps the delay
//! once, for every adapter ([`crate::engine::MAX_RETRY_AFTER`]).
//!
//! ```
//! use std::time::Duration;
//! use antirelou_core::Timestamp;
//! use antirelou_core::kit::parse_retry_after;
//! let now = Timestamp::from_secs(1_445_412_470); // 2015-10-21 07:27:50 UTC
//! assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
//! assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(10)));
//! assert_eq!(parse_retry_after("soon", now), None);
//! ```

use std::time::Duration;

use chrono::{NaiveDateTime, TimeZone, Utc};
use http::HeaderMap;

use crate::clock::Timestamp;

/// Parse a `Retry-After` value at `now`: delta-seconds, or an HTTP-date in any of the three
/// forms HTTP allows (IMF-fixdate, RFC 850, asctime). A date in the past is zero; anything
/// else is `None`.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still "a very long time".
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = http_date(v)?;
    Some(Timestamp::from_millis(at.timestamp_millis()).since(now))
}

/// The `Retry-After` of a response's headers ([`parse_retry_after`]).
pub fn retry_after_header(headers: &HeaderMap, now: Timestamp) -> Option<Duration> {
    let v = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(v, now)
}

fn http_date(v: &str) -> Option<chrono::DateTime<Utc>> {
    if let Ok(d) = chrono::DateTime::parse_from_rfc2822(v) {
        return Some(d.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(v, f).ok())
        .map(|n| Utc.from_utc_datetime(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_secs(784_111_717); // Sun, 06 Nov 1994 08:48:37 GMT

    #[test]
    fn the_three_date_forms_and_seconds() {
        for v in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            " 60 ",
        ] {
            assert_eq!(
                parse_retry_after(v, NOW),
                Some(Duration::from_secs(60)),
                "{v:?}"
            );
        }
    }

    #[test]
    fn past_dates_are_zero_and_garbage_is_none() {
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", NOW),
            Some(Duration::ZERO)
        );
        for v in ["", "-5", "1.5", "tomorrow", "99999999999999999999x"] {
            assert_eq!(parse_retry_after(v, NOW), None, "{v:?}");
        }
        assert_eq!(
            parse_retry_after("99999999999999999999", NOW),
            Some(Duration::from_secs(u64::MAX))
        );
    }
}
