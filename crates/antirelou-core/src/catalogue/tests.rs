use super::*;
use crate::encoding::{plan, transliterate};

fn loc(s: &str) -> Locale {
    Locale::new(s).unwrap()
}

fn strict() -> CatalogueLimits {
    CatalogueLimits {
        max_sms_segments: 2,
        require_gsm7: true,
    }
}

/// The error's full text, for assertions on what an operator reads.
fn message(r: Result<Catalogue>) -> String {
    r.unwrap_err().to_string()
}

const NEW_LOCALE: &str = r#"
[lessons.de-DE]
sms = "Hallo! Wenn du diese Nachricht liest, hast du einer Frau ein ungutes Gefuehl gegeben."
voice = "Hallo. Wenn du diese Nachricht hörst, hast du einer Frau ein ungutes Gefühl gegeben."
neutral_reply = "Hallo, wer ist da?"
voicemail_greeting = "Hallo, hier ist meine Mailbox."
out_of_service = "Kein Anschluss unter dieser Nummer."
facts_as_of = "2024-01-01"
"#;

#[test]
fn seed_constant_matches_the_reference_counts() {
    assert_eq!(SEED_FR_2017.chars().count(), 300);
    assert_eq!(SEED_FR_2017.chars().filter(|&c| c == '\u{2019}').count(), 6);
    assert_eq!(SEED_FR_2017.chars().filter(|&c| c == 'î').count(), 1);
    assert_eq!(SEED_FR_2017.matches('\'').count(), 0);
    let p = plan(SEED_FR_2017);
    assert_eq!((p.encoding, p.units, p.segments), (Encoding::Ucs2, 300, 5));
}

#[test]
fn builtin_has_the_four_locales_and_validates_strictly() {
    let c = Catalogue::builtin();
    let names: Vec<&str> = c.locales().map(Locale::as_str).collect();
    assert_eq!(names, ["en-US", "fr-BE", "fr-FR", "nl-BE"]);
    c.validate(&CatalogueLimits::default()).unwrap();
    c.validate(&strict()).unwrap();
    assert!(c.problems(&strict()).is_empty());
    for set in c.iter() {
        let p = set.sms_plan();
        assert_eq!(
            p.encoding,
            Encoding::Gsm7,
            "{}: {}",
            set.locale,
            p.describe()
        );
        assert!(p.segments <= 2, "{}: {}", set.locale, p.describe());
        let n = plan(&set.neutral_reply);
        assert_eq!(
            (n.encoding, n.segments),
            (Encoding::Gsm7, 1),
            "{}",
            set.locale
        );
        assert!(set.facts_date().is_some());
        assert_eq!(c.voice_language(&set.locale), &set.locale);
        assert!(!set.stop_keywords.is_empty() && !set.start_keywords.is_empty());
    }
}

#[test]
fn builtin_fr_fr_is_the_seed_lesson() {
    let c = Catalogue::builtin();
    let fr = c.get(&loc("fr-FR")).unwrap();
    // The SMS is the seed's variant C: transliterated, straight apostrophes and "plait".
    assert_eq!(fr.sms, transliterate(SEED_FR_2017).text);
    assert!(fr.sms.contains("s'il vous plait"));
    let p = fr.sms_plan();
    assert_eq!((p.encoding, p.units, p.segments), (Encoding::Gsm7, 300, 2));
    // The voice is the seed as typeset, only "lisez" (read) becomes "entendez" (hear).
    assert_eq!(fr.voice, SEED_FR_2017.replace("lisez", "entendez"));
    assert_eq!(fr.neutral_reply, "Coucou, c'est qui ?");
    assert_eq!(fr.stop_keywords, ["ARRET", "ARRÊT", "STOP"]);
}

