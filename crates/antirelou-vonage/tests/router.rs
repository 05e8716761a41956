//! The `axum` router, served on loopback and called over real HTTP.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use antirelou_core::{ManualClock, Timestamp};
use antirelou_vonage::jwt::{JwtVerifier, sign_hs256};
use antirelou_vonage::signature::{SignatureMethod, SmsSigner};
use antirelou_vonage::{VonageWebhooks, router};
use serde_json::{Value, json};
use support::Recorder;

const NOW: i64 = 1_717_000_000;

async fn serve(rec: &Arc<Recorder>) -> String {
    let hooks = VonageWebhooks::builder(rec.clone())
        .sms_signer(SmsSigner::new("sig-secret", SignatureMethod::Sha256Hmac))
        .voice_jwt(JwtVerifier::new("jwt-secret"))
        .clock(Arc::new(ManualClock::new(Timestamp::from_secs(NOW))))
        .build()
        .unwrap();
    let app = router::router(Arc::new(hooks));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A fresh token (its own `jti`: each is accepted once) for a request with `body`.
fn token(body: &[u8]) -> String {
    use sha2::Digest;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let jti = NEXT
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .to_string();
    sign_hs256(
        &json!({"iat": NOW, "iss": "Vonage", "jti": jti, "payload_hash": hex::encode(sha2::Sha256::digest(body))}),
        b"jwt-secret",
    )
}

#[tokio::test]
async fn all_four_routes() {
    let rec = Recorder::new();
    let base = serve(&rec).await;
    let c = client();

    // Answer, GET with JWT.
    let r = c
        .get(format!(
            "{base}/vonage/answer?to=33757000000&from=33612345678&uuid=u1&conversation_uuid=CON-1"
        ))
        .bearer_auth(token(b""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let ncco: Value = r.json().await.unwrap();
    assert_eq!(ncco[0]["action"], "talk");
    assert_eq!(ncco[0]["language"], "fr-FR");

    // Answer, POST JSON with JWT.
    let body =
        r#"{"to":"33757000000","from":"33612345678","uuid":"u2","conversation_uuid":"CON-2"}"#;
    let r = c
        .post(format!("{base}/vonage/answer"))
        .header("content-type", "application/json")
        .bearer_auth(token(body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Answer without JWT: 403.
    let r = c
        .get(format!(
            "{base}/vonage/answer?to=33757000000&from=33612345678&uuid=u3"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Event.
    let body = r#"{"status":"completed","uuid":"u1","duration":"12"}"#;
    let r = c
        .post(format!("{base}/vonage/event"))
        .header("content-type", "application/json")
        .bearer_auth(token(body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    // Signed SMS, POST form.
    let ts = NOW.to_string();
    let mut p = vec![
        ("msisdn", "33612345678"),
        ("to", "33757000000"),
        ("messageId", "0A01"),
        ("text", "Coucou"),
        ("type", "text"),
        ("timestamp", ts.as_str()),
    ];
    let sig = SmsSigner::new("sig-secret", SignatureMethod::Sha256Hmac).sign(p.iter().copied());
    p.push(("sig", sig.as_str()));
    let r = c
        .post(format!("{base}/vonage/sms"))
        .form(&p)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    // Same, GET.
    let r = c
        .get(format!("{base}/vonage/sms"))
        .query(&p)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // Bad signature: 403.
    let mut bad = p.clone();
    bad[3] = ("text", "Coucou!");
    let r = c
        .post(format!("{base}/vonage/sms"))
        .form(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Bad input: 400 with a message.
    let r = c
        .post(format!("{base}/vonage/sms"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("JSON"));
    // Too long: 400.
    let r = c
        .post(format!("{base}/vonage/sms"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 200_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // DLR, signed, GET.
    let mut d = vec![
        ("messageId", "0C01"),
        ("status", "delivered"),
        ("price", "0.0333"),
        ("err-code", "0"),
        ("timestamp", ts.as_str()),
    ];
    let sig = SmsSigner::new("sig-secret", SignatureMethod::Sha256Hmac).sign(d.iter().copied());
    d.push(("sig", sig.as_str()));
    let r = c
        .get(format!("{base}/vonage/dlr"))
        .query(&d)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    assert_eq!(rec.calls.lock().unwrap().len(), 2);
    assert_eq!(rec.sms.lock().unwrap().len(), 2);
    assert_eq!(
        *rec.scheduled.lock().unwrap(),
        1,
        "the GET retry of the same message is a duplicate"
    );
    assert_eq!(rec.reports.lock().unwrap().len(), 1);

    // Unknown route / method.
    assert_eq!(
        c.get(format!("{base}/vonage/other"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        c.delete(format!("{base}/vonage/sms"))
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
}
