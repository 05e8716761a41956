//! A policy defined outside this crate, in a [`PolicyChain`], has its denials counted in the
//! chain's own slot for policy reasons, apart from every built-in reason.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use antirelou_abuse::PolicyChain;
use antirelou_core::event::Channel;
use antirelou_core::policy::{AbusePolicy, AllowAll, Contact, Decision, PolicyReason, Reason};
use antirelou_core::{NumberKind, Timestamp, policy_reason};

const NIGHT: PolicyReason = policy_reason!("night_rest");

/// Denies every contact in the first hour of the clock (a stand-in for any community rule).
#[derive(Debug)]
struct NightRest;

impl AbusePolicy for NightRest {
    fn check(&self, c: &Contact) -> Decision {
        if c.at.as_millis() < 3_600_000 {
            Decision::Deny(Reason::Policy(NIGHT))
        } else {
            Decision::Allow
        }
    }
}

fn contact(at_secs: i64) -> Contact {
    Contact {
        sender_key: 33_612_345_678,
        sender_calling_code: 33,
        sender_region: None,
        sender_kind: NumberKind::Mobile,
        number_key: 1,
        number_region: None,
        channel: Channel::Sms,
        at: Timestamp::from_secs(at_secs),
    }
}

#[test]
fn a_community_policy_is_counted_apart_from_the_built_in_reasons() {
    let chain = PolicyChain::new()
        .then(Arc::new(AllowAll))
        .then(Arc::new(NightRest));
    assert_eq!(
        chain.check(&contact(10)),
        Decision::Deny(Reason::Policy(NIGHT))
    );
    assert_eq!(
        chain.check(&contact(20)),
        Decision::Deny(Reason::Policy(NIGHT))
    );
    assert!(chain.check(&contact(7_200)).is_allow());

    assert_eq!(chain.policy_denials(), 2);
    assert_eq!(chain.count(Reason::Policy(NIGHT)), 2);
    assert_eq!(chain.allowed(), 1);
    assert!(
        chain.counts().all(|(_, n)| n == 0),
        "a policy reason leaked into a built-in reason's count"
    );
}
