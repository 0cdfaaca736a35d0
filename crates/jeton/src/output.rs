//! How client commands print: boxed tables and short sentences for people, JSON for programs.
//!
//! Everything goes through [`Out`], which turns a closed standard output (`jeton token list |
//! head -1`) into a quiet stop instead of a panic.
//!
//! Text for people never carries a control character to the terminal: what the server answers
//! (usernames, comments, descriptions, error messages) may hold escape sequences that would
//! clear the screen or write the clipboard (OSC 52). Table cells show every control character
//! visibly ([`visible`]: ESC as `\e`, others as `\u{..}`, tab and newline included, so that a
//! cell cannot break its table), and every line printed for people goes through
//! [`visible_lines`], which keeps only the line breaks this program puts between lines. JSON
//! output is written exactly as serialised.

use std::borrow::Cow;
use std::fmt::Display;
use std::io::{self, IsTerminal, Write};

use clap::ValueEnum;
use comfy_table::{ContentArrangement, ContentLineStyle, LineStyle, Table, TableStyle};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Tables and sentences for people.
    Table,
    /// JSON (the API's own shapes) for programs.
    Json,
}

/// Boxed like the seed documents' tables: `+----+` borders, `|` between columns.
const BOXED: TableStyle = TableStyle::new()
    .top_border(LineStyle::new('+', '-', '+', '+'))
    .header_lines(ContentLineStyle::new('|', '|', '|'))
    .header_separator(LineStyle::new('+', '-', '+', '+'))
    .content_lines(ContentLineStyle::new('|', '|', '|'))
    .bottom_border(LineStyle::new('+', '-', '+', '+'));

/// Standard output was closed by the reader; the command should stop quietly.
#[derive(Debug)]
pub struct StdoutClosed;

/// Printing failed: the reader went away, or another IO error.
#[derive(Debug)]
pub enum PrintError {
    /// Standard output was closed (a broken pipe).
    Closed(StdoutClosed),
    /// Any other error.
    Io(io::Error),
}

impl From<io::Error> for PrintError {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::BrokenPipe {
            PrintError::Closed(StdoutClosed)
        } else {
            PrintError::Io(error)
        }
    }
}

/// Standard output.
pub struct Out;

impl Out {
    /// True when standard output is a terminal (not a pipe or a file).
    pub fn is_terminal() -> bool {
        io::stdout().is_terminal()
    }

    /// Prints `text` for people, with every control character but its line breaks shown
    /// visibly ([`visible_lines`]), and a newline.
    pub fn line(text: impl Display) -> Result<(), PrintError> {
        Self::exact_line(&visible_lines(&text.to_string()))
    }

    /// Prints `text` as it is, and a newline.
    fn exact_line(text: &str) -> Result<(), PrintError> {
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "{text}")?;
        stdout.flush()?;
        Ok(())
    }

    /// Prints bytes as they are.
    pub fn raw(bytes: &[u8]) -> Result<(), PrintError> {
        let mut stdout = io::stdout().lock();
        stdout.write_all(bytes)?;
        stdout.flush()?;
        Ok(())
    }

    /// Prints `value` as pretty JSON, exactly (a program reads it).
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<(), PrintError> {
        let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
        Self::exact_line(&text)
    }

    /// Prints `value` as JSON on one line (for streams of events), exactly.
    pub fn json_line<T: Serialize + ?Sized>(value: &T) -> Result<(), PrintError> {
        let text = serde_json::to_string(value).map_err(io::Error::other)?;
        Self::exact_line(&text)
    }

    /// Prints a table.
    pub fn table(table: &Table) -> Result<(), PrintError> {
        Self::line(table)
    }
}

/// Text from elsewhere (the server, a profile) as one table cell or one-line value shows it:
/// every control character visible, tab and newline too (see [`jeton_core::text::visible`]).
pub fn visible(text: &str) -> Cow<'_, str> {
    jeton_core::text::visible(text)
}

