//! The SMS encoding planner: GSM-7 or UCS-2, units, segments, cost, and opt-in transliteration
//! to GSM-7.
//!
//! Facts (3GPP TS 23.038 / GSM 03.38): a single SMS carries 160 GSM-7 septets or 70 UCS-2 units;
//! a concatenated one 153 or 67 per segment (the 6-byte UDH). Extension-table characters
//! (`^ { } \ [ ~ ] | €` and form feed) cost two septets. Astral characters (emoji) cost two UCS-2
//! units. One character outside GSM-7 switches the whole message to UCS-2.
//!
//! Why it matters: the French number of 2017 paid **two** segments for each of ~16,000 troll
//! texts. Its lesson, as typeset (curly `’`, `î` in "plaît"), is UCS-2 and costs **five**
//! segments; [`transliterate`] brings it to GSM-7 and **two** segments:
//!
//! ```
//! use antirelou_core::encoding::{plan, transliterate, Encoding};
//! let typeset = "Apprenez s’il vous plaît à accepter un non comme réponse.";
//! assert_eq!(plan(typeset).encoding, Encoding::Ucs2);
//! let t = transliterate(typeset);
//! assert_eq!(t.text, "Apprenez s'il vous plait à accepter un non comme réponse.");
//! assert_eq!(t.plan().encoding, Encoding::Gsm7);
//! assert_eq!(t.changes.len(), 2);
//! ```

use crate::money::Money;

/// GSM 03.38 basic character set, in code order (0x1B, the escape, is left out). This is the
/// reference table; [`is_gsm7_basic`] is a faster equivalent checked against it in the tests.
pub const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// GSM 03.38 extension table: each costs two septets (escape + code).
pub const GSM7_EXTENSION: &str = "\u{000C}^{}\\[~]|€";

/// Septets in a single-segment GSM-7 message.
pub const GSM7_SINGLE: u32 = 160;
/// Septets per segment of a concatenated GSM-7 message.
pub const GSM7_MULTI: u32 = 153;
/// UTF-16 units in a single-segment UCS-2 message.
pub const UCS2_SINGLE: u32 = 70;
/// UTF-16 units per segment of a concatenated UCS-2 message.
pub const UCS2_MULTI: u32 = 67;

/// How a text is encoded on the air.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// The GSM 7-bit default alphabet (160 / 153 per segment).
    Gsm7,
    /// UCS-2 / UTF-16 (70 / 67 per segment).
    Ucs2,
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        })
    }
}

/// Whether `c` is in the GSM-7 basic table.
///
/// ```
/// use antirelou_core::encoding::is_gsm7_basic;
/// assert!(is_gsm7_basic('é') && is_gsm7_basic('Ç') && is_gsm7_basic('@'));
/// assert!(!is_gsm7_basic('ç') && !is_gsm7_basic('î') && !is_gsm7_basic('€'));
/// ```
pub fn is_gsm7_basic(c: char) -> bool {
    if c.is_ascii() {
        matches!(c, '\n' | '\r' | ' '..='~')
            && !matches!(c, '`' | '^' | '{' | '}' | '\\' | '[' | ']' | '~' | '|')
    } else {
        matches!(
            c,
            '£' | '¥'
                | 'è'
                | 'é'
                | 'ù'
                | 'ì'
                | 'ò'
                | 'Ç'
                | 'Ø'
                | 'ø'
                | 'Å'
                | 'å'
                | 'Δ'
                | 'Φ'
                | 'Γ'
                | 'Λ'
                | 'Ω'
                | 'Π'
                | 'Ψ'
                | 'Σ'
                | 'Θ'
                | 'Ξ'
                | 'Æ'
                | 'æ'
                | 'ß'
                | 'É'
                | '¤'
                | '¡'
                | 'Ä'
                | 'Ö'
                | 'Ñ'
                | 'Ü'
                | '§'
                | '¿'
                | 'ä'
                | 'ö'
                | 'ñ'
                | 'ü'
                | 'à'
        )
    }
}

/// Whether `c` is in the GSM-7 extension table (costs two septets).
///
/// ```
/// use antirelou_core::encoding::is_gsm7_extension;
/// assert!(is_gsm7_extension('€') && is_gsm7_extension('['));
/// assert!(!is_gsm7_extension('e'));
/// ```
pub fn is_gsm7_extension(c: char) -> bool {
    matches!(
        c,
        '\u{000C}' | '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '€'
    )
}

/// Whether `c` can be sent in GSM-7 at all.
pub fn is_gsm7(c: char) -> bool {
    is_gsm7_basic(c) || is_gsm7_extension(c)
}

