//! A policy defined outside `antirelou-abuse` reports its own drop reason: the engine counts it
//! as `drop.<label>` next to the built-in reasons, and the contact gets no lesson.
#![allow(clippy::unwrap_used)]

mod engine_support;

use std::sync::Arc;

use antirelou_core::policy::{AbusePolicy, Contact, Decision, PolicyReason, Reason};
use antirelou_core::{InboundHandler, SmsOutcome, policy_reason};
use engine_support::*;

/// A community policy: no lessons to senders whose key is even (a stand-in for any rule).
#[derive(Debug)]
struct EvenSendersRest;

const EVEN_SENDERS: PolicyReason = policy_reason!("even_senders_rest");

impl AbusePolicy for EvenSendersRest {
    fn check(&self, contact: &Contact) -> Decision {
        if contact.sender_key.is_multiple_of(2) {
            Decision::Deny(Reason::Policy(EVEN_SENDERS))
        } else {
            Decision::Allow
        }
    }
}

#[tokio::test]
async fn a_policy_outside_the_abuse_crate_counts_its_own_drop_reason() {
    let h = Setup {
        policy: Some(Arc::new(EvenSendersRest)),
        ..Setup::default()
    }
    .build();
    let (mut even, mut odd) = (None, None);
    for i in 0..10 {
        let n = mobile(i);
        if n.key().is_multiple_of(2) {
            even.get_or_insert(n);
        } else {
            odd.get_or_insert(n);
        }
    }
    let (even, odd) = (even.unwrap(), odd.unwrap());
    let outcome = h
        .engine
        .handle_sms(sms("SM-even", &even, "salut"))
        .await
        .unwrap();
    assert_eq!(outcome, SmsOutcome::Dropped(Reason::Policy(EVEN_SENDERS)));
    let outcome = h
        .engine
        .handle_sms(sms("SM-odd", &odd, "salut"))
        .await
        .unwrap();
    assert_eq!(outcome, SmsOutcome::Scheduled);

    let stats = h.engine.stats().await.unwrap();
    assert_eq!(stats.counter("drop.even_senders_rest"), 1);
    assert!(stats.counters.keys().any(|k| k == "drop.even_senders_rest"));
    h.clock.advance(HOUR);
    assert_eq!(h.dispatcher.tick().await.unwrap().sent, 1);
    assert_eq!(h.stub.sent()[0].to, odd);
}
