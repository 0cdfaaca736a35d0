//! Jeton's SQL-style command language: the lexer, the parser and the syntax tree.
//!
//! This crate turns a script such as
//!
//! ```sql
//! CREATE API TOKEN ci_pipeline
//! MAX DURATION '30d'
//! COMMENT 'Токен для сборочного конвейера';
//! ```
//!
//! into [`Statement`]s, or into a [`ParseError`] naming the line, the column, what was expected
//! and what was found. It owns the grammar and nothing else: it does not run statements, check
//! permissions, or validate names, durations, access levels or scopes (the executor does, with
//! `jeton-core`). It uses only `std`.
//!
//! [`Statement::to_sql`] prints a statement back as canonical source text that parses to the
//! same statement (it holds passwords in clear: never log it).
//!
//! [`parse`] and every other function here never panic, whatever the input (it is fuzzed with
//! random bytes in the tests), and use no recursion, so a huge script cannot overflow the stack.
//!
//! # Lexical rules
//!
//! - **Keywords** ([`KEYWORDS`]) are matched in any case and are reserved: a name that is a
//!   keyword must be quoted (`DROP USER "user"`).
//! - **Bare names** start with a letter (any script), a digit or `_`, and go on with letters,
//!   digits and `_`; `-`, `.` and `@` may join two such characters, so `etl-pipeline`,
//!   `v1.2` and `alice@example.com` are bare names, while a name never ends with them and `--`
//!   always starts a comment (`a--b` is `a` and a comment). A word of digits only is a number,
//!   not a name. Bare names keep the case they are written in.
//! - **Quoted names** are in double quotes and may hold anything, with `""` for a `"`
//!   (`"my ""best"" token"`); an empty one (`""`) is not a name.
//! - **Strings** are in single quotes, may span lines and hold any text, with `''` for a `'`.
//! - **Numbers** are whole and may start with `-` (only `LIMIT` takes one).
//! - **Comments**: `-- to the end of the line` and `/* block */` (not nested).
//! - **Statements** are separated by `;`; the last `;` is optional and empty statements (`;;`)
//!   are skipped. An input with no statement parses to an empty list.
//! - Lines and columns are 1-based; columns count characters, not bytes.
//!
//! # Statements
//!
//! Clauses in square brackets are optional; where a statement has several, they may come in any
//! order, each at most once.
//!
//! ```text
//! CREATE API TOKEN [name] [MAX DURATION 'd'] [COMMENT 'c'] [FOR USER u] [SCOPES ('a', ...)]
//! SHOW API TOKENS [FOR USER u] [ALL]
//! ALTER API TOKEN name [FOR USER u] SET COMMENT 'c'
//! DROP API TOKEN name [FOR USER u]
//! DROP ALL API TOKENS FOR USER u
//! ALTER USER u SET API TOKEN MAX DURATION 'd'      ALTER USER u UNSET API TOKEN MAX DURATION
//! ALTER ROLE r SET API TOKEN MAX DURATION 'd'      ALTER ROLE r UNSET API TOKEN MAX DURATION
//! CREATE USER u [PASSWORD 'p'] [ACCESS LEVEL level] [IN TENANT t]
//! ALTER USER u SET PASSWORD 'p'
//! ALTER USER u SET ACTIVE [=] TRUE|FALSE
//! ALTER USER u SET ACCESS LEVEL level
//! DROP USER u                                      SHOW USERS
//! CREATE ROLE r          DROP ROLE r               SHOW ROLES
//! GRANT ROLE r TO USER u                           REVOKE ROLE r FROM USER u
//! CREATE SERVICE USER s [ACCESS LEVEL level] [DESCRIPTION 'd']
//!                       [EXPIRES IN 'd' | MAX DURATION 'd'] [SCOPES ('a', ...)]
//! SHOW SERVICE USERS
//! ALTER SERVICE USER s ROTATE KEY [GRACE 'd']
//! ALTER SERVICE USER s SET ACTIVE [=] TRUE|FALSE
//! ALTER SERVICE USER s SET DESCRIPTION 'd'
//! DROP SERVICE USER s
//! SHOW AUDIT [FOR USER u] [ACTION 'a'] [LIMIT n]
//! ```
//!
//! Durations (`'30d'`), comments, descriptions, passwords, scopes and actions are strings. An
//! access level is a string or a name (`'tenant-user'`, `TENANT_ADMIN`). A `SCOPES` list holds
//! at least one scope. `LIMIT` is from 1 to [`MAX_AUDIT_LIMIT`].
//!
//! # Example
//!
//! ```
//! use jeton_sql::{Statement, parse, parse_spanned};
//!
//! let statements = parse("SHOW API TOKENS FOR USER analyst; DROP API TOKEN report_bot")?;
//! assert_eq!(
//!     statements[1],
//!     Statement::DropApiToken { name: "report_bot".into(), for_user: None }
//! );
//!
//! let error = parse("SELEC 1").unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "line 1, column 1: expected CREATE, ALTER, DROP, SHOW, GRANT or REVOKE, found 'SELEC'"
//! );
//!
//! let spanned = parse_spanned("SHOW USERS;\n  ALTER USER bob SET PASSWORD 's3cret';")?;
//! assert_eq!((spanned[1].line, spanned[1].column), (2, 3));
//! assert_eq!(spanned[1].text, "ALTER USER bob SET PASSWORD '***'");
//! assert_eq!(spanned[1].value.kind(), "ALTER USER SET PASSWORD");
//! # Ok::<(), jeton_sql::ParseError>(())
//! ```

mod ast;
mod error;
mod lexer;
mod parser;
mod print;

pub use ast::{Password, Spanned, Statement};
pub use error::{ErrorKind, ParseError};
pub use lexer::{KEYWORDS, is_complete, is_keyword, quote_name, quote_string};
pub use parser::MAX_AUDIT_LIMIT;

/// Parses a script of zero or more statements. Stops at the first error. Never panics.
pub fn parse(script: &str) -> Result<Vec<Statement>, ParseError> {
    Ok(parse_spanned(script)?
        .into_iter()
        .map(|statement| statement.value)
        .collect())
}

/// Like [`parse`], with each statement's line, column and source text (passwords hidden), so an
/// executor can say "statement 2 (line 3, ALTER USER SET PASSWORD): ...". Never panics.
pub fn parse_spanned(script: &str) -> Result<Vec<Spanned<Statement>>, ParseError> {
    parser::parse_spanned(script)
}