#[test]
fn builtin_belgian_lessons_state_the_dated_brussels_fine() {
    let c = Catalogue::builtin();
    for (l, amount) in [("fr-BE", "350 €"), ("nl-BE", "€ 350")] {
        let set = c.get(&loc(l)).unwrap();
        assert!(set.sms.contains(amount), "{l}");
        assert_eq!(set.facts_as_of, "2017-10-31");
        assert_eq!(set.facts_date(), NaiveDate::from_ymd_opt(2017, 10, 31));
        let p = set.sms_plan();
        // € is an extension character: one char more in septets than in chars.
        assert_eq!(p.units as usize, set.sms.chars().count() + 1, "{l}");
        assert!(p.segments <= 2, "{l}: {}", p.describe());
    }
    let nl = c.get(&loc("nl-BE")).unwrap();
    assert!(nl.sms.contains("GAS-boete"));
    assert_eq!(nl.neutral_reply, "Hoi, wie is dit?");
    assert_eq!(nl.stop_keywords, ["STOP", "STOPPEN", "UITSCHRIJVEN"]);
    assert!(c.get(&loc("fr-BE")).unwrap().sms.contains("(SAC)"));
}

#[test]
fn builtin_en_us_uses_the_universal_keywords() {
    let c = Catalogue::builtin();
    let en = c.get(&loc("en-US")).unwrap();
    assert_eq!(en.neutral_reply, "Hey, who is this?");
    // Short enough for one segment: half the price of every reply.
    assert_eq!(en.sms_plan().segments, 1, "{}", en.sms_plan().describe());
    assert_eq!(en.stop_keywords, UNIVERSAL_STOP_KEYWORDS);
    assert_eq!(en.start_keywords, UNIVERSAL_START_KEYWORDS);
    assert!(en.is_stop_keyword(" quit "));
    assert!(!en.is_stop_keyword("quitting"));
    assert!(!en.is_stop_keyword(""));
}

#[test]
fn keyword_union_covers_every_locale() {
    let stop = Catalogue::builtin().stop_keywords();
    for k in [
        "STOP",
        "ARRET",
        "ARRÊT",
        "STOPPEN",
        "UITSCHRIJVEN",
        "STOPALL",
        "QUIT",
        "END",
        "CANCEL",
    ] {
        assert!(stop.contains(k), "{k}");
    }
    assert_eq!(stop.len(), 10);
    let start = Catalogue::builtin().start_keywords();
    assert_eq!(
        start.into_iter().collect::<Vec<_>>(),
        ["START", "UNSTOP", "YES"]
    );
}

#[test]
fn partial_override_changes_only_the_given_fields() {
    let toml = "[lessons.fr_fr]\nneutral_reply = \"  Salut, c'est qui ?\\n\"\nstop_keywords = [\"arrêt\", \"Stop\", \"STOP\"]\n";
    let c = Catalogue::builtin().merge_toml(toml, &strict()).unwrap();
    let fr = c.get(&loc("fr-FR")).unwrap();
    assert_eq!(fr.neutral_reply, "Salut, c'est qui ?"); // trimmed
    assert_eq!(fr.stop_keywords, ["ARRÊT", "STOP"]); // upper-cased, deduplicated
    assert_eq!(fr.sms, Catalogue::builtin().get(&loc("fr-FR")).unwrap().sms);
    assert_eq!(c.len(), 4);
}

#[test]
fn a_new_locale_can_be_added_or_loaded_alone() {
    let c = Catalogue::builtin()
        .merge_toml(NEW_LOCALE, &strict())
        .unwrap();
    assert_eq!(c.len(), 5);
    let de = c.get(&loc("de-DE")).unwrap();
    assert_eq!(de.facts_as_of, "2024-01-01");
    assert!(de.stop_keywords.is_empty());
    let alone = Catalogue::from_toml(NEW_LOCALE, &strict()).unwrap();
    assert_eq!(alone.len(), 1);
    assert_eq!(alone.get(&loc("de-DE")), Some(de));
}

