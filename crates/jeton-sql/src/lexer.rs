//! Turning a script into tokens, and the lexical helpers built on them (keywords, quoting,
//! completeness of a statement typed in a shell).
//!
//! The lexer never fails: text it cannot read becomes an [`TokenKind::Unknown`] token, and a
//! string, quoted name or block comment left open becomes a [`TokenKind::Unclosed`] token at its
//! start, so that the parser reports every problem at the point where it meets it.

/// Every keyword of the language, upper case, in alphabetical order. Keywords are matched without
/// regard to case and are reserved: to use one as a name, quote it (`"user"`).
pub const KEYWORDS: &[&str] = &[
    "ACCESS",
    "ACTION",
    "ACTIVE",
    "ALL",
    "ALTER",
    "API",
    "AUDIT",
    "COMMENT",
    "CREATE",
    "DESCRIPTION",
    "DROP",
    "DURATION",
    "EXPIRES",
    "FALSE",
    "FOR",
    "FROM",
    "GRACE",
    "GRANT",
    "IN",
    "KEY",
    "LEVEL",
    "LIMIT",
    "MAX",
    "PASSWORD",
    "REVOKE",
    "ROLE",
    "ROLES",
    "ROTATE",
    "SCOPES",
    "SERVICE",
    "SET",
    "SHOW",
    "TENANT",
    "TO",
    "TOKEN",
    "TOKENS",
    "TRUE",
    "UNSET",
    "USER",
    "USERS",
];

/// Whether `word` is a keyword, in any case (`"token"`, `"Token"` and `"TOKEN"` all are).
pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Writes `name` so that the parser reads it back as exactly that name: bare when it is a valid
/// bare name (`ci_pipeline`, `etl-pipeline`, `alice@example.com`), otherwise in double quotes
/// with `"` doubled (`"user"`, `"my token"`, `"say ""hi"""`). Use it to build statements from
/// values; never paste a value into a statement unquoted.
pub fn quote_name(name: &str) -> String {
    let tokens = tokenize(name);
    let bare = matches!(
        tokens.as_slice(),
        [word, end] if word.kind == TokenKind::Word
            && word.start == 0
            && word.end == name.len()
            && end.kind == TokenKind::End
    ) && !is_keyword(name);
    if bare {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Writes `value` as a string literal: in single quotes with `'` doubled (`'it''s'`).
pub fn quote_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Whether `script` is ready to be sent as it is: it ends with `;` (or holds nothing but blanks
/// and comments) and leaves no string, quoted name or block comment open. An interactive shell
/// reads lines until this is true, so statements may span several lines.
pub fn is_complete(script: &str) -> bool {
    let tokens = tokenize(script);
    if tokens
        .iter()
        .any(|t| matches!(t.kind, TokenKind::Unclosed(_)))
    {
        return false;
    }
    match tokens.iter().rev().find(|t| t.kind != TokenKind::End) {
        None => true,
        Some(last) => last.kind == TokenKind::Semicolon,
    }
}

/// What a [`TokenKind::Unclosed`] token failed to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unclosed {
    /// A `'string'`.
    String,
    /// A `"quoted name"`.
    QuotedName,
    /// A `/* block comment */`.
    Comment,
}

impl Unclosed {
    /// What would have closed it, for the error's "expected" part.
    pub(crate) fn expected(self) -> &'static str {
        match self {
            Unclosed::String => "a closing ' for the string that starts here",
            Unclosed::QuotedName => "a closing \" for the quoted name that starts here",
            Unclosed::Comment => "a closing */ for the comment that starts here",
        }
    }
}

/// The kinds of token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// A bare word: a keyword or a bare name.
    Word,
    /// A `"quoted name"`, with `""` already turned into `"`.
    QuotedName(String),
    /// A `'string'`, with `''` already turned into `'`.
    String(String),
    /// A whole number, possibly with a leading `-`.
    Number,
    /// `(`
    LeftParen,
    /// `)`
    RightParen,
    /// `,`
    Comma,
    /// `=`
    Equals,
    /// `;`
    Semicolon,
    /// Text that is not a token of the language (`#`, `-x`, a curly quote).
    Unknown,
    /// A string, quoted name or comment that is not closed; it runs to the end of the input.
    Unclosed(Unclosed),
    /// The end of the input; always the last token, and only there.
    End,
}

