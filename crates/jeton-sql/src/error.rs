//! The one error of this crate: where a script stops making sense, and what would have.

use std::fmt;

/// Longest `found` text kept, in characters; longer tokens are cut and end with `...`.
const MAX_FOUND_CHARS: usize = 40;

/// What kind of mistake a [`ParseError`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A token that does not fit the grammar there.
    Unexpected,
    /// A keyword where a name may go: keywords are names only when quoted (`"user"`).
    Keyword,
    /// A string, quoted name or block comment that is never closed. The position is where it
    /// opens; `found` is `end of input`.
    Unterminated,
    /// An optional clause given a second time in one statement.
    RepeatedClause {
        /// The clause, as in `COMMENT` or `FOR USER`.
        clause: String,
    },
    /// A value of the right kind out of range: a `LIMIT` outside 1 to
    /// [`MAX_AUDIT_LIMIT`](crate::MAX_AUDIT_LIMIT).
    OutOfRange,
    /// A control character (NUL, ESC, DEL, a C1 control...) other than tab and line breaks;
    /// `found` names its code point, as in `U+0000`.
    ControlCharacter,
}

/// Why a script does not parse, and where: the first problem met, reading from the start.
///
/// Its `Display` is one line, such as
/// `line 1, column 20: expected MAX DURATION, COMMENT, FOR USER, SCOPES or ';', found 'DURATON'`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseError {
    /// The 1-based line of the offending token.
    pub line: usize,
    /// The 1-based column of the offending token, counted in characters (not bytes).
    pub column: usize,
    /// What would have been valid there, as a readable list: `MAX DURATION, COMMENT or ';'`.
    pub expected: String,
    /// The offending token as written (a string keeps its quotes; a token longer than 40
    /// characters is cut and ends with `...`), or `end of input`. It is `***` where the token
    /// may be a password: anything but a string where a password goes, and any string found in
    /// the wrong place of `CREATE USER` or `ALTER USER`.
    pub found: String,
    /// What kind of mistake it is.
    pub kind: ErrorKind,
    /// Whether `found` is shown in quotes (not for `end of input` or a string literal).
    quote_found: bool,
}

impl ParseError {
    /// An error at `line`/`column`; `found` is `None` at the end of the input.
    pub(crate) fn new(
        kind: ErrorKind,
        line: usize,
        column: usize,
        expected: String,
        found: Option<&str>,
    ) -> Self {
        let (found, quote_found) = match found {
            None => ("end of input".to_owned(), false),
            Some(text) => (shorten(text), !text.starts_with('\'')),
        };
        Self {
            line,
            column,
            expected,
            found,
            kind,
            quote_found,
        }
    }

    /// Replaces `found` by `***` (a password written where it does not belong).
    pub(crate) fn hide_found(mut self) -> Self {
        if self.found != "end of input" {
            self.found = "***".to_owned();
            self.quote_found = true;
        }
        self
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_FOUND_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: ", self.line, self.column)?;
        if let ErrorKind::RepeatedClause { clause } = &self.kind {
            return write!(f, "{clause} is given twice (each clause may appear once)");
        }
        write!(f, "expected {}, found ", self.expected)?;
        if self.quote_found {
            write!(f, "'{}'", self.found)?;
        } else {
            f.write_str(&self.found)?;
        }
        if self.kind == ErrorKind::Keyword {
            write!(
                f,
                " (a keyword: write \"{}\" to use it as a name)",
                self.found
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

/// Joins alternatives as `A`, `A or B`, `A, B or C`.
pub(crate) fn alternatives<S: AsRef<str>>(items: &[S]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(if i + 1 == items.len() { " or " } else { ", " });
        }
        out.push_str(item.as_ref());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_naturally() {
        assert_eq!(alternatives(&["A"]), "A");
        assert_eq!(alternatives(&["A", "B"]), "A or B");
        assert_eq!(alternatives(&["A", "B", "C"]), "A, B or C");
    }

    #[test]
    fn long_tokens_are_cut_on_a_character_boundary() {
        let long = "я".repeat(100);
        let error = ParseError::new(ErrorKind::Unexpected, 1, 1, "X".into(), Some(&long));
        assert_eq!(error.found, format!("{}...", "я".repeat(40)));
    }
}
