//! The transport suite: a fixed list of provider answers, each sent through the adapter's
//! [`SmsTransport`] against the fake provider, and the adapter's classification judged.

use std::time::{Duration, SystemTime};

use http::Method;

use super::digits;
use crate::conformance::sample_sms;
use crate::currency::{Currency, Price};
use crate::error::Error;
use crate::kit::fake_provider::{Canned, FakeProvider, Recorded};
use crate::money::Money;
use crate::transport::{OutboundSms, SendReceipt, SmsTransport};

/// A provider answer the suite asks the harness to spell in its provider's wire format.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scenario {
    /// The message is accepted with this id, and the provider reports this price.
    Accepted {
        /// The provider's message id.
        id: String,
        /// The price (positive: money spent) and its currency, which the harness spells as its
        /// provider does (or, for a provider that names no currency, configures its transport
        /// to bill in).
        price: Price,
    },
    /// A `2xx` that carries no message id.
    AcceptedWithoutId,
    /// The provider's rate-limit answer (HTTP 429); the suite adds the `Retry-After` header.
    RateLimited,
    /// A server error (HTTP 5xx).
    ServerError,
    /// The recipient opted out at the provider. `message` is the provider's text.
    OptedOut {
        /// The provider's text, which quotes the recipient's number.
        message: String,
    },
    /// The recipient cannot receive SMS.
    InvalidRecipient {
        /// The provider's text, which quotes the recipient's number.
        message: String,
    },
    /// A refusal for good that is about neither the recipient nor the rate (bad credentials,
    /// account suspended…).
    Permanent {
        /// The provider's text, which quotes the recipient's number.
        message: String,
    },
}

/// How the provider authenticates a send; the suite checks every recorded request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExpectedAuth {
    /// `Authorization: Basic` with this user and password.
    Basic {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
    /// `Authorization: Bearer` with this token.
    Bearer(String),
    /// These fields in the form or JSON body.
    Fields(Vec<(String, String)>),
}

/// What the transport suite needs to know of an adapter.
pub trait TransportHarness: Send + Sync {
    /// The adapter's sender.
    type Transport: SmsTransport;

    /// Build the sender against `api_base` (`http://127.0.0.1:PORT`, no trailing `/`), with
    /// this whole-request timeout, sending from the message's own number.
    fn transport(&self, api_base: &str, timeout: Duration) -> Self::Transport;

    /// The method and path a send goes to.
    fn send_route(&self) -> (Method, String);

    /// The provider's answer in `scenario`. `None` is allowed only for [`Scenario::OptedOut`],
    /// for a provider whose send API has no such answer (say why in the adapter's docs).
    fn answer(&self, scenario: &Scenario) -> Option<Canned>;

    /// How the sender must authenticate.
    fn auth(&self) -> ExpectedAuth;

    /// The secrets the sender holds: none may appear in its `Debug` or in any error.
    fn secrets(&self) -> Vec<String>;
}

const SUITE: &str = "kit::conformance::transport";
const TEXT: &str = "Conformance : ça va ? & <ok> 100 %";
const TIMEOUT: Duration = Duration::from_millis(400);

struct Run<'h, H: TransportHarness> {
    harness: &'h H,
    fake: FakeProvider,
    sms: OutboundSms,
    errors: Vec<(String, String)>,
}

