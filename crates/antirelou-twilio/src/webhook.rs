//! Verify and parse Twilio's voice, SMS and status-callback webhooks, over plain [`http`] types.
//!
//! Framework-agnostic: hand a [`WebhookRequest`] (method, URI, headers, body) to
//! [`WebhookConfig::parse_sms`], [`WebhookConfig::parse_voice`] or
//! [`WebhookConfig::parse_status`]. Each one first verifies `X-Twilio-Signature` (a
//! [`TwilioError::BadSignature`], `403`), then reads the parameters (a missing or invalid one is
//! a `400` with a message). Unknown parameters are ignored, as Twilio adds parameters without
//! notice.
//!
//! The URL that is verified is the operator's configured **public base URL** followed by the
//! request's path and query string. The `Host` header is never trusted.
//!
//! Both `POST` (form body) and `GET` (parameters in the query string) are accepted.
//!
//! ```
//! use antirelou_twilio::signature::SignatureValidator;
//! use antirelou_twilio::webhook::{WebhookConfig, WebhookRequest};
//!
//! let cfg = WebhookConfig::new("https://example.org", SignatureValidator::new("token")).unwrap();
//! let body = "MessageSid=SM1&From=%2B32470123456&To=%2B3225880000&Body=Salut&NewParam=x";
//! let params = antirelou_twilio::webhook::decode_form(body.as_bytes());
//! let sig = cfg.validator().sign("https://example.org/twilio/sms", &params);
//! let req = http::Request::post("/twilio/sms")
//!     .header("Host", "attacker.example")
//!     .header("Content-Type", "application/x-www-form-urlencoded")
//!     .header("X-Twilio-Signature", sig)
//!     .body(body.as_bytes().to_vec())
//!     .unwrap();
//! let sms = cfg.parse_sms(&WebhookRequest::from_http(&req)).unwrap();
//! assert_eq!(sms.message_id, "SM1");
//! assert_eq!(sms.to.e164(), "+3225880000");
//! ```

use antirelou_core::event::{
    DeliveryFailure, DeliveryReport, DeliveryState, InboundCall, InboundSms,
};
use antirelou_core::kit::PublicBaseUrl;
use antirelou_core::{Caller, Money, PhoneNumber, Price};
use http::{Method, Uri};

use crate::error::TwilioError;
use crate::signature::{
    SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER, SignatureValidator, SigningMode,
};

pub use antirelou_core::kit::WebhookRequest;
pub use antirelou_core::kit::request::decode_form;

/// Decoded webhook parameters, in the order received, repeats kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Wrap decoded pairs.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Params(pairs)
    }

    /// The first value of `name` (names are case-sensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The pairs.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    fn required(&self, name: &'static str) -> Result<&str, TwilioError> {
        self.get(name).ok_or(TwilioError::MissingParameter { name })
    }

    /// The first non-empty value among `names`, or a [`TwilioError::MissingParameter`] naming
    /// the first one.
    fn first_of(&self, names: &[&'static str]) -> Result<&str, TwilioError> {
        names
            .iter()
            .find_map(|n| self.get(n).map(str::trim).filter(|v| !v.is_empty()))
            .ok_or(TwilioError::MissingParameter {
                name: names.first().copied().unwrap_or("?"),
            })
    }
}

/// How webhooks are verified: the auth token (and optional shared keys) and the public base URL
/// Twilio is configured to call.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    validator: SignatureValidator,
    public_base_url: PublicBaseUrl,
}

impl WebhookConfig {
    /// `public_base_url` is the scheme and host (and port, and path prefix if a proxy strips one)
    /// of the URLs configured in the Twilio console, e.g. `https://antirelou.example.org`. The
    /// URL that is verified is that base followed by the request's path and query.
    pub fn new(public_base_url: &str, validator: SignatureValidator) -> Result<Self, TwilioError> {
        let public_base_url = PublicBaseUrl::parse(public_base_url)
            .map_err(|e| TwilioError::Config(e.to_string()))?;
        Ok(WebhookConfig {
            validator,
            public_base_url,
        })
    }

