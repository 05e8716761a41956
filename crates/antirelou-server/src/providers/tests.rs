//! The registry seen through the configuration: a provider's section is read by its adapter, a
//! number needs its provider's section, a section needs a number, and errors name the key.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::config::Config;

const BASE: &str = r#"
listen = "127.0.0.1:8080"
public_url = "https://number.example.org"
hash_secret = "0123456789abcdef0123456789abcdef"
[storage]
sqlite = "antirelou.db"
[admin]
token = "admin-token-0123456789"
[currency]
rates = { USD = 0.92 }
"#;

const TELNYX: &str = r#"
[telnyx]
api_key = "KEY0123456789ABCDEF_abcdefghijkl"
public_key = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
api_base = "http://127.0.0.1:9"
"#;

const TELNYX_NUMBER: &str = r#"
[[number]]
phone = "+33937000001"
provider = "telnyx"
locale = "fr-FR"
"#;

fn no_env(_: &str) -> Option<String> {
    None
}

fn err(text: &str) -> String {
    Config::from_toml(text, no_env).unwrap_err().to_string()
}

#[test]
fn registry_ids_are_unique_and_name_their_sections() {
    let ids: Vec<_> = REGISTRY.iter().map(|f| f.id().as_str()).collect();
    assert_eq!(ids, ["twilio", "vonage", "telnyx"]);
    for f in REGISTRY {
        assert_eq!(f.section(), f.id().as_str());
        assert_eq!(factory(f.id().as_str()).unwrap().id(), f.id());
    }
    assert!(factory("orange").is_none());
}

#[test]
fn a_telnyx_number_with_its_section_is_accepted() {
    let c = Config::from_toml(&format!("{BASE}{TELNYX}{TELNYX_NUMBER}"), no_env).unwrap();
    assert_eq!(c.numbers[0].provider, antirelou_telnyx::PROVIDER);
    assert_eq!(c.providers.len(), 1);
    assert_eq!(c.providers[0].id(), antirelou_telnyx::PROVIDER);
    let t = c.provider::<TelnyxProvider>().unwrap();
    assert_eq!(t.config.api_base.as_str(), "http://127.0.0.1:9/");
    assert!(c.provider::<TwilioSettings>().is_none());
    // The key may come from the environment instead.
    let text = format!("{BASE}{TELNYX}{TELNYX_NUMBER}")
        .replace("api_key = \"KEY0123456789ABCDEF_abcdefghijkl\"\n", "");
    let env = |name: &str| {
        (name == "ANTIRELOU_TELNYX_API_KEY").then(|| "KEY9876543210ABCDEF_zyxwvutsrqpo".to_owned())
    };
    let c = Config::from_toml(&text, env).unwrap();
    assert_eq!(
        c.provider::<TelnyxProvider>().unwrap().config.api_key,
        "KEY9876543210ABCDEF_zyxwvutsrqpo"
    );
    assert!(err(&text).starts_with("telnyx.api_key: "), "{}", err(&text));
}

#[test]
fn a_number_without_its_section_and_a_section_without_a_number_are_refused() {
    assert_eq!(
        err(&format!("{BASE}{TELNYX_NUMBER}")),
        "number[0].provider: \"telnyx\" needs a [telnyx] section"
    );
    let twilio_number = TELNYX_NUMBER.replace("telnyx", "twilio");
    let twilio = "[twilio]\naccount_sid = \"AC0123\"\nauth_token = \"twilio-auth-token-0123\"\n";
    assert_eq!(
        err(&format!("{BASE}{twilio}{TELNYX}{twilio_number}")),
        "telnyx: no [[number]] uses provider = \"telnyx\": remove the [telnyx] section (its \
         webhooks would be served for no number) or add a [[number]] with provider = \"telnyx\""
    );
}

#[test]
fn telnyx_errors_name_the_key() {
    let good = format!("{BASE}{TELNYX}{TELNYX_NUMBER}");
    for (from, to, key) in [
        (
            "KEY0123456789ABCDEF_abcdefghijkl",
            "KEY...",
            "telnyx.api_key: ",
        ),
        (
            "KEY0123456789ABCDEF_abcdefghijkl",
            "KEYexample0123456789abcdefghij",
            "telnyx.api_key: ",
        ),
        (
            "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
            "base64 Ed25519 public key from the Telnyx portal",
            "telnyx.public_key: ",
        ),
        ("http://127.0.0.1:9", "ftp://x", "telnyx.api_base: "),
        (
            "api_base = \"http://127.0.0.1:9\"",
            "api_base = \"http://127.0.0.1:9\"\ntimeout_secs = \"ten\"",
            "telnyx.timeout_secs: ",
        ),
        (
            "api_base = \"http://127.0.0.1:9\"",
            "api_base = \"http://127.0.0.1:9\"\napi_secret = \"x\"",
            "telnyx.api_secret: unknown field `api_secret`",
        ),
    ] {
        let e = err(&good.replace(from, to));
        assert!(e.starts_with(key), "{to}: {e}");
    }
}

/// The `[telnyx]` section of the example file, uncommented, is refused until its values are
/// real.
#[test]
fn the_examples_telnyx_section_is_refused_as_it_stands() {
    const EXAMPLE: &str = include_str!("../../antirelou.example.toml");
    let start = EXAMPLE.find("# [telnyx]").unwrap();
    let section: String = EXAMPLE[start..]
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{}\n", l.trim_start_matches("# ")))
        .collect();
    assert!(section.contains("public_key"), "{section}");
    let e = err(&format!("{BASE}{section}{TELNYX_NUMBER}"));
    assert!(e.starts_with("telnyx.public_key: "), "{e}");
    // With a real public key, the example's API key is refused in turn.
    let section = section.replace(
        "base64 Ed25519 public key from the Telnyx portal",
        "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
    );
    let e = err(&format!("{BASE}{section}{TELNYX_NUMBER}"));
    assert!(e.starts_with("telnyx.api_key: "), "{e}");
}

/// Telnyx bills in US dollars unless told otherwise: a euro ledger needs the rate, or the
/// account's real currency.
#[test]
fn telnyx_billing_currency_needs_a_rate() {
    let no_rates = BASE.replace("[currency]\nrates = { USD = 0.92 }\n", "");
    let e = err(&format!("{no_rates}{TELNYX}{TELNYX_NUMBER}"));
    assert!(
        e.starts_with("currency.rates: [telnyx] bills in USD"),
        "{e}"
    );
    let eur = TELNYX.replace("[telnyx]\n", "[telnyx]\nbilling_currency = \"EUR\"\n");
    let c = Config::from_toml(&format!("{no_rates}{eur}{TELNYX_NUMBER}"), no_env).unwrap();
    assert_eq!(
        c.providers[0].billing_currencies(),
        [antirelou_core::Currency::EUR]
    );
    let bad = TELNYX.replace("[telnyx]\n", "[telnyx]\nbilling_currency = \"euro\"\n");
    let e = err(&format!("{BASE}{bad}{TELNYX_NUMBER}"));
    assert!(e.starts_with("telnyx.billing_currency: "), "{e}");
}
