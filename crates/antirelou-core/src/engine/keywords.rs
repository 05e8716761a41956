//! STOP / START keywords.
//!
//! A text is a keyword when its whole body, trimmed of spaces and trailing punctuation, is one
//! word of the list, compared case-insensitively and without accents (`Arrêt`, `ARRET` and
//! `arret` are the same word). The universal lists follow carrier practice (CTIA in the USA,
//! the French `STOP` / `ARRET`); each locale's [`LessonSet`](crate::catalogue::LessonSet) adds
//! its own.

/// Universal opt-out words.
pub const STOP_WORDS: [&str; 9] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "ARRET",
    "REVOKE",
    "OPTOUT",
];

/// Universal opt-in words.
pub const START_WORDS: [&str; 3] = ["START", "UNSTOP", "RESUME"];

/// What a text asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyword {
    /// Opt out: never text me again.
    Stop,
    /// Opt back in.
    Start,
}

/// Normalise a word for comparison: trimmed, upper case, accents removed.
///
/// ```
/// use antirelou_core::engine::keywords::normalize;
/// assert_eq!(normalize("  Arrêt. "), "ARRET");
/// assert_eq!(normalize("désabonner"), "DESABONNER");
/// ```
pub fn normalize(word: &str) -> String {
    let t = word.trim().trim_end_matches(|c: char| {
        matches!(c, '.' | '!' | '?' | ',' | ';' | ':') || c.is_whitespace()
    });
    t.trim_start().chars().flat_map(fold).collect()
}

/// Upper-case a character and drop its accent (Latin letters only; others are upper-cased).
fn fold(c: char) -> impl Iterator<Item = char> {
    let base = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'A',
        'ç' | 'Ç' => 'C',
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'E',
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'I',
        'ñ' | 'Ñ' => 'N',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' => 'O',
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'U',
        'ý' | 'ÿ' | 'Ý' => 'Y',
        other => other,
    };
    base.to_uppercase()
}

/// A number's keyword lists: the universal words plus its locale's, normalised once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeywordSet {
    stop: Vec<String>,
    start: Vec<String>,
}

impl KeywordSet {
    /// The universal words plus `extra_stop` and `extra_start`.
    ///
    /// ```
    /// use antirelou_core::engine::keywords::{Keyword, KeywordSet};
    /// let k = KeywordSet::new(&["DESINSCRIRE".to_owned()], &[]);
    /// assert_eq!(k.classify("arrêt"), Some(Keyword::Stop));
    /// assert_eq!(k.classify("Désinscrire"), Some(Keyword::Stop));
    /// assert_eq!(k.classify(" start "), Some(Keyword::Start));
    /// assert_eq!(k.classify("stop it please"), None);
    /// ```
    pub fn new(extra_stop: &[String], extra_start: &[String]) -> Self {
        let mut stop: Vec<String> = STOP_WORDS.iter().map(|w| normalize(w)).collect();
        stop.extend(
            extra_stop
                .iter()
                .map(|w| normalize(w))
                .filter(|w| !w.is_empty()),
        );
        let mut start: Vec<String> = START_WORDS.iter().map(|w| normalize(w)).collect();
        start.extend(
            extra_start
                .iter()
                .map(|w| normalize(w))
                .filter(|w| !w.is_empty()),
        );
        stop.sort();
        stop.dedup();
        start.sort();
        start.dedup();
        KeywordSet { stop, start }
    }

    /// What `body` asks for, if it is a single keyword. Bodies longer than any keyword are not
    /// even normalised.
    pub fn classify(&self, body: &str) -> Option<Keyword> {
        if body.len() > 64 {
            return None;
        }
        let w = normalize(body);
        if w.is_empty() || w.contains(char::is_whitespace) {
            return None;
        }
        if self.stop.contains(&w) {
            Some(Keyword::Stop)
        } else if self.start.contains(&w) {
            Some(Keyword::Start)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn universal_words_in_any_case() {
        let k = KeywordSet::new(&[], &[]);
        for w in [
            "STOP",
            "stop",
            "Stop!",
            "STOPALL",
            "unsubscribe",
            "Cancel",
            "end",
            "QUIT",
            "ARRÊT",
            "arret",
            "Arrêt.",
        ] {
            assert_eq!(k.classify(w), Some(Keyword::Stop), "{w}");
        }
        for w in ["START", "unstop", "Start."] {
            assert_eq!(k.classify(w), Some(Keyword::Start), "{w}");
        }
        for w in ["", "   ", "stopp", "please stop", "STOP STOP", "salut"] {
            assert_eq!(k.classify(w), None, "{w:?}");
        }
    }

    #[test]
    fn locale_words_are_added() {
        let k = KeywordSet::new(&["Désabonner".into()], &["Réabonner".into()]);
        assert_eq!(k.classify("desabonner"), Some(Keyword::Stop));
        assert_eq!(k.classify("REABONNER"), Some(Keyword::Start));
        let plain = KeywordSet::new(&[], &[]);
        assert_eq!(plain.classify("desabonner"), None);
    }

    #[test]
    fn long_bodies_are_not_keywords() {
        let k = KeywordSet::new(&[], &[]);
        assert_eq!(k.classify(&"STOP".repeat(40)), None);
    }
}