/// Septets `c` costs in GSM-7 (1 or 2), or `None` if it forces UCS-2.
pub fn gsm7_septets(c: char) -> Option<u32> {
    if is_gsm7_basic(c) {
        Some(1)
    } else if is_gsm7_extension(c) {
        Some(2)
    } else {
        None
    }
}

/// The plan for sending a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsPlan {
    /// The encoding the whole message needs.
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 units (UCS-2).
    pub units: u32,
    /// Segments billed.
    pub segments: u32,
    /// The distinct characters that forced UCS-2, in order of first appearance.
    pub non_gsm: Vec<char>,
    /// Units still free in the last segment (see [`SmsPlan::spare_units`]).
    spare: u32,
}

impl SmsPlan {
    /// The cost of sending this text once at `price_per_segment`.
    ///
    /// ```
    /// use antirelou_core::{encoding::plan, Money};
    /// // 2017: €0.07627 per segment, a 2-segment reply.
    /// let p = plan(&"a".repeat(300));
    /// assert_eq!(p.cost(Money::from_micros(76_270)), Money::from_micros(152_540));
    /// ```
    pub fn cost(&self, price_per_segment: Money) -> Money {
        price_per_segment * self.segments
    }

    /// Units still free in the last segment before another segment would be needed. Exact: an
    /// extension character or a surrogate pair pushed to the next segment leaves a hole that is
    /// not counted as spare.
    ///
    /// ```
    /// use antirelou_core::encoding::plan;
    /// assert_eq!(plan(&"a".repeat(300)).spare_units(), 6);
    /// assert_eq!(plan("Hello").spare_units(), 155);
    /// ```
    pub fn spare_units(&self) -> u32 {
        self.spare
    }

    /// Whether the text fits one segment.
    pub fn is_single(&self) -> bool {
        self.segments <= 1
    }

    /// A short human description, e.g. `GSM-7, 300 septets, 2 segments` or
    /// `UCS-2 because of '’', 'î', 300 units, 5 segments`.
    pub fn describe(&self) -> String {
        let what = match self.encoding {
            Encoding::Gsm7 => format!("GSM-7, {} septets", self.units),
            Encoding::Ucs2 if self.non_gsm.is_empty() => format!("UCS-2, {} units", self.units),
            Encoding::Ucs2 => {
                format!(
                    "UCS-2 because of {}, {} units",
                    quote_chars(&self.non_gsm),
                    self.units
                )
            }
        };
        let s = if self.segments == 1 { "" } else { "s" };
        format!("{what}, {} segment{s}", self.segments)
    }
}

/// `'’', 'î'`: characters quoted for error messages, at most eight then `…`.
pub(crate) fn quote_chars(chars: &[char]) -> String {
    let mut out: Vec<String> = chars
        .iter()
        .take(8)
        .map(|c| {
            if c.is_control() || c.is_whitespace() {
                format!("U+{:04X}", u32::from(*c))
            } else {
                format!("'{c}'")
            }
        })
        .collect();
    if chars.len() > 8 {
        out.push(format!("and {} more", chars.len() - 8));
    }
    out.join(", ")
}

fn limits(e: Encoding) -> (u32, u32) {
    match e {
        Encoding::Gsm7 => (GSM7_SINGLE, GSM7_MULTI),
        Encoding::Ucs2 => (UCS2_SINGLE, UCS2_MULTI),
    }
}

/// Segments for `units` in `encoding`: 0 units still cost one segment.
///
/// This is pure arithmetic; [`plan`] may give one more segment when an extension character or a
/// surrogate pair cannot be split across a boundary.
///
/// ```
/// use antirelou_core::encoding::{segments_for, Encoding};
/// assert_eq!(segments_for(Encoding::Gsm7, 160), 1);
/// assert_eq!(segments_for(Encoding::Gsm7, 161), 2);
/// assert_eq!(segments_for(Encoding::Ucs2, 300), 5);
/// ```
pub fn segments_for(encoding: Encoding, units: u32) -> u32 {
    let (single, multi) = limits(encoding);
    if units <= single {
        1
    } else {
        units.div_ceil(multi)
    }
}