    /// The signature validator.
    pub fn validator(&self) -> &SignatureValidator {
        &self.validator
    }

    /// The configured public base URL, without a trailing `/`.
    pub fn public_base_url(&self) -> &str {
        self.public_base_url.as_str()
    }

    /// The URL Twilio signed for a request to `uri`: the public base URL, the path, and the query
    /// string exactly as received.
    pub fn public_url(&self, uri: &Uri) -> String {
        self.public_base_url.url_for(uri)
    }

    /// Verify the signature and return the webhook's parameters (the form body for `POST`, the
    /// query string for `GET`).
    ///
    /// A `POST` whose `Content-Type` is JSON is verified with its `bodySHA256`; it then fails with
    /// [`TwilioError::UnsupportedMediaType`], since voice, SMS and status webhooks are forms.
    pub fn verify(&self, req: &WebhookRequest<'_>) -> Result<Params, TwilioError> {
        let signature = req
            .header(SIGNATURE_HEADER)
            .ok_or(TwilioError::BadSignature {
                reason: "missing X-Twilio-Signature header",
            })?;
        let mode = SigningMode::from_settings_header(req.header(SIGNATURE_SETTINGS_HEADER)).ok_or(
            TwilioError::BadSignature {
                reason: "unsupported signature settings header",
            },
        )?;
        let url = self.public_url(req.uri);
        if *req.method == Method::GET {
            if !self.validator.validate_mode(mode, &url, &[], signature) {
                return Err(TwilioError::BadSignature {
                    reason: "signature mismatch",
                });
            }
            let query = req.uri.query().unwrap_or_default();
            return Ok(Params(decode_form(query.as_bytes())));
        }
        if *req.method != Method::POST {
            return Err(TwilioError::MethodNotAllowed {
                method: req.method.as_str().chars().take(32).collect(),
            });
        }
        let mime = req.mime();
        if mime == "application/json" || mime.ends_with("+json") {
            if !self
                .validator
                .validate_body(mode, &url, req.body, signature)
            {
                return Err(TwilioError::BadSignature {
                    reason: "signature or body hash mismatch",
                });
            }
            return Err(TwilioError::UnsupportedMediaType {
                content_type: mime.chars().take(100).collect(),
            });
        }
        let params = decode_form(req.body);
        if !self.validator.validate_mode(mode, &url, &params, signature) {
            return Err(TwilioError::BadSignature {
                reason: "signature mismatch",
            });
        }
        Ok(Params(params))
    }

    /// Verify and parse an inbound SMS webhook.
    pub fn parse_sms(&self, req: &WebhookRequest<'_>) -> Result<InboundSms, TwilioError> {
        sms_from_params(&self.verify(req)?)
    }

    /// Verify and parse an inbound voice webhook.
    pub fn parse_voice(&self, req: &WebhookRequest<'_>) -> Result<InboundCall, TwilioError> {
        call_from_params(&self.verify(req)?)
    }

    /// Verify and parse a message status callback.
    pub fn parse_status(&self, req: &WebhookRequest<'_>) -> Result<DeliveryReport, TwilioError> {
        status_from_params(&self.verify(req)?)
    }
}

fn parse_caller(params: &Params) -> Result<Caller, TwilioError> {
    let raw = params.required("From")?;
    Caller::parse(raw).map_err(|e| TwilioError::InvalidParameter {
        name: "From",
        reason: phone_reason(e),
    })
}

fn parse_to(params: &Params) -> Result<PhoneNumber, TwilioError> {
    let raw = params.required("To")?;
    PhoneNumber::parse(raw).map_err(|e| TwilioError::InvalidParameter {
        name: "To",
        reason: phone_reason(e),
    })
}