/// Text of several lines for people: each line's control characters visible, the line breaks
/// kept.
pub fn visible_lines(text: &str) -> Cow<'_, str> {
    let lines: Vec<Cow<'_, str>> = text.split('\n').map(visible).collect();
    if lines.iter().all(|line| matches!(line, Cow::Borrowed(_))) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(lines.join("\n"))
}

/// A table row with each cell made [`visible`].
pub fn row<I, S>(cells: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    cells
        .into_iter()
        .map(|cell| visible(cell.as_ref()).into_owned())
        .collect()
}

/// Reports an error on standard error as `error: ...`, its text made visible (an error message
/// may quote what the server or a user sent).
pub fn report_error(error: impl Display) {
    eprintln!("error: {}", visible_lines(&error.to_string()));
}

/// An empty boxed table with these column headers, fitted to the terminal's width when there
/// is one.
pub fn table<I, S>(headers: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<comfy_table::Cell>,
{
    let mut table = Table::new();
    table
        .load_style(BOXED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(headers.into_iter().map(Into::into).collect::<Vec<_>>());
    table
}

/// A boxed table of a command-language result, exactly in the seed documents' style: column
/// names as given, one space of padding, `+---+` rules, and every value in full on one line per
/// value line (no fitting to the terminal's width: a token is shown once and must never be cut
/// or wrapped). `null` is an empty cell; strings are shown without quotes; other values as JSON.
pub fn result_table(columns: &[String], rows: &[Vec<serde_json::Value>]) -> Table {
    let mut table = Table::new();
    table
        .load_style(BOXED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(columns.to_vec());
    for values in rows {
        table.add_row(row(values.iter().map(cell_text)));
    }
    table
}

/// One value of a command-language result as shown in a table cell.
pub fn cell_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `(1 row)`, `(3 rows)`, `(0 rows)`.
pub fn row_count(count: usize) -> String {
    if count == 1 {
        "(1 row)".to_string()
    } else {
        format!("({count} rows)")
    }
}

/// A two-column FIELD / VALUE table for one record.
pub fn details<'a>(rows: impl IntoIterator<Item = (&'a str, String)>) -> Table {
    let mut table = table(["FIELD", "VALUE"]);
    for (field, value) in rows {
        table.add_row(row([field, value.as_str()]));
    }
    table
}

/// An RFC 3339 time from the API, shortened for tables to `2026-07-20 09:00Z` (UTC); anything
/// unparsable is shown as given.
pub fn short_time(text: &str) -> String {
    match OffsetDateTime::parse(text, &Rfc3339) {
        Ok(time) => time
            .to_offset(time::UtcOffset::UTC)
            .format(format_description!("[year]-[month]-[day] [hour]:[minute]Z"))
            .unwrap_or_else(|_| text.to_string()),
        Err(_) => text.to_string(),
    }
}

/// Like [`short_time`] for the seconds-precise columns of the audit log: `2026-07-20 09:00:05Z`.
pub fn audit_time(text: &str) -> String {
    match OffsetDateTime::parse(text, &Rfc3339) {
        Ok(time) => time
            .to_offset(time::UtcOffset::UTC)
            .format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]Z"
            ))
            .unwrap_or_else(|_| text.to_string()),
        Err(_) => text.to_string(),
    }
}

/// An optional time, with `none` shown when absent.
pub fn short_time_or(text: Option<&str>, none: &str) -> String {
    text.map_or_else(|| none.to_string(), short_time)
}

/// A list for one cell: `a, b`, or `-` when empty.
pub fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_string()
    } else {
        items.join(", ")
    }
}

/// An optional value for one cell, `-` when absent.
pub fn or_dash(value: Option<&str>) -> String {
    value.filter(|v| !v.is_empty()).unwrap_or("-").to_string()
}