/// Plan a text: its encoding, size and segments.
///
/// Concatenated GSM-7 segments never split an escape sequence: an extension character that would
/// straddle a segment boundary moves to the next segment, as handsets and providers do. Likewise
/// a UCS-2 surrogate pair (an emoji) is never split.
///
/// ```
/// use antirelou_core::encoding::{plan, Encoding};
/// let p = plan("Hello");
/// assert_eq!((p.encoding, p.units, p.segments), (Encoding::Gsm7, 5, 1));
/// let p = plan("Merci d’avance");
/// assert_eq!(p.encoding, Encoding::Ucs2);
/// assert_eq!(p.non_gsm, vec!['’']);
/// ```
pub fn plan(text: &str) -> SmsPlan {
    let mut non_gsm = Vec::new();
    let mut septets = 0u32;
    for c in text.chars() {
        match gsm7_septets(c) {
            Some(w) => septets = septets.saturating_add(w),
            None => {
                if !non_gsm.contains(&c) {
                    non_gsm.push(c);
                }
            }
        }
    }
    if non_gsm.is_empty() {
        let (segments, spare) = pack(
            text.chars().map(|c| gsm7_septets(c).unwrap_or(1)),
            septets,
            Encoding::Gsm7,
        );
        SmsPlan {
            encoding: Encoding::Gsm7,
            units: septets,
            segments,
            non_gsm,
            spare,
        }
    } else {
        let units = text
            .chars()
            .fold(0u32, |n, c| n.saturating_add(c.len_utf16() as u32));
        let (segments, spare) = pack(
            text.chars().map(|c| c.len_utf16() as u32),
            units,
            Encoding::Ucs2,
        );
        SmsPlan {
            encoding: Encoding::Ucs2,
            units,
            segments,
            non_gsm,
            spare,
        }
    }
}

/// Pack characters of the given widths into segments without splitting one: returns the number
/// of segments and the units free in the last one.
fn pack(widths: impl Iterator<Item = u32>, total: u32, encoding: Encoding) -> (u32, u32) {
    let (single, multi) = limits(encoding);
    if total <= single {
        return (1, single - total);
    }
    let mut segments = 1u32;
    let mut used = 0u32;
    for w in widths {
        if used + w > multi {
            segments = segments.saturating_add(1);
            used = 0;
        }
        used += w;
    }
    (segments, multi.saturating_sub(used))
}

// ---------------------------------------------------------------------------------------------
// Transliteration
// ---------------------------------------------------------------------------------------------

/// The GSM-7 replacement for a character that is **not** in GSM-7, if there is a sensible one:
/// typographic quotes, dashes and spaces, the ellipsis, accented letters missing from GSM 03.38
/// (`î ê â ô û ë ï ÿ ç`, capitals such as `À È Î`, Central European letters), `œ`/`Œ`, a few
/// symbols. Invisible characters (soft hyphen, zero-width space, BOM) map to the empty string.
///
/// Returns `None` for characters already in GSM-7 (they never need replacing) and for characters
/// with no mapping (emoji, most non-Latin scripts), which [`transliterate`] leaves as they are.
///
/// ```
/// use antirelou_core::encoding::gsm7_replacement;
/// assert_eq!(gsm7_replacement('’'), Some("'"));
/// assert_eq!(gsm7_replacement('œ'), Some("oe"));
/// assert_eq!(gsm7_replacement('ç'), Some("c"));
/// assert_eq!(gsm7_replacement('Ç'), None); // already GSM-7
/// assert_eq!(gsm7_replacement('😀'), None); // no mapping
/// ```
pub fn gsm7_replacement(c: char) -> Option<&'static str> {
    Some(match c {
        // Quotes and apostrophes.
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{2035}'
        | '\u{02BC}' | '\u{02B9}' | '\u{00B4}' | '`' | '\u{2039}' | '\u{203A}' => "'",
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{00AB}' | '\u{00BB}'
        | '\u{2033}' | '\u{2036}' | '\u{02BA}' => "\"",
        // Ellipsis, dashes, bullets, slashes.
        '\u{2026}' => "...",
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
        | '\u{2212}' | '\u{2043}' | '\u{2022}' => "-",
        '\u{00B7}' | '\u{2027}' => ".",
        '\u{2044}' | '\u{2215}' | '\u{00F7}' => "/",
        '\u{00D7}' => "x",
        // Spaces: tab, no-break, narrow no-break, thin, en/em and the other fixed-width spaces.
        '\t'
        | '\u{000B}'
        | '\u{00A0}'
        | '\u{1680}'
        | '\u{2000}'..='\u{200A}'
        | '\u{202F}'
        | '\u{205F}'
        | '\u{3000}' => " ",
        '\u{0085}' | '\u{2028}' | '\u{2029}' => "\n",
        // Invisible: soft hyphen, zero-width space, word joiner, byte-order mark.
        '\u{00AD}' | '\u{200B}' | '\u{2060}' | '\u{FEFF}' => "",
        // Symbols.
        '\u{00A9}' => "(c)",
        '\u{00AE}' => "(R)",
        '\u{2122}' => "TM",
        '\u{00BD}' => "1/2",
        '\u{00BC}' => "1/4",
        '\u{00BE}' => "3/4",
        '\u{00B9}' => "1",
        '\u{00B2}' => "2",
        '\u{00B3}' => "3",
        '\u{00AA}' => "a",
        '\u{00BA}' => "o",
        // Latin letters missing from GSM 03.38.
        'À' | 'Á' | 'Â' | 'Ã' | 'Ā' | 'Ă' | 'Ą' => "A",
        'á' | 'â' | 'ã' | 'ā' | 'ă' | 'ą' => "a",
        'Ć' | 'Ĉ' | 'Ċ' | 'Č' => "C",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'Ð' | 'Ď' | 'Đ' => "D",
        'ð' | 'ď' | 'đ' => "d",
        'È' | 'Ê' | 'Ë' | 'Ē' | 'Ĕ' | 'Ė' | 'Ę' | 'Ě' => "E",
        'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'Ĝ' | 'Ğ' | 'Ġ' | 'Ģ' => "G",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'Ĥ' | 'Ħ' => "H",
        'ĥ' | 'ħ' => "h",
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ĩ' | 'Ī' | 'Ĭ' | 'Į' | 'İ' => "I",
        'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'Ĵ' => "J",
        'ĵ' => "j",
        'Ķ' => "K",
        'ķ' => "k",
        'Ĺ' | 'Ļ' | 'Ľ' | 'Ŀ' | 'Ł' => "L",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'Ń' | 'Ņ' | 'Ň' => "N",
        'ń' | 'ņ' | 'ň' => "n",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ō' | 'Ŏ' | 'Ő' => "O",
        'ó' | 'ô' | 'õ' | 'ō' | 'ŏ' | 'ő' => "o",
        'Œ' => "OE",
        'œ' => "oe",
        'Ŕ' | 'Ŗ' | 'Ř' => "R",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'Ś' | 'Ŝ' | 'Ş' | 'Š' | 'Ș' => "S",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => "s",
        'Ţ' | 'Ť' | 'Ŧ' | 'Ț' => "T",
        'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
        'Ù' | 'Ú' | 'Û' | 'Ũ' | 'Ū' | 'Ŭ' | 'Ů' | 'Ű' | 'Ų' => "U",
        'ú' | 'û' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'Ŵ' => "W",
        'ŵ' => "w",
        'Ý' | 'Ÿ' | 'Ŷ' => "Y",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'Ź' | 'Ż' | 'Ž' => "Z",
        'ź' | 'ż' | 'ž' => "z",
        'Þ' => "Th",
        'þ' => "th",
        _ => return None,
    })
}