/// The reason of a phone-number error, without the input (which may be a full number).
fn phone_reason(e: antirelou_core::Error) -> String {
    match e {
        antirelou_core::Error::InvalidPhoneNumber { reason, .. } => {
            antirelou_core::phone::mask_numbers(&reason)
        }
        other => antirelou_core::phone::mask_numbers(&other.to_string()),
    }
}

fn sid(params: &Params, names: &[&'static str]) -> Result<String, TwilioError> {
    let v = params.first_of(names)?;
    let name = names.first().copied().unwrap_or("?");
    if v.len() > 64
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(TwilioError::InvalidParameter {
            name,
            reason: "not a Twilio SID".into(),
        });
    }
    Ok(v.to_owned())
}

/// Build an [`InboundSms`] from verified SMS webhook parameters. Requires `MessageSid` (or the
/// legacy `SmsMessageSid`/`SmsSid`), `From` and `To`; `Body` defaults to empty (a picture
/// message may have none). The message id is the `MessageSid`, so Twilio's retries are
/// idempotent.
pub fn sms_from_params(params: &Params) -> Result<InboundSms, TwilioError> {
    let message_id = sid(params, &["MessageSid", "SmsMessageSid", "SmsSid"])?;
    let from = parse_caller(params)?;
    let to = parse_to(params)?;
    let body = params.get("Body").unwrap_or_default().to_owned();
    Ok(InboundSms {
        provider: crate::PROVIDER,
        message_id,
        from,
        to,
        body,
        received_at: None,
    })
}

/// Twilio's withheld-caller markers: `From` spells ANONYMOUS, RESTRICTED, UNAVAILABLE or UNKNOWN
/// on a phone keypad when the caller ID is withheld or missing.
pub const WITHHELD_MARKERS: [&str; 4] = ["+266696687", "+7378742833", "+86282452253", "+8656696"];

/// Classify the caller of a voice webhook. Every call gets its lesson, so this never fails on a
/// present `From`: Twilio's [`WITHHELD_MARKERS`] and `anonymous` are [`Caller::Withheld`]; a
/// caller [`Caller::parse`] refuses (a range libphonenumber does not know, a national-format or
/// `sip:` caller ID, anything else) is [`Caller::NotDialable`], never texted. Only a valid
/// number is a [`Caller::Number`].
///
/// ```
/// use antirelou_core::Caller;
/// use antirelou_twilio::webhook::voice_caller;
/// assert_eq!(voice_caller("+266696687"), Caller::Withheld);
/// assert!(matches!(voice_caller("+33700000000"), Caller::NotDialable(_)));
/// assert!(matches!(voice_caller("sip:alice@example.com"), Caller::NotDialable(_)));
/// assert!(matches!(voice_caller("+32470123456"), Caller::Number(_)));
/// ```
pub fn voice_caller(raw: &str) -> Caller {
    let t = raw.trim();
    if WITHHELD_MARKERS.contains(&t) {
        return Caller::Withheld;
    }
    Caller::parse(t).unwrap_or_else(|_| {
        // Only the tail, and only letters and digits of it, ever reach a log.
        let safe: String = t
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '?' })
            .collect();
        Caller::NotDialable(antirelou_core::phone::mask_digits(&safe))
    })
}

/// Build an [`InboundCall`] from verified voice webhook parameters. Requires `CallSid`, `From`
/// (classified by [`voice_caller`], so that any caller ID gets the lesson) and `To`.
pub fn call_from_params(params: &Params) -> Result<InboundCall, TwilioError> {
    let call_id = sid(params, &["CallSid"])?;
    let from = voice_caller(params.required("From")?);
    let to = parse_to(params)?;
    Ok(InboundCall {
        provider: crate::PROVIDER,
        call_id,
        from,
        to,
    })
}

