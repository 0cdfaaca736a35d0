//! Control characters in text: which ones a client may send, and how text is shown on a
//! terminal so that it cannot act on it.
//!
//! Two kinds of text come in. *Free text* (a token's comment, a service user's description, a
//! password, a SQL script) may hold tab, newline and carriage return, which make sense there.
//! Everything else (names, ids, usernames, scopes, filters, path segments, query parameters)
//! is *plain*. Neither may hold NUL, another C0 control, DEL or a C1 control: no client needs
//! them, PostgreSQL refuses NUL outright, and on a terminal they become commands (ESC starts the
//! sequences that clear the screen or write the clipboard). Plain text may not hold the
//! bidirectional overrides either, which make a name read differently from what it is.

use std::borrow::Cow;

/// Which rule a piece of text is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// Names, ids, usernames, scopes, filters: no control character at all.
    Plain,
    /// Comments, descriptions, passwords, scripts: tab, newline and carriage return allowed.
    FreeText,
}

/// Fields of a request body that hold free text; every other field is plain.
pub const FREE_TEXT_FIELDS: &[&str] = &[
    "comment",
    "description",
    "password",
    "current_password",
    "new_password",
    "sql",
];

/// The kind of text a request field named `field` holds.
pub fn kind_of_field(field: &str) -> TextKind {
    if FREE_TEXT_FIELDS.contains(&field) {
        TextKind::FreeText
    } else {
        TextKind::Plain
    }
}

/// Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `c` is refused in text of this kind.
pub fn is_refused(c: char, kind: TextKind) -> bool {
    match kind {
        TextKind::Plain => c.is_control() || is_bidi_control(c),
        TextKind::FreeText => c.is_control() && !matches!(c, '\t' | '\n' | '\r'),
    }
}

/// The first character of `text` refused in text of this kind.
pub fn refused_char(text: &str, kind: TextKind) -> Option<char> {
    text.chars().find(|&c| is_refused(c, kind))
}

/// `U+0000` for a character, as an error message names it.
pub fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

/// Whether a terminal could take `c` for a command, or a table cell would break on it: every
/// control character (C0 including tab and newline, DEL, C1) and the bidirectional controls.
fn needs_escape(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// Text as it may be shown on a terminal: ESC as `\e`, a backslash that could be taken for
/// such an escape as `\\`, and every other control character (tab and newline too, so that a
/// table cannot be broken) as `\u{..}`. Text without them comes back borrowed, unchanged.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\u{1b}' => out.push_str("\\e"),
            '\\' => out.push_str("\\\\"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_refuses_every_control_character() {
        for c in [
            '\0', '\t', '\n', '\r', '\u{1b}', '\u{7f}', '\u{80}', '\u{9b}', '\u{9f}',
        ] {
            assert!(is_refused(c, TextKind::Plain), "{}", code_point(c));
        }
        for c in ['\u{202e}', '\u{2066}', '\u{2069}'] {
            assert!(is_refused(c, TextKind::Plain), "{}", code_point(c));
        }
        for c in ['a', ' ', 'é', 'ж', '@', '\u{a0}'] {
            assert!(!is_refused(c, TextKind::Plain), "{}", code_point(c));
        }
    }

    #[test]
    fn free_text_allows_tab_and_line_breaks_only() {
        for c in ['\t', '\n', '\r', ' ', 'é', '\u{202e}'] {
            assert!(!is_refused(c, TextKind::FreeText), "{}", code_point(c));
        }
        for c in ['\0', '\u{7}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9b}'] {
            assert!(is_refused(c, TextKind::FreeText), "{}", code_point(c));
        }
        assert_eq!(
            refused_char("line one\nline\ttwo\0", TextKind::FreeText),
            Some('\0')
        );
        assert_eq!(kind_of_field("comment"), TextKind::FreeText);
        assert_eq!(kind_of_field("username"), TextKind::Plain);
    }

    #[test]
    fn visible_text_holds_no_control_character() {
        assert!(matches!(visible("plain text é"), Cow::Borrowed(_)));
        assert_eq!(visible("\u{1b}]52;c;aGk=\u{7}"), "\\e]52;c;aGk=\\u{7}");
        assert_eq!(visible("\u{1b}[2J"), "\\e[2J");
        assert_eq!(visible("a\u{9b}2Jb"), "a\\u{9b}2Jb");
        assert_eq!(visible("a\tb\nc\r\0"), "a\\u{9}b\\u{a}c\\u{d}\\u{0}");
        assert_eq!(visible("\u{202e}abc"), "\\u{202e}abc");
        // A backslash is doubled only where escapes are shown, so `\e` typed by a user cannot
        // pass for an escape character.
        assert_eq!(visible("\\e\u{7f}"), "\\\\e\\u{7f}");
        assert_eq!(visible("C:\\dir"), "C:\\dir");
        for c in (0u32..0x2100).filter_map(char::from_u32) {
            let shown = visible(&c.to_string()).into_owned();
            assert!(!shown.chars().any(needs_escape), "{}", code_point(c));
        }
    }
}
