//! The axum router: signed requests in, events to a recording handler, TwiML out.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};

use antirelou_core::event::{DeliveryReport, DeliveryState, InboundCall, InboundSms};
use antirelou_core::handler::{InboundHandler, SmsOutcome};
use antirelou_core::voice::{RejectReason, VoiceHint, VoiceScript};
use antirelou_twilio::router::{TwilioWebhookState, router};
use antirelou_twilio::twiml::VoiceMap;
use async_trait::async_trait;
use axum::body::Body;
use http::{Request, StatusCode};
use support::*;
use tower::ServiceExt;

#[derive(Default)]
struct Recorder {
    sms: Mutex<Vec<InboundSms>>,
    calls: Mutex<Vec<InboundCall>>,
    reports: Mutex<Vec<DeliveryReport>>,
    fail: Option<fn() -> antirelou_core::Error>,
    script: Option<VoiceScript>,
}

#[async_trait]
impl InboundHandler for Recorder {
    async fn handle_sms(&self, sms: InboundSms) -> antirelou_core::Result<SmsOutcome> {
        if let Some(f) = self.fail {
            return Err(f());
        }
        self.sms.lock().unwrap().push(sms);
        Ok(SmsOutcome::Scheduled)
    }
    async fn handle_call(&self, call: InboundCall) -> antirelou_core::Result<VoiceScript> {
        if let Some(f) = self.fail {
            return Err(f());
        }
        self.calls.lock().unwrap().push(call);
        Ok(self.script.clone().unwrap_or_else(|| {
            VoiceScript::builder()
                .ring(4)
                .say("Bonjour & au revoir", "fr-FR", VoiceHint::Female)
                .hangup()
                .build()
        }))
    }
    async fn handle_delivery(&self, report: DeliveryReport) -> antirelou_core::Result<()> {
        if let Some(f) = self.fail {
            return Err(f());
        }
        self.reports.lock().unwrap().push(report);
        Ok(())
    }
}

fn app(h: Arc<Recorder>) -> axum::Router {
    router(TwilioWebhookState {
        handler: h,
        config: config(),
        voices: VoiceMap::default(),
    })
}

async fn call(
    app: axum::Router,
    req: http::Request<Vec<u8>>,
) -> (StatusCode, Option<String>, String) {
    let req = req.map(Body::from);
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, ct, String::from_utf8(body.to_vec()).unwrap())
}

fn assert_xml(body: &str) -> roxmltree::Document<'_> {
    let doc = roxmltree::Document::parse(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(doc.root_element().tag_name().name(), "Response");
    doc
}