#[test]
fn voice_language_can_be_set() {
    let toml = "[lessons.fr-BE]\nvoice_language = \"fr_fr\"\n";
    let c = Catalogue::builtin().merge_toml(toml, &strict()).unwrap();
    assert_eq!(c.voice_language(&loc("fr-BE")).as_str(), "fr-FR");
    assert_eq!(c.voice_language(&loc("nl-BE")).as_str(), "nl-BE");
    // Kept through a TOML round trip.
    let back = Catalogue::from_toml(&c.to_toml().unwrap(), &strict()).unwrap();
    assert_eq!(back, c);
    let err = message(
        Catalogue::builtin()
            .merge_toml("[lessons.fr-BE]\nvoice_language = \"belgian\"\n", &strict()),
    );
    assert_eq!(
        err,
        "catalogue entry \"fr-BE.voice_language\": \"belgian\" is not a locale; a locale is language-REGION, e.g. fr-FR"
    );
}

#[test]
fn toml_round_trip_gives_back_the_builtin() {
    let text = Catalogue::builtin().to_toml().unwrap();
    assert!(text.contains("[lessons.fr-FR]"), "{text}");
    let back = Catalogue::from_toml(&text, &strict()).unwrap();
    assert_eq!(back, Catalogue::builtin());
}

#[test]
fn lookup_falls_back_to_the_language() {
    let c = Catalogue::builtin();
    assert_eq!(c.lookup(&loc("fr-BE")).unwrap().locale.as_str(), "fr-BE");
    assert_eq!(c.lookup(&loc("fr-CH")).unwrap().locale.as_str(), "fr-FR");
    assert_eq!(c.lookup(&loc("en-GB")).unwrap().locale.as_str(), "en-US");
    assert!(c.lookup(&loc("es-ES")).is_none());
}

// ---- errors an operator reads ------------------------------------------------------------

#[test]
fn error_too_many_segments_names_the_entry_and_the_culprits() {
    let toml = format!("[lessons.fr-FR]\nsms = \"{SEED_FR_2017}\"\n");
    assert_eq!(
        message(Catalogue::builtin().merge_toml(&toml, &CatalogueLimits::default())),
        "catalogue entry \"fr-FR.sms\": 5 segments (UCS-2 because of '’', 'î'), more than the maximum of 2; \
         transliterate or shorten it"
    );
    // Allowed with a budget of 5…
    let c = Catalogue::builtin()
        .merge_toml(
            &toml,
            &CatalogueLimits {
                max_sms_segments: 5,
                require_gsm7: false,
            },
        )
        .unwrap();
    assert_eq!(c.get(&loc("fr-FR")).unwrap().sms_plan().segments, 5);
    // …but not when GSM-7 is required.
    assert_eq!(
        message(Catalogue::builtin().merge_toml(
            &toml,
            &CatalogueLimits {
                max_sms_segments: 5,
                require_gsm7: true
            }
        )),
        "catalogue entry \"fr-FR.sms\": UCS-2 because of '’', 'î' while require_gsm7 is set; transliterate it \
         (antirelou_core::encoding::transliterate) or replace those characters"
    );
    // GSM-7 but too long.
    let toml = format!("[lessons.en-US]\nsms = \"{}\"\n", "a".repeat(307));
    assert_eq!(
        message(Catalogue::builtin().merge_toml(&toml, &CatalogueLimits::default())),
        "catalogue entry \"en-US.sms\": 3 segments (GSM-7, 307 septets), more than the maximum of 2; shorten it"
    );
}

#[test]
fn error_neutral_reply_must_fit_one_segment() {
    let toml = format!(
        "[lessons.nl-BE]\nneutral_reply = \"{}\"\n",
        "Hoi! ".repeat(33)
    );
    assert_eq!(
        message(Catalogue::builtin().merge_toml(&toml, &CatalogueLimits::default())),
        "catalogue entry \"nl-BE.neutral_reply\": 2 segments (GSM-7, 164 septets), but a neutral reply must fit \
         in one segment; shorten it"
    );
}