impl<H: TransportHarness> Run<'_, H> {
    async fn send(&mut self, scenario: &str, answer: Option<Canned>) -> Result<SendReceipt, Error> {
        self.fake.reset();
        let (method, path) = self.harness.send_route();
        if let Some(a) = answer {
            self.fake.on(method.clone(), &path, a);
        }
        let sender = self.harness.transport(&self.fake.base_url(), TIMEOUT);
        let result = sender.send(&self.sms).await;
        let requests = self.fake.requests();
        if requests.is_empty() {
            panic!("{SUITE}: {scenario}: the sender sent no request to the fake provider");
        }
        for r in &requests {
            self.check_request(scenario, &method, &path, r);
        }
        if let Err(e) = &result {
            self.errors
                .push((scenario.to_owned(), format!("{e} / {e:?}")));
        }
        result
    }

    fn check_request(&self, scenario: &str, method: &Method, path: &str, r: &Recorded) {
        assert!(
            r.method == *method && r.path == path,
            "{SUITE}: {scenario}: the sender called {} {}, not {method} {path}",
            r.method,
            r.path
        );
        let fields = r.fields();
        let has = |pred: &dyn Fn(&str) -> bool| fields.iter().any(|(_, v)| pred(v));
        assert!(
            has(&|v| v == TEXT),
            "{SUITE}: {scenario}: no field carries the text exactly: {fields:?}"
        );
        for (who, n) in [("recipient", self.sms.to()), ("sender", self.sms.from())] {
            let want = digits(n.e164());
            assert!(
                has(&|v| digits(v) == want && v.len() <= want.len() + 1),
                "{SUITE}: {scenario}: no field carries the {who}'s number"
            );
        }
        match self.harness.auth() {
            ExpectedAuth::Basic { user, password } => assert_eq!(
                r.basic_auth(),
                Some((user, password)),
                "{SUITE}: {scenario}: wrong or missing Basic authentication"
            ),
            ExpectedAuth::Bearer(token) => assert_eq!(
                r.bearer(),
                Some(token.as_str()),
                "{SUITE}: {scenario}: wrong or missing Bearer token"
            ),
            ExpectedAuth::Fields(want) => {
                for (k, v) in want {
                    assert_eq!(
                        r.field(&k).as_deref(),
                        Some(v.as_str()),
                        "{SUITE}: {scenario}: authentication field {k} missing or wrong"
                    );
                }
            }
        }
    }

    fn answer(&self, scenario: &Scenario) -> Canned {
        self.harness.answer(scenario).unwrap_or_else(|| {
            panic!("{SUITE}: the harness has no answer for {scenario:?}: every provider has one")
        })
    }
}

fn expect_transient(scenario: &str, r: Result<SendReceipt, Error>) -> Error {
    match r {
        Err(e) if e.is_transient() && matches!(e, Error::Transient { .. }) => e,
        other => panic!("{SUITE}: {scenario}: expected Error::Transient, got {other:?}"),
    }
}

