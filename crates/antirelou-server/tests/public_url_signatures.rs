//! The public URL reaches the Twilio signature check exactly as configured (issue #20, finding
//! 8): a server configured with `https://MyCompany.com` or
//! `HTTP://username:password@MyCompany.com` accepts webhooks Twilio signed over that URL, through
//! the real routes of the real server, served on loopback.
#![allow(clippy::unwrap_used)]

use antirelou_server::{Config, Server};
use antirelou_twilio::SignatureValidator;
use antirelou_twilio::webhook::decode_form;

const TOKEN: &str = "9f3c1e7a2b5d4c8e0a6f1b3d5e7c9a2b";
const NUMBER: &str = "+33937000000";

fn config(public_url: &str, db: &std::path::Path) -> Config {
    let text = format!(
        r#"
listen = "127.0.0.1:0"
public_url = "{public_url}"
hash_secret = "5c0b8e2d7a4f1c9e3b6d0a8f2e4c7b1d"
[storage]
sqlite = "{db}"
[admin]
token = "1d7b4e9a2c6f0e3b8d5a1c7f4e2b9d6a"
[twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token = "{TOKEN}"
api_base = "http://127.0.0.1:9"
billing_currency = "EUR"
[[number]]
phone = "{NUMBER}"
provider = "twilio"
locale = "fr-FR"
"#,
        db = db.display()
    );
    Config::from_toml(&text, |_| None).unwrap()
}

const VOICE: &str = "CallSid=CA0123456789abcdef0123456789abcdef&AccountSid=AC0123456789abcdef0123456789abcdef&From=%2B32470123456&To=%2B33937000000&CallStatus=ringing&Direction=inbound";

async fn post_voice(public_url: &str, signed_url: &str) -> (u16, String) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::build(config(public_url, &dir.path().join("a.db")))
        .await
        .unwrap();
    let app = server.router().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    let sig = SignatureValidator::new(TOKEN).sign(signed_url, &decode_form(VOICE.as_bytes()));
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://{addr}/twilio/voice"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", sig)
        .body(VOICE)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    task.abort();
    (status, body)
}

#[tokio::test]
async fn a_webhook_signed_over_the_configured_url_is_accepted() {
    for public_url in [
        "https://MyCompany.com",
        "HTTP://username:password@MyCompany.com",
    ] {
        let (status, body) = post_voice(public_url, &format!("{public_url}/twilio/voice")).await;
        assert_eq!(status, 200, "{public_url}: {body}");
        assert!(body.contains("<Response>"), "{public_url}: {body}");
    }
}

#[tokio::test]
async fn a_webhook_signed_over_another_url_is_still_refused() {
    for (public_url, signed) in [
        (
            "https://MyCompany.com",
            "https://MyCompany.org/twilio/voice",
        ),
        ("https://MyCompany.com", "http://MyCompany.com/twilio/voice"),
        (
            "HTTP://username:password@MyCompany.com",
            "HTTP://username:other@MyCompany.com/twilio/voice",
        ),
    ] {
        let (status, _) = post_voice(public_url, signed).await;
        assert_eq!(status, 403, "{public_url} signed as {signed}");
    }
}
