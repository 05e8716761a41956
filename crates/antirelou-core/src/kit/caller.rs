//! The sender or caller field of a webhook as the engine's [`Caller`], one rule for every
//! adapter: what [`Caller::parse`] accepts (a valid number, a short code, a sender ID, a
//! withheld marker); else 1 to 20 digits (with or without `+`) that libphonenumber's metadata
//! does not validate (a range newer than the metadata, a fictional number) become
//! [`Caller::NotDialable`], masked: the man still hears the lesson, but nothing is ever sent to
//! a number we cannot validate. Anything else is `None`: the adapter refuses the webhook (`400`).
//!
//! ```
//! use antirelou_core::Caller;
//! use antirelou_core::kit::webhook_caller;
//! assert!(matches!(webhook_caller("+32470123456"), Some(Caller::Number(_))));
//! assert!(matches!(webhook_caller("+999123"), Some(Caller::NotDialable(_))));
//! assert_eq!(webhook_caller("<script>"), None);
//! ```

use crate::phone::{Caller, mask_digits};

/// `raw` as a [`Caller`], or `None` when it is not one (see the module docs).
pub fn webhook_caller(raw: &str) -> Option<Caller> {
    let raw = raw.trim();
    Caller::parse(raw).ok().or_else(|| {
        let digits = raw.strip_prefix('+').unwrap_or(raw);
        ((1..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Caller::NotDialable(mask_digits(digits)))
    })
}