/// `yes` / `no`.
pub fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_times_to_minutes_in_utc() {
        assert_eq!(short_time("2026-07-20T09:00:59Z"), "2026-07-20 09:00Z");
        assert_eq!(short_time("2026-07-20T11:30:00+02:00"), "2026-07-20 09:30Z");
        assert_eq!(
            audit_time("2026-07-20T09:00:05.123Z"),
            "2026-07-20 09:00:05Z"
        );
        assert_eq!(short_time("not a time"), "not a time");
        assert_eq!(short_time_or(None, "never"), "never");
    }

    #[test]
    fn tables_are_boxed() {
        let mut t = table(["NAME", "ID"]);
        t.add_row(vec!["ci", "123"]);
        let text = t.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("+-") && lines[0].ends_with("-+"),
            "{text}"
        );
        assert!(lines[1].starts_with("| NAME"), "{text}");
        assert!(lines[3].starts_with("| ci"), "{text}");
    }

    #[test]
    fn result_tables_look_exactly_like_the_seed() {
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyIjoi...";
        let table = result_table(
            &["name".into(), "token".into(), "expires_at".into()],
            &[vec![
                "ci_pipeline".into(),
                token.into(),
                "2026-07-20T09:00:00+00:00".into(),
            ]],
        );
        let expected = "\
+-------------+------------------------------------------------------+---------------------------+
| name        | token                                                | expires_at                |
+-------------+------------------------------------------------------+---------------------------+
| ci_pipeline | eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyIjoi... | 2026-07-20T09:00:00+00:00 |
+-------------+------------------------------------------------------+---------------------------+";
        assert_eq!(table.to_string(), expected);
    }

    #[test]
    fn result_tables_never_cut_or_wrap_long_values() {
        let long = "x".repeat(700);
        let mut table = result_table(&["token".into()], &[vec![long.clone().into()]]);
        table.set_width(40);
        let text = table.to_string();
        assert!(text.contains(&format!("| {long} |")), "{text}");
        assert_eq!(text.lines().count(), 5, "{text}");
    }

    #[test]
    fn result_cells_show_values_plainly() {
        assert_eq!(cell_text(&serde_json::Value::Null), "");
        assert_eq!(cell_text(&"it's".into()), "it's");
        assert_eq!(cell_text(&true.into()), "true");
        assert_eq!(cell_text(&42.into()), "42");
        assert_eq!(cell_text(&serde_json::json!(["a", "b"])), r#"["a","b"]"#);
        assert_eq!(row_count(0), "(0 rows)");
        assert_eq!(row_count(1), "(1 row)");
        assert_eq!(row_count(3), "(3 rows)");
    }

    #[test]
    fn text_for_people_shows_control_characters_and_json_stays_exact() {
        let osc52 = "\u{1b}]52;c;aGk=\u{7}";
        assert_eq!(visible(osc52), "\\e]52;c;aGk=\\u{7}");
        assert_eq!(row(["a\tb", "c\nd"]), vec!["a\\u{9}b", "c\\u{a}d"]);
        // Line breaks between printed lines stay; everything else in them is shown.
        assert_eq!(
            visible_lines("one\u{1b}[2J\ntwo\u{9b}"),
            "one\\e[2J\ntwo\\u{9b}"
        );
        assert!(matches!(visible_lines("plain\ntext"), Cow::Borrowed(_)));
        let mut t = table(["NAME", "COMMENT"]);
        t.add_row(row(["evil", "x\ny\u{1b}[2J"]));
        let text = t.to_string();
        assert_eq!(text.lines().count(), 5, "one line per row: {text}");
        assert!(!text.chars().any(|c| c != '\n' && c.is_control()), "{text}");
        let table = result_table(&["c".into()], &[vec![format!("a{osc52}").into()]]);
        assert!(table.to_string().contains("| a\\e]52;c;aGk=\\u{7} |"));
        assert!(
            details([("comment", "\u{9b}x".to_string())])
                .to_string()
                .contains("\\u{9b}x")
        );
    }

    #[test]
    fn cells_show_dashes_for_nothing() {
        assert_eq!(list(&[]), "-");
        assert_eq!(list(&["a".into(), "b".into()]), "a, b");
        assert_eq!(or_dash(Some("")), "-");
        assert_eq!(or_dash(None), "-");
        assert_eq!(or_dash(Some("x")), "x");
    }
}