/// One replacement made by [`transliterate`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Change {
    /// The original character.
    pub from: char,
    /// What replaced it (possibly several characters, possibly empty for invisible ones).
    pub to: String,
    /// Index of `from` in the original text, counted in `char`s (not bytes).
    pub position: usize,
}

/// The result of [`transliterate`]: the new text and every change made.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Transliteration {
    /// The transliterated text.
    pub text: String,
    /// Each replacement, in order of position.
    pub changes: Vec<Change>,
}

impl Transliteration {
    /// Whether anything was replaced.
    pub fn is_changed(&self) -> bool {
        !self.changes.is_empty()
    }

    /// The plan of the transliterated text. It is UCS-2 when the text kept a character with no
    /// mapping (listed in [`SmsPlan::non_gsm`]).
    pub fn plan(&self) -> SmsPlan {
        plan(&self.text)
    }
}

/// Opt-in transliteration to GSM-7: replace typographic punctuation, special spaces and accented
/// letters that GSM 03.38 lacks with their closest GSM-7 form (see [`gsm7_replacement`]), and
/// report every change. Characters with no mapping (emoji, other scripts) are left as they are;
/// the text then stays UCS-2 and [`Transliteration::plan`] says why.
///
/// Decomposed accents (a letter followed by a combining mark, as some editors write them) are
/// composed first: `e` + U+0301 becomes `é`, which GSM-7 has; `i` + U+0302 becomes `i`.
///
/// Guarantee: the result never costs **more** segments than the input. Some replacements are
/// longer than the original (`…` → `...`, `œ` → `oe`); when applying them would add a segment
/// (typically because an unmapped character keeps the text in UCS-2), only the one-for-one
/// replacements are made.
///
/// ```
/// use antirelou_core::encoding::{transliterate, Change};
/// let t = transliterate("«\u{a0}Non\u{a0}», c’est non…");
/// assert_eq!(t.text, "\" Non \", c'est non...");
/// assert_eq!(t.changes[0], Change { from: '«', to: "\"".into(), position: 0 });
/// assert_eq!(t.changes.len(), 6);
/// ```
pub fn transliterate(text: &str) -> Transliteration {
    let full = apply(text, false);
    if !full.is_changed() {
        return full;
    }
    let original = plan(text).segments;
    let full_segments = full.plan().segments;
    if full_segments <= original {
        // The one-for-one variant can only be cheaper when the text stays UCS-2; prefer it then.
        if full.plan().encoding == Encoding::Ucs2 {
            let strict = apply(text, true);
            if strict.plan().segments < full_segments {
                return strict;
            }
        }
        return full;
    }
    apply(text, true)
}

