//! `TwilioTransport::find_accepted` against a loopback server that plays Twilio's Messages API
//! with state: a `POST` creates a message, a `GET` lists them newest first, filtered by `To` and
//! `From`, in Twilio's JSON shape. Every request is checked (method, path, auth, query).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use antirelou_core::conformance::sample_sms;
use antirelou_core::{Error, PriorSend, SmsTransport, Timestamp};
use antirelou_twilio::client::{Auth, TwilioConfig, TwilioTransport};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde_json::{Value, json};

const SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TOKEN: &str = "auth-token-0123";
const PATH: &str = "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Messages.json";

#[derive(Default)]
struct Twilio {
    /// Newest last.
    messages: Mutex<Vec<Value>>,
    /// Every list query received.
    queries: Mutex<Vec<Vec<(String, String)>>>,
    violations: Mutex<Vec<String>>,
    /// Answer lists with this status instead.
    fail_list: Mutex<Option<u16>>,
}

type St = State<Arc<Twilio>>;

fn check_auth(t: &Twilio, headers: &HeaderMap) {
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(want.as_str()) {
        t.violations.lock().unwrap().push("bad auth".into());
    }
}

fn now_rfc2822() -> String {
    chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

async fn create(State(t): St, headers: HeaderMap, body: Bytes) -> Response {
    check_auth(&t, &headers);
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let mut messages = t.messages.lock().unwrap();
    let sid = format!("SM{:032x}", messages.len() + 1);
    let m = json!({
        "account_sid": SID, "api_version": "2010-04-01", "body": form["Body"],
        "date_created": now_rfc2822(), "date_sent": null, "date_updated": now_rfc2822(),
        "direction": "outbound-api", "error_code": null, "error_message": null,
        "from": form["From"], "messaging_service_sid": null, "num_media": "0",
        "num_segments": "1", "price": null, "price_unit": "EUR", "sid": sid,
        "status": "queued", "to": form["To"],
        "uri": format!("{PATH}/{sid}.json").replace("Messages.json/", "Messages/"),
    });
    messages.push(m.clone());
    (StatusCode::CREATED, m.to_string()).into_response()
}

async fn list(State(t): St, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    check_auth(&t, &headers);
    let q: Vec<(String, String)> = form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    t.queries.lock().unwrap().push(q.clone());
    if let Some(status) = *t.fail_list.lock().unwrap() {
        let body = json!({"code": 20500, "message": "Internal Server Error", "status": status});
        return (StatusCode::from_u16(status).unwrap(), body.to_string()).into_response();
    }
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let page_size: usize = get("PageSize").and_then(|p| p.parse().ok()).unwrap_or(50);
    let all = t.messages.lock().unwrap();
    let matching: Vec<&Value> = all
        .iter()
        .rev()
        .filter(|m| get("To").is_none_or(|to| m["to"] == to.as_str()))
        .filter(|m| get("From").is_none_or(|from| m["from"] == from.as_str()))
        .collect();
    let page: Vec<&Value> = matching.iter().take(page_size).copied().collect();
    let next = (matching.len() > page_size).then(|| format!("{PATH}?PageSize={page_size}&Page=1"));
    let body = json!({
        "end": page.len().saturating_sub(1), "first_page_uri": PATH, "messages": page,
        "next_page_uri": next, "page": 0, "page_size": page_size,
        "previous_page_uri": null, "start": 0, "uri": PATH,
    });
    (StatusCode::OK, body.to_string()).into_response()
}

async fn start() -> (Arc<Twilio>, TwilioTransport) {
    let t = Arc::new(Twilio::default());
    let app = Router::new()
        .route(PATH, post(create).get(list))
        .with_state(t.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let sender = TwilioTransport::new(
        TwilioConfig::new(Auth::AccountToken {
            account_sid: SID.into(),
            auth_token: TOKEN.into(),
        })
        .with_api_base(format!("http://{addr}").parse().unwrap()),
    )
    .unwrap();
    (t, sender)
}

const LESSON: &str = "Elle ne voulait pas vous donner son numéro.";

#[tokio::test]
async fn a_message_twilio_accepted_is_found_and_nothing_else_is() {
    let (twilio, sender) = start().await;
    let before = Timestamp::from_millis(chrono::Utc::now().timestamp_millis() - 5_000);
    let sms = sample_sms(LESSON, "r7a1");

    // Nothing sent yet: a complete, empty answer.
    assert_eq!(
        sender.find_accepted(&sms, before).await.unwrap(),
        PriorSend::NotFound
    );
    let receipt = sender.send(&sms).await.unwrap();

    // The same message, looked for by the next claim: found, with Twilio's sid.
    match sender
        .find_accepted(&sample_sms(LESSON, "r7a2"), before)
        .await
    {
        Ok(PriorSend::Accepted(found)) => assert_eq!(found.provider_id, receipt.provider_id),
        other => panic!("{other:?}"),
    }
    // Another text, or a message older than the reply: not ours.
    assert_eq!(
        sender
            .find_accepted(&sample_sms("autre chose", "r8a2"), before)
            .await
            .unwrap(),
        PriorSend::NotFound
    );
    let later = Timestamp::from_millis(chrono::Utc::now().timestamp_millis() + 60_000);
    assert_eq!(
        sender.find_accepted(&sms, later).await.unwrap(),
        PriorSend::NotFound
    );

    // The list was asked for exactly: our number to him, one small page.
    let queries = twilio.queries.lock().unwrap().clone();
    assert_eq!(queries.len(), 4);
    for q in &queries {
        let mut q = q.clone();
        q.sort();
        assert_eq!(
            q,
            vec![
                ("From".to_owned(), "+33757000000".to_owned()),
                ("PageSize".to_owned(), "20".to_owned()),
                ("To".to_owned(), "+33612345678".to_owned()),
            ]
        );
    }
    assert_eq!(twilio.violations.lock().unwrap().len(), 0);
}

#[tokio::test]
async fn an_incomplete_or_failed_list_never_says_not_found() {
    let (twilio, sender) = start().await;
    let before = Timestamp::from_millis(chrono::Utc::now().timestamp_millis() - 5_000);
    // More messages between us than one page holds: ours may be on the next page.
    for i in 0..25 {
        sender
            .send(&sample_sms(&format!("message {i}"), "x"))
            .await
            .unwrap();
    }
    assert_eq!(
        sender
            .find_accepted(&sample_sms(LESSON, "r1a2"), before)
            .await
            .unwrap(),
        PriorSend::Unknown
    );
    // Twilio failing: an error (the dispatcher then sends), transient for a 5xx.
    *twilio.fail_list.lock().unwrap() = Some(500);
    let e = sender
        .find_accepted(&sample_sms(LESSON, "r1a2"), before)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transient { .. }), "{e:?}");
}