/// Map Twilio's `MessageStatus` to a [`DeliveryState`]. Unknown values are
/// [`DeliveryState::Unknown`], never an error.
///
/// ```
/// use antirelou_core::event::DeliveryState;
/// use antirelou_twilio::webhook::delivery_state;
/// assert_eq!(delivery_state("delivered"), DeliveryState::Delivered);
/// assert_eq!(delivery_state("brand-new-status"), DeliveryState::Unknown);
/// ```
pub fn delivery_state(status: &str) -> DeliveryState {
    match status.trim().to_ascii_lowercase().as_str() {
        "accepted" | "queued" | "scheduled" => DeliveryState::Accepted,
        "sending" | "sent" => DeliveryState::Sent,
        "delivered" | "read" => DeliveryState::Delivered,
        "undelivered" => DeliveryState::Undelivered,
        "failed" | "canceled" => DeliveryState::Failed,
        _ => DeliveryState::Unknown,
    }
}

/// Build a [`DeliveryReport`] from verified status-callback parameters. Requires `MessageSid`
/// (or `SmsSid`) and `MessageStatus` (or `SmsStatus`). `ErrorCode` is kept when non-empty.
/// `Price`, when Twilio includes it (it is negative: money spent), becomes a positive
/// [`Price`] in its `PriceUnit`; a price without a valid `PriceUnit` is left out (the engine then
/// keeps its estimate), never assumed to be in the ledger's currency.
pub fn status_from_params(params: &Params) -> Result<DeliveryReport, TwilioError> {
    let message_id = sid(params, &["MessageSid", "SmsSid"])?;
    let status = params.first_of(&["MessageStatus", "SmsStatus"])?;
    let state = delivery_state(status);
    let error_code = params
        .get("ErrorCode")
        .map(str::trim)
        .filter(|c| !c.is_empty() && *c != "0")
        .map(|c| c.chars().take(16).collect());
    let price = params
        .get("Price")
        .zip(params.get("PriceUnit"))
        .and_then(|(amount, unit)| Price::parse(amount, unit))
        .map(Price::abs)
        .filter(|p| p.amount != Money::ZERO);
    let failure = error_code.as_deref().map(delivery_failure);
    Ok(DeliveryReport {
        provider: crate::PROVIDER,
        message_id,
        state,
        price,
        error_code,
        failure,
    })
}

/// Twilio delivery error codes meaning the handset cannot receive texts: unknown destination
/// handset (30005), landline or unreachable carrier (30006). Sources: Twilio's error pages
/// `/docs/api/errors/30005` and `/docs/api/errors/30006` ("do not retry the same SMS to that
/// destination").
pub const DELIVERY_CODES_INVALID_RECIPIENT: [u32; 2] = [30005, 30006];

