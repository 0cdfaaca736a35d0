//! `jeton sql`: runs a script of the command language on the server (`POST /api/v1/sql`) and
//! prints its results as the seed documents show them. The printing and the error reporting
//! here are shared with `jeton shell`.

use std::io::{self, IsTerminal, Read};
use std::path::Path;

use jeton_api::{SqlError, SqlResponse, SqlResult};
use jeton_client::{Client, ClientError};

use crate::cli::args::SqlArgs;
use crate::cli::context::Context;
use crate::cli::error::CliError;
use crate::output::{self, Out, OutputFormat, PrintError};

/// Longest source line shown under a syntax error, in characters; longer lines are shown as a
/// window around the column.
const MAX_SOURCE_CHARS: usize = 100;

/// `jeton sql`.
pub async fn run(ctx: &Context, args: SqlArgs) -> Result<(), CliError> {
    let script = read_script(args.script.as_deref(), args.file.as_deref())?;
    if script.trim().is_empty() {
        return Err(CliError::Usage(
            "no statement to run: the script is empty".to_string(),
        ));
    }
    let client = ctx.client()?;
    execute(ctx, &client, &script).await
}

/// The script: the argument, the file, or standard input (`-` for either, or neither given
/// while standard input is not a terminal).
fn read_script(script: Option<&str>, file: Option<&Path>) -> Result<String, CliError> {
    match (script, file) {
        (Some("-"), _) => read_stdin(),
        (Some(text), _) => Ok(text.to_string()),
        (None, Some(path)) if path.as_os_str() == "-" => read_stdin(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display()))),
        (None, None) if io::stdin().is_terminal() => Err(CliError::Usage(
            "give the statements as an argument (jeton sql \"SHOW API TOKENS;\"), in a file \
             (-f FILE) or on standard input; or run 'jeton shell'"
                .to_string(),
        )),
        (None, None) => read_stdin(),
    }
}

fn read_stdin() -> Result<String, CliError> {
    let mut text = String::new();
    io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::Usage(format!("cannot read the script from standard input: {e}")))?;
    Ok(text)
}

/// Runs `script` and prints its answer: every result that came back, then (as the error) why
/// the script stopped, if it did.
pub async fn execute(ctx: &Context, client: &Client, script: &str) -> Result<(), CliError> {
    let (status, answer) = client
        .sql_with_status(script)
        .await
        .map_err(|e| ctx.error(e))?;
    print_answer(ctx.output, &answer)?;
    match &answer.error {
        None => Ok(()),
        Some(error) => Err(script_error(
            ctx,
            status,
            error,
            script,
            io::stderr().is_terminal(),
        )),
    }
}

/// Prints an answer: the JSON as it is, or each result as a table or a sentence.
pub fn print_answer(format: OutputFormat, answer: &SqlResponse) -> Result<(), PrintError> {
    if format == OutputFormat::Json {
        return Out::json(answer);
    }
    let text = render_results(&answer.results);
    if text.is_empty() {
        return Ok(());
    }
    Out::line(text)
}

/// The results as people read them: each table followed by its row count, each other result
/// as its message; a blank line around tables.
pub fn render_results(results: &[SqlResult]) -> String {
    let mut text = String::new();
    let mut previous_was_table = false;
    for (index, result) in results.iter().enumerate() {
        let is_table = !result.columns.is_empty();
        if index > 0 {
            text.push('\n');
            if is_table || previous_was_table {
                text.push('\n');
            }
        }
        if is_table {
            let table = output::result_table(&result.columns, &result.rows);
            text.push_str(&format!(
                "{table}\n{}",
                output::row_count(result.rows.len())
            ));
        } else {
            text.push_str(&message_of(result));
        }
        previous_was_table = is_table;
    }
    text
}

fn message_of(result: &SqlResult) -> String {
    match (&result.message, result.affected) {
        (Some(message), _) if !message.is_empty() => message.clone(),
        (_, Some(count)) => format!("{} ({count} affected)", result.statement),
        _ => format!("{}: done", result.statement),
    }
}

/// The error of a script that stopped: the server's message (which names the statement, or
/// the line and column of a syntax error) with its status and hint, and, for a syntax error
/// shown on a terminal, the offending line with a caret under the column.
pub fn script_error(
    ctx: &Context,
    status: u16,
    error: &SqlError,
    script: &str,
    terminal: bool,
) -> CliError {
    let cli_error = ctx.error(ClientError::Api {
        status,
        code: error.code.clone(),
        message: error.message.clone(),
    });
    let position = &error.position;
    let syntax = position.statement_index.is_none();
    match (syntax && terminal, position.line, position.column) {
        (true, Some(line), Some(column)) => match source_context(script, line, column) {
            Some(context) => cli_error.with_context(context),
            None => cli_error,
        },
        _ => cli_error,
    }
}

