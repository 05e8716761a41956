//! TwiML rendering, checked by parsing the output with a real XML parser (roxmltree), not only by
//! comparing strings.
#![allow(clippy::unwrap_used)]

use antirelou_core::voice::{RejectReason, VoiceHint, VoiceScript, VoiceStep};
use antirelou_twilio::twiml::{VoiceMap, empty_response, render};

/// (tag, attributes sorted, text) for each child of `<Response>`.
type Verb = (String, Vec<(String, String)>, String);

fn verbs(xml: &str) -> Vec<Verb> {
    assert!(
        xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?>"#),
        "{xml}"
    );
    let doc =
        roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("invalid XML ({e}): {xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Response");
    root.children()
        .filter(|n| n.is_element())
        .map(|n| {
            let mut attrs: Vec<(String, String)> = n
                .attributes()
                .map(|a| (a.name().to_owned(), a.value().to_owned()))
                .collect();
            attrs.sort();
            (
                n.tag_name().name().to_owned(),
                attrs,
                n.text().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

const LESSON: &str =
    "Bonjour. Ce numéro n’est pas le sien : s’il vous plaît, respectez un « non ».";

#[test]
fn french_lesson_script_ring_first() {
    let script = VoiceScript::builder()
        .say(LESSON, "fr-FR", VoiceHint::Female)
        .pause(1)
        .ring(20) // wherever it is called, ringing comes first
        .hangup()
        .build();
    let xml = render(&script, &VoiceMap::default());
    let v = verbs(&xml);
    assert_eq!(v.len(), 4, "{xml}");
    assert_eq!(
        v[0],
        ("Pause".into(), attrs(&[("length", "20")]), String::new())
    );
    assert_eq!(
        v[1],
        (
            "Say".into(),
            attrs(&[("voice", "Polly.Lea-Neural"), ("language", "fr-FR")]),
            LESSON.into()
        )
    );
    assert_eq!(
        v[2],
        ("Pause".into(), attrs(&[("length", "1")]), String::new())
    );
    assert_eq!(v[3].0, "Hangup");
    // Non-ASCII stays literal UTF-8; quotes and apostrophes in text stay literal.
    assert!(xml.contains("n’est") && xml.contains("« non »"), "{xml}");
}

#[test]
fn reject_is_alone_and_first() {
    for (reason, expected) in [
        (RejectReason::Busy, "busy"),
        (RejectReason::Rejected, "rejected"),
    ] {
        let xml = render(&VoiceScript::reject(reason), &VoiceMap::default());
        assert_eq!(
            verbs(&xml),
            vec![(
                "Reject".into(),
                attrs(&[("reason", expected)]),
                String::new()
            )]
        );
    }
}

#[test]
fn a_deserialized_script_with_reject_first_renders_only_the_reject() {
    let script: VoiceScript = serde_json::from_value(serde_json::json!({"steps": [
        {"step": "reject", "reason": "busy"},
        {"step": "say", "text": "billed!", "language": "fr-FR", "voice": "female"},
    ]}))
    .unwrap();
    let v = verbs(&render(&script, &VoiceMap::default()));
    assert_eq!(
        v,
        vec![("Reject".into(), attrs(&[("reason", "busy")]), String::new())]
    );

    // A reject after answering cannot be unbilled: it ends the call.
    let script: VoiceScript = serde_json::from_value(serde_json::json!({"steps": [
        {"step": "say", "text": "x", "language": "en-US", "voice": "male"},
        {"step": "reject", "reason": "rejected"},
        {"step": "play", "url": "https://x/y.mp3"},
    ]}))
    .unwrap();
    let v = verbs(&render(&script, &VoiceMap::default()));
    assert_eq!(
        v.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["Say", "Hangup"]
    );
}

#[test]
fn text_and_attributes_are_escaped() {
    let nasty = r#"Tom & Jerry <3 "quotes" 'apostrophes' ]]> <Hangup/>"#;
    let script = VoiceScript::builder()
        .say(nasty, "fr-FR", VoiceHint::Female)
        .play("https://example.com/a.mp3?action=getTwiml&param=dial&q=\"x\"")
        .build();
    let xml = render(&script, &VoiceMap::default());
    let v = verbs(&xml);
    assert_eq!(v.len(), 2, "injection must not create verbs: {xml}");
    assert_eq!(v[0].2, nasty);
    assert_eq!(
        v[1].2,
        "https://example.com/a.mp3?action=getTwiml&param=dial&q=\"x\""
    );
    assert!(xml.contains("Tom &amp; Jerry &lt;3"), "{xml}");
    assert!(xml.contains("action=getTwiml&amp;param=dial"), "{xml}");

    // Attribute values: a hostile voice name from a custom map.
    let map = VoiceMap::empty().with("fr-FR", "a\"b<c>&d\ne", "m");
    let xml = render(
        &VoiceScript::builder()
            .say("x", "fr-FR", VoiceHint::Female)
            .build(),
        &map,
    );
    let v = verbs(&xml);
    assert_eq!(
        v[0].1,
        attrs(&[("voice", "a\"b<c>&d\ne"), ("language", "fr-FR")]),
        "{xml}"
    );
}

#[test]
fn xml_illegal_characters_are_removed() {
    let text = "a\u{0}b\u{1}c\u{8}d\u{B}e\u{C}f\u{1F}g\u{FFFE}h\u{FFFF}i\tj\nk\u{1F600}";
    let xml = render(
        &VoiceScript::builder()
            .say(text, "en-US", VoiceHint::Male)
            .build(),
        &VoiceMap::default(),
    );
    let v = verbs(&xml);
    assert_eq!(v[0].2, "abcdefghi\tj\nk\u{1F600}");
    assert_eq!(
        v[0].1,
        attrs(&[("voice", "Polly.Matthew-Neural"), ("language", "en-US")])
    );
}

#[test]
fn voices_for_the_three_languages() {
    let m = VoiceMap::default();
    let cases = [
        ("fr-FR", VoiceHint::Female, "Polly.Lea-Neural"),
        ("fr-FR", VoiceHint::Male, "Polly.Remi-Neural"),
        ("nl-BE", VoiceHint::Female, "Polly.Lisa-Neural"),
        ("nl-BE", VoiceHint::Male, "Google.nl-BE-Wavenet-B"),
        ("en-US", VoiceHint::Female, "Polly.Joanna-Neural"),
        ("en-US", VoiceHint::Male, "Polly.Matthew-Neural"),
    ];
    for (lang, hint, voice) in cases {
        // Any case and `_` are normalised as twilio-python does.
        let script = VoiceScript::builder()
            .say("x", lang.to_lowercase().replace('-', "_"), hint)
            .build();
        let v = verbs(&render(&script, &m));
        assert_eq!(
            v[0].1,
            attrs(&[("voice", voice), ("language", lang)]),
            "{lang} {hint:?}"
        );
    }
}

#[test]
fn unknown_language_gets_no_voice_attribute() {
    let v = verbs(&render(
        &VoiceScript::builder()
            .say("Hallo", "de-DE", VoiceHint::Female)
            .build(),
        &VoiceMap::default(),
    ));
    assert_eq!(v[0].1, attrs(&[("language", "de-DE")]));
}

#[test]
fn empty_say_play_and_zero_ring() {
    let script: VoiceScript = serde_json::from_value(serde_json::json!({"steps": [
        {"step": "ring", "seconds": 0},
        {"step": "say", "text": "", "language": "fr-FR", "voice": "female"},
        {"step": "pause", "seconds": 0},
        {"step": "hangup"},
    ]}))
    .unwrap();
    let xml = render(&script, &VoiceMap::default());
    let v = verbs(&xml);
    assert_eq!(
        v.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["Say", "Hangup"],
        "{xml}"
    );
    assert!(
        xml.contains("<Say voice=\"Polly.Lea-Neural\" language=\"fr-FR\"/>"),
        "{xml}"
    );
}

#[test]
fn empty_response_parses() {
    assert!(verbs(&empty_response()).is_empty());
    assert!(
        verbs(&render(
            &VoiceScript::builder().build(),
            &VoiceMap::default()
        ))
        .is_empty()
    );
}

#[test]
fn every_step_kind_is_rendered() {
    // Guards against a new step kind silently rendering nothing.
    let script = VoiceScript::builder()
        .ring(3)
        .say("a", "nl-BE", VoiceHint::Female)
        .play("u")
        .pause(2)
        .hangup()
        .build();
    let names: Vec<String> = verbs(&render(&script, &VoiceMap::default()))
        .into_iter()
        .map(|v| v.0)
        .collect();
    assert_eq!(names, ["Pause", "Say", "Play", "Pause", "Hangup"]);
    assert!(matches!(script.steps()[0], VoiceStep::Ring { seconds: 3 }));
}
