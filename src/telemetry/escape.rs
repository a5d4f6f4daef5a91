//! Log values made safe to print: control characters escaped, length capped.
//!
//! Values that come from requests (openids, query parameters, event fields, rule
//! output) reach log lines; a newline or an ANSI escape in one could forge a line or
//! repaint a terminal, and a huge one could fill the disk.

use std::fmt::Write as _;

/// The most characters of one field's value a log line holds.
pub const MAX_VALUE_CHARS: usize = 256;

/// The most characters of a line's message, which may carry an error's cause chain.
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// `raw` with every control character (and every bidirectional override, which can
/// reorder what a terminal shows) written as `\u{..}`, cut to `max_chars` characters
/// of output with a note of how many were left off.
pub fn escape_value(raw: &str, max_chars: usize) -> String {
    let mut escaped = String::with_capacity(raw.len().min(max_chars));
    let mut written = 0;
    for (index, ch) in raw.char_indices() {
        let before = escaped.len();
        if needs_escape(ch) {
            let _ = write!(escaped, "\\u{{{:x}}}", u32::from(ch));
        } else {
            escaped.push(ch);
        }
        written += escaped[before..].chars().count();
        if written > max_chars {
            escaped.truncate(before);
            note_left_off(&mut escaped, raw[index..].chars().count());
            break;
        }
    }
    escaped
}

/// `raw` cut to `max_chars` characters, with a note of how many were left off; for
/// JSON lines, whose encoder escapes control characters itself.
pub fn truncate_value(raw: &str, max_chars: usize) -> String {
    match raw.char_indices().nth(max_chars) {
        None => raw.to_string(),
        Some((cut, _)) => {
            let mut truncated = raw[..cut].to_string();
            note_left_off(&mut truncated, raw[cut..].chars().count());
            truncated
        }
    }
}

fn needs_escape(ch: char) -> bool {
    ch.is_control() || matches!(ch, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn note_left_off(value: &mut String, chars: usize) {
    let _ = write!(value, "…[{chars} more chars]");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_and_ansi_escapes_are_written_as_code_points() {
        let forged = "o1\n2026-01-01T00:00:00Z  INFO forged\x1b[31m\r\u{202e}";

        let escaped = escape_value(forged, MAX_VALUE_CHARS);

        assert_eq!(
            escaped,
            "o1\\u{a}2026-01-01T00:00:00Z  INFO forged\\u{1b}[31m\\u{d}\\u{202e}"
        );
    }

    #[test]
    fn ordinary_text_passes_unchanged() {
        let text = "o-6_Bmjo 用户 card=p1 \"quoted\"";

        assert_eq!(escape_value(text, MAX_VALUE_CHARS), text);
        assert_eq!(truncate_value(text, MAX_VALUE_CHARS), text);
    }

    #[test]
    fn a_long_value_is_cut_with_a_count_of_what_was_left_off() {
        let long = "界".repeat(300);

        let escaped = escape_value(&long, MAX_VALUE_CHARS);
        let truncated = truncate_value(&long, MAX_VALUE_CHARS);

        let expected = format!("{}…[44 more chars]", "界".repeat(256));
        assert_eq!(
            (escaped.as_str(), truncated.as_str()),
            (&*expected, &*expected)
        );
    }

    #[test]
    fn escapes_count_towards_the_cap_and_are_never_split() {
        let value = format!("{}\n\n", "a".repeat(250));

        let escaped = escape_value(&value, MAX_VALUE_CHARS);

        assert_eq!(
            escaped,
            format!("{}\\u{{a}}…[1 more chars]", "a".repeat(250))
        );
    }
}
