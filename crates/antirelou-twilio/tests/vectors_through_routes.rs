//! Every official `X-Twilio-Signature` vector of reference-providers.md §5.1, sent through the
//! real axum routes (not only the signature function): the voice webhook is served at the
//! vectors' path `/myapp.php`, the public base URL is the vector's scheme, host and port, and the
//! answer shows how far the request got (`200` handled, `400`/`415` signature accepted then
//! refused by the parser, `403` refused by the signature).
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use antirelou_core::event::{DeliveryReport, InboundCall, InboundSms};
use antirelou_core::handler::{InboundHandler, SmsOutcome};
use antirelou_core::voice::{VoiceHint, VoiceScript};
use antirelou_twilio::router::{RoutePaths, TwilioWebhookState, router_with_paths};
use antirelou_twilio::signature::SignatureValidator;
use antirelou_twilio::twiml::VoiceMap;
use antirelou_twilio::webhook::{WebhookConfig, decode_form};
use async_trait::async_trait;
use axum::body::Body;
use http::{Request, StatusCode};
use std::sync::Mutex;
use tower::ServiceExt;

const TOKEN: &str = "12345";
const PATH_Q: &str = "/myapp.php?foo=1&bar=2";
/// `P` of §5.1, form-encoded, deliberately not in sorted order.
const P_FORM: &str = "To=%2B18005551212&From=%2B14158675309&CallSid=CA1234567890ABCDE&Digits=1234&Caller=%2B14158675309";
const T1_SIG: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
const JSON_BODY: &str = r#"{"property": "value", "boolean": true}"#;
const JSON_BODY_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
const EMPTY_OBJECT_HASH: &str = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

#[derive(Default)]
struct Calls(Mutex<Vec<InboundCall>>);

#[async_trait]
impl InboundHandler for Calls {
    async fn handle_sms(&self, _: InboundSms) -> antirelou_core::Result<SmsOutcome> {
        Ok(SmsOutcome::Scheduled)
    }
    async fn handle_call(&self, call: InboundCall) -> antirelou_core::Result<VoiceScript> {
        self.0.lock().unwrap().push(call);
        Ok(VoiceScript::builder()
            .say("Leçon", "fr-FR", VoiceHint::Female)
            .hangup()
            .build())
    }
    async fn handle_delivery(&self, _: DeliveryReport) -> antirelou_core::Result<()> {
        Ok(())
    }
}

fn app(base: &str, calls: &Arc<Calls>) -> axum::Router {
    let paths = RoutePaths {
        voice: "/myapp.php".into(),
        ..RoutePaths::default()
    };
    router_with_paths(
        TwilioWebhookState {
            handler: calls.clone(),
            config: WebhookConfig::new(base, SignatureValidator::new(TOKEN)).unwrap(),
            voices: VoiceMap::default(),
        },
        &paths,
    )
    .unwrap()
}

async fn send(
    base: &str,
    path_and_query: &str,
    content_type: &str,
    body: &str,
    signature: &str,
) -> (StatusCode, String, usize) {
    let calls = Arc::new(Calls::default());
    let req = Request::post(path_and_query)
        .header("Host", "internal:8080")
        .header("Content-Type", content_type)
        .header("X-Twilio-Signature", signature)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let resp = app(base, &calls).oneshot(req).await.unwrap();
    let status = resp.status();
    let text = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let handled = calls.0.lock().unwrap().len();
    (status, String::from_utf8_lossy(&text).into_owned(), handled)
}

const FORM: &str = "application/x-www-form-urlencoded";

async fn voice(base: &str, signature: &str) -> (StatusCode, String, usize) {
    send(base, PATH_Q, FORM, P_FORM, signature).await
}