/// The line `line` of `script` and a caret under `column` (both 1-based, columns in
/// characters), rustc-style:
///
/// ```text
///   2 | MAX DURATON '30d'
///     |     ^
/// ```
///
/// `None` when there is no such line, or when the line may hold a password (it is not echoed).
pub fn source_context(script: &str, line: usize, column: usize) -> Option<String> {
    let text = script.split('\n').nth(line.checked_sub(1)?)?;
    let text = text.strip_suffix('\r').unwrap_or(text);
    if text.to_ascii_uppercase().contains("PASSWORD") {
        return None;
    }
    let chars: Vec<char> = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let column = column.max(1) - 1;
    // A window around the column when the line is long.
    let start = if chars.len() > MAX_SOURCE_CHARS {
        column
            .saturating_sub(MAX_SOURCE_CHARS / 2)
            .min(chars.len() - MAX_SOURCE_CHARS)
    } else {
        0
    };
    let end = (start + MAX_SOURCE_CHARS).min(chars.len());
    let mut shown: String = chars[start..end].iter().collect();
    let mut caret_at = column.saturating_sub(start);
    if start > 0 {
        shown.insert_str(0, "...");
        caret_at += 3;
    }
    if end < chars.len() {
        shown.push_str("...");
    }
    let gutter = line.to_string();
    let blank = " ".repeat(gutter.len());
    Some(format!(
        "  {gutter} | {}\n  {blank} | {}^",
        shown.trim_end(),
        " ".repeat(caret_at)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(statement: &str, columns: &[&str], rows: Vec<Vec<serde_json::Value>>) -> SqlResult {
        SqlResult {
            statement: statement.into(),
            line: 1,
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows,
            affected: None,
            message: None,
        }
    }

    fn done(statement: &str, message: Option<&str>, affected: Option<u64>) -> SqlResult {
        SqlResult {
            statement: statement.into(),
            line: 1,
            columns: Vec::new(),
            rows: Vec::new(),
            affected,
            message: message.map(str::to_string),
        }
    }

    #[test]
    fn a_table_is_followed_by_its_row_count() {
        let text = render_results(&[table(
            "SHOW ROLES",
            &["name", "token_max_duration"],
            vec![
                vec![json!("ops"), json!(null)],
                vec![json!("dev"), json!("30d")],
            ],
        )]);
        assert_eq!(
            text,
            "\
+------+--------------------+
| name | token_max_duration |
+------+--------------------+
| ops  |                    |
| dev  | 30d                |
+------+--------------------+
(2 rows)"
        );
        let empty = render_results(&[table("SHOW USERS", &["username"], vec![])]);
        assert!(empty.ends_with("+\n(0 rows)"), "{empty}");
        assert!(empty.contains("| username |"), "{empty}");
    }

    #[test]
    fn messages_stand_alone_and_tables_are_set_apart() {
        let text = render_results(&[
            done("CREATE ROLE", Some("role a created"), Some(1)),
            done("CREATE ROLE", Some("role b created"), Some(1)),
            table("SHOW ROLES", &["name"], vec![vec![json!("a")]]),
            done("DROP ROLE", None, Some(1)),
            done("DROP ROLE", None, None),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "role a created");
        assert_eq!(lines[1], "role b created");
        assert_eq!(lines[2], "");
        assert!(lines[3].starts_with("+--"), "{text}");
        assert_eq!(lines[8], "(1 row)");
        assert_eq!(lines[9], "");
        assert_eq!(lines[10], "DROP ROLE (1 affected)");
        assert_eq!(lines[11], "DROP ROLE: done");
        assert_eq!(lines.len(), 12, "{text}");
        assert_eq!(render_results(&[]), "");
    }

    #[test]
    fn a_caret_points_at_the_column() {
        let script = "SHOW USERS;\nCREATE API TOKEN ci MAX DURATON '30d';\n";
        assert_eq!(
            source_context(script, 2, 25).unwrap(),
            "  2 | CREATE API TOKEN ci MAX DURATON '30d';\n    |                         ^"
        );
        // Columns count characters, not bytes.
        let script = "CREATE API TOKEN ci COMMENT 'Токен' MAX DURATON '1d'";
        let context = source_context(script, 1, 41).unwrap();
        let caret = context.lines().nth(1).unwrap();
        assert_eq!(caret.find('^').unwrap() - 6, 40, "{context}");
        // The end of the input, past the last character.
        assert!(source_context("SHOW", 1, 5).unwrap().ends_with("|     ^"));
        assert_eq!(source_context("SHOW", 3, 1), None);
        assert_eq!(source_context("SHOW", 0, 1), None);
    }

    #[test]
    fn a_line_with_a_password_is_not_echoed() {
        assert_eq!(
            source_context("CREATE USER bob PASWORD 'hunter2'", 1, 17).map(|_| ()),
            Some(())
        );
        assert_eq!(
            source_context("ALTER USER bob SET password 'hunter2' x", 1, 39),
            None
        );
    }

    #[test]
    fn long_lines_are_shown_around_the_column() {
        let script = format!("{} BAD", "a".repeat(300));
        let context = source_context(&script, 1, 302).unwrap();
        let mut lines = context.lines();
        let source = lines.next().unwrap();
        let caret = lines.next().unwrap();
        assert!(
            source.contains("...a") && source.ends_with("BAD"),
            "{context}"
        );
        assert_eq!(
            source.chars().nth(caret.find('^').unwrap()),
            Some('B'),
            "{context}"
        );
    }
}
