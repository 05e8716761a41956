//! The SMS encoding planner: GSM-7 or UCS-2, units, segments and cost.
//!
//! Facts (3GPP TS 23.038 / GSM 03.38): a single SMS carries 160 GSM-7 septets or 70 UCS-2 units;
//! a concatenated one 153 or 67 per segment (the 6-byte UDH). Extension-table characters
//! (`^ { } \ [ ~ ] | €` and form feed) cost two septets. Astral characters (emoji) cost two UCS-2
//! units. One character outside GSM-7 switches the whole message to UCS-2.

use crate::money::Money;

/// GSM 03.38 basic character set, in code order (0x1B, the escape, is left out).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// GSM 03.38 extension table: each costs two septets (escape + code).
const GSM7_EXTENSION: &str = "\u{000C}^{}\\[~]|€";

/// How a text is encoded on the air.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// The GSM 7-bit default alphabet (160 / 153 per segment).
    Gsm7,
    /// UCS-2 / UTF-16 (70 / 67 per segment).
    Ucs2,
}

/// Whether `c` is in the GSM-7 basic table.
pub fn is_gsm7_basic(c: char) -> bool {
    GSM7_BASIC.contains(c)
}

/// Whether `c` is in the GSM-7 extension table (costs two septets).
pub fn is_gsm7_extension(c: char) -> bool {
    GSM7_EXTENSION.contains(c)
}

/// Whether `c` can be sent in GSM-7 at all.
pub fn is_gsm7(c: char) -> bool {
    is_gsm7_basic(c) || is_gsm7_extension(c)
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
}

impl SmsPlan {
    /// The cost of sending this text once at `price_per_segment`.
    pub fn cost(&self, price_per_segment: Money) -> Money {
        price_per_segment * self.segments
    }

    /// Units still free in the last segment before another segment would be needed.
    pub fn spare_units(&self) -> u32 {
        let (single, multi) = limits(self.encoding);
        if self.segments <= 1 { single - self.units } else { self.segments * multi - self.units }
    }
}

fn limits(e: Encoding) -> (u32, u32) {
    match e {
        Encoding::Gsm7 => (160, 153),
        Encoding::Ucs2 => (70, 67),
    }
}

/// Segments for `units` in `encoding`: 0 units still cost one segment.
pub fn segments_for(encoding: Encoding, units: u32) -> u32 {
    let (single, multi) = limits(encoding);
    if units <= single { 1 } else { units.div_ceil(multi) }
}

/// Plan a text: its encoding, size and segments.
///
/// Concatenated GSM-7 segments never split an escape sequence: an extension character that would
/// straddle a segment boundary moves to the next segment, as handsets and providers do.
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
        if is_gsm7_basic(c) {
            septets += 1;
        } else if is_gsm7_extension(c) {
            septets += 2;
        } else if !non_gsm.contains(&c) {
            non_gsm.push(c);
        }
    }
    if non_gsm.is_empty() {
        let segments = if septets <= 160 { 1 } else { gsm7_segments_multi(text) };
        SmsPlan { encoding: Encoding::Gsm7, units: septets, segments, non_gsm }
    } else {
        let units: u32 = text.chars().map(|c| c.len_utf16() as u32).sum();
        let segments = if units <= 70 { 1 } else { ucs2_segments_multi(text) };
        SmsPlan { encoding: Encoding::Ucs2, units, segments, non_gsm }
    }
}

/// Count 153-septet segments without splitting an escape pair.
fn gsm7_segments_multi(text: &str) -> u32 {
    let mut segments = 1;
    let mut used = 0;
    for c in text.chars() {
        let w = if is_gsm7_extension(c) { 2 } else { 1 };
        if used + w > 153 {
            segments += 1;
            used = 0;
        }
        used += w;
    }
    segments
}

/// Count 67-unit segments without splitting a surrogate pair.
fn ucs2_segments_multi(text: &str) -> u32 {
    let mut segments = 1;
    let mut used = 0;
    for c in text.chars() {
        let w = c.len_utf16() as u32;
        if used + w > 67 {
            segments += 1;
            used = 0;
        }
        used += w;
    }
    segments
}