/// Apply the replacements; `one_for_one` keeps only those that do not lengthen the text.
fn apply(text: &str, one_for_one: bool) -> Transliteration {
    let mut out = String::with_capacity(text.len());
    let mut changes = Vec::new();
    let mut chars = text.chars().enumerate().peekable();
    while let Some((position, c)) = chars.next() {
        // A letter followed by a combining accent (decomposed text, NFD): compose it, then keep
        // it if GSM-7 has it (`e` + U+0301 → `é`) or replace it (`i` + U+0302 → `î` → `i`).
        if let Some(&(mark_position, mark)) = chars.peek() {
            let target = compose(c, mark).and_then(|p| {
                if is_gsm7(p) {
                    Some(p.to_string())
                } else {
                    gsm7_replacement(p).map(str::to_owned)
                }
            });
            if let Some(to) = target.filter(|t| t.chars().count() <= 1) {
                chars.next();
                out.push_str(&to);
                if to.chars().ne([c]) {
                    changes.push(Change {
                        from: c,
                        to,
                        position,
                    });
                }
                changes.push(Change {
                    from: mark,
                    to: String::new(),
                    position: mark_position,
                });
                continue;
            }
        }
        match gsm7_replacement(c) {
            Some(to) if !one_for_one || to.chars().count() <= 1 => {
                out.push_str(to);
                changes.push(Change {
                    from: c,
                    to: to.to_owned(),
                    position,
                });
            }
            _ => out.push(c),
        }
    }
    Transliteration { text: out, changes }
}