/// One token: its kind, where it lies in the source (bytes) and where it starts (1-based line
/// and column, counted in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// Reads the characters of the source, keeping the line and column.
struct Cursor<'s> {
    src: &'s str,
    pos: usize,
    line: usize,
    column: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.src[self.pos..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn starts_with(&self, text: &str) -> bool {
        self.src[self.pos..].starts_with(text)
    }

    /// Skips blanks and comments. Returns the position of a block comment left open, if any.
    fn skip_blanks(&mut self) -> Option<(usize, usize, usize)> {
        loop {
            match self.peek() {
                // U+FEFF: a byte order mark left at the start of a file.
                Some(c) if c.is_whitespace() || c == '\u{feff}' => {
                    self.bump();
                }
                Some('-') if self.peek_second() == Some('-') => {
                    while !matches!(self.peek(), None | Some('\n')) {
                        self.bump();
                    }
                }
                Some('/') if self.peek_second() == Some('*') => {
                    let open = (self.pos, self.line, self.column);
                    self.bump();
                    self.bump();
                    loop {
                        if self.starts_with("*/") {
                            self.bump();
                            self.bump();
                            break;
                        }
                        if self.bump().is_none() {
                            return Some(open);
                        }
                    }
                }
                _ => return None,
            }
        }
    }

    /// Reads the rest of a quoted string or name whose opening `quote` is the next character.
    /// `None` when it is not closed.
    fn quoted(&mut self, quote: char) -> Option<String> {
        self.bump();
        let mut value = String::new();
        loop {
            match self.bump()? {
                c if c == quote => {
                    if self.peek() == Some(quote) {
                        self.bump();
                        value.push(quote);
                    } else {
                        return Some(value);
                    }
                }
                c => value.push(c),
            }
        }
    }

    /// Reads the rest of a bare word: letters, digits and `_`, and `-`, `.` or `@` when a
    /// letter, digit or `_` follows (so a word never ends with them, and `--` starts a comment).
    fn word(&mut self) {
        loop {
            match self.peek() {
                Some(c) if continues_word(c) => {
                    self.bump();
                }
                Some('-' | '.' | '@') if self.peek_second().is_some_and(continues_word) => {
                    self.bump();
                }
                _ => return,
            }
        }
    }
}

