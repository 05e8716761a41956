//! The policy sees a keyed fingerprint of each inbound text's body (for copy-paste raids), and
//! a denial for a copy drops the text with its reason counted.
#![allow(clippy::unwrap_used)]

mod engine_support;

use std::sync::Arc;

use antirelou_core::policy::{AbusePolicy, Contact, Decision, Reason, TextFingerprint};
use antirelou_core::privacy::NumberHasher;
use antirelou_core::{InboundHandler, SmsOutcome};
use engine_support::*;
use parking_lot::Mutex;

/// Denies a text whose fingerprint it was told to deny; records every fingerprint it saw.
#[derive(Debug, Default)]
struct TextPolicy {
    seen: Mutex<Vec<Option<TextFingerprint>>>,
    deny: Mutex<Option<TextFingerprint>>,
}

impl AbusePolicy for TextPolicy {
    fn check(&self, _: &Contact) -> Decision {
        self.seen.lock().push(None);
        Decision::Allow
    }

    fn check_text(&self, _: &Contact, text: Option<TextFingerprint>) -> Decision {
        self.seen.lock().push(text);
        if text.is_some() && text == *self.deny.lock() {
            Decision::Deny(Reason::CopyPaste)
        } else {
            Decision::Allow
        }
    }
}

#[tokio::test]
async fn the_policy_sees_the_texts_keyed_fingerprint_and_can_deny_a_copy() {
    let policy = Arc::new(TextPolicy::default());
    let h = Setup {
        policy: Some(policy.clone()),
        ..Setup::default()
    }
    .build();
    // The harness's secret: the fingerprint is keyed with the numbers' key.
    let hasher = NumberHasher::new(b"test secret, sixteen bytes").unwrap();
    let body = "Coucou ma belle, le forum m'a donné ton numéro !";
    assert_eq!(
        h.engine.handle_sms(sms("SM1", &man(), body)).await.unwrap(),
        SmsOutcome::Scheduled
    );
    assert_eq!(
        *policy.seen.lock(),
        vec![Some(hasher.text_fingerprint(body))]
    );
    *policy.deny.lock() = Some(hasher.text_fingerprint(body));
    assert_eq!(
        h.engine
            .handle_sms(sms("SM2", &mobile(2), &body.to_uppercase()))
            .await
            .unwrap(),
        SmsOutcome::Dropped(Reason::CopyPaste)
    );
    let stats = h.engine.stats().await.unwrap();
    assert_eq!(stats.counter("drop.copy_paste"), 1);
    assert_eq!(stats.counter("lessons.scheduled"), 1);
}
