//! What the abuse policies' integration tests share.
#![allow(dead_code)]

use antirelou_core::event::Channel;
use antirelou_core::phone::Region;
use antirelou_core::policy::Contact;
use antirelou_core::{NumberKind, Timestamp};

/// A text from the French mobile `sender_key` to our French number `number_key` at `at_ms`.
pub(crate) fn french_text(sender_key: u64, number_key: u64, at_ms: i64) -> Contact {
    let fr = Region::new("FR").ok();
    Contact {
        sender_key,
        sender_calling_code: 33,
        sender_region: fr,
        sender_kind: NumberKind::Mobile,
        number_key,
        number_region: fr,
        channel: Channel::Sms,
        at: Timestamp::from_millis(at_ms),
    }
}
