//! A small XML writer for TwiML-like voice dialects (TwiML, TeXML…), with proven escaping.
//!
//! Text is escaped (`&`, `<`, `>`, and carriage return as `&#13;`, which a parser would
//! otherwise turn into a newline); attribute values too, plus `"` and tab, newline and carriage
//! return as character references (so attribute-value normalisation keeps them); characters
//! XML 1.0 forbids (U+0000–U+0008, U+000B, U+000C, U+000E–U+001F, U+FFFE, U+FFFF) are removed.
//! Element and attribute names are `&'static str`: the adapter's constants, never input.
//! Whatever the text, the document parses back (with a real XML parser) to the elements written,
//! with the text as given minus the forbidden characters: the tests check it for every string
//! of a hostile list and for random strings.
//!
//! ```
//! use antirelou_core::kit::XmlWriter;
//! let mut w = XmlWriter::document();
//! w.open("Response", &[]);
//! w.element("Say", &[("language", "fr-FR")], "Tom & Jerry </Say><Dial>");
//! w.close("Response");
//! assert_eq!(
//!     w.finish(),
//!     "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
//!      <Say language=\"fr-FR\">Tom &amp; Jerry &lt;/Say&gt;&lt;Dial&gt;</Say></Response>"
//! );
//! ```

/// The XML declaration [`XmlWriter::document`] starts with.
pub const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// Whether `c` may appear in an XML 1.0 document.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Escape text content: `&`, `<`, `>`, carriage return as `&#13;`; forbidden characters removed.
///
/// ```
/// assert_eq!(antirelou_core::kit::xml::escape_text("a<b & \"c\"\u{1}"), "a&lt;b &amp; \"c\"");
/// ```
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| is_xml_char(*c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Escape a double-quoted attribute value: `&`, `<`, `>`, `"`, and tab, newline and carriage
/// return as character references; forbidden characters removed.
///
/// ```
/// assert_eq!(antirelou_core::kit::xml::escape_attr("a&b=\"c\"\n"), "a&amp;b=&quot;c&quot;&#10;");
/// ```
pub fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| is_xml_char(*c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Writes one XML document, element by element.
#[derive(Debug, Clone)]
pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// A document that starts with [`XML_DECLARATION`].
    pub fn document() -> Self {
        XmlWriter {
            out: String::from(XML_DECLARATION),
        }
    }

    fn start(&mut self, name: &'static str, attrs: &[(&'static str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            self.out.push_str(&escape_attr(v));
            self.out.push('"');
        }
    }

    /// `<name attrs…>`.
    pub fn open(&mut self, name: &'static str, attrs: &[(&'static str, &str)]) {
        self.start(name, attrs);
        self.out.push('>');
    }

    /// `<name attrs…/>`.
    pub fn empty(&mut self, name: &'static str, attrs: &[(&'static str, &str)]) {
        self.start(name, attrs);
        self.out.push_str("/>");
    }

    /// `<name attrs…>text</name>`, or `<name attrs…/>` when the escaped text is empty.
    pub fn element(&mut self, name: &'static str, attrs: &[(&'static str, &str)], text: &str) {
        let text = escape_text(text);
        if text.is_empty() {
            self.empty(name, attrs);
        } else {
            self.open(name, attrs);
            self.out.push_str(&text);
            self.close(name);
        }
    }

    /// `</name>`.
    pub fn close(&mut self, name: &'static str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// The document.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Strings that break naive XML writers, for tests of this writer and of adapters' renderers
/// (the voice conformance suite speaks each of them).
pub const HOSTILE_STRINGS: &[&str] = &[
    "</Say><Dial>+33612345678</Dial><Say>",
    "<![CDATA[x]]> ]]> <!-- c --> <?pi x?>",
    "&amp; &lt; &#0; &#x1F600; &unknown; & &&",
    "\"quoted\" 'single' `back`",
    "a\u{0}b\u{1}c\u{8}d\u{B}e\u{C}f\u{1F}g\u{FFFE}h\u{FFFF}i",
    "tab\tnewline\ncarriage\rreturn\r\n",
    "<?xml version=\"1.0\"?><Response><Hangup/></Response>",
    "émoji 😍 RTL \u{202E}txet\u{202C} zero\u{200B}width",
    "]]>",
    "<Reject reason=\"busy\"/>",
];

#[cfg(all(test, feature = "adapter-kit-testing"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Write one `<Say attr=s>s</Say>` and parse it back.
    fn round_trip(s: &str) {
        let mut w = XmlWriter::document();
        w.open("Response", &[]);
        w.element("Say", &[("language", s)], s);
        w.close("Response");
        let doc = w.finish();
        let parsed = roxmltree::Document::parse(&doc)
            .unwrap_or_else(|e| panic!("{s:?} gave unparsable XML {doc:?}: {e}"));
        let root = parsed.root_element();
        assert_eq!(root.tag_name().name(), "Response");
        let children: Vec<_> = root.children().filter(|n| n.is_element()).collect();
        let want: String = s.chars().filter(|c| is_xml_char(*c)).collect();
        if want.is_empty() {
            return;
        }
        assert_eq!(children.len(), 1, "{s:?} -> {doc}");
        assert_eq!(children[0].tag_name().name(), "Say");
        assert_eq!(children[0].text().unwrap_or_default(), want, "{doc}");
        assert_eq!(
            children[0].attribute("language").unwrap_or_default(),
            want,
            "{doc}"
        );
        assert_eq!(children[0].children().filter(|n| n.is_element()).count(), 0);
    }

    #[test]
    fn hostile_strings_round_trip() {
        for s in HOSTILE_STRINGS {
            round_trip(s);
        }
        // Every char of the first 0x3000 code points alone, and the surrogate-adjacent ones.
        for c in (0u32..0x3000).chain(0xD700..0xE100).chain(0xFFF0..0x10010) {
            if let Some(c) = char::from_u32(c) {
                round_trip(&format!("x{c}y"));
            }
        }
    }

    proptest! {
        #[test]
        fn any_string_round_trips(s in any::<String>()) {
            round_trip(&s);
        }

        #[test]
        fn markup_heavy_strings_round_trip(s in "[<>&\"'\\]\\[!?/=; a-zA-Z\t\r\n\u{0}-\u{1f}]{0,40}") {
            round_trip(&s);
        }
    }
}
