//! The built-in lessons: `fr-FR`, `fr-BE`, `nl-BE`, `en-US`.
//!
//! Every SMS text here is GSM-7 and at most two segments (checked by the tests), because each
//! segment is paid on every reply. Spoken texts may use any character.

use super::{LessonSet, Locale};

/// The French lesson of the 2017 "06 anti-relous", as typeset in the press (Paris Match
/// Belgique, October 2017): 300 characters with six curly apostrophes `’` (U+2019) and `î` in
/// "plaît". Sent as is it is UCS-2 and costs **5 segments**; see
/// [`crate::encoding::transliterate`] for its 2-segment GSM-7 form, which is the built-in `fr-FR`
/// SMS.
pub const SEED_FR_2017: &str = "Oh, bonjour ! Si vous lisez ce message, c\u{2019}est que vous avez mis une femme mal à l\u{2019}aise. Avec vous, elle ne s\u{2019}est pas sentie en sécurité, elle ne s\u{2019}est pas sentie respectée. Apprenez s\u{2019}il vous plaît à accepter un non comme réponse. Respectez l\u{2019}autonomie des femmes dans leurs actes et décisions. Merci";

/// The English opt-out keywords that carriers and messaging providers commonly enforce on their
/// own on long codes (the US industry set: `STOP`, `STOPALL`, `UNSUBSCRIBE`, `CANCEL`, `END`,
/// `QUIT`). The engine honours them on every number, whatever its locale, so that its own
/// opt-out record never lags behind a block the network may already apply: a sender who wrote
/// one of them is not texted again. Matching is on the whole trimmed text, case-insensitive
/// ([`LessonSet::is_stop_keyword`](super::LessonSet::is_stop_keyword)). An adapter whose provider
/// enforces more words checks in its own tests that they are covered here or in the locales.
pub const UNIVERSAL_STOP_KEYWORDS: &[&str] =
    &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];

/// The English opt-in keywords commonly enforced with [`UNIVERSAL_STOP_KEYWORDS`] (`START`,
/// `YES`, `UNSTOP`): a sender who writes one is no longer treated as opted out.
pub const UNIVERSAL_START_KEYWORDS: &[&str] = &["START", "YES", "UNSTOP"];

const FR_STOP: &[&str] = &["ARRET", "ARRÊT", "STOP"];
const NL_STOP: &[&str] = &["STOP", "STOPPEN", "UITSCHRIJVEN"];
const START: &[&str] = &["START", "UNSTOP", "YES"];

// --- Short forms: one GSM-7 segment each (checked by the tests), sent under budget pressure.

const FR_FR_SHORT: &str = "Si vous lisez ce message, vous avez mis une femme mal à l'aise. Apprenez à accepter un non comme réponse. Respectez les femmes. Merci";
const FR_BE_SHORT: &str = "Si vous lisez ce message, vous avez mis une femme mal à l'aise. Apprenez à accepter un non comme réponse. Respectez les femmes. Merci";
const NL_BE_SHORT: &str = "Als u dit leest, heeft u een vrouw een onveilig gevoel gegeven. Leer een nee als antwoord te aanvaarden. Respecteer vrouwen. Bedankt";
const EN_US_SHORT: &str = "If you are reading this, you made a woman uncomfortable. Learn to accept no for an answer. Respect women's choices. Thank you";

// --- fr-FR ----------------------------------------------------------------------------------

/// The seed lesson in GSM-7: straight apostrophes and "plait" (1990 spelling). 300 septets,
/// 2 segments.
const FR_FR_SMS: &str = "Oh, bonjour ! Si vous lisez ce message, c'est que vous avez mis une femme mal à l'aise. Avec vous, elle ne s'est pas sentie en sécurité, elle ne s'est pas sentie respectée. Apprenez s'il vous plait à accepter un non comme réponse. Respectez l'autonomie des femmes dans leurs actes et décisions. Merci";

/// The seed lesson as typeset, spoken: only "lisez" (read) becomes "entendez" (hear).
const FR_FR_VOICE: &str = "Oh, bonjour ! Si vous entendez ce message, c\u{2019}est que vous avez mis une femme mal à l\u{2019}aise. Avec vous, elle ne s\u{2019}est pas sentie en sécurité, elle ne s\u{2019}est pas sentie respectée. Apprenez s\u{2019}il vous plaît à accepter un non comme réponse. Respectez l\u{2019}autonomie des femmes dans leurs actes et décisions. Merci";

// --- fr-BE ----------------------------------------------------------------------------------

const FR_BE_SMS: &str = "Bonjour ! Si vous lisez ce message, c'est que vous avez mis une femme mal à l'aise. Avec vous, elle ne s'est sentie ni en sécurité ni respectée. Apprenez à accepter un non comme réponse. Le harcèlement de rue est passible à Bruxelles d'une amende administrative (SAC) allant jusqu'à 350 €. Merci";

const FR_BE_VOICE: &str = "Bonjour. Si vous entendez ce message, c\u{2019}est que vous avez mis une femme mal à l\u{2019}aise. Avec vous, elle ne s\u{2019}est sentie ni en sécurité, ni respectée. Apprenez à accepter un non comme réponse, et respectez l\u{2019}autonomie des femmes dans leurs actes et leurs décisions. Sachez aussi qu\u{2019}à Bruxelles, le harcèlement de rue est puni : dès quatorze ans, son auteur risque une sanction administrative communale, une amende pouvant aller jusqu\u{2019}à trois cent cinquante euros. Merci.";

