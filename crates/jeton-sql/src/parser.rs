//! The recursive-descent parser (in fact a flat one: no rule calls itself, so no input can
//! exhaust the stack).

use crate::ast::{Password, Spanned, Statement};
use crate::error::{ErrorKind, ParseError, alternatives};
use crate::lexer::{Token, TokenKind, is_keyword, tokenize};

/// The largest `LIMIT` of `SHOW AUDIT`.
pub const MAX_AUDIT_LIMIT: u32 = 10_000;

type Result<T> = std::result::Result<T, ParseError>;

const STATEMENT_STARTS: &[&str] = &["CREATE", "ALTER", "DROP", "SHOW", "GRANT", "REVOKE"];
const END: &str = "';'";
const DURATION: &str = "a quoted duration such as '30d'";
const COMMENT: &str = "a quoted comment";
const DESCRIPTION: &str = "a quoted description";
const PASSWORD: &str = "a quoted password";
const SCOPE: &str = "a quoted scope such as 'catalog:read'";
const ACTION: &str = "a quoted action such as 'token.create'";
const ACCESS_LEVEL: &str = "an access level such as 'tenant-user'";

/// The optional clauses of one statement, each a list of spellings (words separated by one
/// space), in the order they are listed in errors. Each may be given once, in any order.
type ClauseList = &'static [&'static [&'static str]];

const CREATE_API_TOKEN: ClauseList = &[&["MAX DURATION"], &["COMMENT"], &["FOR USER"], &["SCOPES"]];
const FOR_USER: ClauseList = &[&["FOR USER"]];
const SHOW_API_TOKENS: ClauseList = &[&["FOR USER"], &["ALL"]];
const CREATE_USER: ClauseList = &[&["PASSWORD"], &["ACCESS LEVEL"], &["IN TENANT"]];
const CREATE_SERVICE_USER: ClauseList = &[
    &["ACCESS LEVEL"],
    &["DESCRIPTION"],
    &["EXPIRES IN", "MAX DURATION"],
    &["SCOPES"],
];
const ROTATE_KEY: ClauseList = &[&["GRACE"]];
const SHOW_AUDIT: ClauseList = &[&["FOR USER"], &["ACTION"], &["LIMIT"]];

/// Parses `src` into statements with their positions. See [`crate::parse`].
/// Refuses a script holding a control character other than tab and line breaks, wherever it is:
/// in a string it would be stored (PostgreSQL refuses NUL outright) and later shown on someone's
/// terminal; elsewhere it is no part of the language. The same rule as free text in
/// `jeton_core::text`, which this crate (std only) does not depend on.
fn refuse_control_characters(src: &str) -> Result<()> {
    let mut line = 1;
    let mut column = 1;
    for c in src.chars() {
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
            return Err(ParseError::new(
                ErrorKind::ControlCharacter,
                line,
                column,
                "text without control characters".to_owned(),
                Some(&format!("U+{:04X}", u32::from(c))),
            ));
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    Ok(())
}

pub(crate) fn parse_spanned(src: &str) -> Result<Vec<Spanned<Statement>>> {
    refuse_control_characters(src)?;
    let mut parser = Parser {
        src,
        tokens: tokenize(src),
        pos: 0,
        secrets: Vec::new(),
        hide_strings: false,
    };
    let mut statements = Vec::new();
    loop {
        while parser.peek().kind == TokenKind::Semicolon {
            parser.advance();
        }
        if parser.peek().kind == TokenKind::End {
            return Ok(statements);
        }
        let first = parser.pos;
        parser.secrets.clear();
        parser.hide_strings = false;
        let value = parser.statement()?;
        if !parser.at_end() {
            return Err(parser.unexpected(&[END]));
        }
        statements.push(Spanned {
            value,
            line: parser.tokens[first].line,
            column: parser.tokens[first].column,
            text: parser.text_between(first, parser.pos),
        });
    }
}

/// Which optional clauses a statement has seen so far.
struct Clauses {
    list: ClauseList,
    seen: Vec<bool>,
    /// Something else valid before the first clause, listed first in errors (an optional name).
    lead: Option<&'static str>,
}

impl Clauses {
    fn new(list: ClauseList) -> Self {
        Self {
            list,
            seen: vec![false; list.len()],
            lead: None,
        }
    }

    fn with_lead(list: ClauseList, lead: Option<&'static str>) -> Self {
        Self {
            lead,
            ..Self::new(list)
        }
    }

    /// What may come next: the lead, every clause not yet given, and the end.
    fn expected(&self) -> Vec<&'static str> {
        let mut expected: Vec<&'static str> = self.lead.into_iter().collect();
        for (spellings, seen) in self.list.iter().zip(&self.seen) {
            if !seen {
                expected.extend_from_slice(spellings);
            }
        }
        expected.push(END);
        expected
    }
}

struct Parser<'s> {
    src: &'s str,
    /// Always ends with [`TokenKind::End`], which [`Parser::advance`] never moves past.
    tokens: Vec<Token>,
    pos: usize,
    /// Byte ranges of the password strings of the current statement, hidden in its text.
    secrets: Vec<(usize, usize)>,
    /// Whether the current statement may hold a password (`CREATE USER`, `ALTER USER`): then an
    /// error never shows a string it found, which may be a password in the wrong place.
    hide_strings: bool,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos]
    }

    fn advance(&mut self) {
        if self.peek().kind != TokenKind::End {
            self.pos += 1;
        }
    }

    fn peek_text(&self) -> &str {
        let token = self.peek();
        &self.src[token.start..token.end]
    }

    /// The source from token `first` to the one before `end`, passwords hidden.
    fn text_between(&self, first: usize, end: usize) -> String {
        let start = self.tokens[first].start;
        let stop = self.tokens[end.saturating_sub(1).max(first)].end;
        let mut text = String::new();
        let mut at = start;
        for &(secret_start, secret_end) in &self.secrets {
            text.push_str(&self.src[at..secret_start]);
            text.push_str("'***'");
            at = secret_end;
        }
        text.push_str(&self.src[at..stop]);
        text
    }

    fn at_end(&self) -> bool {
        matches!(self.peek().kind, TokenKind::Semicolon | TokenKind::End)
    }

    /// An error at the current token.
    fn error(&self, kind: ErrorKind, expected: String) -> ParseError {
        let token = self.peek();
        match token.kind {
            TokenKind::Unclosed(what) => ParseError::new(
                ErrorKind::Unterminated,
                token.line,
                token.column,
                what.expected().to_owned(),
                None,
            ),
            TokenKind::End => ParseError::new(kind, token.line, token.column, expected, None),
            TokenKind::String(_) if self.hide_strings => {
                ParseError::new(kind, token.line, token.column, expected, Some("")).hide_found()
            }
            _ => ParseError::new(
                kind,
                token.line,
                token.column,
                expected,
                Some(self.peek_text()),
            ),
        }
    }

    fn unexpected<S: AsRef<str>>(&self, expected: &[S]) -> ParseError {
        self.error(ErrorKind::Unexpected, alternatives(expected))
    }

    /// An error where a name was one of the valid things: says so when a keyword was found.
    fn unexpected_name<S: AsRef<str>>(&self, expected: &[S]) -> ParseError {
        let kind = if self.peek().kind == TokenKind::Word && is_keyword(self.peek_text()) {
            ErrorKind::Keyword
        } else {
            ErrorKind::Unexpected
        };
        self.error(kind, alternatives(expected))
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        debug_assert!(
            crate::KEYWORDS.contains(&keyword),
            "{keyword} missing from KEYWORDS"
        );
        self.peek().kind == TokenKind::Word && self.peek_text().eq_ignore_ascii_case(keyword)
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.is_keyword(keyword);
        if found {
            self.advance();
        }
        found
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<()> {
        if self.eat_keyword(keyword) {
            Ok(())
        } else {
            Err(self.unexpected(&[keyword]))
        }
    }

    /// Expects the words of `phrase` (separated by one space) in turn.
    fn expect_phrase(&mut self, phrase: &str) -> Result<()> {
        phrase
            .split(' ')
            .try_for_each(|word| self.expect_keyword(word))
    }

    /// Reads one of `phrases`, chosen by its first word; returns its index.
    fn choose(&mut self, phrases: &[&str]) -> Result<usize> {
        for (i, phrase) in phrases.iter().enumerate() {
            let mut words = phrase.split(' ');
            if words.next().is_some_and(|first| self.is_keyword(first)) {
                self.advance();
                words.try_for_each(|word| self.expect_keyword(word))?;
                return Ok(i);
            }
        }
        Err(self.unexpected(phrases))
    }

    /// Reads the next optional clause's keywords and returns its index, or `None` at the end of
    /// the statement. Anything else is an error listing what may come next.
    fn clause(&mut self, clauses: &mut Clauses) -> Result<Option<usize>> {
        if self.at_end() {
            return Ok(None);
        }
        for (i, spellings) in clauses.list.iter().enumerate() {
            for phrase in *spellings {
                let mut words = phrase.split(' ');
                if !words.next().is_some_and(|first| self.is_keyword(first)) {
                    continue;
                }
                if clauses.seen[i] {
                    let clause = alternatives(spellings);
                    return Err(self.error(
                        ErrorKind::RepeatedClause { clause },
                        alternatives(&clauses.expected()),
                    ));
                }
                self.advance();
                words.try_for_each(|word| self.expect_keyword(word))?;
                clauses.seen[i] = true;
                clauses.lead = None;
                return Ok(Some(i));
            }
        }
        if clauses.lead.is_some() {
            Err(self.unexpected_name(&clauses.expected()))
        } else {
            Err(self.unexpected(&clauses.expected()))
        }
    }

    /// A name here, if there is one: a bare word that is not a keyword, or a non-empty quoted
    /// name.
    fn optional_name(&mut self) -> Option<String> {
        let name = match &self.peek().kind {
            TokenKind::Word if !is_keyword(self.peek_text()) => self.peek_text().to_owned(),
            TokenKind::QuotedName(name) if !name.is_empty() => name.clone(),
            _ => return None,
        };
        self.advance();
        Some(name)
    }

    /// A name of a `what` (`token`, `user`, ...).
    fn name(&mut self, what: &str) -> Result<String> {
        match self.optional_name() {
            Some(name) => Ok(name),
            None => Err(self.unexpected_name(&[format!("a {what} name")])),
        }
    }

    /// A string literal; `expected` describes it in an error.
    fn string(&mut self, expected: &str) -> Result<String> {
        match &self.peek().kind {
            TokenKind::String(value) => {
                let value = value.clone();
                self.advance();
                Ok(value)
            }
            _ => Err(self.unexpected(&[expected])),
        }
    }

    fn password(&mut self) -> Result<Password> {
        let token = self.peek();
        let range = (token.start, token.end);
        match &token.kind {
            TokenKind::String(value) => {
                let password = Password::new(value.as_str());
                self.secrets.push(range);
                self.advance();
                Ok(password)
            }
            TokenKind::Semicolon | TokenKind::End | TokenKind::Unclosed(_) => {
                Err(self.unexpected(&[PASSWORD]))
            }
            // Likely the password itself, written without quotes: keep it out of the message.
            _ => Err(self.unexpected(&[PASSWORD]).hide_found()),
        }
    }

    /// An access level: a string (`'tenant-user'`) or a name (`TENANT_ADMIN`, `"root"`).
    fn access_level(&mut self) -> Result<String> {
        if let TokenKind::String(value) = &self.peek().kind {
            let value = value.clone();
            self.advance();
            return Ok(value);
        }
        self.optional_name()
            .ok_or_else(|| self.unexpected_name(&[ACCESS_LEVEL]))
    }

    /// `[=] TRUE|FALSE`
    fn active(&mut self) -> Result<bool> {
        let equals = self.peek().kind == TokenKind::Equals;
        if equals {
            self.advance();
        }
        if self.eat_keyword("TRUE") {
            Ok(true)
        } else if self.eat_keyword("FALSE") {
            Ok(false)
        } else if equals {
            Err(self.unexpected(&["TRUE", "FALSE"]))
        } else {
            Err(self.unexpected(&["'='", "TRUE", "FALSE"]))
        }
    }

    /// `('a', 'b', ...)`, at least one.
    fn scopes(&mut self) -> Result<Vec<String>> {
        if self.peek().kind != TokenKind::LeftParen {
            return Err(self.unexpected(&["'('"]));
        }
        self.advance();
        let mut scopes = Vec::new();
        loop {
            scopes.push(self.string(SCOPE)?);
            match self.peek().kind {
                TokenKind::Comma => self.advance(),
                TokenKind::RightParen => {
                    self.advance();
                    return Ok(scopes);
                }
                _ => return Err(self.unexpected(&["','", "')'"])),
            }
        }
    }

    /// A whole number from 1 to [`MAX_AUDIT_LIMIT`].
    fn limit(&mut self) -> Result<u32> {
        let expected = format!("a number from 1 to {MAX_AUDIT_LIMIT}");
        if self.peek().kind != TokenKind::Number {
            return Err(self.unexpected(&[expected]));
        }
        match self.peek_text().parse::<u32>() {
            Ok(limit) if (1..=MAX_AUDIT_LIMIT).contains(&limit) => {
                self.advance();
                Ok(limit)
            }
            _ => Err(self.error(ErrorKind::OutOfRange, expected)),
        }
    }

    fn statement(&mut self) -> Result<Statement> {
        match self.choose(STATEMENT_STARTS)? {
            0 => self.create(),
            1 => self.alter(),
            2 => self.drop(),
            3 => self.show(),
            4 => {
                self.expect_keyword("ROLE")?;
                let role = self.name("role")?;
                self.expect_phrase("TO USER")?;
                let user = self.name("user")?;
                Ok(Statement::GrantRole { role, user })
            }
            _ => {
                self.expect_keyword("ROLE")?;
                let role = self.name("role")?;
                self.expect_phrase("FROM USER")?;
                let user = self.name("user")?;
                Ok(Statement::RevokeRole { role, user })
            }
        }
    }

    fn create(&mut self) -> Result<Statement> {
        match self.choose(&["API TOKEN", "USER", "ROLE", "SERVICE USER"])? {
            0 => self.create_api_token(),
            1 => {
                self.hide_strings = true;
                self.create_user()
            }
            2 => Ok(Statement::CreateRole {
                role: self.name("role")?,
            }),
            _ => self.create_service_user(),
        }
    }

    fn create_api_token(&mut self) -> Result<Statement> {
        let name = self.optional_name();
        let lead = name.is_none().then_some("a token name");
        let mut clauses = Clauses::with_lead(CREATE_API_TOKEN, lead);
        let (mut for_user, mut max_duration, mut comment, mut scopes) = (None, None, None, None);
        while let Some(clause) = self.clause(&mut clauses)? {
            match clause {
                0 => max_duration = Some(self.string(DURATION)?),
                1 => comment = Some(self.string(COMMENT)?),
                2 => for_user = Some(self.name("user")?),
                _ => scopes = Some(self.scopes()?),
            }
        }
        Ok(Statement::CreateApiToken {
            name,
            for_user,
            max_duration,
            comment,
            scopes,
        })
    }

    fn create_user(&mut self) -> Result<Statement> {
        let user = self.name("user")?;
        let mut clauses = Clauses::new(CREATE_USER);
        let (mut password, mut access_level, mut tenant) = (None, None, None);
        while let Some(clause) = self.clause(&mut clauses)? {
            match clause {
                0 => password = Some(self.password()?),
                1 => access_level = Some(self.access_level()?),
                _ => tenant = Some(self.name("tenant")?),
            }
        }
        Ok(Statement::CreateUser {
            user,
            password,
            access_level,
            tenant,
        })
    }

    fn create_service_user(&mut self) -> Result<Statement> {
        let service_user = self.name("service user")?;
        let mut clauses = Clauses::new(CREATE_SERVICE_USER);
        let (mut access_level, mut description, mut expires_in, mut scopes) =
            (None, None, None, None);
        while let Some(clause) = self.clause(&mut clauses)? {
            match clause {
                0 => access_level = Some(self.access_level()?),
                1 => description = Some(self.string(DESCRIPTION)?),
                2 => expires_in = Some(self.string(DURATION)?),
                _ => scopes = Some(self.scopes()?),
            }
        }
        Ok(Statement::CreateServiceUser {
            service_user,
            access_level,
            description,
            expires_in,
            scopes,
        })
    }

    fn alter(&mut self) -> Result<Statement> {
        match self.choose(&["API TOKEN", "USER", "ROLE", "SERVICE USER"])? {
            0 => {
                let name = self.name("token")?;
                let for_user = match self.choose(&["FOR USER", "SET COMMENT"])? {
                    0 => {
                        let user = self.name("user")?;
                        self.expect_phrase("SET COMMENT")?;
                        Some(user)
                    }
                    _ => None,
                };
                let comment = self.string(COMMENT)?;
                Ok(Statement::SetApiTokenComment {
                    name,
                    for_user,
                    comment,
                })
            }
            1 => {
                self.hide_strings = true;
                self.alter_user()
            }
            2 => {
                let role = self.name("role")?;
                if self.choose(&["SET", "UNSET"])? == 0 {
                    self.expect_phrase("API TOKEN MAX DURATION")?;
                    let duration = self.string(DURATION)?;
                    Ok(Statement::SetRoleTokenMaxDuration { role, duration })
                } else {
                    self.expect_phrase("API TOKEN MAX DURATION")?;
                    Ok(Statement::UnsetRoleTokenMaxDuration { role })
                }
            }
            _ => self.alter_service_user(),
        }
    }

    fn alter_user(&mut self) -> Result<Statement> {
        let user = self.name("user")?;
        if self.choose(&["SET", "UNSET"])? == 1 {
            self.expect_phrase("API TOKEN MAX DURATION")?;
            return Ok(Statement::UnsetUserTokenMaxDuration { user });
        }
        Ok(
            match self.choose(&[
                "API TOKEN MAX DURATION",
                "PASSWORD",
                "ACTIVE",
                "ACCESS LEVEL",
            ])? {
                0 => Statement::SetUserTokenMaxDuration {
                    user,
                    duration: self.string(DURATION)?,
                },
                1 => Statement::SetUserPassword {
                    user,
                    password: self.password()?,
                },
                2 => Statement::SetUserActive {
                    user,
                    active: self.active()?,
                },
                _ => Statement::SetUserAccessLevel {
                    user,
                    access_level: self.access_level()?,
                },
            },
        )
    }

    fn alter_service_user(&mut self) -> Result<Statement> {
        let service_user = self.name("service user")?;
        if self.choose(&["ROTATE KEY", "SET"])? == 0 {
            let mut clauses = Clauses::new(ROTATE_KEY);
            let mut grace = None;
            while self.clause(&mut clauses)?.is_some() {
                grace = Some(self.string(DURATION)?);
            }
            return Ok(Statement::RotateServiceUserKey {
                service_user,
                grace,
            });
        }
        Ok(match self.choose(&["ACTIVE", "DESCRIPTION"])? {
            0 => Statement::SetServiceUserActive {
                service_user,
                active: self.active()?,
            },
            _ => Statement::SetServiceUserDescription {
                service_user,
                description: self.string(DESCRIPTION)?,
            },
        })
    }

    fn drop(&mut self) -> Result<Statement> {
        match self.choose(&[
            "API TOKEN",
            "ALL API TOKENS",
            "USER",
            "ROLE",
            "SERVICE USER",
        ])? {
            0 => {
                let name = self.name("token")?;
                let mut clauses = Clauses::new(FOR_USER);
                let mut for_user = None;
                while self.clause(&mut clauses)?.is_some() {
                    for_user = Some(self.name("user")?);
                }
                Ok(Statement::DropApiToken { name, for_user })
            }
            1 => {
                self.expect_phrase("FOR USER")?;
                Ok(Statement::DropAllApiTokens {
                    for_user: self.name("user")?,
                })
            }
            2 => Ok(Statement::DropUser {
                user: self.name("user")?,
            }),
            3 => Ok(Statement::DropRole {
                role: self.name("role")?,
            }),
            _ => Ok(Statement::DropServiceUser {
                service_user: self.name("service user")?,
            }),
        }
    }

    fn show(&mut self) -> Result<Statement> {
        match self.choose(&["API TOKENS", "USERS", "ROLES", "SERVICE USERS", "AUDIT"])? {
            0 => {
                let mut clauses = Clauses::new(SHOW_API_TOKENS);
                let (mut for_user, mut all) = (None, false);
                while let Some(clause) = self.clause(&mut clauses)? {
                    match clause {
                        0 => for_user = Some(self.name("user")?),
                        _ => all = true,
                    }
                }
                Ok(Statement::ShowApiTokens { for_user, all })
            }
            1 => Ok(Statement::ShowUsers),
            2 => Ok(Statement::ShowRoles),
            3 => Ok(Statement::ShowServiceUsers),
            _ => {
                let mut clauses = Clauses::new(SHOW_AUDIT);
                let (mut for_user, mut action, mut limit) = (None, None, None);
                while let Some(clause) = self.clause(&mut clauses)? {
                    match clause {
                        0 => for_user = Some(self.name("user")?),
                        1 => action = Some(self.string(ACTION)?),
                        _ => limit = Some(self.limit()?),
                    }
                }
                Ok(Statement::ShowAudit {
                    for_user,
                    action,
                    limit,
                })
            }
        }
    }
}
