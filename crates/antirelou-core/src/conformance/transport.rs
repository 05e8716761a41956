//! The [`SmsTransport`] checks.

use super::*;

/// The error a sender is expected to return, for [`transport_classifies`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedError {
    /// [`Error::Transient`] with exactly this `retry_after`.
    Transient {
        /// The expected delay (`None`: the provider gave none).
        retry_after: Option<Duration>,
    },
    /// [`Error::Transient`], whatever its `retry_after`.
    TransientAnyDelay,
    /// [`Error::Permanent`].
    Permanent,
    /// [`Error::RecipientOptedOut`].
    OptedOut,
    /// [`Error::InvalidRecipient`].
    InvalidRecipient,
}

/// A message for sender tests: from `+33757000000` to `+33612345678`, with this body.
pub fn sample_sms(body: &str, client_ref: &str) -> OutboundSms {
    OutboundSms::for_test(
        parse("+33757000000"),
        parse("+33612345678"),
        body,
        client_ref,
    )
}

/// The sender must accept `sms` (the fake provider was told to accept it): the receipt has a
/// non-blank provider id, at least one segment, and a non-negative price if any. Returns the
/// receipt for further checks.
pub async fn transport_accepts<S: SmsTransport + ?Sized>(
    sender: &S,
    sms: &OutboundSms,
) -> SendReceipt {
    let receipt = match sender.send(sms).await {
        Ok(r) => r,
        Err(e) => panic!("conformance::transport_accepts: the send failed: {e} ({e:?})"),
    };
    assert!(
        !receipt.provider_id.trim().is_empty(),
        "conformance::transport_accepts: the receipt has no provider id"
    );
    assert!(
        receipt.segments >= 1,
        "conformance::transport_accepts: the receipt counts {} segments",
        receipt.segments
    );
    if let Some(price) = receipt.price {
        assert!(
            price.amount >= Money::ZERO,
            "conformance::transport_accepts: the price must be money spent (>= 0), got {price}"
        );
    }
    receipt
}

/// The sender must fail on `sms` with the `expected` kind of error (the fake provider was told
/// to answer accordingly), and `is_transient()` must agree. Returns the error for further checks.
pub async fn transport_classifies<S: SmsTransport + ?Sized>(
    sender: &S,
    sms: &OutboundSms,
    expected: ExpectedError,
) -> Error {
    let err = match sender.send(sms).await {
        Ok(r) => panic!(
            "conformance::transport_classifies: expected {expected:?}, but the send succeeded: {r:?}"
        ),
        Err(e) => e,
    };
    let ok = match (&err, expected) {
        (Error::Transient { retry_after, .. }, ExpectedError::Transient { retry_after: want }) => {
            *retry_after == want
        }
        (Error::Transient { .. }, ExpectedError::TransientAnyDelay) => true,
        (Error::Permanent { .. }, ExpectedError::Permanent) => true,
        (Error::RecipientOptedOut, ExpectedError::OptedOut) => true,
        (Error::InvalidRecipient { .. }, ExpectedError::InvalidRecipient) => true,
        _ => false,
    };
    assert!(
        ok,
        "conformance::transport_classifies: expected {expected:?}, got {err:?}"
    );
    let transient = matches!(
        expected,
        ExpectedError::Transient { .. } | ExpectedError::TransientAnyDelay
    );
    assert_eq!(
        err.is_transient(),
        transient,
        "conformance::transport_classifies: is_transient() disagrees with {expected:?} for {err:?}"
    );
    err
}

/// The sender must accept every message of `messages` sent concurrently (its `send` is called
/// from many tasks at once). Returns the receipts in order.
pub async fn transport_sends_concurrently<S: SmsTransport + ?Sized>(
    sender: &S,
    messages: &[OutboundSms],
) -> Vec<SendReceipt> {
    let results = join_all(messages.iter().map(|m| sender.send(m)).collect()).await;
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| match r {
            Ok(receipt) => {
                assert!(
                    !receipt.provider_id.trim().is_empty(),
                    "conformance::transport_sends_concurrently: receipt {i} has no provider id"
                );
                receipt
            }
            Err(e) => panic!(
                "conformance::transport_sends_concurrently: concurrent send {i} failed: {e} ({e:?})"
            ),
        })
        .collect()
}
