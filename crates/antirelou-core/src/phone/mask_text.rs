//! The one rule that masks phone numbers inside free text (a provider's error message, a
//! transport error), for every adapter and for the engine.
//!
//! **Rule.** A run of at least [`MIN_MASKED_DIGITS`] digits is a phone number and is replaced by
//! `…` and its last four digits. A leading `+` belongs to the run, and one space, `-`, `.`, `/`,
//! `(` or `)` between two digits does not end it, so `+33 6 12-34.56.78` is one run. Shorter
//! runs (provider error codes such as `21610`, HTTP statuses) stay as they are.
//!
//! Six digits, because error codes of the providers we know have at most five, while the
//! shortest subscriber numbers worth hiding have six or more.
//!
//! ```
//! use antirelou_core::phone::mask_numbers;
//! assert_eq!(mask_numbers("code 21610 to +33612345678!"), "code 21610 to …5678!");
//! assert_eq!(mask_numbers("call +33 6 12 34 56 78 now"), "call …5678 now");
//! assert_eq!(mask_numbers("HTTP 503"), "HTTP 503");
//! ```

/// Fewest digits a run needs to be masked.
pub const MIN_MASKED_DIGITS: usize = 6;

/// Mask every phone number in `text` (see the [module rule](self)).
pub fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let mut digits = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let next_is_digit = chars.peek().is_some_and(char::is_ascii_digit);
        let joins = c.is_ascii_digit()
            || (c == '+' && run.is_empty() && next_is_digit)
            || (!digits.is_empty()
                && next_is_digit
                && matches!(c, ' ' | '-' | '.' | '/' | '(' | ')'));
        if joins {
            run.push(c);
            if c.is_ascii_digit() {
                digits.push(c);
            }
        } else {
            flush(&mut run, &mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut digits, &mut out);
    out
}

fn flush(run: &mut String, digits: &mut String, out: &mut String) {
    if digits.len() >= MIN_MASKED_DIGITS {
        out.push('…');
        out.push_str(&digits[digits.len() - 4..]);
    } else {
        out.push_str(run);
    }
    run.clear();
    digits.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_numbers_in_every_spelling() {
        for (input, want) in [
            (
                "The 'To' number 5551234567 is not valid.",
                "The 'To' number …4567 is not valid.",
            ),
            ("to +33612345678!", "to …5678!"),
            ("+32 470 12 34 56", "…3456"),
            ("(555) 123-4567", "(555) …4567"),
            ("555.123.4567 and 32470123456", "…4567 and …3456"),
            ("123456", "…3456"),
            ("12345 21610 code", "…1610 code"),
        ] {
            assert_eq!(mask_numbers(input), want, "{input}");
        }
    }

    #[test]
    fn keeps_short_codes_and_odd_input() {
        for s in [
            "",
            "++1",
            "code 21610",
            "HTTP 429, retry in 30 s",
            "1.5 2.5",
            "+",
            "a-b",
            "€12345",
        ] {
            assert_eq!(mask_numbers(s), s);
        }
    }

    #[test]
    fn no_six_digit_run_survives() {
        let hostile = "x+1 (2) 3-4.5/6 7 8 9+0123456789 00-11 22";
        let masked = mask_numbers(hostile);
        let mut longest = 0;
        let mut cur = 0;
        for c in masked.chars() {
            cur = if c.is_ascii_digit() { cur + 1 } else { 0 };
            longest = longest.max(cur);
        }
        assert!(longest < MIN_MASKED_DIGITS, "{masked}");
    }
}