/// Run every sender scenario against the adapter described by `harness`:
///
/// 1. accepted with an id and a price: the receipt carries both;
/// 2. a `2xx` without a message id: [`Error::Transient`] (outcome unknown, see
///    [`SmsTransport`]'s contract);
/// 3. HTTP 429 with `Retry-After: 7`: transient, `retry_after` = 7 s; with `Retry-After` as an
///    HTTP-date one hour ahead: transient, about one hour;
/// 4. a server error: transient;
/// 5. no answer within the timeout, and a connection refused: transient;
/// 6. opted out: [`Error::RecipientOptedOut`] (when the provider has such an answer);
/// 7. invalid recipient: [`Error::InvalidRecipient`];
/// 8. a permanent refusal: [`Error::Permanent`];
/// 9. every request: the route, the authentication, the text exactly and both numbers in a
///    field; the sender's `Debug` and every error's `Display` and `Debug` carry no secret and
///    not the recipient's number.
///
/// # Panics
/// On the first broken rule, naming it.
pub async fn run_transport_suite<H: TransportHarness>(harness: &H) {
    let sms = sample_sms(TEXT, "reply-7-attempt-1");
    let recipient = digits(sms.to().e164());
    let mut run = Run {
        harness,
        fake: FakeProvider::start().await,
        sms,
        errors: Vec::new(),
    };
    let quoting = format!(
        "The 'To' number {} cannot receive this message",
        run.sms.to().e164()
    );

    let price = Price::new(Money::from_micros(76_200), Currency::USD);
    let answer = run.answer(&Scenario::Accepted {
        id: "conf-msg-1".into(),
        price,
    });
    match run.send("accepted", Some(answer)).await {
        Ok(r) => {
            assert_eq!(
                r.provider_id, "conf-msg-1",
                "{SUITE}: accepted: wrong provider id"
            );
            assert_eq!(r.price, Some(price), "{SUITE}: accepted: wrong price");
            assert!(r.segments >= 1, "{SUITE}: accepted: zero segments");
        }
        Err(e) => panic!("{SUITE}: accepted: the send failed: {e:?}"),
    }

    let answer = run.answer(&Scenario::AcceptedWithoutId);
    expect_transient(
        "2xx without id",
        run.send("2xx without id", Some(answer)).await,
    );

    let answer = run
        .answer(&Scenario::RateLimited)
        .with_header("Retry-After", "7");
    let e = expect_transient(
        "429 Retry-After: 7",
        run.send("429 Retry-After: 7", Some(answer)).await,
    );
    assert_eq!(
        e.retry_after(),
        Some(Duration::from_secs(7)),
        "{SUITE}: 429: Retry-After: 7 not honoured"
    );

    let in_an_hour =
        chrono::DateTime::<chrono::Utc>::from(SystemTime::now() + Duration::from_secs(3600))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
    let answer = run
        .answer(&Scenario::RateLimited)
        .with_header("Retry-After", &in_an_hour);
    let e = expect_transient(
        "429 Retry-After: date",
        run.send("429 Retry-After: date", Some(answer)).await,
    );
    let got = e.retry_after().unwrap_or_default();
    assert!(
        (Duration::from_secs(3300)..=Duration::from_secs(3601)).contains(&got),
        "{SUITE}: 429: Retry-After as an HTTP-date one hour ahead gave {got:?}"
    );

    let answer = run.answer(&Scenario::ServerError);
    expect_transient("5xx", run.send("5xx", Some(answer)).await);

    let slow = run
        .answer(&Scenario::Accepted {
            id: "late".into(),
            price,
        })
        .delayed(Duration::from_secs(30));
    expect_transient("timeout", run.send("timeout", Some(slow)).await);

    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{SUITE}: bind: {e}"));
        let port = l
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{SUITE}: {e}"));
        drop(l);
        format!("http://127.0.0.1:{port}")
    };
    let r = harness.transport(&closed, TIMEOUT).send(&run.sms).await;
    if let Err(e) = &r {
        run.errors
            .push(("connection refused".into(), format!("{e} / {e:?}")));
    }
    expect_transient("connection refused", r);

    if let Some(answer) = harness.answer(&Scenario::OptedOut {
        message: quoting.clone(),
    }) {
        match run.send("opted out", Some(answer)).await {
            Err(Error::RecipientOptedOut) => {}
            other => panic!("{SUITE}: opted out: expected Error::RecipientOptedOut, got {other:?}"),
        }
    }

    let answer = run.answer(&Scenario::InvalidRecipient {
        message: quoting.clone(),
    });
    match run.send("invalid recipient", Some(answer)).await {
        Err(Error::InvalidRecipient { .. }) => {}
        other => {
            panic!("{SUITE}: invalid recipient: expected Error::InvalidRecipient, got {other:?}")
        }
    }

    let answer = run.answer(&Scenario::Permanent { message: quoting });
    match run.send("permanent", Some(answer)).await {
        Err(Error::Permanent { .. }) => {}
        other => panic!("{SUITE}: permanent: expected Error::Permanent, got {other:?}"),
    }

    let debug = format!("{:?}", harness.transport(&run.fake.base_url(), TIMEOUT));
    let national = &recipient[recipient.len().saturating_sub(9)..];
    for secret in harness.secrets() {
        assert!(
            !secret.is_empty(),
            "{SUITE}: the harness lists an empty secret"
        );
        assert!(
            !debug.contains(&secret),
            "{SUITE}: the sender's Debug shows a secret: {debug}"
        );
        for (scenario, text) in &run.errors {
            assert!(
                !text.contains(&secret),
                "{SUITE}: {scenario}: the error shows a secret: {text}"
            );
        }
    }
    for (scenario, text) in &run.errors {
        assert!(
            !digits(text).contains(national),
            "{SUITE}: {scenario}: the error shows the recipient's number unmasked: {text}"
        );
    }
}