// --- nl-BE ----------------------------------------------------------------------------------

const NL_BE_SMS: &str = "Hallo! Als je dit bericht leest, heb je een vrouw een ongemakkelijk gevoel gegeven. Bij jou voelde ze zich niet veilig en niet gerespecteerd. Leer een nee als antwoord te aanvaarden. In Brussel kan straatintimidatie bestraft worden met een GAS-boete tot € 350. Respecteer vrouwen. Bedankt";

const NL_BE_VOICE: &str = "Hallo. Als je dit bericht hoort, heb je een vrouw een ongemakkelijk gevoel gegeven. Bij jou voelde ze zich niet veilig en niet gerespecteerd. Leer een nee als antwoord te aanvaarden, en respecteer de keuzes die vrouwen maken. Weet ook dat straatintimidatie in Brussel strafbaar is: vanaf veertien jaar riskeer je een gemeentelijke administratieve sanctie: een boete tot driehonderdvijftig euro. Bedankt.";

// --- en-US ----------------------------------------------------------------------------------

/// One segment (155 septets): half the price of the French lesson.
const EN_US_SMS: &str = "Hi! If you are reading this, you made a woman feel uncomfortable. She did not feel safe or respected around you. Learn to accept no as an answer. Thank you";

const EN_US_VOICE: &str = "Hi there. If you are hearing this message, you made a woman feel uncomfortable. She did not feel safe or respected around you. Please learn to accept no as an answer, and respect women\u{2019}s autonomy in their actions and decisions. Thank you.";

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

struct Texts {
    locale: &'static str,
    sms: &'static str,
    sms_short: &'static str,
    voice: &'static str,
    neutral_reply: &'static str,
    voicemail_greeting: &'static str,
    out_of_service: &'static str,
    facts_as_of: &'static str,
    stop: &'static [&'static str],
    start: &'static [&'static str],
}

impl Texts {
    fn into_set(self) -> LessonSet {
        LessonSet {
            // The literals above are well-formed `ll-RR` locales (checked by the tests).
            locale: Locale(self.locale.to_owned()),
            sms: self.sms.to_owned(),
            sms_short: Some(self.sms_short.to_owned()),
            voice: self.voice.to_owned(),
            neutral_reply: self.neutral_reply.to_owned(),
            voicemail_greeting: self.voicemail_greeting.to_owned(),
            out_of_service: self.out_of_service.to_owned(),
            facts_as_of: self.facts_as_of.to_owned(),
            stop_keywords: words(self.stop),
            start_keywords: words(self.start),
        }
    }
}

/// The built-in lesson sets.
pub(super) fn lessons() -> Vec<LessonSet> {
    vec![
        Texts {
            locale: "fr-FR",
            sms: FR_FR_SMS,
            sms_short: FR_FR_SHORT,
            voice: FR_FR_VOICE,
            neutral_reply: "Coucou, c'est qui ?",
            voicemail_greeting: "Bonjour, vous êtes bien sur ma messagerie. Laissez-moi un message et je vous rappelle.",
            out_of_service: "Le numéro de votre correspondant n'est plus attribué.",
            // The lesson states no legal fact; this is the date of the 2017 text.
            facts_as_of: "2017-10-27",
            stop: FR_STOP,
            start: START,
        }
        .into_set(),
        Texts {
            locale: "fr-BE",
            sms: FR_BE_SMS,
            sms_short: FR_BE_SHORT,
            voice: FR_BE_VOICE,
            neutral_reply: "Coucou, c'est qui ?",
            voicemail_greeting: "Bonjour, vous êtes bien sur ma boîte vocale. Laissez-moi un message et je vous rappelle.",
            out_of_service: "Le numéro que vous avez formé n'est plus attribué.",
            // Brussels SAC fines up to €350 from age 14, as reported by Touche Pas À Ma Pote.
            facts_as_of: "2017-10-31",
            stop: FR_STOP,
            start: START,
        }
        .into_set(),
        Texts {
            locale: "nl-BE",
            sms: NL_BE_SMS,
            sms_short: NL_BE_SHORT,
            voice: NL_BE_VOICE,
            neutral_reply: "Hoi, wie is dit?",
            voicemail_greeting: "Hallo, je bent op mijn voicemail. Laat een berichtje achter, dan bel ik je terug.",
            out_of_service: "Het nummer dat u hebt gevormd, is niet meer in gebruik.",
            facts_as_of: "2017-10-31",
            stop: NL_STOP,
            start: START,
        }
        .into_set(),
        Texts {
            locale: "en-US",
            sms: EN_US_SMS,
            sms_short: EN_US_SHORT,
            voice: EN_US_VOICE,
            neutral_reply: "Hey, who is this?",
            voicemail_greeting: "Hi, you've reached my voicemail. Leave me a message and I'll call you back.",
            out_of_service: "The number you have dialed is not in service. Please check the number and try again.",
            // The lesson states no legal fact; this is the date of the 2017 text.
            facts_as_of: "2017-10-27",
            stop: UNIVERSAL_STOP_KEYWORDS,
            start: UNIVERSAL_START_KEYWORDS,
        }
        .into_set(),
    ]
}