#[tokio::test]
async fn sms_post_is_handed_to_the_engine_and_acknowledged_with_empty_twiml() {
    let h = Arc::new(Recorder::default());
    let (status, ct, body) = call(app(h.clone()), signed_post("/twilio/sms", SMS_BODY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(ct.unwrap().starts_with("text/xml"));
    let doc = assert_xml(&body);
    assert_eq!(doc.root_element().children().count(), 0);
    let got = h.sms.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_id, "SM0123456789abcdef0123456789abcdef");
    assert_eq!(got[0].body, "Salut ça va ? & toi");
}

#[tokio::test]
async fn sms_get_variant() {
    let h = Arc::new(Recorder::default());
    let (status, _, body) = call(
        app(h.clone()),
        signed_get(&format!("/twilio/sms?{SMS_BODY}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h.sms.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn voice_post_renders_the_script() {
    let h = Arc::new(Recorder::default());
    let (status, ct, body) = call(app(h.clone()), signed_post("/twilio/voice", VOICE_BODY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(ct.unwrap().starts_with("text/xml"));
    let doc = assert_xml(&body);
    let names: Vec<_> = doc
        .root_element()
        .children()
        .filter(|n| n.is_element())
        .map(|n| n.tag_name().name())
        .collect();
    assert_eq!(names, ["Pause", "Say", "Hangup"]);
    let say = doc
        .root_element()
        .children()
        .find(|n| n.has_tag_name("Say"))
        .unwrap();
    assert_eq!(say.text(), Some("Bonjour & au revoir"));
    assert_eq!(say.attribute("voice"), Some("Polly.Lea-Neural"));
    assert_eq!(
        h.calls.lock().unwrap()[0].call_id,
        "CA0123456789abcdef0123456789abcdef"
    );
}

#[tokio::test]
async fn voice_get_variant_and_reject_script() {
    let h = Arc::new(Recorder {
        script: Some(VoiceScript::reject(RejectReason::Busy)),
        ..Default::default()
    });
    let (status, _, body) = call(
        app(h.clone()),
        signed_get(&format!("/twilio/voice?{VOICE_BODY}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let doc = assert_xml(&body);
    let first = doc.root_element().first_element_child().unwrap();
    assert_eq!(
        (first.tag_name().name(), first.attribute("reason")),
        ("Reject", Some("busy"))
    );
    assert_eq!(
        doc.root_element()
            .children()
            .filter(|n| n.is_element())
            .count(),
        1
    );
}

#[tokio::test]
async fn status_callback_reaches_handle_delivery() {
    let h = Arc::new(Recorder::default());
    let (status, _, body) = call(app(h.clone()), signed_post("/twilio/status", STATUS_BODY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = h.reports.lock().unwrap().clone();
    assert_eq!(r[0].state, DeliveryState::Undelivered);
    assert_eq!(r[0].error_code.as_deref(), Some("30007"));
}

#[tokio::test]
async fn bad_signature_is_403_and_nothing_reaches_the_engine() {
    let h = Arc::new(Recorder::default());
    let (status, _, body) = call(
        app(h.clone()),
        post(
            "/twilio/sms",
            SMS_BODY,
            Some("RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _, _) = call(app(h.clone()), post("/twilio/voice", VOICE_BODY, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Official negative: a query parameter added after signing.
    let sig = sign_post("/twilio/sms", SMS_BODY);
    let (status, _, _) = call(
        app(h.clone()),
        post("/twilio/sms?somethingUnexpected=true", SMS_BODY, Some(&sig)),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(h.sms.lock().unwrap().is_empty() && h.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn missing_from_is_400_with_a_message() {
    let h = Arc::new(Recorder::default());
    let (status, ct, body) = call(
        app(h.clone()),
        signed_post("/twilio/sms", &without(SMS_BODY, "From")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(ct.unwrap().starts_with("text/plain"));
    assert_eq!(body, "missing required parameter From");
    assert!(h.sms.lock().unwrap().is_empty());
}

#[tokio::test]
async fn unknown_parameters_are_tolerated() {
    let h = Arc::new(Recorder::default());
    let body = format!(
        "{VOICE_BODY}&StirVerstat=TN-Validation-Passed-A&SomethingNew=%F0%9F%98%80&SomethingNew=2"
    );
    let (status, _, resp) = call(app(h.clone()), signed_post("/twilio/voice", &body)).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
}

#[tokio::test]
async fn handler_failure_is_5xx_so_twilio_retries() {
    let transient = Arc::new(Recorder {
        fail: Some(|| antirelou_core::Error::storage_transient("db busy")),
        ..Default::default()
    });
    let (status, _, body) = call(app(transient), signed_post("/twilio/sms", SMS_BODY)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        !body.contains("db busy"),
        "internal errors are not exposed: {body}"
    );
    let permanent = Arc::new(Recorder {
        fail: Some(|| antirelou_core::Error::storage_permanent("schema")),
        ..Default::default()
    });
    let (status, _, _) = call(app(permanent), signed_post("/twilio/voice", VOICE_BODY)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn other_methods_and_paths() {
    let h = Arc::new(Recorder::default());
    let r = Request::put("/twilio/sms").body(Vec::new()).unwrap();
    let (status, _, _) = call(app(h.clone()), r).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let r = Request::post("/twilio/other").body(Vec::new()).unwrap();
    let (status, _, _) = call(app(h), r).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn over_real_loopback_http() {
    let h = Arc::new(Recorder::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, app(h.clone())).into_future());
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/twilio/sms"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", sign_post("/twilio/sms", SMS_BODY))
        .body(SMS_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.text().await.unwrap(),
        antirelou_twilio::twiml::empty_response()
    );
    assert_eq!(h.sms.lock().unwrap().len(), 1);
    server.abort();
}

#[tokio::test]
async fn nested_router_verifies_the_full_public_path() {
    let h = Arc::new(Recorder::default());
    let app = axum::Router::new().nest("/hooks", app(h.clone()));
    let (status, _, body) = call(app.clone(), signed_post("/hooks/twilio/sms", SMS_BODY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Signed for the path without the prefix: not the URL Twilio called.
    let sig = sign_post("/twilio/sms", SMS_BODY);
    let (status, _, _) = call(app, post("/hooks/twilio/sms", SMS_BODY, Some(&sig))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(h.sms.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn every_caller_id_gets_the_lesson_through_the_voice_route() {
    use antirelou_core::Caller;
    // Twilio's withheld markers, an unassigned range, SIP callers, a national-format number,
    // `anonymous`, and garbage: the call is answered (TwiML 200), never a 400 that makes Twilio
    // play its "application error" message. Only a valid number could ever be texted.
    type Expect = fn(&Caller) -> bool;
    let cases: [(&str, Expect); 11] = [
        ("+266696687", |c| *c == Caller::Withheld),
        ("+7378742833", |c| *c == Caller::Withheld),
        ("+86282452253", |c| *c == Caller::Withheld),
        ("+8656696", |c| *c == Caller::Withheld),
        ("anonymous", |c| *c == Caller::Withheld),
        ("+33700000000", |c| matches!(c, Caller::NotDialable(_))),
        ("sip:alice@example.com", |c| {
            matches!(c, Caller::NotDialable(_))
        }),
        ("sips:bob@10.0.0.1:5061", |c| {
            matches!(c, Caller::NotDialable(_))
        }),
        ("0612345678", |c| matches!(c, Caller::NotDialable(_))),
        ("+33 6 <script>", |c| matches!(c, Caller::NotDialable(_))),
        ("+32470123456", |c| matches!(c, Caller::Number(_))),
    ];
    for (from, expected) in cases {
        let h = Arc::new(Recorder::default());
        let encoded: String = form_urlencoded::byte_serialize(from.as_bytes()).collect();
        let body = with_value(VOICE_BODY, "From", &encoded);
        let (status, _, resp) = call(app(h.clone()), signed_post("/twilio/voice", &body)).await;
        assert_eq!(status, StatusCode::OK, "{from}: {resp}");
        let doc = assert_xml(&resp);
        assert!(
            doc.descendants().any(|n| n.has_tag_name("Say")),
            "{from}: {resp}"
        );
        let calls = h.calls.lock().unwrap();
        assert!(expected(&calls[0].from), "{from}: {:?}", calls[0].from);
        assert!(
            !format!("{:?}", calls[0].from).contains("script"),
            "only a masked tail is kept"
        );
    }
}