/// The precomposed form of `base` + combining `mark`, for the Latin letters of the languages
/// this crate speaks (and a few neighbours).
fn compose(base: char, mark: char) -> Option<char> {
    let (bases, composed) = match mark {
        '\u{0300}' => ("AEIOUaeiou", "ÀÈÌÒÙàèìòù"),
        '\u{0301}' => ("AEIOUYaeiouyCcNnSsZz", "ÁÉÍÓÚÝáéíóúýĆćŃńŚśŹź"),
        '\u{0302}' => ("AEIOUaeiou", "ÂÊÎÔÛâêîôû"),
        '\u{0303}' => ("ANOano", "ÃÑÕãñõ"),
        '\u{0308}' => ("AEIOUYaeiouy", "ÄËÏÖÜŸäëïöüÿ"),
        '\u{030A}' => ("AaUu", "ÅåŮů"),
        '\u{030C}' => ("CcSsZzEeRrNn", "ČčŠšŽžĚěŘřŇň"),
        '\u{0327}' => ("CcSsTt", "ÇçŞşŢţ"),
        _ => return None,
    };
    let i = bases.chars().position(|b| b == base)?;
    composed.chars().nth(i)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The French lesson as typeset in the 2017 article (6 × ’, 1 × î).
    const SEED_FR: &str = "Oh, bonjour ! Si vous lisez ce message, c\u{2019}est que vous avez mis une femme mal à l\u{2019}aise. Avec vous, elle ne s\u{2019}est pas sentie en sécurité, elle ne s\u{2019}est pas sentie respectée. Apprenez s\u{2019}il vous plaît à accepter un non comme réponse. Respectez l\u{2019}autonomie des femmes dans leurs actes et décisions. Merci";

    /// An independent segment counter: lay the units out one by one and cut greedily.
    fn reference_segments(text: &str) -> (Encoding, u32, u32) {
        let gsm = text
            .chars()
            .all(|c| GSM7_BASIC.contains(c) || GSM7_EXTENSION.contains(c));
        let widths: Vec<u32> = if gsm {
            text.chars()
                .map(|c| if GSM7_EXTENSION.contains(c) { 2 } else { 1 })
                .collect()
        } else {
            text.chars().map(|c| c.len_utf16() as u32).collect()
        };
        let total: u32 = widths.iter().sum();
        let (enc, single, multi) = if gsm {
            (Encoding::Gsm7, 160, 153)
        } else {
            (Encoding::Ucs2, 70, 67)
        };
        if total <= single {
            return (enc, total, 1);
        }
        let mut cuts = vec![0u32];
        for w in widths {
            let last = cuts.last_mut().unwrap();
            if *last + w <= multi {
                *last += w;
            } else {
                cuts.push(w);
            }
        }
        (enc, total, cuts.len() as u32)
    }

    #[test]
    fn fast_tables_match_the_reference_tables() {
        assert_eq!(GSM7_BASIC.chars().count(), 127);
        assert_eq!(GSM7_EXTENSION.chars().count(), 10);
        for cp in 0..=0x2FFFFu32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            assert_eq!(is_gsm7_basic(c), GSM7_BASIC.contains(c), "basic {c:?}");
            assert_eq!(
                is_gsm7_extension(c),
                GSM7_EXTENSION.contains(c),
                "extension {c:?}"
            );
        }
    }

    #[test]
    fn french_letters_per_reference_section_3() {
        for c in "àéèùäöüñÉÇÄÖÜæÆìò".chars() {
            assert!(is_gsm7_basic(c), "{c} is GSM-7");
        }
        for c in "âêîôûëïÿçœŒÀÈÙÂÊÎÔÛËÏŸ’‘“”«»…\u{a0}\u{202f}".chars()
        {
            assert!(!is_gsm7(c), "{c:?} forces UCS-2");
            assert!(gsm7_replacement(c).is_some(), "{c:?} has a replacement");
        }
        assert!(is_gsm7_extension('€'));
        assert_eq!(plan("€").units, 2);
    }

    #[test]
    fn seed_message_as_written_is_ucs2_5_segments() {
        assert_eq!(SEED_FR.chars().count(), 300);
        assert_eq!(SEED_FR.chars().filter(|&c| c == '\u{2019}').count(), 6);
        assert_eq!(SEED_FR.chars().filter(|&c| c == 'î').count(), 1);
        let p = plan(SEED_FR);
        assert_eq!(p.encoding, Encoding::Ucs2);
        assert_eq!(p.units, 300);
        assert_eq!(p.segments, 5);
        assert_eq!(p.non_gsm, vec!['\u{2019}', 'î']);
        assert_eq!(p.spare_units(), 5 * 67 - 300);
        assert_eq!(
            p.describe(),
            "UCS-2 because of '’', 'î', 300 units, 5 segments"
        );
    }

    #[test]
    fn seed_message_transliterated_is_gsm7_2_segments() {
        let t = transliterate(SEED_FR);
        assert_eq!(t.changes.len(), 7);
        assert!(
            t.changes
                .iter()
                .filter(|c| c.from == '\u{2019}')
                .all(|c| c.to == "'")
        );
        let i = t.changes.iter().find(|c| c.from == 'î').unwrap();
        assert_eq!(i.to, "i");
        assert_eq!(SEED_FR.chars().nth(i.position), Some('î'));
        assert!(t.text.contains("s'il vous plait à accepter"));
        let p = t.plan();
        assert_eq!((p.encoding, p.units, p.segments), (Encoding::Gsm7, 300, 2));
        assert_eq!(p.spare_units(), 6);
        assert_eq!(p.describe(), "GSM-7, 300 septets, 2 segments");
        // Variant B of the reference: straight apostrophes but "plaît" is still 5 segments.
        let b = SEED_FR.replace('\u{2019}', "'");
        assert_eq!(plan(&b).segments, 5);
        assert_eq!(plan(&b).non_gsm, vec!['î']);
    }

    #[test]
    fn gsm7_single_and_multi_boundaries() {
        let cases = [
            (0, 1),
            (1, 1),
            (160, 1),
            (161, 2),
            (306, 2),
            (307, 3),
            (459, 3),
            (460, 4),
        ];
        for (n, segs) in cases {
            let p = plan(&"a".repeat(n));
            assert_eq!(
                (p.encoding, p.units, p.segments),
                (Encoding::Gsm7, n as u32, segs),
                "{n}"
            );
        }
        assert_eq!(plan(&"a".repeat(160)).spare_units(), 0);
        assert_eq!(plan(&"a".repeat(161)).spare_units(), 306 - 161);
    }

    #[test]
    fn ucs2_single_and_multi_boundaries() {
        let cases = [
            (1, 1),
            (70, 1),
            (71, 2),
            (134, 2),
            (135, 3),
            (201, 3),
            (202, 4),
        ];
        for (n, segs) in cases {
            let text = format!("’{}", "a".repeat(n - 1));
            let p = plan(&text);
            assert_eq!(
                (p.encoding, p.units, p.segments),
                (Encoding::Ucs2, n as u32, segs),
                "{n}"
            );
        }
    }

    #[test]
    fn extension_characters_cost_two_and_are_not_split() {
        assert_eq!(plan(&"€".repeat(80)).units, 160);
        assert_eq!(plan(&"€".repeat(80)).segments, 1);
        assert_eq!(plan(&"€".repeat(81)).segments, 2);
        // 152 + 2 + 152 = 306 septets would fit 2 × 153, but the € cannot straddle the boundary.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        let p = plan(&text);
        assert_eq!((p.units, p.segments), (306, 3));
        assert_eq!(p.spare_units(), 152);
        // Same length with the € away from the boundary: 2 segments.
        let text = format!("€{}", "a".repeat(304));
        assert_eq!(plan(&text).segments, 2);
    }

    #[test]
    fn astral_characters_cost_two_units_and_are_not_split() {
        assert_eq!(plan(&"😀".repeat(35)).units, 70);
        assert_eq!(plan(&"😀".repeat(35)).segments, 1);
        assert_eq!(plan(&"😀".repeat(36)).segments, 2);
        let text = format!("{}😀{}", "a".repeat(66), "a".repeat(66));
        let p = plan(&text);
        assert_eq!((p.encoding, p.units, p.segments), (Encoding::Ucs2, 134, 3));
    }

    #[test]
    fn cost_multiplies_segments() {
        let price = Money::from_micros(76_270);
        assert_eq!(plan(SEED_FR).cost(price), Money::from_micros(5 * 76_270));
        assert_eq!(
            transliterate(SEED_FR).plan().cost(price),
            Money::from_micros(2 * 76_270)
        );
    }

    #[test]
    fn unmapped_characters_stay_and_the_plan_says_so() {
        let t = transliterate("C’est non 🙅");
        assert_eq!(t.text, "C'est non 🙅");
        assert_eq!(t.plan().encoding, Encoding::Ucs2);
        assert_eq!(t.plan().non_gsm, vec!['🙅']);
    }

    #[test]
    fn expanding_replacements_are_skipped_when_they_would_add_a_segment() {
        // 70 ellipses + a snowman: 71 units, 2 UCS-2 segments. "..." would make it 4.
        let text = format!("{}☃", "…".repeat(70));
        assert_eq!(plan(&text).segments, 2);
        let t = transliterate(&text);
        assert_eq!(t.text, text);
        assert!(!t.is_changed());
        // But the one-for-one ones are still made.
        let text = format!("{}’☃", "…".repeat(70));
        let t = transliterate(&text);
        assert_eq!(t.changes.len(), 1);
        assert_eq!(t.changes[0].position, 70);
        assert!(t.plan().segments <= plan(&text).segments);
    }

    #[test]
    fn decomposed_accents_are_composed() {
        // "é" decomposed is GSM-7 once composed.
        let t = transliterate("re\u{301}ponse");
        assert_eq!(t.text, "réponse");
        assert_eq!(
            t.changes,
            vec![
                Change {
                    from: 'e',
                    to: "é".into(),
                    position: 1
                },
                Change {
                    from: '\u{301}',
                    to: String::new(),
                    position: 2
                },
            ]
        );
        // "î" decomposed becomes "i"; "ç" decomposed becomes "c"; "Ç" decomposed is GSM-7.
        let t = transliterate("plai\u{302}t garc\u{327}on C\u{327}a");
        assert_eq!(t.text, "plait garcon Ça");
        assert_eq!(t.changes.len(), 4);
        assert_eq!(t.plan().encoding, Encoding::Gsm7);
        // A mark on a letter with no composition stays.
        assert_eq!(transliterate("q\u{301}").text, "q\u{301}");
        // The last letter of each table lines up (so every earlier one does).
        let last = [
            ('u', '\u{300}', 'ù'),
            ('z', '\u{301}', 'ź'),
            ('u', '\u{302}', 'û'),
            ('o', '\u{303}', 'õ'),
            ('y', '\u{308}', 'ÿ'),
            ('u', '\u{30A}', 'ů'),
            ('n', '\u{30C}', 'ň'),
            ('t', '\u{327}', 'ţ'),
        ];
        for (base, mark, composed) in last {
            assert_eq!(compose(base, mark), Some(composed));
        }
    }

    #[test]
    fn invisible_characters_are_removed() {
        let t = transliterate("no\u{200B}n\u{00AD}");
        assert_eq!(t.text, "non");
        assert_eq!(t.changes.len(), 2);
        assert_eq!(
            t.changes[1],
            Change {
                from: '\u{00AD}',
                to: String::new(),
                position: 4
            }
        );
    }

    #[test]
    fn every_replacement_is_gsm7_and_only_for_non_gsm_characters() {
        for cp in 0..=0x2FFFFu32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            if let Some(r) = gsm7_replacement(c) {
                assert!(!is_gsm7(c), "{c:?} is GSM-7 and must not be replaced");
                assert!(
                    r.chars().all(is_gsm7_basic),
                    "{c:?} → {r:?} is not basic GSM-7"
                );
                assert!(r.chars().count() <= 3);
            }
        }
    }

    fn mapped_chars() -> Vec<char> {
        (0..=0x2FFFFu32)
            .filter_map(char::from_u32)
            .filter(|&c| gsm7_replacement(c).is_some())
            .collect()
    }

    fn any_char() -> impl Strategy<Value = char> {
        let mapped = mapped_chars();
        let basic: Vec<char> = GSM7_BASIC.chars().collect();
        let ext: Vec<char> = GSM7_EXTENSION.chars().collect();
        prop_oneof![
            6 => proptest::sample::select(basic),
            2 => proptest::sample::select(ext),
            3 => proptest::sample::select(mapped),
            1 => proptest::sample::select(vec!['😀', '🙅', '☃', '中', 'ж', '°', '\u{1F1EB}']),
            1 => proptest::sample::select(vec!['\u{300}', '\u{301}', '\u{302}', '\u{308}', '\u{327}', '\u{30C}']),
            1 => any::<char>(),
        ]
    }

    fn text_of(chars: impl Strategy<Value = char>) -> impl Strategy<Value = String> {
        proptest::collection::vec(chars, 0..700).prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn plan_matches_the_reference_counter(text in text_of(any_char())) {
            let p = plan(&text);
            let (enc, units, segments) = reference_segments(&text);
            prop_assert_eq!(p.encoding, enc);
            prop_assert_eq!(p.units, units);
            prop_assert_eq!(p.segments, segments);
            prop_assert_eq!(p.encoding == Encoding::Gsm7, text.chars().all(is_gsm7));
            prop_assert_eq!(p.encoding == Encoding::Gsm7, p.non_gsm.is_empty());
            // Never fewer segments than the arithmetic minimum, never a wasted segment.
            prop_assert!(p.segments >= segments_for(p.encoding, p.units));
            let (single, multi) = limits(p.encoding);
            let capacity = if p.segments == 1 { single } else { p.segments * multi };
            prop_assert!(capacity - p.spare_units() >= p.units);
            let bound = if p.segments == 1 { single + 1 } else { multi };
            prop_assert!(p.spare_units() < bound);
        }

        #[test]
        fn plain_gsm7_segments_are_arithmetic(n in 0usize..2000) {
            let p = plan(&"x".repeat(n));
            prop_assert_eq!(p.segments, if n <= 160 { 1 } else { (n as u32).div_ceil(153) });
            prop_assert_eq!(p.segments, segments_for(Encoding::Gsm7, n as u32));
        }

        #[test]
        fn plain_ucs2_segments_are_arithmetic(n in 1usize..1000) {
            let p = plan(&"ж".repeat(n));
            prop_assert_eq!(p.segments, if n <= 70 { 1 } else { (n as u32).div_ceil(67) });
            prop_assert_eq!(p.segments, segments_for(Encoding::Ucs2, n as u32));
        }

        #[test]
        fn mapped_only_input_becomes_gsm7(
            text in text_of(prop_oneof![
                proptest::sample::select(mapped_chars()),
                proptest::sample::select(GSM7_BASIC.chars().collect::<Vec<_>>()),
                proptest::sample::select(GSM7_EXTENSION.chars().collect::<Vec<_>>()),
            ])
        ) {
            let t = transliterate(&text);
            prop_assert!(t.text.chars().all(is_gsm7), "{:?}", t.text);
            prop_assert_eq!(t.plan().encoding, Encoding::Gsm7);
        }

        #[test]
        fn transliteration_never_costs_more(text in text_of(any_char())) {
            let t = transliterate(&text);
            prop_assert!(t.plan().segments <= plan(&text).segments,
                "{} > {}", t.plan().segments, plan(&text).segments);
        }

        #[test]
        fn changes_describe_the_transformation_exactly(text in text_of(any_char())) {
            let t = transliterate(&text);
            let mut rebuilt = String::new();
            let mut changes = t.changes.iter().peekable();
            for (i, c) in text.chars().enumerate() {
                match changes.peek() {
                    Some(ch) if ch.position == i => {
                        prop_assert_eq!(ch.from, c);
                        rebuilt.push_str(&ch.to);
                        changes.next();
                    }
                    _ => rebuilt.push(c),
                }
            }
            prop_assert!(changes.next().is_none());
            prop_assert_eq!(rebuilt, t.text.clone());
            // Transliterating again changes nothing more only if the text is now GSM-7.
            if t.plan().encoding == Encoding::Gsm7 {
                prop_assert!(!transliterate(&t.text).is_changed());
            }
        }
    }
}