#[test]
fn error_bad_locale() {
    let toml = NEW_LOCALE.replace("de-DE", "german");
    assert_eq!(
        message(Catalogue::from_toml(&toml, &CatalogueLimits::default())),
        "catalogue entry \"german\": \"german\" is not a locale; a locale is language-REGION, e.g. fr-FR"
    );
    assert!(Locale::new("fr-FRA").is_err());
    assert!(Locale::new("f-FR").is_err());
    assert!(Locale::new("fr-F1").is_err());
}

#[test]
fn error_empty_text() {
    let toml = "[lessons.en-US]\nvoicemail_greeting = \"   \"\n";
    assert_eq!(
        message(Catalogue::builtin().merge_toml(toml, &CatalogueLimits::default())),
        "catalogue entry \"en-US.voicemail_greeting\": empty; every text of a locale must be written"
    );
}

#[test]
fn error_bad_date() {
    for bad in ["2017-13-45", "31/10/2017", "17-10-31", "2017-02-29", "soon"] {
        let toml = format!("[lessons.fr-BE]\nfacts_as_of = \"{bad}\"\n");
        assert_eq!(
            message(Catalogue::builtin().merge_toml(&toml, &CatalogueLimits::default())),
            format!(
                "catalogue entry \"fr-BE.facts_as_of\": \"{bad}\" is not a date; write the date of the legal facts \
                 as yyyy-mm-dd, e.g. 2017-10-31"
            )
        );
    }
}

#[test]
fn error_toml_syntax_carries_the_line() {
    let toml = "[lessons.fr-FR]\nneutral_reply = \"Coucou\"\nsms = \"unterminated\n";
    let err = message(Catalogue::builtin().merge_toml(toml, &CatalogueLimits::default()));
    assert!(
        err.starts_with("catalogue entry \"TOML\": TOML parse error at line 3"),
        "{err}"
    );
}

#[test]
fn error_unknown_field_carries_the_line() {
    let toml = "[lessons.fr-FR]\n\nneutral_replly = \"Coucou\"\n";
    let err = message(Catalogue::builtin().merge_toml(toml, &CatalogueLimits::default()));
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("unknown field `neutral_replly`"), "{err}");
}

#[test]
fn error_new_locale_must_be_complete() {
    let toml = NEW_LOCALE.replace("facts_as_of = \"2024-01-01\"\n", "");
    assert_eq!(
        message(Catalogue::builtin().merge_toml(&toml, &CatalogueLimits::default())),
        "catalogue entry \"de-DE.facts_as_of\": missing; a new locale must give sms, voice, neutral_reply, \
         voicemail_greeting, out_of_service and facts_as_of"
    );
}

#[test]
fn error_duplicate_locale_spellings() {
    let toml = "[lessons.fr-FR]\nneutral_reply = \"A\"\n[lessons.fr_FR]\nneutral_reply = \"B\"\n";
    assert_eq!(
        message(Catalogue::builtin().merge_toml(toml, &CatalogueLimits::default())),
        "catalogue entry \"fr_FR\": same locale as \"fr-FR\" (fr-FR); give each locale once"
    );
}

#[test]
fn error_keywords_and_control_characters() {
    let toml = "[lessons.en-US]\nstop_keywords = [\"STOP NOW\"]\n";
    assert_eq!(
        message(Catalogue::builtin().merge_toml(toml, &CatalogueLimits::default())),
        "catalogue entry \"en-US.stop_keywords\": \"STOP NOW\" is not a single word"
    );
    let toml = "[lessons.en-US]\nstart_keywords = [\"STOP\"]\n";
    assert_eq!(
        message(Catalogue::builtin().merge_toml(toml, &CatalogueLimits::default())),
        "catalogue entry \"en-US.start_keywords\": \"STOP\" is also a stop keyword"
    );
    let toml = "[lessons.en-US]\nsms = \"Hi\\u0007there\"\n";
    assert_eq!(
        message(Catalogue::builtin().merge_toml(toml, &CatalogueLimits::default())),
        "catalogue entry \"en-US.sms\": contains the control character U+0007; remove it"
    );
}

