//! TeXML rendering: every step, the reject rule, hostile text.
#![allow(clippy::unwrap_used)]

use antirelou_core::voice::{RejectReason, VoiceHint, VoiceScript, VoiceStep};
use antirelou_telnyx::texml::{default_voices, render};

fn script(steps: Vec<VoiceStep>) -> VoiceScript {
    serde_json::from_value(serde_json::json!({ "steps": steps })).unwrap()
}

#[test]
fn a_leading_reject_renders_alone() {
    for (reason, attr) in [
        (RejectReason::Busy, "busy"),
        (RejectReason::Rejected, "rejected"),
    ] {
        assert_eq!(
            render(&VoiceScript::reject(reason), &default_voices()),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Reject reason=\"{attr}\"/></Response>"
            )
        );
    }
    let s = script(vec![
        VoiceStep::Reject {
            reason: RejectReason::Busy,
        },
        VoiceStep::Say {
            text: "x".into(),
            language: "fr-FR".into(),
            voice: VoiceHint::Female,
        },
    ]);
    assert!(
        render(&s, &default_voices()).ends_with("<Response><Reject reason=\"busy\"/></Response>")
    );
}

#[test]
fn a_late_reject_hangs_up_and_ends_the_document() {
    let s = script(vec![
        VoiceStep::Pause { seconds: 1 },
        VoiceStep::Reject {
            reason: RejectReason::Busy,
        },
        VoiceStep::Say {
            text: "never".into(),
            language: "fr-FR".into(),
            voice: VoiceHint::Female,
        },
    ]);
    let xml = render(&s, &default_voices());
    assert!(
        xml.ends_with("<Pause length=\"1\"/><Hangup/></Response>"),
        "{xml}"
    );
    assert!(!xml.contains("Reject") && !xml.contains("never"));
}

#[test]
fn every_step_renders() {
    let s = script(vec![
        VoiceStep::Ring { seconds: 500 },
        VoiceStep::Say {
            text: "Hello".into(),
            language: "en_us".into(),
            voice: VoiceHint::Male,
        },
        VoiceStep::Say {
            text: "Hallo".into(),
            language: "de-DE".into(),
            voice: VoiceHint::Female,
        },
        VoiceStep::Play {
            url: "https://example.com/a.mp3?x=1&y=2".into(),
        },
        VoiceStep::Pause { seconds: 0 },
        VoiceStep::Pause { seconds: 2 },
        VoiceStep::Hangup,
    ]);
    assert_eq!(
        render(&s, &default_voices()),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Pause length=\"180\"/>\
         <Say voice=\"Polly.Matthew-Neural\" language=\"en-US\">Hello</Say>\
         <Say voice=\"alice\" language=\"de-DE\">Hallo</Say>\
         <Play>https://example.com/a.mp3?x=1&amp;y=2</Play><Pause length=\"2\"/><Hangup/></Response>"
    );
}

#[test]
fn hostile_text_cannot_escape_its_element() {
    let hostile = "</Say><Dial>+33612345678</Dial><Say>\u{0}\u{1b}]]><!-- &amp; \"'";
    let lang = "fr\"><Hangup/><x a=\"";
    let s = VoiceScript::builder()
        .say(hostile, lang, VoiceHint::Female)
        .build();
    let xml = render(&s, &default_voices());
    assert!(
        !xml.contains("<Dial>") && !xml.contains("<Hangup/>"),
        "{xml}"
    );
    assert!(!xml.contains('\u{0}') && !xml.contains('\u{1b}'));
    // Exactly one Say element, and its text decodes back to the input less forbidden characters.
    assert_eq!(xml.matches("<Say ").count(), 1);
    let start = xml.find("\">").unwrap() + 2;
    let inner = &xml[start..xml.rfind("</Say>").unwrap()];
    let decoded = inner
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    assert_eq!(decoded, hostile.replace(['\u{0}', '\u{1b}'], ""));
}