#[tokio::test]
async fn t1_to_t6_are_handled_calls() {
    for (name, base, sig) in [
        ("T1", "https://mycompany.com", T1_SIG),
        (
            "T2",
            "https://mycompany.com",
            "kvajT1Ptam85bY51eRf/AJRuM3w=",
        ),
        ("T3", "http://mycompany.com", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
        (
            "T4",
            "http://mycompany.com:1234",
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
        ),
        ("T5", "https://mycompany.com:1234", T1_SIG),
        (
            "T6",
            "https://mycompany.com:1234",
            "CYn1h0gLBdNxDGkKJg6hYohgeD8=",
        ),
    ] {
        let (status, body, handled) = voice(base, sig).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        assert!(body.contains("<Say"), "{name}: {body}");
        assert_eq!(handled, 1, "{name}");
    }
}

#[tokio::test]
async fn t7_repeated_parameters_pass_the_signature() {
    // T7's parameters are not a call: the signature is accepted, then the parser asks for the
    // call's parameters (400, not 403).
    let body = "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234";
    let (status, text, handled) = send(
        "https://mycompany.com",
        PATH_Q,
        FORM,
        body,
        "IK+Dwps556ElfBT0I3Rgjkr1wJU=",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert_eq!(text, "missing required parameter CallSid");
    assert_eq!(handled, 0);
}

#[tokio::test]
async fn t8_to_t10_json_bodies_pass_the_signature_and_body_hash() {
    // Voice webhooks are forms, so a verified JSON body ends in 415, after the signature and the
    // body hash were accepted (a failure of either is 403, below).
    let cases = [
        (
            "T8",
            format!("{PATH_Q}&bodySHA256={JSON_BODY_HASH}"),
            JSON_BODY,
            "a9nBmqA0ju/hNViExpshrM61xv4=",
        ),
        (
            "T9",
            format!("/myapp.php?bodySHA256={JSON_BODY_HASH}"),
            JSON_BODY,
            "y77kIzt2vzLz71DgmJGsen2scGs=",
        ),
        (
            "T10",
            format!("{PATH_Q}&bodySHA256={EMPTY_OBJECT_HASH}"),
            "{}",
            "Ldidvp12m26NI7eqEvxnEpkd9Hc=",
        ),
    ];
    for (name, pq, body, sig) in cases {
        let (status, text, _) =
            send("https://mycompany.com", &pq, "application/json", body, sig).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{name}: {text}");
        // The same request with another body: the body hash fails, 403.
        let (status, _, _) = send(
            "https://mycompany.com",
            &pq,
            "application/json",
            r#"{"property": "other"}"#,
            sig,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name} with another body");
    }
}

#[tokio::test]
async fn official_negative_vectors_are_403() {
    let base = "https://mycompany.com";
    let (status, _, handled) = voice(base, "NOTRSOYDt4T1cUTdK1PDd93/VVr8B8=").await;
    assert_eq!((status, handled), (StatusCode::FORBIDDEN, 0));
    // T1's URL with a JSON body and no bodySHA256.
    let (status, _, _) = send(base, PATH_Q, "application/json", JSON_BODY, T1_SIG).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // T1's URL plus a parameter added after signing.
    let (status, _, handled) = send(
        base,
        &format!("{PATH_Q}&somethingUnexpected=true"),
        FORM,
        P_FORM,
        T1_SIG,
    )
    .await;
    assert_eq!((status, handled), (StatusCode::FORBIDDEN, 0));
    // Another host, scheme or path.
    for other in [
        "https://mycompany.org",
        "http://mycompany.com:443",
        "https://mycompany.com/prefix",
    ] {
        let (status, _, _) = voice(other, T1_SIG).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{other}");
    }
}

fn sign(url: &str, form: &str) -> String {
    SignatureValidator::new(TOKEN).sign(url, &decode_form(form.as_bytes()))
}

#[tokio::test]
async fn the_configured_url_is_signed_as_written() {
    // Case, user information and port as configured (twilio-python signs the URL as written),
    // and the lower-cased host twilio-node's WHATWG parsing signs.
    for base in [
        "https://MyCompany.com",
        "HTTP://username:password@MyCompany.com",
        "https://MyCompany.com:8443",
    ] {
        for signed_base in [base.to_owned(), base.to_ascii_lowercase()] {
            let sig = sign(&format!("{signed_base}{PATH_Q}"), P_FORM);
            let (status, text, _) = voice(base, &sig).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{base} signed as {signed_base}: {text}"
            );
        }
    }
    // A path's case is not a spelling of the same URL.
    let sig = sign(
        &format!("https://MyCompany.com{}", PATH_Q.replace("myapp", "MyApp")),
        P_FORM,
    );
    assert_eq!(
        voice("https://MyCompany.com", &sig).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_quote_in_the_query_is_accepted_in_both_spellings() {
    // twilio-node's vectors (spec/unit/webhooks/webhooks.spec.js): a signature over `'` or over
    // `%27` validates a request whose query has either spelling.
    let base = "https://example.com";
    for signed in ["?test=param'WithQuote", "?test=param%27WithQuote"] {
        for received in ["?test=param'WithQuote", "?test=param%27WithQuote"] {
            let sig = sign(&format!("{base}/myapp.php{signed}"), P_FORM);
            let (status, text, _) =
                send(base, &format!("/myapp.php{received}"), FORM, P_FORM, &sig).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{signed} received as {received}: {text}"
            );
        }
    }
    // Other characters are not re-spelled: `%20` and a space are different URLs.
    let sig = sign(&format!("{base}/myapp.php?test=a b"), P_FORM);
    let (status, _, _) = send(base, "/myapp.php?test=a%20b", FORM, P_FORM, &sig).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[test]
fn bad_route_paths_are_config_errors() {
    let state = || TwilioWebhookState {
        handler: Arc::new(Calls::default()),
        config: WebhookConfig::new("https://h", SignatureValidator::new(TOKEN)).unwrap(),
        voices: VoiceMap::default(),
    };
    for paths in [
        RoutePaths {
            voice: "no-slash".into(),
            ..RoutePaths::default()
        },
        RoutePaths {
            voice: "/twilio/{x}".into(),
            ..RoutePaths::default()
        },
        RoutePaths {
            voice: "/twilio/sms".into(),
            ..RoutePaths::default()
        },
    ] {
        assert!(router_with_paths(state(), &paths).is_err(), "{paths:?}");
    }
}