fn continues_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits `src` into tokens. The last token is always [`TokenKind::End`].
pub(crate) fn tokenize(src: &str) -> Vec<Token> {
    let mut cursor = Cursor {
        src,
        pos: 0,
        line: 1,
        column: 1,
    };
    let mut tokens = Vec::new();
    loop {
        if let Some((start, line, column)) = cursor.skip_blanks() {
            tokens.push(Token {
                kind: TokenKind::Unclosed(Unclosed::Comment),
                start,
                end: src.len(),
                line,
                column,
            });
            break;
        }
        let (start, line, column) = (cursor.pos, cursor.line, cursor.column);
        let Some(c) = cursor.peek() else { break };
        let kind = match c {
            '\'' | '"' => {
                let closed = cursor.quoted(c);
                match (c, closed) {
                    ('\'', Some(value)) => TokenKind::String(value),
                    (_, Some(value)) => TokenKind::QuotedName(value),
                    ('\'', None) => TokenKind::Unclosed(Unclosed::String),
                    (_, None) => TokenKind::Unclosed(Unclosed::QuotedName),
                }
            }
            '(' | ')' | ',' | '=' | ';' => {
                cursor.bump();
                match c {
                    '(' => TokenKind::LeftParen,
                    ')' => TokenKind::RightParen,
                    ',' => TokenKind::Comma,
                    '=' => TokenKind::Equals,
                    _ => TokenKind::Semicolon,
                }
            }
            '-' if cursor.peek_second().is_some_and(|d| d.is_ascii_digit()) => {
                cursor.bump();
                cursor.word();
                if src[start + 1..cursor.pos]
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                {
                    TokenKind::Number
                } else {
                    TokenKind::Unknown
                }
            }
            c if continues_word(c) => {
                cursor.word();
                if src[start..cursor.pos].bytes().all(|b| b.is_ascii_digit()) {
                    TokenKind::Number
                } else {
                    TokenKind::Word
                }
            }
            _ => {
                cursor.bump();
                TokenKind::Unknown
            }
        };
        let unclosed = matches!(kind, TokenKind::Unclosed(_));
        tokens.push(Token {
            kind,
            start,
            end: cursor.pos,
            line,
            column,
        });
        if unclosed {
            break;
        }
    }
    tokens.push(Token {
        kind: TokenKind::End,
        start: src.len(),
        end: src.len(),
        line: cursor.line,
        column: cursor.column,
    });
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(TokenKind, &str)> {
        tokenize(src)
            .into_iter()
            .map(|t| (t.kind, &src[t.start..t.end]))
            .collect()
    }

    #[test]
    fn words_numbers_and_symbols() {
        use TokenKind::*;
        assert_eq!(
            kinds("Show etl-pipeline a.b@c 42 -7 30d (,=);"),
            vec![
                (Word, "Show"),
                (Word, "etl-pipeline"),
                (Word, "a.b@c"),
                (Number, "42"),
                (Number, "-7"),
                (Word, "30d"),
                (LeftParen, "("),
                (Comma, ","),
                (Equals, "="),
                (RightParen, ")"),
                (Semicolon, ";"),
                (End, ""),
            ]
        );
    }

    #[test]
    fn a_word_never_ends_with_a_joiner() {
        use TokenKind::*;
        assert_eq!(
            kinds("a- b-- note\nc.@d"),
            vec![
                (Word, "a"),
                (Unknown, "-"),
                (Word, "b"),
                (Word, "c"),
                (Unknown, "."),
                (Unknown, "@"),
                (Word, "d"),
                (End, ""),
            ]
        );
    }

    #[test]
    fn quotes_are_unescaped() {
        let tokens = tokenize(r#"'it''s' "say ""hi""" '' """#);
        assert_eq!(tokens[0].kind, TokenKind::String("it's".into()));
        assert_eq!(tokens[1].kind, TokenKind::QuotedName("say \"hi\"".into()));
        assert_eq!(tokens[2].kind, TokenKind::String(String::new()));
        assert_eq!(tokens[3].kind, TokenKind::QuotedName(String::new()));
    }

    #[test]
    fn positions_count_characters_and_lines() {
        let tokens = tokenize("'Токен'  x\n\t y /* a\nb */ z");
        let at: Vec<_> = tokens.iter().map(|t| (t.line, t.column)).collect();
        assert_eq!(at, vec![(1, 1), (1, 10), (2, 3), (3, 6), (3, 7)]);
    }

    #[test]
    fn unclosed_things_stop_the_input_at_their_start() {
        for (src, what) in [
            ("a 'b", Unclosed::String),
            ("a \"b", Unclosed::QuotedName),
            ("a /* b", Unclosed::Comment),
        ] {
            let tokens = tokenize(src);
            assert_eq!(tokens.len(), 3, "{src}");
            assert_eq!(tokens[1].kind, TokenKind::Unclosed(what));
            assert_eq!((tokens[1].line, tokens[1].column), (1, 3));
        }
    }

    #[test]
    fn keywords_are_sorted_upper_case_and_unique() {
        let mut sorted = KEYWORDS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, KEYWORDS);
        assert!(
            KEYWORDS
                .iter()
                .all(|k| k.chars().all(|c| c.is_ascii_uppercase()))
        );
        assert!(is_keyword("tokens") && is_keyword("Max") && !is_keyword("admin"));
    }

    #[test]
    fn completeness_for_a_shell() {
        assert!(is_complete(""));
        assert!(is_complete("  -- just a note\n"));
        assert!(is_complete("SHOW USERS;"));
        assert!(is_complete("SHOW USERS; -- done"));
        assert!(!is_complete("SHOW USERS"));
        assert!(!is_complete("CREATE API TOKEN x COMMENT 'a;\n"));
        assert!(!is_complete("SHOW USERS; /* open"));
        assert!(is_complete("CREATE API TOKEN x COMMENT 'a;\nb';"));
    }
}