#[test]
fn error_voice_too_long() {
    let toml = format!("[lessons.en-US]\nvoice = \"{}\"\n", "blah ".repeat(301));
    assert_eq!(
        message(Catalogue::builtin().merge_toml(&toml, &CatalogueLimits::default())),
        "catalogue entry \"en-US.voice\": 1504 characters, more than the 1500 a text-to-speech request accepts; \
         shorten it"
    );
}

#[test]
fn error_empty_catalogue_and_zero_budget() {
    assert_eq!(
        message(Catalogue::from_toml("", &CatalogueLimits::default())),
        "catalogue entry \"catalogue\": no lesson; give at least one [lessons.<locale>] table"
    );
    let zero = CatalogueLimits {
        max_sms_segments: 0,
        require_gsm7: false,
    };
    let err = Catalogue::builtin().validate(&zero).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[test]
fn problems_lists_every_faulty_entry() {
    let mut c = Catalogue::builtin();
    let mut fr = c.get(&loc("fr-FR")).unwrap().clone();
    fr.sms = SEED_FR_2017.to_owned();
    fr.facts_as_of = "someday".into();
    c.insert(fr);
    let mut en = c.get(&loc("en-US")).unwrap().clone();
    en.out_of_service.clear();
    c.insert(en);
    let entries: Vec<String> = c
        .problems(&CatalogueLimits::default())
        .into_iter()
        .map(|e| match e {
            Error::Catalogue { entry, .. } => entry,
            other => other.to_string(),
        })
        .collect();
    assert_eq!(
        entries,
        ["en-US.out_of_service", "fr-FR.sms", "fr-FR.facts_as_of"]
    );
}

#[test]
fn limits_deserialize_with_defaults() {
    let l: CatalogueLimits = toml::from_str("require_gsm7 = true").unwrap();
    assert_eq!(
        l,
        CatalogueLimits {
            max_sms_segments: 2,
            require_gsm7: true
        }
    );
    let l: CatalogueLimits = toml::from_str("").unwrap();
    assert_eq!(l, CatalogueLimits::default());
}

#[test]
fn every_builtin_locale_has_a_one_segment_gsm7_short_form() {
    let c = Catalogue::builtin();
    for l in ["fr-FR", "fr-BE", "nl-BE", "en-US"] {
        let set = c.get(&loc(l)).unwrap();
        let short = set.sms_short.as_deref().unwrap();
        let p = plan(short);
        assert_eq!(
            (p.encoding, p.segments),
            (Encoding::Gsm7, 1),
            "{l}: {short}"
        );
    }
    assert!(c.validate(&strict()).is_ok());
}

#[test]
fn a_short_form_must_be_exactly_one_gsm7_segment_and_is_optional() {
    let toml = format!("[lessons.en-US]\nsms_short = \"{}\"\n", "a".repeat(161));
    assert_eq!(
        message(Catalogue::builtin().merge_toml(&toml, &CatalogueLimits::default())),
        "catalogue entry \"en-US.sms_short\": 2 segments (GSM-7, 161 septets), but a short form \
         must be exactly one; shorten it"
    );
    let toml = "[lessons.en-US]\nsms_short = \"Respect her no\u{2019}s\"\n";
    assert!(
        message(Catalogue::builtin().merge_toml(toml, &CatalogueLimits::default()))
            .starts_with("catalogue entry \"en-US.sms_short\": UCS-2 because of '’'")
    );
    let toml = "[lessons.en-US]\nsms_short = \"  Respect her no.  \"\n";
    let c = Catalogue::builtin()
        .merge_toml(toml, &CatalogueLimits::default())
        .unwrap();
    assert_eq!(
        c.get(&loc("en-US")).unwrap().sms_short.as_deref(),
        Some("Respect her no.")
    );
    // A new locale without a short form is valid.
    let c = Catalogue::from_toml(NEW_LOCALE, &strict()).unwrap();
    assert_eq!(c.get(&loc("de-DE")).unwrap().sms_short, None);
}