/// What a status callback's `ErrorCode` means: [`CODE_OPTED_OUT`](crate::error::CODE_OPTED_OUT)
/// (21610, the recipient unsubscribed from our number) is
/// [`DeliveryFailure::OptedOut`]; the send-time invalid-recipient codes
/// ([`CODES_INVALID_RECIPIENT`](crate::error::CODES_INVALID_RECIPIENT)) and
/// [`DELIVERY_CODES_INVALID_RECIPIENT`] are [`DeliveryFailure::InvalidRecipient`]; anything else
/// (30003 unreachable handset, which may be temporary; 30007 carrier filtering…) is
/// [`DeliveryFailure::Other`].
///
/// ```
/// use antirelou_core::event::DeliveryFailure;
/// use antirelou_twilio::webhook::delivery_failure;
/// assert_eq!(delivery_failure("21610"), DeliveryFailure::OptedOut);
/// assert_eq!(delivery_failure("30006"), DeliveryFailure::InvalidRecipient);
/// assert_eq!(delivery_failure("30003"), DeliveryFailure::Other);
/// ```
pub fn delivery_failure(code: &str) -> DeliveryFailure {
    let Ok(code) = code.trim().parse::<u32>() else {
        return DeliveryFailure::Other;
    };
    if code == crate::error::CODE_OPTED_OUT {
        DeliveryFailure::OptedOut
    } else if crate::error::CODES_INVALID_RECIPIENT.contains(&code)
        || DELIVERY_CODES_INVALID_RECIPIENT.contains(&code)
    {
        DeliveryFailure::InvalidRecipient
    } else {
        DeliveryFailure::Other
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        Params::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn public_url_ignores_absolute_uri_host() {
        let cfg = WebhookConfig::new("https://pub.example/", SignatureValidator::new("t")).unwrap();
        let uri: Uri = "http://evil.example:81/twilio/sms?x=1".parse().unwrap();
        assert_eq!(cfg.public_url(&uri), "https://pub.example/twilio/sms?x=1");
        let uri: Uri = "/a".parse().unwrap();
        assert_eq!(cfg.public_url(&uri), "https://pub.example/a");
    }

    #[test]
    fn bad_base_urls_are_config_errors() {
        for b in [
            "",
            "ftp://x",
            "https://h/x?y=1",
            "not a url",
            "https://h/#f",
        ] {
            assert!(
                matches!(
                    WebhookConfig::new(b, SignatureValidator::new("t")),
                    Err(TwilioError::Config(_))
                ),
                "{b}"
            );
        }
    }

    #[test]
    fn status_mapping() {
        let r = status_from_params(&p(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30007"),
            ("Price", "-0.07620"),
            ("PriceUnit", "EUR"),
        ]))
        .unwrap();
        assert_eq!(r.state, DeliveryState::Undelivered);
        assert_eq!(r.error_code.as_deref(), Some("30007"));
        assert_eq!(
            r.price,
            Some(Price::new(
                Money::from_micros(76_200),
                antirelou_core::Currency::EUR
            ))
        );
        let no_unit = status_from_params(&p(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "delivered"),
            ("Price", "-0.07620"),
        ]))
        .unwrap();
        assert_eq!(no_unit.price, None);
        assert_eq!(r.failure, Some(DeliveryFailure::Other));
        let r = status_from_params(&p(&[
            ("MessageSid", "SM3"),
            ("MessageStatus", "failed"),
            ("ErrorCode", "21610"),
        ]))
        .unwrap();
        assert_eq!(r.failure, Some(DeliveryFailure::OptedOut));
        for code in ["21211", "21614", "30005", "30006"] {
            let r = status_from_params(&p(&[
                ("MessageSid", "SM4"),
                ("MessageStatus", "undelivered"),
                ("ErrorCode", code),
            ]))
            .unwrap();
            assert_eq!(r.failure, Some(DeliveryFailure::InvalidRecipient), "{code}");
        }
        let r = status_from_params(&p(&[
            ("SmsSid", "SM2"),
            ("SmsStatus", "sent"),
            ("ErrorCode", ""),
        ]))
        .unwrap();
        assert_eq!(
            (
                r.message_id.as_str(),
                r.state,
                r.error_code,
                r.price,
                r.failure
            ),
            ("SM2", DeliveryState::Sent, None, None, None)
        );
        assert!(matches!(
            status_from_params(&p(&[("MessageSid", "SM1")])),
            Err(TwilioError::MissingParameter {
                name: "MessageStatus"
            })
        ));
    }

    #[test]
    fn invalid_to_reason_does_not_leak_the_number() {
        let e = sms_from_params(&p(&[
            ("MessageSid", "SM1"),
            ("From", "+32470123456"),
            ("To", "+331234567890123"),
        ]))
        .unwrap_err();
        assert!(
            matches!(e, TwilioError::InvalidParameter { name: "To", .. }),
            "{e}"
        );
        assert!(!e.to_string().contains("1234567890123"), "{e}");
        assert_eq!(e.status_code(), http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn sid_must_look_like_a_sid() {
        let e = call_from_params(&p(&[
            ("CallSid", "CA 1<script>"),
            ("From", "anonymous"),
            ("To", "+3225880000"),
        ]))
        .unwrap_err();
        assert!(matches!(
            e,
            TwilioError::InvalidParameter {
                name: "CallSid",
                ..
            }
        ));
    }
}
